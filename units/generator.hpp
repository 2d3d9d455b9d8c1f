#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "units/service.hpp"

namespace roost::units {

// The declarative files a user's generator reads, system-wide first: every *.toml of
// each directory, in name order; a file of a later directory replaces an earlier one
// of the same name (~/.config/roost/units/web.toml over /etc/roost/units/web.toml).
std::vector<std::filesystem::path> container_files(
    const std::vector<std::filesystem::path>& directories);

// /etc/roost/units, then $XDG_CONFIG_HOME/roost/units (~/.config/roost/units).
std::vector<std::filesystem::path> default_unit_directories();

// Receives one line per file that makes no unit: "FILE:LINE:COLUMN: KEY: what".
using ErrorSink = std::function<void(const std::string&)>;

struct GeneratedUnits {
  std::vector<UnitFile> units;
  int failed_files = 0;
};

// Renders each file's units; a file with an error is reported and skipped, the others
// still make theirs.
GeneratedUnits generate(const std::vector<std::filesystem::path>& files,
                        const RenderOptions& options, const ErrorSink& on_error);

// Writes the units into a generator's output directory, with the .wants/.requires
// links their [Install] sections ask for (generated units cannot be enabled).
void write_units(const std::vector<UnitFile>& units, const std::filesystem::path& directory);

}  // namespace roost::units
