#pragma once

#include "launcher/plan.hpp"

namespace roost::cli {

// Descriptors shared by the monitor and the container's first process.
struct ChildChannels {
  int start_read = -1;     // the monitor writes one byte once the id maps are in place
  int error_write = -1;    // close-on-exec: "STATUS message" if setup or exec fails
  int console_write = -1;  // with a terminal: the pty master travels back over it
  int stdout_write = -1;   // captured output: the command's stdout and stderr
  int stderr_write = -1;
  int stdin_read = -1;  // a detached container's stdin with -i, from its monitor
  // The container is killed when the monitor dies (a foreground run whose roost was
  // killed); a detached container outlives its monitor for `rm -f` to end.
  bool end_with_monitor = false;
};

// The exit statuses of podman for a command that could not be started.
inline constexpr int kStatusSetupFailed = 125;
inline constexpr int kStatusCannotExecute = 126;
inline constexpr int kStatusNotFound = 127;

// Runs in the cloned child (PID 1 of the new namespaces); never returns.
[[noreturn]] void run_container_child(const ContainerPlan& plan, const ChildChannels& channels);

// Runs a command in a running container whose namespaces the caller has joined (exec):
// becomes root of its user namespace, then sets up the terminal, the user, the working
// directory and the security settings from `plan` as for the first process, and execs
// plan.argv. Never returns; failures go to channels.error_write as for the first process.
[[noreturn]] void run_exec_child(const ContainerPlan& plan, const ChildChannels& channels);

}  // namespace roost::cli
