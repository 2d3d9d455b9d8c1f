#include "image/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <map>
#include <memory>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "image/digest.hpp"

namespace roost::image {

namespace {

constexpr size_t kBlockSize = 1 << 20;
// Manifests, configs and indexes are far smaller; layers are mostly larger.
constexpr la_int64_t kDeferAbove = 1 << 20;

using Components = std::vector<std::string>;

class ArchiveReader {
 public:
  explicit ArchiveReader(const std::filesystem::path& path)
      : name_(path.string()), archive_(archive_read_new(), archive_read_free) {
    if (!archive_) throw Error(fmt::format("read archive {}: out of memory", name_));
    archive_read_support_filter_all(archive_.get());
    archive_read_support_format_tar(archive_.get());
    if (archive_read_open_filename(archive_.get(), path.c_str(), kBlockSize) != ARCHIVE_OK)
      fail("open");
  }

  // False at the end of the archive.
  bool next(archive_entry** entry) {
    int status = archive_read_next_header(archive_.get(), entry);
    if (status == ARCHIVE_EOF) return false;
    if (status == ARCHIVE_WARN)
      spdlog::debug("read archive {}: {}", name_, archive_error_string(archive_.get()));
    else if (status != ARCHIVE_OK)
      fail("read");
    return true;
  }

  // Bytes of the current entry into `buffer`; 0 at its end.
  size_t read_data(void* buffer, size_t size) {
    la_ssize_t n = archive_read_data(archive_.get(), buffer, size);
    if (n < 0) fail("read data from");
    return static_cast<size_t>(n);
  }

  const std::string& name() const { return name_; }
  bool compressed() const { return archive_filter_code(archive_.get(), 0) != ARCHIVE_FILTER_NONE; }

  [[noreturn]] void fail(std::string_view operation) const {
    const char* text = archive_error_string(archive_.get());
    throw Error(fmt::format("{} archive {}: {}", operation, name_,
                            text != nullptr ? text : "unknown libarchive error"));
  }

