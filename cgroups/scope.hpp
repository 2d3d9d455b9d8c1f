#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>

#include "cgroups/properties.hpp"

namespace roost::cgroups {

// A container's transient scope, once systemd has started it.
struct Scope {
  std::string unit;              // roost-NAME.scope
  std::filesystem::path cgroup;  // the scope's cgroup: its limits, stats and memory.events
  std::filesystem::path leaf;    // cgroup/container, where the container's processes are
};

// Asks the user's systemd (at request.bus_address) for the scope roost-NAME.scope under
// the slice, holding request.pid, with Delegate=yes and the limits; waits for the job;
// then moves the pid into a leaf cgroup of its own and enables the scope's controllers
// below it, so the container can be given a cgroup namespace rooted at the leaf.
// The pid must still be waiting (it must not exec or fork until this returns). systemd
// stops the scope and removes its cgroups when the last process is gone.
// A refused call or a failed job is an Error with systemd's own text and the unit name.
Scope start_scope(const ScopeRequest& request,
                  std::chrono::seconds job_timeout = std::chrono::seconds(30));

// The part of start_scope after systemd's job: mkdir scope_cgroup/container, move pid
// there, write the scope's cgroup.controllers into its cgroup.subtree_control, and
// write the limits into the leaf's own files too. systemd's limits on the scope bound
// the container either way; the copies are what the container sees at its
// /sys/fs/cgroup (memory.max, cpu.max, ...), which runtimes read to size themselves.
// A controller the limits use that cannot be enabled is an Error; others are logged
// and left off. Returns the leaf's path.
std::filesystem::path make_container_leaf(const std::filesystem::path& scope_cgroup, pid_t pid,
                                          const Limits& limits);

// Moves `pid` into a transient scope `unit` of its own under `slice`, with no limits and
// no delegation, and waits for systemd's job. A detached container's monitor goes there
// so that stopping the unit of the command that started it (a service that ran
// `roost run -d`) does not stop the monitor, and with it the container.
void start_plain_scope(const std::string& unit, pid_t pid, const std::string& slice,
                       const std::string& bus_address,
                       std::chrono::seconds job_timeout = std::chrono::seconds(30));

// The controllers the limits need, from limit_properties().
std::set<std::string> controllers_for(const Limits& limits);

}  // namespace roost::cgroups
