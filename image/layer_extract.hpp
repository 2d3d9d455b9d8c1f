#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <string>

#include "image/layer_tree.hpp"

struct archive;
struct archive_entry;

namespace roost::image {

// Turns tar entries into files under a layer's root with *at() calls only. Directory
// modes, owners and times are applied by finish(), deepest first, so a directory the
// layer makes read-only can still be filled and its mtime is not disturbed later.
class LayerExtractor {
 public:
  explicit LayerExtractor(const std::filesystem::path& root);

  void extract(archive* tar, archive_entry* entry);
  void finish();

 private:
  struct Metadata {
    std::string subject;
    bool set_owner = false;
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0755;
    bool set_times = false;
    struct timespec times[2] = {};
  };

  Metadata metadata_of(archive_entry* entry, std::string subject) const;
  void extract_typed(archive* tar, archive_entry* entry, const EntryPath& path,
                     const std::string& subject);
  void extract_file(archive* tar, archive_entry* entry, const EntryPath& path,
                    const std::string& subject);
  void extract_directory(archive_entry* entry, const EntryPath& path, const std::string& subject);
  void extract_symlink(archive_entry* entry, const EntryPath& path, const std::string& subject);
  void extract_fifo(archive_entry* entry, const EntryPath& path, const std::string& subject);
  void extract_device(archive* tar, archive_entry* entry, const EntryPath& path,
                      const std::string& subject);
  void extract_hardlink(archive_entry* entry, const EntryPath& path, const std::string& subject);
  void extract_whiteout(const EntryPath& path, const std::string& subject);
  void make_whiteout_device(const EntryPath& path, const std::string& subject);
  void mark_opaque(const EntryPath& directory, const std::string& subject);

  template <typename Create>
  void create_replacing(int parent_fd, const EntryPath& path, const std::string& subject,
                        const char* what, Create create);
  void make_directory(int parent_fd, const EntryPath& path, const std::string& subject);
  void set_xattrs(int fd, archive_entry* entry, const std::string& subject);
  void set_owner_mode_times(int fd, const Metadata& metadata);
  void set_owner_at(int parent_fd, const char* name, const Metadata& metadata);
  void throw_owner_error(const Metadata& metadata, int errno_value);
  bool owner_differs(const Metadata& metadata) const;

  void forget_directories_under(const EntryPath& path);

  LayerTree tree_;
  uid_t own_uid_;
  gid_t own_gid_;
  std::map<std::string, Metadata> directories_;
};

}  // namespace roost::image
