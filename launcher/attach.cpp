// roost attach: the terminal of a detached container, until the container ends (exit
// with its status) or the user types ctrl-p ctrl-q (exit 0, the container runs on).

#include "launcher/attach.hpp"

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
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "common/error.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/lifecycle.hpp"

namespace roost::cli {

namespace {

constexpr char kInput = 'i';
constexpr char kWindowSize = 'w';
constexpr char kDetachFirst = 0x10;   // ctrl-p
constexpr char kDetachSecond = 0x11;  // ctrl-q
constexpr size_t kPacketSize = 16384;

// The socket's path through the directory's descriptor: runtime directories can be
// deeper than the 108 bytes a socket address holds.
struct sockaddr_un socket_address(int dir_fd, std::string_view name) {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  auto path = fmt::format("/proc/self/fd/{}/{}", dir_fd, name);
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  return address;
}

UniqueFd open_directory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("open {}", dir.string()));
  return fd;
}

bool send_packet(int socket, char type, std::string_view payload) {
  std::string packet(1, type);
  packet.append(payload);
  return ::send(socket, packet.data(), packet.size(), MSG_NOSIGNAL) ==
         static_cast<ssize_t>(packet.size());
}

void send_window_size(int socket) {
  struct winsize size;
  if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &size) == 0)
    send_packet(socket, kWindowSize, std::string_view(reinterpret_cast<char*>(&size), sizeof size));
}

UniqueFd connect_to(const ContainerStore& store, const ContainerRecord& record) {
  auto dir = open_directory(store.runtime_dir(record.id));
  UniqueFd socket(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!socket) throw_errno("create a socket to attach");
  auto address = socket_address(dir.get(), kAttachSocket);
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
    char buffer[kPacketSize];
    ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) return false;
    write_fully(STDOUT_FILENO, std::string_view(buffer, static_cast<size_t>(n)));
    return true;
  }

  // Returns whether the user detached.
  bool forward_keys() {
    char buffer[kPacketSize - 1];
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) return false;
    if (n <= 0) {
      stdin_open_ = false;
      return false;
    }
    bool detach = false;
    auto keys = keys_.feed(std::string_view(buffer, static_cast<size_t>(n)), detach);
    if (!keys.empty()) send_packet(socket_.get(), kInput, keys);
    return detach;
  }

  UniqueFd socket_;
  UniqueFd signals_;
  KeyFilter keys_;
  bool stdin_open_ = true;
};

}  // namespace

AttachServer::AttachServer(const std::filesystem::path& runtime_dir, int terminal)
    : path_(runtime_dir / kAttachSocket), terminal_(terminal) {
  auto dir = open_directory(runtime_dir);
  listener_.reset(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener_) throw_errno("create the attach socket");
  ::unlink(path_.c_str());
  auto address = socket_address(dir.get(), kAttachSocket);
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
    throw_errno(fmt::format("bind the attach socket {}", path_.string()));
  ::chmod(path_.c_str(), 0600);
  if (::listen(listener_.get(), 4) < 0) throw_errno("listen on the attach socket");
}

AttachServer::~AttachServer() {
  ::unlink(path_.c_str());
}

std::vector<int> AttachServer::fds() const {
  std::vector<int> fds = {listener_.get()};
  for (const auto& client : clients_) fds.push_back(client.get());
  return fds;
}

void AttachServer::on_readable(int fd) {
  if (fd == listener_.get())
    accept_client();
  else
    serve(fd);
}

void AttachServer::broadcast(std::string_view output) {
  std::vector<int> slow;
  for (const auto& client : clients_)
    if (::send(client.get(), output.data(), output.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
      slow.push_back(client.get());
  for (int client : slow) {
    spdlog::warn("attach: a client that does not keep up was disconnected");
    drop(client);
  }
}

void AttachServer::accept_client() {
  UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (client) clients_.push_back(std::move(client));
}

void AttachServer::serve(int client) {
  char packet[kPacketSize];
  ssize_t n = ::recv(client, packet, sizeof packet, MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    drop(client);
    return;
  }
  std::string_view payload(packet + 1, static_cast<size_t>(n) - 1);
  if (packet[0] == kInput) write_fully(terminal_, payload);
  if (packet[0] == kWindowSize && payload.size() == sizeof(struct winsize))
    ::ioctl(terminal_, TIOCSWINSZ, payload.data());
}

void AttachServer::drop(int client) {
  std::erase_if(clients_, [&](const UniqueFd& fd) { return fd.get() == client; });
}

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
