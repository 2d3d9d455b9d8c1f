// roost attach: the streams of a detached container, until the container ends (exit
// with its status) or the user leaves. With a terminal: keystrokes and the window size
// go to it, and ctrl-p ctrl-q leaves. Without one: with -i, roost's stdin goes to the
// container's, whose end of file closes it; stdout and stderr come back apart. As in
// podman, the detach keys need a terminal: they are seen only as keystrokes read one by
// one from a terminal in raw mode.

#include "launcher/attach_server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "common/error.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/lifecycle.hpp"
#include "launcher/monitor.hpp"

namespace roost::cli {

namespace {

constexpr char kDetachFirst = 0x10;   // ctrl-p
constexpr char kDetachSecond = 0x11;  // ctrl-q

bool send_packet(int socket, char type, std::string_view payload) {
  std::string packet(1, type);
  packet.append(payload);
  return ::send(socket, packet.data(), packet.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(packet.size());
}

void send_window_size(int socket) {
  struct winsize size;
  if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &size) == 0)
    send_packet(socket, kAttachWindowSize,
                std::string_view(reinterpret_cast<char*>(&size), sizeof size));
}

UniqueFd connect_to(const ContainerStore& store, const ContainerRecord& record) {
  auto dir = open_directory(store.runtime_dir(record.id).string());
  UniqueFd socket(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!socket) throw_errno("create a socket to attach");
  auto address = socket_address_in(dir.get(), kAttachSocket);
  if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0)
    return socket;
  if (errno == ENOENT)
    throw Error(fmt::format(
        "attach to container {}: its monitor does not listen at {}; 'roost restart {}' starts "
        "it again with one that does",
        record.name, (store.runtime_dir(record.id) / kAttachSocket).string(), record.name));
  throw_errno(fmt::format("attach to container {}", record.name));
}

// Keystrokes go on to the terminal, except the detach sequence; a ctrl-p that turns out
// not to start it is sent with the key after it.
class KeyFilter {
 public:
  // The keys to send; `detach` is set once ctrl-p ctrl-q was typed.
  std::string feed(std::string_view keys, bool& detach) {
    std::string out;
    for (char key : keys) {
      if (held_ && key == kDetachSecond) {
        detach = true;
        return out;
      }
      if (held_) out.push_back(kDetachFirst);
      held_ = key == kDetachFirst;
      if (!held_) out.push_back(key);
    }
    return out;
  }

 private:
  bool held_ = false;
};

enum class AttachEnd { Detached, ContainerEnded };

// What the client does with the container's output and its own stdin.
enum class AttachMode {
  Terminal,    // -t: keystrokes in raw mode, detach keys, window size
  Input,       // -i without -t: stdin as it comes, its end closes the container's
  OutputOnly,  // neither: stdin is not read
};

class AttachClient {
 public:
  AttachClient(UniqueFd socket, AttachMode mode) : socket_(std::move(socket)), mode_(mode) {
    stdin_open_ = mode != AttachMode::OutputOnly;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) throw_errno("create a signalfd");
  }

  AttachEnd run() {
    bool terminal = mode_ == AttachMode::Terminal;
    if (terminal) send_window_size(socket_.get());
    RawTerminal raw(terminal ? STDIN_FILENO : -1);
    if (mode_ == AttachMode::Input) {
      // Input waits while the monitor takes none (a container that does not read it) and
      // must not hold up the output meanwhile. The thread ends with the process.
      std::thread([socket = socket_.get()] { forward_all_input(socket); }).detach();
      stdin_open_ = false;
    }
    for (;;) {
      struct pollfd fds[3] = {{socket_.get(), POLLIN, 0},
                              {stdin_open_ ? STDIN_FILENO : -1, POLLIN, 0},
                              {signals_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0 && errno != EINTR) throw_errno("poll the attached streams");
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !show_output())
        return AttachEnd::ContainerEnded;
      if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && forward_input())
        return AttachEnd::Detached;
      if (fds[2].revents & POLLIN) {
        struct signalfd_siginfo info;
        while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
        }
        if (terminal) send_window_size(socket_.get());
      }
    }
  }

 private:
  bool show_output() {
    char buffer[kAttachPacketSize];
    ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    std::string_view packet(buffer, static_cast<size_t>(n));
    if (mode_ == AttachMode::Terminal) {
      write_fully(STDOUT_FILENO, packet);
      return true;
    }
    int fd = packet[0] == kAttachStderr ? STDERR_FILENO : STDOUT_FILENO;
    write_fully(fd, packet.substr(1));
    return true;
  }

  // Stdin as it comes to the container's stdin, and its end; stops when the monitor is
  // gone.
  static void forward_all_input(int socket) {
    char buffer[kAttachPacketSize - 1];
    for (;;) {
      ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        send_packet(socket, kAttachEndOfInput, {});
        return;
      }
      if (!send_packet(socket, kAttachInput, std::string_view(buffer, static_cast<size_t>(n))))
        return;
    }
  }

  // Keystrokes for the terminal; returns whether the user detached.
  bool forward_input() {
    char buffer[kAttachPacketSize - 1];
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return false;
    if (n <= 0) {
      stdin_open_ = false;
      return false;
    }
    std::string_view input(buffer, static_cast<size_t>(n));
    bool detach = false;
    auto keys = keys_.feed(input, detach);
    if (!keys.empty()) send_packet(socket_.get(), kAttachInput, keys);
    return detach;
  }

  UniqueFd socket_;
  AttachMode mode_;
  UniqueFd signals_;
  KeyFilter keys_;
  bool stdin_open_ = true;
};

AttachMode attach_mode(const ContainerRecord& record) {
  if (!record.detached)
    throw UsageError(fmt::format(
        "container {} runs in the foreground of the roost command that started it, which "
        "holds its streams; roost attach reaches containers started with -d (or started by "
        "'roost start' without -a); see 'roost logs -f {}'",
        record.name, record.name));
  if (record.plan.tty) return AttachMode::Terminal;
  if (record.plan.interactive) return AttachMode::Input;
  return AttachMode::OutputOnly;
}

}  // namespace

int cmd_attach(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  auto record = store.get(command.positionals[0]);
  if (record.status != kRunning)
    throw wrong_state(record, fmt::format("start it with 'roost start {}'", record.name));
  auto mode = attach_mode(record);
  auto socket = connect_to(store, record);
  if (mode == AttachMode::OutputOnly)
    std::fprintf(stderr,
                 "roost attach: container %s was started without -i: its stdin is not "
                 "attached; showing its output until it ends (ctrl-c leaves it running)\n",
                 record.name.c_str());
  AttachClient client(std::move(socket), mode);
  if (client.run() == AttachEnd::Detached) {
    std::fputs("\r\n", stdout);
    return 0;
  }
  return wait_for_exit_code(context, store, record);
}

}  // namespace roost::cli
