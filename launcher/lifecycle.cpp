#include "launcher/lifecycle.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/launch.hpp"
#include "launcher/signals.hpp"

namespace roost::cli {

namespace {

// How long a container may take to die after SIGKILL, and its monitor to record it.
constexpr int kKillGraceMs = 30'000;
constexpr int kRecordGraceMs = 30'000;
constexpr auto kWaitPollInterval = std::chrono::milliseconds(100);

std::string describe_state(const ContainerRecord& record) {
  if (record.status == kExited && record.exit_code)
    return fmt::format("exited (code {})", *record.exit_code);
  if (record.status == kCorrupt) return fmt::format("corrupt ({})", record.error);
  return record.status;
}

// Every pid in /proc.
std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    auto name = entry.path().filename().string();
    if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit))
      pids.push_back(std::stoi(name));
  }
  return pids;
}

bool writes_to(pid_t pid, const std::filesystem::path& file) {
  std::error_code error;
  for (int fd : {STDOUT_FILENO, STDERR_FILENO})
    if (std::filesystem::read_symlink(fmt::format("/proc/{}/fd/{}", pid, fd), error) == file)
      return true;
  return false;
}

pid_t parent_of(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string state;
  pid_t parent = 0;
  fields >> state >> parent;
  return parent;
}

bool holds_open(pid_t pid, const std::filesystem::path& file) {
  std::error_code error;
  std::filesystem::directory_iterator fds(fmt::format("/proc/{}/fd", pid), error);
  for (; !error && fds != std::filesystem::directory_iterator(); fds.increment(error))
    if (std::filesystem::read_symlink(fds->path(), error) == file) return true;
  return false;
}

std::filesystem::path foreground_marker(const ContainerStore& store, const std::string& id) {
  return store.runtime_dir(id) / "foreground";
}

// The monitor of a detached container (writing to its monitor.log) or the roost command
// running it in the foreground (holding its marker), with its children, found without
// the container's state.
std::vector<ProcessIdentity> find_monitor_and_children(const ContainerStore& store,
                                                       const std::string& id) {
  std::error_code error;
  auto monitor_log =
      std::filesystem::weakly_canonical(store.runtime_dir(id) / "monitor.log", error);
  auto marker = std::filesystem::weakly_canonical(foreground_marker(store, id), error);
  std::vector<ProcessIdentity> found;
  auto pids = all_pids();
  for (pid_t pid : pids) {
    if (pid == ::getpid() || (!writes_to(pid, monitor_log) && !holds_open(pid, marker))) continue;
    auto monitor = identify_process(pid);
    if (!monitor) continue;
    for (pid_t child : pids)
      if (auto process = identify_process(child); process && parent_of(child) == pid)
        found.push_back(*process);
    found.push_back(*monitor);
  }
  return found;
}

}  // namespace

