#include "launcher/journal_writer.hpp"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/stderr_log.hpp"

namespace roost::cli {

namespace {

struct sockaddr_un journal_address() {
  struct sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, kJournalSocket, sizeof address.sun_path - 1);
  return address;
}

}  // namespace

void append_journal_field(std::string& entry, std::string_view name, std::string_view value) {
  entry.append(name);
  if (value.find('\n') == std::string_view::npos) {
    entry.push_back('=');
    entry.append(value);
    entry.push_back('\n');
    return;
  }
  // NAME, a newline, the length as 64-bit little endian, the value, a newline.
  entry.push_back('\n');
  uint64_t length = value.size();
  for (int byte = 0; byte < 8; ++byte) entry.push_back(static_cast<char>(length >> (8 * byte)));
  entry.append(value);
  entry.push_back('\n');
}

JournalWriter::JournalWriter(JournalFields fields) {
  append_journal_field(fields_, "CONTAINER_NAME", fields.container_name);
  append_journal_field(fields_, "CONTAINER_ID", fields.container_id.substr(0, 12));
  append_journal_field(fields_, "CONTAINER_ID_FULL", fields.container_id);
  append_journal_field(fields_, "IMAGE_NAME", fields.image_name);
  append_journal_field(fields_, "SYSLOG_IDENTIFIER", fields.container_name);
}

void JournalWriter::write(Stream stream, std::string_view data) {
  while (!data.empty()) {
    auto newline = data.find('\n');
    bool whole = newline != std::string_view::npos;
    auto line = data.substr(0, whole ? newline : data.size());
    data.remove_prefix(whole ? newline + 1 : data.size());
    do {
      auto piece = line.substr(0, kJournalPieceSize);
      line.remove_prefix(piece.size());
      send(stream, piece, !whole || !line.empty());
    } while (!line.empty());
  }
}

void JournalWriter::send(Stream stream, std::string_view text, bool partial) {
  std::string entry;
  entry.reserve(text.size() + fields_.size() + 64);
  append_journal_field(entry, "MESSAGE", text);
  append_journal_field(entry, "PRIORITY", stream == Stream::Stderr ? "3" : "6");
  entry.append(fields_);
  if (partial) append_journal_field(entry, kJournalPartialField, "true");
  if (!socket_) socket_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  auto address = journal_address();
  ssize_t sent = -1;
  if (socket_) {
    do
      sent = ::sendto(socket_.get(), entry.data(), entry.size(), MSG_NOSIGNAL,
                      reinterpret_cast<const struct sockaddr*>(&address), sizeof address);
    while (sent < 0 && errno == EINTR);
  }
  int error = errno;
  if (sent < 0 && !warned_)
    stderr_log::warning(std::string("send a container's output to the journal: ") +
                        std::strerror(error) + ", dropping output");
  warned_ = warned_ || sent < 0;
}

}  // namespace roost::cli
