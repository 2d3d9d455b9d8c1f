// The zsh completion script for compsys: one _arguments call per command made from the
// option table. Help text lands inside _arguments specs, so brackets, colons and
// backslashes in it are escaped, and every spec is single-quoted.

#include <fmt/format.h>

#include "launcher/completion.hpp"

namespace roost::cli {

namespace {

constexpr std::string_view kHelpers = R"script(
# Global options with values as typed so far, for `roost __complete`: the same --root,
# --runroot and --config lead to the same store. Quotes are removed, nothing is
# evaluated.
_roost_collect_globals() {
  local i
  _roost_globals=()
  for (( i = 2; i < CURRENT; i++ )); do
    case ${words[i]} in
      (GLOBAL_SEPARATE)
        _roost_globals+=(${words[i]} "${${(Q)words[i + 1]}/#\~\//$HOME/}")
        (( i++ ))
        ;;
      (GLOBAL_JOINED) _roost_globals+=(${(Q)words[i]}) ;;
    esac
  done
}

# Offers the store names of one kind: images, containers or running.
_roost_names() {
  local expl
  local -a names
  names=(${(f)"$(command roost "${_roost_globals[@]}" __complete $1 2>/dev/null)"})
  _wanted $1 expl $1 compadd -a names
}
)script";

// Text inside the [...] of an _arguments spec.
std::string bracket_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '[' || c == ']') out += '\\';
    out += c;
  }
  return out;
}

// A message or action field of a spec, where ':' ends the field.
std::string field_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == ':') out += '\\';
    out += c;
  }
  return out;
}

