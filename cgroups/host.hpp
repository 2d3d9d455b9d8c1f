#pragma once

#include <sys/types.h>

#include <filesystem>
#include <set>
#include <string>

#include "cgroups/bus.hpp"
#include "cgroups/limits.hpp"

namespace roost::cgroups {

enum class CgroupLayout {
  Unified,  // cgroup v2 alone at the root
  Hybrid,   // v1 controllers, v2 beside them at ROOT/unified
  Legacy,   // v1 only
  Missing,  // nothing mounted at the root
};

// Where detection looks; tests point it at a tree laid out like cgroupfs.
struct HostProbe {
  std::filesystem::path cgroup_root = "/sys/fs/cgroup";
  std::filesystem::path mountinfo = "/proc/self/mountinfo";
  std::filesystem::path own_cgroup = "/proc/self/cgroup";
  std::filesystem::path systemd_marker = "/run/systemd/system";  // present when systemd is init
  BusEnvironment bus = BusEnvironment::from_process();
};

// What this host lets an unprivileged user do with cgroups.
struct HostSupport {
  CgroupLayout layout = CgroupLayout::Missing;
  bool unified = false;  // layout == Unified
  bool systemd_running = false;
  uid_t uid = 0;
  BusChoice bus;  // bus.address goes to ScopeRequest::bus_address
  bool bus_reachable = false;
  std::filesystem::path manager_cgroup;         // user@UID.service's cgroup directory
  std::set<std::string> delegated_controllers;  // its cgroup.controllers
  bool swap_accounting = false;                 // memory.swap.max exists there
  bool can_limit = false;  // a delegated scope can be made; controllers are checked per limit
  std::string reason;      // why not, for the user, when !can_limit
};

// This process's host, detected on the first call and the same for every later one.
HostSupport detect_host_support();
HostSupport detect_host_support(const HostProbe& probe);

// The limits to ask systemd for. Throws Error, before anything is started, when the
// host cannot make a scope (with host.reason) or a limit needs a controller that is not
// delegated (naming the option, the controller and the drop-in that delegates it).
// A swap limit without swap accounting is left out with a warning; the memory limit
// stays.
Limits applicable_limits(Limits limits, const HostSupport& host);

}  // namespace roost::cgroups
