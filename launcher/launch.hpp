#pragma once

#include "launcher/containers.hpp"
#include "launcher/context.hpp"
#include "launcher/monitor.hpp"

namespace roost::cli {

// Running a saved container, for run, start and restart. The caller holds the
// container's lock and has checked that it is not running.

// The scope the container's settings ask for on this host, if any. Throws UsageError
// for limits the host cannot apply, before anything starts.
std::optional<cgroups::ScopeRequest> plan_scope(const ContainerSettings& settings);

// Runs the container with roost's own standard streams and waits for it (run, start
// -a); the lock is released once its command runs. Returns the exit status as run
// reports it, after printing why the command failed to start, if it did.
int run_attached(const Context& context, const ContainerStore& store, const ContainerRecord& record,
                 ContainerLock& lock);

// roost-monitor, which a detached container's monitor becomes once the container runs:
// beside roost, else where it is installed. Throws Error naming both places.
std::string monitor_program();

// Starts the container under a monitor that outlives roost and returns once its command
// runs (0) or failed to start (run's status, after printing why).
int run_detached(const Context& context, const ContainerStore& store,
                 const ContainerRecord& record);

// Removes a container that is not running: takes it out of the listing, then deletes
// its files as root of a user namespace with its ids (the container's own, when still
// held, or a new one).
void remove_container(const Context& context, const ContainerStore& store,
                      const ContainerRecord& record, const UniqueFd* user_namespace = nullptr);

// What a monitor does once the container ended: records the exit under the lock and,
// for --rm, removes the container. A container removed meanwhile is left alone.
// `starter_holds_lock`: the command that started the container still holds the lock
// and waits for this monitor's report (a command that failed to start).
void record_exit(const Context& context, const ContainerStore& store, const ContainerRecord& record,
                 const ContainerExit& exit, bool starter_holds_lock = false);

// The plan as it runs now: id, name, scope and the /etc files of this start.
ContainerPlan plan_for_start(const ContainerStore& store, const ContainerRecord& record);

// Sets the live state of a container whose command has just been executed.
void mark_running(ContainerRecord& record, const ProcessIdentity& process,
                  const std::string& cgroup, bool detached);

}  // namespace roost::cli
