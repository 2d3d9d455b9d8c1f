#include "units/container_file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <toml++/toml.h>
#include <csignal>
#include <cstring>
#include <functional>
#include <regex>

#include "cgroups/limits.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::units {

namespace {

bool one_of(const std::string& value, std::initializer_list<std::string_view> choices,
            std::string_view what) {
  for (auto choice : choices)
    if (value == choice) return true;
  throw UsageError(fmt::format("{} {}: not a valid value; use one of {}", what, value,
                               fmt::join(choices, ", ")));
}

void check_network(const std::string& value) {
  one_of(value, {"host", "none"}, "network");
}

void check_userns(const std::string& value) {
  one_of(value, {"auto", "single", "keep-id", "host"}, "userns");
}

void check_sdnotify(const std::string& value) {
  one_of(value, {"conmon", "container", "ignore"}, "sdnotify");
}

void check_restart(const std::string& value) {
  one_of(value,
         {"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"},
         "restart policy");
}

void check_stop_signal(const std::string& value) {
  signal_number(value);
}

void check_env_name(std::string_view name) {
  if (name.empty() || name.find('=') != std::string_view::npos)
    throw UsageError(fmt::format("environment variable name {:?} is empty or holds '='", name));
}

void check_limits(const std::map<std::string, std::string>& limits) {
  cgroups::LimitRequest request;
  for (const auto& [key, value] : limits) request.set(key, value);
  cgroups::parse_limits(request);
}

// Names a place in the file for messages: "FILE:LINE:COLUMN: KEY: what".
class Place {
 public:
  Place(const std::filesystem::path& file, const toml::source_region& region, std::string key)
      : file_(file), line_(region.begin.line), column_(region.begin.column), key_(key) {}

  Place at(const toml::source_region& region, std::string key) const {
    return Place(file_, region, std::move(key));
  }
  [[noreturn]] void fail(std::string_view what) const {
    throw UsageError(fmt::format("{}:{}:{}: {}: {}", file_.string(), line_, column_, key_, what));
  }
  // Runs a check that throws UsageError and places its message here.
  template <typename Check>
  void checked(Check&& check) const {
    try {
      check();
    } catch (const UsageError& error) {
      fail(error.what());
    }
  }

