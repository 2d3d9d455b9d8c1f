// The bash completion script: fixed helpers, then one function per command made from
// the option table. It uses bash-completion (_init_completion, _filedir) when that is
// loaded and plain COMP_WORDS and compgen when it is not, and keeps COMP_WORDBREAKS as
// it is: words are read with ':' joined back and the offered names are trimmed back to
// what readline replaces.

#include <fmt/format.h>

#include "launcher/completion.hpp"

namespace roost::cli {

namespace {

constexpr std::string_view kHelpers = R"script(
# Sets cur, prev, words, cword and split as bash-completion's _init_completion -s -n :
# does. Without bash-completion: COMP_WORDS with the runs of ':' and '=' that readline
# split off joined back to their neighbours, then --flag=value split at the '='.
_roost_init() {
  if declare -F _init_completion >/dev/null; then
    _init_completion -s -n :
    return
  fi
  local i word glue=0
  words=() cword=0 split=false COMPREPLY=()
  for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
    word=${COMP_WORDS[i]}
    if ((${#words[@]})) && { ((glue)) || [[ $word =~ ^[:=]+$ ]]; }; then
      words[-1]+=$word
    else
      words+=("$word")
    fi
    glue=0
    [[ $word =~ ^[:=]+$ ]] && glue=1
    ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
  done
  cur=${words[cword]} prev=${words[cword - 1]}
  if [[ $cur == --?*=* ]]; then
    prev=${cur%%=*} cur=${cur#*=} split=true
  fi
}

# Files for $cur: with -d directories only; with 'tar|tar.gz' those endings and the
# directories to look into; with nothing every file.
_roost_files() {
  if declare -F _filedir >/dev/null; then
    _filedir "$@"
    return
  fi
  compopt -o filenames 2>/dev/null
  local entry extension
  if [[ $1 == -d ]]; then
    mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -d -- "$cur")
    return
  fi
  while IFS= read -r entry; do
    if [[ -z $1 || -d $entry ]]; then
      COMPREPLY+=("$entry")
      continue
    fi
    for extension in ${1//|/ }; do
      [[ $entry == *."$extension" ]] && COMPREPLY+=("$entry") && break
    done
  done < <(compgen -f -- "$cur")
}

# readline replaces only what follows the last ':' of the word, so the offered names
# lose what comes before it.
_roost_trim_colon() {
  if declare -F __ltrim_colon_completions >/dev/null; then
    __ltrim_colon_completions "$cur"
    return
  fi
  [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] || return 0
  local prefix=${cur%"${cur##*:}"} i
  for i in "${!COMPREPLY[@]}"; do
    COMPREPLY[i]=${COMPREPLY[i]#"$prefix"}
  done
}

# Offers those of the words "$@" that start with $cur.
_roost_words() {
  local word
  for word in "$@"; do
    [[ $word == "$cur"* ]] && COMPREPLY+=("$word")
  done
}

# Offers the store names of one kind (images, containers, running) that start with
# $cur, asking roost with the global options typed so far, so that --root, --runroot
# and --config lead to the same store. The names are compared, never evaluated.
_roost_names() {
  local -a globals
  local name
  mapfile -t globals < <(_roost_global_args)
  while IFS= read -r name; do
    [[ $name == "$cur"* ]] && COMPREPLY+=("$name")
  done < <(command roost "${globals[@]}" __complete "$1" 2>/dev/null)
}

# Reads the words of a command from index $1 up to the cursor. Sets _roost_count to the
# number of positional arguments, _roost_options to 1 while options may still follow,
# and _roost_pending to the option whose value is being completed. $2 lists the options
# that take a value as |-a|--bee|; $3 is 1 when options end at the first positional.
_roost_walk() {
  local i word
  _roost_count=0 _roost_options=1 _roost_pending=
  for ((i = $1; i < cword; i++)); do
    word=${words[i]}
    if ((_roost_options)) && [[ $word == -- ]]; then
      _roost_options=0
    elif ((_roost_options)) && [[ $word == -?* ]]; then
      if [[ $2 == *"|$word|"* ]]; then
        ((i + 1 == cword)) && _roost_pending=$word
        i=$((i + 1))
      fi
    else
      _roost_count=$((_roost_count + 1))
      (($3)) && _roost_options=0
    fi
  done
  if ((_roost_options)) && [[ $split == true ]]; then
    _roost_pending=$prev
  fi
}
)script";

std::string value_action(const ValueCompletion& completion) {
  switch (completion.offer) {
    case Offer::Files: {
      std::string pattern;
      for (auto extension : completion.extensions)
        pattern += (pattern.empty() ? "" : "|") + std::string(extension);
      return pattern.empty() ? "_roost_files" : "_roost_files " + single_quoted(pattern);
    }
    case Offer::Directories:
      return "_roost_files -d";
    case Offer::Words: {
      std::string action = "_roost_words";
      for (const auto& word : completion.words) action += " " + shell_word(word);
      return action;
    }
    case Offer::Images:
    case Offer::Containers:
    case Offer::RunningContainers:
      return "_roost_names " + std::string(dynamic_list_name(completion.offer));
    case Offer::Nothing:
      break;
  }
  return ":";
}

std::string value_flags(const std::vector<const OptionSpec*>& options) {
  std::string list = "|";
  for (const auto* option : options)
    if (option->kind != ValueKind::None)
      for (const auto& flag : spellings(*option)) list += flag + "|";
  return list;
}

std::string all_flags(const std::vector<const OptionSpec*>& options) {
  std::string list;
  for (const auto* option : options)
    for (const auto& flag : spellings(*option)) list += " " + shell_word(flag);
  return list;
}

// A `case $_roost_pending in` block: the value of each option that takes one.
std::string pending_value_cases(const std::vector<const OptionSpec*>& options) {
  // A value with nothing to offer ends in the last case.
  std::string out = "  case $_roost_pending in\n    '') ;;\n";
  for (const auto* option : options) {
    auto completion = completion_for(*option);
    if (option->kind == ValueKind::None || completion.offer == Offer::Nothing) continue;
    std::string pattern;
    for (const auto& flag : spellings(*option))
      pattern += (pattern.empty() ? "" : "|") + shell_word(flag);
    out += fmt::format("    {}) {}; return ;;\n", pattern, value_action(completion));
  }
  return out + "    *) return ;;\n  esac\n";
}

std::string positional_cases(const CommandSpec& command) {
  std::string out = "  case $_roost_count in\n";
  const auto& positionals = command.positionals;
  for (size_t i = 0; i < positionals.size(); ++i) {
    bool last_variadic = positionals[i].variadic && i + 1 == positionals.size();
    std::string index = last_variadic ? "*" : std::to_string(i);
    out += fmt::format("    {}) {} ;;\n", index, value_action(completion_for(positionals[i])));
  }
  return out + "  esac\n";
}

std::string command_function(const CompletionTable& table, const CommandSpec& command) {
  auto options = accepted_options(table, &command);
  std::string out = fmt::format("_roost_cmd_{}() {{\n", function_suffix(command.name));
  out += "  local _roost_count _roost_options _roost_pending\n";
  out += fmt::format("  _roost_walk \"$1\" {} {}\n", single_quoted(value_flags(options)),
                     command.options_end_at_positional ? 1 : 0);
  out += pending_value_cases(options);
  out += fmt::format("  if ((_roost_options)) && [[ $cur == -* ]]; then\n    _roost_words{}\n",
                     all_flags(options));
  out += "    return\n  fi\n";
  return out + positional_cases(command) + "}\n\n";
}

// Before the command: global options, their values, or the first word of a command.
std::string top_function(const CompletionTable& table, const std::vector<TopWord>& words) {
  auto options = accepted_options(table, nullptr);
  std::string out = "_roost_top() {\n  local _roost_count _roost_options _roost_pending\n";
  out += fmt::format("  _roost_walk 1 {} 1\n", single_quoted(value_flags(options)));
  out += pending_value_cases(options);
  out += fmt::format("  if [[ $cur == -* ]]; then\n    _roost_words{}\n    return\n  fi\n",
                     all_flags(options));
  out += "  _roost_words";
  for (const auto& word : words) out += " " + shell_word(word.word);
  return out + "\n}\n\n";
}

std::string group_case(const TopWord& word) {
  std::string out = fmt::format("    {})\n", shell_word(word.word));
  out += "      if ((i + 1 == cword)); then\n        _roost_words";
  for (const auto* command : word.subcommands) out += " " + shell_word(subcommand_word(*command));
  out += "\n        return\n      fi\n      case ${words[i + 1]} in\n";
  for (const auto* command : word.subcommands)
    out += fmt::format("        {}) _roost_cmd_{} $((i + 2)) ;;\n",
                       shell_word(subcommand_word(*command)), function_suffix(command->name));
  return out + "      esac\n      ;;\n";
}

// From the command word at index $1 to the function of that command.
std::string dispatch_function(const std::vector<TopWord>& words) {
  std::string out = "_roost_dispatch() {\n  local i=$1\n  case ${words[i]} in\n";
  for (const auto& word : words) {
    if (word.command != nullptr)
      out += fmt::format("    {}) _roost_cmd_{} $((i + 1)) ;;\n", shell_word(word.word),
                         function_suffix(word.command->name));
    else
      out += group_case(word);
  }
  return out + "  esac\n}\n\n";
}

// The global options before the command word, and their values, are skipped.
std::string main_function(const CompletionTable& table) {
  std::string value_patterns;
  for (const auto& option : table.globals)
    if (option.kind != ValueKind::None)
      for (const auto& flag : spellings(option))
        value_patterns += (value_patterns.empty() ? "" : "|") + shell_word(flag);
  std::string out = "_roost() {\n  local cur prev words cword split i\n";
  out += "  _roost_init || return\n";
  out += "  for ((i = 1; i < cword; i++)); do\n    case ${words[i]} in\n";
  if (!value_patterns.empty()) out += fmt::format("      {}) i=$((i + 1)) ;;\n", value_patterns);
  out += "      -*) ;;\n      *) break ;;\n    esac\n  done\n";
  out += "  if ((i >= cword)); then\n    _roost_top\n  else\n    _roost_dispatch \"$i\"\n  fi\n";
  return out + "  _roost_trim_colon\n}\n\n";
}

std::string global_args_function(const CompletionTable& table) {
  std::string separate, joined;
  for (const auto& option : table.globals) {
    if (option.kind == ValueKind::None) continue;
    for (const auto& flag : spellings(option)) {
      separate += (separate.empty() ? "" : "|") + shell_word(flag);
      joined += (joined.empty() ? "" : "|") + shell_word(flag) + (flag[1] == '-' ? "=?*" : "?*");
    }
  }
  std::string out =
      "# Prints the global options that take a value, and their values, one per line.\n";
  out += "_roost_global_args() {\n  local i\n  for ((i = 1; i < cword; i++)); do\n";
  out += "    case ${words[i]} in\n";
  if (!separate.empty()) {
    out += fmt::format("      {})\n", separate);
    out += "        printf '%s\\n' \"${words[i]}\" \"${words[i + 1]/#\\~\\//$HOME/}\"\n";
    out += "        i=$((i + 1))\n        ;;\n";
    out += fmt::format("      {}) printf '%s\\n' \"${{words[i]}}\" ;;\n", joined);
  }
  return out + "    esac\n  done\n}\n";
}

}  // namespace

std::string bash_script(const CompletionTable& table) {
  auto words = top_words(table);
  std::string out =
      "# bash completion for roost                                  -*- shell-script -*-\n"
      "# Made from roost's option table by 'roost completion bash'. Uses bash-completion\n"
      "# when it is loaded and works without it.\n";
  out += kHelpers;
  out += "\n" + global_args_function(table) + "\n";
  for (const auto& command : table.commands)
    if (!command.hidden) out += command_function(table, command);
  out += top_function(table, words);
  out += dispatch_function(words);
  out += main_function(table);
  return out + "complete -F _roost roost\n";
}

}  // namespace roost::cli
