#include "launcher/attach_server.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/stderr_log.hpp"

namespace roost::cli {

UniqueFd open_directory(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("open " + dir);
  return fd;
}

struct sockaddr_un socket_address_in(int dir_fd, std::string_view name) {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  auto path = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + std::string(name);
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  return address;
}

UniqueFd listen_for_attach(const std::string& runtime_dir) {
  auto dir = open_directory(runtime_dir);
  auto path = runtime_dir + "/" + kAttachSocket;
  UniqueFd listener(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener) throw_errno("create the attach socket");
  ::unlink(path.c_str());
  auto address = socket_address_in(dir.get(), kAttachSocket);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0)
    throw_errno("bind the attach socket " + path);
  ::chmod(path.c_str(), 0600);
  if (::listen(listener.get(), 4) < 0) throw_errno("listen on the attach socket");
  return listener;
}

AttachServer::AttachServer(std::string socket_path, UniqueFd listener, int terminal)
    : path_(std::move(socket_path)), listener_(std::move(listener)), terminal_(terminal) {}

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
    stderr_log::warning("attach: a client that does not keep up was disconnected");
    drop(client);
  }
}

void AttachServer::accept_client() {
  UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  if (client) clients_.push_back(std::move(client));
}

void AttachServer::serve(int client) {
  char packet[kAttachPacketSize];
  ssize_t n = ::recv(client, packet, sizeof packet, MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    drop(client);
    return;
  }
  std::string_view payload(packet + 1, static_cast<size_t>(n) - 1);
  if (packet[0] == kAttachInput) write_fully(terminal_, payload);
  if (packet[0] == kAttachWindowSize && payload.size() == sizeof(struct winsize))
    ::ioctl(terminal_, TIOCSWINSZ, payload.data());
}

void AttachServer::drop(int client) {
  std::erase_if(clients_, [&](const UniqueFd& fd) { return fd.get() == client; });
}

}  // namespace roost::cli
