#include "common/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include "common/error.hpp"
#include "common/stderr_log.hpp"

namespace roost::log {

namespace {

stderr_log::Level shared_level(spdlog::level::level_enum level) {
  if (level <= spdlog::level::debug) return stderr_log::Level::Debug;
  if (level == spdlog::level::info) return stderr_log::Level::Info;
  if (level == spdlog::level::warn) return stderr_log::Level::Warning;
  return stderr_log::Level::Error;
}

}  // namespace

void setup(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_logger_st("roost");
  logger->set_pattern("roost: %l: %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  stderr_log::set_level(shared_level(level));
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
