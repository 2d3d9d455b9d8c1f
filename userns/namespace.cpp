#include "userns/namespace.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <ranges>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"

namespace roost::userns {

namespace {

// What differs between the uid side and the gid side, so each step is written once.
struct IdKind {
  std::string_view name;          // "uid"
  std::string_view helper;        // the setuid program that writes this map
  std::string_view helper_file;   // the file that helper consults, whatever roost reads
  std::string_view proc_file;     // under /proc/PID
  std::string_view usermod_flag;  // how an administrator adds a range
  bool deny_setgroups_first;      // the kernel's condition for an unprivileged gid map
};
constexpr IdKind kUidKind{"uid", "newuidmap", "/etc/subuid", "uid_map", "--add-subuids", false};
constexpr IdKind kGidKind{"gid", "newgidmap", "/etc/subgid", "gid_map", "--add-subgids", true};

std::string_view option_of(MapMode mode) {
  return mode == MapMode::KeepId ? "--userns=keep-id" : "--userns=auto";
}

// ---- planning -------------------------------------------------------------------

MapMode effective_mode(const Caller& caller, MapMode requested) {
  if (requested == MapMode::Single) return MapMode::Single;
  if (caller.uid == 0) return MapMode::Host;
  if (requested == MapMode::Host)
    throw UsageError(
        fmt::format("--userns=host maps every id onto itself and needs root; as "
                    "user {} use --userns=auto, keep-id or single",
                    caller.name));
  return requested;
}

// A missing file holds no entries; the message about the missing entry says so.
std::optional<std::string> read_subid_file(const std::string& path) {
  try {
    return fs::read_file(path);
  } catch (const Error& error) {
    if (error.errno_value() != ENOENT) throw;
    spdlog::debug("{} does not exist, so it lists no subordinate ids", path);
    return std::nullopt;
  }
}

std::string no_entry_message(const IdKind& kind, MapMode mode, const Caller& caller,
                             const std::string& path, bool file_exists) {
  return fmt::format(
      "no entry for user {name} (uid {uid}) in {path}{missing}; {option} maps the "
      "container's {kind}s onto subordinate ids listed there. Add a line such as "
      "'{name}:100000:65536' (a range no other user has) to {path} (as root: usermod "
      "{flag} 100000-165535 {name}), or run with --userns=single to map only your own {kind}",
      fmt::arg("name", caller.name), fmt::arg("uid", caller.uid), fmt::arg("path", path),
      fmt::arg("missing", file_exists ? "" : " (the file does not exist)"),
      fmt::arg("option", option_of(mode)), fmt::arg("kind", kind.name),
      fmt::arg("flag", kind.usermod_flag));
}

IdMap plan_side(const IdKind& kind, MapMode mode, const Caller& caller, uint32_t own_id,
                const std::string& path) {
  auto content = read_subid_file(path);
  // Both files key their lines by user name or uid, never by gid.
  auto ranges = ranges_for_user(content.value_or(""), caller.name, caller.uid, path);
  if (ranges.empty()) throw Error(no_entry_message(kind, mode, caller, path, content.has_value()));
  return with_context(
      fmt::format("plan the {} map of user {} from {}", kind.name, caller.name, path),
      [&] { return plan_map(mode, own_id, ranges); });
}

// ---- helpers and writing maps ---------------------------------------------------

bool is_own_id_alone(const IdMap& map, uint32_t own_id) {
  return map.size() == 1 && map[0].count == 1 && map[0].outside == own_id;
}

// The kernel lets a process without privileges write only a map of its own id alone.
bool needs_helper(const IdMap& map, uint32_t own_id) {
  return ::geteuid() != 0 && !is_own_id_alone(map, own_id);
}

std::string describe_map(const IdMap& map) {
  std::string text;
  for (const auto& entry : map)
    text += fmt::format("{}{} {} {}", text.empty() ? "" : ", ", entry.inside, entry.outside,
                        entry.count);
  return text;
}

// /proc/PID/uid_map, gid_map and setgroups each take their whole content in one write.
void write_proc_file(const std::string& path, const std::string& content,
                     const std::string& shown) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("open {}", path));
  ssize_t written = ::write(fd.get(), content.data(), content.size());
  if (written < 0) throw_errno(fmt::format("write '{}' to {}", shown, path));
  if (static_cast<size_t>(written) != content.size())
    throw Error(fmt::format("write '{}' to {}: only {} of {} bytes taken", shown, path, written,
                            content.size()));
}

