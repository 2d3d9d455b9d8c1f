#include "launcher/descriptors.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace roost::cli {

namespace {

// One byte of data, which a stream socket needs to carry the control message, and room
// for one descriptor.
class FdMessage {
 public:
  FdMessage() {
    message_.msg_iov = &io_;
    message_.msg_iovlen = 1;
    message_.msg_control = control_;
    message_.msg_controllen = sizeof control_;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;

  struct msghdr* get() {
    return &message_;
  }

 private:
  char data_ = 'f';
  struct iovec io_ = {&data_, 1};
  alignas(struct cmsghdr) char control_[CMSG_SPACE(sizeof(int))] = {};
  struct msghdr message_ = {};
};

}  // namespace

void close_descriptors_except(std::initializer_list<int> keep, int first_closed) {
  std::vector<int> kept;
  for (int fd : keep)
    if (fd >= first_closed) kept.push_back(fd);
  std::sort(kept.begin(), kept.end());
  auto first = static_cast<unsigned int>(first_closed);
  for (int fd : kept) {
    if (static_cast<unsigned int>(fd) > first) ::close_range(first, fd - 1, 0);
    first = static_cast<unsigned int>(fd) + 1;
  }
  ::close_range(first, UINT_MAX, 0);
}

void redirect_standard_streams(const char* output) {
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) throw_errno("open /dev/null");
  UniqueFd out;
  if (output != nullptr && *output != '\0') {
    out.reset(::open(output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!out) throw_errno(fmt::format("open {}", output));
  }
  int out_fd = out ? out.get() : null.get();
  if (::dup2(null.get(), STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
      ::dup2(out_fd, STDERR_FILENO) < 0)
    throw_errno("redirect the standard streams");
}

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

void send_fd(int socket, int fd, const std::string& what) {
  FdMessage message;
  struct cmsghdr* header = CMSG_FIRSTHDR(message.get());
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &fd, sizeof(int));
  if (::sendmsg(socket, message.get(), 0) < 0) throw_errno(what);
}

UniqueFd receive_fd(int socket) {
  FdMessage message;
  ssize_t n;
  do n = ::recvmsg(socket, message.get(), MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  struct cmsghdr* header = n > 0 ? CMSG_FIRSTHDR(message.get()) : nullptr;
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) return UniqueFd();
  int fd;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return UniqueFd(fd);
}

}  // namespace roost::cli
