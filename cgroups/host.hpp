#pragma once

#include <string>

namespace roost::cgroups {

// What this host lets an unprivileged user do with cgroups.
struct HostSupport {
  bool unified = false;    // cgroup v2 alone at /sys/fs/cgroup
  bool can_limit = false;  // limits can be applied through a delegated scope
  std::string reason;      // why not, in words for the user, when !can_limit
};

HostSupport detect_host_support();

}  // namespace roost::cgroups
