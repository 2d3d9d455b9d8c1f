#include "cgroups/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <sstream>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace roost::cgroups::files {

std::optional<std::string> read_if_present(const std::filesystem::path& path) {
  try {
    return fs::read_file(path);
  } catch (const Error& error) {
    if (error.errno_value() == ENOENT || error.errno_value() == ENODEV) return std::nullopt;
    throw;
  }
}

void write_value(const std::filesystem::path& path, std::string_view text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("open {} to write \"{}\"", path.string(), text));
  ssize_t written = ::write(fd.get(), text.data(), text.size());
  if (written < 0) throw_errno(fmt::format("write \"{}\" to {}", text, path.string()));
  if (static_cast<size_t>(written) != text.size())
    throw Error(
        fmt::format("write \"{}\" to {}: only {} bytes were taken", text, path.string(), written));
}

std::optional<std::string> unified_path(std::string_view proc_cgroup) {
  std::istringstream lines{std::string(proc_cgroup)};
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("0::")) return line.substr(3);
  return std::nullopt;
}

std::vector<std::string> words(std::string_view text) {
  std::istringstream stream{std::string(text)};
  std::vector<std::string> out;
  for (std::string word; stream >> word;) out.push_back(word);
  return out;
}

}  // namespace roost::cgroups::files
