#pragma once

#include <initializer_list>

namespace roost::cli {

// Closes every descriptor from `first` (3) up except those in `keep`, so that a
// long-lived process (a monitor, a container's init) holds no lock or pipe of the roost
// command that started it. A higher `first` keeps sockets passed by systemd at 3...
void close_descriptors_except(std::initializer_list<int> keep, int first = 3);

// Points fd 0 at /dev/null, and fds 1 and 2 at `output` (a file, appended to; /dev/null
// when empty). Throws Error naming the file.
void redirect_standard_streams(const char* output);

}  // namespace roost::cli
