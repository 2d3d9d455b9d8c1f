#include "common/error.hpp"

#include <cerrno>
#include <cstring>

namespace roost {

Error::Error(std::string message, int errno_value) : errno_value_(errno_value) {
  text_ = std::move(message);
  if (errno_value_ != 0) {
    text_ += ": ";
    text_ += std::strerror(errno_value_);
  }
}

Error& Error::add_context(std::string outer) {
  context_.push_back(std::move(outer));
  return *this;
}

std::string Error::chain() const {
  std::string out;
  for (auto it = context_.rbegin(); it != context_.rend(); ++it) {
    out += *it;
    out += ": ";
  }
  return out + text_;
}

void throw_errno(std::string what) {
  throw_errno(std::move(what), errno);
}

void throw_errno(std::string what, int errno_value) {
  throw Error(std::move(what), errno_value);
}

}  // namespace roost

namespace roost {

std::string error_line(std::string_view message, int errno_value) {
  bool disk_full = errno_value == ENOSPC || errno_value == EDQUOT ||
                   message.ends_with(std::strerror(ENOSPC)) ||
                   message.ends_with(std::strerror(EDQUOT));
  std::string line = "Error: ";
  line += message;
  if (disk_full)
    line +=
        "; free space on that filesystem, or keep images and containers elsewhere with "
        "--root and --runroot";
  return line + "\n";
}

}  // namespace roost
