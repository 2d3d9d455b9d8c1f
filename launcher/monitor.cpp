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

// Output still arriving after the process ended is read for this long at most
// between two pieces (something outside its pid namespace may hold the pipe).
constexpr int kDrainQuietMs = 1000;

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

// Reads what is there; false at end of file or on an error that ends the stream (EIO
// from a pty master whose terminal is closed).
bool read_some(int from, Stream stream, const OutputSink& sink) {
  char buffer[16384];
  ssize_t n = ::read(from, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  sink(stream, std::string_view(buffer, static_cast<size_t>(n)));
  return true;
}

void copy_terminal_size(int from, int to) {
  struct winsize size;
  if (::ioctl(from, TIOCGWINSZ, &size) == 0) ::ioctl(to, TIOCSWINSZ, &size);
}

const sigset_t& relay_signal_set() {
  static sigset_t set = [] {
    sigset_t s = forwarded_signals();
    sigaddset(&s, SIGCHLD);
    return s;
  }();
  return set;
}

class Relay {
 public:
  Relay(pid_t pid, const UniqueFd& pidfd, const RelayEnds& ends, const OutputSink& sink)
      : pid_(pid), pidfd_(pidfd), ends_(ends), sink_(sink) {
    stdin_open_ = ends.forward_stdin && ends.terminal >= 0;
    signals_.reset(::signalfd(-1, &relay_signal_set(), SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) throw_errno("create a signalfd");
  }

  void watch_memory_events(int fd, const std::function<void()>& on_event) {
    memory_fd_ = fd;
    on_memory_event_ = on_event;
  }

  int wait() {
    while (!exited_) poll_once();
    drain();
    return status_;
  }

 private:
  enum Slot { kSignals, kTerminal, kOut, kErr, kStdin, kMemory, kSlots };

  void poll_once() {
    std::vector<struct pollfd> fds = {{signals_.get(), POLLIN, 0},
                                      {ends_.terminal, POLLIN, 0},
                                      {ends_.out, POLLIN, 0},
                                      {ends_.err, POLLIN, 0},
                                      {-1, POLLIN, 0},
                                      {memory_fd_, POLLIN, 0}};
    if (stdin_open_) fds[kStdin].fd = STDIN_FILENO;
    if (ends_.peer != nullptr)
      for (int fd : ends_.peer->fds()) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR)
      throw_errno("poll the container's streams");
    for (size_t i = kSlots; i < fds.size(); ++i)
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ends_.peer->on_readable(fds[i].fd);
    if ((fds[kMemory].revents & POLLIN) && on_memory_event_) on_memory_event_();
    if (fds[kSignals].revents & POLLIN) handle_signals();
    pump(fds[kTerminal], ends_.terminal, Stream::Stdout);
    pump(fds[kOut], ends_.out, Stream::Stdout);
    pump(fds[kErr], ends_.err, Stream::Stderr);
    if (stdin_open_ && (fds[kStdin].revents & (POLLIN | POLLHUP)) && !copy_stdin())
      stdin_open_ = false;
    // A terminal whose every slave end is closed means the container is ending; without
    // this the relay would spin on POLLHUP until SIGCHLD.
    if (terminal_closed_ && !exited_) reap(0);
  }

  void pump(const struct pollfd& polled, int& fd, Stream stream) {
    if (fd < 0 || !(polled.revents & (POLLIN | POLLHUP | POLLERR))) return;
    try {
      if (read_some(fd, stream, sink_)) return;
    } catch (const OutputClosed& closed) {
      stop_output(closed);
      return;
    }
    if (fd == ends_.terminal) terminal_closed_ = true;
    fd = -1;
  }

  // Nothing reads what the container writes any more: its terminal or pipes are closed
  // so that it ends as a process writing into a closed pipe does; its exit is awaited.
  void stop_output(const OutputClosed& closed) {
    spdlog::debug("{}; closing the container's output", closed.what());
    if (ends_.close_output) ends_.close_output();
    ends_.terminal = ends_.out = ends_.err = -1;
    stdin_open_ = false;
  }

  bool copy_stdin() {
    char buffer[16384];
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
    if (n == 0) send_end_of_file();
    if (n <= 0) return false;
    stdin_line_open_ = buffer[n - 1] != '\n';
    return write_fully(ends_.terminal, std::string_view(buffer, static_cast<size_t>(n)));
  }

  // A terminal has no end of file of its own: the program reading it sees one when the
  // terminal's EOF character (^D) arrives at the start of a line, so a line left open
  // is ended by a first one.
  void send_end_of_file() {
    struct termios settings;
    if (::tcgetattr(ends_.terminal, &settings) < 0) return;
    std::string eof(stdin_line_open_ ? 2 : 1, static_cast<char>(settings.c_cc[VEOF]));
    spdlog::debug("end of standard input: sending the terminal's EOF character");
    write_fully(ends_.terminal, eof);
  }

  void handle_signals() {
    struct signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
      int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGCHLD) {
        reap(WNOHANG);
      } else if (sig == SIGWINCH && ends_.terminal >= 0) {
        copy_terminal_size(STDIN_FILENO, ends_.terminal);
      } else {
        spdlog::debug("forwarding signal {} to pid {}", sig, pid_);
        ::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0);
      }
    }
  }

  void reap(int options) {
    int wait_status = 0;
    pid_t done = ::waitpid(pid_, &wait_status, options);
    if (done == pid_) {
      exited_ = true;
      status_ = shell_status(wait_status);
    }
  }

  // What the process wrote just before it ended is still in the pipes or the terminal.
  void drain() {
    for (int* fd : {&ends_.terminal, &ends_.out, &ends_.err}) {
      if (*fd < 0) continue;
      ::fcntl(*fd, F_SETFL, ::fcntl(*fd, F_GETFL) | O_NONBLOCK);
      Stream stream = fd == &ends_.err ? Stream::Stderr : Stream::Stdout;
      int quiet_ms = fd == &ends_.terminal ? 0 : kDrainQuietMs;
      for (;;) {
        struct pollfd polled = {*fd, POLLIN, 0};
        if (::poll(&polled, 1, quiet_ms) <= 0) break;
        char buffer[16384];
        ssize_t n = ::read(*fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        try {
          sink_(stream, std::string_view(buffer, static_cast<size_t>(n)));
        } catch (const OutputClosed&) {
          return;
        }
      }
    }
  }

  pid_t pid_;
  const UniqueFd& pidfd_;
  RelayEnds ends_;
  const OutputSink& sink_;
  bool stdin_open_ = false;
  bool stdin_line_open_ = false;  // the last byte copied from stdin was not a newline
  bool terminal_closed_ = false;
  bool exited_ = false;
  int status_ = 0;
  int memory_fd_ = -1;
  std::function<void()> on_memory_event_;
  UniqueFd signals_;
};

