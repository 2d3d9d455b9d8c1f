#pragma once

#include <functional>

#include "common/fd.hpp"
#include "launcher/plan.hpp"

namespace roost::cli {

struct ContainerExit {
  int status = 0;           // as the shell reports it: code, or 128+signal
  UniqueFd user_namespace;  // the container's user namespace, kept for cleanup
  std::string failure;      // why setup or exec failed, when it did
  bool out_of_memory = false;
  std::optional<uint64_t> memory_max;
};

// Creates the container's first process in its namespaces, maps its ids, lets it run
// the plan, relays signals and the terminal, and returns when it ended. A setup or exec
// failure comes back as `failure` with podman's status (125, 126, 127).
// `on_started` runs once the process is released, with its pid.
ContainerExit run_and_monitor(const ContainerPlan& plan,
                              const std::function<void(pid_t)>& on_started);

// Removes `paths` as root of the user namespace held by `user_namespace` (files there
// may belong to any id the container mapped).
void remove_in_namespace(const UniqueFd& user_namespace,
                         const std::vector<std::filesystem::path>& paths);

}  // namespace roost::cli
