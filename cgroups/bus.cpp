#include "cgroups/bus.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/fd.hpp"

namespace roost::cgroups {

namespace {

namespace stdfs = std::filesystem;

std::optional<std::string> environment_value(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// The socket files of an address's unix:path= entries ("a;b" lists alternatives).
std::vector<stdfs::path> socket_paths(std::string_view address) {
  std::vector<stdfs::path> paths;
  for (auto entry : split(address, ';')) {
    if (!entry.starts_with("unix:")) continue;
    for (auto parameter : split(entry.substr(5), ','))
      if (parameter.starts_with("path="))
        paths.push_back(unescape_address_value(parameter.substr(5)));
  }
  return paths;
}

// Who owns the socket; when it cannot be looked at (a 0700 /run/user/0 hides it from
// other users), who owns its directory.
std::optional<std::pair<uid_t, stdfs::path>> owner_of(const stdfs::path& socket) {
  struct stat status;
  if (::stat(socket.c_str(), &status) == 0) return std::pair{status.st_uid, socket};
  if (::stat(socket.parent_path().c_str(), &status) == 0)
    return std::pair{status.st_uid, socket.parent_path()};
  return std::nullopt;
}

// RUN_USER/N is uid N's runtime directory by logind's convention, also while it does
// not exist (root without a session has no /run/user/0, yet su passes its address on).
std::optional<uid_t> runtime_dir_uid(const stdfs::path& socket, const stdfs::path& run_user) {
  auto relative = socket.lexically_relative(run_user);
  if (relative.empty() || std::distance(relative.begin(), relative.end()) < 2) return std::nullopt;
  std::string first = relative.begin()->string();
  uid_t uid = 0;
  auto [end, error] = std::from_chars(first.data(), first.data() + first.size(), uid);
  if (error != std::errc() || end != first.data() + first.size()) return std::nullopt;
  return uid;
}

std::optional<std::string> foreign_owner(std::string_view address,
                                         const BusEnvironment& environment) {
  for (const auto& socket : socket_paths(address)) {
    auto owner = owner_of(socket);
    if (owner && owner->first != environment.uid)
      return fmt::format("{} belongs to uid {}", owner->second.string(), owner->first);
    auto runtime_uid = runtime_dir_uid(socket, environment.run_user);
    if (!owner && runtime_uid && *runtime_uid != environment.uid)
      return fmt::format("{} is the runtime directory of uid {}",
                         (environment.run_user / std::to_string(*runtime_uid)).string(),
                         *runtime_uid);
  }
  return std::nullopt;
}

struct Candidate {
  std::string address;
  std::string source;
};

std::vector<Candidate> candidates(const BusEnvironment& environment) {
  std::vector<Candidate> list;
  if (environment.session_bus_address)
    list.push_back({*environment.session_bus_address, "$DBUS_SESSION_BUS_ADDRESS"});
  if (environment.xdg_runtime_dir)
    list.push_back({"unix:path=" + escape_address_value(*environment.xdg_runtime_dir + "/bus"),
                    "$XDG_RUNTIME_DIR"});
  auto own = environment.run_user / std::to_string(environment.uid) / "bus";
  list.push_back({"unix:path=" + escape_address_value(own.string()), own.parent_path().string()});
  return list;
}

bool optionally_escaped(unsigned char c) {
  return std::isalnum(c) || std::strchr("-_/.\\*", c) != nullptr;
}

}  // namespace

BusEnvironment BusEnvironment::from_process() {
  BusEnvironment environment;
  environment.session_bus_address = environment_value("DBUS_SESSION_BUS_ADDRESS");
  environment.xdg_runtime_dir = environment_value("XDG_RUNTIME_DIR");
  environment.uid = ::getuid();
  return environment;
}

BusChoice choose_user_bus(const BusEnvironment& environment) {
  for (const auto& candidate : candidates(environment)) {
    if (auto reason = foreign_owner(candidate.address, environment)) {
      spdlog::warn(
          "the D-Bus address from {} ({}) is not used: {}, and roost runs as uid {} "
          "(an environment kept through su or sudo does this)",
          candidate.source, candidate.address, *reason, environment.uid);
      continue;
    }
    auto sockets = socket_paths(candidate.address);
    return {candidate.address, sockets.empty() ? stdfs::path() : sockets.front(), candidate.source};
  }
  return {};
}

bool bus_listening(const BusChoice& choice) {
  if (choice.address.empty()) return false;
  if (choice.socket.empty()) return true;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (choice.socket.native().size() >= sizeof(address.sun_path)) return false;
  std::strcpy(address.sun_path, choice.socket.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
}

std::string escape_address_value(std::string_view value) {
  std::string out;
  for (unsigned char c : value)
    out += optionally_escaped(c) ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02x}", c);
  return out;
}

std::string unescape_address_value(std::string_view value) {
  std::string out;
  for (size_t i = 0; i < value.size(); ++i) {
    unsigned int byte = 0;
    const char* digits = value.data() + i + 1;
    if (value[i] == '%' && i + 2 < value.size() &&
        std::from_chars(digits, digits + 2, byte, 16).ptr == digits + 2) {
      out += static_cast<char>(byte);
      i += 2;
    } else {
      out += value[i];
    }
  }
  return out;
}

}  // namespace roost::cgroups
