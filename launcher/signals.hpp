#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <string_view>

namespace roost::cli {

// The signals a container's monitor passes on to the container.
const sigset_t& forwarded_signals();

// Blocks the forwarded signals and SIGCHLD in the calling process (they are then read
// from a signalfd or sigwaitinfo); the container's process restores the old mask.
void block_forwarded_signals();
void restore_signal_mask();

// PID 1 for --init: forwards signals to `command`, reaps every orphan, and returns the
// exit status to leave with once `command` ends (128+N for a signal).
int run_init(pid_t command);

// A signal by name (SIGTERM, TERM, term) or number; throws UsageError naming `option`.
int parse_signal(std::string_view text, std::string_view option);

// "SIGTERM" for 15.
std::string signal_name(int signal);

// Exit status in the shell's terms: the code, or 128+N when killed by signal N.
int shell_status(int wait_status);

}  // namespace roost::cli