void write_map_directly(const IdKind& kind, pid_t pid, const IdMap& map) {
  if (kind.deny_setgroups_first && ::geteuid() != 0)
    write_proc_file(fmt::format("/proc/{}/setgroups", pid), "deny", "deny");
  write_proc_file(fmt::format("/proc/{}/{}", pid, kind.proc_file), format_for_proc(map),
                  describe_map(map));
}

std::vector<std::string> helper_argv(const std::string& helper, pid_t pid, const IdMap& map) {
  std::vector<std::string> argv{helper, std::to_string(pid)};
  for (const auto& entry : map) {
    argv.push_back(std::to_string(entry.inside));
    argv.push_back(std::to_string(entry.outside));
    argv.push_back(std::to_string(entry.count));
  }
  return argv;
}

// A helper started for one side, not yet waited for.
struct PendingHelper {
  std::vector<std::string> argv;
  process::Running running;
};

// Writes the map at once when the kernel allows it, else starts the helper that does.
std::optional<PendingHelper> begin_map(const IdKind& kind, pid_t pid, const IdMap& map,
                                       uint32_t own_id) {
  if (map.empty())
    throw Error(fmt::format("write {} map of pid {}: the map is empty", kind.name, pid));
  spdlog::debug("writing {} map of pid {}: {}", kind.name, pid, describe_map(map));
  if (!needs_helper(map, own_id)) {
    write_map_directly(kind, pid, map);
    return std::nullopt;
  }
  auto argv = helper_argv(find_map_helper(kind.helper), pid, map);
  auto running = process::start(argv);
  return PendingHelper{std::move(argv), std::move(running)};
}

void finish_map(const IdKind& kind, std::optional<PendingHelper>& pending) {
  if (!pending) return;
  auto result = pending->running.wait();
  if (WIFEXITED(result.exit_status) && WEXITSTATUS(result.exit_status) == 0) return;
  const auto& argv = pending->argv;
  throw Error(fmt::format(
      "{} {}: {}{}{}; the usual causes are outside ids not listed for this user in {} "
      "({} reads that file, not roost's subuid_file setting) or {} lacking its setuid bit",
      argv[0], fmt::join(argv.begin() + 1, argv.end(), " "),
      process::describe_status(result.exit_status), result.error_output.empty() ? "" : ": ",
      result.error_output, kind.helper_file, kind.helper, argv[0]));
}

bool has_file_capabilities(const std::string& path) {
  return ::getxattr(path.c_str(), "security.capability", nullptr, 0) > 0;
}

std::string helper_missing_message(std::string_view what) {
  return fmt::format(
      "{} not found; it writes the id maps of subordinate ids and comes with "
      "the uidmap package (as root: apt-get install uidmap)",
      what);
}

// ---- the child in a new user namespace ------------------------------------------

// One socket pair carries the whole exchange: the child sends 'R' once it is in its
// namespace ('E' and a message if it could not get there), the parent answers 'G' once
// the maps are written, and anything the child sends after 'R' is an error message.
// Sockets rather than pipes so a peer that died gives EPIPE, not SIGPIPE (MSG_NOSIGNAL).
constexpr char kReady = 'R';
constexpr char kFailed = 'E';
constexpr char kGo = 'G';

void send_text(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t sent = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return;  // the peer is gone and will report for itself
    text.remove_prefix(static_cast<size_t>(sent));
  }
}

std::string receive_all(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return text;
    text.append(buffer, static_cast<size_t>(n));
  }
}

