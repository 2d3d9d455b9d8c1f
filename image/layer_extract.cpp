#include "image/layer_extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::image {

namespace {

// Mount drivers keep their own state in these xattrs; a layer must not forge it.
constexpr std::array kPrivateXattrPrefixes = {"user.overlay.", "user.fuseoverlayfs.",
                                              "user.containers."};
constexpr const char* kOpaqueXattr = "user.overlay.opaque";
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

std::string archive_message(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown libarchive error";
}

std::string in_quotes(std::string_view name) {
  return fmt::format("\"{}\"", name);
}

struct IdRange {
  uint64_t inside, outside, count;
};

std::vector<IdRange> read_id_map(const char* file) {
  std::vector<IdRange> ranges;
  std::string text;
  try {
    text = fs::read_file(file);
  } catch (const Error&) {
    return ranges;
  }
  const char* cursor = text.c_str();
  IdRange range;
  int consumed = 0;
  while (std::sscanf(cursor, " %" SCNu64 " %" SCNu64 " %" SCNu64 "%n", &range.inside,
                     &range.outside, &range.count, &consumed) == 3) {
    ranges.push_back(range);
    cursor += consumed;
  }
  return ranges;
}

bool id_is_mapped(const std::vector<IdRange>& ranges, uint64_t id) {
  return std::any_of(ranges.begin(), ranges.end(), [id](const IdRange& range) {
    return id >= range.inside && id - range.inside < range.count;
  });
}

uint64_t mapped_id_count(const std::vector<IdRange>& ranges) {
  uint64_t total = 0;
  for (const auto& range : ranges) total += range.count;
  return total;
}

std::string unmapped_owner_message(const std::string& subject, const char* kind, uint64_t id,
                                   uint64_t mapped, const char* subid_file) {
  return fmt::format(
      "{}: owner {} {} is not mapped in this user namespace ({} {} mapped; the image needs at "
      "least {}): add a larger range to {}",
      subject, kind, id, mapped, mapped == 1 ? "id" : "ids", id + 1, subid_file);
}

void write_all_at(int fd, const char* data, size_t length, off_t offset,
                  const std::string& subject) {
  while (length > 0) {
    ssize_t written = ::pwrite(fd, data, length, offset);
    if (written < 0 && errno == EINTR) continue;
    if (written < 0) throw_errno(fmt::format("{}: write file content", subject));
    data += written;
    length -= static_cast<size_t>(written);
    offset += written;
  }
}

// Writes straight from libarchive's buffers; offsets jump over the holes of sparse files.
void write_content(archive* tar, int fd, archive_entry* entry, const std::string& subject) {
  const void* block = nullptr;
  size_t length = 0;
  la_int64_t offset = 0;
  la_int64_t end = 0;
  for (;;) {
    int status = archive_read_data_block(tar, &block, &length, &offset);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK)
      throw Error(fmt::format("{}: read file content: {}", subject, archive_message(tar)));
    write_all_at(fd, static_cast<const char*>(block), length, offset, subject);
    end = offset + static_cast<la_int64_t>(length);
  }
  if (archive_entry_size_is_set(entry) && end < archive_entry_size(entry) &&
      ::ftruncate(fd, archive_entry_size(entry)) < 0)
    throw_errno(fmt::format("{}: extend sparse file", subject));
}

bool is_private_xattr(std::string_view name) {
  return std::any_of(kPrivateXattrPrefixes.begin(), kPrivateXattrPrefixes.end(),
                     [name](const char* prefix) { return name.starts_with(prefix); });
}

uint32_t checked_id(la_int64_t id, const char* kind, const std::string& subject) {
  // (uid_t)-1 would mean "leave unchanged" to fchown, so it is no valid owner.
  if (id < 0 || id >= UINT32_MAX)
    throw Error(fmt::format("{}: owner {} {} is out of range", subject, kind, id));
  return static_cast<uint32_t>(id);
}

}  // namespace

LayerExtractor::LayerExtractor(const std::filesystem::path& root)
    : tree_(root, {[this](const EntryPath& path) {
                     directories_.try_emplace(
                         path.path(), Metadata{"layer directory " + in_quotes(path.path())});
                   },
                   [this](const EntryPath& path) { forget_directories_under(path); }}),
      own_uid_(::geteuid()),
      own_gid_(::getegid()) {
  // Without a "./" entry the root still has to be searchable by every container user.
  directories_[""] = Metadata{"layer root"};
}

