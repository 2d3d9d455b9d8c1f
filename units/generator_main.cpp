// roost-generator: systemd runs it for each user at daemon-reload (from the user
// generator directory) as `roost-generator NORMAL_DIR EARLY_DIR LATE_DIR`; it turns
// the user's declarative container files into roost-NAME.service units in NORMAL_DIR.
// `roost-generator --dry-run` prints what it would write and exits 1 if a file is bad.
#include <systemd/sd-journal.h>

#include <fmt/format.h>

#include <cstdio>
#include <string>

#include "common/error.hpp"
#include "units/generator.hpp"

namespace {

constexpr int kFailed = 1;

// One journal line per bad file. The manager logs a generator's stderr as well, so
// stderr is only the way out when journald cannot be reached.
void report(const std::string& message) {
  if (sd_journal_send("MESSAGE=roost-generator: %s", message.c_str(), "PRIORITY=3",
                      "SYSLOG_IDENTIFIER=roost-generator", nullptr) < 0)
    std::fprintf(stderr, "roost-generator: %s\n", message.c_str());
}

roost::units::RenderOptions render_options() {
  return {ROOST_BINARY, "roost-generator"};
}

int dry_run() {
  auto files = roost::units::container_files(roost::units::default_unit_directories());
  auto result = roost::units::generate(files, render_options(), [](const std::string& message) {
    std::fprintf(stderr, "roost-generator: %s\n", message.c_str());
  });
  for (const auto& unit : result.units) fmt::print("# {}\n{}\n", unit.name, unit.text);
  return result.failed_files > 0 ? kFailed : 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 2 && std::string(argv[1]) == "--dry-run") return dry_run();
    if (argc != 2 && argc != 4) {
      std::fprintf(stderr, "usage: roost-generator NORMAL_DIR [EARLY_DIR LATE_DIR] | --dry-run\n");
      return kFailed;
    }
    auto files = roost::units::container_files(roost::units::default_unit_directories());
    auto result = roost::units::generate(files, render_options(), report);
    roost::units::write_units(result.units, argv[1]);
    return 0;
  } catch (const roost::Error& error) {
    report(error.what());
  }
  return kFailed;
}
