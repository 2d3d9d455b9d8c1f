#include "launcher/containers.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/plan_json.hpp"
#include "launcher/times.hpp"

namespace roost::cli {

namespace {

// One short reason instead of the JSON library's message, which names its own internals.
std::string why_unreadable(const std::exception& failure) {
  if (const auto* parse = dynamic_cast<const nlohmann::json::parse_error*>(&failure))
    return fmt::format("not valid JSON (at byte {})", parse->byte);
  if (dynamic_cast<const nlohmann::json::exception*>(&failure) != nullptr)
    return "a field is missing or has the wrong type";
  return failure.what();
}

using nlohmann::json;

constexpr const char* kRetiredPrefix = ".removing-";
constexpr const char* kCreatingPrefix = ".creating-";
// A directory still being created after this long belongs to a create that died.
constexpr auto kAbandonedAfter = std::chrono::minutes(10);
constexpr auto kExitCodeKeptFor = std::chrono::minutes(10);

bool older_than(const std::filesystem::path& path, std::chrono::seconds age) {
  std::error_code error;
  auto written = std::filesystem::last_write_time(path, error);
  return !error && std::filesystem::file_time_type::clock::now() - written > age;
}

UniqueFd lock_file(const std::filesystem::path& path, int open_flags) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | open_flags, 0600));
  if (!fd) return fd;
  while (::flock(fd.get(), LOCK_EX) < 0)
    if (errno != EINTR) throw_errno(fmt::format("lock {}", path.string()));
  return fd;
}

json identity_to_json(const ProcessIdentity& process) {
  return {{"pid", process.pid}, {"start_time", process.start_time}, {"boot_id", process.boot_id}};
}

ProcessIdentity identity_from_json(const json& saved) {
  if (!saved.is_object()) return {};
  return {saved.value("pid", 0), saved.value("start_time", uint64_t{0}),
          saved.value("boot_id", "")};
}

json settings_to_json(const ContainerSettings& settings) {
  return {{"limits", settings.limits},
          {"cgroups_disabled", settings.cgroups_disabled},
          {"cgroups_split", settings.cgroups_split},
          {"sdnotify", settings.sdnotify},
          {"cgroup_parent", settings.cgroup_parent},
          {"stop_signal", settings.stop_signal},
          {"stop_timeout", settings.stop_timeout},
          {"log_driver", settings.log_driver},
          {"log_max_size", settings.log_max_size}};
}

ContainerSettings settings_from_json(const json& saved) {
  ContainerSettings settings;
  settings.limits = saved.value("limits", std::map<std::string, std::string>{});
  settings.cgroups_disabled = saved.value("cgroups_disabled", false);
  settings.cgroups_split = saved.value("cgroups_split", false);
  settings.sdnotify = saved.value("sdnotify", "");
  settings.cgroup_parent = saved.value("cgroup_parent", "");
  settings.stop_signal = saved.value("stop_signal", "");
  settings.stop_timeout = saved.value("stop_timeout", 10);
  settings.log_driver = saved.value("log_driver", "k8s-file");
  settings.log_max_size = saved.value("log_max_size", uint64_t{0});
  return settings;
}

json config_to_json(const ContainerRecord& record) {
  return {{"id", record.id},
          {"name", record.name},
          {"image", record.image_name},
          {"image_id", record.image_id},
          {"command", record.command},
          {"created", record.created},
          {"rm", record.remove_on_exit},
          {"settings", settings_to_json(record.settings)},
          {"plan", plan_to_json(record.plan)}};
}

void config_from_json(const json& saved, ContainerRecord& record) {
  record.id = saved.at("id").get<std::string>();
  record.name = saved.at("name").get<std::string>();
  record.image_name = saved.value("image", "");
  record.image_id = saved.value("image_id", "");
  record.command = saved.value("command", std::vector<std::string>{});
  record.created = saved.value("created", "");
  record.remove_on_exit = saved.value("rm", false);
  record.settings = settings_from_json(saved.value("settings", json::object()));
  record.plan = plan_from_json(saved.at("plan"));
}

