#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// Small helpers for cgroupfs files, shared by the parts of cgroups/.
namespace roost::cgroups::files {

// The file's content, or nothing when it does not exist (a controller not enabled, or a
// cgroup already removed). Other failures throw Error.
std::optional<std::string> read_if_present(const std::filesystem::path& path);

// One write(2) of `text`, as cgroupfs takes a value: no temporary file, no truncation.
void write_value(const std::filesystem::path& path, std::string_view text);

// The cgroup v2 path ("/user.slice/...") from the text of /proc/PID/cgroup.
std::optional<std::string> unified_path(std::string_view proc_cgroup);

std::vector<std::string> words(std::string_view text);

}  // namespace roost::cgroups::files
