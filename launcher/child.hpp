#pragma once

#include "launcher/plan.hpp"

namespace roost::cli {

// Descriptors shared by the monitor and the container's first process.
struct ChildChannels {
  int start_read = -1;     // the monitor writes one byte once the id maps are in place
  int error_write = -1;    // close-on-exec: "STATUS message" if setup or exec fails
  int console_write = -1;  // with a terminal: the pty master travels back over it
};

// The exit statuses of podman for a command that could not be started.
inline constexpr int kStatusSetupFailed = 125;
inline constexpr int kStatusCannotExecute = 126;
inline constexpr int kStatusNotFound = 127;

// Runs in the cloned child (PID 1 of the new namespaces); never returns.
[[noreturn]] void run_container_child(const ContainerPlan& plan, const ChildChannels& channels);

}  // namespace roost::cli
