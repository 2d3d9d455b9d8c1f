#pragma once

#include <sys/ioctl.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cgroups/properties.hpp"
#include "image/config.hpp"
#include "userns/namespace.hpp"

namespace roost::cli {

struct BindMount {
  std::string source;  // host path, absolute
  std::string destination;
  bool read_only = false;
};

struct TmpfsMount {
  std::string destination;
  std::string options;  // tmpfs data, e.g. "size=64m,mode=1777"
  unsigned long flags = 0;
};

// Everything the container's first process needs, decided before it is created, so
// that the child only executes the plan and the rules can be tested without privileges.
struct ContainerPlan {
  std::string id;
  std::string name;
  std::string image_name;
  std::string image_id;

  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string working_dir = "/";
  std::string user;  // as given: name, uid, uid:gid, name:group; empty is root
  std::string hostname;

  std::vector<std::filesystem::path> lower_dirs;  // top layer first
  std::filesystem::path upper_dir;
  std::filesystem::path work_dir;
  std::filesystem::path rootfs;   // mount point
  std::string storage_driver;     // overlay or fuse-overlayfs; auto is resolved in the child
  std::filesystem::path etc_dir;  // hosts, hostname, resolv.conf made for this container

  std::vector<BindMount> binds;
  std::vector<TmpfsMount> tmpfs;
  bool read_only = false;
  bool tty = false;
  bool interactive = false;
  bool init = false;
  bool new_network = false;
  struct winsize terminal_size = {};
  userns::Maps maps;
  // The maps the image store was written under. Where they name owners otherwise than
  // `maps` (keep-id), fuse-overlayfs translates, so that the container sees the owners
  // the image has and its new files are stored as under the default map.
  userns::Maps storage_maps;
  // A delegated systemd scope for the container (pid filled in by the monitor); none
  // where the host cannot make one and no limit was asked for, or with --cgroups=disabled.
  std::optional<cgroups::ScopeRequest> scope;
  // --cgroups=split: no scope; the container gets a leaf of the cgroup roost runs in (a
  // service's delegated cgroup), with these limits copied into it.
  std::optional<cgroups::Limits> split_cgroup;
  // Sockets passed by systemd at fds 3..3+listen_fds-1, kept there for the command.
  int listen_fds = 0;
};

// An --entrypoint value: one program, a JSON array of strings (["/bin/sh","-c"]), or ""
// for none. Throws UsageError for a malformed array.
std::vector<std::string> parse_entrypoint(const std::string& value);

// The command line as docker builds it from the image and the run options:
// --entrypoint replaces the image's Entrypoint and drops its Cmd (an empty one clears
// both); arguments after the image replace Cmd. Throws UsageError when nothing is left.
std::vector<std::string> resolve_command(const image::ImageConfig& config,
                                         const std::optional<std::vector<std::string>>& entrypoint,
                                         const std::vector<std::string>& arguments);

// --hostname: dot-separated RFC 1123 labels (letters, digits, inner '-'), at most 64
// characters in all as the kernel allows. Throws UsageError naming the value.
inline constexpr size_t kMaxHostnameLength = 64;
void check_hostname(const std::string& hostname);

// Image Env (PATH defaulted when absent), then --env-file lines, then -e values; a
// later KEY replaces an earlier one. `KEY` alone copies the caller's value, if any.
std::vector<std::string> resolve_environment(const image::ImageConfig& config,
                                             const std::vector<std::string>& env_file_lines,
                                             const std::vector<std::string>& env_options, bool tty,
                                             const std::string& hostname);

// KEY=VALUE lines of an --env-file: blank lines and #-comments skipped.
std::vector<std::string> parse_env_file(const std::string& content, const std::string& file);

// -v SRC:DST[:ro|rw]; SRC made absolute against `cwd`. Throws UsageError naming the value.
BindMount parse_volume(const std::string& value, const std::filesystem::path& cwd);
TmpfsMount parse_tmpfs(const std::string& value);

// With --read-only, /tmp, /var/tmp and /run stay writable as podman keeps them (its
// --read-only-tmpfs): a tmpfs on each that no -v or --tmpfs of the user covers.
void add_read_only_tmpfs(ContainerPlan& plan);

// Stored owners as the container's namespace reads them (`from`) and as the image has
// them (`to`).
struct OwnerTranslations {
  userns::IdTranslations uids;
  userns::IdTranslations gids;
};
OwnerTranslations stored_owner_translations(const ContainerPlan& plan);

// Whether the container's namespace reads some stored owner otherwise than the image has it.
bool stored_owners_shift(const ContainerPlan& plan);

// The kernel's overlayfs shows stored owners as the container's namespace reads them: it
// cannot serve a container whose stored owners shift. Throws UsageError naming the driver
// and `userns_mode` when the plan asks for it all the same.
void check_storage_driver(const ContainerPlan& plan, const std::string& userns_mode);

inline constexpr const char* kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace roost::cli
