#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace roost::process {

struct Result {
  int exit_status = 0;  // as from waitpid
  std::string error_output;
};

// Runs argv[0] (a path, no PATH search) with argv, waits, and collects its stderr.
// Never goes through a shell.
Result run(const std::vector<std::string>& argv);

// Describes a wait status: "exited with status 1", "was killed by signal 9 (Killed)".
std::string describe_status(int wait_status);

}  // namespace roost::process