std::optional<char> receive_byte(int fd) {
  char byte = 0;
  for (;;) {
    ssize_t n = ::recv(fd, &byte, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 1) return byte;
    return std::nullopt;
  }
}

void child_enter_namespace(pid_t parent) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) throw_errno("set the parent-death signal");
  if (::getppid() != parent) ::_exit(125);  // the parent is gone; nobody waits for us
  if (::unshare(CLONE_NEWUSER) == 0) return;
  int error = errno;
  if (error == EPERM || error == ENOSPC || error == EUSERS)
    throw Error(
        fmt::format("create a user namespace (unshare CLONE_NEWUSER): {}; check the "
                    "sysctls user.max_user_namespaces and "
                    "kernel.unprivileged_userns_clone",
                    std::strerror(error)));
  throw_errno("create a user namespace (unshare CLONE_NEWUSER)", error);
}

void child_wait_for_maps(int channel) {
  // Anything but the go-ahead means the parent failed and reports that itself.
  if (receive_byte(channel) != kGo) ::_exit(125);
}

bool setgroups_allowed() {
  return fs::read_file("/proc/self/setgroups").starts_with("allow");
}

void child_become_root() {
  if (setgroups_allowed() && ::setgroups(0, nullptr) < 0)
    throw_errno("drop supplementary groups in the user namespace");
  if (::setresgid(0, 0, 0) < 0) throw_errno("become gid 0 in the user namespace");
  if (::setresuid(0, 0, 0) < 0) throw_errno("become uid 0 in the user namespace");
  // A change of credentials clears the parent-death signal.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) throw_errno("set the parent-death signal");
}

[[noreturn]] void child_fail(int channel, bool ready_sent, std::string_view message) {
  if (!ready_sent) send_text(channel, std::string_view(&kFailed, 1));
  send_text(channel, message.empty() ? "failed without a message" : message);
  ::_exit(125);
}

// Runs in the forked child only and never returns: exit() would run the parent's atexit
// handlers and static destructors a second time.
[[noreturn]] void child_main(pid_t parent, int channel, const std::function<int()>& work) {
  bool ready_sent = false;
  try {
    child_enter_namespace(parent);
    send_text(channel, std::string_view(&kReady, 1));
    ready_sent = true;
    child_wait_for_maps(channel);
    child_become_root();
    int status = work();
    std::fflush(nullptr);
    ::_exit(status & 0xff);
  } catch (const Error& error) {
    child_fail(channel, ready_sent, error.chain());
  } catch (const std::exception& error) {
    child_fail(channel, ready_sent, error.what());
  } catch (...) {
    child_fail(channel, ready_sent, "unknown exception");
  }
}

// ---- the parent's side ----------------------------------------------------------

