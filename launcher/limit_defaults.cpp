#include "launcher/limit_defaults.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <vector>

#include "common/error.hpp"

namespace roost::cli {

namespace {

cgroups::LimitRequest option_limits(const ParsedCommand& command) {
  cgroups::LimitRequest request;
  for (auto key : cgroups::kLimitKeys)
    if (command.has(key)) request.set(key, command.value(key));
  return request;
}

}  // namespace

ContainerLimits container_limits(const ParsedCommand& command,
                                 const cgroups::LimitRequest& defaults) {
  auto options = option_limits(command);
  auto merged = options;
  if (command.value("cgroups") == "disabled") {
    if (!defaults.empty())
      spdlog::debug("the [limits] of config.toml are not applied: --cgroups=disabled");
  } else {
    merged = cgroups::with_defaults(options, defaults);
  }
  cgroups::parse_limits(merged);
  ContainerLimits limits;
  for (const auto& [key, text] : merged.values) {
    limits.values[key] = text.value;
    if (!text.source.empty())
      limits.configured.push_back(fmt::format("{} ({})", cgroups::config_key(key), text.source));
  }
  return limits;
}

void naming_configured_limits(const ContainerLimits& limits, const std::function<void()>& check) {
  try {
    check();
  } catch (const UsageError&) {
    throw;
  } catch (const Error& error) {
    if (limits.configured.empty()) throw;
    throw Error(fmt::format("{} (set in config.toml: {})", error.what(),
                            fmt::join(limits.configured, ", ")));
  }
}

}  // namespace roost::cli
