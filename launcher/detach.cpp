// A detached container's monitor: a process of its own session, started by a double
// fork so that it is no child of the roost command, which waits only until the
// container's command runs. The monitor stays the container's parent: it writes the
// container's output to its log, records its state and its end, and removes it for
// --rm. Its own messages go to monitor.log in the container's runtime directory.

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cgroups/host.hpp"
#include "cgroups/scope.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/attach.hpp"
#include "launcher/descriptors.hpp"
#include "launcher/journal.hpp"
#include "launcher/launch.hpp"
#include "launcher/service_hooks.hpp"

namespace roost::cli {

namespace {

constexpr const char* kStarted = "ok";

void tell_launcher(UniqueFd& ready, const std::string& message) {
  if (!ready) return;
  write_fully(ready.get(), message);
  ready.reset();
}

// In the monitor: runs the container to its end.
void monitor_container(const Context& context, const ContainerStore& store,
                       const ContainerRecord& record, UniqueFd& ready) {
  auto plan = plan_for_start(store, record);
  auto log = container_log(store, record);
  std::optional<AttachServer> attach;
  MonitorIo io;
  io.capture = true;
  io.sink = [&](Stream stream, std::string_view data) {
    log.write(stream, data);
    if (attach) attach->broadcast(data);
  };
  io.peer_for_terminal = [&](int terminal) -> RelayPeer* {
    try {
      attach.emplace(store.runtime_dir(record.id), terminal);
      return &*attach;
    } catch (const Error& error) {
      spdlog::warn("container {}: 'roost attach' will not work: {}", record.name, error.what());
      return nullptr;
    }
  };
  ServiceHooks service(plan, record.settings, store.runtime_dir(record.id));
  auto on_started = [&](const ProcessIdentity& process, const std::string& cgroup) {
    ContainerRecord running = record;
    mark_running(running, process, cgroup, true);
    store.save_state(running);
    // MAINPID (this monitor) reaches systemd before the starting command ends.
    service.started();
    tell_launcher(ready, kStarted);
  };
  auto exit = run_and_monitor(plan, io, on_started);
  service.stop();
  // Recorded before the report, so that the starter finds the container exited.
  record_exit(context, store, record, exit, !exit.started);
  if (!exit.started) tell_launcher(ready, fmt::format("{} {}", exit.status, exit.failure));
}

// Stopping the unit of the command that started the container (a service that ran
// `roost run -d`) stops every process in its cgroup: the monitor goes to a scope of its
// own, as podman's conmon does. Before the streams are redirected, so that a warning
// reaches the user.
void leave_starters_cgroup(const ContainerRecord& record) {
  auto host = cgroups::detect_host_support();
  if (!host.unified || !host.systemd_running || !host.bus_reachable) {
    spdlog::debug("the monitor stays in the cgroup of the command that started it: {}",
                  host.reason);
    return;
  }
  std::string slice =
      record.settings.cgroup_parent.empty() ? "app.slice" : record.settings.cgroup_parent;
  try {
    cgroups::start_plain_scope("roost-monitor-" + record.id + ".scope", ::getpid(), slice,
                               host.bus.address);
  } catch (const Error& error) {
    spdlog::warn(
        "{}; the monitor of container {} stays in the cgroup of this command and "
        "ends when it is stopped",
        error.what(), record.name);
  }
}

[[noreturn]] void become_monitor(const Context& context, const ContainerStore& store,
                                 const ContainerRecord& record, int ready_fd) {
  UniqueFd ready(ready_fd);
  try {
    if (::setsid() < 0) throw_errno("start a session for the monitor");
    pid_t monitor = ::fork();
    if (monitor < 0) throw_errno("fork the container's monitor");
    if (monitor > 0) ::_exit(0);
    ::prctl(PR_SET_NAME, "roost-monitor", 0, 0, 0);
    leave_starters_cgroup(record);
    close_descriptors_except({ready_fd});
    redirect_standard_streams((store.runtime_dir(record.id) / "monitor.log").c_str());
    if (::chdir("/") < 0) throw_errno("enter /");
    monitor_container(context, store, record, ready);
  } catch (const std::exception& error) {
    spdlog::error("monitor of container {}: {}", record.name, error.what());
    tell_launcher(ready, fmt::format("125 {}", error.what()));
  }
  ::_exit(0);
}

// "ok", or "STATUS message" from a failed start; empty when the monitor died.
int read_start_report(const ContainerRecord& record, int ready) {
  std::string report = read_until_eof(ready);
  if (report == kStarted) return 0;
  if (report.empty())
    throw Error(
        fmt::format("the monitor of container {} ended before the container started", record.name));
  auto space = report.find(' ');
  std::fprintf(stderr, "Error: %s\n", report.substr(space + 1).c_str());
  return std::atoi(report.substr(0, space).c_str());
}

}  // namespace

int run_detached(const Context& context, const ContainerStore& store,
                 const ContainerRecord& record) {
  // The monitor's log lives there, and a reboot empties the runtime directories.
  fs::make_dirs(store.runtime_dir(record.id), 0700);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("create a pipe for the monitor");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  std::fflush(nullptr);
  pid_t first = ::fork();
  if (first < 0) throw_errno("fork the container's monitor");
  if (first == 0) {
    read_end.reset();
    become_monitor(context, store, record, write_end.release());
  }
  write_end.reset();
  int status = 0;
  while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
  }
  return read_start_report(record, read_end.get());
}

}  // namespace roost::cli
