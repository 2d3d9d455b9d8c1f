#pragma once

#include <termios.h>

#include <functional>
#include <string_view>
#include <vector>

#include "cgroups/oom_watch.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "launcher/plan.hpp"
#include "launcher/process_identity.hpp"
#include "launcher/relay.hpp"

namespace roost::cli {

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

struct MonitorIo {
  // Foreground: the container shares roost's standard streams (a terminal through the
  // relay). Captured: its stdout and stderr (or its terminal) go to `sink` alone and its
  // stdin is a pipe the monitor holds with -i, /dev/null without.
  bool capture = false;
  OutputSink sink;
  // Captured: called once the container runs, with its terminal (or -1) and the write
  // end of its stdin (or -1), for what `roost attach` connects to.
  std::function<RelayPeer*(int terminal, UniqueFd input)> attach_peer;
  // The container is killed if this process dies (SIGKILL leaves it no chance to stop it).
  bool end_with_monitor = false;
  // Foreground with a log: the container's output goes through roost (its terminal, or
  // pipes in place of roost's stdout and stderr) and is copied here as well.
  OutputSink log;
  // The log is where the output goes, with no copy to roost's stdout and stderr.
  bool log_replaces_output = false;
  // Called with the first process's identity and cgroup once it sits in its namespaces
  // and cgroup, before it may run anything: a start recorded only after the exec is lost
  // when roost dies in between, and the container's record would stay "created".
  std::function<void(const ProcessIdentity&, const std::string&)> record_start;
};

// Creates the container's first process in its namespaces, maps its ids, lets it run
// the plan, relays signals and the terminal, and returns when it ended. A setup or exec
// failure comes back as `failure` with podman's status (125, 126, 127).
// `on_started` runs once the command has been executed, with its identity and cgroup.
ContainerExit run_and_monitor(
    const ContainerPlan& plan, const MonitorIo& io,
    const std::function<void(const ProcessIdentity&, const std::string&)>& on_started);

// The two halves of run_and_monitor, for a monitor that hands the relay to roost-monitor.
// A started container: its first process, released, with what its monitor holds.
struct StartedContainer {
  pid_t pid = 0;
  UniqueFd pidfd;
  UniqueFd terminal;  // the pty master, with a terminal
  UniqueFd out;       // captured stdout and stderr, without one
  UniqueFd err;
  UniqueFd input;  // the write end of its stdin, when captured with -i and no terminal
  std::optional<cgroups::OomWatch> oom;  // the container's cgroup, when it has one
  ContainerExit result;                  // started, or why not; the user namespace
};
StartedContainer start_container(
    const ContainerPlan& plan, const MonitorIo& io,
    const std::function<void(const ProcessIdentity&, const std::string&)>& on_started);
ContainerExit monitor_until_exit(const ContainerPlan& plan, const MonitorIo& io,
                                 StartedContainer& container);

// Removes `paths` as root of the user namespace held by `user_namespace` (files there
// may belong to any id the container mapped).
void remove_in_namespace(const UniqueFd& user_namespace,
                         const std::vector<std::filesystem::path>& paths);

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

// Reads until end of file.
std::string read_until_eof(int fd);

}  // namespace roost::cli
