#include "launcher/parse.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/error.hpp"
#include "launcher/format_template.hpp"

namespace roost::cli {

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

const OptionSpec* find_long(const std::vector<OptionSpec>& options, std::string_view name) {
  for (const auto& option : options)
    if (option.long_name == name) return &option;
  return nullptr;
}

const OptionSpec* find_short(const std::vector<OptionSpec>& options, char name) {
  for (const auto& option : options)
    if (option.short_name != 0 && option.short_name == name) return &option;
  return nullptr;
}

std::string display_name(const std::string& command_name) {
  return command_name.empty() ? "roost" : "roost " + command_name;
}

bool is_finite_number(const std::string& value) {
  double number = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  return error == std::errc() && end == value.data() + value.size() && std::isfinite(number);
}

bool is_whole_number(const std::string& value) {
  long long number = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
  return error == std::errc() && end == value.data() + value.size();
}

std::string spelled_flag(const OptionSpec& option) {
  std::string flag = "--" + std::string(option.long_name);
  return option.short_name != 0 ? fmt::format("-{}/{}", option.short_name, flag) : flag;
}

void check_value(const std::string& where, const OptionSpec& option, const std::string& value) {
  if (option.template_fields != nullptr && is_format_template(value)) {
    // Compiling the template is what checks it; the command compiles it again to print.
    FormatTemplate(value, *option.template_fields);
    return;
  }
  if (option.kind == ValueKind::Choice &&
      std::find(option.choices.begin(), option.choices.end(), value) == option.choices.end()) {
    std::string allowed;
    for (auto choice : option.choices)
      allowed += (allowed.empty() ? "" : ", ") + std::string(choice);
    throw UsageError(fmt::format("{}: --{} {}: not a valid value; use one of {}", where,
                                 option.long_name, value, allowed));
  }
  if (option.kind == ValueKind::Number && !is_finite_number(value))
    throw UsageError(fmt::format("{}: {} {}: not a number; expected {}: {}", where,
                                 spelled_flag(option), value, option.value_name, option.help));
  if (option.kind == ValueKind::WholeNumber && !is_whole_number(value))
    throw UsageError(fmt::format("{}: {} {}: not a whole number; expected {}: {}", where,
                                 spelled_flag(option), value, option.value_name, option.help));
}

class Parser {
 public:
  Parser(const std::vector<std::string>& args) : args_(args) {}

  Invocation run() {
    Invocation invocation;
    parse_options(global_options(), invocation.globals, "", false);
    if (invocation.globals.has("help") || position_ == args_.size()) {
      invocation.help = true;
      return invocation;
    }
    invocation.command.spec = match_command();
    parse_options(invocation.command.spec->options, invocation.command,
                  std::string(invocation.command.spec->name),
                  invocation.command.spec->options_end_at_positional, &invocation.globals);
    invocation.help = invocation.command.has("help") || invocation.globals.has("help");
    if (!invocation.help) check_positionals(invocation.command);
    return invocation;
  }

 private:
  const CommandSpec* match_command() {
    const auto& table = command_table();
    if (position_ + 1 < args_.size()) {
      std::string two_words = args_[position_] + " " + args_[position_ + 1];
      for (const auto& command : table)
        if (command.name == two_words) {
          position_ += 2;
          return &command;
        }
    }
    for (const auto& command : table)
      if (command.name == args_[position_]) {
        ++position_;
        return &command;
      }
    std::vector<std::string_view> names;
    for (const auto& command : table) names.push_back(command.name);
    refuse_unknown_subcommand(table);
    std::string suggestion = nearest(args_[position_], names);
    throw UsageError(fmt::format("unknown command '{}'; {}", args_[position_],
                                 suggestion.empty()
                                     ? "run 'roost --help' for the list of commands"
                                     : fmt::format("did you mean '{}'?", suggestion)));
  }

