#include "common/stderr_log.hpp"

#include <unistd.h>

#include <string>

namespace roost::stderr_log {

namespace {

Level threshold = Level::Warning;

void write_line(std::string_view level, std::string_view message) {
  std::string line = "roost: ";
  line.append(level).append(": ").append(message).push_back('\n');
  // A lost diagnostic is no reason to stop: stderr may be a closed pipe.
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

void set_level(Level level) {
  threshold = level;
}

bool enabled(Level level) {
  return level >= threshold;
}

void warning(std::string_view message) {
  if (enabled(Level::Warning)) write_line("warning", message);
}

void debug(std::string_view message) {
  if (enabled(Level::Debug)) write_line("debug", message);
}

}  // namespace roost::stderr_log
