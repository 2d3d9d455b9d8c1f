// The fish completion script: `complete` lines made from the option table, with
// conditions from one parser of the command line that runs once per line. Tokens are
// compared and passed to roost as arguments, never evaluated.

#include <fmt/format.h>

#include "launcher/completion.hpp"

namespace roost::cli {

namespace {

constexpr std::string_view kHelpers = R"script(
# Reads the command line up to the cursor, once per line: __roost_command is the
# command ("run", "image inspect"; empty before it), __roost_group a group word waiting
# for its subcommand, __roost_count the positional arguments of the command before the
# cursor, __roost_options 1 while options may still follow.
function __roost_parse
    set -l line (commandline -pc)
    test "$line" = "$__roost_parsed_line"; and return
    set -g __roost_parsed_line $line
    set -g __roost_command ''
    set -g __roost_group ''
    set -g __roost_count 0
    set -g __roost_options 1
    set -l skip 0
    for token in (commandline -opc)[2..-1]
        if test $skip = 1
            set skip 0
        else if test $__roost_options = 1; and test "$token" = --
            set __roost_options 0
        else if test $__roost_options = 1; and string match -q -- '-?*' $token
            __roost_takes_value "$__roost_command" $token; and set skip 1
        else if test -z "$__roost_command"
            if test -n "$__roost_group"
                set __roost_command "$__roost_group $token"
                set __roost_group ''
            else if __roost_is_group $token
                set __roost_group $token
            else
                set __roost_command $token
            end
        else
            set __roost_count (math $__roost_count + 1)
            __roost_ends_options "$__roost_command"; and set __roost_options 0
        end
    end
end

function __roost_needs_command
    __roost_parse
    test -z "$__roost_command"; and test -z "$__roost_group"
end

function __roost_needs_subcommand --argument-names group
    __roost_parse
    test -z "$__roost_command"; and test "$__roost_group" = "$group"
end

function __roost_options_open
    __roost_parse
    test -z "$__roost_group"; and test $__roost_options = 1
end

function __roost_using --argument-names command
    __roost_parse
    test "$__roost_command" = "$command"; and test $__roost_options = 1
end

# True at the positional argument `index` (counted from 0) of `command`; with `more`,
# also at every one after it.
function __roost_at --argument-names command index more
    __roost_parse
    test "$__roost_command" = "$command"; or return 1
    test $__roost_count -eq $index; and return 0
    test "$more" = more; and test $__roost_count -gt $index
end

# The global options with values as typed so far, so that `roost __complete` reads the
# same store (--root, --runroot, --config).
function __roost_global_args
    set -l tokens (commandline -opc)
    for i in (seq 2 (count $tokens))
        if contains -- $tokens[$i] GLOBAL_SEPARATE
            set -l next (math $i + 1)
            set -q tokens[$next]; and printf '%s\n' $tokens[$i] $tokens[$next]
        else if string match -q -r -- 'GLOBAL_JOINED' $tokens[$i]
            printf '%s\n' $tokens[$i]
        end
    end
end

# Store names of one kind: images, containers or running.
function __roost_names
    command roost (__roost_global_args) __complete $argv[1] 2>/dev/null
end

# Files whose names end in one of $argv, and directories, as fish completes files.
function __roost_files_ending
    set -l files (complete -C "__fish_command_without_completions "(commandline -ct))
    for ending in $argv
        string match -- "*.$ending" $files
    end
    string match -- '*/' $files
end
)script";

// A fish word in single quotes: only \ and ' are special there.
std::string fish_quoted(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string fish_word(std::string_view text) {
  bool plain = !text.empty();
  for (char c : text)
    plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                      c == '.' || c == '/' || c == '=' || c == ',' || c == '+' || c == '@');
  return plain ? std::string(text) : fish_quoted(text);
}

// Arguments of `complete` for what follows an option or stands at a positional.
std::string arguments_of(const ValueCompletion& completion) {
  switch (completion.offer) {
    case Offer::Files: {
      if (completion.extensions.empty()) return "-F";
      std::string endings;
      for (auto extension : completion.extensions) endings += " " + fish_word(extension);
      return "-k -a " + fish_quoted("(__roost_files_ending" + endings + ")");
    }
    case Offer::Directories:
      return "-a '(__fish_complete_directories)'";
    case Offer::Words: {
      // -a is expanded by fish, so each word is quoted inside the quoted list.
      std::string list;
      for (const auto& word : completion.words) list += (list.empty() ? "" : " ") + fish_word(word);
      return "-a " + fish_quoted(list);
    }
    case Offer::Images:
    case Offer::Containers:
    case Offer::RunningContainers:
      return fmt::format("-a '(__roost_names {})'", dynamic_list_name(completion.offer));
    case Offer::Nothing:
      break;
  }
  return "";
}

std::string option_line(std::string_view condition, const OptionSpec& option) {
  std::string out = fmt::format("complete -c roost -n {}", fish_quoted(condition));
  if (option.short_name != 0)
    out += fmt::format(" -s {}", fish_word(std::string(1, option.short_name)));
  out += " -l " + fish_word(option.long_name);
  if (option.kind != ValueKind::None) {
    auto completion = completion_for(option);
    // -r lets fish add every file; -x leaves the offer to the arguments.
    bool every_file = completion.offer == Offer::Files && completion.extensions.empty();
    out += every_file ? " -r" : " -x";
    if (std::string arguments = arguments_of(completion); !arguments.empty())
      out += " " + arguments;
  }
  return out + " -d " + fish_quoted(option.help) + "\n";
}

std::string positional_lines(const CommandSpec& command) {
  std::string out;
  const auto& positionals = command.positionals;
  for (size_t i = 0; i < positionals.size(); ++i) {
    std::string arguments = arguments_of(completion_for(positionals[i]));
    if (arguments.empty()) continue;
    bool more = positionals[i].variadic && i + 1 == positionals.size();
    std::string condition =
        fmt::format("__roost_at {} {}{}", fish_word(command.name), i, more ? " more" : "");
    out += fmt::format("complete -c roost -n {} {} -d {}\n", fish_quoted(condition), arguments,
                       fish_quoted(positionals[i].name));
  }
  return out;
}

std::string command_lines(const CommandSpec& command) {
  std::string out = fmt::format("\n# roost {}\n", command.name);
  std::string condition = "__roost_using " + fish_word(command.name);
  for (const auto& option : command.options) out += option_line(condition, option);
  return out + positional_lines(command);
}

std::string word_lines(const std::vector<TopWord>& words) {
  std::string out;
  for (const auto& word : words) {
    out += fmt::format("complete -c roost -n __roost_needs_command -a {} -d {}\n",
                       fish_word(word.word), fish_quoted(word.summary));
    for (const auto* command : word.subcommands)
      out += fmt::format("complete -c roost -n {} -a {} -d {}\n",
                         fish_quoted("__roost_needs_subcommand " + fish_word(word.word)),
                         fish_word(subcommand_word(*command)), fish_quoted(command->summary));
  }
  return out;
}

// The facts about the table that __roost_parse needs, as small functions.
std::string table_functions(const CompletionTable& table, const std::vector<TopWord>& words) {
  std::string out = "function __roost_takes_value --argument-names command flag\n";
  out += "    switch $command\n";
  for (const auto& command : table.commands) {
    if (command.hidden) continue;
    out += fmt::format("        case {}\n            contains -- $flag", fish_word(command.name));
    for (const auto* option : accepted_options(table, &command))
      if (option->kind != ValueKind::None)
        for (const auto& flag : spellings(*option)) out += " " + fish_word(flag);
    out += "\n";
  }
  out += "        case '*'\n            contains -- $flag";
  for (const auto* option : accepted_options(table, nullptr))
    if (option->kind != ValueKind::None)
      for (const auto& flag : spellings(*option)) out += " " + fish_word(flag);
  out += "\n    end\nend\n\nfunction __roost_is_group\n    contains -- $argv[1]";
  for (const auto& word : words)
    if (word.command == nullptr) out += " " + fish_word(word.word);
  out += "\nend\n\nfunction __roost_ends_options\n    contains -- $argv[1]";
  for (const auto& command : table.commands)
    if (command.options_end_at_positional && !command.hidden) out += " " + fish_word(command.name);
  return out + "\nend\n";
}

std::string regex_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string helpers(const CompletionTable& table) {
  std::string separate, joined;
  for (const auto& option : table.globals) {
    if (option.kind == ValueKind::None) continue;
    for (const auto& flag : spellings(option)) {
      separate += " " + fish_word(flag);
      joined += (joined.empty() ? "" : "|") + regex_escaped(flag) + (flag[1] == '-' ? "=" : ".");
    }
  }
  std::string text(kHelpers);
  text.replace(text.find(" GLOBAL_SEPARATE"), 16, separate);
  // Inside the single-quoted regex only ' and \ would need care; flags have neither.
  text.replace(text.find("GLOBAL_JOINED"), 13,
               joined.empty() ? "^$" : fmt::format("^({})", joined));
  return text;
}

}  // namespace

std::string fish_script(const CompletionTable& table) {
  auto words = top_words(table);
  std::string out =
      "# fish completion for roost, made from roost's option table by 'roost completion fish'.\n";
  out += helpers(table) + "\n" + table_functions(table, words) + "\n";
  out += "complete -c roost -f\n";
  for (const auto& option : table.globals) out += option_line("__roost_options_open", option);
  out += word_lines(words);
  for (const auto& command : table.commands)
    if (!command.hidden) out += command_lines(command);
  return out;
}

}  // namespace roost::cli