void record_child_failure(const std::string& report, ContainerExit& result) {
  auto space = report.find(' ');
  result.status = kStatusSetupFailed;
  if (space != std::string::npos) result.status = std::atoi(report.substr(0, space).c_str());
  result.failure = report.substr(space == std::string::npos ? 0 : space + 1);
}

struct PlacedScope {
  cgroups::OomWatch oom;
  std::string cgroup;
};

PlacedScope place_in_scope(cgroups::ScopeRequest request, pid_t pid) {
  request.pid = pid;
  auto scope = cgroups::start_scope(request);
  spdlog::debug("container placed in {} ({})", scope.unit, scope.leaf.string());
  return {cgroups::OomWatch(scope.cgroup), scope.leaf.string()};
}

PlacedScope place_in_split_cgroup(const cgroups::Limits& limits, pid_t pid) {
  auto split = split_own_cgroup(limits, pid);
  spdlog::debug("container placed in {}", split.leaf.string());
  return {cgroups::OomWatch(split.cgroup), split.leaf.string()};
}

UniqueFd open_user_namespace(pid_t pid) {
  UniqueFd fd(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("open the user namespace of pid {}", pid));
  return fd;
}

// Kills and reaps the child when setup on this side fails before it was released.
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
OutputSink foreground_sink(const OutputSink& log) {
  if (!log) return write_to_stdout;
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

bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

std::string read_until_eof(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) text.append(buffer, static_cast<size_t>(n));
  return text;
}

