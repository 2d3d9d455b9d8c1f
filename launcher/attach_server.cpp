#include "launcher/attach_server.hpp"

#include <fcntl.h>
#include <signal.h>
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

namespace {

// A write to a pipe whose reader is gone raised SIGPIPE, which a monitor blocks: it is
// taken here so that the relay does not pass it on to the container as if it had been
// sent to the monitor.
void take_broken_pipe_signal() {
  sigset_t broken_pipe;
  sigemptyset(&broken_pipe);
  sigaddset(&broken_pipe, SIGPIPE);
  struct timespec now = {};
  ::sigtimedwait(&broken_pipe, nullptr, &now);
}

}  // namespace

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

AttachServer::AttachServer(std::string socket_path, UniqueFd listener, int terminal, UniqueFd input)
    : path_(std::move(socket_path)),
      listener_(std::move(listener)),
      terminal_(terminal),
      input_(std::move(input)) {
  // A container that does not read its stdin must not stop the relay of its output.
  if (input_) ::fcntl(input_.get(), F_SETFL, ::fcntl(input_.get(), F_GETFL) | O_NONBLOCK);
}

AttachServer::~AttachServer() {
  ::unlink(path_.c_str());
}

std::vector<int> AttachServer::fds() const {
  std::vector<int> fds = {listener_.get()};
  if (pending_input_.empty())
    for (const auto& client : clients_) fds.push_back(client.get());
  return fds;
}

void AttachServer::on_readable(int fd) {
  if (fd == listener_.get())
    accept_client();
  else
    serve(fd);
}

std::vector<int> AttachServer::writable_fds() const {
  if (input_ && !pending_input_.empty()) return {input_.get()};
  return {};
}

void AttachServer::on_writable(int) {
  write_input();
}

void AttachServer::broadcast(Stream stream, std::string_view output) {
  std::string tagged;
  if (terminal_ < 0) {
    tagged.push_back(stream == Stream::Stdout ? kAttachStdout : kAttachStderr);
    tagged.append(output);
    output = tagged;
  }
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
  if (packet[0] == kAttachInput && terminal_ >= 0) write_fully(terminal_, payload);
  if (packet[0] == kAttachInput && input_) {
    pending_input_.append(payload);
    write_input();
  }
  if (packet[0] == kAttachEndOfInput && input_) {
    input_ended_ = true;
    write_input();
  }
  if (packet[0] == kAttachWindowSize && terminal_ >= 0 && payload.size() == sizeof(struct winsize))
    ::ioctl(terminal_, TIOCSWINSZ, payload.data());
}

void AttachServer::drop(int client) {
  std::erase_if(clients_, [&](const UniqueFd& fd) { return fd.get() == client; });
}

// What the pipe takes now; the rest waits for it to take more.
void AttachServer::write_input() {
  while (!pending_input_.empty()) {
    ssize_t n = ::write(input_.get(), pending_input_.data(), pending_input_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      if (errno == EPIPE) take_broken_pipe_signal();
      close_input();
      return;
    }
    pending_input_.erase(0, static_cast<size_t>(n));
  }
  if (input_ended_) close_input();
}

// The container's stdin ends: the user's input did, or the container closed its end.
void AttachServer::close_input() {
  input_.reset();
  pending_input_.clear();
}

}  // namespace roost::cli
