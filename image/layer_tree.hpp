#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "common/fd.hpp"

namespace roost::image {

// An entry's path inside the layer, normalised: no leading "./", no empty or "."
// components, never absolute, never "..". The layer root is the empty path.
class EntryPath {
 public:
  // Throws an Error naming `subject` (`layer entry "NAME"`) when `raw` is absolute or has a ".."
  // component.
  static EntryPath parse(std::string_view raw, std::string_view subject);
  static EntryPath join(const EntryPath& directory, std::string_view name);

  const std::string& path() const { return path_; }
  bool is_root() const { return path_.empty(); }
  std::string_view parent() const;
  std::string_view name() const;
  size_t depth() const;

 private:
  std::string path_;
};

// Opens and creates files beneath the layer's root directory only: every lookup goes
// through openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS, so neither "..",
// nor a symlink (even one this layer just made) can lead outside it.
class LayerTree {
 public:
  struct Listener {
    std::function<void(const EntryPath&)> directory_created;
    std::function<void(const EntryPath&)> directory_removed;
  };

  LayerTree(const std::filesystem::path& root, Listener listener);

  int root_fd() const { return root_.get(); }

  // The descriptor of `entry`'s parent (owned by the tree, valid until the next call),
  // creating missing parents as plain directories.
  int parent_of(const EntryPath& entry, std::string_view subject);

  // The parent of an entry that must exist already (a hardlink's target), not cached.
  UniqueFd open_parent(const EntryPath& entry, std::string_view subject);

  // Opens a directory of the layer for reading its inode (fchown, fchmod, xattrs).
  UniqueFd open_directory(const EntryPath& directory, std::string_view subject);

  // Removes what is at `entry` (a whole tree for a directory) so an entry of the same
  // name later in the layer can take its place.
  void remove(int parent_fd, const EntryPath& entry, std::string_view subject);

 private:
  int open_or_create_directory(std::string_view path, std::string_view subject);
  UniqueFd create_directories(std::string_view path, std::string_view subject);

  std::filesystem::path root_path_;
  UniqueFd root_;
  Listener listener_;
  std::string cached_path_;
  UniqueFd cached_fd_;
};

// openat2 relative to `dir_fd` that refuses symlinks, magic links and escapes.
int open_beneath(int dir_fd, const char* path, int flags);

// An Error for a failed lookup for `subject`, turning ELOOP and EXDEV into words.
[[noreturn]] void throw_lookup_error(std::string_view subject, std::string_view what,
                                     int errno_value);

}  // namespace roost::image
