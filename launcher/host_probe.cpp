#include "launcher/host_probe.hpp"

#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "userns/namespace.hpp"
#include "userns/subid.hpp"

extern char** environ;

namespace roost::cli {

namespace {

namespace stdfs = std::filesystem;

std::optional<long> read_sysctl(const char* path) {
  try {
    return std::stol(fs::read_file(path));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

struct OtherEntry {
  std::string owner;
  uint64_t start = 0;
  uint64_t count = 0;
};

// Lines of users other than `user_name` and `uid`; malformed ones are not ours to judge.
std::vector<OtherEntry> other_entries(const std::string& content, const std::string& user_name,
                                      uint32_t uid) {
  std::vector<OtherEntry> entries;
  std::istringstream lines(content);
  for (std::string line; std::getline(lines, line);) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    if (line.empty() || line[0] == '#' || second == std::string::npos) continue;
    std::string owner = line.substr(0, first);
    if (owner == user_name || owner == std::to_string(uid)) continue;
    try {
      entries.push_back({owner, std::stoull(line.substr(first + 1, second - first - 1)),
                         std::stoull(line.substr(second + 1))});
    } catch (const std::exception&) {
    }
  }
  return entries;
}

std::string id_span(uint64_t start, uint64_t count) {
  return fmt::format("{}-{}", start, start + count - 1);
}

void find_overlaps(const std::string& content, const std::string& user_name, uint32_t uid,
                   SubidFinding& finding) {
  for (const auto& [start, count] : finding.ranges)
    finding.first_free = std::max(finding.first_free, start + count);
  for (const auto& other : other_entries(content, user_name, uid)) {
    finding.first_free = std::max(finding.first_free, other.start + other.count);
    for (const auto& [start, count] : finding.ranges) {
      uint64_t low = std::max(start, other.start);
      uint64_t high = std::min(start + count, other.start + other.count);
      if (low < high)
        finding.overlaps.push_back(
            fmt::format("user {} has {} too", other.owner, id_span(low, high - low)));
    }
  }
}

// A child that tries unshare(CLONE_NEWUSER) and exits with the errno (0 when it worked).
int user_namespace_errno() {
  pid_t pid = ::fork();
  if (pid < 0) return errno;
  if (pid == 0) ::_exit(::unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EINVAL;
}

std::string userns_problem(const UsernsFinding& finding, int error) {
  if (error == 0) return "";
  std::string why = fmt::format("a user namespace cannot be made: {}", std::strerror(error));
  if (finding.max_user_namespaces == 0L) return why + " (user.max_user_namespaces is 0)";
  if (error == ENOSPC)
    return why + fmt::format(" (the {} of user.max_user_namespaces are in use)",
                             finding.max_user_namespaces.value_or(0));
  if (finding.unprivileged_userns_clone == 0L)
    return why + " (kernel.unprivileged_userns_clone is 0)";
  if (finding.apparmor_restricts_userns == 1L)
    return why + " (AppArmor restricts them: kernel.apparmor_restrict_unprivileged_userns is 1)";
  return why;
}

// The overlay probe's side inside the namespace: its own mount namespace, then the mount.
int mount_overlay_here(const stdfs::path& scratch) {
  if (::unshare(CLONE_NEWNS) < 0) throw_errno("create a mount namespace");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    throw_errno("make the mounts of the probe private");
  std::string options = fmt::format(
      "lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work,userxattr", scratch.string());
  std::string target = (scratch / "merged").string();
  if (::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) < 0)
    throw_errno(fmt::format("mount overlay on {}", target));
  return 0;
}

struct MountEntry {
  std::string point;
  std::string type;
};

// The mount that holds `path`: the longest mount point that is a prefix of it.
MountEntry mount_of(const stdfs::path& path) {
  MountEntry best;
  std::istringstream lines(fs::read_file("/proc/self/mountinfo"));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string word; fields >> word;) words.push_back(word);
    auto dash = std::find(words.begin(), words.end(), "-");
    if (words.size() < 5 || dash == words.end() || dash + 1 == words.end()) continue;
    std::string point = words[4];
    bool holds = path.string() == point || point == "/" || path.string().starts_with(point + "/");
    if (holds && point.size() >= best.point.size()) best = {point, *(dash + 1)};
  }
  return best;
}

bool is_network_filesystem(const std::string& type) {
  static const std::set<std::string> network = {"nfs",   "nfs4", "cifs",       "smb3",
                                                "smbfs", "ceph", "glusterfs",  "lustre",
                                                "gpfs",  "afs",  "fuse.sshfs", "beegfs"};
  return network.contains(type);
}

std::optional<bool> supports_user_xattrs(const stdfs::path& dir) {
  std::string pattern = (dir / ".roost-doctor-XXXXXX").string();
  UniqueFd fd(::mkstemp(pattern.data()));
  if (!fd) return std::nullopt;
  int result = ::fsetxattr(fd.get(), "user.roost.probe", "1", 1, 0);
  int error = errno;
  ::unlink(pattern.c_str());
  if (result == 0) return true;
  if (error == ENOTSUP) return false;
  return std::nullopt;
}

stdfs::path nearest_existing(stdfs::path path) {
  path = stdfs::absolute(path);
  std::error_code error;
  while (!stdfs::is_directory(path, error) && path.has_parent_path() && path != path.root_path())
    path = path.parent_path();
  return path;
}

// "fuse-overlayfs: version 1.10" among the lines fuse-overlayfs --version prints.
std::string fuse_overlayfs_version(const std::string& output) {
  constexpr std::string_view kMarker = "fuse-overlayfs: version ";
  auto at = output.find(kMarker);
  if (at == std::string::npos) return "unknown";
  at += kMarker.size();
  return output.substr(at, output.find('\n', at) - at);
}

}  // namespace

