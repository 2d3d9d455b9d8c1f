#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cgroups/limits.hpp"
#include "launcher/options.hpp"

namespace roost::cli {

// The limits a new container keeps: its options over the [limits] defaults of
// config.toml, checked here so that a bad value names the option, or the file, line and
// column it came from. --cgroups=disabled leaves the defaults out: the user asked for no
// cgroup at all.
struct ContainerLimits {
  std::map<std::string, std::string> values;  // option name -> value
  std::vector<std::string> configured;        // defaults kept, as "memory (FILE:3:10)"
};

ContainerLimits container_limits(const ParsedCommand& command,
                                 const cgroups::LimitRequest& defaults);

// Runs `check` (plan_scope, which refuses limits the host cannot apply). When some of
// the limits came from config.toml, a refusal says which and where they were set, since
// the command line did not ask for them.
void naming_configured_limits(const ContainerLimits& limits, const std::function<void()>& check);

}  // namespace roost::cli
