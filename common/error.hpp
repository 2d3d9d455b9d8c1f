#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <vector>

namespace roost {

// The one error type of roost. The message names the operation and the object; a
// system error adds its errno text. Callers add context on the way up; the top prints
// the message alone by default and the whole chain at debug level.
class Error : public std::exception {
 public:
  explicit Error(std::string message, int errno_value = 0);

  const char* what() const noexcept override { return text_.c_str(); }
  int errno_value() const { return errno_value_; }
  const std::vector<std::string>& context() const { return context_; }
  std::string chain() const;

  Error& add_context(std::string outer);

 private:
  std::string text_;
  int errno_value_;
  std::vector<std::string> context_;
};

// A bad command line, image reference, option value or configuration: exit 125 too,
// but never with an errno text.
class UsageError : public Error {
 public:
  explicit UsageError(std::string message) : Error(std::move(message)) {}
};

// The line roost prints for a failure: "Error: MESSAGE", and for a full disk (its errno,
// or its errno text at the end of a message that crossed from another process) what the
// user can do about it.
std::string error_line(std::string_view message, int errno_value = 0);

// Captures errno at once; call directly after the failing system call.
[[noreturn]] void throw_errno(std::string what);
[[noreturn]] void throw_errno(std::string what, int errno_value);

// Runs f; an Error escaping it gets `outer` prepended to its context chain.
template <typename F>
auto with_context(std::string outer, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (Error& e) {
    e.add_context(std::move(outer));
    throw;
  }
}

}  // namespace roost
