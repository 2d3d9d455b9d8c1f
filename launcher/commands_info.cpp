// roost info (what roost would use here) and roost doctor (what is missing, and how
// to fix it), both from one probe of the machine.

#include "launcher/commands_info.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <set>

#include "common/error.hpp"
#include "launcher/runtime.hpp"

namespace roost::cli {

namespace {

namespace stdfs = std::filesystem;
using Json = nlohmann::ordered_json;

// Images own files up to id 65534 (nobody), so a full map needs 65536 ids.
constexpr uint64_t kWantedIds = 65536;
constexpr uint64_t kLowSpace = uint64_t{1} << 30;
constexpr const char* kDelegateFix =
    "as root: create /etc/systemd/system/user@.service.d/delegate.conf with the lines "
    "'[Service]' and 'Delegate=cpu cpuset io memory pids', run 'systemctl daemon-reload', "
    "then log in again";
constexpr const char* kStorageFix =
    "put the storage root on a local filesystem such as ext4, xfs or btrfs: [storage] root "
    "in ~/.config/roost/config.toml, or --root";

Check pass(std::string name, std::string finding) {
  return {std::move(name), Verdict::Pass, std::move(finding), ""};
}

Check problem(std::string name, Verdict verdict, std::string finding, std::string fix) {
  return {std::move(name), verdict, std::move(finding), std::move(fix)};
}

std::string kernel_release() {
  struct utsname names {};
  return ::uname(&names) == 0 ? names.release : "";
}

std::string spans(const SubidFinding& finding) {
  std::string text;
  for (const auto& [start, count] : finding.ranges)
    text += fmt::format("{}{}-{}", text.empty() ? "" : ", ", start, start + count - 1);
  return text;
}

// Ids from where every listed range ends: no other user has them yet.
std::string subid_fix(const SubidFinding& finding, std::string_view usermod_flag,
                      std::string_view system_file, const std::string& user) {
  uint64_t start = finding.first_free;
  if (finding.file == system_file)
    return fmt::format("as root: usermod {} {}-{} {}", usermod_flag, start, start + kWantedIds - 1,
                       user);
  return fmt::format("add the line '{}:{}:{}' to {}", user, start, kWantedIds, finding.file);
}

Check subid_check(std::string name, const SubidFinding& finding, const userns::Caller& caller,
                  std::string_view usermod_flag, std::string_view system_file) {
  if (caller.uid == 0) return pass(name, "root maps every id; no subordinate ids are needed");
  std::string fix = subid_fix(finding, usermod_flag, system_file, caller.name);
  if (!finding.error.empty())
    return problem(name, Verdict::Fail, finding.error,
                   fmt::format("correct the line in {} (NAME:START:COUNT)", finding.file));
  if (finding.ranges.empty())
    return problem(name, Verdict::Fail,
                   fmt::format("no entry for user {} (uid {}) in {}{}", caller.name, caller.uid,
                               finding.file, finding.file_exists ? "" : " (there is no such file)"),
                   fix);
  if (!finding.overlaps.empty())
    return problem(name, Verdict::Fail,
                   fmt::format("the ids of {} in {} are not its own: {}", caller.name, finding.file,
                               fmt::join(finding.overlaps, "; ")),
                   "give each user a range no other user has; " + fix);
  if (finding.total < kWantedIds)
    return problem(
        name, Verdict::Fail,
        fmt::format("{} has only {} subordinate ids in {} ({}); images own files up "
                    "to id 65534 (nobody), which needs {}",
                    caller.name, finding.total, finding.file, spans(finding), kWantedIds),
        fix);
  return pass(name, fmt::format("{} ids for {} in {} ({})", finding.total, caller.name,
                                finding.file, spans(finding)));
}

Check helper_check(const HelperFinding& finding, const userns::Caller& caller) {
  if (caller.uid == 0) return pass(finding.name, "not needed: root writes its maps itself");
  if (finding.problem.empty())
    return pass(finding.name, fmt::format("{} ({})", finding.path, finding.privilege));
  std::string fix = finding.path.empty()
                        ? "as root: apt-get install uidmap"
                        : fmt::format(
                              "as root: chown root {0} && chmod u+s {0} (or apt-get "
                              "install --reinstall uidmap)",
                              finding.path);
  return problem(finding.name, Verdict::Fail, finding.problem, fix);
}

std::string userns_fix(const UsernsFinding& finding) {
  if (finding.max_user_namespaces == 0L || finding.problem.find("in use") != std::string::npos)
    return "as root: sysctl -w user.max_user_namespaces=15000, and the line "
           "'user.max_user_namespaces=15000' in /etc/sysctl.d/90-roost.conf";
  if (finding.unprivileged_userns_clone == 0L)
    return "as root: sysctl -w kernel.unprivileged_userns_clone=1, and the line "
           "'kernel.unprivileged_userns_clone=1' in /etc/sysctl.d/90-roost.conf";
  if (finding.apparmor_restricts_userns == 1L)
    return "as root: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor "
           "profile for roost with the 'userns,' rule";
  return "check the kernel's user namespace support (CONFIG_USER_NS) and seccomp or "
         "container policies that forbid unshare";
}

Check userns_check(const UsernsFinding& finding) {
  if (finding.problem.empty())
    return pass("user namespaces", fmt::format("can be made (user.max_user_namespaces {})",
                                               finding.max_user_namespaces.value_or(-1)));
  return problem("user namespaces", Verdict::Fail, finding.problem, userns_fix(finding));
}

bool fuse_needed(const Machine& machine, const Settings& settings) {
  return settings.storage_driver == "fuse-overlayfs" ||
         (settings.storage_driver == "auto" && !machine.overlay_problem.empty());
}

Check overlay_check(const Machine& machine, const Settings& settings) {
  const std::string& failure = machine.overlay_problem;
  if (failure.empty())
    return pass("overlay", fmt::format("the kernel's overlayfs mounts in a user namespace on {}",
                                       machine.storage.filesystem));
  if (settings.storage_driver == "fuse-overlayfs")
    return pass("overlay",
                "not used (storage driver fuse-overlayfs); the kernel refused: " + failure);
  std::string finding = "the kernel's overlayfs cannot be mounted in a user namespace: " + failure;
  if (settings.storage_driver == "auto")
    return problem("overlay", Verdict::Warn, finding + "; roost uses fuse-overlayfs instead",
                   "a kernel of version 5.11 or later mounts overlayfs in a user namespace");
  return problem("overlay", Verdict::Fail, finding,
                 "--storage-driver auto or fuse-overlayfs ([storage] driver in config.toml)");
}

Check fuse_check(std::string name, const std::string& failure, std::string finding_ok,
                 std::string fix, bool needed) {
  if (failure.empty()) return pass(name, std::move(finding_ok));
  if (!needed)
    return problem(name, Verdict::Warn, failure + "; not needed while the kernel's overlayfs works",
                   fix);
  return problem(name, Verdict::Fail, failure, fix);
}

Check runtime_dir_check(const RuntimeDirFinding& finding, const Settings& settings) {
  if (finding.path.empty())
    return problem("runtime dir", Verdict::Warn,
                   fmt::format("XDG_RUNTIME_DIR is not set; live state goes to {} and no user "
                               "bus is found",
                               settings.runtime_root.string()),
                   "log in through a session that sets it (pam_systemd), or export "
                   "XDG_RUNTIME_DIR=/run/user/$(id -u) when that directory is yours");
  if (!finding.problem.empty())
    return problem("runtime dir", Verdict::Fail, finding.problem + "; roost refuses to use it",
                   "log in as this user rather than through su or sudo, or set "
                   "XDG_RUNTIME_DIR to a directory of your own with mode 0700");
  return pass("runtime dir", finding.path);
}

Check bus_check(const cgroups::HostSupport& host, const std::string& user) {
  if (!host.systemd_running)
    return problem("user bus", Verdict::Warn,
                   "systemd is not running on this host, so limits (--memory, --cpus, "
                   "--pids-limit) cannot be applied",
                   "limits need a host where systemd is the init system");
  if (!host.bus_reachable)
    return problem(
        "user bus", Verdict::Warn,
        fmt::format("no systemd user instance answers at {} (from {}); limits cannot be applied",
                    host.bus.address.empty() ? "any address" : host.bus.address, host.bus.source),
        fmt::format("log in on a console or over ssh (su and sudo start no user session), or "
                    "run 'loginctl enable-linger {}'; Debian needs the dbus-user-session package",
                    user));
  return pass("user bus", fmt::format("{} (from {})", host.bus.address, host.bus.source));
}

Check linger_check(const Machine& machine) {
  if (machine.linger) return pass("linger", "the user's systemd instance outlives its sessions");
  return problem("linger", Verdict::Warn,
                 fmt::format("{} does not linger: detached containers and units end with the "
                             "last session",
                             machine.caller.name),
                 fmt::format("loginctl enable-linger {}", machine.caller.name));
}

std::string layout_name(cgroups::CgroupLayout layout) {
  switch (layout) {
    case cgroups::CgroupLayout::Unified:
      return "cgroup v2";
    case cgroups::CgroupLayout::Hybrid:
      return "hybrid (v1 controllers, v2 beside them)";
    case cgroups::CgroupLayout::Legacy:
      return "cgroup v1";
    case cgroups::CgroupLayout::Missing:
      return "none mounted";
  }
  return "unknown";
}

Check cgroups_check(const cgroups::HostSupport& host) {
  if (!host.unified)
    return problem("cgroups", Verdict::Warn,
                   fmt::format("the cgroup layout is {}; only cgroup v2 lets systemd delegate "
                               "controllers, so limits cannot be applied",
                               layout_name(host.layout)),
                   "boot with the kernel parameter systemd.unified_cgroup_hierarchy=1");
  if (!host.systemd_running || !host.bus_reachable)
    return problem("cgroups", Verdict::Warn,
                   "what systemd delegates is unknown without a user instance (see user bus)",
                   "see the user bus check");
  std::vector<std::string> missing;
  for (const char* controller : {"cpu", "memory", "pids"})
    if (!host.delegated_controllers.contains(controller)) missing.emplace_back(controller);
  std::string delegated = fmt::format("{}", fmt::join(host.delegated_controllers, " "));
  if (!missing.empty())
    return problem("cgroups", Verdict::Warn,
                   fmt::format("systemd delegates '{}' to user@{}.service, not {}", delegated,
                               host.uid, fmt::join(missing, ", ")),
                   kDelegateFix);
  return pass("cgroups", "cgroup v2; delegated: " + delegated);
}

Check storage_check(const StorageFinding& storage) {
  std::vector<std::string> issues;
  if (storage.network)
    issues.push_back(
        fmt::format("is on a network filesystem ({}), where layers lose their "
                    "owners and extended attributes",
                    storage.filesystem));
  if (storage.noexec) issues.emplace_back("is mounted noexec");
  if (storage.read_only) issues.emplace_back("is mounted read-only");
  if (storage.user_xattrs == false)
    issues.emplace_back("keeps no user extended attributes, which mark opaque directories");
  std::string where = fmt::format("{} ({})", storage.existing.string(), storage.filesystem);
  if (issues.empty()) return pass("storage", where);
  return problem("storage", Verdict::Fail,
                 fmt::format("the storage root {}", fmt::join(issues, ", and ")) + ": " + where,
                 kStorageFix);
}

Check space_check(const StorageFinding& storage) {
  double gib = static_cast<double>(storage.free_bytes) / (1 << 30);
  std::string finding = fmt::format("{:.1f} GiB free in {}", gib, storage.existing.string());
  if (storage.free_bytes >= kLowSpace) return pass("free space", finding);
  return problem("free space", Verdict::Fail, "only " + finding + "; images need room to unpack",
                 "free space there, or move the storage root ([storage] root in config.toml)");
}

const char* status_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::Pass:
      return "pass";
    case Verdict::Warn:
      return "warn";
    case Verdict::Fail:
      return "fail";
  }
  return "";
}

