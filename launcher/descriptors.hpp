#pragma once

#include <fcntl.h>

#include <initializer_list>
#include <string>

#include "common/fd.hpp"

namespace roost::cli {

// Closes every descriptor from `first` (3) up except those in `keep`, so that a
// long-lived process (a monitor, a container's init) holds no lock or pipe of the roost
// command that started it. A higher `first` keeps sockets passed by systemd at 3...
void close_descriptors_except(std::initializer_list<int> keep, int first = 3);

// Points fd 0 at /dev/null, and fds 1 and 2 at `output` (a file, appended to; /dev/null
// when empty). Throws Error naming the file.
void redirect_standard_streams(const char* output);

struct Pipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

Pipe make_pipe(int flags = O_CLOEXEC);
// Both ends of a unix stream socket pair, close-on-exec: descriptors travel over it.
Pipe make_socket_pair();

// Passes `fd` over a unix socket; throws Error saying `what` failed.
void send_fd(int socket, int fd, const std::string& what);
// Reads a descriptor passed over a unix socket; empty when the peer closed it first.
UniqueFd receive_fd(int socket);

}  // namespace roost::cli
