#include "launcher/relay.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/stderr_log.hpp"
#include "launcher/signals.hpp"

namespace roost::cli {

namespace {

// Output still arriving after the process ended is read for this long at most
// between two pieces (something outside its pid namespace may hold the pipe).
constexpr int kDrainQuietMs = 1000;

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
    std::vector<RelayPeer*> owners;
    for (RelayPeer* peer : ends_.peers) {
      for (int fd : peer->fds()) {
        fds.push_back({fd, POLLIN, 0});
        owners.push_back(peer);
      }
      for (int fd : peer->writable_fds()) {
        fds.push_back({fd, POLLOUT, 0});
        owners.push_back(peer);
      }
    }
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR)
      throw_errno("poll the container's streams");
    for (size_t i = kSlots; i < fds.size(); ++i) {
      auto& polled = fds[i];
      if (polled.events == POLLOUT && (polled.revents & (POLLOUT | POLLHUP | POLLERR)))
        owners[i - kSlots]->on_writable(polled.fd);
      else if (polled.events == POLLIN && (polled.revents & (POLLIN | POLLHUP | POLLERR)))
        owners[i - kSlots]->on_readable(polled.fd);
    }
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
    stderr_log::debug(std::string(closed.what()) + "; closing the container's output");
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
    stderr_log::debug("end of standard input: sending the terminal's EOF character");
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
        if (stderr_log::enabled(stderr_log::Level::Debug))
          stderr_log::debug("forwarding signal " + std::to_string(sig) + " to pid " +
                            std::to_string(pid_));
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

}  // namespace

bool write_fully(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    data.remove_prefix(static_cast<size_t>(w));
  }
  return true;
}

int relay_until_exit(pid_t pid, const UniqueFd& pidfd, const RelayEnds& ends,
                     const OutputSink& sink, const std::function<void()>& on_memory_event,
                     int memory_event_fd) {
  Relay relay(pid, pidfd, ends, sink);
  if (memory_event_fd >= 0) relay.watch_memory_events(memory_event_fd, on_memory_event);
  return relay.wait();
}

}  // namespace roost::cli
