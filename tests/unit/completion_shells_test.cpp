// roost's completion scripts in the real bash (with and without bash-completion), zsh
// and fish: every flag of the option table, the values each flag declares, files by
// ending, image names from a store, and nothing the user typed is ever run. Needs the
// three shells and the roost binary (ROOST_BINARY, set by meson) for `roost __complete`.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "image/record.hpp"
#include "launcher/completion.hpp"
#include "tests/rootless/support/shells.hpp"

namespace {

namespace stdfs = std::filesystem;
using roost::cli::CommandSpec;
using roost::cli::OptionSpec;
using roost::cli::ValueKind;
using rootless::Shell;
using Words = std::vector<std::string>;

std::string roost_binary() {
  const char* path = std::getenv("ROOST_BINARY");
  if (path == nullptr || *path == '\0') throw std::runtime_error("ROOST_BINARY is not set");
  return stdfs::absolute(path).string();
}

void write(const stdfs::path& path, const std::string& text) {
  stdfs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

bool has(const Words& words, const std::string& word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// fish answers "--network=" completions with the whole token.
Words without_prefix(Words words, const std::string& prefix) {
  for (auto& word : words)
    if (word.starts_with(prefix)) word = word.substr(prefix.size());
  return words;
}

std::string joined(const Words& words) {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  return "[" + text + "]";
}

class Shells : public ::testing::TestWithParam<Shell> {
 protected:
  static void SetUpTestSuite() {
    std::string pattern = (stdfs::temp_directory_path() / "roost-shells-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = new stdfs::path(pattern);
    make_files();
    make_store();
    auto table = roost::cli::roost_completion_table();
    completer_ = new rootless::Completer(
        *dir_ / "scripts", {bash_script(table), zsh_script(table), fish_script(table)},
        environment());
  }

  static void TearDownTestSuite() {
    delete completer_;
    stdfs::remove_all(*dir_);
    delete dir_;
  }

  static std::vector<std::string> environment() {
    std::string path = stdfs::path(roost_binary()).parent_path().string() + ":/usr/bin:/bin";
    return {"PATH=" + path,
            "HOME=" + (*dir_ / "home").string(),
            "TERM=dumb",
            "XDG_CONFIG_HOME=" + (*dir_ / "home/config").string(),
            "XDG_DATA_HOME=" + (*dir_ / "home/data").string(),
            "XDG_RUNTIME_DIR=" + (*dir_ / "home/runtime").string()};
  }

  // files/: a.tar, b.tar.gz, c.txt and the directory sub/.
  static void make_files() {
    for (const char* name : {"a.tar", "b.tar.gz", "c.txt"}) write(*dir_ / "files" / name, "x");
    stdfs::create_directories(*dir_ / "files/sub");
    stdfs::create_directories(*dir_ / "home/runtime");
    stdfs::permissions(*dir_ / "home/runtime", stdfs::perms::owner_all,
                       stdfs::perm_options::replace);
  }

  static void make_store() {
    auto record_file = [](char digit) {
      return *dir_ / "store/images" / (std::string(64, digit) + ".json");
    };
    roost::image::ImageRecord record;
    record.id = std::string(64, 'a');
    record.names = {"localhost/busybox:1", "localhost/busybox:musl"};
    write(record_file('a'), roost::image::record_to_json(record));
    record.id = std::string(64, 'b');
    record.names = {"registry.example:5000/team/app:2.1"};
    write(record_file('b'), roost::image::record_to_json(record));
  }

  Words complete(const std::string& line) const { return completer_->complete(GetParam(), line); }
  std::string store() const { return (*dir_ / "store").string(); }
  std::string files() const { return (*dir_ / "files").string(); }

  static stdfs::path* dir_;
  static rootless::Completer* completer_;
};

stdfs::path* Shells::dir_ = nullptr;
rootless::Completer* Shells::completer_ = nullptr;

// The words before a command's own arguments: "image inspect" -> "image inspect ".
std::string command_line(const CommandSpec& command) {
  return "roost " + std::string(command.name) + " ";
}

TEST_P(Shells, EveryFlagOfEveryCommandInTheTableCompletes) {
  auto table = roost::cli::roost_completion_table();
  std::vector<const CommandSpec*> commands = {nullptr};
  Words lines = {"roost -"};
  for (const auto& command : table.commands) {
    if (command.hidden) continue;
    commands.push_back(&command);
    lines.push_back(command_line(command) + "-");
  }
  auto answers = completer_->complete_all(GetParam(), lines);
  for (size_t i = 0; i < commands.size(); ++i) {
    for (const auto* option : roost::cli::accepted_options(table, commands[i]))
      for (const auto& flag : roost::cli::spellings(*option))
        EXPECT_TRUE(has(answers[i], flag) || has(answers[i], flag + "="))
            << lines[i] << ": " << flag << " missing from " << joined(answers[i]);
  }
}

TEST_P(Shells, EveryCommandWordCompletes) {
  auto table = roost::cli::roost_completion_table();
  for (const auto& command : table.commands) {
    std::string name(command.name);
    auto space = name.find(' ');
    std::string before = space == std::string::npos ? "" : name.substr(0, space + 1);
    Words offered = complete("roost " + before);
    EXPECT_EQ(has(offered, name.substr(before.size())), !command.hidden)
        << name << " in " << joined(offered);
  }
  EXPECT_EQ(complete("roost ima"), (Words{"image", "images"}));
  EXPECT_TRUE(complete("roost __").empty());
}

// Each flag's declared values, after "--flag " and after "--flag=".
TEST_P(Shells, EveryChoiceFlagOffersItsValuesInBothSpellings) {
  auto table = roost::cli::roost_completion_table();
  std::vector<const OptionSpec*> options;
  Words lines;
  for (const auto& command : table.commands) {
    if (command.hidden) continue;
    for (const auto* option : roost::cli::accepted_options(table, &command)) {
      if (option->kind != ValueKind::Choice) continue;
      std::string flag = "--" + std::string(option->long_name);
      options.push_back(option);
      lines.push_back(command_line(command) + flag + " ");
      options.push_back(option);
      lines.push_back(command_line(command) + flag + "=");
    }
  }
  auto answers = completer_->complete_all(GetParam(), lines);
  for (size_t i = 0; i < lines.size(); ++i) {
    Words expected(options[i]->choices.begin(), options[i]->choices.end());
    std::sort(expected.begin(), expected.end());
    std::string token = lines[i].substr(lines[i].rfind(' ') + 1);
    EXPECT_EQ(without_prefix(answers[i], token), expected) << lines[i];
  }
}

TEST_P(Shells, ValuesOfNamedFlagsAndPositionals) {
  EXPECT_EQ(complete("roost run --network "), (Words{"host", "none"}));
  EXPECT_EQ(without_prefix(complete("roost run --userns=k"), "--userns="), (Words{"keep-id"}));
  EXPECT_EQ(complete("roost --log-level w"), (Words{"warn"}));
  EXPECT_EQ(complete("roost completion "), (Words{"bash", "fish", "zsh"}));
  EXPECT_TRUE(complete("roost run --name ").empty()) << "a name is typed, not completed";
}

TEST_P(Shells, FilesByEndingForArchivesAndAnyFileElsewhere) {
  std::string dir = files() + "/";
  // Directories come as "sub" (bash, zsh) or "sub/" (fish), with or without the path.
  auto names = [&](Words words) {
    for (auto& word : words) {
      if (word.ends_with('/')) word.pop_back();
      word = word.substr(word.rfind('/') + 1);
    }
    return words;
  };
  EXPECT_EQ(names(complete("roost load -i " + dir)), (Words{"a.tar", "sub"}));
  EXPECT_EQ(names(complete("roost load --input=" + dir)), (Words{"a.tar", "sub"}));
  EXPECT_EQ(names(complete("roost import " + dir)), (Words{"a.tar", "b.tar.gz", "sub"}));
  EXPECT_EQ(names(complete("roost run --env-file " + dir)),
            (Words{"a.tar", "b.tar.gz", "c.txt", "sub"}));
  EXPECT_EQ(names(complete("roost --root " + dir)), (Words{"sub"}));
}

TEST_P(Shells, ImageNamesComeFromTheStoreTheCommandLineNames) {
  Words all = {"busybox:1", "busybox:musl", "localhost/busybox:1", "localhost/busybox:musl",
               "registry.example:5000/team/app:2.1"};
  EXPECT_EQ(complete("roost --root " + store() + " run "), all);
  EXPECT_EQ(complete("roost --root=" + store() + " rmi busybox:1 "), all);
  EXPECT_EQ(complete("roost --root " + store() + " image inspect b"),
            (Words{"busybox:1", "busybox:musl"}));
  EXPECT_TRUE(complete("roost --root " + store() + " run busybox:1 ").empty())
      << "the container's command is not an image";
  EXPECT_TRUE(complete("roost --root " + store() + " tag busybox:1 ").empty());
}

// readline replaces only what follows the last colon, so bash's answers are trimmed to
// that part; COMP_WORDBREAKS itself is left as it is.
TEST_P(Shells, ImageReferencesWithColonsComplete) {
  bool bash = rootless::is_bash(GetParam());
  EXPECT_EQ(complete("roost --root " + store() + " run localhost/busybox:m"),
            bash ? Words{"musl"} : Words{"localhost/busybox:musl"});
  EXPECT_EQ(complete("roost --root " + store() + " rmi registry.example:5000/team/app:"),
            bash ? Words{"2.1"} : Words{"registry.example:5000/team/app:2.1"});
}

// Command substitutions typed on the line, before and at the cursor, are passed on or
// matched as text; none runs.
TEST_P(Shells, NothingTypedIsEvaluated) {
  stdfs::path marker = *dir_ / "evaluated";
  std::string run = "$(touch${IFS}" + marker.string() + ")";
  std::string quoted = "`touch${IFS}" + marker.string() + "`";
  for (const auto& line : {"roost --root " + quoted + " rmi ", "roost --root " + run + " rm ",
                           "roost load -i " + quoted, "roost run --env-file " + quoted,
                           "roost --config " + quoted + " run "}) {
    complete(line);
    EXPECT_FALSE(stdfs::exists(marker)) << line;
    stdfs::remove(marker);
  }
}

INSTANTIATE_TEST_SUITE_P(, Shells, ::testing::ValuesIn(rootless::kShells),
                         [](const auto& info) { return rootless::shell_name(info.param); });

// Help text with quotes, brackets, colons and backslashes reaches every shell intact.
TEST(ShellScripts, TrickyHelpTextDoesNotBreakAnyShell) {
  const std::vector<OptionSpec> globals = {
      {"odd", 0, ValueKind::Choice, "A:B[:c]", "Say \"hi\" [now]: it's a \\ back", {"x1", "y2"}},
  };
  const std::vector<CommandSpec> commands = {
      {"go", "Go [somewhere]: it's \"fine\"", {{"flag", 'f', ValueKind::None, "", "A ] b"}}, {}},
  };
  roost::cli::CompletionTable table{commands, globals};
  std::string dir = (stdfs::temp_directory_path() / "roost-tricky-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  rootless::Completer completer(dir, {bash_script(table), zsh_script(table), fish_script(table)},
                                {"PATH=/usr/bin:/bin", "HOME=" + dir, "TERM=dumb"});
  for (Shell shell : rootless::kShells) {
    SCOPED_TRACE(rootless::shell_name(shell));
    Words flags = completer.complete(shell, "roost go -");
    EXPECT_TRUE(has(flags, "--flag") && has(flags, "-f") &&
                (has(flags, "--odd") || has(flags, "--odd=")))
        << joined(flags);
    EXPECT_EQ(completer.complete(shell, "roost --odd "), (Words{"x1", "y2"}));
    EXPECT_EQ(completer.complete(shell, "roost g"), (Words{"go"}));
  }
  EXPECT_EQ(completer.fish_descriptions("roost --o"),
            (Words{"--odd\tSay \"hi\" [now]: it's a \\ back"}));
  EXPECT_EQ(completer.fish_descriptions("roost g"), (Words{"go\tGo [somewhere]: it's \"fine\""}));
  stdfs::remove_all(dir);
}

}  // namespace
