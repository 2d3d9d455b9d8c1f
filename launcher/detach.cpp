// A detached container's monitor: a process of its own session, started by a double
// fork so that it is no child of the roost command, which waits only until the
// container's command runs. The monitor stays the container's parent. Once the command
// runs, it executes roost-monitor in its place (same pid), a small program that writes
// the container's output to its log and serves `roost attach` until the container ends,
// and then executes roost again to record the end and remove the container for --rm:
// the pages of roost's code and libraries that set-up touched are not kept while the
// container runs. Its own messages go to monitor.log in the container's runtime
// directory.

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <climits>
#include <cstdint>
#include <cstring>

#include "cgroups/host.hpp"
#include "cgroups/scope.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/stderr_log.hpp"
#include "launcher/attach_server.hpp"
#include "launcher/commands.hpp"
#include "launcher/descriptors.hpp"
#include "launcher/journal.hpp"
#include "launcher/launch.hpp"
#include "launcher/monitor_handoff.hpp"
#include "launcher/service_hooks.hpp"

#ifndef ROOST_BINDIR
#error "ROOST_BINDIR must name the directory roost is installed in"
#endif
#ifndef ROOST_LIBEXECDIR
#error "ROOST_LIBEXECDIR must name the directory roost-monitor is installed in"
#endif

namespace roost::cli {

namespace {

constexpr const char* kStarted = "ok";
constexpr const char* kEndedCommand = "__container-ended";

void tell_launcher(UniqueFd& ready, const std::string& message) {
  if (!ready) return;
  write_fully(ready.get(), message);
  ready.reset();
}

void set_inherited(int fd, bool inherited) {
  if (fd >= 0) ::fcntl(fd, F_SETFD, inherited ? 0 : FD_CLOEXEC);
}

// What the monitor holds once the container runs, for roost-monitor or for itself.
struct MonitorState {
  StartedContainer container;
  UniqueFd attach_listener;
};

MonitorHandoff describe_handoff(const Context& context, const ContainerStore& store,
                                const ContainerRecord& record, MonitorState& state,
                                int notify_relay, int roost_executable) {
  auto& container = state.container;
  MonitorHandoff handoff;
  handoff.pid = container.pid;
  handoff.pidfd = container.pidfd.get();
  handoff.terminal = container.terminal.get();
  handoff.out = container.out.get();
  handoff.err = container.err.get();
  handoff.input = container.input.get();
  handoff.attach_listener = state.attach_listener.get();
  handoff.attach_path = (store.runtime_dir(record.id) / kAttachSocket).string();
  handoff.notify_relay = notify_relay;
  if (container.oom) {
    handoff.oom_inotify = container.oom->fd();
    handoff.cgroup = container.oom->cgroup();
    handoff.oom_kills = container.oom->oom_kills();
  }
  handoff.log_driver = record.settings.log_driver;
  handoff.log_path = store.log_path(record.id).string();
  handoff.log_max_size = record.settings.log_max_size;
  handoff.journal = {record.name, record.id, record.image_name};
  handoff.roost_executable = roost_executable;
  handoff.finish_command = context.global_arguments;
  handoff.finish_command.push_back(kEndedCommand);
  handoff.finish_command.push_back(
      fmt::format("--user-namespace-fd={}", container.result.user_namespace.get()));
  handoff.finish_command.push_back(record.id);
  handoff.debug = stderr_log::enabled(stderr_log::Level::Debug);
  return handoff;
}

// Executes roost-monitor in place of this process; returns only when that failed, with
// everything as it was.
void hand_over(const Context& context, const ContainerStore& store, const ContainerRecord& record,
               MonitorState& state, ServiceHooks& service, const std::string& program) {
  UniqueFd roost_executable(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!roost_executable) {
    spdlog::warn(
        "open roost's own executable: {}; the monitor of container {} stays a roost "
        "process",
        std::strerror(errno), record.name);
    return;
  }
  auto handoff = describe_handoff(context, store, record, state, service.relay_socket(),
                                  roost_executable.get());
  const int inherited[] = {handoff.pidfd,
                           handoff.terminal,
                           handoff.out,
                           handoff.err,
                           handoff.input,
                           handoff.attach_listener,
                           handoff.notify_relay,
                           handoff.oom_inotify,
                           handoff.roost_executable,
                           state.container.result.user_namespace.get()};
  for (int fd : inherited) set_inherited(fd, true);
  std::vector<std::string> arguments = {kMonitorProgram};
  auto rest = handoff_arguments(handoff);
  arguments.insert(arguments.end(), rest.begin(), rest.end());
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  ::execv(program.c_str(), argv.data());
  int error = errno;
  for (int fd : inherited) set_inherited(fd, false);
  spdlog::warn("execute {}: {}; the monitor of container {} stays a roost process", program,
               std::strerror(error), record.name);
}

// In the monitor: runs the container to its end.
void monitor_container(const Context& context, const ContainerStore& store,
                       const ContainerRecord& record, const std::string& program, UniqueFd& ready) {
  auto plan = plan_for_start(store, record);
  // Opened here so that a log that cannot be written fails the start; roost-monitor
  // opens it again.
  auto log = container_log(store, record);
  auto runtime_dir = store.runtime_dir(record.id);
  MonitorState state;
  std::optional<AttachServer> attach;
  MonitorIo io;
  io.capture = true;
  io.sink = [&](Stream stream, std::string_view data) {
    log.write(stream, data);
    if (attach) attach->broadcast(stream, data);
  };
  io.attach_peer = [&](int terminal, UniqueFd input) -> RelayPeer* {
    if (!state.attach_listener) return nullptr;
    attach.emplace((runtime_dir / kAttachSocket).string(), std::move(state.attach_listener),
                   terminal, std::move(input));
    return &*attach;
  };
  ServiceHooks service(plan, record.settings, runtime_dir);
  io.record_start = [&](const ProcessIdentity& process, const std::string& cgroup) {
    ContainerRecord running = record;
    mark_running(running, process, cgroup, true);
    store.save_state(running);
  };
  auto on_started = [&](const ProcessIdentity&, const std::string&) {
    // Before the starter returns, so that an attach right after it finds the socket.
    try {
      state.attach_listener = listen_for_attach(runtime_dir.string());
    } catch (const Error& error) {
      spdlog::warn("container {}: 'roost attach' will not work: {}", record.name, error.what());
    }
    // MAINPID (this monitor) reaches systemd before the starting command ends.
    service.announce_started();
    tell_launcher(ready, kStarted);
  };
  state.container = start_container(plan, io, on_started);
  if (state.container.result.started) {
    hand_over(context, store, record, state, service, program);
    service.start_relay();
  }
  auto exit = monitor_until_exit(plan, io, state.container);
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
  if (record.settings.cgroups_split) {
    spdlog::debug("--cgroups=split: the monitor stays in the cgroup of the service that runs it");
    return;
  }
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
                                 const ContainerRecord& record, const std::string& program,
                                 int ready_fd) {
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
    monitor_container(context, store, record, program, ready);
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
  std::fputs(error_line(report.substr(space + 1)).c_str(), stderr);
  return std::atoi(report.substr(0, space).c_str());
}

bool is_executable(const std::filesystem::path& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

uint64_t number_argument(std::string_view what, const std::string& text, uint64_t max) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value > max)
    throw UsageError(
        fmt::format("{} {} {}: not a number up to {}; {} is run by roost-monitor, not "
                    "by hand",
                    kEndedCommand, what, text, max, kEndedCommand));
  return value;
}

}  // namespace