 private:
  std::filesystem::path file_;
  uint32_t line_;
  uint32_t column_;
  std::string key_;
};

std::string string_of(const Place& place, const toml::node& node) {
  if (!node.is_string()) place.fail("must be a string");
  return *node.value<std::string>();
}

std::vector<std::string> strings_of(const Place& place, const toml::node& node) {
  const toml::array* array = node.as_array();
  if (array == nullptr) place.fail("must be an array of strings ([\"a\", \"b\"])");
  std::vector<std::string> values;
  for (const auto& item : *array) {
    if (!item.is_string()) place.fail("must be an array of strings ([\"a\", \"b\"])");
    values.push_back(*item.value<std::string>());
  }
  return values;
}

bool bool_of(const Place& place, const toml::node& node) {
  if (!node.is_boolean()) place.fail("must be true or false");
  return *node.value<bool>();
}

// A limit may be written as TOML wants it: "256m", 0.5, 100.
std::string scalar_text(const Place& place, const toml::node& node) {
  if (node.is_string()) return *node.value<std::string>();
  if (node.is_integer()) return std::to_string(*node.value<int64_t>());
  if (node.is_floating_point()) return fmt::format("{}", *node.value<double>());
  if (node.is_boolean()) return *node.value<bool>() ? "true" : "false";
  place.fail("must be a string, a number or a boolean");
}

using FieldReader = std::function<void(const Place&, const toml::node&, ContainerSpec&)>;

FieldReader into(std::string ContainerSpec::*field, void (*check)(const std::string&) = nullptr) {
  return [field, check](const Place& place, const toml::node& node, ContainerSpec& spec) {
    spec.*field = string_of(place, node);
    if (check != nullptr) place.checked([&] { check(spec.*field); });
  };
}

FieldReader into(std::vector<std::string> ContainerSpec::*field) {
  return [field](const Place& place, const toml::node& node, ContainerSpec& spec) {
    spec.*field = strings_of(place, node);
  };
}

FieldReader into(bool ContainerSpec::*field) {
  return [field](const Place& place, const toml::node& node, ContainerSpec& spec) {
    spec.*field = bool_of(place, node);
  };
}

void read_env(const Place& place, const toml::node& node, ContainerSpec& spec) {
  const toml::table* table = node.as_table();
  if (table == nullptr) place.fail("must be a table of strings (env = { KEY = \"value\" })");
  for (const auto& [key, value] : *table) {
    Place entry = place.at(value.source(), "env." + std::string(key.str()));
    if (!value.is_string()) entry.fail("must be a string");
    entry.checked([&] { check_env_name(key.str()); });
    spec.env.emplace_back(std::string(key.str()), *value.value<std::string>());
  }
}

void read_stop_timeout(const Place& place, const toml::node& node, ContainerSpec& spec) {
  if (!node.is_integer()) place.fail("must be a whole number of seconds");
  int64_t seconds = *node.value<int64_t>();
  if (seconds < 0 || seconds > 86400) place.fail("use seconds from 0 to 86400");
  spec.stop_timeout = static_cast<int>(seconds);
}

void read_ports(const Place& place, const toml::node&, ContainerSpec&) {
  place.fail(
      "roost has no port forwarding: a container shares the host's network by default, so it "
      "listens on the host's ports itself; remove this key");
}

const std::map<std::string, FieldReader, std::less<>>& top_level_fields() {
  static const std::map<std::string, FieldReader, std::less<>> fields = {
      {"image", into(&ContainerSpec::image)},
      {"command", [](const Place& place, const toml::node& node,
                     ContainerSpec& spec) { spec.command = strings_of(place, node); }},
      {"entrypoint", [](const Place& place, const toml::node& node,
                        ContainerSpec& spec) { spec.entrypoint = string_of(place, node); }},
      {"env", read_env},
      {"env-file", into(&ContainerSpec::env_files)},
      {"volumes", into(&ContainerSpec::volumes)},
      {"tmpfs", into(&ContainerSpec::tmpfs)},
      {"workdir", into(&ContainerSpec::workdir)},
      {"user", into(&ContainerSpec::user)},
      {"hostname", into(&ContainerSpec::hostname)},
      {"network", into(&ContainerSpec::network, check_network)},
      {"userns", into(&ContainerSpec::userns, check_userns)},
      {"sdnotify", into(&ContainerSpec::sdnotify, check_sdnotify)},
      {"stop-signal", into(&ContainerSpec::stop_signal, check_stop_signal)},
      {"stop-timeout", read_stop_timeout},
      {"read-only", into(&ContainerSpec::read_only)},
      {"init", into(&ContainerSpec::init)},
      {"restart", into(&ContainerSpec::restart, check_restart)},
      {"ports", read_ports},
  };
  return fields;
}

// [unit], [service], [install], [socket]: systemd settings written into the unit as
// given; an array repeats the setting once per element.
void read_unit_lines(const std::filesystem::path& file, std::string_view section,
                     const toml::table& table, UnitLines& lines) {
  for (const auto& [key, node] : table) {
    Place place(file, node.source(), fmt::format("{}.{}", section, key.str()));
    std::vector<const toml::node*> values;
    if (const toml::array* array = node.as_array())
      for (const auto& item : *array) values.push_back(&item);
    else
      values.push_back(&node);
    for (const toml::node* value : values) {
      std::string text = scalar_text(place, *value);
      if (text.find_first_of("\n\r") != std::string::npos)
        place.fail("a unit setting cannot span lines");
      lines.emplace_back(std::string(key.str()), text);
    }
  }
}

void read_limits(const std::filesystem::path& file, const toml::table& table, ContainerSpec& spec) {
  for (const auto& [key, node] : table) {
    Place place(file, node.source(), fmt::format("limits.{}", key.str()));
    if (!cgroups::is_limit_key(key.str()))
      place.fail(fmt::format("unknown key; limits are {}", fmt::join(cgroups::kLimitKeys, ", ")));
    spec.limits[std::string(key.str())] = scalar_text(place, node);
    place.checked([&] {
      check_limits({{std::string(key.str()), spec.limits[std::string(key.str())]}});
    });
  }
}

const toml::table& table_of(const Place& place, const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) place.fail("must be a table");
  return *table;
}