// Owns a forked child: kills and reaps it unless it was waited for.
class ChildProcess {
 public:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() {
    if (pid_ < 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }

  pid_t pid() const { return pid_; }

  int wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) throw_errno(fmt::format("wait for process {}", pid_));
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

int exit_code_of(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

void parent_wait_until_unshared(int channel, ChildProcess& child) {
  auto first = receive_byte(channel);
  if (first == kReady) return;
  auto message = receive_all(channel);
  pid_t pid = child.pid();
  int status = child.wait();
  if (message.empty())
    message = fmt::format("process {} for a new user namespace {}", pid,
                          process::describe_status(status));
  throw Error(message);
}

std::pair<UniqueFd, UniqueFd> make_channel() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
    throw_errno("create a socket pair for a user namespace child");
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

}  // namespace

Caller current_caller() {
  Caller caller{::getuid(), ::getgid(), {}};
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  int error = 0;
  while ((error = ::getpwuid_r(caller.uid, &entry, buffer.data(), buffer.size(), &found)) == ERANGE)
    buffer.resize(buffer.size() * 2);
  if (found) {
    caller.name = found->pw_name;
  } else {
    caller.name = std::to_string(caller.uid);
    spdlog::debug("uid {} has no entry in the user database ({}); using the number as its name",
                  caller.uid, error ? std::strerror(error) : "not found");
  }
  return caller;
}

Maps plan_maps_for(const Caller& caller, const MapRequest& request) {
  auto mode = effective_mode(caller, request.mode);
  if (mode == MapMode::Host || mode == MapMode::Single)
    return {plan_map(mode, caller.uid, {}), plan_map(mode, caller.gid, {})};
  return {plan_side(kUidKind, mode, caller, caller.uid, request.subuid_file),
          plan_side(kGidKind, mode, caller, caller.gid, request.subgid_file)};
}

Maps plan_caller_maps(const MapRequest& request) {
  auto maps = plan_maps_for(current_caller(), request);
  if (needs_helper(maps.uids, ::geteuid())) check_map_helper(find_map_helper(kUidKind.helper));
  if (needs_helper(maps.gids, ::getegid())) check_map_helper(find_map_helper(kGidKind.helper));
  return maps;
}

// The two sides are separate files of the process, so their setuid helpers run at once:
// each costs an exec of a setuid program, the largest part of a container's start.
void write_maps(pid_t pid, const Maps& maps) {
  auto uid_side = begin_map(kUidKind, pid, maps.uids, ::geteuid());
  auto gid_side = begin_map(kGidKind, pid, maps.gids, ::getegid());
  finish_map(kUidKind, uid_side);
  finish_map(kGidKind, gid_side);
}

std::string find_map_helper(std::string_view name) {
  std::vector<std::filesystem::path> directories;
  if (const char* path = std::getenv("PATH")) {
    for (auto&& part : std::string_view(path) | std::views::split(':'))
      directories.emplace_back(std::string_view(part.begin(), part.end()));
  }
  directories.emplace_back("/usr/bin");
  directories.emplace_back("/usr/sbin");
  for (const auto& directory : directories) {
    // A relative PATH entry would pick a program by the current directory.
    if (!directory.is_absolute()) continue;
    auto candidate = directory / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
  }
  throw Error(
      helper_missing_message(fmt::format("{} (searched PATH, /usr/bin and /usr/sbin)", name)));
}

void check_map_helper(const std::string& helper) {
  struct stat info {};
  if (::stat(helper.c_str(), &info) < 0) {
    if (errno == ENOENT) throw Error(helper_missing_message(helper));
    throw_errno(fmt::format("check map helper {}", helper));
  }
  if (!S_ISREG(info.st_mode)) throw Error(fmt::format("map helper {} is not a file", helper));
  if ((info.st_uid == 0 && (info.st_mode & S_ISUID)) || has_file_capabilities(helper)) return;
  auto capability =
      std::filesystem::path(helper).filename() == "newgidmap" ? "cap_setgid" : "cap_setuid";
  throw Error(fmt::format(
      "{0} is neither setuid root nor carries file capabilities, so it cannot write id maps; "
      "as root run 'chown root {0} && chmod u+s {0}' or 'setcap {1}+ep {0}' (reinstalling "
      "the uidmap package restores it)",
      helper, capability));
}

int run_as_mapped_root(const Maps& maps, const std::function<int()>& work) {
  auto [parent_end, child_end] = make_channel();
  pid_t parent = ::getpid();
  std::fflush(nullptr);  // or the child's exit would print buffered output twice
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork a process for a new user namespace");
  if (pid == 0) {
    parent_end.reset();
    child_main(parent, child_end.get(), work);
  }
  ChildProcess child(pid);
  child_end.reset();
  parent_wait_until_unshared(parent_end.get(), child);
  with_context(fmt::format("map ids of the user namespace of process {}", pid),
               [&] { write_maps(pid, maps); });
  send_text(parent_end.get(), std::string_view(&kGo, 1));
  auto failure = receive_all(parent_end.get());
  int status = child.wait();
  if (!failure.empty()) throw Error(failure);
  return exit_code_of(status);
}

}  // namespace roost::userns
