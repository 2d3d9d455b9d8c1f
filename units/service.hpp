#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "units/container_file.hpp"

namespace roost::units {

// A unit file to write: its name (roost-web.service) and its text.
struct UnitFile {
  std::string name;
  std::string text;
};

struct RenderOptions {
  std::filesystem::path roost;  // the roost binary the unit runs, absolute
  // What generated it, for the header comment: "roost generate unit", "roost-generator".
  std::string generated_by = "roost generate unit";
};

// "roost-NAME.service", "roost-NAME.socket".
std::string service_name(const ContainerSpec& spec);
std::string socket_name(const ContainerSpec& spec);

// The `roost run` command line the service starts (without the binary).
std::vector<std::string> run_arguments(const ContainerSpec& spec);

// The service (and, when spec.socket has lines, the socket) for a checked spec:
// Type=notify with `roost run` in the foreground in the service's own delegated cgroup,
// roost's stop with room in TimeoutStopSec, the limits as the unit's properties, then
// the spec's own [unit]/[service]/[install] lines, which override what comes before.
std::vector<UnitFile> render_units(const ContainerSpec& spec, const RenderOptions& options);

// The targets the unit is installed into ([Install] WantedBy= and RequiredBy=), as
// "default.target.wants" / "x.target.requires" directory names.
std::vector<std::string> install_directories(const UnitFile& unit);

// An image given as an archive (docker-archive:, oci-archive:, oci:) is loaded once, by
// the unit's `roost __unit-image NAME ARCHIVE` before its first start, under this name,
// which the unit's `roost run` uses: "localhost/roost-unit-NAME:latest".
bool names_archive(const std::string& image);
std::string archive_image_name(const std::string& container_name);

// The stop signal the unit uses: the spec's, else SIGTERM.
int effective_stop_signal(const ContainerSpec& spec);

}  // namespace roost::units
