#include "launcher/child.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "launcher/descriptors.hpp"
#include "launcher/identity.hpp"
#include "launcher/mounts.hpp"
#include "launcher/security.hpp"
#include "launcher/service_hooks.hpp"
#include "launcher/signals.hpp"

namespace roost::cli {

namespace {

class ExecFailure : public Error {
 public:
  ExecFailure(std::string message, int status) : Error(std::move(message)), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// Returns whether the monitor placed this process in a cgroup of its own.
bool wait_for_maps(int start_read) {
  char byte = 0;
  ssize_t n;
  do n = ::read(start_read, &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) throw Error("the monitor stopped before the user namespace was ready");
  ::close(start_read);
  return byte == 'c';
}

void enter_cgroup_namespace() {
  if (::unshare(CLONE_NEWCGROUP) < 0) throw_errno("create the container's cgroup namespace");
}

void become_namespace_root() {
  if (::setresgid(0, 0, 0) < 0) throw_errno("become gid 0 in the user namespace");
  if (::setresuid(0, 0, 0) < 0) throw_errno("become uid 0 in the user namespace");
}

void set_hostname(const std::string& hostname) {
  if (::sethostname(hostname.data(), hostname.size()) < 0)
    throw_errno(fmt::format("set host name {}", hostname));
}

void bring_up_loopback() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) throw_errno("open a socket to bring up lo");
  struct ifreq request = {};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  request.ifr_flags = IFF_UP | IFF_RUNNING;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &request) < 0) throw_errno("bring up lo");
}

// Programs that write to the console (init systems, some daemons) find the terminal
// there, as under podman.
void bind_console(const char* terminal) {
  UniqueFd placeholder(::open("/dev/console", O_CREAT | O_WRONLY | O_NOCTTY | O_CLOEXEC, 0600));
  if (!placeholder) throw_errno("create /dev/console");
  if (::mount(terminal, "/dev/console", nullptr, MS_BIND, nullptr) < 0)
    throw_errno(fmt::format("bind {} on /dev/console", terminal));
}

// The pty comes from the container's own devpts instance, so /dev/pts inside shows it;
// the monitor gets the master end.
void attach_terminal(const ContainerPlan& plan, int console_write, bool console) {
  UniqueFd master(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) throw_errno("open /dev/ptmx in the container");
  if (::unlockpt(master.get()) < 0) throw_errno("unlock the container's terminal");
  char name[64];
  if (::ptsname_r(master.get(), name, sizeof name) != 0)
    throw_errno("name the container's terminal");
  UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) throw_errno(fmt::format("open {}", name));
  if (console) bind_console(name);
  if (plan.terminal_size.ws_row > 0 && ::ioctl(slave.get(), TIOCSWINSZ, &plan.terminal_size) < 0)
    throw_errno("set the terminal size");
  send_fd(console_write, master.get(), "pass the terminal to the monitor");
  ::close(console_write);
  if (::setsid() < 0) throw_errno("start a session for the terminal");
  if (::ioctl(slave.get(), TIOCSCTTY, 0) < 0) throw_errno("make the terminal controlling");
  for (int target : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO})
    if (::dup2(slave.get(), target) < 0) throw_errno("connect the terminal");
}

void detach_stdin() {
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null || ::dup2(null.get(), STDIN_FILENO) < 0) throw_errno("open /dev/null as stdin");
}

void connect_input(int stdin_read) {
  if (::dup2(stdin_read, STDIN_FILENO) < 0)
    throw_errno("connect the container's stdin to its monitor");
}

void connect_captured_output(const ChildChannels& channels) {
  if (channels.stdout_write < 0) return;
  if (::dup2(channels.stdout_write, STDOUT_FILENO) < 0 ||
      ::dup2(channels.stderr_write, STDERR_FILENO) < 0)
    throw_errno("connect the container's output to its monitor");
}

std::string read_optional(const char* path) {
  try {
    return fs::read_file(path);
  } catch (const Error&) {
    return {};
  }
}

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& entry : env)
    if (entry.compare(0, key.size() + 1, key + "=") == 0) return entry.substr(key.size() + 1);
  return {};
}

enum class Role { FirstProcess, Exec };

// Made only when missing: mkdir on a directory the container may not write says EACCES
// before EEXIST, which would blame the creation of a directory that exists. Only the
// first process makes it, as docker does: an exec leaves the container's files alone.
void enter_working_dir(const std::string& dir, Role role) {
  if (::chdir(dir.c_str()) == 0) return;
  if (errno == ENOENT && role == Role::Exec)
    throw ExecFailure(fmt::format("working directory {} does not exist in the container; name "
                                  "an existing directory with -w or create it first",
                                  dir),
                      kStatusNotFound);
  if (errno != ENOENT) throw_errno(fmt::format("enter working directory {}", dir));
  fs::make_dirs(dir, 0755);
  if (::chdir(dir.c_str()) < 0) throw_errno(fmt::format("enter working directory {}", dir));
}

