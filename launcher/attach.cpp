// roost attach: the terminal of a detached container, until the container ends (exit
// with its status) or the user types ctrl-p ctrl-q (exit 0, the container runs on).

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
  if (::connect(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
    throw_errno(fmt::format("attach to container {}", record.name));
  return socket;
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

class AttachClient {
 public:
  explicit AttachClient(UniqueFd socket) : socket_(std::move(socket)) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) throw_errno("create a signalfd");
  }

  AttachEnd run() {
    send_window_size(socket_.get());
    RawTerminal raw(STDIN_FILENO);
    for (;;) {
      struct pollfd fds[3] = {{socket_.get(), POLLIN, 0},
                              {stdin_open_ ? STDIN_FILENO : -1, POLLIN, 0},
                              {signals_.get(), POLLIN, 0}};
      if (::poll(fds, 3, -1) < 0 && errno != EINTR) throw_errno("poll the attached terminal");
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !show_output())
        return AttachEnd::ContainerEnded;
      if ((fds[1].revents & (POLLIN | POLLHUP)) && forward_keys()) return AttachEnd::Detached;
      if (fds[2].revents & POLLIN) {
        struct signalfd_siginfo info;
        while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
        }
        send_window_size(socket_.get());
      }
    }
  }

 private:
  bool show_output() {
    char buffer[kAttachPacketSize];
    ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    write_fully(STDOUT_FILENO, std::string_view(buffer, static_cast<size_t>(n)));
    return true;
  }

  // Returns whether the user detached.
  bool forward_keys() {
    char buffer[kAttachPacketSize - 1];
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return false;
    if (n <= 0) {
      stdin_open_ = false;
      return false;
    }
    bool detach = false;
    auto keys = keys_.feed(std::string_view(buffer, static_cast<size_t>(n)), detach);
    if (!keys.empty()) send_packet(socket_.get(), kAttachInput, keys);
    return detach;
  }

  UniqueFd socket_;
  UniqueFd signals_;
  KeyFilter keys_;
  bool stdin_open_ = true;
};

}  // namespace

int cmd_attach(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  auto record = store.get(command.positionals[0]);
  if (record.status != kRunning)
    throw wrong_state(record, fmt::format("start it with 'roost start {}'", record.name));
  if (!record.plan.tty || !record.detached)
    throw UsageError(fmt::format(
        "container {} has no terminal to attach to (it was not started with -dt); see 'roost "
        "logs -f {}'",
        record.name, record.name));
  AttachClient client(connect_to(store, record));
  if (client.run() == AttachEnd::Detached) {
    std::fputs("\r\n", stdout);
    return 0;
  }
  return wait_for_exit_code(context, store, record);
}

}  // namespace roost::cli
