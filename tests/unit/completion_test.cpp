// The completion model and script generators, without running a shell (the shells
// themselves run in completion_shells_test.cpp).

#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "image/record.hpp"
#include "launcher/completion.hpp"
#include "launcher/parse.hpp"

namespace roost::cli {
namespace {

namespace stdfs = std::filesystem;
using K = ValueKind;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A scratch directory removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (stdfs::temp_directory_path() / "roost-completion-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() { stdfs::remove_all(path_); }
  const stdfs::path& path() const { return path_; }

 private:
  stdfs::path path_;
};

void write(const stdfs::path& path, const std::string& text) {
  stdfs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

image::ImageRecord record_named(const std::string& id_digit, std::vector<std::string> names) {
  image::ImageRecord record;
  record.id = std::string(64, id_digit[0]);
  record.names = std::move(names);
  record.config.env = std::vector<std::string>(50, "PADDING=the config is skipped, not parsed");
  return record;
}

TEST(CompletionModel, EachValueKindOffersWhatItHolds) {
  EXPECT_EQ(completion_for(OptionSpec{"f", 0, K::Path, "FILE", "", {}, false, {"tar"}}).offer,
            Offer::Files);
  EXPECT_EQ(completion_for(OptionSpec{"f", 0, K::Path, "FILE", "", {}, false, {"tar"}}).extensions,
            (std::vector<std::string_view>{"tar"}));
  EXPECT_EQ(completion_for(OptionSpec{"d", 0, K::Directory, "DIR", ""}).offer, Offer::Directories);
  EXPECT_EQ(completion_for(OptionSpec{"c", 0, K::Choice, "X", "", {"a", "b"}}).words,
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(completion_for(PositionalSpec{"IMAGE", K::Image}).offer, Offer::Images);
  EXPECT_EQ(completion_for(PositionalSpec{"C", K::Container}).offer, Offer::Containers);
  EXPECT_EQ(completion_for(PositionalSpec{"C", K::RunningContainer}).offer,
            Offer::RunningContainers);
  for (auto kind : {K::Text, K::Number, K::WholeNumber, K::Size, K::KeyValue, K::Duration})
    EXPECT_EQ(completion_for(PositionalSpec{"X", kind}).offer, Offer::Nothing);
}

TEST(CompletionModel, SignalsAreTheCLibrarysNamesWithoutRealtimeOnes) {
  auto words = completion_for(OptionSpec{"signal", 0, K::Signal, "SIGNAL", ""}).words;
  for (const char* expected : {"SIGHUP", "SIGINT", "SIGKILL", "SIGTERM", "SIGUSR1", "SIGWINCH"})
    EXPECT_NE(std::find(words.begin(), words.end(), expected), words.end()) << expected;
  for (const auto& word : words) EXPECT_TRUE(word.starts_with("SIG")) << word;
  EXPECT_LT(words.size(), 40u);
}

TEST(CompletionModel, TwoWordCommandsFormAGroupAndHiddenOnesAreLeftOut) {
  std::vector<CommandSpec> commands = {
      {"run", "Run", {}, {}},
      {"image inspect", "Inspect", {}, {}},
      {"image prune", "Prune", {}, {}},
      {"__secret", "Internal", {}, {}, nullptr, false, true},
  };
  std::vector<OptionSpec> globals;
  auto words = top_words({commands, globals});
  ASSERT_EQ(words.size(), 2u);
  EXPECT_EQ(words[0].word, "run");
  EXPECT_EQ(words[0].command, &commands[0]);
  EXPECT_EQ(words[1].word, "image");
  EXPECT_EQ(words[1].command, nullptr);
  EXPECT_EQ(words[1].subcommands.size(), 2u);
  EXPECT_EQ(words[1].summary, "image commands: inspect, prune");
  EXPECT_EQ(subcommand_word(commands[2]), "prune");
}

TEST(CompletionModel, ShellWordsAreQuotedOnlyWhenNeeded) {
  EXPECT_EQ(shell_word("--name"), "--name");
  EXPECT_EQ(shell_word("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_word("$(x)"), "'$(x)'");
  EXPECT_EQ(shell_word(""), "''");
  EXPECT_EQ(function_suffix("image inspect"), "image_inspect");
}

TEST(CompletionNames, ImageNamesComeFromRecordsWithShortFormsOfLocalOnes) {
  ScratchDir store;
  write(store.path() / "images" / (std::string(64, 'a') + ".json"),
        image::record_to_json(record_named("a", {"localhost/busybox:1", "localhost/bb:2"})));
  write(store.path() / "images" / (std::string(64, 'b') + ".json"),
        image::record_to_json(record_named("b", {"docker.io/library/alpine:3.19"})));
  write(store.path() / "images" / (std::string(64, 'c') + ".json"), "{ not json");
  write(store.path() / "images" / "notes.txt", "not a record");
  EXPECT_EQ(image_names(store.path()),
            (std::vector<std::string>{"bb:2", "busybox:1", "docker.io/library/alpine:3.19",
                                      "localhost/bb:2", "localhost/busybox:1"}));
}

// Names only: each record's config is skipped while parsing, so that hundreds of images
// with long configs still complete at once.
TEST(CompletionNames, HundredsOfImagesAreListedQuickly) {
  ScratchDir store;
  image::ImageRecord record = record_named("0", {});
  record.config.env = std::vector<std::string>(200, "PADDING=" + std::string(100, 'x'));
  for (int i = 0; i < 500; ++i) {
    record.id = fmt::format("{:064x}", i);
    record.names = {fmt::format("localhost/app{}:1", i)};
    write(store.path() / "images" / (record.id + ".json"), image::record_to_json(record));
  }
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(image_names(store.path()).size(), 1000u);
  auto spent = std::chrono::steady_clock::now() - started;
  EXPECT_LT(spent, std::chrono::seconds(1))
      << std::chrono::duration_cast<std::chrono::milliseconds>(spent).count() << " ms";
}

TEST(CompletionNames, AStoreWithoutImagesHasNoNames) {
  ScratchDir store;
  EXPECT_TRUE(image_names(store.path() / "missing").empty());
}

TEST(CompletionCommand, AnUnknownShellIsAUsageErrorListingTheShells) {
  auto invocation = parse_arguments({"completion", "tcsh"});
  Context context;
  try {
    invocation.command.spec->handler(invocation.command, context);
    FAIL() << "no error for tcsh";
  } catch (const UsageError& error) {
    EXPECT_STREQ(error.what(),
                 "roost completion tcsh: not a shell roost completes; use bash, zsh, fish");
  }
}

TEST(CompletionCommand, HiddenCommandsStayOutOfHelpAndScripts) {
  std::string help = render_help(nullptr);
  EXPECT_FALSE(contains(help, "__complete"));
  EXPECT_TRUE(contains(help, "completion"));
  auto table = roost_completion_table();
  for (const auto& script : {bash_script(table), zsh_script(table), fish_script(table)}) {
    EXPECT_FALSE(contains(script, "_roost_cmd___complete"));
    EXPECT_FALSE(contains(script, "-a __complete"));
  }
}

// Every flag of the table is spelled in each script; the shells themselves are asked in
// completion_shells_test.cpp.
TEST(CompletionScripts, EveryFlagOfTheTableIsInEveryScript) {
  auto table = roost_completion_table();
  std::string bash = bash_script(table), zsh = zsh_script(table), fish = fish_script(table);
  for (const auto& command : table.commands) {
    if (command.hidden) continue;
    for (const auto* option : accepted_options(table, &command)) {
      std::string long_name(option->long_name);
      EXPECT_TRUE(contains(bash, " --" + long_name)) << command.name << " --" << long_name;
      EXPECT_TRUE(contains(zsh, "--" + long_name)) << command.name << " --" << long_name;
      EXPECT_TRUE(contains(fish, "-l " + long_name)) << command.name << " --" << long_name;
    }
  }
}

const std::vector<OptionSpec> kTrickyGlobals = {
    {"odd", 0, K::Choice, "A:B[:c]", "Say \"hi\" [now]: it's a \\ back", {"x y", "it's"}},
};
const std::vector<CommandSpec> kTrickyCommands = {
    {"go", "Go [somewhere]: it's \"fine\"", {{"flag", 'f', K::None, "", "A ] bracket"}}, {}},
};

TEST(CompletionScripts, ZshSpecsEscapeBracketsColonsAndQuotes) {
  std::string zsh = zsh_script({kTrickyCommands, kTrickyGlobals});
  EXPECT_TRUE(
      contains(zsh, R"('--odd=[Say "hi" \[now\]: it'\''s a \\ back]:A\:B[\:c]:(x\ y it\'\''s)')"))
      << zsh;
  EXPECT_TRUE(contains(zsh, R"('(-f --flag)'{-f,--flag}'[A \] bracket]')")) << zsh;
  EXPECT_TRUE(contains(zsh, R"('go:Go [somewhere]: it'\''s "fine"')")) << zsh;
}

TEST(CompletionScripts, FishDescriptionsAndWordsAreQuoted) {
  std::string fish = fish_script({kTrickyCommands, kTrickyGlobals});
  EXPECT_TRUE(
      contains(fish, R"(-l odd -x -a '\'x y\' \'it\\\'s\'' -d 'Say "hi" [now]: it\'s a \\ back')"))
      << fish;
  EXPECT_TRUE(contains(fish, R"(-a go -d 'Go [somewhere]: it\'s "fine"')")) << fish;
}

TEST(CompletionScripts, BashKnowsWhichOptionsTakeAValueBeforeAndAfterTheCommand) {
  std::string bash = bash_script(roost_completion_table());
  EXPECT_TRUE(contains(bash, "      --log-level|--config|--root|--runroot|--storage-driver) "));
  EXPECT_TRUE(contains(bash, "|--name|-e|--env|")) << "run's value options";
  EXPECT_TRUE(contains(bash, "complete -F _roost roost\n"));
}

}  // namespace
}  // namespace roost::cli
