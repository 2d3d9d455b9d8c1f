#include "cgroups/host.hpp"

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <vector>

#include "cgroups/files.hpp"
#include "cgroups/properties.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::cgroups {

namespace {

namespace stdfs = std::filesystem;

struct Mount {
  std::string point;
  std::string type;
};

// mountinfo writes a space in a path as \040 (octal).
std::string unescape_mount_point(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() && std::isdigit(text[i + 1])) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 3)), nullptr, 8));
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

// mountinfo lines: ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [TAGS...] - TYPE SOURCE ...
std::vector<Mount> read_mounts(const stdfs::path& mountinfo) {
  std::vector<Mount> mounts;
  std::istringstream lines(fs::read_file(mountinfo));
  for (std::string line; std::getline(lines, line);) {
    auto fields = files::words(line);
    auto separator = std::find(fields.begin(), fields.end(), "-");
    if (fields.size() < 5 || separator == fields.end() || separator + 1 == fields.end()) continue;
    mounts.push_back({unescape_mount_point(fields[4]), *(separator + 1)});
  }
  return mounts;
}

std::optional<std::string> type_mounted_at(const std::vector<Mount>& mounts,
                                           const stdfs::path& point) {
  std::optional<std::string> type;
  for (const auto& mount : mounts)  // the last mount on a point is the one seen
    if (mount.point == point.string()) type = mount.type;
  return type;
}

CgroupLayout layout_of(const std::vector<Mount>& mounts, const stdfs::path& root) {
  auto root_type = type_mounted_at(mounts, root);
  if (root_type == "cgroup2") return CgroupLayout::Unified;
  if (type_mounted_at(mounts, root / "unified") == "cgroup2") return CgroupLayout::Hybrid;
  for (const auto& mount : mounts)
    if (mount.type == "cgroup" && mount.point.starts_with(root.string()))
      return CgroupLayout::Legacy;
  return CgroupLayout::Missing;
}

std::string layout_problem(CgroupLayout layout, const stdfs::path& root) {
  switch (layout) {
    case CgroupLayout::Unified:
      return "";
    case CgroupLayout::Hybrid:
      return fmt::format(
          "cgroups on this host use the hybrid layout (cgroup v1 controllers under {0}, cgroup "
          "v2 only at {0}/unified), so systemd cannot delegate a controller to a user; booting "
          "with systemd.unified_cgroup_hierarchy=1 gives cgroup v2 alone",
          root.string());
    case CgroupLayout::Legacy:
      return fmt::format(
          "cgroups on this host are version 1 only (under {}), and systemd delegates "
          "controllers to a user only on cgroup v2; booting with "
          "systemd.unified_cgroup_hierarchy=1 switches to it",
          root.string());
    case CgroupLayout::Missing:
      return fmt::format("no cgroup file system is mounted at {}", root.string());
  }
  return "";
}

std::string user_name(uid_t uid) {
  struct passwd entry;
  struct passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr)
    return found->pw_name;
  return std::to_string(uid);
}

std::string bus_problem(const HostSupport& host) {
  std::string how = fmt::format(
      "limits need a systemd user session: log in on a console, over ssh or to a desktop "
      "(su, sudo and cron do not start one), or run `loginctl enable-linger {}` once",
      user_name(host.uid));
  if (host.bus.address.empty())
    return fmt::format("no D-Bus address of uid {}'s own is known; {}", host.uid, how);
  return fmt::format(
      "no systemd user instance is reachable for uid {}: nothing accepts "
      "connections at {} (the bus from {}); {}",
      host.uid, host.bus.address, host.bus.source, how);
}

// The user manager's cgroup: an ancestor of ours when we run under it, else where
// systemd puts user@UID.service.
stdfs::path manager_cgroup(const HostProbe& probe, uid_t uid) {
  std::string unit = fmt::format("/user@{}.service", uid);
  auto own = files::read_if_present(probe.own_cgroup);
  auto path = own ? files::unified_path(*own) : std::nullopt;
  size_t at = path ? (*path + "/").find(unit + "/") : std::string::npos;
  std::string relative = at != std::string::npos
                             ? path->substr(0, at + unit.size())
                             : fmt::format("/user.slice/user-{0}.slice/user@{0}.service", uid);
  return probe.cgroup_root / relative.substr(1);
}

