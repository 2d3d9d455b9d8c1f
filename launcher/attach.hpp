#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "launcher/monitor.hpp"

namespace roost::cli {

// `roost attach` and the monitor's end of it, for a detached container with a terminal.
// The monitor listens on RUN/containers/ID/attach.sock (SOCK_SEQPACKET, mode 0600).
// A client sends packets that start with a type byte: 'i' and keystrokes for the
// terminal, 'w' and a struct winsize; it gets the terminal's output as it comes. The
// monitor closes the connection when the container ends.
inline constexpr const char* kAttachSocket = "attach.sock";

class AttachServer : public RelayPeer {
 public:
  AttachServer(const std::filesystem::path& runtime_dir, int terminal);
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

  std::filesystem::path path_;
  UniqueFd listener_;
  std::vector<UniqueFd> clients_;
  int terminal_;
};

}  // namespace roost::cli