// One word of a (a b c) list in an action.
std::string list_word(std::string_view word) {
  std::string out;
  for (char c : word) {
    if (std::string_view(" \\():'\"$`[]{}|&;<>*?~#").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string action_of(const ValueCompletion& completion) {
  switch (completion.offer) {
    case Offer::Files: {
      if (completion.extensions.empty()) return "_files";
      std::string pattern;
      for (auto extension : completion.extensions)
        pattern += (pattern.empty() ? "" : "|") + std::string(extension);
      // A lone (tar) at the end of a pattern would read as glob qualifiers.
      if (completion.extensions.size() > 1) pattern = "(" + pattern + ")";
      return fmt::format("{{_files -g \"*.{}\"}}", pattern);
    }
    case Offer::Directories:
      return "_files -/";
    case Offer::Words: {
      std::string list;
      for (const auto& word : completion.words) list += (list.empty() ? "" : " ") + list_word(word);
      return "(" + list + ")";
    }
    case Offer::Images:
    case Offer::Containers:
    case Offer::RunningContainers:
      return "{_roost_names " + std::string(dynamic_list_name(completion.offer)) + "}";
    case Offer::Nothing:
      break;
  }
  return " ";
}

// '--name=[Name the container]:NAME: ' or, with a short name, two specs through brace
// expansion: '(-e --env)'{-e+,--env=}'[...]...'. Repeatable options start with '*'.
std::string option_spec(const OptionSpec& option) {
  bool takes_value = option.kind != ValueKind::None;
  std::string tail = "[" + bracket_escaped(option.help) + "]";
  if (takes_value)
    tail += ":" + field_escaped(option.value_name) + ":" + action_of(completion_for(option));
  std::string long_form = "--" + std::string(option.long_name) + (takes_value ? "=" : "");
  if (option.short_name == 0)
    return single_quoted((option.repeatable ? "*" : "") + long_form + tail);
  std::string short_form = std::string("-") + option.short_name + (takes_value ? "+" : "");
  std::string prefix =
      option.repeatable
          ? "'*'"
          : single_quoted(fmt::format("(-{} --{})", option.short_name, option.long_name));
  return fmt::format("{}{{{},{}}}{}", prefix, short_form, long_form, single_quoted(tail));
}

std::string positional_spec(const PositionalSpec& positional, size_t number) {
  std::string head = positional.variadic   ? "*:"
                     : positional.required ? std::to_string(number) + ":"
                                           : std::to_string(number) + "::";
  return single_quoted(head + field_escaped(positional.name) + ":" +
                       action_of(completion_for(positional)));
}

std::string command_function(const CompletionTable& table, const CommandSpec& command) {
  std::string out =
      fmt::format("_roost_cmd_{}() {{\n  _arguments -s -S", function_suffix(command.name));
  if (command.options_end_at_positional) out += " -A '-*'";
  out += " : \\\n";
  for (const auto* option : accepted_options(table, &command))
    out += "    " + option_spec(*option) + " \\\n";
  for (size_t i = 0; i < command.positionals.size(); ++i)
    out += "    " + positional_spec(command.positionals[i], i + 1) + " \\\n";
  out.erase(out.size() - 3);
  return out + "\n}\n\n";
}

std::string describe_list(std::string_view name, const std::vector<std::string>& entries,
                          std::string_view description) {
  std::string out = fmt::format("  local -a {}=(\n", name);
  for (const auto& entry : entries) out += "    " + single_quoted(entry) + "\n";
  return out + fmt::format("  )\n  _describe -t commands {} {}", single_quoted(description), name);
}

std::string describe_entry(std::string_view word, std::string_view summary) {
  return field_escaped(word) + ":" + std::string(summary);
}

// Words after a group word ("image"): the subcommand, then that command's arguments.
std::string group_function(const TopWord& word) {
  std::vector<std::string> entries;
  std::string cases;
  for (const auto* command : word.subcommands) {
    entries.push_back(describe_entry(subcommand_word(*command), command->summary));
    cases += fmt::format("        ({}) _roost_cmd_{} && ret=0 ;;\n",
                         list_word(subcommand_word(*command)), function_suffix(command->name));
  }
  std::string out = fmt::format("_roost_group_{}() {{\n", function_suffix(word.word));
  out += "  local curcontext=$curcontext state state_descr line ret=1\n  typeset -A opt_args\n";
  out += "  _arguments -C ': :->command' '*:: :->argument' && ret=0\n  case $state in\n";
  out += "    (command)\n" +
         describe_list("commands", entries, fmt::format("roost {} command", word.word)) +
         " && ret=0\n      ;;\n";
  out += fmt::format(
      "    (argument)\n      curcontext=${{curcontext%:*:*}}:roost-{}-${{words[1]}}:\n", word.word);
  out += "      case ${words[1]} in\n" + cases + "      esac\n      ;;\n";
  return out + "  esac\n  return ret\n}\n\n";
}

std::string commands_function(const std::vector<TopWord>& words) {
  std::vector<std::string> entries;
  for (const auto& word : words) entries.push_back(describe_entry(word.word, word.summary));
  return "_roost_commands() {\n" + describe_list("commands", entries, "roost command") + "\n}\n\n";
}

std::string main_function(const CompletionTable& table, const std::vector<TopWord>& words) {
  std::string out = "_roost() {\n  local -a _roost_globals\n  _roost_collect_globals\n";
  out += "  local curcontext=$curcontext state state_descr line ret=1\n  typeset -A opt_args\n";
  out += "  _arguments -C -s -S : \\\n";
  for (const auto* option : accepted_options(table, nullptr))
    out += "    " + option_spec(*option) + " \\\n";
  out += "    '(-): :->command' \\\n    '(-)*:: :->argument' && ret=0\n  case $state in\n";
  out += "    (command) _roost_commands && ret=0 ;;\n    (argument)\n";
  out += "      curcontext=${curcontext%:*:*}:roost-${words[1]}:\n      case ${words[1]} in\n";
  for (const auto& word : words) {
    std::string target = word.command != nullptr ? "_roost_cmd_" + function_suffix(word.word)
                                                 : "_roost_group_" + function_suffix(word.word);
    out += fmt::format("        ({}) {} && ret=0 ;;\n", list_word(word.word), target);
  }
  return out + "      esac\n      ;;\n  esac\n  return ret\n}\n\n";
}

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

std::string helpers(const CompletionTable& table) {
  std::string separate, joined;
  for (const auto& option : table.globals) {
    if (option.kind == ValueKind::None) continue;
    for (const auto& flag : spellings(option)) {
      separate += (separate.empty() ? "" : "|") + list_word(flag);
      joined += (joined.empty() ? "" : "|") + list_word(flag) + (flag[1] == '-' ? "=?*" : "?*");
    }
  }
  if (separate.empty()) separate = joined = "--";
  return replace_all(replace_all(std::string(kHelpers), "GLOBAL_SEPARATE", separate),
                     "GLOBAL_JOINED", joined);
}

}  // namespace

std::string zsh_script(const CompletionTable& table) {
  auto words = top_words(table);
  std::string out =
      "#compdef roost\n"
      "# zsh completion for roost, made from roost's option table by 'roost completion zsh'.\n";
  out += helpers(table) + "\n";
  for (const auto& command : table.commands)
    if (!command.hidden) out += command_function(table, command);
  for (const auto& word : words)
    if (word.command == nullptr) out += group_function(word);
  out += commands_function(words);
  out += main_function(table, words);
  // Autoloaded from fpath, the file is _roost's body; sourced, it registers _roost.
  return out +
         "if [[ $funcstack[1] == _roost ]]; then\n  _roost \"$@\"\nelse\n  compdef _roost "
         "roost\nfi\n";
}

}  // namespace roost::cli
