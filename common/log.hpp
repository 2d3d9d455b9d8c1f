#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace roost::log {

// Messages go to stderr as "roost: LEVEL: text"; errors are printed by main.
void setup(spdlog::level::level_enum level);

// Parses debug|info|warn|warning|error; throws UsageError naming the value otherwise.
spdlog::level::level_enum parse_level(std::string_view text);

}  // namespace roost::log