 private:
  std::string name_;
  std::unique_ptr<struct archive, int (*)(struct archive*)> archive_;
};

[[noreturn]] void refuse_entry(const std::string& archive, std::string_view entry,
                               std::string_view why) {
  throw Error(fmt::format("archive {}: refusing entry \"{}\": {}", archive, entry, why));
}

// The entry's path as components, without "." and empty parts; never absolute or "..".
Components safe_components(const std::string& archive, std::string_view path) {
  if (path.starts_with('/')) refuse_entry(archive, path, "its path is absolute");
  Components components;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = std::min(path.find('/', start), path.size());
    std::string_view part = path.substr(start, slash - start);
    if (part == "..") refuse_entry(archive, path, "its path leads out of the archive");
    if (!part.empty() && part != ".") components.emplace_back(part);
    start = slash + 1;
  }
  return components;
}

// Walks `count` directory components below `root_fd` without following symlinks.
UniqueFd open_directory(int root_fd, const Components& components, size_t count, bool create,
                        const std::string& archive) {
  UniqueFd current(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (!current) throw_errno("duplicate a directory descriptor");
  for (size_t i = 0; i < count; ++i) {
    if (create && ::mkdirat(current.get(), components[i].c_str(), 0700) < 0 && errno != EEXIST)
      throw_errno(fmt::format("archive {}: create directory {}", archive, components[i]));
    int fd = ::openat(current.get(), components[i].c_str(),
                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
      refuse_entry(archive, components[i], "a parent directory is a symlink or a file");
    if (fd < 0) throw_errno(fmt::format("archive {}: open directory {}", archive, components[i]));
    current.reset(fd);
  }
  return current;
}

void clear_leaf(int parent_fd, const std::string& leaf, const std::string& archive) {
  if (::unlinkat(parent_fd, leaf.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno == EISDIR) refuse_entry(archive, leaf, "it would replace a directory");
  throw_errno(fmt::format("archive {}: replace {}", archive, leaf));
}

void write_all(int fd, const char* data, size_t size, const std::string& name) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(fmt::format("write {}", name));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

std::string copy_data(ArchiveReader& reader, int fd, const std::string& name) {
  Sha256 hasher;
  std::vector<char> buffer(kBlockSize);
  while (size_t n = reader.read_data(buffer.data(), buffer.size())) {
    hasher.update(buffer.data(), n);
    write_all(fd, buffer.data(), n, name);
  }
  return hasher.digest();
}

using Placeholders = std::unordered_map<ino_t, uint64_t>;

// What one pass over the archive has written so far.
struct Extracted {
  FileDigests digests;
  Placeholders* placeholders = nullptr;  // null: every file is written whole
  uint64_t index = 0;                    // of the current entry
};

bool worth_deferring(const Extracted& extracted, archive_entry* entry) {
  return extracted.placeholders != nullptr && archive_entry_size_is_set(entry) != 0 &&
         archive_entry_size(entry) > kDeferAbove;
}

// A deferred file's data is left for the next header read, which skips it (seeking
// where the archive is an uncompressed regular file).
void extract_file(ArchiveReader& reader, archive_entry* entry, int root_fd, const Components& path,
                  Extracted& extracted) {
  UniqueFd parent = open_directory(root_fd, path, path.size() - 1, true, reader.name());
  clear_leaf(parent.get(), path.back(), reader.name());
  UniqueFd file(::openat(parent.get(), path.back().c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!file) throw_errno(fmt::format("archive {}: create {}", reader.name(), path.back()));
  struct stat st;
  if (::fstat(file.get(), &st) < 0) throw_errno(fmt::format("stat {}", path.back()));
  // An inode freed by a replaced entry may come back for this file.
  extracted.digests.erase(st.st_ino);
  if (extracted.placeholders != nullptr) extracted.placeholders->erase(st.st_ino);
  if (worth_deferring(extracted, entry)) {
    extracted.placeholders->emplace(st.st_ino, extracted.index);
    return;
  }
  extracted.digests[st.st_ino] = copy_data(reader, file.get(), path.back());
}

void extract_symlink(int root_fd, const Components& path, const char* target,
                     const std::string& archive) {
  UniqueFd parent = open_directory(root_fd, path, path.size() - 1, true, archive);
  clear_leaf(parent.get(), path.back(), archive);
  if (::symlinkat(target, parent.get(), path.back().c_str()) < 0)
    throw_errno(fmt::format("archive {}: create symlink {}", archive, path.back()));
}

void extract_hardlink(int root_fd, const Components& path, std::string_view target,
                      const std::string& archive) {
  Components target_path = safe_components(archive, target);
  if (target_path.empty()) refuse_entry(archive, target, "a hard link to the archive's root");
  UniqueFd target_parent =
      open_directory(root_fd, target_path, target_path.size() - 1, false, archive);
  UniqueFd parent = open_directory(root_fd, path, path.size() - 1, true, archive);
  clear_leaf(parent.get(), path.back(), archive);
  if (::linkat(target_parent.get(), target_path.back().c_str(), parent.get(), path.back().c_str(),
               0) < 0)
    throw_errno(fmt::format("archive {}: link {} to {}", archive, path.back(), target));
}

void extract_entry(ArchiveReader& reader, archive_entry* entry, int root_fd, Extracted& extracted) {
  const char* name = archive_entry_pathname(entry);
  if (name == nullptr) refuse_entry(reader.name(), "", "it has no path");
  Components path = safe_components(reader.name(), name);
  if (path.empty()) return;
  if (const char* target = archive_entry_hardlink(entry))
    return extract_hardlink(root_fd, path, target, reader.name());
  switch (archive_entry_filetype(entry)) {
    case AE_IFDIR:
      open_directory(root_fd, path, path.size(), true, reader.name());
      return;
    case AE_IFREG:
      return extract_file(reader, entry, root_fd, path, extracted);
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(entry);
      if (target == nullptr) refuse_entry(reader.name(), name, "a symlink without a target");
      return extract_symlink(root_fd, path, target, reader.name());
    }
    default:
      spdlog::debug("archive {}: skipping {}, which is not a file, directory or link",
                    reader.name(), name);
  }
}

UniqueFd open_destination(const std::filesystem::path& destination, bool create) {
  if (create) fs::make_dirs(destination, 0700);
  UniqueFd root(::open(destination.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno(fmt::format("open {}", destination.string()));
  return root;
}

void extract_all(ArchiveReader& reader, int root_fd, Extracted& extracted) {
  archive_entry* entry = nullptr;
  for (; reader.next(&entry); ++extracted.index) extract_entry(reader, entry, root_fd, extracted);
}

[[noreturn]] void changed_since_read(const std::string& archive, std::string_view entry) {
  throw Error(fmt::format(
      "archive {}: entry \"{}\" is not what it was when the archive was first read; the "
      "archive was modified while loading, load it again",
      archive, entry));
}

// The placeholder left for `entry` gets its data, through the same checked path.
std::string fill_placeholder(ArchiveReader& reader, archive_entry* entry, int root_fd,
                             ino_t inode) {
  const char* name = archive_entry_pathname(entry);
  if (name == nullptr || archive_entry_filetype(entry) != AE_IFREG ||
      archive_entry_hardlink(entry) != nullptr)
    changed_since_read(reader.name(), name != nullptr ? name : "");
  Components path = safe_components(reader.name(), name);
  if (path.empty()) changed_since_read(reader.name(), name);
  UniqueFd parent = open_directory(root_fd, path, path.size() - 1, false, reader.name());
  UniqueFd file(::openat(parent.get(), path.back().c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!file) throw_errno(fmt::format("archive {}: open {}", reader.name(), path.back()));
  struct stat st;
  if (::fstat(file.get(), &st) < 0) throw_errno(fmt::format("stat {}", path.back()));
  if (st.st_ino != inode || st.st_size != 0) changed_since_read(reader.name(), name);
  return copy_data(reader, file.get(), path.back());
}

}  // namespace

PartialExtraction::PartialExtraction(const std::filesystem::path& archive,
                                     const std::filesystem::path& destination)
    : archive_(archive), destination_(destination) {
  ArchiveReader reader(archive);
  UniqueFd root = open_destination(destination, true);
  Extracted extracted;
  if (!reader.compressed()) extracted.placeholders = &placeholders_;
  extract_all(reader, root.get(), extracted);
  digests_ = std::move(extracted.digests);
  spdlog::debug("archive {}: {} large files left to read when needed", reader.name(),
                placeholders_.size());
}

void PartialExtraction::fill(const std::vector<ino_t>& inodes) {
  std::map<uint64_t, ino_t> wanted;  // by entry index, in archive order
  for (ino_t inode : inodes) {
    auto placeholder = placeholders_.find(inode);
    if (placeholder != placeholders_.end()) wanted.emplace(placeholder->second, inode);
  }
  if (wanted.empty()) return;
  ArchiveReader reader(archive_);
  UniqueFd root = open_destination(destination_, false);
  archive_entry* entry = nullptr;
  for (uint64_t index = 0; !wanted.empty() && reader.next(&entry); ++index) {
    auto found = wanted.find(index);
    if (found == wanted.end()) continue;
    digests_[found->second] = fill_placeholder(reader, entry, root.get(), found->second);
    placeholders_.erase(found->second);
    wanted.erase(found);
  }
  if (!wanted.empty())
    throw Error(
        fmt::format("archive {}: it has fewer entries than when it was first read; the "
                    "archive was modified while loading, load it again",
                    reader.name()));
}

}  // namespace roost::image
