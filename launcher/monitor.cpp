#include "launcher/monitor.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "cgroups/scope.hpp"
#include "cgroups/stats.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/child.hpp"
#include "launcher/descriptors.hpp"
#include "launcher/service_hooks.hpp"
#include "launcher/signals.hpp"
#include "launcher/unmapped_owner.hpp"

namespace roost::cli {

namespace {

uint64_t namespace_flags(const ContainerPlan& plan) {
  uint64_t flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (plan.new_network) flags |= CLONE_NEWNET;
  return flags;
}

pid_t clone_child(const ContainerPlan& plan, UniqueFd& pidfd) {
  struct clone_args args = {};
  int pidfd_value = -1;
  args.flags = namespace_flags(plan) | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd_value);
  args.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) {
    throw_errno(
        "create the container's namespaces (user, mount, pid, uts, ipc); check that user "
        "namespaces are enabled (sysctl user.max_user_namespaces)");
  }
  if (pid > 0) pidfd.reset(pidfd_value);
  return static_cast<pid_t>(pid);
}

void record_child_failure(const std::string& report, ContainerExit& result) {
  auto space = report.find(' ');
  result.status = kStatusSetupFailed;
  if (space != std::string::npos) result.status = std::atoi(report.substr(0, space).c_str());
  result.failure = report.substr(space == std::string::npos ? 0 : space + 1);
}

void place_in_scope(cgroups::ScopeRequest request, StartedContainer& container) {
  request.pid = container.pid;
  auto scope = cgroups::start_scope(request);
  spdlog::debug("container placed in {} ({})", scope.unit, scope.leaf.string());
  container.oom.emplace(scope.cgroup.string());
  container.result.cgroup = scope.leaf.string();
}

void place_in_split_cgroup(const cgroups::Limits& limits, StartedContainer& container) {
  auto split = split_own_cgroup(limits, container.pid);
  spdlog::debug("container placed in {}", split.leaf.string());
  container.oom.emplace(split.cgroup.string());
  container.result.cgroup = split.leaf.string();
}

UniqueFd open_user_namespace(pid_t pid) {
  UniqueFd fd(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("open the user namespace of pid {}", pid));
  return fd;
}

// Kills and reaps the child when a step on this side fails: before it was released, or
// once it runs when its start cannot be recorded.
template <typename F>
auto or_kill_child(pid_t pid, F&& step) -> decltype(step()) {
  try {
    return step();
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw;
  }
}

struct CapturePipes {
  Pipe out;
  Pipe err;
};

// The log first: what roost could not show is still kept.
OutputSink foreground_sink(const OutputSink& log, bool log_replaces_output) {
  if (!log) return write_to_stdout;
  if (log_replaces_output) return log;
  return [&log](Stream stream, std::string_view data) {
    log(stream, data);
    if (stream == Stream::Stdout)
      write_to_stdout(stream, data);
    else if (!write_fully(STDERR_FILENO, data))
      throw OutputClosed("write the container's output to roost's stderr", errno);
  };
}

}  // namespace

void write_to_stdout(Stream, std::string_view data) {
  if (!write_fully(STDOUT_FILENO, data))
    throw OutputClosed("write the container's output to roost's stdout", errno);
}

bool terminal_for_input(bool tty, bool interactive) {
  if (!tty || !interactive || ::isatty(STDIN_FILENO)) return tty;
  spdlog::warn("-it: standard input is not a terminal; going on without one, as with -i alone");
  return false;
}

RawTerminal::RawTerminal(int fd, bool keys_signal) : fd_(fd) {
  if (fd < 0 || !::isatty(fd) || ::tcgetattr(fd, &saved_) < 0) return;
  struct termios raw = saved_;
  ::cfmakeraw(&raw);
  if (keys_signal) raw.c_lflag |= ISIG;
  active_ = ::tcsetattr(fd, TCSADRAIN, &raw) == 0;
}

RawTerminal::~RawTerminal() {
  if (active_) ::tcsetattr(fd_, TCSADRAIN, &saved_);
}

std::string read_until_eof(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) text.append(buffer, static_cast<size_t>(n));
  return text;
}

