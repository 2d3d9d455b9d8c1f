#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "launcher/relay.hpp"

namespace roost::cli {

// The journald log driver. Each line the container writes becomes one journal entry
// with MESSAGE, PRIORITY (6 for stdout, 3 for stderr) and the container's fields, so
// that `journalctl --user CONTAINER_NAME=web` finds it:
//   CONTAINER_NAME, CONTAINER_ID (12 hex digits), CONTAINER_ID_FULL, IMAGE_NAME,
//   SYSLOG_IDENTIFIER (the container's name).
// A line longer than kJournalPieceSize, or text not ended by a newline when it arrives,
// goes in pieces; every piece but a line's last carries CONTAINER_PARTIAL_MESSAGE=true.
// Entries go to journald's socket in its native protocol, one datagram each (a piece
// is far below a datagram's limit), so roost-monitor needs no libsystemd for them.
inline constexpr size_t kJournalPieceSize = 16 * 1024;
inline constexpr const char* kJournalSocket = "/run/systemd/journal/socket";
inline constexpr const char* kJournalPartialField = "CONTAINER_PARTIAL_MESSAGE";

struct JournalFields {
  std::string container_name;
  std::string container_id;  // 64 hex digits
  std::string image_name;
};

class JournalWriter {
 public:
  explicit JournalWriter(JournalFields fields);

  // Sends `data` at once, as it came from `stream`: nothing is held back.
  void write(Stream stream, std::string_view data);

 private:
  void send(Stream stream, std::string_view text, bool partial);

  std::string fields_;  // the serialized fields every entry carries
  UniqueFd socket_;
  bool warned_ = false;
};

// Adds FIELD=value to a native journal entry; a value with a newline gets the binary form.
void append_journal_field(std::string& entry, std::string_view name, std::string_view value);

}  // namespace roost::cli