SubidFinding find_subids(const std::string& file, const std::string& user_name, uint32_t uid) {
  SubidFinding finding;
  finding.file = file;
  std::string content;
  try {
    content = fs::read_file(file);
    finding.file_exists = true;
    for (const auto& range : userns::ranges_for_user(content, user_name, uid, file))
      finding.ranges.emplace_back(range.start, range.count);
  } catch (const Error& error) {
    if (error.errno_value() != ENOENT) finding.error = error.what();
    return finding;
  }
  std::vector<userns::SubidRange> ranges;
  for (const auto& [start, count] : finding.ranges)
    ranges.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(count)});
  for (const auto& range : userns::without_overlaps(ranges)) finding.total += range.count;
  find_overlaps(content, user_name, uid, finding);
  return finding;
}

HelperFinding find_map_helper_state(const std::string& name) {
  HelperFinding finding{name, "", "", ""};
  try {
    finding.path = userns::find_map_helper(name);
    userns::check_map_helper(finding.path);
  } catch (const Error& error) {
    finding.problem = error.what();
    return finding;
  }
  struct stat info {};
  bool setuid_root =
      ::stat(finding.path.c_str(), &info) == 0 && info.st_uid == 0 && (info.st_mode & S_ISUID);
  finding.privilege = setuid_root ? "setuid root" : "file capabilities";
  return finding;
}

UsernsFinding find_user_namespaces() {
  UsernsFinding finding;
  finding.max_user_namespaces = read_sysctl("/proc/sys/user/max_user_namespaces");
  finding.unprivileged_userns_clone = read_sysctl("/proc/sys/kernel/unprivileged_userns_clone");
  finding.apparmor_restricts_userns =
      read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
  finding.problem = userns_problem(finding, user_namespace_errno());
  return finding;
}

std::string try_overlay_in_user_namespace(const stdfs::path& storage_dir) {
  std::string pattern = (storage_dir / ".roost-overlay-probe-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    return fmt::format("make a scratch directory in {}: {}", storage_dir.string(),
                       std::strerror(errno));
  stdfs::path scratch = pattern;
  std::string problem;
  try {
    for (const char* sub : {"lower", "upper", "work", "merged"}) fs::make_dirs(scratch / sub, 0700);
    auto single = userns::plan_maps_for(userns::current_caller(), {userns::MapMode::Single});
    userns::run_as_mapped_root(single, [&] { return mount_overlay_here(scratch); });
  } catch (const Error& error) {
    problem = error.what();
  }
  try {
    fs::remove_tree(scratch);
  } catch (const Error& error) {
    spdlog::warn("{}; remove it by hand", error.what());
  }
  return problem;
}

FuseFinding find_fuse() {
  FuseFinding finding;
  UniqueFd device(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!device)
    finding.device_problem =
        fmt::format("/dev/fuse cannot be opened for reading and writing: {}", std::strerror(errno));
  for (const char* dir : {"/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"}) {
    std::string candidate = std::string(dir) + "/fuse-overlayfs";
    if (::access(candidate.c_str(), X_OK) == 0) {
      finding.program = candidate;
      break;
    }
  }
  if (finding.program.empty())
    finding.program_problem =
        "fuse-overlayfs is not installed (looked in /usr/bin, /bin, "
        "/usr/local/bin and /usr/sbin)";
  else
    finding.version = fuse_overlayfs_version(program_output({finding.program, "--version"}));
  return finding;
}

StorageFinding find_storage(const stdfs::path& path) {
  StorageFinding finding;
  finding.existing = nearest_existing(path);
  finding.filesystem = mount_of(stdfs::weakly_canonical(finding.existing)).type;
  finding.network = is_network_filesystem(finding.filesystem);
  struct statvfs info {};
  if (::statvfs(finding.existing.c_str(), &info) == 0) {
    finding.noexec = info.f_flag & ST_NOEXEC;
    finding.read_only = info.f_flag & ST_RDONLY;
    finding.free_bytes = static_cast<uint64_t>(info.f_bavail) * info.f_frsize;
  }
  finding.user_xattrs = supports_user_xattrs(finding.existing);
  return finding;
}

RuntimeDirFinding find_runtime_dir() {
  RuntimeDirFinding finding;
  const char* value = std::getenv("XDG_RUNTIME_DIR");
  if (value == nullptr || *value == '\0') return finding;
  finding.path = value;
  struct stat info {};
  if (::lstat(value, &info) < 0)
    finding.problem = fmt::format("{} cannot be used: {}", value, std::strerror(errno));
  else if (!S_ISDIR(info.st_mode))
    finding.problem = fmt::format("{} is not a directory", value);
  else if (info.st_uid != ::getuid())
    finding.problem =
        fmt::format("{} belongs to uid {}, not to you (uid {})", value, info.st_uid, ::getuid());
  else if (info.st_mode & 077)
    finding.problem =
        fmt::format("{} has mode {:o}; others may use it", value, info.st_mode & 07777);
  return finding;
}

bool lingering(const std::string& user_name) {
  return ::access(("/var/lib/systemd/linger/" + user_name).c_str(), F_OK) == 0;
}

std::string program_output(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return "";
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int error = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (error != 0) return "";
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(read_end.get(), buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return text;
}

}  // namespace roost::cli