void print_checks(const std::vector<Check>& checks) {
  size_t counts[3] = {0, 0, 0};
  for (const auto& check : checks) {
    ++counts[static_cast<int>(check.verdict)];
    const char* label = check.verdict == Verdict::Pass   ? "ok"
                        : check.verdict == Verdict::Warn ? "warn"
                                                         : "FAIL";
    fmt::print("{:<5} {:<16} {}\n", label, check.name, check.finding);
    if (check.verdict != Verdict::Pass) fmt::print("{:<22} fix: {}\n", "", check.fix);
  }
  fmt::print("\n{} passed, {} warnings, {} failed\n", counts[0], counts[1], counts[2]);
}

Verdict worst_verdict(const std::vector<Check>& checks) {
  Verdict worst = Verdict::Pass;
  for (const auto& check : checks) worst = std::max(worst, check.verdict);
  return worst;
}

Json checks_document(const std::vector<Check>& checks) {
  Json list = Json::array();
  for (const auto& check : checks)
    list.push_back({{"name", check.name},
                    {"status", status_name(check.verdict)},
                    {"finding", check.finding},
                    {"fix", check.fix}});
  Verdict worst = worst_verdict(checks);
  return {{"checks", list}, {"passed", worst == Verdict::Pass}, {"status", status_name(worst)}};
}

