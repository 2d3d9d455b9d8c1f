#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <unordered_map>

namespace roost::image {

// sha256 digests ("sha256:HEX") of regular files, by inode.
using FileDigests = std::unordered_map<ino_t, std::string>;

// Unpacks the directories, regular files and links of the tar archive `archive`
// (optionally compressed) into `destination`, which is created, hashing each file as
// it is written. Owners and modes are not kept: the files are the caller's own. An entry
// whose path is absolute, climbs out with "..", or passes through a symlink is refused
// with an Error naming the archive and the entry; symlinks themselves are created as
// written and must be followed only with openat2's RESOLVE_IN_ROOT.
FileDigests extract_archive(const std::filesystem::path& archive,
                            const std::filesystem::path& destination);

}  // namespace roost::image
