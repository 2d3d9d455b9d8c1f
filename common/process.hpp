#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/fd.hpp"

namespace roost::process {

struct Result {
  int exit_status = 0;  // as from waitpid
  std::string error_output;
};

// A program started by start(); wait() reaps it and returns its stderr. One that is
// never waited for is reaped by the destructor, so no zombie outlives the owner.
class Running {
 public:
  Running(pid_t pid, UniqueFd error_output, std::string program);
  Running(Running&& other) noexcept;
  Running& operator=(Running&&) = delete;
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  ~Running();

  Result wait();

 private:
  pid_t pid_;
  UniqueFd error_output_;
  std::string program_;
};

// Starts argv[0] (a path, no PATH search) with argv and its stderr captured, without
// waiting, so several programs can run at once. Never goes through a shell.
Running start(const std::vector<std::string>& argv);

// start(argv).wait().
Result run(const std::vector<std::string>& argv);

// Describes a wait status: "exited with status 1", "was killed by signal 9 (Killed)".
std::string describe_status(int wait_status);

}  // namespace roost::process