[[noreturn]] void exec_command(const std::vector<std::string>& argv, std::vector<std::string> env,
                               const Identity& identity) {
  if (env_value(env, "HOME").empty()) env.push_back("HOME=" + identity.home);
  std::vector<char*> args, envp;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  for (const auto& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  args.push_back(nullptr);
  envp.push_back(nullptr);
  const std::string& program = argv[0];
  std::vector<std::string> candidates;
  std::string path = env_value(env, "PATH");
  if (program.find('/') != std::string::npos) {
    candidates.push_back(program);
  } else {
    std::stringstream dirs(path);
    for (std::string dir; std::getline(dirs, dir, ':');)
      candidates.push_back((dir.empty() ? "." : dir) + "/" + program);
  }
  int denied = 0;
  for (const auto& candidate : candidates) {
    ::execve(candidate.c_str(), args.data(), envp.data());
    if (errno == EACCES || errno == ENOEXEC || errno == EISDIR || errno == ENOTDIR) denied = errno;
  }
  if (denied != 0)
    throw ExecFailure(fmt::format("{}: cannot be executed: {}", program, std::strerror(denied)),
                      kStatusCannotExecute);
  if (program.find('/') != std::string::npos)
    throw ExecFailure(fmt::format("{}: no such file in the container", program), kStatusNotFound);
  throw ExecFailure(fmt::format("executable file {} not found in $PATH ({})", program, path),
                    kStatusNotFound);
}

void prepare_namespaces(const ContainerPlan& plan, bool own_cgroup) {
  become_namespace_root();
  if (own_cgroup) enter_cgroup_namespace();
  set_hostname(plan.hostname);
  bool fuse = mount_rootfs(plan);
  mount_system_filesystems(plan, own_cgroup);
  mount_user_volumes(plan);
  if (fuse) leave_fuse_overlayfs_behind();
  pivot_into_rootfs(plan);
  if (plan.read_only) make_root_read_only();
  if (plan.new_network) bring_up_loopback();
}

// PR_SET_PDEATHSIG is cleared by a change of credentials, so it is asked for after the
// last one. The monitor holds the error pipe's read end: once it is gone, the monitor
// died before the request and nothing would kill this process.
void end_with_monitor(int error_write) {
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) throw_errno("ask to end with the monitor");
  struct pollfd pipe = {error_write, 0, 0};
  if (::poll(&pipe, 1, 0) == 1 && (pipe.revents & POLLERR))
    throw Error("the monitor ended before the container started");
}

[[noreturn]] void start_command(const ContainerPlan& plan, const ChildChannels& channels,
                                Role role) {
  if (plan.tty)
    attach_terminal(plan, channels.console_write, role == Role::FirstProcess);
  else if (channels.stdin_read >= 0)
    connect_input(channels.stdin_read);
  else if (!plan.interactive)
    detach_stdin();
  if (!plan.tty) connect_captured_output(channels);
  auto identity =
      resolve_identity(plan.user, read_optional("/etc/passwd"), read_optional("/etc/group"));
  enter_working_dir(plan.working_dir, role);
  apply_security(identity);
  if (channels.end_with_monitor) end_with_monitor(channels.error_write);
  restore_signal_mask();
  exec_command(plan.argv, environment_at_exec(plan), identity);
}

void report_failure(int error_write, int status, const std::string& message) {
  std::string text = fmt::format("{} {}", status, message);
  [[maybe_unused]] auto written = ::write(error_write, text.data(), text.size());
}

// Runs `steps` (which end in exec); a failure is reported through the error pipe and
// ends the process with podman's status for it.
template <typename Steps>
[[noreturn]] void run_reporting_failure(const ChildChannels& channels, Steps&& steps) {
  try {
    steps();
  } catch (const ExecFailure& failure) {
    report_failure(channels.error_write, failure.status(), failure.what());
    ::_exit(failure.status());
  } catch (const Error& error) {
    report_failure(channels.error_write, kStatusSetupFailed, error.what());
  } catch (const std::exception& error) {
    report_failure(channels.error_write, kStatusSetupFailed, error.what());
  }
  ::_exit(kStatusSetupFailed);
}

}  // namespace

void run_container_child(const ContainerPlan& plan, const ChildChannels& channels) {
  close_descriptors_except({channels.start_read, channels.error_write, channels.console_write,
                            channels.stdout_write, channels.stderr_write, channels.stdin_read},
                           STDERR_FILENO + 1 + plan.listen_fds);
  run_reporting_failure(channels, [&] {
    bool own_cgroup = wait_for_maps(channels.start_read);
    prepare_namespaces(plan, own_cgroup);
    if (plan.init) {
      pid_t command = ::fork();
      if (command < 0) throw_errno("fork the container's command under --init");
      if (command > 0) {
        if (channels.end_with_monitor) end_with_monitor(channels.error_write);
        // The command's exec closes the error pipe; the init must not hold it open.
        ::close(channels.error_write);
        ::_exit(run_init(command));
      }
    }
    start_command(plan, channels, Role::FirstProcess);
  });
}

void run_exec_child(const ContainerPlan& plan, const ChildChannels& channels) {
  run_reporting_failure(channels, [&] {
    become_namespace_root();
    start_command(plan, channels, Role::Exec);
  });
}

}  // namespace roost::cli
