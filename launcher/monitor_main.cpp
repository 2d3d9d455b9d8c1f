// roost-monitor: what a detached container's monitor becomes once the container runs
// (see detach.cpp). It relays the container's output to its log and to `roost attach`,
// passes signals and service notifications on, and when the container has ended
// executes roost to record the end. Linked statically and without fmt, spdlog or
// libsystemd: it stays as long as the container, and its memory is what stays.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroups/oom_watch.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/stderr_log.hpp"
#include "launcher/attach_server.hpp"
#include "launcher/container_log.hpp"
#include "launcher/monitor_handoff.hpp"
#include "launcher/relay.hpp"
#include "launcher/service_notify.hpp"
#include "launcher/signals.hpp"

namespace {

using namespace roost;
using namespace roost::cli;

constexpr int kMonitorFailed = 125;

void report_error(std::string_view message) {
  std::string line = std::string(kMonitorProgram) + ": error: " + std::string(message) + "\n";
  [[maybe_unused]] ssize_t written = ::write(STDERR_FILENO, line.data(), line.size());
}

// A descriptor handed over; it is not passed on to roost at the end.
UniqueFd adopt(int fd) {
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return UniqueFd(fd);
}

// A log that cannot be opened again loses the output, not the container.
std::optional<ContainerLog> open_log(const MonitorHandoff& handoff) {
  try {
    return ContainerLog(handoff.log_driver, handoff.log_path, handoff.log_max_size,
                        handoff.journal);
  } catch (const Error& error) {
    stderr_log::warning("container " + handoff.journal.container_name + ": " + error.what() +
                        "; its output is not kept");
    return std::nullopt;
  }
}

struct Relayed {
  int status = 0;
  uint64_t oom_kills = 0;
};

Relayed relay_container(const MonitorHandoff& handoff) {
  UniqueFd pidfd = adopt(handoff.pidfd);
  UniqueFd terminal = adopt(handoff.terminal);
  UniqueFd out = adopt(handoff.out);
  UniqueFd err = adopt(handoff.err);
  std::optional<cgroups::OomWatch> oom;
  if (handoff.oom_inotify >= 0)
    oom.emplace(handoff.cgroup, adopt(handoff.oom_inotify), handoff.oom_kills);
  std::optional<AttachServer> attach;
  if (handoff.attach_listener >= 0)
    attach.emplace(handoff.attach_path, adopt(handoff.attach_listener), terminal.get(),
                   adopt(handoff.input));
  std::optional<NotifyRelay> notify;
  if (handoff.notify_relay >= 0) notify.emplace(adopt(handoff.notify_relay));
  auto log = open_log(handoff);
  RelayEnds ends{terminal.get(), out.get(), err.get(), false};
  if (attach) ends.peers.push_back(&*attach);
  if (notify) ends.peers.push_back(&*notify);
  auto sink = [&](Stream stream, std::string_view data) {
    if (log) log->write(stream, data);
    if (attach) attach->broadcast(stream, data);
  };
  Relayed relayed;
  relayed.status = relay_until_exit(
      handoff.pid, pidfd, ends, sink, [&] { oom->update(); }, oom ? oom->fd() : -1);
  if (oom) {
    oom->update();
    relayed.oom_kills = oom->oom_kills();
  }
  return relayed;
}

// Becomes the roost that records the end (and removes the container for --rm).
void finish(const MonitorHandoff& handoff, const Relayed& relayed) {
  std::vector<std::string> arguments = {"roost"};
  arguments.insert(arguments.end(), handoff.finish_command.begin(), handoff.finish_command.end());
  arguments.push_back(std::to_string(relayed.status));
  arguments.push_back(std::to_string(relayed.oom_kills));
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  ::execveat(handoff.roost_executable, "", argv.data(), environ, AT_EMPTY_PATH);
  report_error("execute roost to record the end of container " + handoff.journal.container_name +
               " (status " + std::to_string(relayed.status) + "): " + std::strerror(errno) +
               "; the next roost command that meets it records it as stopped");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto handoff = parse_handoff(std::vector<std::string_view>(argv + 1, argv + argc));
    if (handoff.debug) stderr_log::set_level(stderr_log::Level::Debug);
    // Blocked already in the monitor that executed this; blocked again in case it was not.
    block_forwarded_signals();
    adopt(handoff.roost_executable).release();
    auto relayed = relay_container(handoff);
    finish(handoff, relayed);
  } catch (const Error& error) {
    report_error(error.what());
  }
  return kMonitorFailed;
}
