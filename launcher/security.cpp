#include "launcher/security.hpp"

#include <grp.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"

namespace roost::cli {

namespace {

// The capabilities docker and podman leave a container's root by default.
constexpr cap_value_t kDefaultCapabilities[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FOWNER,  CAP_FSETID, CAP_KILL,       CAP_NET_BIND_SERVICE,
    CAP_SETFCAP, CAP_SETGID,       CAP_SETPCAP, CAP_SETUID, CAP_SYS_CHROOT,
};

// Calls that reach state the user namespace does not isolate (the kernel keyring,
// kernel modules and images, accounting, the syslog buffer) or that widen the kernel's
// attack surface for no container use.
constexpr const char* kDeniedSyscalls[] = {
    "add_key",           "request_key",  "keyctl",        "kexec_load",     "kexec_file_load",
    "init_module",       "finit_module", "delete_module", "acct",           "swapon",
    "swapoff",           "syslog",       "reboot",        "lookup_dcookie", "perf_event_open",
    "open_by_handle_at", "userfaultfd",  "quotactl",      "nfsservctl",     "vm86",
    "vm86old",
};

bool is_default(cap_value_t cap) {
  return std::find(std::begin(kDefaultCapabilities), std::end(kDefaultCapabilities), cap) !=
         std::end(kDefaultCapabilities);
}

void limit_bounding_set() {
  for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    if (is_default(cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
      throw_errno(fmt::format("drop capability {} from the bounding set", cap));
  }
}

void keep_default_capabilities() {
  cap_t caps = cap_init();
  if (caps == nullptr) throw_errno("allocate a capability set");
  constexpr int count = sizeof kDefaultCapabilities / sizeof kDefaultCapabilities[0];
  cap_set_flag(caps, CAP_EFFECTIVE, count, kDefaultCapabilities, CAP_SET);
  cap_set_flag(caps, CAP_PERMITTED, count, kDefaultCapabilities, CAP_SET);
  int rc = cap_set_proc(caps);
  int error = errno;
  cap_free(caps);
  if (rc < 0) throw_errno("set the container's capabilities", error);
}

void switch_user(const Identity& identity) {
  if (::setgroups(identity.supplementary_groups.size(), identity.supplementary_groups.data()) < 0) {
    if (errno != EPERM || !identity.supplementary_groups.empty())
      spdlog::debug("setgroups for uid {}: {}, ignoring", identity.uid, std::strerror(errno));
  }
  if (::setresgid(identity.gid, identity.gid, identity.gid) < 0)
    throw_errno(fmt::format("switch to gid {} (is it mapped? see --userns)", identity.gid));
  if (::setresuid(identity.uid, identity.uid, identity.uid) < 0)
    throw_errno(fmt::format("switch to uid {} (is it mapped? see --userns)", identity.uid));
}

void install_syscall_filter() {
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
  if (filter == nullptr) throw Error("create the seccomp filter");
  for (const char* name : kDeniedSyscalls) {
    int number = seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR) continue;
    seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), number, 0);
  }
  int rc = seccomp_load(filter);
  seccomp_release(filter);
  if (rc < 0) throw_errno("load the seccomp filter", -rc);
}

}  // namespace

void apply_security(const Identity& identity) {
  limit_bounding_set();
  keep_default_capabilities();
  switch_user(identity);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) throw_errno("set no_new_privs");
  install_syscall_filter();
}

}  // namespace roost::cli
