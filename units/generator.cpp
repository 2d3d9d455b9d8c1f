#include "units/generator.hpp"

#include <pwd.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "units/container_file.hpp"

namespace roost::units {

namespace {

std::filesystem::path config_home() {
  if (const char* config = std::getenv("XDG_CONFIG_HOME"); config != nullptr && config[0] == '/')
    return config;
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/')
    return std::filesystem::path(home) / ".config";
  if (const struct passwd* entry = ::getpwuid(::getuid()); entry != nullptr)
    return std::filesystem::path(entry->pw_dir) / ".config";
  throw Error(fmt::format("no home directory for uid {}: set HOME", ::getuid()));
}

std::vector<std::filesystem::path> toml_files_in(const std::filesystem::path& directory) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error))
    if (entry.path().extension() == ".toml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

void link_into(const std::filesystem::path& directory, const std::string& target_dir,
               const std::string& unit) {
  auto wants = directory / target_dir;
  fs::make_dirs(wants);
  auto link = wants / unit;
  std::error_code error;
  std::filesystem::remove(link, error);
  std::filesystem::create_symlink(std::filesystem::path("..") / unit, link, error);
  if (error)
    throw Error(fmt::format("link {} to {}: {}", link.string(), unit, error.message()),
                error.value());
}

}  // namespace

std::vector<std::filesystem::path> container_files(
    const std::vector<std::filesystem::path>& directories) {
  std::map<std::string, std::filesystem::path> by_name;
  for (const auto& directory : directories)
    for (const auto& file : toml_files_in(directory)) by_name[file.filename().string()] = file;
  std::vector<std::filesystem::path> files;
  for (const auto& [name, file] : by_name) files.push_back(file);
  return files;
}

std::vector<std::filesystem::path> default_unit_directories() {
  return {"/etc/roost/units", config_home() / "roost/units"};
}

GeneratedUnits generate(const std::vector<std::filesystem::path>& files,
                        const RenderOptions& options, const ErrorSink& on_error) {
  GeneratedUnits result;
  for (const auto& file : files) {
    try {
      auto units = render_units(read_container_file(file), options);
      result.units.insert(result.units.end(), units.begin(), units.end());
    } catch (const Error& error) {
      ++result.failed_files;
      std::string message = error.what();
      if (!message.starts_with(file.string())) message = file.string() + ": " + message;
      on_error(message + "; no unit was made from it");
    }
  }
  return result;
}

void write_units(const std::vector<UnitFile>& units, const std::filesystem::path& directory) {
  for (const auto& unit : units) {
    fs::write_file_atomic(directory / unit.name, unit.text);
    for (const auto& target_dir : install_directories(unit))
      link_into(directory, target_dir, unit.name);
  }
}

}  // namespace roost::units