Json helper_entry(const HelperFinding& finding) {
  return {{"path", finding.path}, {"privilege", finding.privilege}, {"problem", finding.problem}};
}

Json id_maps(const Context& context) {
  Json maps = {{"mode", context.settings.userns},
               {"subuid_file", context.settings.subuid_file},
               {"subgid_file", context.settings.subgid_file}};
  try {
    auto planned = caller_maps(context, context.settings.userns);
    auto lines = [](const userns::IdMap& map) {
      Json list = Json::array();
      for (const auto& entry : map)
        list.push_back(fmt::format("{} {} {}", entry.inside, entry.outside, entry.count));
      return list;
    };
    maps["uid_map"] = lines(planned.uids);
    maps["gid_map"] = lines(planned.gids);
  } catch (const Error& error) {
    maps["error"] = error.what();
  }
  return maps;
}

size_t entries_in(const stdfs::path& dir, std::string_view extension) {
  size_t count = 0;
  std::error_code error;
  for (const auto& entry : stdfs::directory_iterator(dir, error)) {
    std::string name = entry.path().filename().string();
    if (!name.starts_with(".") && (extension.empty() || entry.path().extension() == extension))
      ++count;
  }
  return count;
}

std::string driver_in_use(const Machine& machine, const Settings& settings) {
  if (settings.storage_driver != "auto") return settings.storage_driver;
  if (machine.overlay_problem.empty()) return "overlay";
  return machine.fuse.device_problem.empty() && machine.fuse.program_problem.empty()
             ? "fuse-overlayfs"
             : "none works (see roost doctor)";
}

