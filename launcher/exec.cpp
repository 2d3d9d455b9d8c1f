// roost exec: a command in a running container. A helper process joins the container's
// namespaces (its user namespace first, which gives it the rights to join the others)
// and its cgroup, then forks the command with CLONE_PARENT, so that the command lands
// in the container's pid namespace as a child of this roost process. roost then
// relays signals and the terminal as run does and reports the command's status.

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>

#include "common/error.hpp"
#include "launcher/child.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/descriptors.hpp"
#include "launcher/identity.hpp"
#include "launcher/lifecycle.hpp"
#include "launcher/monitor.hpp"
#include "launcher/signals.hpp"
#include "launcher/unmapped_owner.hpp"

namespace roost::cli {

namespace {

struct NamespaceKind {
  const char* name;  // in /proc/PID/ns
  int flag;
};

// The user namespace first: joining it is what permits joining the others. The mount
// namespace last: it moves the root and the working directory into the container.
constexpr NamespaceKind kNamespaces[] = {
    {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC},       {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},   {"cgroup", CLONE_NEWCGROUP}, {"pid", CLONE_NEWPID},
    {"mnt", CLONE_NEWNS},
};

struct OpenNamespace {
  UniqueFd fd;
  const NamespaceKind* kind;
};

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The container's namespaces that differ from ours (it shares the host's network
// namespace with --network host, and has no cgroup namespace without a scope).
std::vector<OpenNamespace> open_namespaces(pid_t pid) {
  std::vector<OpenNamespace> opened;
  for (const auto& kind : kNamespaces) {
    auto path = fmt::format("/proc/{}/ns/{}", pid, kind.name);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno(fmt::format("open {}", path));
    struct stat theirs, ours;
    if (::fstat(fd.get(), &theirs) < 0) throw_errno(fmt::format("stat {}", path));
    auto own = fmt::format("/proc/self/ns/{}", kind.name);
    if (::stat(own.c_str(), &ours) == 0 && same_file(ours, theirs)) continue;
    opened.push_back({std::move(fd), &kind});
  }
  return opened;
}

struct ExecRequest {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string user;
  std::string working_dir;
  bool tty = false;
  bool interactive = false;
};

ContainerPlan exec_plan(const ContainerRecord& record, const ExecRequest& request) {
  ContainerPlan plan;
  plan.argv = request.argv;
  image::ImageConfig saved;
  saved.env = record.plan.env;
  plan.env = resolve_environment(saved, {}, request.env, request.tty, "");
  plan.user = request.user.empty() ? record.plan.user : request.user;
  plan.working_dir = request.working_dir.empty() ? record.plan.working_dir : request.working_dir;
  plan.tty = request.tty;
  plan.interactive = request.interactive;
  if (plan.tty) ::ioctl(STDIN_FILENO, TIOCGWINSZ, &plan.terminal_size);
  return plan;
}

// A process cannot be placed in a cgroup its user cannot write; the command then runs
// beside the container's cgroup, which is said.
void join_cgroup(const std::string& cgroup) {
  if (cgroup.empty()) return;
  auto procs = std::filesystem::path(cgroup) / "cgroup.procs";
  UniqueFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd && ::write(fd.get(), "0\n", 2) == 2) return;
  spdlog::warn("exec: cannot join the container's cgroup {}: {}; the command runs outside it",
               cgroup, std::strerror(errno));
}

struct ExecChannels {
  Pipe errors;    // closed by the command's exec; "STATUS message" when something failed
  Pipe reported;  // the joiner writes the command's pid here
  Pipe console;   // the command's terminal travels back here
};

pid_t fork_as_sibling() {
  struct clone_args args = {};
  args.flags = CLONE_PARENT;
  return static_cast<pid_t>(::syscall(SYS_clone3, &args, sizeof args));
}

// In the joiner: joins, forks the command into the container and reports its pid.
[[noreturn]] void join_and_fork(const std::string& cgroup, std::vector<OpenNamespace>& namespaces,
                                const ContainerPlan& plan, const ExecChannels& channels) {
  int error_write = channels.errors.write_end.get();
  try {
    join_cgroup(cgroup);
    for (auto& ns : namespaces)
      if (::setns(ns.fd.get(), ns.kind->flag) < 0)
        throw_errno(fmt::format("join the container's {} namespace", ns.kind->name));
    int console = channels.console.write_end ? channels.console.write_end.get() : -1;
    close_descriptors_except({error_write, channels.reported.write_end.get(), console});
    pid_t command = fork_as_sibling();
    if (command < 0) throw_errno("fork the command in the container");
    if (command == 0) run_exec_child(plan, ChildChannels{-1, error_write, console, -1, -1});
    write_fully(channels.reported.write_end.get(), std::to_string(command));
    ::_exit(0);
  } catch (const std::exception& error) {
    write_fully(error_write, fmt::format("{} {}", kStatusSetupFailed, error.what()));
  }
  ::_exit(kStatusSetupFailed);
}

pid_t start_command(const ContainerRecord& record, const ContainerPlan& plan,
                    ExecChannels& channels) {
  auto namespaces = open_namespaces(record.process.pid);
  // Checked after the namespaces were opened: they are the container's, not a
  // successor's that took its pid.
  if (!is_running(record.process))
    throw UsageError(fmt::format("container {} ended before exec could join it", record.name));
  pid_t joiner = ::fork();
  if (joiner < 0) throw_errno("fork to join the container");
  if (joiner == 0) join_and_fork(record.cgroup, namespaces, plan, channels);
  channels.reported.write_end.reset();
  channels.console.write_end.reset();
  std::string pid_text = read_until_eof(channels.reported.read_end.get());
  while (::waitpid(joiner, nullptr, 0) < 0 && errno == EINTR) {
  }
  return pid_text.empty() ? -1 : std::atoi(pid_text.c_str());
}

int report(const ContainerRecord& record, const std::string& failure) {
  auto space = failure.find(' ');
  std::fputs(error_line(explain_unmapped_owner(record.plan, failure.substr(space + 1))).c_str(),
             stderr);
  return std::atoi(failure.substr(0, space).c_str());
}

int exec_in_container(const ContainerRecord& record, const ExecRequest& request) {
  auto plan = exec_plan(record, request);
  block_forwarded_signals();
  ExecChannels channels{make_pipe(), make_pipe(), plan.tty ? make_socket_pair() : Pipe{}};
  pid_t command = start_command(record, plan, channels);
  channels.errors.write_end.reset();
  if (command <= 0) return report(record, read_until_eof(channels.errors.read_end.get()));
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, command, 0)));
  if (!pidfd) throw_errno(fmt::format("open a pidfd for the command (pid {})", command));
  UniqueFd master = plan.tty ? receive_fd(channels.console.read_end.get()) : UniqueFd();
  std::string failure = read_until_eof(channels.errors.read_end.get());
  RelayEnds ends{master ? master.get() : -1, -1, -1, plan.interactive};
  ends.close_output = [&] { master.reset(); };
  int status;
  {
    RawTerminal raw(master ? STDIN_FILENO : -1, !plan.interactive);
    status = relay_until_exit(command, pidfd, ends, write_to_stdout);
  }
  return failure.empty() ? status : report(record, failure);
}

}  // namespace

int cmd_exec(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  auto record = store.get(command.positionals[0]);
  if (record.status != kRunning)
    throw wrong_state(record, fmt::format("start it with 'roost start {}'", record.name));
  ExecRequest request;
  request.argv.assign(command.positionals.begin() + 1, command.positionals.end());
  if (request.argv.empty())
    throw UsageError("roost exec: missing COMMAND; see 'roost exec --help'");
  if (request.argv.front().empty())
    throw UsageError(fmt::format(
        "roost exec {}: the command is an empty string (''); name a program to run in it",
        command.positionals[0]));
  request.env = command.all("env");
  if (command.has("user")) check_user_option("-u", command.value("user"));
  request.user = command.value("user");
  request.working_dir = command.value("workdir");
  if (!request.working_dir.empty() && request.working_dir[0] != '/')
    throw UsageError(
        fmt::format("-w {}: the working directory must be an absolute path", request.working_dir));
  request.tty = terminal_for_input(command.has("tty"), command.has("interactive"));
  request.interactive = command.has("interactive");
  return exec_in_container(record, request);
}

}  // namespace roost::cli
