#include "launcher/mounts.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/process.hpp"

namespace roost::cli {

namespace {

enum class TargetKind { Directory, File };

struct DeviceNode {
  const char* name;
};

// The host's device files are bind-mounted: a user namespace cannot create device nodes.
constexpr DeviceNode kDevices[] = {{"null"}, {"zero"}, {"full"}, {"random"}, {"urandom"}, {"tty"}};

struct DevLink {
  const char* name;
  const char* target;
};

constexpr DevLink kDevLinks[] = {
    {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"},
};

int open_in_root(int root_fd, const std::string& path, int flags, mode_t mode = 0) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = flags & O_CREAT ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
}

void make_directories_in_root(int root_fd, const std::string& path) {
  std::string prefix;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? slash : slash - start);
    start = slash == std::string::npos ? path.size() : slash + 1;
    if (part.empty()) continue;
    std::string next = prefix + "/" + part;
    UniqueFd existing(open_in_root(root_fd, next, O_PATH | O_DIRECTORY));
    if (!existing) {
      if (errno != ENOENT) throw_errno(fmt::format("open {} in the container", next));
      UniqueFd parent(open_in_root(root_fd, prefix.empty() ? "/" : prefix, O_PATH | O_DIRECTORY));
      if (!parent) throw_errno(fmt::format("open {} in the container", prefix));
      if (::mkdirat(parent.get(), part.c_str(), 0755) < 0 && errno != EEXIST)
        throw_errno(fmt::format("create directory {} in the container", next));
    }
    prefix = next;
  }
}

// Opens (creating if missing) a mount point inside the rootfs without letting a
// symlink in the image lead outside it.
UniqueFd open_target(int root_fd, const std::string& path, TargetKind kind) {
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0)
    make_directories_in_root(root_fd, path.substr(0, slash));
  if (kind == TargetKind::Directory) {
    make_directories_in_root(root_fd, path);
    UniqueFd fd(open_in_root(root_fd, path, O_PATH | O_DIRECTORY));
    if (!fd) throw_errno(fmt::format("open mount point {} in the container", path));
    return fd;
  }
  UniqueFd fd(open_in_root(root_fd, path, O_PATH));
  if (!fd && errno == ENOENT) {
    UniqueFd created(open_in_root(root_fd, path, O_CREAT | O_WRONLY, 0644));
    if (!created) throw_errno(fmt::format("create mount point {} in the container", path));
    fd.reset(open_in_root(root_fd, path, O_PATH));
  }
  if (!fd) throw_errno(fmt::format("open mount point {} in the container", path));
  return fd;
}

std::string fd_path(const UniqueFd& fd) {
  return fmt::format("/proc/self/fd/{}", fd.get());
}

void mount_or_throw(const char* source, const std::string& target, const char* type,
                    unsigned long flags, const char* data, const std::string& what) {
  if (::mount(source, target.c_str(), type, flags, data) < 0)
    throw_errno(fmt::format("mount {}", what));
}