bool read_section(const std::filesystem::path& file, std::string_view name, const toml::node& node,
                  ContainerSpec& spec) {
  static const std::map<std::string, UnitLines ContainerSpec::*, std::less<>> kSections = {
      {"unit", &ContainerSpec::unit_extra},
      {"service", &ContainerSpec::service_extra},
      {"install", &ContainerSpec::install_extra},
      {"socket", &ContainerSpec::socket},
  };
  Place place(file, node.source(), std::string(name));
  if (name == "limits") {
    read_limits(file, table_of(place, node), spec);
    return true;
  }
  auto section = kSections.find(name);
  if (section == kSections.end()) return false;
  read_unit_lines(file, name, table_of(place, node), spec.*(section->second));
  return true;
}

// toml++ reports a repeated key as "cannot redefine existing integer 'a'".
std::string parse_error_text(const toml::parse_error& error) {
  std::string description(error.description());
  static const std::regex kRedefined("cannot redefine existing \\w+ '([^']*)'");
  std::smatch match;
  if (std::regex_search(description, match, kRedefined))
    return fmt::format("{}: duplicate key", match[1].str());
  return description;
}

std::string known_keys() {
  std::vector<std::string> keys;
  for (const auto& [key, reader] : top_level_fields())
    if (key != "ports") keys.push_back(key);
  return fmt::format("{}; tables [limits], [unit], [service], [install], [socket]",
                     fmt::join(keys, ", "));
}

}  // namespace

ContainerSpec parse_container_text(std::string_view text, const std::filesystem::path& file) {
  toml::table root;
  try {
    root = toml::parse(text, file.string());
  } catch (const toml::parse_error& error) {
    throw UsageError(fmt::format("{}:{}:{}: {}", file.string(), error.source().begin.line,
                                 error.source().begin.column, parse_error_text(error)));
  }
  ContainerSpec spec;
  spec.source = file;
  spec.name = file.stem().string();
  for (const auto& [key, node] : root) {
    if (read_section(file, key.str(), node, spec)) continue;
    Place place(file, node.source(), std::string(key.str()));
    auto field = top_level_fields().find(key.str());
    if (field == top_level_fields().end())
      place.fail(fmt::format("unknown key; the keys are {}", known_keys()));
    field->second(place, node, spec);
  }
  if (spec.image.empty())
    throw UsageError(
        fmt::format("{}:1:1: image: missing; name an image in your store "
                    "(image = \"app:1\") or an archive "
                    "(image = \"docker-archive:/path/app.tar\")",
                    file.string()));
  try {
    check_spec(spec);
  } catch (const UsageError& error) {
    throw UsageError(fmt::format("{}:1:1: {}", file.string(), error.what()));
  }
  return spec;
}

int signal_number(std::string_view text) {
  std::string name(text);
  for (auto& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.starts_with("SIG")) name.erase(0, 3);
  for (int sig = 1; sig < SIGRTMIN; ++sig)
    if (const char* abbreviation = ::sigabbrev_np(sig);
        abbreviation != nullptr && name == abbreviation)
      return sig;
  throw UsageError(fmt::format("stop signal {}: not a signal name (SIGTERM, SIGINT, ...)", text));
}

void check_spec(const ContainerSpec& spec) {
  static const std::regex kValidName("[a-zA-Z0-9][a-zA-Z0-9_.-]*");
  if (!std::regex_match(spec.name, kValidName))
    throw UsageError(fmt::format(
        "container name {:?}: it starts with a letter or digit and holds only letters, digits, "
        "'_', '.' and '-'",
        spec.name));
  if (spec.image.empty()) throw UsageError("no image: name an image or an archive");
  if (!spec.network.empty()) check_network(spec.network);
  if (!spec.userns.empty()) check_userns(spec.userns);
  if (!spec.sdnotify.empty()) check_sdnotify(spec.sdnotify);
  if (!spec.stop_signal.empty()) check_stop_signal(spec.stop_signal);
  check_restart(spec.restart);
  for (const auto& [key, value] : spec.env) check_env_name(key);
  check_limits(spec.limits);
}

ContainerSpec read_container_file(const std::filesystem::path& file) {
  return parse_container_text(fs::read_file(file), file);
}

}  // namespace roost::units
