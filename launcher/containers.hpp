#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "launcher/plan.hpp"
#include "launcher/process_identity.hpp"

namespace roost::cli {

// Where a container is in its life. `stopping` is a container whose process has ended
// while its monitor is still recording that; `stopped` one that ended unobserved (its
// monitor was killed, or the machine restarted), so its exit code is unknown; `corrupt`
// one whose saved files cannot be read.
inline constexpr const char* kCreated = "created";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kStopping = "stopping";
inline constexpr const char* kExited = "exited";
inline constexpr const char* kStopped = "stopped";
inline constexpr const char* kCorrupt = "corrupt";

// What the container keeps between starts besides its plan.
struct ContainerSettings {
  std::map<std::string, std::string> limits;  // option name (memory, cpus, ...) -> value
  bool cgroups_disabled = false;
  bool cgroups_split = false;  // in the service's own cgroup (--cgroups=split)
  std::string sdnotify;        // conmon (empty), container or ignore
  std::string cgroup_parent;   // the scope's slice; empty: app.slice
  std::string stop_signal;     // empty: the image's, else SIGTERM
  int stop_timeout = 10;       // seconds
  std::string log_driver = "k8s-file";
  uint64_t log_max_size = 0;  // bytes before rotation; 0 means the default
};

struct ContainerRecord {
  std::string id;  // 64 hex digits
  std::string name;
  std::string image_name;
  std::string image_id;
  std::vector<std::string> command;
  std::string created;  // RFC 3339 with nanoseconds
  bool remove_on_exit = false;
  ContainerPlan plan;
  ContainerSettings settings;

  // Live state (RUN/containers/ID/state.json).
  std::string status = kCreated;
  ProcessIdentity process;  // the container's first process
  ProcessIdentity monitor;  // the roost process that waits for it and records its end
  std::optional<int> exit_code;
  std::string started_at;  // RFC 3339
  std::string finished_at;
  bool oom_killed = false;
  bool detached = false;
  std::string error;   // why the command did not start, or why the state is unreadable
  std::string cgroup;  // the container's cgroup, when it has a scope
  // The file says running, but the process ended unobserved: the status was derived.
  bool unrecorded_end = false;
};

// Holds a container's own lock (flock on DATA/containers/ID/lock). Every change of a
// container's state happens under it; it is never held while waiting for the global
// containers.lock's holder to take it.
class ContainerLock {
 public:
  ContainerLock() = default;
  explicit ContainerLock(UniqueFd fd) : fd_(std::move(fd)) {}
  void release() { fd_.reset(); }
  bool held() const { return static_cast<bool>(fd_); }

 private:
  UniqueFd fd_;
};

// Containers of one user:
//   DATA/containers/ID/{config.json,lock,ctr.log,upper,work,rootfs}   configuration, layer
//   RUN/containers/ID/{state.json,hosts,hostname,resolv.conf}           live state
// containers.lock (flock) guards names while a container is created or removed.
// A directory is renamed to .removing-ID before its removal, so a half-removed
// container is never listed.
class ContainerStore {
 public:
  ContainerStore(std::filesystem::path data_root, std::filesystem::path runtime_root);

  // Reserves the name (generated when empty), makes the directories and saves the
  // configuration; `prepare` fills in the plan once the id and directories are known.
  ContainerRecord create(ContainerRecord record,
                         const std::function<void(ContainerRecord&)>& prepare) const;
  void save_state(const ContainerRecord& record) const;
  // Holds containers.lock, which create holds while it saves a container: an image
  // checked unused under it stays unused until it is released.
  ContainerLock lock_creations() const;
  std::vector<ContainerRecord> list() const;
  // By name, full id or unique id prefix; throws UsageError on an ambiguous prefix.
  std::optional<ContainerRecord> find(const std::string& name_or_id) const;
  // As find, but a missing container is a UsageError naming it.
  ContainerRecord get(const std::string& name_or_id) const;
  // As get for each name, in order, from one reading of the store, so that naming many
  // containers reads each one once rather than once per name.
  std::vector<ContainerRecord> get_all(const std::vector<std::string>& names_or_ids) const;
  // Takes the container's lock and reads it again; a container removed meanwhile is a
  // UsageError naming `record`.
  ContainerLock lock(const ContainerRecord& record) const;
  ContainerRecord reload(const ContainerRecord& record) const;
  // Takes the directory out of the listing (under the name lock) and returns where it
  // now is, to be deleted with remove_files; then deletes the runtime directory.
  std::filesystem::path retire(const ContainerRecord& record) const;
  // Leftovers of retired containers whose removal did not finish, and of creates that
  // died long ago.
  std::vector<std::filesystem::path> retired_dirs() const;
  // The exit code of a container removed by --rm, kept a while (RUN/exits/ID) for a
  // `wait` that started before the removal.
  void keep_exit_code(const std::string& id, int code) const;
  std::optional<int> kept_exit_code(const std::string& id) const;

  // The container's process and monitor as its state file names them, for a container
  // whose other files cannot be read; empty when the state does not parse either.
  std::vector<ProcessIdentity> recorded_processes(const std::string& id) const;

  std::filesystem::path data_dir(const std::string& id) const;
  std::filesystem::path runtime_dir(const std::string& id) const;
  std::filesystem::path log_path(const std::string& id) const;

 private:
  ContainerRecord read(const std::filesystem::path& dir) const;

  std::filesystem::path data_root_;
  std::filesystem::path runtime_root_;
};

// Whether the record shows a process that may still be running or finishing.
bool is_active(const ContainerRecord& record);

// The container's status as ps shows it: "Up 5 minutes", "Exited (0) 2 seconds ago".
std::string describe_status(const ContainerRecord& record);

}  // namespace roost::cli
