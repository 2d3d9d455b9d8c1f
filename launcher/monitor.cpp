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
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "cgroups/scope.hpp"
#include "cgroups/stats.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/child.hpp"
#include "launcher/signals.hpp"

namespace roost::cli {

namespace {

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

Pipe make_pipe(int flags) {
  int fds[2];
  if (::pipe2(fds, flags) < 0) throw_errno("create a pipe");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Pipe make_socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    throw_errno("create a socket pair");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Puts the caller's terminal into raw mode for the relay and restores it afterwards.
class RawTerminal {
 public:
  explicit RawTerminal(int fd) : fd_(fd) {
    if (!::isatty(fd) || ::tcgetattr(fd, &saved_) < 0) return;
    struct termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(fd, TCSADRAIN, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(fd_, TCSADRAIN, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  struct termios saved_ = {};
  bool active_ = false;
};

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

UniqueFd receive_fd(int socket) {
  char data;
  struct iovec io = {&data, 1};
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr message = {};
  message.msg_iov = &io;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  struct cmsghdr* header = n > 0 ? CMSG_FIRSTHDR(&message) : nullptr;
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return UniqueFd(fd);
}

bool copy_once(int from, int to) {
  char buffer[16384];
  ssize_t n = ::read(from, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  for (ssize_t done = 0; done < n;) {
    ssize_t w = ::write(to, buffer + done, static_cast<size_t>(n - done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    done += w;
  }
  return true;
}

void copy_terminal_size(int from, int to) {
  struct winsize size;
  if (::ioctl(from, TIOCGWINSZ, &size) == 0) ::ioctl(to, TIOCSWINSZ, &size);
}

class Relay {
 public:
  Relay(pid_t pid, UniqueFd& pidfd, int master, bool interactive, cgroups::OomWatch* oom)
      : pid_(pid),
        pidfd_(pidfd),
        master_(master),
        stdin_open_(interactive && master >= 0),
        oom_(oom) {
    signals_.reset(::signalfd(-1, &signal_set(), SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) throw_errno("create a signalfd");
  }

  int wait() {
    while (!exited_) poll_once();
    if (master_ >= 0) drain_master();
    return status_;
  }

 private:
  static const sigset_t& signal_set() {
    static sigset_t set = [] {
      sigset_t s = forwarded_signals();
      sigaddset(&s, SIGCHLD);
      return s;
    }();
    return set;
  }

  void poll_once() {
    struct pollfd fds[4] = {{signals_.get(), POLLIN, 0},
                            {master_, POLLIN, 0},
                            {-1, POLLIN, 0},
                            {oom_ ? oom_->fd() : -1, POLLIN, 0}};
    if (stdin_open_) fds[2].fd = STDIN_FILENO;
    if (::poll(fds, 4, -1) < 0 && errno != EINTR) throw_errno("poll the container's streams");
    if (fds[3].revents & POLLIN) oom_->update();
    if (fds[0].revents & POLLIN) handle_signals();
    if (master_ >= 0 && (fds[1].revents & (POLLIN | POLLHUP)) && !copy_once(master_, STDOUT_FILENO))
      master_closed_ = true;
    if (stdin_open_ && (fds[2].revents & (POLLIN | POLLHUP)) && !copy_once(STDIN_FILENO, master_))
      stdin_open_ = false;
    if (master_closed_ && !exited_) reap(0);
  }

  void handle_signals() {
    struct signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
      int sig = static_cast<int>(info.ssi_signo);
      if (sig == SIGCHLD) {
        reap(WNOHANG);
      } else if (sig == SIGWINCH && master_ >= 0) {
        copy_terminal_size(STDIN_FILENO, master_);
      } else {
        spdlog::debug("forwarding signal {} to the container (pid {})", sig, pid_);
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

  void drain_master() {
    int flags = ::fcntl(master_, F_GETFL);
    ::fcntl(master_, F_SETFL, flags | O_NONBLOCK);
    while (copy_once(master_, STDOUT_FILENO)) {
      struct pollfd fd = {master_, POLLIN, 0};
      if (::poll(&fd, 1, 0) <= 0) break;
    }
  }

  pid_t pid_;
  UniqueFd& pidfd_;
  int master_;
  bool stdin_open_;
  cgroups::OomWatch* oom_;
  bool master_closed_ = false;
  bool exited_ = false;
  int status_ = 0;
  UniqueFd signals_;
};

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) text.append(buffer, static_cast<size_t>(n));
  return text;
}

void record_child_failure(const std::string& report, ContainerExit& result) {
  auto space = report.find(' ');
  result.status = kStatusSetupFailed;
  if (space != std::string::npos) result.status = std::atoi(report.substr(0, space).c_str());
  result.failure = report.substr(space == std::string::npos ? 0 : space + 1);
}

cgroups::OomWatch place_in_scope(cgroups::ScopeRequest request, pid_t pid) {
  request.pid = pid;
  auto scope = cgroups::start_scope(request);
  spdlog::debug("container placed in {} ({})", scope.unit, scope.leaf.string());
  return cgroups::OomWatch(scope.cgroup);
}

UniqueFd open_user_namespace(pid_t pid) {
  UniqueFd fd(::open(fmt::format("/proc/{}/ns/user", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("open the user namespace of pid {}", pid));
  return fd;
}

}  // namespace

ContainerExit run_and_monitor(const ContainerPlan& plan,
                              const std::function<void(pid_t)>& on_started) {
  block_forwarded_signals();
  Pipe start = make_pipe(O_CLOEXEC);
  Pipe errors = make_pipe(O_CLOEXEC);
  Pipe console = plan.tty ? make_socket_pair() : Pipe{};
  UniqueFd pidfd;
  pid_t pid = clone_child(plan, pidfd);
  if (pid == 0) {
    ChildChannels channels{start.read_end.get(), errors.write_end.get(),
                           console.write_end ? console.write_end.get() : -1};
    run_container_child(plan, channels);
  }
  start.read_end.reset();
  errors.write_end.reset();
  console.write_end.reset();
  ContainerExit result;
  try {
    result.user_namespace = open_user_namespace(pid);
    userns::write_maps(pid, plan.maps);
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  std::optional<cgroups::OomWatch> oom;
  try {
    if (plan.scope) oom.emplace(place_in_scope(*plan.scope, pid));
  } catch (...) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw;
  }
  // The byte tells the child whether it now sits in a cgroup of its own to be given a
  // cgroup namespace of.
  if (::write(start.write_end.get(), oom ? "c" : "g", 1) != 1) throw_errno("start the container");
  start.write_end.reset();
  on_started(pid);
  UniqueFd master = plan.tty ? receive_fd(console.read_end.get()) : UniqueFd();
  {
    RawTerminal raw(master ? STDIN_FILENO : -1);
    result.status =
        Relay(pid, pidfd, master ? master.get() : -1, plan.interactive, oom ? &*oom : nullptr)
            .wait();
  }
  if (oom) {
    oom->update();
    result.out_of_memory = oom->oom_kills() > 0;
    result.memory_max = oom->memory_max();
  }
  std::string report = read_all(errors.read_end.get());
  if (!report.empty()) record_child_failure(report, result);
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
