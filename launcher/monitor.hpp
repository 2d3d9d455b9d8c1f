#pragma once

#include <termios.h>

#include <functional>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "launcher/plan.hpp"
#include "launcher/process_identity.hpp"

namespace roost::cli {

enum class Stream { Stdout, Stderr };

// Receives what the container writes, as it arrives. A sink whose reader is gone
// throws OutputClosed.
using OutputSink = std::function<void(Stream, std::string_view)>;

// The reader of roost's output went away (a pipe into `head` that ended): the relay
// stops copying and hangs up the container's end so that it ends too.
class OutputClosed : public Error {
 public:
  using Error::Error;
};

// The sink of a foreground command: roost's own stdout. Throws OutputClosed.
void write_to_stdout(Stream stream, std::string_view data);

struct ContainerExit {
  int status = 0;           // as the shell reports it: code, or 128+signal
  bool started = false;     // the command was executed (on_started ran)
  UniqueFd user_namespace;  // the container's user namespace, kept for cleanup
  std::string failure;      // why setup or exec failed, when it did
  bool out_of_memory = false;
  std::optional<uint64_t> memory_max;
  std::string cgroup;  // the scope's cgroup, when there is one
};

// More descriptors for a relay to watch: what `roost attach` connects to.
class RelayPeer {
 public:
  virtual ~RelayPeer() = default;
  virtual std::vector<int> fds() const = 0;
  virtual void on_readable(int fd) = 0;
};

struct MonitorIo {
  // Foreground: the container shares roost's standard streams (a terminal through the
  // relay). Captured: its stdout and stderr (or its terminal) go to `sink` alone and its
  // stdin is /dev/null.
  bool capture = false;
  OutputSink sink;
  // Captured with a terminal: called with the terminal once the container passed it.
  std::function<RelayPeer*(int terminal)> peer_for_terminal;
  // The container is killed if this process dies (SIGKILL leaves it no chance to stop it).
  bool end_with_monitor = false;
  // Foreground with a log: the container's output goes through roost (its terminal, or
  // pipes in place of roost's stdout and stderr) and is copied here as well.
  OutputSink log;
};

// Creates the container's first process in its namespaces, maps its ids, lets it run
// the plan, relays signals and the terminal, and returns when it ended. A setup or exec
// failure comes back as `failure` with podman's status (125, 126, 127).
// `on_started` runs once the command has been executed, with its identity and cgroup.
ContainerExit run_and_monitor(
    const ContainerPlan& plan, const MonitorIo& io,
    const std::function<void(const ProcessIdentity&, const std::string&)>& on_started);

// Removes `paths` as root of the user namespace held by `user_namespace` (files there
// may belong to any id the container mapped).
void remove_in_namespace(const UniqueFd& user_namespace,
                         const std::vector<std::filesystem::path>& paths);

// Streams and signals between roost and a process it started (a container or an exec'd
// command): forwards signals, copies stdin to a terminal and output to a sink, and
// returns the shell status once the process was reaped and its output drained.
struct RelayEnds {
  int terminal = -1;  // a pty master
  int out = -1;       // captured stdout
  int err = -1;       // captured stderr
  bool forward_stdin = false;
  RelayPeer* peer = nullptr;
  // Closes the terminal and the capture pipes (their owner's copies) once the sink
  // threw OutputClosed, so that the container reads EIO or EPIPE and gets SIGHUP.
  std::function<void()> close_output = nullptr;
};
int relay_until_exit(pid_t pid, const UniqueFd& pidfd, const RelayEnds& ends,
                     const OutputSink& sink, const std::function<void()>& on_memory_event = {},
                     int memory_event_fd = -1);

// Whether -t gets a terminal. With -i from a pipe or a file there is no terminal to
// relay, and a pty would echo the input into the output: roost warns once and goes on
// as with -i alone, as podman does.
bool terminal_for_input(bool tty, bool interactive);

// Puts the caller's terminal into raw mode for the relay and restores it afterwards.
// With `keys_signal` Ctrl-C and Ctrl-\ still make signals (for roost to forward) when
// no key is passed on to the container.
class RawTerminal {
 public:
  explicit RawTerminal(int fd, bool keys_signal = false);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  struct termios saved_ = {};
  bool active_ = false;
};

// Writes everything to `fd`, retrying short writes; false when the fd is gone.
bool write_fully(int fd, std::string_view data);

// Reads until end of file.
std::string read_until_eof(int fd);

}  // namespace roost::cli
