#include "tests/rootless/support/process.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace rootless {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int open_pidfd(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) fail("pidfd_open " + std::to_string(pid));
  return fd;
}

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (const auto& text : strings) pointers.push_back(const_cast<char*>(text.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

// In the child after fork: only async-signal-safe calls, then exec or _exit(127).
[[noreturn]] void exec_child(const Spawn& spawn, char* const* argv, char* const* envp) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int signal_number : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2})
    ::signal(signal_number, SIG_DFL);
  if (!spawn.cwd.empty() && ::chdir(spawn.cwd.c_str()) < 0) _exit(127);
  ::close_range(3, ~0U, 0);
  ::execvpe(argv[0], argv, envp);
  _exit(127);
}

struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0) fail("pipe2");
    read_end = fds[0];
    write_end = fds[1];
  }
};

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Reads what is there without blocking; false at end of file.
bool drain(int fd, std::string& into) {
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      into.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

int shell_exit_code(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

int kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return shell_exit_code(status);
}

std::optional<int> reap_if_done(pid_t pid) {
  int status = 0;
  pid_t done = ::waitpid(pid, &status, WNOHANG);
  if (done == pid) return shell_exit_code(status);
  return std::nullopt;
}

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Feeds stdin, collects stdout and stderr and notices the exit; returns at the exit
// or at the deadline. Output still buffered in the pipes after the exit is read too,
// without waiting for descendants that may hold the pipes open.
struct Session {
  Session(pid_t child, std::map<int, std::string*> streams)
      : pid(child), pidfd(open_pidfd(child)), readers(std::move(streams)) {}

  pid_t pid;
  int pidfd;
  std::map<int, std::string*> readers;
  int input_fd = -1;
  std::string_view input;
  std::optional<int> exit_code;

  bool step(Clock::time_point deadline);
  void write_input();
};

void Session::write_input() {
  while (!input.empty()) {
    ssize_t n = ::write(input_fd, input.data(), input.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      input = {};
      break;
    }
    input.remove_prefix(static_cast<size_t>(n));
  }
  ::close(input_fd);
  input_fd = -1;
}

bool Session::step(Clock::time_point deadline) {
  std::vector<pollfd> fds{{pidfd, POLLIN, 0}};
  for (const auto& [fd, text] : readers) fds.push_back({fd, POLLIN, 0});
  if (input_fd >= 0) fds.push_back({input_fd, POLLOUT, 0});
  int ready = ::poll(fds.data(), fds.size(), remaining_ms(deadline));
  if (ready < 0 && errno != EINTR) fail("poll");
  if (ready <= 0) return false;
  for (const auto& entry : fds) {
    if (entry.revents == 0 || entry.fd == pidfd) continue;
    if (entry.fd == input_fd) {
      write_input();
    } else if (!drain(entry.fd, *readers[entry.fd])) {
      ::close(entry.fd);
      readers.erase(entry.fd);
    }
  }
  if (fds[0].revents != 0) exit_code = reap_if_done(pid);
  return true;
}

void finish_session(Session& session, Outcome& outcome, Clock::time_point deadline) {
  while (!session.exit_code && Clock::now() < deadline) session.step(deadline);
  if (!session.exit_code) {
    outcome.timed_out = true;
    session.exit_code = kill_and_reap(session.pid);
  }
  for (auto& [fd, text] : session.readers) {
    drain(fd, *text);
    ::close(fd);
  }
  session.readers.clear();
  if (session.input_fd >= 0) ::close(session.input_fd);
  ::close(session.pidfd);
  outcome.exit_code = *session.exit_code;
}

pid_t fork_with_stdio(const Spawn& spawn, int in, int out, int err) {
  auto argv = c_strings(spawn.argv);
  auto envp = c_strings(spawn.env);
  pid_t pid = ::fork();
  if (pid < 0) fail("fork for " + joined(spawn.argv));
  if (pid == 0) {
    if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) _exit(127);
    exec_child(spawn, argv.data(), envp.data());
  }
  return pid;
}