void read_delegation(const HostProbe& probe, HostSupport& host,
                     std::vector<std::string>& problems) {
  host.manager_cgroup = manager_cgroup(probe, host.uid);
  auto controllers = files::read_if_present(host.manager_cgroup / "cgroup.controllers");
  if (!controllers) {
    problems.push_back(
        fmt::format("the systemd user instance of uid {} has no cgroup at {}, so "
                    "what it may delegate is unknown",
                    host.uid, host.manager_cgroup.string()));
    return;
  }
  for (auto& controller : files::words(*controllers)) host.delegated_controllers.insert(controller);
  host.swap_accounting = stdfs::exists(host.manager_cgroup / "memory.swap.max");
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : std::string(separator)) + part;
  return out;
}

void check_systemd(const HostProbe& probe, HostSupport& host, std::vector<std::string>& problems) {
  host.systemd_running = stdfs::is_directory(probe.systemd_marker);
  if (!host.systemd_running) {
    problems.push_back(
        fmt::format("systemd is not running on this host ({} is missing), and "
                    "limits are applied by the user's systemd instance",
                    probe.systemd_marker.string()));
    return;
  }
  host.bus = choose_user_bus(probe.bus);
  host.bus_reachable = bus_listening(host.bus);
  if (!host.bus_reachable) problems.push_back(bus_problem(host));
}

// The options behind the limits asked for; a swap limit that only follows --memory is
// not the user's own words.
std::string asked_options(const Limits& limits) {
  std::vector<std::string> options;
  for (const auto& row : limit_properties()) {
    bool implied = row.field == &Limits::memory_swap_max && limits.swap_from_memory_alone;
    if (limits.*row.field && !implied) options.emplace_back(row.options);
  }
  return join(options, ", ");
}

void refuse_undelegated(const Limits& limits, const HostSupport& host) {
  std::vector<std::string> needs;
  for (const auto& row : limit_properties()) {
    bool implied = row.field == &Limits::memory_swap_max && limits.swap_from_memory_alone;
    if (limits.*row.field && !implied &&
        !host.delegated_controllers.contains(std::string(row.controller)))
      needs.push_back(fmt::format("{} needs the {} controller", row.options, row.controller));
  }
  if (needs.empty()) return;
  std::vector<std::string> delegated(host.delegated_controllers.begin(),
                                     host.delegated_controllers.end());
  throw Error(fmt::format(
      "{}, which systemd does not delegate to uid {} (it delegates: {}); as root, create "
      "/etc/systemd/system/user@.service.d/delegate.conf with the lines \"[Service]\" and "
      "\"Delegate=cpu cpuset io memory pids\", run systemctl daemon-reload, then log out and in "
      "again (or reboot) so that user@{}.service starts with it",
      join(needs, " and "), host.uid, delegated.empty() ? "none" : join(delegated, " "), host.uid));
}

void drop_unaccounted_swap(Limits& limits, const HostSupport& host) {
  if (!limits.memory_swap_max || host.swap_accounting) return;
  auto missing = (host.manager_cgroup / "memory.swap.max").string();
  if (*limits.memory_swap_max == kUnlimited)
    spdlog::debug("this host does not account swap ({} is missing); swap stays unlimited as asked",
                  missing);
  else
    spdlog::warn(
        "swap is not limited: this host does not account swap ({} is missing), so the "
        "memory limit of {} applies alone",
        missing, format_size(limits.memory_max.value_or(0)));
  limits.memory_swap_max.reset();
  limits.swap_from_memory_alone = false;
}

}  // namespace

Limits applicable_limits(Limits limits, const HostSupport& host) {
  if (limits.empty()) return limits;
  if (!host.can_limit)
    throw Error(fmt::format("{}: resource limits cannot be applied on this host: {}",
                            asked_options(limits), host.reason));
  refuse_undelegated(limits, host);
  drop_unaccounted_swap(limits, host);
  return limits;
}

HostSupport detect_host_support() {
  // A command asks more than once (checking the options, then starting the container),
  // and choosing the bus may warn: the host is looked at once, so the warning is said once.
  static const HostSupport host = detect_host_support(HostProbe{});
  return host;
}

HostSupport detect_host_support(const HostProbe& probe) {
  HostSupport host;
  host.uid = probe.bus.uid;
  std::vector<std::string> problems;
  host.layout = layout_of(read_mounts(probe.mountinfo), probe.cgroup_root);
  host.unified = host.layout == CgroupLayout::Unified;
  if (!host.unified) problems.push_back(layout_problem(host.layout, probe.cgroup_root));
  check_systemd(probe, host, problems);
  if (problems.empty()) read_delegation(probe, host, problems);
  host.can_limit = problems.empty();
  host.reason = join(problems, "; also, ");
  return host;
}

}  // namespace roost::cgroups