void LayerExtractor::extract(archive* tar, archive_entry* entry) {
  const char* raw_path = archive_entry_pathname(entry);
  if (raw_path == nullptr) throw Error("layer entry without a readable path name");
  std::string subject = "layer entry " + in_quotes(raw_path);
  EntryPath path = EntryPath::parse(raw_path, subject);
  if (archive_entry_hardlink(entry) != nullptr) return extract_hardlink(entry, path, subject);
  if (path.name().starts_with(kWhiteoutPrefix)) return extract_whiteout(path, subject);
  if (path.is_root() && archive_entry_filetype(entry) != AE_IFDIR)
    throw Error(fmt::format("{}: the layer root can only be a directory", subject));
  extract_typed(tar, entry, path, subject);
}

void LayerExtractor::extract_typed(archive* tar, archive_entry* entry, const EntryPath& path,
                                   const std::string& subject) {
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG:
      return extract_file(tar, entry, path, subject);
    case AE_IFDIR:
      return extract_directory(entry, path, subject);
    case AE_IFLNK:
      return extract_symlink(entry, path, subject);
    case AE_IFIFO:
      return extract_fifo(entry, path, subject);
    case AE_IFCHR:
    case AE_IFBLK:
      return extract_device(tar, entry, path, subject);
    case AE_IFSOCK:
      spdlog::warn("{}: socket skipped; a socket only exists while a program listens on it",
                   subject);
      return;
    default:
      spdlog::warn("{}: unknown file type {:o} skipped", subject, archive_entry_filetype(entry));
  }
}

LayerExtractor::Metadata LayerExtractor::metadata_of(archive_entry* entry,
                                                     std::string subject) const {
  Metadata metadata{std::move(subject)};
  metadata.uid = checked_id(archive_entry_uid(entry), "uid", metadata.subject);
  metadata.gid = checked_id(archive_entry_gid(entry), "gid", metadata.subject);
  metadata.set_owner = true;
  metadata.mode = archive_entry_perm(entry) & 07777;
  if (archive_entry_mtime_is_set(entry)) {
    metadata.set_times = true;
    metadata.times[1] = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
    metadata.times[0] = metadata.times[1];
    if (archive_entry_atime_is_set(entry))
      metadata.times[0] = {archive_entry_atime(entry), archive_entry_atime_nsec(entry)};
  }
  return metadata;
}

template <typename Create>
void LayerExtractor::create_replacing(int parent_fd, const EntryPath& path,
                                      const std::string& subject, const char* what, Create create) {
  if (create() == 0) return;
  if (errno != EEXIST) throw_errno(fmt::format("{}: {}", subject, what));
  tree_.remove(parent_fd, path, subject);
  if (create() != 0) throw_errno(fmt::format("{}: {}", subject, what));
}

void LayerExtractor::extract_file(archive* tar, archive_entry* entry, const EntryPath& path,
                                  const std::string& subject) {
  int parent_fd = tree_.parent_of(path, subject);
  std::string name(path.name());
  UniqueFd fd;
  create_replacing(parent_fd, path, subject, "create file", [&] {
    fd.reset(::openat(parent_fd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                      0600));
    return fd ? 0 : -1;
  });
  write_content(tar, fd.get(), entry, subject);
  set_xattrs(fd.get(), entry, subject);
  set_owner_mode_times(fd.get(), metadata_of(entry, subject));
}

void LayerExtractor::make_directory(int parent_fd, const EntryPath& path,
                                    const std::string& subject) {
  std::string name(path.name());
  if (::mkdirat(parent_fd, name.c_str(), 0700) == 0) return;
  if (errno != EEXIST) throw_errno(fmt::format("{}: create directory", subject));
  struct stat existing;
  if (::fstatat(parent_fd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) < 0)
    throw_errno(fmt::format("{}: inspect the earlier entry", subject));
  // A directory listed twice keeps what was put in it; anything else is replaced.
  if (S_ISDIR(existing.st_mode)) return;
  tree_.remove(parent_fd, path, subject);
  if (::mkdirat(parent_fd, name.c_str(), 0700) < 0)
    throw_errno(fmt::format("{}: create directory", subject));
}

void LayerExtractor::extract_directory(archive_entry* entry, const EntryPath& path,
                                       const std::string& subject) {
  if (!path.is_root()) make_directory(tree_.parent_of(path, subject), path, subject);
  directories_[path.path()] = metadata_of(entry, subject);
  if (archive_entry_xattr_count(entry) > 0)
    set_xattrs(tree_.open_directory(path, subject).get(), entry, subject);
}