int open_dev_null() {
  int fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (fd < 0) fail("open /dev/null");
  return fd;
}

}  // namespace

std::string Outcome::describe() const {
  std::ostringstream text;
  text << "exit code " << exit_code << (timed_out ? " (killed at the timeout)" : "")
       << "\n--- stdout ---\n"
       << out << "\n--- stderr ---\n"
       << err << "\n--------------";
  return text.str();
}

Outcome run(const Spawn& spawn) {
  Pipe out, err, in;
  int null_fd = open_dev_null();
  pid_t pid =
      fork_with_stdio(spawn, spawn.input ? in.read_end : null_fd, out.write_end, err.write_end);
  for (int fd : {out.write_end, err.write_end, in.read_end, null_fd}) ::close(fd);
  Outcome outcome;
  outcome.out.reserve(4096);
  Session session(pid, {{out.read_end, &outcome.out}, {err.read_end, &outcome.err}});
  if (spawn.input) {
    session.input_fd = in.write_end;
    session.input = *spawn.input;
    set_nonblocking(in.write_end);
  } else {
    ::close(in.write_end);
  }
  for (int fd : {out.read_end, err.read_end}) set_nonblocking(fd);
  finish_session(session, outcome, Clock::now() + spawn.timeout);
  return outcome;
}

Background::Background(const Spawn& spawn) {
  Pipe out, err;
  int null_fd = open_dev_null();
  pid_ = fork_with_stdio(spawn, null_fd, out.write_end, err.write_end);
  for (int fd : {out.write_end, err.write_end, null_fd}) ::close(fd);
  out_fd_ = out.read_end;
  err_fd_ = err.read_end;
  set_nonblocking(out_fd_);
  set_nonblocking(err_fd_);
}

Background::~Background() {
  if (!exit_code_) kill_and_reap(pid_);
  for (int fd : {out_fd_, err_fd_})
    if (fd >= 0) ::close(fd);
}

bool Background::pump(Millis timeout) {
  std::vector<pollfd> fds;
  for (int fd : {out_fd_, err_fd_})
    if (fd >= 0) fds.push_back({fd, POLLIN, 0});
  if (fds.empty()) {
    ::poll(nullptr, 0, static_cast<int>(timeout.count()));
    return false;
  }
  int ready = ::poll(fds.data(), fds.size(), static_cast<int>(timeout.count()));
  if (ready <= 0) return ready < 0 && errno == EINTR;
  for (const auto& entry : fds) {
    if (entry.revents == 0) continue;
    std::string& into = entry.fd == out_fd_ ? outcome_.out : outcome_.err;
    if (drain(entry.fd, into)) continue;
    ::close(entry.fd);
    (entry.fd == out_fd_ ? out_fd_ : err_fd_) = -1;
  }
  return true;
}

bool Background::wait_for_output(std::string_view text, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  auto seen = [&] { return outcome_.out.find(text) != std::string::npos; };
  while (!seen() && Clock::now() < deadline) {
    if (pump(std::min(Millis(100), std::chrono::duration_cast<Millis>(deadline - Clock::now()))))
      continue;
    if (!exit_code_) exit_code_ = reap_if_done(pid_);
    if (exit_code_) break;
  }
  return seen();
}

void Background::signal(int signal_number) const {
  if (!exit_code_) ::kill(pid_, signal_number);
}

Outcome Background::finish(Millis timeout) {
  if (exit_code_) {
    for (int fd : {out_fd_, err_fd_})
      if (fd >= 0) drain(fd, fd == out_fd_ ? outcome_.out : outcome_.err);
    outcome_.exit_code = *exit_code_;
    return outcome_;
  }
  Session session(pid_, {});
  if (out_fd_ >= 0) session.readers[out_fd_] = &outcome_.out;
  if (err_fd_ >= 0) session.readers[err_fd_] = &outcome_.err;
  out_fd_ = err_fd_ = -1;
  finish_session(session, outcome_, Clock::now() + timeout);
  exit_code_ = outcome_.exit_code;
  return outcome_;
}

