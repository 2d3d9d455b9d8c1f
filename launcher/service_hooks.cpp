#include "launcher/service_hooks.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "cgroups/files.hpp"
#include "cgroups/scope.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/service_notify.hpp"

namespace roost::cli {

namespace {

constexpr const char* kRelayDirInside = "/run/notify";
constexpr const char* kRelaySocketName = "notify.sock";
constexpr int kFirstListenFd = 3;
// systemd's own bound on the descriptors it passes (SD_LISTEN_FDS_START + 253).
constexpr int kMaxListenFds = 253;

std::optional<int> number_in(const char* variable) {
  const char* text = std::getenv(variable);
  if (text == nullptr) return std::nullopt;
  int value = 0;
  auto [end, error] = std::from_chars(text, text + std::strlen(text), value);
  if (error != std::errc() || *end != '\0') return std::nullopt;
  return value;
}

// The descriptors a .socket unit passed to this process, made inheritable so that the
// container's first process keeps them at the same numbers.
int take_listen_fds() {
  auto pid = number_in("LISTEN_PID");
  auto count = number_in("LISTEN_FDS");
  if (!pid || !count) return 0;
  if (*pid != ::getpid()) {
    spdlog::debug("LISTEN_FDS is meant for pid {}, not for roost (pid {}), ignoring", *pid,
                  ::getpid());
    return 0;
  }
  if (*count < 0 || *count > kMaxListenFds)
    throw Error(fmt::format("LISTEN_FDS={}: not a count of passed sockets", *count));
  for (int fd = kFirstListenFd; fd < kFirstListenFd + *count; ++fd)
    if (::fcntl(fd, F_SETFD, 0) < 0)
      throw_errno(fmt::format("take passed socket {} of LISTEN_FDS={}", fd, *count));
  return *count;
}

void pass_listen_fds(ContainerPlan& plan) {
  plan.listen_fds = take_listen_fds();
  if (plan.listen_fds == 0) return;
  plan.env.push_back(fmt::format("LISTEN_FDS={}", plan.listen_fds));
  if (const char* names = std::getenv("LISTEN_FDNAMES"))
    plan.env.push_back(fmt::format("LISTEN_FDNAMES={}", names));
  for (const char* variable : {"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}) ::unsetenv(variable);
  spdlog::debug("passing {} socket(s) from systemd to the container", plan.listen_fds);
}

// Bound through /proc/self/fd/N so that a runtime directory deeper than sun_path (108
// bytes) still works; any user inside may send (the socket is 0777 in a 0755 directory).
UniqueFd bind_relay_socket(const std::filesystem::path& directory) {
  fs::make_dirs(directory, 0755);
  if (::chmod(directory.c_str(), 0755) < 0)
    throw_errno(fmt::format("chmod {}", directory.string()));
  UniqueFd dir(::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) throw_errno(fmt::format("open {}", directory.string()));
  UniqueFd socket(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!socket) throw_errno("create the notify relay socket");
  auto path = directory / kRelaySocketName;
  ::unlink(path.c_str());
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "/proc/self/fd/%d/%s", dir.get(),
                kRelaySocketName);
  if (::bind(socket.get(), reinterpret_cast<struct sockaddr*>(&address), sizeof address) < 0)
    throw_errno(fmt::format("bind the notify relay socket {}", path.string()));
  if (::chmod(path.c_str(), 0777) < 0) throw_errno(fmt::format("chmod {}", path.string()));
  return socket;
}

// Not only this process: the command that started a detached container, and a shell
// that ran roost, still wait in the service's cgroup, and cgroup v2 refuses (EBUSY) to
// enable controllers for the children of a cgroup that holds processes itself. A
// process may fork while others are moved, hence the rounds.
void move_every_process(const std::filesystem::path& from, const std::filesystem::path& to) {
  constexpr int kRounds = 8;
  for (int round = 0; round < kRounds; ++round) {
    auto pids = cgroups::files::words(fs::read_file(from / "cgroup.procs"));
    if (pids.empty()) return;
    for (const auto& pid : pids) {
      try {
        cgroups::files::write_value(to / "cgroup.procs", pid);
      } catch (const Error& error) {
        // A process that ended meanwhile cannot be moved and needs not be.
        if (::kill(std::stoi(pid), 0) == 0) throw;
        spdlog::debug("{}; process {} has ended, ignoring", error.what(), pid);
      }
    }
  }
  throw Error(
      fmt::format("move the processes of {} into {}: new ones kept appearing after {} "
                  "rounds; start roost where nothing else forks in its cgroup",
                  from.string(), to.string(), kRounds));
}

}  // namespace

std::vector<std::string> environment_at_exec(const ContainerPlan& plan) {
  auto env = plan.env;
  if (plan.listen_fds > 0) env.push_back(fmt::format("LISTEN_PID={}", ::getpid()));
  return env;
}

ServiceHooks::ServiceHooks(ContainerPlan& plan, const ContainerSettings& settings,
                           const std::filesystem::path& runtime_dir)
    : mode_(settings.sdnotify.empty() ? "conmon" : settings.sdnotify),
      under_service_(std::getenv("NOTIFY_SOCKET") != nullptr) {
  pass_listen_fds(plan);
  if (!under_service_ || mode_ != "container") return;
  auto directory = runtime_dir / "notify";
  relay_socket_ = bind_relay_socket(directory);
  plan.binds.push_back({directory.string(), kRelayDirInside, false});
  plan.env.push_back(fmt::format("NOTIFY_SOCKET={}/{}", kRelayDirInside, kRelaySocketName));
}

ServiceHooks::~ServiceHooks() {
  stop();
}

void ServiceHooks::announce_started() {
  if (!under_service_ || mode_ == "ignore") return;
  notify_service_manager("MAINPID=" + std::to_string(::getpid()));
  if (mode_ != "container") notify_service_manager("READY=1");
}

void ServiceHooks::started() {
  announce_started();
  start_relay();
}

void ServiceHooks::start_relay() {
  if (!relay_socket_) return;
  // The thread must not take the signals the monitor forwards to the container.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  relay_thread_ = std::thread([this] { relay_loop(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

int ServiceHooks::relay_socket() const {
  return relay_socket_.get();
}

void ServiceHooks::stop() {
  if (!relay_thread_.joinable()) return;
  stopping_ = true;
  ::shutdown(relay_socket_.get(), SHUT_RDWR);
  relay_thread_.join();
}

void ServiceHooks::relay_loop() {
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(relay_socket_.get(), buffer, sizeof buffer - 1, 0);
    if (n < 0 && errno == EINTR) continue;
    // shutdown() by stop() ends the wait with 0, as an empty datagram would.
    if (n == 0 && !stopping_) continue;
    if (n <= 0) return;
    relay_notification(std::string_view(buffer, static_cast<size_t>(n)));
  }
}

bool is_units_own_command() {
  auto pid = number_in("SYSTEMD_EXEC_PID");
  return pid && *pid == ::getpid();
}

std::filesystem::path own_cgroup() {
  std::istringstream lines(fs::read_file("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("0::")) return std::filesystem::path("/sys/fs/cgroup") / line.substr(4);
  throw Error(
      "--cgroups=split needs the unified cgroup hierarchy: /proc/self/cgroup has no 0:: line");
}

SplitCgroup split_own_cgroup(const cgroups::Limits& limits, pid_t pid) {
  auto cgroup = own_cgroup();
  auto supervisor = cgroup / "supervisor";
  if (::mkdir(supervisor.c_str(), 0755) < 0 && errno != EEXIST)
    throw_errno(
        fmt::format("create {} (--cgroups=split needs a cgroup delegated to you: run roost "
                    "in a systemd service with Delegate=yes)",
                    supervisor.string()));
  move_every_process(cgroup, supervisor);
  return {cgroup, cgroups::make_container_leaf(cgroup, pid, limits)};
}

}  // namespace roost::cli
