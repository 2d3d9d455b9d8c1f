#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "userns/idmap.hpp"

namespace roost::userns {

struct Maps {
  IdMap uids;
  IdMap gids;
};

// What the caller may map: reads /etc/subuid and /etc/subgid (paths overridable for
// tests), checks newuidmap/newgidmap, and plans both maps for `mode`. Every refusal
// says what is missing and what fixes it (a valid subuid line, the uidmap package).
struct MapRequest {
  MapMode mode = MapMode::Full;
  std::string subuid_file = "/etc/subuid";
  std::string subgid_file = "/etc/subgid";
};
Maps plan_caller_maps(const MapRequest& request);

// Writes both maps for the process `pid` (which must wait until this returns): through
// newuidmap/newgidmap for an unprivileged caller, directly into /proc for root. Errors
// carry the helper's own message and a hint for its usual causes.
void write_maps(pid_t pid, const Maps& maps);

// Checks that `helper` (a path) exists and is setuid root or carries file
// capabilities; throws Error saying which and how to install it otherwise.
void check_map_helper(const std::string& helper);

// Forks a child in a new user namespace mapped with `maps`, runs `work` in it as root
// of that namespace, and returns what `work` returned (an exit status). An Error
// thrown by `work` is printed by the child and comes back as status 125 with its
// message rethrown here.
int run_as_mapped_root(const Maps& maps, const std::function<int()>& work);

}  // namespace roost::userns