void LayerExtractor::extract_symlink(archive_entry* entry, const EntryPath& path,
                                     const std::string& subject) {
  const char* target = archive_entry_symlink(entry);
  if (target == nullptr) throw Error(fmt::format("{}: symlink without a target", subject));
  int parent_fd = tree_.parent_of(path, subject);
  std::string name(path.name());
  create_replacing(parent_fd, path, subject, "create symlink",
                   [&] { return ::symlinkat(target, parent_fd, name.c_str()); });
  Metadata metadata = metadata_of(entry, subject);
  set_owner_at(parent_fd, name.c_str(), metadata);
  if (metadata.set_times &&
      ::utimensat(parent_fd, name.c_str(), metadata.times, AT_SYMLINK_NOFOLLOW) < 0)
    throw_errno(fmt::format("{}: set times", subject));
}

void LayerExtractor::extract_fifo(archive_entry* entry, const EntryPath& path,
                                  const std::string& subject) {
  int parent_fd = tree_.parent_of(path, subject);
  std::string name(path.name());
  create_replacing(parent_fd, path, subject, "create fifo",
                   [&] { return ::mknodat(parent_fd, name.c_str(), S_IFIFO | 0600, 0); });
  Metadata metadata = metadata_of(entry, subject);
  set_owner_at(parent_fd, name.c_str(), metadata);
  // Only this process writes in the layer's temporary tree, so the fifo just made is
  // still what the name holds; fchmodat has no flag to refuse a symlink here.
  if (::fchmodat(parent_fd, name.c_str(), metadata.mode, 0) < 0)
    throw_errno(fmt::format("{}: set mode {:o}", subject, metadata.mode));
  if (metadata.set_times &&
      ::utimensat(parent_fd, name.c_str(), metadata.times, AT_SYMLINK_NOFOLLOW) < 0)
    throw_errno(fmt::format("{}: set times", subject));
}

// Every unpack substitutes, even as real root, so a layer's content does not depend on
// who unpacked it; containers mount their rootfs nodev anyway.
void LayerExtractor::extract_device(archive* tar, archive_entry* entry, const EntryPath& path,
                                    const std::string& subject) {
  bool is_char = archive_entry_filetype(entry) == AE_IFCHR;
  // A 0/0 character device is already the whiteout form the mount drivers read.
  if (is_char && archive_entry_rdev(entry) == 0) return make_whiteout_device(path, subject);
  spdlog::warn(
      "{}: {} device replaced by an empty file; devices cannot be created in a user namespace",
      subject, is_char ? "character" : "block");
  extract_file(tar, entry, path, subject);
}

void LayerExtractor::extract_hardlink(archive_entry* entry, const EntryPath& path,
                                      const std::string& subject) {
  const char* raw_target = archive_entry_hardlink(entry);
  std::string target_subject =
      fmt::format("{}: hardlink target {}", subject, in_quotes(raw_target));
  EntryPath target = EntryPath::parse(raw_target, target_subject);
  if (target.is_root() || path.is_root())
    throw Error(fmt::format("{}: a hardlink cannot involve the layer root", target_subject));
  UniqueFd target_parent = tree_.open_parent(target, target_subject);
  std::string target_name(target.name());
  int parent_fd = tree_.parent_of(path, subject);
  std::string name(path.name());
  create_replacing(parent_fd, path, subject, "create hardlink", [&] {
    int result = ::linkat(target_parent.get(), target_name.c_str(), parent_fd, name.c_str(), 0);
    if (result < 0 && errno == ENOENT)
      throw Error(fmt::format("{}: not found in this layer", target_subject));
    return result;
  });
}

void LayerExtractor::extract_whiteout(const EntryPath& path, const std::string& subject) {
  std::string_view name = path.name();
  EntryPath directory = EntryPath::parse(path.parent(), subject);
  if (name == kOpaqueMarker) return mark_opaque(directory, subject);
  std::string_view hidden = name.substr(kWhiteoutPrefix.size());
  if (hidden.starts_with(kWhiteoutPrefix)) {
    spdlog::debug("{}: whiteout metadata of another format skipped", subject);
    return;
  }
  if (hidden.empty() || hidden == "." || hidden == "..")
    throw Error(fmt::format("{}: whiteout names no file", subject));
  make_whiteout_device(EntryPath::join(directory, hidden), subject);
}

