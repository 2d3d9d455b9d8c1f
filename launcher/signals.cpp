#include "launcher/signals.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <initializer_list>

#include "common/error.hpp"

namespace roost::cli {

namespace {

sigset_t saved_mask;

sigset_t make_forwarded() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig :
       {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGPIPE, SIGALRM, SIGCONT})
    sigaddset(&set, sig);
  return set;
}

}  // namespace

const sigset_t& forwarded_signals() {
  static const sigset_t set = make_forwarded();
  return set;
}

void block_forwarded_signals() {
  sigset_t set = forwarded_signals();
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, &saved_mask);
}

void restore_signal_mask() {
  sigprocmask(SIG_SETMASK, &saved_mask, nullptr);
}

int parse_signal(std::string_view text, std::string_view option) {
  std::string name(text);
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.starts_with("SIG")) name.erase(0, 3);
  int number = 0;
  auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), number);
  if (error == std::errc() && end == name.data() + name.size() && number > 0 && number <= SIGRTMAX)
    return number;
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    const char* abbreviation = ::sigabbrev_np(sig);
    if (abbreviation != nullptr && name == abbreviation) return sig;
  }
  throw UsageError(std::string(option) + " " + std::string(text) +
                   ": not a signal; use a name such as SIGTERM or TERM, or a number");
}

std::string signal_name(int signal) {
  const char* abbreviation = ::sigabbrev_np(signal);
  return abbreviation != nullptr ? std::string("SIG") + abbreviation : std::to_string(signal);
}

int shell_status(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

int run_init(pid_t command) {
  ::prctl(PR_SET_NAME, "roost-init", 0, 0, 0);
  sigset_t set = forwarded_signals();
  sigaddset(&set, SIGCHLD);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      ::kill(command, sig);
      continue;
    }
    int status = 0;
    pid_t reaped;
    while ((reaped = ::waitpid(-1, &status, WNOHANG)) > 0)
      if (reaped == command) return shell_status(status);
    if (reaped < 0 && errno == ECHILD) return 125;
  }
}

}  // namespace roost::cli
