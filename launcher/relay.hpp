#pragma once

#include <sys/types.h>

#include <functional>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"

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

// More descriptors for a relay to watch: what `roost attach` connects to, the socket a
// container sends its service notifications to.
class RelayPeer {
 public:
  virtual ~RelayPeer() = default;
  virtual std::vector<int> fds() const = 0;
  virtual void on_readable(int fd) = 0;
  // Descriptors it has something to write to, called back when one takes more.
  virtual std::vector<int> writable_fds() const { return {}; }
  virtual void on_writable(int) {}
};

// Streams and signals between roost and a process it started (a container or an exec'd
// command): forwards signals, copies stdin to a terminal and output to a sink, and
// returns the shell status once the process was reaped and its output drained.
struct RelayEnds {
  int terminal = -1;  // a pty master
  int out = -1;       // captured stdout
  int err = -1;       // captured stderr
  bool forward_stdin = false;
  std::vector<RelayPeer*> peers = {};
  // Closes the terminal and the capture pipes (their owner's copies) once the sink
  // threw OutputClosed, so that the container reads EIO or EPIPE and gets SIGHUP.
  std::function<void()> close_output = nullptr;
};
int relay_until_exit(pid_t pid, const UniqueFd& pidfd, const RelayEnds& ends,
                     const OutputSink& sink, const std::function<void()>& on_memory_event = {},
                     int memory_event_fd = -1);

// Writes everything to `fd`, retrying short writes; false when the fd is gone.
bool write_fully(int fd, std::string_view data);

}  // namespace roost::cli
