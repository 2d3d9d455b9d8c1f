#pragma once

#include <sys/un.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "launcher/relay.hpp"

namespace roost::cli {

// The monitor's end of `roost attach`, for a detached container with a terminal. The
// monitor listens on RUN/containers/ID/attach.sock (SOCK_SEQPACKET, mode 0600). A
// client sends packets that start with a type byte: 'i' and keystrokes for the
// terminal, 'w' and a struct winsize; it gets the terminal's output as it comes. The
// monitor closes the connection when the container ends. roost-monitor serves it: no
// fmt, no spdlog here.
inline constexpr const char* kAttachSocket = "attach.sock";
inline constexpr char kAttachInput = 'i';
inline constexpr char kAttachWindowSize = 'w';
inline constexpr size_t kAttachPacketSize = 16384;

// An O_PATH descriptor of `dir`, for socket addresses through /proc/self/fd.
UniqueFd open_directory(const std::string& dir);

// The address of `name` in the directory `dir_fd` refers to: runtime directories can be
// deeper than the 108 bytes a socket address holds.
struct sockaddr_un socket_address_in(int dir_fd, std::string_view name);

// Binds and listens on the attach socket of the runtime directory `runtime_dir`.
UniqueFd listen_for_attach(const std::string& runtime_dir);

class AttachServer : public RelayPeer {
 public:
  // Serves the terminal through `listener`, bound at `socket_path`, which goes with it.
  AttachServer(std::string socket_path, UniqueFd listener, int terminal);
  ~AttachServer() override;
  AttachServer(const AttachServer&) = delete;
  AttachServer& operator=(const AttachServer&) = delete;

  std::vector<int> fds() const override;
  void on_readable(int fd) override;
  // Sends terminal output to every client; one that cannot take it at once is
  // disconnected (the log keeps everything).
  void broadcast(std::string_view output);

 private:
  void accept_client();
  void serve(int client);
  void drop(int client);

  std::string path_;
  UniqueFd listener_;
  std::vector<UniqueFd> clients_;
  int terminal_;
};

}  // namespace roost::cli
