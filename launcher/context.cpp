#include "launcher/context.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::cli {

namespace {

std::string home_directory() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  if (const struct passwd* entry = ::getpwuid(::getuid()); entry != nullptr) return entry->pw_dir;
  throw Error(fmt::format("no home directory for uid {}: set HOME", ::getuid()));
}

std::filesystem::path xdg_dir(const char* variable, const char* fallback_below_home) {
  if (const char* value = std::getenv(variable); value != nullptr && value[0] == '/') return value;
  return std::filesystem::path(home_directory()) / fallback_below_home;
}

std::string located(const std::filesystem::path& file, const toml::source_region& where) {
  return fmt::format("{}:{}:{}", file.string(), where.begin.line, where.begin.column);
}

void read_string(const std::filesystem::path& file, const toml::node& node, std::string_view key,
                 std::string& out) {
  if (!node.is_string())
    throw UsageError(fmt::format("{}: {} must be a string", located(file, node.source()), key));
  out = *node.value<std::string>();
}

struct KeyBinding {
  std::string_view table;
  std::string_view key;
  std::string Settings::*field;
  const std::vector<std::string_view>* allowed = nullptr;  // any string when null
};

const KeyBinding kKeys[] = {
    {"storage", "driver", &Settings::storage_driver, &kStorageDrivers},
    {"containers", "userns", &Settings::userns, &kUsernsModes},
    {"userns", "subuid_file", &Settings::subuid_file},
    {"userns", "subgid_file", &Settings::subgid_file},
};

std::string one_of(const std::vector<std::string_view>& allowed) {
  std::string list;
  for (auto choice : allowed) list += (list.empty() ? "" : ", ") + std::string(choice);
  return list;
}

void check_choice(const std::string& what, const std::string& value,
                  const std::vector<std::string_view>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
    throw UsageError(
        fmt::format("{} {}: not a valid value; use one of {}", what, value, one_of(allowed)));
}

// Storage must not move with the directory roost happens to be started from.
void check_absolute(const std::string& what, const std::filesystem::path& path) {
  if (!path.is_absolute())
    throw UsageError(fmt::format("{} {}: a relative path; give an absolute one such as {}", what,
                                 path.string(), (std::filesystem::current_path() / path).string()));
}

void read_bound(const std::filesystem::path& file, std::string_view table_name,
                const KeyBinding& binding, const toml::node& node, Settings& settings) {
  std::string value;
  read_string(file, node, binding.key, value);
  if (binding.allowed != nullptr)
    check_choice(fmt::format("{}: {}.{}", located(file, node.source()), table_name, binding.key),
                 value, *binding.allowed);
  settings.*binding.field = value;
}

void read_storage_path(const std::filesystem::path& file, const toml::node& node,
                       std::string_view key, std::filesystem::path& out) {
  std::string path;
  read_string(file, node, key, path);
  check_absolute(fmt::format("{}: storage.{}", located(file, node.source()), key), path);
  out = path;
}

void apply_table(const std::filesystem::path& file, std::string_view table_name,
                 const toml::table& table, Settings& settings) {
  for (const auto& [key, node] : table) {
    if (table_name == "storage" && (key.str() == "root" || key.str() == "runroot")) {
      read_storage_path(file, node, key.str(),
                        key.str() == "root" ? settings.data_root : settings.runtime_root);
      continue;
    }
    bool known = false;
    for (const auto& binding : kKeys) {
      if (binding.table != table_name || binding.key != key.str()) continue;
      read_bound(file, table_name, binding, node, settings);
      known = true;
    }
    if (!known)
      throw UsageError(fmt::format("{}: unknown key {}.{}", located(file, node.source()),
                                   table_name, key.str()));
  }
}

// A limit may be written as in docker's options ("64m", "0.5") or as a bare TOML number.
std::string limit_value_text(const std::filesystem::path& file, const toml::key& key,
                             const toml::node& node) {
  if (auto text = node.value_exact<std::string>()) return *text;
  if (auto whole = node.value_exact<int64_t>()) return std::to_string(*whole);
  if (auto decimal = node.value_exact<double>()) return fmt::format("{}", *decimal);
  throw UsageError(fmt::format("{}: limits.{} must be a string or a number",
                               located(file, node.source()), key.str()));
}

// A later file's [limits] replace an earlier one's as options replace both (see
// with_defaults): a memory set here drops a memory_swap set for another memory.
void apply_limits(const std::filesystem::path& file, const toml::table& table, Settings& settings) {
  std::vector<cgroups::ConfigLimit> entries;
  for (const auto& [key, node] : table)
    entries.push_back(
        {std::string(key.str()), limit_value_text(file, key, node), located(file, node.source())});
  settings.limit_defaults =
      cgroups::with_defaults(cgroups::config_limits(entries), settings.limit_defaults);
}

bool owned_private_directory(const std::filesystem::path& path, std::string& why) {
  struct stat st;
  if (::lstat(path.c_str(), &st) < 0) {
    why = fmt::format("{} cannot be used: {}", path.string(), std::strerror(errno));
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    why = fmt::format("{} is not a directory", path.string());
    return false;
  }
  if (st.st_uid != ::getuid()) {
    why = fmt::format("{} belongs to uid {}, not to you (uid {})", path.string(), st.st_uid,
                      ::getuid());
    return false;
  }
  return true;
}