// Binds `source` onto the mount point `target` (an O_PATH descriptor inside the rootfs).
// The tree is cloned and made read-only while still detached, so no window exists in
// which it is writable, and the descriptor never lets a symlink redirect the mount.
void attach_bind(const std::string& source, const UniqueFd& target, bool read_only,
                 const std::string& what) {
  UniqueFd tree(static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, source.c_str(),
                                           OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE)));
  if (!tree) throw_errno(fmt::format("clone the mount tree of {}", what));
  if (read_only) {
    struct mount_attr attr = {};
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
                  sizeof attr) < 0)
      throw_errno(fmt::format("make {} read-only", what));
  }
  if (::syscall(SYS_move_mount, tree.get(), "", target.get(), "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    throw_errno(fmt::format("mount {}", what));
}

void bind_into_root(int root_fd, const std::string& source, const std::string& destination,
                    bool read_only) {
  struct stat st;
  if (::stat(source.c_str(), &st) < 0) throw_errno(fmt::format("volume source {}", source));
  auto target = open_target(root_fd, destination,
                            S_ISDIR(st.st_mode) ? TargetKind::Directory : TargetKind::File);
  attach_bind(source, target, read_only, fmt::format("{} on {}", source, destination));
}

std::string overlay_options(const ContainerPlan& plan, bool kernel) {
  std::string lower;
  for (const auto& dir : plan.lower_dirs)
    lower += (lower.empty() ? "" : ":") + dir.filename().string();
  std::string options = fmt::format("lowerdir={},upperdir={},workdir={}", lower,
                                    plan.upper_dir.string(), plan.work_dir.string());
  return kernel ? options + ",userxattr" : options;
}

// fuse-overlayfs's ID:MAPPED-ID:COUNT triples, joined by ':'.
std::string fuse_mapping(const userns::IdTranslations& translations) {
  std::string text;
  for (const auto& translation : translations)
    text += fmt::format("{}{}:{}:{}", text.empty() ? "" : ":", translation.from, translation.to,
                        translation.count);
  return text;
}

// fuse-overlayfs runs in the container's namespace and reads stored owners as its map
// names them; it shows each as the storage map names it (the image's own owner) and
// stores a new owner the other way round. Ids it has no translation for read as the
// overflow id, so none is given unless some owner shifts.
std::string fuse_overlay_options(const ContainerPlan& plan) {
  auto options = overlay_options(plan, false);
  if (!stored_owners_shift(plan)) return options;
  auto translations = stored_owner_translations(plan);
  return options + fmt::format(",uidmapping={},gidmapping={}", fuse_mapping(translations.uids),
                               fuse_mapping(translations.gids));
}

// Layer directories are named relative to their parent so that many layers fit in
// the page-sized mount option string.
void enter_layers_directory(const ContainerPlan& plan) {
  if (plan.lower_dirs.empty()) throw Error("image has no layers");
  auto layers = plan.lower_dirs.front().parent_path();
  if (::chdir(layers.c_str()) < 0) throw_errno(fmt::format("enter {}", layers.string()));
}

bool try_kernel_overlay(const ContainerPlan& plan, bool required) {
  auto options = overlay_options(plan, true);
  if (::mount("overlay", plan.rootfs.c_str(), "overlay", 0, options.c_str()) == 0) return true;
  int error = errno;
  if (required)
    throw_errno(fmt::format("mount the image with the kernel's overlayfs on {} (try "
                            "--storage-driver fuse-overlayfs)",
                            plan.rootfs.string()),
                error);
  spdlog::debug("kernel overlayfs refused in this user namespace ({}); using fuse-overlayfs",
                std::strerror(error));
  return false;
}

std::string find_program(const std::string& name) {
  for (const char* dir : {"/usr/bin", "/bin", "/usr/local/bin", "/usr/sbin"}) {
    std::string candidate = std::string(dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw Error(
      fmt::format("{} is not installed; install it (apt-get install {}) or use "
                  "--storage-driver overlay",
                  name, name));
}

void mount_fuse_overlay(const ContainerPlan& plan) {
  if (::access("/dev/fuse", R_OK | W_OK) < 0)
    throw_errno(
        "open /dev/fuse for fuse-overlayfs (it must be readable and writable by you; a "
        "distribution sets it to mode 0666)");
  auto program = find_program("fuse-overlayfs");
  auto result = process::run({program, "-o", fuse_overlay_options(plan), plan.rootfs.string()});
  if (result.exit_status != 0)
    throw Error(fmt::format("fuse-overlayfs on {} {}: {}", plan.rootfs.string(),
                            process::describe_status(result.exit_status), result.error_output));
}

void mount_dev(int root_fd, const ContainerPlan& plan) {
  auto dev = open_target(root_fd, "/dev", TargetKind::Directory);
  mount_or_throw("tmpfs", fd_path(dev), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k",
                 "tmpfs on /dev");
  std::string base = plan.rootfs.string() + "/dev/";
  for (const auto& device : kDevices) {
    std::string target = base + device.name;
    UniqueFd placeholder(::open(target.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    if (!placeholder) throw_errno(fmt::format("create /dev/{}", device.name));
    std::string source = std::string("/dev/") + device.name;
    mount_or_throw(source.c_str(), target, nullptr, MS_BIND, nullptr, source);
  }
  for (const auto& link : kDevLinks)
    if (::symlink(link.target, (base + link.name).c_str()) < 0)
      throw_errno(fmt::format("create /dev/{}", link.name));
  for (const char* dir : {"pts", "shm", "mqueue"})
    if (::mkdir((base + dir).c_str(), 0755) < 0) throw_errno(fmt::format("create /dev/{}", dir));
  std::string pts_options = "newinstance,ptmxmode=0666,mode=0620";
  if (userns::to_outside(plan.maps.gids, 5)) pts_options += ",gid=5";
  mount_or_throw("devpts", base + "pts", "devpts", MS_NOSUID | MS_NOEXEC, pts_options.c_str(),
                 "devpts on /dev/pts");
  mount_or_throw("shm", base + "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=1777,size=65536k", "tmpfs on /dev/shm");
  if (::mount("mqueue", (base + "mqueue").c_str(), "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              nullptr) < 0)
    spdlog::debug("mount mqueue on /dev/mqueue: {}, ignoring", std::strerror(errno));
}

void mount_proc_and_sys(int root_fd) {
  auto proc = open_target(root_fd, "/proc", TargetKind::Directory);
  mount_or_throw("proc", fd_path(proc), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr,
                 "proc on /proc");
  // Without its own network namespace the container may not mount a new sysfs, so it
  // gets the host's, read-only.
  bind_into_root(root_fd, "/sys", "/sys", true);
}

// The host's cgroup2 arrives with the bind of /sys; the kernel refuses to stack the
// same superblock on the root of its own mount (EBUSY), so a small tmpfs goes between.
void mount_cgroup_namespace(int root_fd) {
  auto target = open_target(root_fd, "/sys/fs/cgroup", TargetKind::Directory);
  mount_or_throw("tmpfs", fd_path(target), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                 "mode=755,size=4k", "tmpfs under /sys/fs/cgroup");
  auto cgroup = open_target(root_fd, "/sys/fs/cgroup", TargetKind::Directory);
  mount_or_throw("cgroup2", fd_path(cgroup), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr,
                 "cgroup2 on /sys/fs/cgroup");
}

// Images often make /etc/resolv.conf a link, to systemd-resolved's file under /run for
// one, which does not exist before the container runs. Such a link is replaced by a
// regular file in the container's own upper layer and the bind lands on that file:
// nothing follows the link, so one aiming out of the rootfs leads nowhere, and an init
// that mounts a tmpfs on /run cannot hide the container's file.
UniqueFd open_etc_file(int root_fd, const std::string& name) {
  auto etc = open_target(root_fd, "/etc", TargetKind::Directory);
  std::string path = "/etc/" + name;
  struct stat st;
  if (::fstatat(etc.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
    spdlog::debug("{} in the image is a link; the container gets a file in its place", path);
    if (::unlinkat(etc.get(), name.c_str(), 0) < 0)
      throw_errno(fmt::format("remove the link {} in the container", path));
  }
  UniqueFd target(::openat(etc.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!target && errno == ENOENT) {
    UniqueFd created(
        ::openat(etc.get(), name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644));
    if (!created) throw_errno(fmt::format("create mount point {} in the container", path));
    target.reset(::openat(etc.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  }
  if (!target) throw_errno(fmt::format("open mount point {} in the container", path));
  return target;
}

void mount_etc_files(int root_fd, const ContainerPlan& plan) {
  for (const char* file : {"hosts", "hostname", "resolv.conf"})
    attach_bind((plan.etc_dir / file).string(), open_etc_file(root_fd, file), false,
                fmt::format("{} on /etc/{}", (plan.etc_dir / file).string(), file));
}

UniqueFd open_rootfs(const ContainerPlan& plan) {
  UniqueFd root(::open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno(fmt::format("open rootfs {}", plan.rootfs.string()));
  return root;
}

// The upper directory is the container's "/", made by the caller, and belongs to the
// container's root as stored: the caller itself, however the container's map names it.
void give_upper_to_container_root(const ContainerPlan& plan) {
  auto stored_root = [](const userns::IdMap& map, const userns::IdMap& storage_map) {
    auto outside = userns::to_outside(storage_map, 0);
    return outside ? userns::to_inside(map, *outside).value_or(0) : 0;
  };
  uid_t uid = stored_root(plan.maps.uids, plan.storage_maps.uids);
  gid_t gid = stored_root(plan.maps.gids, plan.storage_maps.gids);
  for (const auto& dir : {plan.upper_dir, plan.work_dir})
    if (::chown(dir.c_str(), uid, gid) < 0)
      throw_errno(fmt::format("give {} to the container's root", dir.string()));
}

// The kernel's overlayfs shows stored owners as the container's map reads them, so a
// container whose stored owners shift gets fuse-overlayfs.
bool kernel_overlay_may_serve(const ContainerPlan& plan) {
  if (plan.storage_driver == "fuse-overlayfs") return false;
  if (!stored_owners_shift(plan)) return true;
  if (plan.storage_driver == "overlay")
    throw Error(
        "--storage-driver overlay cannot show the image's file owners under this container's "
        "id map; create the container again with --storage-driver fuse-overlayfs");
  spdlog::debug(
      "storage driver auto: fuse-overlayfs, as this container's id map (keep-id) names stored "
      "owners otherwise than the image does and the kernel's overlayfs cannot translate them");
  return false;
}

}  // namespace

bool mount_rootfs(const ContainerPlan& plan) {
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
    throw_errno("make the container's mounts private");
  give_upper_to_container_root(plan);
  enter_layers_directory(plan);
  bool kernel =
      kernel_overlay_may_serve(plan) && try_kernel_overlay(plan, plan.storage_driver == "overlay");
  if (!kernel) mount_fuse_overlay(plan);
  spdlog::debug("storage driver {} (asked: {}) mounted the rootfs on {}",
                kernel ? "overlay" : "fuse-overlayfs", plan.storage_driver, plan.rootfs.string());
  return !kernel;
}

// pivot_root moves every process of the mount namespace whose root is the old root,
// fuse-overlayfs included; its lookups would then go through its own mount (an absolute
// symlink in a lower layer is enough) and deadlock. The container pivots in a copy instead.
void leave_fuse_overlayfs_behind() {
  if (::unshare(CLONE_NEWNS) < 0)
    throw_errno("make the container a mount namespace apart from fuse-overlayfs");
}

void mount_system_filesystems(const ContainerPlan& plan, bool own_cgroup) {
  auto root = open_rootfs(plan);
  mount_proc_and_sys(root.get());
  if (own_cgroup) mount_cgroup_namespace(root.get());
  mount_dev(root.get(), plan);
  mount_etc_files(root.get(), plan);
}

void mount_user_volumes(const ContainerPlan& plan) {
  auto root = open_rootfs(plan);
  for (const auto& bind : plan.binds)
    bind_into_root(root.get(), bind.source, bind.destination, bind.read_only);
  for (const auto& tmpfs : plan.tmpfs) {
    auto target = open_target(root.get(), tmpfs.destination, TargetKind::Directory);
    mount_or_throw("tmpfs", fd_path(target), "tmpfs", tmpfs.flags,
                   tmpfs.options.empty() ? nullptr : tmpfs.options.c_str(),
                   "tmpfs on " + tmpfs.destination);
  }
}

void pivot_into_rootfs(const ContainerPlan& plan) {
  if (::chdir(plan.rootfs.c_str()) < 0) throw_errno(fmt::format("enter {}", plan.rootfs.string()));
  if (::syscall(SYS_pivot_root, ".", ".") < 0) throw_errno("pivot_root into the rootfs");
  if (::umount2(".", MNT_DETACH) < 0) throw_errno("detach the host's root");
  if (::chdir("/") < 0) throw_errno("chdir /");
}

void make_root_read_only() {
  if (::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) < 0)
    throw_errno("remount the root filesystem read-only");
}

}  // namespace roost::cli
