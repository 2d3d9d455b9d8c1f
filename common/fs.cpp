#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace roost::fs {

std::string read_file(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path.string());
  std::string content;
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read " + path.string());
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

static void write_all(int fd, std::string_view content, const std::string& name) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write " + name);
    content.remove_prefix(static_cast<size_t>(n));
  }
}

void write_file_atomic(const std::filesystem::path& path, std::string_view content, mode_t mode,
                       Durability durability) {
  auto temporary = path;
  temporary += ".tmp-" + random_hex(6);
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) throw_errno("create " + temporary.string());
  try {
    write_all(fd.get(), content, temporary.string());
    if (durability == Durability::Synced && ::fsync(fd.get()) < 0)
      throw_errno("fsync " + temporary.string());
    if (::rename(temporary.c_str(), path.c_str()) < 0)
      throw_errno("rename " + temporary.string() + " to " + path.string());
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
}

void make_dirs(const std::filesystem::path& path, mode_t mode) {
  if (path.empty()) return;
  if (::mkdir(path.c_str(), mode) == 0) return;
  if (errno == EEXIST) {
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return;
    throw Error("create directory " + path.string() +
                ": a file that is not a directory is in the way");
  }
  if (errno != ENOENT) throw_errno("create directory " + path.string());
  if (path.has_parent_path() && path.parent_path() != path) make_dirs(path.parent_path(), mode);
  if (::mkdir(path.c_str(), mode) < 0 && errno != EEXIST)
    throw_errno("create directory " + path.string());
}

static void remove_children(int dir_fd, const std::string& name);

static void remove_entry(int parent_fd, const char* entry, const std::string& name) {
  if (::unlinkat(parent_fd, entry, 0) == 0 || errno == ENOENT) return;
  int error = errno;
  if (error != EISDIR && error != EPERM && error != EACCES) throw_errno("remove " + name, error);
  struct stat st;
  if (error != EISDIR && ::fstatat(parent_fd, entry, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !S_ISDIR(st.st_mode))
    throw_errno("remove " + name, error);
  // Only a directory gets here; it may lack the bits that let us list or empty it.
  ::fchmodat(parent_fd, entry, 0700, 0);
  UniqueFd child(::openat(parent_fd, entry, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!child) throw_errno("open " + name);
  remove_children(child.get(), name);
  if (::unlinkat(parent_fd, entry, AT_REMOVEDIR) < 0 && errno != ENOENT)
    throw_errno("remove directory " + name);
}

static void remove_children(int dir_fd, const std::string& name) {
  int listing_fd = ::dup(dir_fd);
  if (listing_fd < 0) throw_errno("dup descriptor of " + name);
  DIR* dir = ::fdopendir(listing_fd);
  if (dir == nullptr) {
    ::close(listing_fd);
    throw_errno("list " + name);
  }
  try {
    while (struct dirent* entry = ::readdir(dir)) {
      std::string_view entry_name = entry->d_name;
      if (entry_name == "." || entry_name == "..") continue;
      remove_entry(dir_fd, entry->d_name, name + "/" + std::string(entry_name));
    }
  } catch (...) {
    ::closedir(dir);
    throw;
  }
  ::closedir(dir);
}

void remove_tree(const std::filesystem::path& path) {
  auto parent = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  UniqueFd parent_fd(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent_fd) {
    if (errno == ENOENT) return;
    throw_errno("open " + parent.string());
  }
  remove_entry(parent_fd.get(), path.filename().c_str(), path.string());
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  size_t filled = 0;
  while (filled < bytes) {
    ssize_t n = ::getrandom(raw.data() + filled, bytes - filled, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("getrandom");
    filled += static_cast<size_t>(n);
  }
  std::string hex;
  hex.reserve(bytes * 2);
  constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned char c : raw) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0xf]);
  }
  return hex;
}

}  // namespace roost::fs
