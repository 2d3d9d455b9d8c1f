#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "userns/idmap.hpp"

namespace roost::userns {

struct Maps {
  IdMap uids;
  IdMap gids;
};

// What the caller may map: reads /etc/subuid and /etc/subgid (paths overridable for
// tests), checks newuidmap/newgidmap, and plans both maps for `mode`. Every refusal
// says what is missing and what fixes it (a valid subuid line, the uidmap package).
// Root gets MapMode::Host whatever it asked for, unless it asked for Single.
struct MapRequest {
  MapMode mode = MapMode::Full;
  std::string subuid_file = "/etc/subuid";
  std::string subgid_file = "/etc/subgid";
};
Maps plan_caller_maps(const MapRequest& request);

// Who runs roost: the real uid and gid and the user's name (the uid in decimal when the
// user database has no entry for it).
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string name;
};
Caller current_caller();

// The planning half of plan_caller_maps for any caller; it checks no helpers.
Maps plan_maps_for(const Caller& caller, const MapRequest& request);

// Writes both maps for the process `pid` (which must wait until this returns): through
// newuidmap/newgidmap for an unprivileged caller, directly into /proc for root and for
// a map of the caller's own id alone. Errors carry the helper's own message and a hint
// for its usual causes.
void write_maps(pid_t pid, const Maps& maps);

// The path of `name` (newuidmap or newgidmap): PATH first, then /usr/bin and /usr/sbin.
// Throws Error naming the uidmap package when it is in none of them.
std::string find_map_helper(std::string_view name);

// Checks that `helper` (a path) exists and is setuid root or carries file capabilities;
// throws Error saying which and how to install it otherwise.
void check_map_helper(const std::string& helper);

// Forks a child in a new user namespace mapped with `maps`, runs `work` in it as root
// of that namespace, and returns what `work` returned (an exit status; 128+N when the
// child was killed by signal N). An exception thrown by `work` ends the child with
// status 125 and its message (the Error's whole chain) is rethrown here as Error.
int run_as_mapped_root(const Maps& maps, const std::function<int()>& work);

}  // namespace roost::userns