void LayerExtractor::make_whiteout_device(const EntryPath& path, const std::string& subject) {
  int parent_fd = tree_.parent_of(path, subject);
  std::string name(path.name());
  create_replacing(parent_fd, path, subject, "create whiteout device",
                   [&] { return ::mknodat(parent_fd, name.c_str(), S_IFCHR, makedev(0, 0)); });
}

void LayerExtractor::mark_opaque(const EntryPath& directory, const std::string& subject) {
  if (!directory.is_root()) {
    int parent_fd = tree_.parent_of(directory, subject);
    std::string name(directory.name());
    if (::mkdirat(parent_fd, name.c_str(), 0700) == 0)
      directories_.try_emplace(directory.path(), Metadata{subject});
    else if (errno != EEXIST)
      throw_errno(fmt::format("{}: create directory", subject));
  }
  UniqueFd fd = tree_.open_directory(directory, subject);
  if (::fsetxattr(fd.get(), kOpaqueXattr, "y", 1, 0) < 0)
    throw_errno(
        fmt::format("{}: set xattr {}=y (the storage filesystem must support user "
                    "xattrs)",
                    subject, kOpaqueXattr));
}

void LayerExtractor::set_xattrs(int fd, archive_entry* entry, const std::string& subject) {
  if (archive_entry_xattr_reset(entry) == 0) return;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    std::string_view view(name);
    if (!view.starts_with("user.") || is_private_xattr(view)) {
      spdlog::debug("{}: xattr {} skipped; only user xattrs are kept", subject, name);
      continue;
    }
    if (::fsetxattr(fd, name, value, size, 0) < 0)
      spdlog::warn("{}: xattr {} not kept: {}", subject, name, std::strerror(errno));
  }
}

bool LayerExtractor::owner_differs(const Metadata& metadata) const {
  return metadata.set_owner && (metadata.uid != own_uid_ || metadata.gid != own_gid_);
}

// Mode after owner: chown clears the setuid and setgid bits.
void LayerExtractor::set_owner_mode_times(int fd, const Metadata& metadata) {
  if (owner_differs(metadata) && ::fchown(fd, metadata.uid, metadata.gid) < 0)
    throw_owner_error(metadata, errno);
  if (::fchmod(fd, metadata.mode) < 0)
    throw_errno(fmt::format("{}: set mode {:o}", metadata.subject, metadata.mode));
  if (metadata.set_times && ::futimens(fd, metadata.times) < 0)
    throw_errno(fmt::format("{}: set times", metadata.subject));
}

void LayerExtractor::set_owner_at(int parent_fd, const char* name, const Metadata& metadata) {
  if (owner_differs(metadata) &&
      ::fchownat(parent_fd, name, metadata.uid, metadata.gid, AT_SYMLINK_NOFOLLOW) < 0)
    throw_owner_error(metadata, errno);
}

void LayerExtractor::throw_owner_error(const Metadata& metadata, int errno_value) {
  if (errno_value == EINVAL) {
    auto uid_ranges = read_id_map("/proc/self/uid_map");
    if (!id_is_mapped(uid_ranges, metadata.uid))
      throw Error(unmapped_owner_message(metadata.subject, "uid", metadata.uid,
                                         mapped_id_count(uid_ranges), "/etc/subuid"));
    auto gid_ranges = read_id_map("/proc/self/gid_map");
    if (!id_is_mapped(gid_ranges, metadata.gid))
      throw Error(unmapped_owner_message(metadata.subject, "gid", metadata.gid,
                                         mapped_id_count(gid_ranges), "/etc/subgid"));
  }
  throw_errno(
      fmt::format("{}: change owner to {}:{}", metadata.subject, metadata.uid, metadata.gid),
      errno_value);
}

void LayerExtractor::forget_directories_under(const EntryPath& path) {
  directories_.erase(path.path());
  std::string prefix = path.path() + "/";
  auto it = directories_.lower_bound(prefix);
  while (it != directories_.end() && it->first.starts_with(prefix)) it = directories_.erase(it);
}

void LayerExtractor::finish() {
  std::vector<std::pair<EntryPath, const Metadata*>> ordered;
  ordered.reserve(directories_.size());
  for (const auto& [path, metadata] : directories_)
    ordered.emplace_back(EntryPath::parse(path, metadata.subject), &metadata);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto& a, const auto& b) { return a.first.depth() > b.first.depth(); });
  for (const auto& [path, metadata] : ordered)
    set_owner_mode_times(tree_.open_directory(path, metadata->subject).get(), *metadata);
}

}  // namespace roost::image
