#include "units/escape.hpp"

#include <fmt/format.h>

#include "common/error.hpp"

namespace roost::units {

namespace {

// systemd's extract_first_word with EXTRACT_CUNESCAPE reads these back; \x.. covers the
// remaining control characters (a NUL cannot be in an argument at all).
std::string escaped_character(unsigned char c) {
  switch (c) {
    case '\\':
      return "\\\\";
    case '"':
      return "\\\"";
    case '\n':
      return "\\n";
    case '\t':
      return "\\t";
    case '\r':
      return "\\r";
    case '%':
      return "%%";
    case '$':
      return "$$";
  }
  if (c < 0x20 || c == 0x7f) return fmt::format("\\x{:02x}", c);
  return std::string(1, static_cast<char>(c));
}

}  // namespace

std::string exec_word(std::string_view word) {
  std::string quoted = "\"";
  for (char c : word) quoted += escaped_character(static_cast<unsigned char>(c));
  return quoted + "\"";
}

std::string exec_line(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& word : argv) {
    if (!line.empty()) line += ' ';
    line += exec_word(word);
  }
  return line;
}

std::string specifier_escaped(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20)
      throw UsageError(
          fmt::format("{:?}: a control character cannot be written into a unit", text));
    escaped += c == '%' ? std::string("%%") : std::string(1, c);
  }
  return escaped;
}

}  // namespace roost::units
