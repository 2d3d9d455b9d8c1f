#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cgroups/limits.hpp"
#include "common/fd.hpp"
#include "launcher/containers.hpp"

namespace roost::cli {

// What `roost run` does for the systemd service it runs under: readiness (sd_notify),
// the container's own notifications relayed with --sdnotify=container, and socket
// activation. Outside a service (no NOTIFY_SOCKET, no LISTEN_FDS) it does nothing.
//
// --sdnotify=conmon (default): MAINPID (this monitor), then READY=1 once the command
// runs. container: MAINPID, then the container's own READY, STATUS, ... through a
// socket mounted at /run/notify/notify.sock inside. ignore: nothing is sent.
class ServiceHooks {
 public:
  // Adds to `plan` what the container needs: the relay's mount and NOTIFY_SOCKET, and
  // the inherited listening sockets (fds 3...) with LISTEN_FDS and LISTEN_FDNAMES.
  ServiceHooks(ContainerPlan& plan, const ContainerSettings& settings,
               const std::filesystem::path& runtime_dir);
  ~ServiceHooks();
  ServiceHooks(const ServiceHooks&) = delete;
  ServiceHooks& operator=(const ServiceHooks&) = delete;

  // The container's command runs: tell systemd, or start relaying the container's word.
  void started();
  // The two halves of started(): MAINPID, and READY=1 unless the container says it; then
  // a thread that relays what the container says, with --sdnotify=container under a
  // service, when no other process (roost-monitor) serves relay_socket() instead.
  void announce_started();
  void start_relay();
  int relay_socket() const;  // -1 when there is nothing to relay
  // The container ended: stop relaying.
  void stop();

 private:
  void relay_loop();

  std::string mode_;
  bool under_service_ = false;
  UniqueFd relay_socket_;
  std::atomic<bool> stopping_ = false;
  std::thread relay_thread_;
};

// The container's environment at exec: LISTEN_PID is the command's own pid, which only
// the command's process knows (it is not PID 1 under --init).
std::vector<std::string> environment_at_exec(const ContainerPlan& plan);

// Whether systemd executed this very process as a unit's command (SYSTEMD_EXEC_PID is its
// pid), rather than a process that such a command started.
bool is_units_own_command();

// This process's cgroup directory in the unified hierarchy. Throws Error without one.
std::filesystem::path own_cgroup();

// --cgroups=split: moves every process of the cgroup this one (the monitor) runs in
// into its leaf `supervisor` (a service's delegated cgroup: cgroup v2 lets controllers
// be enabled only for a cgroup without processes of its own), then puts `pid` into the
// leaf `container` with the limits copied in. Returns {the service cgroup, the leaf}.
struct SplitCgroup {
  std::filesystem::path cgroup;
  std::filesystem::path leaf;
};
SplitCgroup split_own_cgroup(const cgroups::Limits& limits, pid_t pid);

}  // namespace roost::cli