json state_to_json(const ContainerRecord& record) {
  json saved = {{"status", record.status},
                {"process", identity_to_json(record.process)},
                {"monitor", identity_to_json(record.monitor)},
                {"started_at", record.started_at},
                {"finished_at", record.finished_at},
                {"oom_killed", record.oom_killed},
                {"detached", record.detached},
                {"error", record.error},
                {"cgroup", record.cgroup}};
  saved["exit_code"] = record.exit_code ? json(*record.exit_code) : json(nullptr);
  return saved;
}

void state_from_json(const json& saved, ContainerRecord& record) {
  record.status = saved.at("status").get<std::string>();
  record.process = identity_from_json(saved.value("process", json()));
  record.monitor = identity_from_json(saved.value("monitor", json()));
  if (saved.contains("exit_code") && saved["exit_code"].is_number_integer())
    record.exit_code = saved["exit_code"].get<int>();
  record.started_at = saved.value("started_at", "");
  record.finished_at = saved.value("finished_at", "");
  record.oom_killed = saved.value("oom_killed", false);
  record.detached = saved.value("detached", false);
  record.error = saved.value("error", "");
  record.cgroup = saved.value("cgroup", "");
}

// A recorded "running" is believed only while its process is the one that was started.
void settle(ContainerRecord& record) {
  if (record.status != kRunning || is_running(record.process)) return;
  if (is_running(record.monitor)) {
    record.status = kStopping;
    return;
  }
  record.status = kStopped;
  record.unrecorded_end = true;
  record.error = record.process.boot_id != current_boot_id()
                     ? "the machine restarted while the container ran"
                     : "the container ended while no monitor watched it";
}

// Nothing of a create that failed is kept; what cannot be removed is left to prune.
void discard_unfinished(const std::filesystem::path& building,
                        const std::filesystem::path& runtime) {
  for (const auto& dir : {building, runtime}) {
    try {
      fs::remove_tree(dir);
    } catch (const Error& error) {
      spdlog::warn("{}; 'roost container prune' removes it later", error.what());
    }
  }
}

// Marks the container as started once, so that a lost runtime directory (a reboot
// empties it) leaves it stopped rather than created.
constexpr const char* kStartedMarker = "started";

// A full id always names the container that has it, so no name may look like one.
void check_not_an_id(const std::string& name) {
  static const std::regex kFullId("[0-9a-fA-F]{64}");
  if (std::regex_match(name, kFullId))
    throw UsageError(fmt::format(
        "--name {}: 64 hexadecimal digits are read as a container id; choose another name", name));
}

