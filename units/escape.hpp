#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace roost::units {

// One word of an ExecStart= (or ExecStop=, ...) line that systemd hands to the program
// exactly as given: double-quoted, with backslash, quote and control characters
// C-escaped, '%' doubled (specifiers) and '$' doubled (variable expansion).
std::string exec_word(std::string_view word);

// A whole command line of such words, separated by spaces.
std::string exec_line(const std::vector<std::string>& argv);

// A value for a setting that expands specifiers but not variables (Description=):
// '%' doubled, and control characters (which would end the line) refused.
std::string specifier_escaped(std::string_view text);

}  // namespace roost::units
