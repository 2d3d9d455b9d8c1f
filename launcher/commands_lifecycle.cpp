#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cgroups/host.hpp"
#include "common/error.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/format_template.hpp"
#include "launcher/launch.hpp"
#include "launcher/lifecycle.hpp"
#include "launcher/parse.hpp"
#include "launcher/service_hooks.hpp"
#include "launcher/signals.hpp"

namespace roost::cli {

namespace {

ContainerStore store_of(const Context& context) {
  return ContainerStore(context.settings.data_root, context.settings.runtime_root);
}

// The container named, locked and read again, with an end nobody recorded finished.
struct Locked {
  ContainerRecord record;
  ContainerLock lock;
};

Locked lock_named(const Context& context, const ContainerStore& store, const std::string& name) {
  auto found = store.get(name);
  Locked locked{found, store.lock(found)};
  locked.record = store.reload(found);
  if (!finish_unobserved_end(context, store, locked.record))
    throw UsageError(fmt::format("container {} had ended unobserved and was removed (--rm)", name));
  return locked;
}

// Every name must exist before anything is done to any of them.
std::vector<ContainerRecord> resolve_all(const ContainerStore& store,
                                         const std::vector<std::string>& names) {
  return store.get_all(names);
}

// Checked before any container is looked up; without --time each container's own.
std::optional<int> timeout_option(const ParsedCommand& command) {
  if (!command.has("time")) return std::nullopt;
  return parse_timeout_seconds(command.value("time"), "--time");
}

// Stops a running container and waits until its end is recorded (a container that has
// ended already may still be being recorded by its monitor).
void stop_locked(const Context& context, const ContainerStore& store, Locked& locked, int timeout) {
  if (!is_active(locked.record)) return;
  bool stopped = locked.record.status == kStopping ||
                 stop_process(locked.record, stop_signal_of(locked.record), timeout);
  locked.lock.release();
  if (stopped) await_record(context, store, locked.record);
}

// Stops the container named (within `timeout` seconds, else its own) and returns it still locked
// unless stopping had to release the lock to wait for its end.
Locked stop_named(const Context& context, const ContainerStore& store, const std::string& name,
                  std::optional<int> timeout) {
  auto locked = lock_named(context, store, name);
  if (locked.record.status == kCorrupt) throw wrong_state(locked.record, "");
  stop_locked(context, store, locked, timeout.value_or(locked.record.settings.stop_timeout));
  return locked;
}

void check_startable(const ContainerRecord& record) {
  if (is_active(record))
    throw wrong_state(record,
                      fmt::format("to run its command again use 'roost restart {}'", record.name));
  if (record.status == kCorrupt)
    throw wrong_state(record, fmt::format("remove it with 'roost rm -f {}'", record.id));
}

// A container that a systemd unit's own command starts in the foreground belongs to the
// unit: it runs in a leaf of the unit's cgroup, as with --cgroups=split, instead of the scope
// it was created for. There the unit stops it, and journald, which credits each write to
// the writer's cgroup, files its output under the unit.
ContainerRecord placed_for_unit(ContainerRecord record) {
  auto& settings = record.settings;
  if (settings.cgroups_split || settings.cgroups_disabled || !is_units_own_command()) return record;
  if (!cgroups::detect_host_support().unified) {
    spdlog::debug("container {} is placed as it was created: no unified cgroup hierarchy",
                  record.name);
    return record;
  }
  auto cgroup = own_cgroup();
  if (::access(cgroup.c_str(), W_OK) != 0) {
    spdlog::warn(
        "container {} runs in a scope of its own, outside this unit, and journald files its "
        "output under that scope: the unit's cgroup {} is not delegated to you; give the unit "
        "Delegate=yes",
        record.name, cgroup.string());
    return record;
  }
  spdlog::debug("container {} runs in the cgroup of the unit that started it, {}", record.name,
                cgroup.string());
  settings.cgroups_split = true;
  return record;
}

int start_one(const Context& context, const ContainerStore& store, const std::string& name,
              bool attach) {
  auto locked = lock_named(context, store, name);
  check_startable(locked.record);
  if (attach) return run_attached(context, store, placed_for_unit(locked.record), locked.lock);
  int status = run_detached(context, store, locked.record);
  if (status == 0) fmt::print("{}\n", name);
  return status;
}

nlohmann::json identity_json(const ProcessIdentity& process) {
  return {{"Pid", process.pid}, {"StartTime", process.start_time}, {"BootId", process.boot_id}};
}

nlohmann::json mounts_json(const ContainerRecord& record) {
  auto mounts = nlohmann::json::array();
  for (const auto& bind : record.plan.binds)
    mounts.push_back({{"Type", "bind"},
                      {"Source", bind.source},
                      {"Destination", bind.destination},
                      {"RW", !bind.read_only}});
  for (const auto& tmpfs : record.plan.tmpfs)
    mounts.push_back({{"Type", "tmpfs"},
                      {"Source", "tmpfs"},
                      {"Destination", tmpfs.destination},
                      {"Options", tmpfs.options}});
  return mounts;
}

nlohmann::json id_map_json(const userns::IdMap& map) {
  auto entries = nlohmann::json::array();
  for (const auto& entry : map)
    entries.push_back(
        {{"ContainerID", entry.inside}, {"HostID", entry.outside}, {"Size", entry.count}});
  return entries;
}

nlohmann::json state_json(const ContainerRecord& record) {
  bool running = record.status == kRunning;
  nlohmann::json state = {{"Status", record.status},
                          {"Running", running},
                          {"Pid", running ? record.process.pid : 0},
                          {"Process", identity_json(record.process)},
                          {"Monitor", identity_json(record.monitor)},
                          {"StartedAt", record.started_at},
                          {"FinishedAt", record.finished_at},
                          {"OOMKilled", record.oom_killed},
                          {"Detached", record.detached},
                          {"Cgroup", record.cgroup},
                          {"Error", record.error}};
  state["ExitCode"] = record.exit_code ? nlohmann::json(*record.exit_code) : nullptr;
  return state;
}

nlohmann::json config_json(const ContainerRecord& record) {
  const auto& plan = record.plan;
  return {{"Cmd", plan.argv},
          {"Env", plan.env},
          {"WorkingDir", plan.working_dir},
          {"User", plan.user},
          {"Hostname", plan.hostname},
          {"Tty", plan.tty},
          {"OpenStdin", plan.interactive},
          {"Init", plan.init},
          {"ReadOnly", plan.read_only},
          {"Network", plan.new_network ? "none" : "host"},
          {"StopSignal", signal_name(stop_signal_of(record))},
          {"StopTimeout", record.settings.stop_timeout},
          {"Limits", record.settings.limits},
          {"LogDriver", record.settings.log_driver}};
}

// The systemd unit whose cgroup holds the container's: its own scope, or the service it
// was placed in (--cgroups=split, or started as a unit's own command); empty without one.
std::string unit_of_cgroup(const std::string& cgroup) {
  std::filesystem::path path(cgroup);
  for (auto component = path.end(); component != path.begin();) {
    std::string name = (--component)->string();
    if (name.ends_with(".scope") || name.ends_with(".service")) return name;
  }
  return "";
}

nlohmann::json inspect_json(const ContainerStore& store, const ContainerRecord& record) {
  return {{"Id", record.id},
          {"Name", record.name},
          {"Created", record.created},
          {"Image", record.image_id},
          {"ImageName", record.image_name},
          {"AutoRemove", record.remove_on_exit},
          {"Config", config_json(record)},
          {"State", state_json(record)},
          {"Mounts", mounts_json(record)},
          {"Scope", unit_of_cgroup(record.cgroup)},
          {"IdMappings",
           {{"UidMap", id_map_json(record.plan.maps.uids)},
            {"GidMap", id_map_json(record.plan.maps.gids)}}},
          {"Rootfs", record.plan.rootfs.string()},
          {"UpperDir", record.plan.upper_dir.string()},
          {"LogPath", store.log_path(record.id).string()}};
}

}  // namespace

int cmd_start(const ParsedCommand& command, Context& context) {
  auto store = store_of(context);
  if (command.has("attach") && command.positionals.size() > 1)
    throw UsageError("roost start: --attach takes one container");
  for (const auto& record : resolve_all(store, command.positionals)) check_startable(record);
  int status = 0;
  for (const auto& name : command.positionals) {
    status = start_one(context, store, name, command.has("attach"));
    if (status != 0) return status;
  }
  return status;
}

int cmd_stop(const ParsedCommand& command, Context& context) {
  auto timeout = timeout_option(command);
  auto store = store_of(context);
  resolve_all(store, command.positionals);
  for (const auto& name : command.positionals) {
    stop_named(context, store, name, timeout);
    fmt::print("{}\n", name);
  }
  return 0;
}

int cmd_kill(const ParsedCommand& command, Context& context) {
  auto store = store_of(context);
  int signal = parse_signal(command.value("signal", "SIGKILL"), "--signal");
  for (const auto& record : resolve_all(store, command.positionals))
    if (record.status != kRunning)
      throw wrong_state(record, "only a running container can be signalled");
  for (const auto& name : command.positionals) {
    auto locked = lock_named(context, store, name);
    UniqueFd process = open_recorded_process(locked.record.process);
    if (locked.record.status != kRunning || !process || !send_signal(process, signal))
      throw wrong_state(locked.record, "only a running container can be signalled");
    fmt::print("{}\n", name);
  }
  return 0;
}

int cmd_restart(const ParsedCommand& command, Context& context) {
  auto timeout = timeout_option(command);
  auto store = store_of(context);
  resolve_all(store, command.positionals);
  for (const auto& name : command.positionals) {
    auto locked = stop_named(context, store, name, timeout);
    // start_one takes the lock again, and a stopped container still holds it here.
    locked.lock.release();
    int status = start_one(context, store, name, false);
    if (status != 0) return status;
  }
  return 0;
}

int cmd_wait(const ParsedCommand& command, Context& context) {
  auto store = store_of(context);
  for (const auto& name : command.positionals)
    fmt::print("{}\n", wait_for_exit_code(context, store, store.get(name)));
  return 0;
}

int cmd_inspect(const ParsedCommand& command, Context& context) {
  auto store = store_of(context);
  auto entries = nlohmann::json::array();
  for (const auto& record : store.get_all(command.positionals))
    entries.push_back(inspect_json(store, record));
  if (is_format_template(command.value("format"))) {
    for (auto& entry : entries) entry["ID"] = entry["Id"];
    print_with_template(command.value("format"), kInspectTemplateFields, entries);
    return 0;
  }
  fmt::print("{}\n", entries.dump(2));
  return 0;
}

}  // namespace roost::cli