UniqueFd hold_foreground_marker(const ContainerStore& store, const ContainerRecord& record) {
  auto marker = foreground_marker(store, record.id);
  fs::make_dirs(marker.parent_path(), 0700);
  UniqueFd held(::open(marker.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
  if (!held) throw_errno(fmt::format("create {}", marker.string()));
  return held;
}

void kill_processes_of_corrupt(const ContainerStore& store, const ContainerRecord& record) {
  auto processes = store.recorded_processes(record.id);
  if (processes.empty()) processes = find_monitor_and_children(store, record.id);
  for (const auto& process : processes) {
    UniqueFd pidfd = open_recorded_process(process);
    if (!pidfd || !send_signal(pidfd, SIGKILL)) continue;
    spdlog::debug("container {}: killed pid {}", record.id, process.pid);
    if (!wait_for_exit(pidfd, kKillGraceMs))
      throw Error(fmt::format("container {} (pid {}) did not end after SIGKILL",
                              record.id.substr(0, 12), process.pid));
  }
}

int wait_for_exit_code(const Context& context, const ContainerStore& store,
                       const ContainerRecord& record) {
  for (;;) {
    auto current = store.find(record.id);
    if (!current) {
      if (auto code = store.kept_exit_code(record.id)) return *code;
      throw UsageError(
          fmt::format("container {} was removed before its end could be read", record.name));
    }
    if (current->status == kExited || current->status == kStopped) {
      if (current->unrecorded_end) await_record(context, store, *current);
      return current->exit_code.value_or(-1);
    }
    if (current->status == kCorrupt) throw wrong_state(*current, "");
    UniqueFd monitor = open_recorded_process(current->monitor);
    if (current->status != kCreated && monitor)
      wait_for_exit(monitor, -1);
    else
      std::this_thread::sleep_for(kWaitPollInterval);
  }
}

UsageError wrong_state(const ContainerRecord& record, const std::string& advice) {
  std::string name = record.name.empty() ? record.id.substr(0, 12) : record.name;
  // Only a forced removal gets past a record that cannot be read.
  std::string fix =
      record.status == kCorrupt ? fmt::format("remove it with 'roost rm -f {}'", name) : advice;
  return UsageError(fmt::format("container {} is {}{}{}", name, describe_state(record),
                                fix.empty() ? "" : "; ", fix));
}

bool finish_unobserved_end(const Context& context, const ContainerStore& store,
                           ContainerRecord& record) {
  if (record.unrecorded_end) {
    spdlog::info("container {}: {}; recording it as stopped", record.name, record.error);
    record.unrecorded_end = false;
    store.save_state(record);
  }
  if (!awaits_removal(record) || is_running(record.monitor)) return true;
  remove_container(context, store, record);
  return false;
}

bool awaits_removal(const ContainerRecord& record) {
  return record.remove_on_exit && (record.status == kExited || record.status == kStopped);
}

void finish_removal(const Context& context, const ContainerStore& store,
                    const ContainerRecord& record) {
  try {
    ContainerLock lock = store.lock(record);
    auto current = store.reload(record);
    if (!awaits_removal(current)) return;
    spdlog::debug("container {}: finishing its removal (--rm)", current.name);
    remove_container(context, store, current);
  } catch (const UsageError&) {
    spdlog::debug("container {} was removed meanwhile", record.name);
  }
}

void free_name_of_ended_rm(const Context& context, const ContainerStore& store,
                           const std::string& name) {
  if (name.empty()) return;
  for (const auto& record : store.list())
    if (record.name == name && awaits_removal(record)) finish_removal(context, store, record);
}

int stop_signal_of(const ContainerRecord& record) {
  if (record.settings.stop_signal.empty()) return SIGTERM;
  return parse_signal(record.settings.stop_signal, "stop signal");
}

bool stop_process(const ContainerRecord& record, int signal, int timeout_seconds) {
  UniqueFd process = open_recorded_process(record.process);
  if (!process || !send_signal(process, signal)) return false;
  spdlog::debug("sent {} to container {} (pid {})", signal_name(signal), record.name,
                record.process.pid);
  if (signal == SIGKILL) timeout_seconds = kKillGraceMs / 1000;
  if (wait_for_exit(process, timeout_seconds * 1000)) return true;
  std::fprintf(stderr,
               "roost: container %s did not stop within %d second%s after %s; sending SIGKILL\n",
               record.name.c_str(), timeout_seconds, timeout_seconds == 1 ? "" : "s",
               signal_name(signal).c_str());
  send_signal(process, SIGKILL);
  if (!wait_for_exit(process, kKillGraceMs))
    throw Error(fmt::format("container {} (pid {}) did not end after SIGKILL", record.name,
                            record.process.pid));
  return true;
}

std::optional<ContainerRecord> await_record(const Context& context, const ContainerStore& store,
                                            const ContainerRecord& record) {
  UniqueFd monitor = open_recorded_process(record.monitor);
  if (monitor && !wait_for_exit(monitor, kRecordGraceMs))
    spdlog::warn("the monitor of container {} (pid {}) has not recorded its end yet", record.name,
                 record.monitor.pid);
  try {
    ContainerLock lock = store.lock(record);
    auto current = store.reload(record);
    if (!finish_unobserved_end(context, store, current)) return std::nullopt;
    return current;
  } catch (const UsageError&) {
    return std::nullopt;
  }
}

}  // namespace roost::cli
