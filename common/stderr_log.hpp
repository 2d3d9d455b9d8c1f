#pragma once

#include <string_view>

namespace roost::stderr_log {

// Messages of the code that roost-monitor shares with roost. roost-monitor carries no
// spdlog, so these are written straight to stderr in the shape roost's logger gives
// its own ("roost: warning: text"), one write per line, at the level roost was given.
enum class Level { Debug, Info, Warning, Error };

void set_level(Level level);
bool enabled(Level level);

void warning(std::string_view message);
void debug(std::string_view message);

}  // namespace roost::stderr_log
