#include "launcher/completion.hpp"

#include <signal.h>
#include <string.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/containers.hpp"

namespace roost::cli {

namespace {

// Names the shell offers for a Signal value: SIGHUP ... SIGSYS, as the C library
// spells them, so that no list is kept by hand.
std::vector<std::string> signal_names() {
  std::vector<std::string> names;
  for (int number = 1; number < SIGRTMIN; ++number)
    if (const char* abbreviation = ::sigabbrev_np(number); abbreviation != nullptr)
      names.push_back(std::string("SIG") + abbreviation);
  return names;
}

ValueCompletion completion_of(ValueKind kind, const std::vector<std::string_view>& choices,
                              const std::vector<std::string_view>& extensions) {
  switch (kind) {
    case ValueKind::Path:
      return {Offer::Files, {}, extensions};
    case ValueKind::Directory:
      return {Offer::Directories};
    case ValueKind::Signal:
      return {Offer::Words, signal_names()};
    case ValueKind::Choice:
      return {Offer::Words, {choices.begin(), choices.end()}};
    case ValueKind::Image:
      return {Offer::Images};
    case ValueKind::Container:
      return {Offer::Containers};
    case ValueKind::RunningContainer:
      return {Offer::RunningContainers};
    default:
      return {Offer::Nothing};
  }
}

// Only the "names" member of an image record is kept; the config beside it is skipped
// while parsing, which keeps completion quick with many images.
std::vector<std::string> names_in_record(const std::filesystem::path& file) {
  auto keep_names = [](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    return !(depth == 1 && event == nlohmann::json::parse_event_t::key && parsed != "names");
  };
  auto record = nlohmann::json::parse(fs::read_file(file), keep_names);
  return record.value("names", std::vector<std::string>{});
}

std::string_view shell_argument(const ParsedCommand& command) {
  const std::string& shell = command.positionals.at(0);
  const auto& choices = command.spec->positionals.at(0).choices;
  if (std::find(choices.begin(), choices.end(), shell) == choices.end())
    throw UsageError(fmt::format("roost completion {}: not a shell roost completes; use {}", shell,
                                 fmt::join(choices, ", ")));
  return shell;
}

}  // namespace

ValueCompletion completion_for(const OptionSpec& option) {
  return completion_of(option.kind, option.choices, option.extensions);
}

ValueCompletion completion_for(const PositionalSpec& positional) {
  return completion_of(positional.kind, positional.choices, positional.extensions);
}

std::string_view dynamic_list_name(Offer offer) {
  switch (offer) {
    case Offer::Images:
      return "images";
    case Offer::Containers:
      return "containers";
    case Offer::RunningContainers:
      return "running";
    default:
      return "";
  }
}

CompletionTable roost_completion_table() {
  return {command_table(), global_options()};
}

std::vector<TopWord> top_words(const CompletionTable& table) {
  std::vector<TopWord> words;
  for (const auto& command : table.commands) {
    if (command.hidden) continue;
    std::string first(command.name.substr(0, command.name.find(' ')));
    auto it = std::find_if(words.begin(), words.end(),
                           [&](const TopWord& word) { return word.word == first; });
    if (it == words.end()) it = words.insert(words.end(), TopWord{first, "", nullptr, {}});
    if (first == command.name) {
      it->command = &command;
      it->summary = command.summary;
    } else {
      it->subcommands.push_back(&command);
    }
  }
  for (auto& word : words) {
    if (word.command != nullptr) continue;
    std::vector<std::string_view> second;
    for (const auto* command : word.subcommands) second.push_back(subcommand_word(*command));
    word.summary = fmt::format("{} commands: {}", word.word, fmt::join(second, ", "));
  }
  return words;
}

std::string_view subcommand_word(const CommandSpec& command) {
  auto space = command.name.find(' ');
  return space == std::string_view::npos ? command.name : command.name.substr(space + 1);
}

std::vector<std::string> spellings(const OptionSpec& option) {
  std::vector<std::string> spelled;
  if (option.short_name != 0) spelled.push_back(std::string("-") + option.short_name);
  spelled.push_back("--" + std::string(option.long_name));
  return spelled;
}

std::vector<const OptionSpec*> accepted_options(const CompletionTable& table,
                                                const CommandSpec* command) {
  std::vector<const OptionSpec*> options;
  if (command != nullptr)
    for (const auto& option : command->options) options.push_back(&option);
  for (const auto& option : table.globals) options.push_back(&option);
  return options;
}

std::string single_quoted(std::string_view text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

std::string shell_word(std::string_view text) {
  auto plain = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/' || c == '=' || c == ',' || c == '+' || c == '@' || c == '%';
  };
  if (!text.empty() && std::all_of(text.begin(), text.end(), plain)) return std::string(text);
  return single_quoted(text);
}

std::string function_suffix(std::string_view command_name) {
  std::string suffix(command_name);
  for (char& c : suffix)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return suffix;
}

std::vector<std::string> image_names(const std::filesystem::path& data_root) {
  std::set<std::string> names;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(data_root / "images", error)) {
    if (entry.path().extension() != ".json") continue;
    try {
      for (const auto& name : names_in_record(entry.path())) {
        names.insert(name);
        if (name.starts_with("localhost/")) names.insert(name.substr(sizeof "localhost/" - 1));
      }
    } catch (const std::exception& failure) {
      spdlog::debug("image record {} skipped: {}", entry.path().string(), failure.what());
    }
  }
  return {names.begin(), names.end()};
}

std::vector<std::string> container_names(const Settings& settings, bool running_only) {
  std::vector<std::string> names;
  for (const auto& record : ContainerStore(settings.data_root, settings.runtime_root).list())
    if (!running_only || record.status == "running") names.push_back(record.name);
  std::sort(names.begin(), names.end());
  return names;
}

int cmd_completion(const ParsedCommand& command, Context&) {
  std::string_view shell = shell_argument(command);
  CompletionTable table = roost_completion_table();
  if (shell == "bash") fmt::print("{}", bash_script(table));
  if (shell == "zsh") fmt::print("{}", zsh_script(table));
  if (shell == "fish") fmt::print("{}", fish_script(table));
  return 0;
}

int cmd_complete_names(const ParsedCommand& command, Context& context) {
  const std::string& kind = command.positionals.at(0);
  std::vector<std::string> names;
  if (kind == "images")
    names = image_names(context.settings.data_root);
  else if (kind == "containers" || kind == "running")
    names = container_names(context.settings, kind == "running");
  else
    throw UsageError(fmt::format("roost __complete: unknown list '{}'", kind));
  for (const auto& name : names) fmt::print("{}\n", name);
  return 0;
}

}  // namespace roost::cli