  // "image prune2" names a group of commands: its own commands are the suggestions.
  void refuse_unknown_subcommand(const std::vector<CommandSpec>& table) {
    const std::string& group = args_[position_];
    std::vector<std::string_view> subcommands;
    for (const auto& command : table)
      if (!command.hidden && command.name.starts_with(group + " "))
        subcommands.push_back(command.name.substr(group.size() + 1));
    if (subcommands.empty()) return;
    std::string given = position_ + 1 < args_.size() ? args_[position_ + 1] : "";
    if (given.starts_with("-")) given.clear();
    std::string suggestion = given.empty() ? "" : nearest(given, subcommands);
    throw UsageError(
        fmt::format("unknown command '{}'; {}", given.empty() ? group : group + " " + given,
                    suggestion.empty()
                        ? fmt::format("the {} commands are {}", group, fmt::join(subcommands, ", "))
                        : fmt::format("did you mean '{} {}'?", group, suggestion)));
  }

  void parse_options(const std::vector<OptionSpec>& options, ParsedCommand& out,
                     const std::string& command_name, bool end_at_positional,
                     ParsedCommand* globals = nullptr) {
    const bool is_global_pass = globals == nullptr;
    while (position_ < args_.size()) {
      const std::string& arg = args_[position_];
      if (arg == "--") {
        ++position_;
        if (is_global_pass) return;
        while (position_ < args_.size()) out.positionals.push_back(args_[position_++]);
        return;
      }
      if (arg.size() < 2 || arg[0] != '-') {
        if (is_global_pass) return;
        out.positionals.push_back(arg);
        ++position_;
        if (end_at_positional) {
          while (position_ < args_.size()) out.positionals.push_back(args_[position_++]);
          return;
        }
        continue;
      }
      ++position_;
      if (arg[1] == '-')
        parse_long(options, out, command_name, arg.substr(2), globals);
      else
        parse_short_cluster(options, out, command_name, arg.substr(1), globals);
    }
  }

  void parse_long(const std::vector<OptionSpec>& options, ParsedCommand& out,
                  const std::string& command_name, const std::string& body,
                  ParsedCommand* globals) {
    auto equals = body.find('=');
    std::string name = body.substr(0, equals);
    const OptionSpec* option = find_long(options, name);
    ParsedCommand* target = &out;
    if (option == nullptr && globals != nullptr) {
      option = find_long(global_options(), name);
      target = globals;
    }
    if (option == nullptr) unknown_option(options, command_name, "--" + name);
    if (option->kind == ValueKind::None) {
      if (equals != std::string::npos)
        throw UsageError(fmt::format("{}: --{} takes no value", display_name(command_name), name));
      target->values[std::string(option->long_name)].push_back("true");
      return;
    }
    std::string value;
    if (equals != std::string::npos)
      value = body.substr(equals + 1);
    else
      value = take_value(command_name, "--" + name, *option);
    store(*target, command_name, *option, value);
  }

  void parse_short_cluster(const std::vector<OptionSpec>& options, ParsedCommand& out,
                           const std::string& command_name, const std::string& cluster,
                           ParsedCommand* globals) {
    for (size_t i = 0; i < cluster.size(); ++i) {
      const OptionSpec* option = find_short(options, cluster[i]);
      ParsedCommand* target = &out;
      if (option == nullptr && globals != nullptr) {
        option = find_short(global_options(), cluster[i]);
        target = globals;
      }
      if (option == nullptr) unknown_option(options, command_name, std::string("-") + cluster[i]);
      if (option->kind == ValueKind::None) {
        target->values[std::string(option->long_name)].push_back("true");
        continue;
      }
      // -m=64m means 64m, as in docker's and podman's parsers.
      size_t value_start = i + 1 < cluster.size() && cluster[i + 1] == '=' ? i + 2 : i + 1;
      std::string value = i + 1 < cluster.size()
                              ? cluster.substr(value_start)
                              : take_value(command_name, std::string("-") + cluster[i], *option);
      store(*target, command_name, *option, value);
      return;
    }
  }

  std::string take_value(const std::string& command_name, const std::string& flag,
                         const OptionSpec& option) {
    if (position_ >= args_.size())
      throw UsageError(fmt::format("{}: {} needs a value ({})", display_name(command_name), flag,
                                   option.value_name));
    return args_[position_++];
  }