// A --rm container's files go with it; a crash that loses them loses nothing kept.
fs::Durability durability_of(const ContainerRecord& record) {
  return record.remove_on_exit ? fs::Durability::RenameOnly : fs::Durability::Synced;
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

std::filesystem::path ContainerStore::log_path(const std::string& id) const {
  return data_dir(id) / "ctr.log";
}

ContainerRecord ContainerStore::create(ContainerRecord record,
                                       const std::function<void(ContainerRecord&)>& prepare) const {
  fs::make_dirs(runtime_root_ / "containers", 0700);
  ContainerLock names = lock_creations();
  check_not_an_id(record.name);
  record.id = fs::random_hex(32);
  if (record.name.empty()) record.name = "roost-" + record.id.substr(0, 12);
  for (const auto& existing : list())
    if (existing.name == record.name)
      throw UsageError(
          fmt::format("the name {} is in use by container {} ({}); remove it with 'roost "
                      "rm -f {}' or choose another --name",
                      record.name, existing.id.substr(0, 12), existing.status, record.name));
  record.created = format_timestamp(now_nanos());
  auto building = data_root_ / "containers" / (kCreatingPrefix + record.id);
  try {
    fs::make_dirs(building, 0700);
    // The upper directory's mode becomes the mode of the container's "/".
    for (const char* sub : {"upper", "work", "rootfs"}) fs::make_dirs(building / sub, 0755);
    fs::make_dirs(runtime_dir(record.id), 0700);
    prepare(record);
    fs::write_file_atomic(building / "config.json", config_to_json(record).dump(2) + "\n", 0600,
                          durability_of(record));
    if (::rename(building.c_str(), data_dir(record.id).c_str()) < 0)
      throw_errno(fmt::format("rename {} into place", building.string()));
  } catch (const Error&) {
    discard_unfinished(building, runtime_dir(record.id));
    throw;
  }
  return record;
}

ContainerLock ContainerStore::lock_creations() const {
  fs::make_dirs(data_root_ / "containers", 0700);
  UniqueFd names = lock_file(data_root_ / "containers.lock", O_CREAT);
  if (!names) throw_errno(fmt::format("open lock {}", (data_root_ / "containers.lock").string()));
  return ContainerLock(std::move(names));
}

void ContainerStore::save_state(const ContainerRecord& record) const {
  fs::make_dirs(runtime_dir(record.id), 0700);
  fs::write_file_atomic(runtime_dir(record.id) / "state.json", state_to_json(record).dump() + "\n",
                        0600, fs::Durability::RenameOnly);
  auto marker = data_dir(record.id) / kStartedMarker;
  if (record.status != kCreated && ::access(marker.c_str(), F_OK) != 0)
    fs::write_file_atomic(marker, "", 0600, durability_of(record));
}

ContainerRecord ContainerStore::read(const std::filesystem::path& dir) const {
  ContainerRecord record;
  record.id = dir.filename().string();
  try {
    config_from_json(json::parse(fs::read_file(dir / "config.json")), record);
  } catch (const std::exception& failure) {
    record.status = kCorrupt;
    record.error = fmt::format("unreadable configuration: {}", why_unreadable(failure));
    return record;
  }
  auto state_file = runtime_dir(record.id) / "state.json";
  if (::access(state_file.c_str(), F_OK) != 0) {
    bool started = ::access((dir / kStartedMarker).c_str(), F_OK) == 0;
    record.status = started ? kStopped : kCreated;
    if (started) record.error = "its runtime state is gone (the machine restarted)";
    return record;
  }
  try {
    state_from_json(json::parse(fs::read_file(state_file)), record);
  } catch (const std::exception& failure) {
    record.status = kCorrupt;
    record.error =
        fmt::format("unreadable state {}: {}", state_file.string(), why_unreadable(failure));
    return record;
  }
  settle(record);
  return record;
}

std::vector<ContainerRecord> ContainerStore::list() const {
  std::vector<ContainerRecord> records;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(data_root_ / "containers", error)) {
    if (entry.path().filename().string().starts_with(".")) continue;
    records.push_back(read(entry.path()));
  }
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  return records;
}

namespace {

std::optional<ContainerRecord> find_among(const std::vector<ContainerRecord>& records,
                                          const std::string& name_or_id) {
  // An empty text is a prefix of every id; it names no container.
  if (name_or_id.empty())
    throw UsageError("\"\": an empty container name or id names no container; see 'roost ps -a'");
  // A full id wins over a name, and a name over an id prefix.
  for (const auto& record : records)
    if (record.id == name_or_id) return record;
  std::vector<const ContainerRecord*> prefixed;
  for (const auto& record : records) {
    if (record.name == name_or_id) return record;
    if (record.id.starts_with(name_or_id)) prefixed.push_back(&record);
  }
  if (prefixed.size() > 1)
    throw UsageError(fmt::format(
        "container id prefix {} is ambiguous: {} containers match ({}, {}, ...); "
        "give more digits or the name",
        name_or_id, prefixed.size(), prefixed[0]->id.substr(0, 12), prefixed[1]->id.substr(0, 12)));
  if (prefixed.empty()) return std::nullopt;
  return *prefixed.front();
}

ContainerRecord get_among(const std::vector<ContainerRecord>& records,
                          const std::string& name_or_id) {
  if (auto record = find_among(records, name_or_id)) return *record;
  throw UsageError(fmt::format("no container named {}; see 'roost ps -a'", name_or_id));
}

}  // namespace

std::optional<ContainerRecord> ContainerStore::find(const std::string& name_or_id) const {
  return find_among(list(), name_or_id);
}

ContainerRecord ContainerStore::get(const std::string& name_or_id) const {
  return get_among(list(), name_or_id);
}