StartedContainer start_container(
    const ContainerPlan& plan, const MonitorIo& io,
    const std::function<void(const ProcessIdentity&, const std::string&)>& on_started) {
  block_forwarded_signals();
  Pipe start = make_pipe(O_CLOEXEC);
  Pipe errors = make_pipe(O_CLOEXEC);
  Pipe console = plan.tty ? make_socket_pair() : Pipe{};
  CapturePipes capture;
  if ((io.capture || io.log) && !plan.tty) capture = {make_pipe(O_CLOEXEC), make_pipe(O_CLOEXEC)};
  // A detached container's stdin with -i: its monitor holds it open for `roost attach`.
  Pipe input = io.capture && plan.interactive && !plan.tty ? make_pipe(O_CLOEXEC) : Pipe{};
  StartedContainer container;
  container.pid = clone_child(plan, container.pidfd);
  pid_t pid = container.pid;
  if (pid == 0) {
    ChildChannels channels{start.read_end.get(),
                           errors.write_end.get(),
                           console.write_end ? console.write_end.get() : -1,
                           capture.out.write_end ? capture.out.write_end.get() : -1,
                           capture.err.write_end ? capture.err.write_end.get() : -1,
                           input.read_end ? input.read_end.get() : -1,
                           io.end_with_monitor};
    run_container_child(plan, channels);
  }
  for (auto* end : {&start.read_end, &errors.write_end, &console.write_end, &capture.out.write_end,
                    &capture.err.write_end, &input.read_end})
    end->reset();
  container.out = std::move(capture.out.read_end);
  container.err = std::move(capture.err.read_end);
  container.input = std::move(input.write_end);
  ContainerExit& result = container.result;
  auto identity = or_kill_child(pid, [&] {
    result.user_namespace = open_user_namespace(pid);
    userns::write_maps(pid, plan.maps);
    auto known = identify_process(pid);
    if (!known) throw Error(fmt::format("the container's first process (pid {}) ended", pid));
    return *known;
  });
  or_kill_child(pid, [&] {
    if (plan.scope) place_in_scope(*plan.scope, container);
    if (plan.split_cgroup) place_in_split_cgroup(*plan.split_cgroup, container);
    if (io.record_start) io.record_start(identity, result.cgroup);
  });
  // The byte tells the child whether it now sits in a cgroup of its own to be given a
  // cgroup namespace of.
  if (::write(start.write_end.get(), container.oom ? "c" : "g", 1) != 1)
    throw_errno("start the container");
  start.write_end.reset();
  if (plan.tty) container.terminal = receive_fd(console.read_end.get());
  // The error pipe closes on exec; anything in it is why the command did not start.
  std::string report = read_until_eof(errors.read_end.get());
  if (!report.empty()) {
    record_child_failure(report, result);
    result.failure = explain_unmapped_owner(plan, result.failure);
  }
  if (report.empty()) {
    result.started = true;
    // A container whose start cannot be recorded would run on unseen by roost.
    or_kill_child(pid, [&] { on_started(identity, result.cgroup); });
  }
  return container;
}

ContainerExit monitor_until_exit(const ContainerPlan& plan, const MonitorIo& io,
                                 StartedContainer& container) {
  ContainerExit result = std::move(container.result);
  RelayEnds ends{container.terminal.get(), container.out.get(), container.err.get(),
                 !io.capture && plan.interactive};
  if (io.attach_peer)
    if (RelayPeer* peer = io.attach_peer(container.terminal.get(), std::move(container.input)))
      ends.peers.push_back(peer);
  ends.close_output = [&] {
    container.terminal.reset();
    container.out.reset();
    container.err.reset();
  };
  auto& oom = container.oom;
  {
    // Without -i nothing typed is passed on, so Ctrl-C must reach roost as SIGINT,
    // which is forwarded.
    RawTerminal raw(container.terminal && !io.capture ? STDIN_FILENO : -1, !plan.interactive);
    OutputSink sink = io.capture ? io.sink : foreground_sink(io.log, io.log_replaces_output);
    int status = relay_until_exit(
        container.pid, container.pidfd, ends, sink, [&] { oom->update(); }, oom ? oom->fd() : -1);
    if (result.started) result.status = status;
  }
  if (oom) {
    oom->update();
    result.out_of_memory = oom->oom_kills() > 0;
    result.memory_max = oom->memory_max();
  }
  return result;
}

ContainerExit run_and_monitor(
    const ContainerPlan& plan, const MonitorIo& io,
    const std::function<void(const ProcessIdentity&, const std::string&)>& on_started) {
  auto container = start_container(plan, io, on_started);
  return monitor_until_exit(plan, io, container);
}

void remove_in_namespace(const UniqueFd& user_namespace,
                         const std::vector<std::filesystem::path>& paths) {
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork to remove the container's files");
  if (pid == 0) {
    int status = 0;
    if (::setns(user_namespace.get(), CLONE_NEWUSER) < 0) ::_exit(1);
    try {
      for (const auto& path : paths) fs::remove_tree(path);
    } catch (const Error& error) {
      std::fprintf(stderr, "roost: warning: %s\n", error.what());
      status = 1;
    }
    ::_exit(status);
  }
  int wait_status = 0;
  while (::waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0)
    throw Error(fmt::format("remove the container's files in {}: the cleanup did not complete",
                            paths.empty() ? "" : paths.front().string()));
}

}  // namespace roost::cli
