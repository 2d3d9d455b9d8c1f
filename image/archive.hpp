#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

namespace roost::image {

// sha256 digests ("sha256:HEX") of regular files, by inode.
using FileDigests = std::unordered_map<ino_t, std::string>;

// Unpacks the directories, regular files and links of the tar archive `archive`
// (optionally compressed) into `destination`, which is created, hashing each file as
// it is written, except that the data of large regular files is not read: each is an
// empty file of its own inode until fill() writes it, so that links to it resolve as
// they will. A compressed archive is unpacked whole, since reading it again would
// decompress it again. Owners and modes are not kept: the files are the caller's own. An
// entry whose path is absolute, climbs out with "..", or passes through a symlink is
// refused with an Error naming the archive and the entry; symlinks themselves are created
// as written and must be followed only with openat2's RESOLVE_IN_ROOT.
class PartialExtraction {
 public:
  PartialExtraction(const std::filesystem::path& archive, const std::filesystem::path& destination);

  // sha256 digests of the files written so far.
  const FileDigests& digests() const { return digests_; }
  bool is_placeholder(ino_t inode) const { return placeholders_.contains(inode); }
  // Writes the placeholders `inodes` in one more pass over the archive and hashes them.
  void fill(const std::vector<ino_t>& inodes);

 private:
  std::filesystem::path archive_;
  std::filesystem::path destination_;
  FileDigests digests_;
  std::unordered_map<ino_t, uint64_t> placeholders_;  // to the entry's index in the archive
};

}  // namespace roost::image