PtySession::PtySession(const Spawn& spawn, unsigned short rows, unsigned short columns) {
  winsize size{rows, columns, 0, 0};
  int slave_fd = -1;
  if (::openpty(&master_fd_, &slave_fd, nullptr, nullptr, &size) < 0) fail("openpty");
  ::fcntl(master_fd_, F_SETFD, FD_CLOEXEC);
  auto argv = c_strings(spawn.argv);
  auto envp = c_strings(spawn.env);
  pid_ = ::fork();
  if (pid_ < 0) fail("fork for " + joined(spawn.argv));
  if (pid_ == 0) {
    if (::setsid() < 0 || ::ioctl(slave_fd, TIOCSCTTY, 0) < 0) _exit(127);
    if (::dup2(slave_fd, 0) < 0 || ::dup2(slave_fd, 1) < 0 || ::dup2(slave_fd, 2) < 0) _exit(127);
    exec_child(spawn, argv.data(), envp.data());
  }
  ::close(slave_fd);
  set_nonblocking(master_fd_);
}

PtySession::~PtySession() {
  if (!exit_code_) kill_and_reap(pid_);
  ::close(master_fd_);
}

void PtySession::type(std::string_view keys) const {
  if (::write(master_fd_, keys.data(), keys.size()) != static_cast<ssize_t>(keys.size()))
    fail("write to the pty master");
}

void PtySession::resize(unsigned short rows, unsigned short columns) const {
  winsize size{rows, columns, 0, 0};
  if (::ioctl(master_fd_, TIOCSWINSZ, &size) < 0) fail("TIOCSWINSZ");
}

// Reading the master fails with EIO once no process holds the slave side open.
bool PtySession::pump(Millis timeout) {
  pollfd entry{master_fd_, POLLIN, 0};
  int ready = ::poll(&entry, 1, static_cast<int>(timeout.count()));
  if (ready <= 0) return ready < 0 && errno == EINTR;
  return drain(master_fd_, screen_);
}

bool PtySession::wait_for_output(std::string_view text, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  auto seen = [&] { return screen_.find(text) != std::string::npos; };
  while (!seen() && Clock::now() < deadline) {
    if (pump(std::min(Millis(100), std::chrono::duration_cast<Millis>(deadline - Clock::now()))))
      continue;
    if (!exit_code_) exit_code_ = reap_if_done(pid_);
    if (exit_code_) break;
  }
  return seen();
}

int PtySession::finish(Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (!exit_code_ && Clock::now() < deadline) {
    pump(std::min(Millis(50), std::chrono::duration_cast<Millis>(deadline - Clock::now())));
    exit_code_ = reap_if_done(pid_);
  }
  if (!exit_code_) exit_code_ = kill_and_reap(pid_);
  drain(master_fd_, screen_);
  return *exit_code_;
}

std::vector<pid_t> descendants_of(pid_t ancestor) {
  std::map<pid_t, pid_t> parent_of;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) fail("opendir /proc");
  while (const dirent* entry = ::readdir(proc)) {
    pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close_paren = text.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(text.substr(close_paren + 2));
    char state;
    pid_t parent;
    if (rest >> state >> parent) parent_of[pid] = parent;
  }
  ::closedir(proc);
  std::vector<pid_t> found;
  for (const auto& [pid, parent] : parent_of) {
    for (pid_t up = parent; up > 1; up = parent_of.count(up) ? parent_of[up] : 0) {
      if (up != ancestor) continue;
      found.push_back(pid);
      break;
    }
  }
  return found;
}

std::optional<pid_t> namespace_init_below(pid_t ancestor) {
  for (pid_t pid : descendants_of(ancestor)) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      std::istringstream ids(line.substr(6));
      std::vector<long> levels;
      for (long id; ids >> id;) levels.push_back(id);
      if (levels.size() > 1 && levels.back() == 1) return pid;
    }
  }
  return std::nullopt;
}

std::string find_in_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = dir + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

}  // namespace rootless
