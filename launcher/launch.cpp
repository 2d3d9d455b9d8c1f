#include "launcher/launch.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cgroups/host.hpp"
#include "cgroups/limits.hpp"
#include "cgroups/stats.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/journal.hpp"
#include "launcher/lifecycle.hpp"
#include "launcher/runtime.hpp"
#include "launcher/service_hooks.hpp"
#include "launcher/times.hpp"

namespace roost::cli {

namespace {

cgroups::LimitRequest limit_request(const ContainerSettings& settings) {
  cgroups::LimitRequest request;
  for (const auto& [key, value] : settings.limits) request.set(key, value);
  return request;
}

std::string resolv_conf_content(bool new_network) {
  if (new_network) return "";
  std::error_code error;
  auto resolved = std::filesystem::canonical("/etc/resolv.conf", error);
  if (error) {
    spdlog::warn("/etc/resolv.conf cannot be resolved ({}); the container gets an empty one",
                 error.message());
    return "";
  }
  return fs::read_file(resolved);
}

void write_etc_file(const std::filesystem::path& path, std::string_view content) {
  fs::write_file_atomic(path, content, 0644, fs::Durability::RenameOnly);
}

// Written at every start: the runtime directory does not outlive a reboot, and the
// host's resolv.conf may have changed.
void write_etc_files(const ContainerPlan& plan, const std::string& name) {
  fs::make_dirs(plan.etc_dir, 0700);
  write_etc_file(plan.etc_dir / "hostname", plan.hostname + "\n");
  write_etc_file(plan.etc_dir / "hosts",
                 fmt::format("127.0.0.1\tlocalhost localhost.localdomain\n"
                             "::1\tlocalhost localhost.localdomain ip6-localhost "
                             "ip6-loopback\n127.0.1.1\t{} {}\n",
                             plan.hostname, name));
  write_etc_file(plan.etc_dir / "resolv.conf", resolv_conf_content(plan.new_network));
}

// A foreground run is logged where the log outlives it: in the journal, or in a log
// file unless --rm removes the file with the container. Without a log the container
// writes straight to roost's stdout and stderr, with no copy in between.
std::optional<ContainerLog> foreground_log(const ContainerStore& store,
                                           const ContainerRecord& record) {
  const auto& driver = record.settings.log_driver;
  if (driver == "none" || (driver == "k8s-file" && record.remove_on_exit)) return std::nullopt;
  return container_log(store, record);
}

// Under a service whose stdout is the journal, a copy through that stream would log each
// line twice, once without the container's fields; the entries roost sends itself belong
// to the service too, as roost runs in its cgroup.
bool log_replaces_output(const ContainerRecord& record) {
  if (record.settings.log_driver != "journald" || !stdout_is_journal()) return false;
  spdlog::debug("the output goes to the journal with the container's fields, not through stdout");
  return true;
}

void report_outcome(const ContainerRecord& record, const ContainerExit& exit) {
  if (!exit.failure.empty()) std::fputs(error_line(exit.failure).c_str(), stderr);
  if (exit.out_of_memory)
    spdlog::error("{}: {}", record.name, cgroups::out_of_memory_message(exit.memory_max));
}

// What container root created belongs to the caller, who can remove it without the
// user namespace (entering it costs a fork, or a new one and two setuid helpers). Only
// what other mapped ids own, or locked with their modes, is left for the namespace.
bool removed_directly(const std::filesystem::path& path) {
  try {
    fs::remove_tree(path);
    return true;
  } catch (const Error& error) {
    spdlog::debug("{}; removing the rest as root of the user namespace", error.what());
    return false;
  }
}

}  // namespace

std::optional<cgroups::ScopeRequest> plan_scope(const ContainerSettings& settings) {
  auto request = limit_request(settings);
  auto limits = cgroups::parse_limits(request);
  if (settings.cgroups_split) return std::nullopt;
  if (settings.cgroups_disabled) {
    if (!request.empty())
      throw UsageError(
          fmt::format("--{} needs a cgroup, but --cgroups=disabled was given; drop "
                      "one of them",
                      request.values.begin()->first));
    return std::nullopt;
  }
  auto host = cgroups::detect_host_support();
  if (!host.can_limit && request.empty()) {
    spdlog::debug("no cgroup is created for this container: {}", host.reason);
    return std::nullopt;
  }
  cgroups::ScopeRequest scope;
  scope.limits = cgroups::applicable_limits(limits, host);
  scope.bus_address = host.bus.address;
  if (!settings.cgroup_parent.empty()) scope.slice = settings.cgroup_parent;
  return scope;
}

ContainerPlan plan_for_start(const ContainerStore& store, const ContainerRecord& record) {
  ContainerPlan plan = record.plan;
  plan.id = record.id;
  plan.name = record.name;
  plan.etc_dir = store.runtime_dir(record.id);
  plan.scope = plan_scope(record.settings);
  if (plan.scope) plan.scope->name = record.name;
  if (record.settings.cgroups_split)
    plan.split_cgroup = cgroups::parse_limits(limit_request(record.settings));
  write_etc_files(plan, record.name);
  return plan;
}

void mark_running(ContainerRecord& record, const ProcessIdentity& process,
                  const std::string& cgroup, bool detached) {
  record.status = kRunning;
  record.process = process;
  record.monitor = identify_process(::getpid()).value_or(ProcessIdentity{});
  record.started_at = format_timestamp(now_nanos());
  record.detached = detached;
  record.cgroup = cgroup;
  record.exit_code.reset();
  record.finished_at.clear();
  record.oom_killed = false;
  record.error.clear();
  record.unrecorded_end = false;
}

void remove_container(const Context& context, const ContainerStore& store,
                      const ContainerRecord& record, const UniqueFd* user_namespace) {
  auto retired = store.retire(record);
  if (removed_directly(retired)) return;
  if (user_namespace != nullptr && *user_namespace) {
    remove_in_namespace(*user_namespace, {retired});
    return;
  }
  in_user_namespace(context, [&] {
    fs::remove_tree(retired);
    return 0;
  });
}

void record_exit(const Context& context, const ContainerStore& store, const ContainerRecord& record,
                 const ContainerExit& exit, bool starter_holds_lock) {
  ContainerLock lock;
  try {
    if (!starter_holds_lock) lock = store.lock(record);
  } catch (const UsageError&) {
    spdlog::debug("container {} was removed while it ran", record.name);
    return;
  }
  auto current = store.reload(record);
  current.status = kExited;
  current.exit_code = exit.status;
  current.finished_at = format_timestamp(now_nanos());
  current.oom_killed = exit.out_of_memory;
  current.error = exit.failure;
  store.save_state(current);
  if (!current.remove_on_exit) return;
  try {
    store.keep_exit_code(current.id, exit.status);
    remove_container(context, store, current, &exit.user_namespace);
  } catch (const Error& error) {
    spdlog::warn("container {} was not removed completely: {}; remove it with 'roost rm -f {}'",
                 record.name, error.what(), record.name);
  }
}

int run_attached(const Context& context, const ContainerStore& store, const ContainerRecord& record,
                 ContainerLock& lock) {
  auto plan = plan_for_start(store, record);
  if (plan.tty) ::ioctl(STDIN_FILENO, TIOCGWINSZ, &plan.terminal_size);
  UniqueFd marker = hold_foreground_marker(store, record);
  ServiceHooks service(plan, record.settings, store.runtime_dir(record.id));
  MonitorIo io;
  io.end_with_monitor = true;
  auto log = foreground_log(store, record);
  if (log) io.log = [&](Stream stream, std::string_view data) { log->write(stream, data); };
  io.log_replaces_output = log && log_replaces_output(record);
  io.record_start = [&](const ProcessIdentity& process, const std::string& cgroup) {
    ContainerRecord running = record;
    mark_running(running, process, cgroup, false);
    store.save_state(running);
  };
  auto exit = run_and_monitor(plan, io, [&](const ProcessIdentity&, const std::string&) {
    lock.release();
    service.started();
  });
  service.stop();
  lock.release();
  report_outcome(record, exit);
  record_exit(context, store, record, exit);
  return exit.status;
}

}  // namespace roost::cli
