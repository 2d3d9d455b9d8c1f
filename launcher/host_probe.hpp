#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace roost::cli {

// What `roost info` shows and `roost doctor` judges, each found by looking at the
// machine the way roost itself would use it. A probe never throws for what it finds; a
// finding that is a problem carries its explanation.

// One user's entries in /etc/subuid or /etc/subgid, and other users' entries that
// share ids with them.
struct SubidFinding {
  std::string file;
  bool file_exists = false;
  std::string error;  // a malformed line of the user, or an unreadable file
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // start, count
  uint64_t total = 0;                                 // ids, each counted once
  std::vector<std::string> overlaps;                  // "user 1004 has 700000-765535 too"
  uint64_t first_free = 100000;                       // the first id after every line of the file
};
SubidFinding find_subids(const std::string& file, const std::string& user_name, uint32_t uid);

// newuidmap or newgidmap: where it is and whether it may write maps.
struct HelperFinding {
  std::string name;
  std::string path;
  std::string privilege;  // "setuid root" or "file capabilities"
  std::string problem;
};
HelperFinding find_map_helper_state(const std::string& name);

// The sysctls that gate user namespaces, and a real attempt to make one.
struct UsernsFinding {
  std::optional<long> max_user_namespaces;        // user.max_user_namespaces
  std::optional<long> unprivileged_userns_clone;  // kernel.unprivileged_userns_clone
  std::optional<long> apparmor_restricts_userns;  // kernel.apparmor_restrict_...
  std::string problem;  // why the attempt failed; empty when a namespace was made
};
UsernsFinding find_user_namespaces();

// Mounts the kernel's overlayfs (with userxattr, as roost does) in a new user and mount
// namespace, on scratch directories made below `storage_dir` and removed afterwards.
// Returns the error, or an empty string when the mount worked.
std::string try_overlay_in_user_namespace(const std::filesystem::path& storage_dir);

struct FuseFinding {
  std::string device_problem;  // /dev/fuse cannot be opened for reading and writing
  std::string program;         // path of fuse-overlayfs, if found
  std::string version;         // "1.10", from `fuse-overlayfs --version`
  std::string program_problem;
};
FuseFinding find_fuse();

// The filesystem that holds (or will hold) `path`: the nearest existing directory.
struct StorageFinding {
  std::filesystem::path existing;  // the directory looked at
  std::string filesystem;          // ext4, xfs, btrfs, tmpfs, nfs, ...
  bool network = false;            // NFS, CIFS and the like
  bool noexec = false;
  bool read_only = false;
  std::optional<bool> user_xattrs;  // unknown when no scratch file could be made
  uint64_t free_bytes = 0;
};
StorageFinding find_storage(const std::filesystem::path& path);

// $XDG_RUNTIME_DIR as roost would use it.
struct RuntimeDirFinding {
  std::string path;     // empty when unset
  std::string problem;  // not a directory, not the caller's, open to others
};
RuntimeDirFinding find_runtime_dir();

// Whether systemd keeps the user's manager running without a session.
bool lingering(const std::string& user_name);

// What a program prints on stdout and stderr for `argv` (argv[0] a path), or empty.
std::string program_output(const std::vector<std::string>& argv);

}  // namespace roost::cli
