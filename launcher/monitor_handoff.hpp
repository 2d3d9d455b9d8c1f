#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "launcher/journal_writer.hpp"

namespace roost::cli {

// The monitor of a detached container sets the container up as a fork of the roost
// command, then executes roost-monitor, a small program of its own, keeping its pid (so
// the container stays its child and MAINPID stays true). This is what it hands over:
// descriptors by number (inherited across the exec), the log's settings, and the
// command line of the roost that records the container's end, to which roost-monitor
// adds the exit status and the number of out-of-memory kills. No fmt, no spdlog here.
inline constexpr const char* kMonitorProgram = "roost-monitor";

struct MonitorHandoff {
  pid_t pid = 0;      // the container's first process
  int pidfd = -1;     // ... and its pidfd
  int terminal = -1;  // the pty master, with a terminal
  int out = -1;       // captured stdout and stderr, without one
  int err = -1;
  int input = -1;            // the write end of its stdin, with -i and no terminal
  int attach_listener = -1;  // the attach socket, listening
  std::string attach_path;
  int notify_relay = -1;  // the socket the container notifies systemd through
  int oom_inotify = -1;   // the watch of the cgroup's memory.events, with a cgroup
  std::string cgroup;
  uint64_t oom_kills = 0;  // out-of-memory kills seen before the handoff
  std::string log_driver;  // k8s-file, journald or none
  std::string log_path;
  uint64_t log_max_size = 0;
  JournalFields journal;
  int roost_executable = -1;  // the roost binary that started the container
  std::vector<std::string> finish_command;
  bool debug = false;
};

// roost-monitor's arguments (without the program's name) for `handoff`.
std::vector<std::string> handoff_arguments(const MonitorHandoff& handoff);

// Reads them back. Throws UsageError naming a value that is not one roost gives.
MonitorHandoff parse_handoff(const std::vector<std::string_view>& arguments);

}  // namespace roost::cli
