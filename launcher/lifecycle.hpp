#pragma once

#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "launcher/containers.hpp"
#include "launcher/context.hpp"

namespace roost::cli {

// Operations on existing containers shared by the commands. Each expects the
// container's lock to be held and `record` freshly read under it.

// A container left "running" by a monitor that died (or a reboot) is recorded as
// stopped; an ended --rm container nobody is removing is removed. Returns false when it
// was removed.
bool finish_unobserved_end(const Context& context, const ContainerStore& store,
                           ContainerRecord& record);

// A --rm container that has ended but is still listed: its monitor is removing it, or
// died (or the roost running it in the foreground was killed) before it could.
bool awaits_removal(const ContainerRecord& record);

// Finishes the removal of such a container under its lock (so after a monitor that is
// at it); a container that is no longer one, or is gone, is left alone.
void finish_removal(const Context& context, const ContainerStore& store,
                    const ContainerRecord& record);

// Frees `name` when an ended --rm container still holds it, so that it can be reused.
void free_name_of_ended_rm(const Context& context, const ContainerStore& store,
                           const std::string& name);

// Held open by the roost command that runs a container in the foreground, for as long
// as it does, so that the command can be found when the state naming it is unreadable.
UniqueFd hold_foreground_marker(const ContainerStore& store, const ContainerRecord& record);

// Kills whatever still runs of a container whose saved files cannot be read: the
// processes its state names when that parses, else its monitor (the process writing to
// its monitor.log, or the foreground roost holding its marker) and the monitor's children.
void kill_processes_of_corrupt(const ContainerStore& store, const ContainerRecord& record);

// The container's stop signal: --stop-signal, else the image's StopSignal, else SIGTERM.
int stop_signal_of(const ContainerRecord& record);

// Sends `signal`, waits up to `timeout_seconds` for the container to end, then sends
// SIGKILL and says so on stderr. Returns once the container's process has ended; the
// monitor records the exit after the caller releases the lock (see await_record).
// Returns false when it was not running.
bool stop_process(const ContainerRecord& record, int signal, int timeout_seconds);

// Waits, without the lock, until the monitor has recorded the container's end; then,
// under the lock, finishes it if the monitor died. Returns the record as it is then,
// or nullopt when the container was removed meanwhile (--rm).
std::optional<ContainerRecord> await_record(const Context& context, const ContainerStore& store,
                                            const ContainerRecord& record);

// Waits until the container has ended and returns its exit code; -1 when it ended
// unobserved. A container removed by --rm gives the code its monitor kept.
int wait_for_exit_code(const Context& context, const ContainerStore& store,
                       const ContainerRecord& record);

// "container web is running" and what to do, as a UsageError (exit 125).
UsageError wrong_state(const ContainerRecord& record, const std::string& advice);

}  // namespace roost::cli
