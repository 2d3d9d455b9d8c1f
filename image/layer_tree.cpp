#include "image/layer_tree.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::image {

EntryPath EntryPath::parse(std::string_view raw, std::string_view subject) {
  if (raw.starts_with('/')) throw Error(fmt::format("{}: path leaves the layer", subject));
  EntryPath entry;
  while (!raw.empty()) {
    size_t slash = raw.find('/');
    std::string_view component = raw.substr(0, slash);
    raw = slash == std::string_view::npos ? std::string_view() : raw.substr(slash + 1);
    if (component.empty() || component == ".") continue;
    if (component == "..") throw Error(fmt::format("{}: path leaves the layer", subject));
    if (!entry.path_.empty()) entry.path_ += '/';
    entry.path_ += component;
  }
  return entry;
}

EntryPath EntryPath::join(const EntryPath& directory, std::string_view name) {
  EntryPath entry = directory;
  if (!entry.path_.empty()) entry.path_ += '/';
  entry.path_ += name;
  return entry;
}

std::string_view EntryPath::parent() const {
  size_t slash = path_.rfind('/');
  return slash == std::string::npos ? std::string_view() : std::string_view(path_).substr(0, slash);
}

std::string_view EntryPath::name() const {
  size_t slash = path_.rfind('/');
  return slash == std::string::npos ? std::string_view(path_)
                                    : std::string_view(path_).substr(slash + 1);
}

size_t EntryPath::depth() const {
  if (path_.empty()) return 0;
  return 1 + static_cast<size_t>(std::count(path_.begin(), path_.end(), '/'));
}

int open_beneath(int dir_fd, const char* path, int flags) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  for (;;) {
    long fd = ::syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
    // EAGAIN: a concurrent rename somewhere on the system made the kernel unsure.
    if (fd < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    return static_cast<int>(fd);
  }
}

void throw_lookup_error(std::string_view subject, std::string_view what, int errno_value) {
  if (errno_value == ELOOP) throw Error(fmt::format("{}: path goes through a symlink", subject));
  if (errno_value == EXDEV) throw Error(fmt::format("{}: path leaves the layer", subject));
  if (errno_value == ENOTDIR)
    throw Error(fmt::format("{}: a parent in the path is not a directory", subject));
  throw_errno(fmt::format("{}: {}", subject, what), errno_value);
}

LayerTree::LayerTree(const std::filesystem::path& root, Listener listener)
    : root_path_(root), listener_(std::move(listener)) {
  root_.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_) throw_errno(fmt::format("open {}", root.string()));
}

int LayerTree::parent_of(const EntryPath& entry, std::string_view subject) {
  std::string_view parent = entry.parent();
  if (parent.empty()) return root_.get();
  if (cached_fd_ && cached_path_ == parent) return cached_fd_.get();
  cached_fd_.reset();
  cached_fd_.reset(open_or_create_directory(parent, subject));
  cached_path_ = parent;
  return cached_fd_.get();
}

int LayerTree::open_or_create_directory(std::string_view path, std::string_view subject) {
  std::string path_text(path);
  int fd = open_beneath(root_.get(), path_text.c_str(), O_PATH | O_DIRECTORY);
  if (fd >= 0) return fd;
  if (errno != ENOENT) throw_lookup_error(subject, "open parent directory", errno);
  return create_directories(path, subject).release();
}

// Tars may leave out the directories above an entry; they are made as the layer's
// own directories so their final mode is set with the others.
UniqueFd LayerTree::create_directories(std::string_view path, std::string_view subject) {
  UniqueFd current;
  int at = root_.get();
  EntryPath walked;
  for (const auto& component : std::filesystem::path(path)) {
    walked = EntryPath::join(walked, component.native());
    int fd = open_beneath(at, component.c_str(), O_PATH | O_DIRECTORY);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(at, component.c_str(), 0700) < 0 && errno != EEXIST)
        throw_errno(fmt::format("{}: create directory {}", subject, walked.path()));
      listener_.directory_created(walked);
      fd = open_beneath(at, component.c_str(), O_PATH | O_DIRECTORY);
    }
    if (fd < 0) throw_lookup_error(subject, "open parent directory " + walked.path(), errno);
    current.reset(fd);
    at = fd;
  }
  return current;
}

UniqueFd LayerTree::open_parent(const EntryPath& entry, std::string_view subject) {
  std::string parent = entry.parent().empty() ? "." : std::string(entry.parent());
  UniqueFd fd(open_beneath(root_.get(), parent.c_str(), O_PATH | O_DIRECTORY));
  if (!fd && errno == ENOENT) throw Error(fmt::format("{}: not found in this layer", subject));
  if (!fd) throw_lookup_error(subject, "open parent directory", errno);
  return fd;
}

UniqueFd LayerTree::open_directory(const EntryPath& directory, std::string_view subject) {
  const char* path = directory.is_root() ? "." : directory.path().c_str();
  UniqueFd fd(open_beneath(root_.get(), path, O_RDONLY | O_DIRECTORY));
  if (!fd) throw_lookup_error(subject, "open directory", errno);
  return fd;
}

void LayerTree::remove(int parent_fd, const EntryPath& entry, std::string_view subject) {
  std::string name(entry.name());
  if (::unlinkat(parent_fd, name.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR) throw_errno(fmt::format("{}: remove the earlier entry", subject));
  const std::string& path = entry.path();
  if (cached_path_ == path || cached_path_.starts_with(path + "/")) {
    cached_fd_.reset();
    cached_path_.clear();
  }
  // The path holds no symlink: its parent was just resolved with RESOLVE_NO_SYMLINKS
  // inside a directory only this process writes to.
  fs::remove_tree(root_path_ / path);
  listener_.directory_removed(entry);
}

}  // namespace roost::image