// A runtime directory given by flag or configuration that already exists must be the
// caller's and writable: live state and locks in another user's directory could be
// read or replaced by that user. One that does not exist yet is made by roost.
void check_runtime_root(const std::filesystem::path& path, const std::string& origin) {
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return;
    throw UsageError(fmt::format("{} {}: cannot be used: {}; give a directory you own", origin,
                                 path.string(), std::strerror(errno)));
  }
  std::string why;
  if (!S_ISDIR(st.st_mode))
    why = "not a directory";
  else if (st.st_uid != ::getuid())
    why = fmt::format("it belongs to uid {}, not to you (uid {})", st.st_uid, ::getuid());
  else if (::access(path.c_str(), W_OK | X_OK) < 0)
    why = fmt::format("you cannot write to it ({})", std::strerror(errno));
  if (!why.empty())
    throw UsageError(fmt::format("{} {}: {}; give a directory you own and can write", origin,
                                 path.string(), why));
}

}  // namespace

void apply_config_file(const std::filesystem::path& file, Settings& settings) {
  if (::access(file.c_str(), F_OK) != 0) return;
  toml::table root;
  try {
    root = toml::parse_file(file.string());
  } catch (const toml::parse_error& error) {
    throw UsageError(
        fmt::format("{}: {}", located(file, error.source()), std::string(error.description())));
  }
  for (const auto& [name, node] : root) {
    const toml::table* table = node.as_table();
    if (table == nullptr)
      throw UsageError(fmt::format("{}: unknown key {}", located(file, node.source()), name.str()));
    if (name.str() == "limits") {
      apply_limits(file, *table, settings);
      continue;
    }
    if (name.str() != "storage" && name.str() != "containers" && name.str() != "userns")
      throw UsageError(
          fmt::format("{}: unknown table [{}]", located(file, node.source()), name.str()));
    apply_table(file, name.str(), *table, settings);
  }
}

std::filesystem::path choose_runtime_root() {
  std::string why;
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime) {
    if (owned_private_directory(runtime, why)) return std::filesystem::path(runtime) / "roost";
    spdlog::warn("XDG_RUNTIME_DIR is not used: {}; using a private directory under /tmp instead",
                 why);
  }
  auto fallback = std::filesystem::path(fmt::format("/tmp/roost-runtime-{}", ::getuid()));
  if (::mkdir(fallback.c_str(), 0700) < 0 && errno != EEXIST)
    throw_errno(fmt::format("create runtime directory {}", fallback.string()));
  if (!owned_private_directory(fallback, why))
    throw Error(
        fmt::format("no runtime directory: {}; set XDG_RUNTIME_DIR to a directory you own", why));
  return fallback;
}

Context make_context(const ParsedCommand& globals) {
  Context context;
  Settings& settings = context.settings;
  settings.data_root = xdg_dir("XDG_DATA_HOME", ".local/share") / "roost";
  apply_config_file("/etc/roost/config.toml", settings);
  if (globals.has("config")) {
    std::filesystem::path file = globals.value("config");
    if (::access(file.c_str(), R_OK) != 0)
      throw UsageError(
          fmt::format("--config {}: cannot read it: {}", file.string(), std::strerror(errno)));
    apply_config_file(file, settings);
  } else {
    apply_config_file(xdg_dir("XDG_CONFIG_HOME", ".config") / "roost/config.toml", settings);
  }
  for (const char* option : {"root", "runroot"}) {
    if (globals.has(option) && globals.value(option).empty())
      throw UsageError(fmt::format("--{} needs a directory, not an empty value", option));
    if (globals.has(option)) check_absolute(fmt::format("--{}", option), globals.value(option));
  }
  if (globals.has("root")) settings.data_root = globals.value("root");
  if (globals.has("runroot")) settings.runtime_root = globals.value("runroot");
  if (globals.has("storage-driver")) settings.storage_driver = globals.value("storage-driver");
  check_choice("storage driver", settings.storage_driver, kStorageDrivers);
  check_choice("userns mode", settings.userns, kUsernsModes);
  if (!settings.runtime_root.empty())
    check_runtime_root(settings.runtime_root,
                       globals.has("runroot") ? "--runroot" : "the configured storage.runroot");
  if (settings.runtime_root.empty()) settings.runtime_root = choose_runtime_root();
  settings.data_root = std::filesystem::absolute(settings.data_root);
  settings.runtime_root = std::filesystem::absolute(settings.runtime_root);
  context.global_arguments = {"--root=" + settings.data_root.string(),
                              "--runroot=" + settings.runtime_root.string(),
                              "--storage-driver=" + settings.storage_driver};
  if (globals.has("config"))
    context.global_arguments.push_back("--config=" +
                                       std::filesystem::absolute(globals.value("config")).string());
  if (globals.has("log-level"))
    context.global_arguments.push_back("--log-level=" + globals.value("log-level"));
  return context;
}

}  // namespace roost::cli
