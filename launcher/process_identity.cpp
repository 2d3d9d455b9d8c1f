#include "launcher/process_identity.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <csignal>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::cli {

namespace {

struct StatFields {
  char state = 0;
  uint64_t start_time = 0;
};

// The fields after the command name, which may itself hold spaces and parentheses.
std::optional<StatFields> read_stat(pid_t pid) {
  std::string text;
  try {
    text = fs::read_file(fmt::format("/proc/{}/stat", pid));
  } catch (const Error&) {
    return std::nullopt;
  }
  auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return std::nullopt;
  StatFields fields;
  fields.state = text[close + 2];
  const char* cursor = text.c_str() + close + 2;
  // Field 3 is the state; the start time is field 22.
  for (int field = 3; field < 22 && cursor != nullptr; ++field) {
    cursor = std::strchr(cursor, ' ');
    if (cursor != nullptr) ++cursor;
  }
  if (cursor == nullptr) return std::nullopt;
  fields.start_time = std::strtoull(cursor, nullptr, 10);
  return fields;
}

}  // namespace

const std::string& current_boot_id() {
  static const std::string boot_id = [] {
    auto text = fs::read_file("/proc/sys/kernel/random/boot_id");
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }();
  return boot_id;
}

std::optional<ProcessIdentity> identify_process(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  auto fields = read_stat(pid);
  if (!fields || fields->state == 'Z' || fields->state == 'X') return std::nullopt;
  return ProcessIdentity{pid, fields->start_time, current_boot_id()};
}

bool is_running(const ProcessIdentity& process) {
  if (process.empty() || process.boot_id != current_boot_id()) return false;
  auto now = identify_process(process.pid);
  return now && now->start_time == process.start_time;
}

UniqueFd open_recorded_process(const ProcessIdentity& process) {
  if (process.empty() || process.boot_id != current_boot_id()) return UniqueFd();
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, process.pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return UniqueFd();
    throw_errno(fmt::format("open a pidfd for pid {}", process.pid));
  }
  if (!is_running(process)) return UniqueFd();
  return pidfd;
}

bool send_signal(const UniqueFd& pidfd, int signal) {
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) == 0) return true;
  if (errno == ESRCH) return false;
  throw_errno(fmt::format("send signal {} ({})", signal, ::sigabbrev_np(signal)));
}

bool wait_for_exit(const UniqueFd& pidfd, int timeout_ms) {
  struct pollfd fd = {pidfd.get(), POLLIN, 0};
  for (;;) {
    int ready = ::poll(&fd, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw_errno("wait for a process to end");
    return ready > 0;
  }
}

}  // namespace roost::cli
