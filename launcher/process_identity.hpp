#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/fd.hpp"

namespace roost::cli {

// A process as recorded in a container's state. A pid alone may name another process
// once the first has ended, and a runtime directory that is not a tmpfs outlives a
// reboot, so the start time and the boot id come with it.
struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks after boot, field 22 of /proc/PID/stat
  std::string boot_id;      // /proc/sys/kernel/random/boot_id

  bool empty() const { return pid <= 0; }
};

// This boot's id, read once.
const std::string& current_boot_id();

// The identity of a living process; nullopt when it is gone or a zombie.
std::optional<ProcessIdentity> identify_process(pid_t pid);

// Whether the recorded process still runs: same boot, same start time, not a zombie.
bool is_running(const ProcessIdentity& process);

// A pidfd for the recorded process, opened before its identity is checked so that it
// cannot name a successor; empty when the process has ended.
UniqueFd open_recorded_process(const ProcessIdentity& process);

// Sends `signal` through the pidfd; false when the process had already ended.
bool send_signal(const UniqueFd& pidfd, int signal);

// Waits until the process behind `pidfd` ends, up to `timeout_ms` (-1: no limit);
// returns whether it ended.
bool wait_for_exit(const UniqueFd& pidfd, int timeout_ms);

}  // namespace roost::cli