int relay_until_exit(pid_t pid, const UniqueFd& pidfd, const RelayEnds& ends,
                     const OutputSink& sink, const std::function<void()>& on_memory_event,
                     int memory_event_fd) {
  Relay relay(pid, pidfd, ends, sink);
  if (memory_event_fd >= 0) relay.watch_memory_events(memory_event_fd, on_memory_event);
  return relay.wait();
}

ContainerExit run_and_monitor(
    const ContainerPlan& plan, const MonitorIo& io,
    const std::function<void(const ProcessIdentity&, const std::string&)>& on_started) {
  block_forwarded_signals();
  Pipe start = make_pipe(O_CLOEXEC);
  Pipe errors = make_pipe(O_CLOEXEC);
  Pipe console = plan.tty ? make_socket_pair() : Pipe{};
  CapturePipes capture;
  if ((io.capture || io.log) && !plan.tty) capture = {make_pipe(O_CLOEXEC), make_pipe(O_CLOEXEC)};
  UniqueFd pidfd;
  pid_t pid = clone_child(plan, pidfd);
  if (pid == 0) {
    ChildChannels channels{start.read_end.get(),
                           errors.write_end.get(),
                           console.write_end ? console.write_end.get() : -1,
                           capture.out.write_end ? capture.out.write_end.get() : -1,
                           capture.err.write_end ? capture.err.write_end.get() : -1,
                           io.end_with_monitor};
    run_container_child(plan, channels);
  }
  for (auto* end : {&start.read_end, &errors.write_end, &console.write_end, &capture.out.write_end,
                    &capture.err.write_end})
    end->reset();
  ContainerExit result;
  auto identity = or_kill_child(pid, [&] {
    result.user_namespace = open_user_namespace(pid);
    userns::write_maps(pid, plan.maps);
    auto known = identify_process(pid);
    if (!known) throw Error(fmt::format("the container's first process (pid {}) ended", pid));
    return *known;
  });
  std::optional<PlacedScope> scope;
  or_kill_child(pid, [&] {
    if (plan.scope) scope.emplace(place_in_scope(*plan.scope, pid));
    if (plan.split_cgroup) scope.emplace(place_in_split_cgroup(*plan.split_cgroup, pid));
  });
  // The byte tells the child whether it now sits in a cgroup of its own to be given a
  // cgroup namespace of.
  if (::write(start.write_end.get(), scope ? "c" : "g", 1) != 1) throw_errno("start the container");
  start.write_end.reset();
  UniqueFd master = plan.tty ? receive_fd(console.read_end.get()) : UniqueFd();
  // The error pipe closes on exec; anything in it is why the command did not start.
  std::string report = read_until_eof(errors.read_end.get());
  if (!report.empty()) {
    record_child_failure(report, result);
    result.failure = explain_unmapped_owner(plan, result.failure);
  }
  if (scope) result.cgroup = scope->cgroup;
  if (report.empty()) {
    result.started = true;
    on_started(identity, result.cgroup);
  }
  RelayEnds ends{master ? master.get() : -1, capture.out.read_end.get(), capture.err.read_end.get(),
                 !io.capture && plan.interactive};
  if (master && io.peer_for_terminal) ends.peer = io.peer_for_terminal(master.get());
  ends.close_output = [&] {
    master.reset();
    capture.out.read_end.reset();
    capture.err.read_end.reset();
  };
  {
    // Without -i nothing typed is passed on, so Ctrl-C must reach roost as SIGINT,
    // which is forwarded.
    RawTerminal raw(master && !io.capture ? STDIN_FILENO : -1, !plan.interactive);
    OutputSink sink = io.capture ? io.sink : foreground_sink(io.log);
    int status = relay_until_exit(
        pid, pidfd, ends, sink, [&] { scope->oom.update(); }, scope ? scope->oom.fd() : -1);
    if (report.empty()) result.status = status;
  }
  if (scope) {
    scope->oom.update();
    result.out_of_memory = scope->oom.oom_kills() > 0;
    result.memory_max = scope->oom.memory_max();
  }
  return result;
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
