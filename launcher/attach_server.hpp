#pragma once

#include <sys/un.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "launcher/relay.hpp"

namespace roost::cli {

// The monitor's end of `roost attach`, for a detached container. The monitor listens on
// RUN/containers/ID/attach.sock (SOCK_SEQPACKET, mode 0600). A client sends packets
// that start with a type byte: 'i' and input for the container (keystrokes for its
// terminal, or bytes for its stdin with -i), 'w' and a struct winsize, 'c' when its own
// input ended (the container's stdin is closed then). It gets the output as it comes:
// with a terminal as it is, without one in packets that start with '1' (stdout) or '2'
// (stderr). The monitor closes the connection when the container ends. roost-monitor
// serves it: no fmt, no spdlog here.
inline constexpr const char* kAttachSocket = "attach.sock";
inline constexpr char kAttachInput = 'i';
inline constexpr char kAttachWindowSize = 'w';
inline constexpr char kAttachEndOfInput = 'c';
inline constexpr char kAttachStdout = '1';
inline constexpr char kAttachStderr = '2';
// The longest packet either side sends: output as one read of the relay gets it, and
// its type byte.
inline constexpr size_t kAttachPacketSize = 16384 + 1;

// An O_PATH descriptor of `dir`, for socket addresses through /proc/self/fd.
UniqueFd open_directory(const std::string& dir);

// The address of `name` in the directory `dir_fd` refers to: runtime directories can be
// deeper than the 108 bytes a socket address holds.
struct sockaddr_un socket_address_in(int dir_fd, std::string_view name);

// Binds and listens on the attach socket of the runtime directory `runtime_dir`.
UniqueFd listen_for_attach(const std::string& runtime_dir);

class AttachServer : public RelayPeer {
 public:
  // Serves the container through `listener`, bound at `socket_path`, which goes with it:
  // its terminal (with -t), else the write end of its stdin (with -i) or neither.
  AttachServer(std::string socket_path, UniqueFd listener, int terminal, UniqueFd input);
  ~AttachServer() override;
  AttachServer(const AttachServer&) = delete;
  AttachServer& operator=(const AttachServer&) = delete;

  std::vector<int> fds() const override;
  void on_readable(int fd) override;
  std::vector<int> writable_fds() const override;
  void on_writable(int fd) override;
  // Sends output to every client; one that cannot take it at once is disconnected (the
  // log keeps everything).
  void broadcast(Stream stream, std::string_view output);

 private:
  void accept_client();
  void serve(int client);
  void drop(int client);
  void write_input();
  void close_input();

  std::string path_;
  UniqueFd listener_;
  std::vector<UniqueFd> clients_;
  int terminal_;
  UniqueFd input_;
  // Input the container has not read yet; no client is read from meanwhile.
  std::string pending_input_;
  bool input_ended_ = false;
};

}  // namespace roost::cli
