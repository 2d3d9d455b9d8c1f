#include "common/process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <utility>

#include "common/error.hpp"
#include "common/fd.hpp"

extern char** environ;

namespace roost::process {

Running::Running(pid_t pid, UniqueFd error_output, std::string program)
    : pid_(pid), error_output_(std::move(error_output)), program_(std::move(program)) {}

Running::Running(Running&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      error_output_(std::move(other.error_output_)),
      program_(std::move(other.program_)) {}

Running::~Running() {
  if (pid_ < 0) return;
  error_output_.reset();
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Result Running::wait() {
  Result result;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(error_output_.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.error_output.append(buffer, static_cast<size_t>(n));
  }
  while (::waitpid(pid_, &result.exit_status, 0) < 0) {
    if (errno != EINTR) throw_errno(fmt::format("wait for {} (pid {})", program_, pid_));
  }
  pid_ = -1;
  while (!result.error_output.empty() &&
         (result.error_output.back() == '\n' || result.error_output.back() == ' '))
    result.error_output.pop_back();
  return result;
}

Running start(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv.at(0).c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw_errno(fmt::format("run {}", argv[0]), rc);
  return Running(pid, std::move(read_end), argv[0]);
}

Result run(const std::vector<std::string>& argv) {
  return start(argv).wait();
}

std::string describe_status(int wait_status) {
  if (WIFEXITED(wait_status)) return fmt::format("exited with status {}", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(wait_status),
                       ::strsignal(WTERMSIG(wait_status)));
  return fmt::format("ended with wait status {:#x}", wait_status);
}

}  // namespace roost::process
