#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace roost::cli {

struct ContainerRecord {
  std::string id;  // 64 hex digits
  std::string name;
  std::string image_name;
  std::string image_id;
  std::vector<std::string> command;
  std::string created;             // RFC 3339
  std::string status = "created";  // created, running, exited
  int exit_code = 0;
  pid_t pid = 0;
  bool remove_on_exit = false;
};

// Containers of one user:
//   DATA/containers/ID/{config.json,upper,work,rootfs}   saved configuration, writable layer
//   RUN/containers/ID/{state.json,hosts,hostname,resolv.conf}   live state
// containers.lock (flock) guards names while a container is created or removed.
class ContainerStore {
 public:
  ContainerStore(std::filesystem::path data_root, std::filesystem::path runtime_root);

  // Reserves the name (generated when empty) and makes the directories.
  ContainerRecord create(ContainerRecord record);
  void save_state(const ContainerRecord& record);
  std::vector<ContainerRecord> list() const;
  // By name, full id or unique id prefix; throws Error on an ambiguous prefix.
  std::optional<ContainerRecord> find(const std::string& name_or_id) const;
  // Deletes the record and the runtime directory; the data directory must be gone.
  void forget(const ContainerRecord& record);

  std::filesystem::path data_dir(const std::string& id) const;
  std::filesystem::path runtime_dir(const std::string& id) const;

 private:
  std::filesystem::path data_root_;
  std::filesystem::path runtime_root_;
};

}  // namespace roost::cli
