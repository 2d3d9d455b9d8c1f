#include "launcher/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/stderr_log.hpp"

namespace roost::cli {

namespace {

constexpr std::string_view kRelayed[] = {"READY",    "STATUS", "RELOADING",          "STOPPING",
                                         "WATCHDOG", "ERRNO",  "EXTEND_TIMEOUT_USEC"};

bool is_relayed(std::string_view variable) {
  for (auto relayed : kRelayed)
    if (variable == relayed) return true;
  return false;
}

void warn_not_told(std::string_view message, const char* reason) {
  stderr_log::warning("could not tell systemd \"" + std::string(message) + "\": " + reason +
                      ", ignoring");
}

}  // namespace

void notify_service_manager(std::string_view message) {
  const char* target = std::getenv("NOTIFY_SOCKET");
  if (target == nullptr || *target == '\0') return;
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  size_t length = std::strlen(target);
  if ((target[0] != '/' && target[0] != '@') || length >= sizeof address.sun_path) {
    warn_not_told(message, "NOTIFY_SOCKET is neither a socket path nor an abstract name");
    return;
  }
  std::memcpy(address.sun_path, target, length);
  if (target[0] == '@') address.sun_path[0] = '\0';
  socklen_t size = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + length +
                                          (target[0] == '/' ? 1 : 0));
  UniqueFd socket(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ssize_t sent = -1;
  if (socket) {
    do
      sent = ::sendto(socket.get(), message.data(), message.size(), MSG_NOSIGNAL,
                      reinterpret_cast<const struct sockaddr*>(&address), size);
    while (sent < 0 && errno == EINTR);
  }
  if (sent < 0) warn_not_told(message, std::strerror(errno));
}

std::string relayable_notification(std::string_view message) {
  std::string relayed;
  while (!message.empty()) {
    auto line = message.substr(0, message.find('\n'));
    message.remove_prefix(std::min(message.size(), line.size() + 1));
    auto equals = line.find('=');
    if (equals == std::string_view::npos || !is_relayed(line.substr(0, equals))) continue;
    if (!relayed.empty()) relayed.push_back('\n');
    relayed.append(line);
  }
  return relayed;
}

void relay_notification(std::string_view datagram) {
  auto relayed = relayable_notification(datagram);
  if (!relayed.empty()) notify_service_manager(relayed);
}

void NotifyRelay::on_readable(int) {
  char buffer[4096];
  ssize_t n = ::recv(socket_.get(), buffer, sizeof buffer, MSG_DONTWAIT);
  if (n > 0) relay_notification(std::string_view(buffer, static_cast<size_t>(n)));
}

}  // namespace roost::cli
