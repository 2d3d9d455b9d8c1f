#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace roost::units {

// Lines for one section of a unit, in the order given: systemd setting name and the
// value written as is (systemd syntax, the user's own).
using UnitLines = std::vector<std::pair<std::string, std::string>>;

// A container run as a systemd user service: what `roost generate unit` is asked for,
// or what a declarative file (units/NAME.toml) says. Empty strings are "not given".
struct ContainerSpec {
  std::string name;   // the container's name; the unit is roost-NAME.service
  std::string image;  // a store name, or an archive (docker-archive:PATH, oci-archive:PATH)
  std::optional<std::vector<std::string>> command;
  std::optional<std::string> entrypoint;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> env_files;
  std::vector<std::string> volumes;
  std::vector<std::string> tmpfs;
  std::string workdir;
  std::string user;
  std::string hostname;
  std::string network;
  std::string userns;
  std::string sdnotify;  // conmon (default), container or ignore
  std::string stop_signal;
  std::optional<int> stop_timeout;
  bool read_only = false;
  bool init = false;
  std::map<std::string, std::string> limits;  // run option name (memory, cpus, ...) -> value
  std::string restart = "on-failure";         // systemd's Restart=
  UnitLines unit_extra;
  UnitLines service_extra;
  UnitLines install_extra;
  UnitLines socket;              // a matching roost-NAME.socket when not empty
  std::filesystem::path source;  // the declarative file, when there is one
  // The unit starts this saved container (`roost start --attach`), keeping its writable
  // layer and its own limits, instead of making it anew at every start.
  bool existing = false;
};

// Reads a declarative container file. The container's name is the file's name without
// .toml. A syntax error, a duplicate or unknown key, or a value of the wrong type is a
// UsageError starting with "FILE:LINE:COLUMN:" and naming the key.
ContainerSpec read_container_file(const std::filesystem::path& file);
ContainerSpec parse_container_text(std::string_view text, const std::filesystem::path& file);

// Checks what both the file and the command line can get wrong: the name, the image,
// sdnotify, restart, the limits, the stop signal and timeout. UsageError naming the value.
void check_spec(const ContainerSpec& spec);

// SIGTERM, TERM or term: the signal's number; anything else is a UsageError.
int signal_number(std::string_view text);

}  // namespace roost::units
