#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace roost::cli {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> supplementary_groups;
  std::string home = "/";
};

// Refuses a USER[:GROUP] given with `flag` (-u) that can name nobody: an empty one, or
// an id that is negative or out of range. Throws UsageError naming the flag and value.
void check_user_option(const std::string& flag, const std::string& spec);

// Resolves USER[:GROUP] (names or numbers) against passwd and group file contents, as
// the container sees them. A numeric user absent from passwd runs with gid 0; a name
// that is absent throws Error naming it.
Identity resolve_identity(const std::string& spec, const std::string& passwd,
                          const std::string& group);

}  // namespace roost::cli
