#pragma once

#include <string>
#include <vector>

#include "launcher/options.hpp"

namespace roost::cli {

struct Invocation {
  ParsedCommand globals;
  ParsedCommand command;  // spec is null when only global help was asked
  bool help = false;
};

// Parses argv (without argv[0]) against the option table. Throws UsageError naming
// the word and, for a typo, the nearest command or option.
Invocation parse_arguments(const std::vector<std::string>& args);

// Usage and options of one command, or of roost itself when `command` is null.
std::string render_help(const CommandSpec* command);

// Seconds given to `flag` (--time 10, --stop-timeout 2.5): 0 to 86400, fractions dropped.
// Throws UsageError naming the flag, the value and the range.
int parse_timeout_seconds(std::string_view text, std::string_view flag);

// The closest candidate within a small edit distance, or empty.
std::string nearest(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace roost::cli