std::vector<ContainerRecord> ContainerStore::get_all(
    const std::vector<std::string>& names_or_ids) const {
  auto records = list();
  std::vector<ContainerRecord> found;
  found.reserve(names_or_ids.size());
  for (const auto& name_or_id : names_or_ids) found.push_back(get_among(records, name_or_id));
  return found;
}

ContainerLock ContainerStore::lock(const ContainerRecord& record) const {
  auto gone = [&] {
    return UsageError(fmt::format("container {} was removed meanwhile", record.name));
  };
  UniqueFd fd = lock_file(data_dir(record.id) / "lock", O_CREAT);
  if (!fd) {
    if (errno == ENOENT) throw gone();
    throw_errno(fmt::format("open lock of container {}", record.name));
  }
  if (::access((data_dir(record.id) / "config.json").c_str(), F_OK) != 0 &&
      record.status != kCorrupt)
    throw gone();
  return ContainerLock(std::move(fd));
}

ContainerRecord ContainerStore::reload(const ContainerRecord& record) const {
  return read(data_dir(record.id));
}

std::filesystem::path ContainerStore::retire(const ContainerRecord& record) const {
  UniqueFd names = lock_file(data_root_ / "containers.lock", O_CREAT);
  if (!names) throw_errno(fmt::format("open lock {}", (data_root_ / "containers.lock").string()));
  auto retired = data_root_ / "containers" / (kRetiredPrefix + record.id);
  if (::rename(data_dir(record.id).c_str(), retired.c_str()) < 0 && errno != ENOENT)
    throw_errno(fmt::format("rename {} for removal", data_dir(record.id).string()));
  fs::remove_tree(runtime_dir(record.id));
  return retired;
}

std::vector<std::filesystem::path> ContainerStore::retired_dirs() const {
  std::vector<std::filesystem::path> dirs;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(data_root_ / "containers", error)) {
    auto name = entry.path().filename().string();
    if (name.starts_with(kRetiredPrefix) ||
        (name.starts_with(kCreatingPrefix) && older_than(entry.path(), kAbandonedAfter)))
      dirs.push_back(entry.path());
  }
  return dirs;
}

void ContainerStore::keep_exit_code(const std::string& id, int code) const {
  auto dir = runtime_root_ / "exits";
  fs::make_dirs(dir, 0700);
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error))
    if (older_than(entry.path(), kExitCodeKeptFor)) std::filesystem::remove(entry.path(), error);
  fs::write_file_atomic(dir / id, std::to_string(code) + "\n", 0600, fs::Durability::RenameOnly);
}

std::optional<int> ContainerStore::kept_exit_code(const std::string& id) const {
  try {
    return std::stoi(fs::read_file(runtime_root_ / "exits" / id));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::vector<ProcessIdentity> ContainerStore::recorded_processes(const std::string& id) const {
  ContainerRecord record;
  try {
    state_from_json(json::parse(fs::read_file(runtime_dir(id) / "state.json")), record);
  } catch (const std::exception& failure) {
    spdlog::debug("container {}: no processes recorded in a readable state: {}", id,
                  failure.what());
    return {};
  }
  std::vector<ProcessIdentity> processes;
  for (const auto& process : {record.process, record.monitor})
    if (!process.empty()) processes.push_back(process);
  return processes;
}

bool is_active(const ContainerRecord& record) {
  return record.status == kRunning || record.status == kStopping;
}

std::string describe_status(const ContainerRecord& record) {
  auto now = now_nanos();
  auto age = [&](const std::string& stamp) {
    auto time = parse_rfc3339(stamp);
    return time ? describe_age(*time, now) : std::string("?");
  };
  if (record.status == kRunning) return "Up " + age(record.started_at);
  if (record.status == kExited)
    return fmt::format("Exited ({}) {} ago", record.exit_code.value_or(-1),
                       age(record.finished_at));
  if (record.status == kStopping) return "Stopping";
  if (record.status == kStopped) return "Stopped";
  if (record.status == kCorrupt) return "Corrupt";
  return "Created";
}

}  // namespace roost::cli
