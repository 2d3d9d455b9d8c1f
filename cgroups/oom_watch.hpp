#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/fd.hpp"

namespace roost::cgroups {

// Follows memory.events while the cgroup lives. systemd removes a scope's cgroup as soon
// as its last process has exited, which can be before the monitor gets to read it; a
// watch opened at start keeps the last count it saw. Add fd() to the monitor's poll set
// (it becomes readable when the counters change) and call update() when it is, and
// once more after the container has exited. roost-monitor links this too: no fmt, no
// spdlog.
class OomWatch {
 public:
  explicit OomWatch(std::string cgroup);
  // Goes on with the watch of another process (the monitor that executed roost-monitor).
  OomWatch(std::string cgroup, UniqueFd inotify, uint64_t oom_kills_seen);

  int fd() const { return inotify_.get(); }
  const std::string& cgroup() const { return cgroup_; }
  void update();
  uint64_t oom_kills() const { return oom_kills_; }
  std::optional<uint64_t> memory_max() const { return memory_max_; }

 private:
  std::string cgroup_;
  UniqueFd inotify_;
  uint64_t oom_kills_ = 0;
  std::optional<uint64_t> memory_max_;
};

}  // namespace roost::cgroups
