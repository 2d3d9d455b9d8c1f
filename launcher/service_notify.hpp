#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "launcher/relay.hpp"

namespace roost::cli {

// Talking to the service manager that runs roost (NOTIFY_SOCKET), shared by roost and
// roost-monitor: no libsystemd, no fmt, no spdlog here.

// Sends `message` ("READY=1", "MAINPID=42") to $NOTIFY_SOCKET, a path or an abstract
// name (@...); nothing without it. A failure is a warning: the container runs on.
void notify_service_manager(std::string_view message);

// The notification lines a container may send on to systemd; MAINPID and unknown
// variables are dropped (MAINPID is roost's to say).
std::string relayable_notification(std::string_view message);

// Passes on what the container sends to the socket it was given (--sdnotify=container),
// as a peer of the monitor's relay.
class NotifyRelay : public RelayPeer {
 public:
  explicit NotifyRelay(UniqueFd socket) : socket_(std::move(socket)) {}

  std::vector<int> fds() const override { return {socket_.get()}; }
  void on_readable(int fd) override;

 private:
  UniqueFd socket_;
};

// Relays one datagram the container sent; its text is `datagram`.
void relay_notification(std::string_view datagram);

}  // namespace roost::cli
