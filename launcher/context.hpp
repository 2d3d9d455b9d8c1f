#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cgroups/limits.hpp"
#include "launcher/options.hpp"

namespace roost::cli {

// Settings after built-in defaults, /etc/roost/config.toml, the user's config.toml
// (or --config) and the global options, each over the one before.
struct Settings {
  std::filesystem::path data_root;     // images, layers, containers
  std::filesystem::path runtime_root;  // live state
  std::string storage_driver = "auto";
  std::string userns = "auto";
  std::string subuid_file = "/etc/subuid";
  std::string subgid_file = "/etc/subgid";
  // [limits]: defaults for run and create, under their options; each message names the
  // file, line and column of the value.
  cgroups::LimitRequest limit_defaults;
};

struct Context {
  Settings settings;
  // The global options that give another roost process these settings, with absolute
  // paths: for the roost that a detached container's monitor runs at the container's end.
  std::vector<std::string> global_arguments;
};

// Throws UsageError naming the file, line and column of a configuration error.
Context make_context(const ParsedCommand& globals);

// Reads one config file over `settings`; a missing file is skipped. Exposed for tests.
void apply_config_file(const std::filesystem::path& file, Settings& settings);

// $XDG_RUNTIME_DIR/roost when that directory belongs to the caller; otherwise a
// private directory under /tmp that the caller owns, with a warning naming why.
std::filesystem::path choose_runtime_root();

}  // namespace roost::cli