  void store(ParsedCommand& target, const std::string& command_name, const OptionSpec& option,
             const std::string& value) {
    check_value(display_name(command_name), option, value);
    auto& values = target.values[std::string(option.long_name)];
    if (!option.repeatable) values.clear();
    values.push_back(value);
  }

  [[noreturn]] void unknown_option(const std::vector<OptionSpec>& options,
                                   const std::string& command_name, const std::string& flag) {
    std::vector<std::string> spelled;
    for (const auto* list : {&options, &global_options()})
      for (const auto& option : *list) spelled.push_back("--" + std::string(option.long_name));
    std::vector<std::string_view> candidates(spelled.begin(), spelled.end());
    std::string suggestion = flag.size() > 2 ? nearest(flag, candidates) : "";
    throw UsageError(fmt::format("{}: unknown option {}; {}", display_name(command_name), flag,
                                 suggestion.empty()
                                     ? fmt::format("see '{} --help'", display_name(command_name))
                                     : fmt::format("did you mean {}?", suggestion)));
  }

  void check_positionals(const ParsedCommand& command) {
    const auto& specs = command.spec->positionals;
    size_t required = 0;
    bool variadic = false;
    for (const auto& spec : specs) {
      if (spec.required) ++required;
      variadic = variadic || spec.variadic;
    }
    std::string name = display_name(std::string(command.spec->name));
    if (command.positionals.size() < required) {
      const auto& missing = specs[command.positionals.size()];
      throw UsageError(fmt::format("{}: missing {}; see '{} --help'", name, missing.name, name));
    }
    if (!variadic && command.positionals.size() > specs.size())
      throw UsageError(fmt::format("{}: unexpected argument '{}'; see '{} --help'", name,
                                   command.positionals[specs.size()], name));
  }

  const std::vector<std::string>& args_;
  size_t position_ = 0;
};

void render_options(std::string& out, const std::vector<OptionSpec>& options) {
  for (const auto& option : options) {
    std::string flag = option.short_name != 0 ? fmt::format("-{}, ", option.short_name) : "    ";
    flag += "--" + std::string(option.long_name);
    if (option.kind != ValueKind::None) flag += " " + std::string(option.value_name);
    out += fmt::format("  {:<30} {}\n", flag, option.help);
  }
}

}  // namespace

Invocation parse_arguments(const std::vector<std::string>& args) {
  return Parser(args).run();
}

int parse_timeout_seconds(std::string_view text, std::string_view flag) {
  constexpr int kMostSeconds = 86400;
  double seconds = -1;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error != std::errc() || end != text.data() + text.size() || !(seconds >= 0) ||
      seconds > kMostSeconds)
    throw UsageError(fmt::format("{} {}: use seconds from 0 to {}", flag, text, kMostSeconds));
  return static_cast<int>(seconds);
}

std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (auto candidate : candidates) {
    size_t distance = edit_distance(word, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

std::string render_help(const CommandSpec* command) {
  std::string out;
  if (command == nullptr) {
    out += "roost: rootless containers for one user\n\nUsage: roost [GLOBAL OPTIONS] COMMAND\n\n";
    out += "Commands:\n";
    for (const auto& entry : command_table())
      if (!entry.hidden) out += fmt::format("  {:<16} {}\n", entry.name, entry.summary);
    out += "\nGlobal options:\n";
    render_options(out, global_options());
    out += "\nRun 'roost COMMAND --help' for a command's options.\n";
    return out;
  }
  out += fmt::format("{}\n\nUsage: roost {}", command->summary, command->name);
  if (!command->options.empty()) out += " [OPTIONS]";
  for (const auto& positional : command->positionals) {
    std::string word = std::string(positional.name) + (positional.variadic ? "..." : "");
    out += positional.required ? " " + word : " [" + word + "]";
  }
  out += "\n";
  if (!command->options.empty()) {
    out += "\nOptions:\n";
    render_options(out, command->options);
  }
  return out;
}

}  // namespace roost::cli
