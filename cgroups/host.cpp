#include "cgroups/host.hpp"

#include <sys/statfs.h>
#include <sys/vfs.h>

#include <linux/magic.h>

namespace roost::cgroups {

HostSupport detect_host_support() {
  HostSupport support;
  struct statfs st;
  support.unified = ::statfs("/sys/fs/cgroup", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC;
  if (!support.unified) {
    support.reason =
        "this host does not use the unified cgroup v2 hierarchy alone (it has cgroup v1 or a "
        "hybrid layout), so no cgroup can be delegated to an unprivileged user; boot with "
        "systemd.unified_cgroup_hierarchy=1 to use limits";
    return support;
  }
  support.reason = "resource limits need the user's systemd instance, which is not reachable yet";
  return support;
}

}  // namespace roost::cgroups