Json storage_entry(const Machine& machine, const Settings& settings) {
  return {{"root", settings.data_root.string()},
          {"runroot", settings.runtime_root.string()},
          {"driver", settings.storage_driver},
          {"driver_in_use", driver_in_use(machine, settings)},
          {"filesystem", machine.storage.filesystem},
          {"free_bytes", machine.storage.free_bytes}};
}

Json cgroups_entry(const cgroups::HostSupport& host) {
  return {{"layout", layout_name(host.layout)},
          {"systemd", host.systemd_running},
          {"delegated_controllers", host.delegated_controllers},
          {"limits", host.can_limit ? "available" : "not available: " + host.reason}};
}

void print_text(const Json& document, int indent) {
  for (const auto& [key, value] : document.items()) {
    std::string pad(static_cast<size_t>(indent), ' ');
    if (value.is_object()) {
      fmt::print("{}{}:\n", pad, key);
      print_text(value, indent + 2);
    } else if (value.is_array()) {
      fmt::print("{}{}:{}\n", pad, key, value.empty() ? " []" : "");
      for (const auto& item : value)
        fmt::print("{}  - {}\n", pad, item.is_string() ? item.get<std::string>() : item.dump());
    } else {
      fmt::print("{}{}: {}\n", pad, key,
                 value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
}

}  // namespace

Machine probe_machine(const Settings& settings) {
  Machine machine;
  machine.caller = userns::current_caller();
  machine.kernel = kernel_release();
  machine.subuid = find_subids(settings.subuid_file, machine.caller.name, machine.caller.uid);
  machine.subgid = find_subids(settings.subgid_file, machine.caller.name, machine.caller.uid);
  machine.newuidmap = find_map_helper_state("newuidmap");
  machine.newgidmap = find_map_helper_state("newgidmap");
  machine.user_namespaces = find_user_namespaces();
  machine.storage = find_storage(settings.data_root);
  machine.overlay_problem = try_overlay_in_user_namespace(machine.storage.existing);
  machine.fuse = find_fuse();
  machine.runtime_dir = find_runtime_dir();
  machine.cgroups = cgroups::detect_host_support();
  machine.linger = lingering(machine.caller.name);
  return machine;
}

std::vector<Check> doctor_checks(const Machine& machine, const Settings& settings) {
  bool needed = fuse_needed(machine, settings);
  return {
      subid_check("subuid", machine.subuid, machine.caller, "--add-subuids", "/etc/subuid"),
      subid_check("subgid", machine.subgid, machine.caller, "--add-subgids", "/etc/subgid"),
      helper_check(machine.newuidmap, machine.caller),
      helper_check(machine.newgidmap, machine.caller),
      userns_check(machine.user_namespaces),
      overlay_check(machine, settings),
      fuse_check("/dev/fuse", machine.fuse.device_problem, "readable and writable",
                 "as root: chmod 0666 /dev/fuse (as distributions ship it), and modprobe fuse "
                 "if it is missing",
                 needed),
      fuse_check("fuse-overlayfs", machine.fuse.program_problem,
                 fmt::format("{} (version {})", machine.fuse.program, machine.fuse.version),
                 "as root: apt-get install fuse-overlayfs", needed),
      runtime_dir_check(machine.runtime_dir, settings),
      bus_check(machine.cgroups, machine.caller.name),
      linger_check(machine),
      cgroups_check(machine.cgroups),
      storage_check(machine.storage),
      space_check(machine.storage),
  };
}

Json info_document(const Machine& machine, const Context& context) {
  const Settings& settings = context.settings;
  return {
      {"version", {{"roost", ROOST_VERSION}, {"kernel", machine.kernel}}},
      {"user",
       {{"name", machine.caller.name}, {"uid", machine.caller.uid}, {"gid", machine.caller.gid}}},
      {"storage", storage_entry(machine, settings)},
      {"id_maps", id_maps(context)},
      {"cgroups", cgroups_entry(machine.cgroups)},
      {"bus",
       {{"address", machine.cgroups.bus.address},
        {"source", machine.cgroups.bus.source},
        {"reachable", machine.cgroups.bus_reachable}}},
      {"helpers",
       {{"newuidmap", helper_entry(machine.newuidmap)},
        {"newgidmap", helper_entry(machine.newgidmap)},
        {"fuse-overlayfs",
         {{"path", machine.fuse.program},
          {"version", machine.fuse.version},
          {"problem", machine.fuse.program_problem}}},
        {"/dev/fuse",
         machine.fuse.device_problem.empty() ? "usable" : machine.fuse.device_problem}}},
      {"store",
       {{"images", entries_in(settings.data_root / "images", ".json")},
        {"containers", entries_in(settings.data_root / "containers", "")}}},
  };
}

int cmd_info(const ParsedCommand& command, Context& context) {
  Json document = info_document(probe_machine(context.settings), context);
  if (command.value("format", "text") == "json")
    fmt::print("{}\n", document.dump(2));
  else
    print_text(document, 0);
  return 0;
}

int cmd_doctor(const ParsedCommand& command, Context& context) {
  auto checks = doctor_checks(probe_machine(context.settings), context.settings);
  if (command.value("format", "text") == "json")
    fmt::print("{}\n", checks_document(checks).dump(2));
  else
    print_checks(checks);
  // Scripts tell "roost cannot work here" (1) from "works, but without some feature" (2).
  switch (worst_verdict(checks)) {
    case Verdict::Pass:
      return 0;
    case Verdict::Warn:
      return 2;
    case Verdict::Fail:
      return 1;
  }
  return 1;
}

}  // namespace roost::cli
