#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "launcher/context.hpp"
#include "launcher/options.hpp"

namespace roost::cli {

// What a shell offers after a flag that takes a value, or for a positional argument.
enum class Offer {
  Nothing,
  Files,  // optionally only those with `extensions`
  Directories,
  Words,              // fixed words: choices, signal names
  Images,             // names from the store, through `roost __complete images`
  Containers,         // `roost __complete containers`
  RunningContainers,  // `roost __complete running`
};

struct ValueCompletion {
  Offer offer = Offer::Nothing;
  std::vector<std::string> words = {};            // for Offer::Words
  std::vector<std::string_view> extensions = {};  // for Offer::Files: "tar", "tar.gz"
};

ValueCompletion completion_for(const OptionSpec& option);
ValueCompletion completion_for(const PositionalSpec& positional);

// The argument of `roost __complete` that lists the names of a dynamic offer.
std::string_view dynamic_list_name(Offer offer);

// The table the scripts are made from; tests pass tables of their own.
struct CompletionTable {
  const std::vector<CommandSpec>& commands;
  const std::vector<OptionSpec>& globals;
};
CompletionTable roost_completion_table();

// A first word of the command line: a command ("run"), or a group of two-word
// commands ("image" for "image inspect", "image prune").
struct TopWord {
  std::string word;
  std::string summary;
  const CommandSpec* command = nullptr;         // a one-word command
  std::vector<const CommandSpec*> subcommands;  // a group's commands
};
std::vector<TopWord> top_words(const CompletionTable& table);

// The second word of a two-word command ("inspect" of "image inspect").
std::string_view subcommand_word(const CommandSpec& command);

// Flag spellings of an option: "-e" and "--env", short first.
std::vector<std::string> spellings(const OptionSpec& option);

// The options a command accepts: its own, then the global ones (the parser takes
// those after the command too).
std::vector<const OptionSpec*> accepted_options(const CompletionTable& table,
                                                const CommandSpec* command);

// `text` in single quotes for bash and zsh ('it'\''s'), and bare where that reads the
// same (--name, host).
std::string single_quoted(std::string_view text);
std::string shell_word(std::string_view text);

// A shell function name for a command: "image inspect" becomes "image_inspect".
std::string function_suffix(std::string_view command_name);

// The completion scripts; the shell loads them as bash-completion, zsh's compsys and
// fish expect. They run `roost __complete` for store names and never evaluate what the
// user typed.
std::string bash_script(const CompletionTable& table);
std::string zsh_script(const CompletionTable& table);
std::string fish_script(const CompletionTable& table);

// Names for `roost __complete`, one per line, read straight from the store
// directories: image names (NAME:TAG, and the short form of localhost/ names),
// container names (all, or only those whose process lives).
std::vector<std::string> image_names(const std::filesystem::path& data_root);
std::vector<std::string> container_names(const Settings& settings, bool running_only);

int cmd_completion(const ParsedCommand& command, Context& context);
int cmd_complete_names(const ParsedCommand& command, Context& context);

}  // namespace roost::cli
