#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <string_view>

namespace roost::fs {

std::string read_file(const std::filesystem::path& path);

// Whether write_file_atomic syncs before the rename. Files that do not outlive a
// reboot or their container anyway (the runtime directory, a --rm container's) need
// only the rename, and a sync costs milliseconds on a busy disk.
enum class Durability { Synced, RenameOnly };

// Writes to a temporary name beside `path`, syncs unless asked not to, then renames
// into place, so a reader sees the old content or the new, never a part.
void write_file_atomic(const std::filesystem::path& path, std::string_view content,
                       mode_t mode = 0644, Durability durability = Durability::Synced);

// mkdir -p; existing directories are fine.
void make_dirs(const std::filesystem::path& path, mode_t mode = 0755);

// rm -rf that also removes trees holding unreadable or unwritable directories
// (a 0555 directory with a 0000 file): it adds owner permissions where it must.
// A missing path is not an error.
void remove_tree(const std::filesystem::path& path);

// n random bytes as 2n lowercase hex digits.
std::string random_hex(size_t bytes);

}  // namespace roost::fs
