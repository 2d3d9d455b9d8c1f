#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rootless {

using Seconds = std::chrono::seconds;
using Millis = std::chrono::milliseconds;

// What a finished program left behind. exit_code is the shell's view: the status, or
// 128+N when killed by signal N; -1 while unknown.
struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;

  // The command line, status and both streams, for assertion messages.
  std::string describe() const;
};

struct Spawn {
  Spawn(std::vector<std::string> argv, std::vector<std::string> env)
      : argv(std::move(argv)), env(std::move(env)) {}

  std::vector<std::string> argv;     // argv[0] is a path or a name looked up in PATH
  std::vector<std::string> env;      // the whole environment, KEY=VALUE
  std::optional<std::string> input;  // written to stdin, then closed; none: /dev/null
  std::string cwd;
  Seconds timeout{120};
};

// Runs to the end (killing the program at the timeout) and collects both streams.
Outcome run(const Spawn& spawn);

// A program left running while a test talks to it: stdout and stderr come through
// pipes, stdin is /dev/null. Killed and reaped if the test ends early.
class Background {
 public:
  explicit Background(const Spawn& spawn);
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background();

  pid_t pid() const { return pid_; }
  // Reads until stdout holds `text`; false at the timeout or when the program ends.
  bool wait_for_output(std::string_view text, Millis timeout);
  void signal(int signal_number) const;
  // Waits for the end (killing at the timeout) and returns everything it wrote.
  Outcome finish(Millis timeout);

 private:
  bool pump(Millis timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> exit_code_;  // once reaped
  Outcome outcome_;
};

// A program on the slave side of a pty this class opens, as session leader with that
// terminal as its controlling terminal; the test plays the user at the master side.
class PtySession {
 public:
  PtySession(const Spawn& spawn, unsigned short rows, unsigned short columns);
  PtySession(const PtySession&) = delete;
  PtySession& operator=(const PtySession&) = delete;
  ~PtySession();

  pid_t pid() const { return pid_; }
  void type(std::string_view keys) const;
  void resize(unsigned short rows, unsigned short columns) const;
  // Reads until the output holds `text`; false at the timeout or at the end of output.
  bool wait_for_output(std::string_view text, Millis timeout);
  // Everything read from the terminal so far.
  const std::string& screen() const { return screen_; }
  // Waits for the end (killing at the timeout); returns the exit code as in Outcome.
  int finish(Millis timeout);

 private:
  bool pump(Millis timeout);

  pid_t pid_ = -1;
  int master_fd_ = -1;
  std::optional<int> exit_code_;  // once reaped
  std::string screen_;
};

// Processes below `ancestor` (children, grandchildren, ...) on this host.
std::vector<pid_t> descendants_of(pid_t ancestor);

// The host pid of the process that is PID 1 in a pid namespace below `ancestor`.
std::optional<pid_t> namespace_init_below(pid_t ancestor);

// Full path of a program found in PATH, or empty.
std::string find_in_path(std::string_view name);

}  // namespace rootless