std::string monitor_program() {
  std::error_code error;
  auto own = std::filesystem::read_symlink("/proc/self/exe", error);
  auto beside = own.parent_path() / kMonitorProgram;
  if (!error && is_executable(beside)) return beside.string();
  // Only the installed roost may take the installed monitor: a roost run from its build
  // tree beside an older installation would otherwise pair with a monitor of another
  // version.
  auto installed = std::filesystem::path(ROOST_LIBEXECDIR) / kMonitorProgram;
  bool roost_is_installed = !error && own.parent_path() == std::filesystem::path(ROOST_BINDIR);
  if (roost_is_installed && is_executable(installed)) return installed.string();
  if (roost_is_installed)
    throw Error(fmt::format(
        "{}, which keeps a detached container's output and state, is neither beside roost ({}) "
        "nor at {}; install it with roost (meson install puts it at the second place)",
        kMonitorProgram, beside.string(), installed.string()));
  throw Error(fmt::format(
      "{}, which keeps a detached container's output and state, is not beside roost ({}); "
      "build it with roost (ninja builds both) or use the installed roost",
      kMonitorProgram, beside.string()));
}

int run_detached(const Context& context, const ContainerStore& store,
                 const ContainerRecord& record) {
  auto program = monitor_program();
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
    become_monitor(context, store, record, program, write_end.release());
  }
  write_end.reset();
  int status = 0;
  while (::waitpid(first, &status, 0) < 0 && errno == EINTR) {
  }
  return read_start_report(record, read_end.get());
}

int cmd_container_ended(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  ContainerExit exit;
  exit.started = true;
  exit.status = static_cast<int>(number_argument("STATUS", command.positionals[1], INT_MAX));
  exit.out_of_memory = number_argument("OOM_KILLS", command.positionals[2], UINT64_MAX) > 0;
  if (command.has("user-namespace-fd"))
    exit.user_namespace.reset(static_cast<int>(
        number_argument("--user-namespace-fd", command.value("user-namespace-fd"), INT_MAX)));
  set_inherited(exit.user_namespace.get(), false);
  auto record = store.find(command.positionals[0]);
  if (!record) {
    spdlog::debug("container {} was removed while it ran", command.positionals[0]);
    return 0;
  }
  record_exit(context, store, *record, exit);
  return 0;
}

}  // namespace roost::cli
