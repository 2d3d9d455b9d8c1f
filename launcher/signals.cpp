#include "launcher/signals.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <cerrno>
#include <initializer_list>

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
