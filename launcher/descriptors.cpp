#include "launcher/descriptors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace roost::cli {

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

}  // namespace roost::cli
