#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "launcher/containers.hpp"
#include "launcher/logs.hpp"
#include "launcher/monitor.hpp"

namespace roost::cli {

// The journald log driver. Each line the container writes becomes one journal entry
// (sd_journal_sendv) with MESSAGE, PRIORITY (6 for stdout, 3 for stderr) and the
// container's fields, so that `journalctl --user CONTAINER_NAME=web` finds it:
//   CONTAINER_NAME, CONTAINER_ID (12 hex digits), CONTAINER_ID_FULL, IMAGE_NAME,
//   SYSLOG_IDENTIFIER (the container's name).
// A line longer than kJournalPieceSize, or text not ended by a newline when it arrives,
// goes in pieces; every piece but a line's last carries CONTAINER_PARTIAL_MESSAGE=true.
inline constexpr size_t kJournalPieceSize = 16 * 1024;

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

  std::vector<std::string> fields_;  // "KEY=value", the same for every entry
  bool warned_ = false;
};

// The driver a container gets when --log-driver is not given: journald where the
// caller can read its own entries back (journald's socket is there and the journal is
// kept on disk, where journald gives each user a file of their own), else k8s-file.
std::string default_log_driver();

// Whether roost's stdout is a stream journald reads (JOURNAL_STREAM names its device
// and inode, as systemd sets it for a service): the output is in the journal already.
bool stdout_is_journal();

// A container's log as its driver keeps it: k8s-file, journald, or none (nothing kept).
class ContainerLog {
 public:
  ContainerLog(const std::string& driver, const std::filesystem::path& file, uint64_t max_size,
               JournalFields fields);

  void write(Stream stream, std::string_view data);

 private:
  std::optional<LogWriter> file_;
  std::optional<JournalWriter> journal_;
};

// The log of a container as its settings ask.
ContainerLog container_log(const ContainerStore& store, const ContainerRecord& record);

// As print_log, from the journal entries whose CONTAINER_ID_FULL is `container_id`.
// Throws Error when no journal file can be read.
void print_journal(const std::string& container_id, const LogQuery& query,
                   const std::function<bool()>& still_running);

}  // namespace roost::cli
