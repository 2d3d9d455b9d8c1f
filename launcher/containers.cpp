#include "launcher/containers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <csignal>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace roost::cli {

namespace {

using nlohmann::json;

class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path) {
    fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd_) throw_errno(fmt::format("open lock {}", path.string()));
    while (::flock(fd_.get(), LOCK_EX) < 0)
      if (errno != EINTR) throw_errno(fmt::format("lock {}", path.string()));
  }

 private:
  UniqueFd fd_;
};

json to_json(const ContainerRecord& record) {
  return {{"id", record.id},
          {"name", record.name},
          {"image", record.image_name},
          {"image_id", record.image_id},
          {"command", record.command},
          {"created", record.created},
          {"rm", record.remove_on_exit}};
}

ContainerRecord from_json(const json& document) {
  ContainerRecord record;
  record.id = document.at("id").get<std::string>();
  record.name = document.at("name").get<std::string>();
  record.image_name = document.value("image", "");
  record.image_id = document.value("image_id", "");
  record.command = document.value("command", std::vector<std::string>{});
  record.created = document.value("created", "");
  record.remove_on_exit = document.value("rm", false);
  return record;
}

std::string now_rfc3339() {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", fmt::gmtime(std::time(nullptr)));
}

bool process_alive(pid_t pid) {
  return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
}

}  // namespace

ContainerStore::ContainerStore(std::filesystem::path data_root, std::filesystem::path runtime_root)
    : data_root_(std::move(data_root)), runtime_root_(std::move(runtime_root)) {}

std::filesystem::path ContainerStore::data_dir(const std::string& id) const {
  return data_root_ / "containers" / id;
}

std::filesystem::path ContainerStore::runtime_dir(const std::string& id) const {
  return runtime_root_ / "containers" / id;
}

ContainerRecord ContainerStore::create(ContainerRecord record) {
  fs::make_dirs(data_root_ / "containers", 0700);
  fs::make_dirs(runtime_root_ / "containers", 0700);
  FileLock lock(data_root_ / "containers.lock");
  record.id = fs::random_hex(32);
  if (record.name.empty()) record.name = "roost-" + record.id.substr(0, 12);
  for (const auto& existing : list())
    if (existing.name == record.name)
      throw UsageError(
          fmt::format("the name {} is in use by container {}; remove it with 'roost "
                      "rm {}' or choose another --name",
                      record.name, existing.id.substr(0, 12), record.name));
  record.created = now_rfc3339();
  auto dir = data_dir(record.id);
  fs::make_dirs(dir, 0700);
  // The upper directory's mode becomes the mode of the container's "/".
  for (const char* sub : {"upper", "work", "rootfs"}) fs::make_dirs(dir / sub, 0755);
  fs::make_dirs(runtime_dir(record.id), 0700);
  fs::write_file_atomic(dir / "config.json", to_json(record).dump(2) + "\n", 0600);
  return record;
}

void ContainerStore::save_state(const ContainerRecord& record) {
  json state = {{"status", record.status}, {"exit_code", record.exit_code}, {"pid", record.pid}};
  fs::write_file_atomic(runtime_dir(record.id) / "state.json", state.dump() + "\n", 0600);
}

std::vector<ContainerRecord> ContainerStore::list() const {
  std::vector<ContainerRecord> records;
  auto dir = data_root_ / "containers";
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    try {
      auto record = from_json(json::parse(fs::read_file(entry.path() / "config.json")));
      auto state_text = fs::read_file(runtime_dir(record.id) / "state.json");
      auto state = json::parse(state_text);
      record.status = state.value("status", "created");
      record.exit_code = state.value("exit_code", 0);
      record.pid = state.value("pid", 0);
      if (record.status == "running" && !process_alive(record.pid)) record.status = "exited";
      records.push_back(record);
    } catch (const std::exception& failure) {
      if (!std::filesystem::exists(entry.path() / "config.json")) continue;
      try {
        records.push_back(from_json(json::parse(fs::read_file(entry.path() / "config.json"))));
      } catch (const std::exception&) {
        spdlog::warn("container {}: unreadable record: {}", entry.path().filename().string(),
                     failure.what());
      }
    }
  }
  return records;
}

std::optional<ContainerRecord> ContainerStore::find(const std::string& name_or_id) const {
  std::optional<ContainerRecord> match;
  int prefix_matches = 0;
  for (const auto& record : list()) {
    if (record.name == name_or_id || record.id == name_or_id) return record;
    if (record.id.rfind(name_or_id, 0) == 0) {
      ++prefix_matches;
      match = record;
    }
  }
  if (prefix_matches > 1)
    throw UsageError(
        fmt::format("container id prefix {} is ambiguous: {} containers match; give "
                    "more digits or the name",
                    name_or_id, prefix_matches));
  return match;
}

void ContainerStore::forget(const ContainerRecord& record) {
  FileLock lock(data_root_ / "containers.lock");
  fs::remove_tree(runtime_dir(record.id));
  fs::remove_tree(data_dir(record.id));
}

}  // namespace roost::cli
