#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace roost::cgroups {

// What decides which bus reaches the user's systemd instance.
struct BusEnvironment {
  std::optional<std::string> session_bus_address;  // $DBUS_SESSION_BUS_ADDRESS
  std::optional<std::string> xdg_runtime_dir;      // $XDG_RUNTIME_DIR
  uid_t uid = 0;                                   // the user whose manager is wanted
  std::filesystem::path run_user = "/run/user";    // where /run/user/UID lives

  // This process's environment and real uid; empty variables count as unset.
  static BusEnvironment from_process();
};

struct BusChoice {
  std::string address;           // a D-Bus address, for sd_bus_set_address
  std::filesystem::path socket;  // its socket file, when the address names one
  std::string source;            // where the address came from, for messages
};

// $DBUS_SESSION_BUS_ADDRESS, else unix:path=$XDG_RUNTIME_DIR/bus, else
// /run/user/UID/bus. An address of another uid, as after su from root, is not used: a
// warning says so and the next one is tried. Another uid's is one whose socket (or,
// when the socket cannot be looked at, its directory) that uid owns, or, when neither
// exists, one in /run/user/N for another N.
BusChoice choose_user_bus(const BusEnvironment& environment);

// Whether something accepts connections on the choice's socket. An address without a
// socket file (abstract, tcp) counts as listening: only connecting can tell.
bool bus_listening(const BusChoice& choice);

// D-Bus address escaping of a value such as a path ("/run/user/1000/bus" stays as it is,
// a space becomes %20), and its inverse.
std::string escape_address_value(std::string_view value);
std::string unescape_address_value(std::string_view value);

}  // namespace roost::cgroups
