#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include "common/error.hpp"

namespace roost::log {

void setup(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_logger_st("roost");
  logger->set_pattern("roost: %l: %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

spdlog::level::level_enum parse_level(std::string_view text) {
  if (text == "trace") return spdlog::level::trace;
  if (text == "debug") return spdlog::level::debug;
  if (text == "info") return spdlog::level::info;
  if (text == "warn" || text == "warning") return spdlog::level::warn;
  if (text == "error") return spdlog::level::err;
  throw UsageError(
      fmt::format("--log-level {}: not a log level; use one of debug, info, warn, error", text));
}

}  // namespace roost::log
