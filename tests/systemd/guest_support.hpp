// What the guest tests share: running programs (roost, systemctl, journalctl) and
// reading what systemd and the kernel report. Conventions as in guest_test.cpp.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace guest {

struct Ran {
  int status = -1;  // exit code, or 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv (argv[0] looked up in PATH) with its output collected; stdout goes through
// a file in the working directory, so a detached child that keeps it cannot hang this.
Ran run(const std::vector<std::string>& argv);

std::string environment_or(const char* name, const char* fallback);

// $ROOST_BIN, the binary under test.
std::string roost_bin();
Ran run_roost(std::vector<std::string> args);

// systemctl --user --no-pager ARGS.
Ran systemctl(std::vector<std::string> args);

// One property of a user unit, without its newline.
std::string show(const std::string& unit, const std::string& property);

// A file of the unit's cgroup, as the kernel has it.
std::string unit_cgroup_file(const std::string& unit, const std::string& file);

std::string describe(const Ran& ran);
std::string journal_of(const std::string& unit);

// `systemctl --user status` and the journal of the unit, for a failure message.
std::string diagnose(const std::string& unit);

// Polls done() every 250 ms until it holds or the time is up.
void wait_until(const std::function<bool()>& done, std::chrono::seconds limit);

// The unified (0::) cgroup of process pid: "/user.slice/...".
std::string cgroup_of(pid_t pid);

// A busybox image made in the guest (/bin/busybox with its applets as links), imported
// once as guest/busybox:1.
const std::string& busybox_image();

// Text trimmed of its trailing newlines.
std::string chomp(std::string text);

size_t occurrences(const std::string& text, const std::string& part);

// The container's process as `roost inspect` has it; 0 when there is none.
pid_t container_pid(const std::string& name);

// Containers a test removes (rm -f) before it starts and however it ends.
class Removing {
 public:
  explicit Removing(std::vector<std::string> names);
  ~Removing();
  Removing(const Removing&) = delete;
  Removing& operator=(const Removing&) = delete;

 private:
  std::vector<std::string> names_;
};

}  // namespace guest
