#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "launcher/relay.hpp"
#include "launcher/times.hpp"

namespace roost::cli {

// The file log driver. One record per line:
//   2024-05-01T12:00:00.123456789Z stdout F text of a whole line
// F closes a line; P is a piece of one that goes on in the next record of the same
// stream (a line longer than a read, or text not yet ended by a newline). A last line
// without a newline stays a P record. When the file would grow past its size, it is
// renamed to FILE.1 (FILE.1 to FILE.2, and so on; the oldest beyond kKeptRotations is
// dropped) and a new one begun, so the log takes at most (kKeptRotations + 1) times its
// size. FILE.index has a line for each file still kept, oldest first:
//   INODE LINES RECORDS CONTINUED
// the whole lines and the records written before that file, and the streams whose line
// goes on from the file before ("stdout", "stderr", "stdout,stderr" or "-"). A follower
// that falls behind more than the kept files can tell that it did, say how many lines it
// lost, and leave out the pieces of lost lines. roost-monitor writes it too: no fmt, no
// spdlog here.
inline constexpr uint64_t kDefaultLogMaxSize = 10 * 1024 * 1024;
inline constexpr int kKeptRotations = 4;

// FILE.N, the Nth file rotated away (1 the newest).
std::string rotated_log_path(std::string_view path, int number = 1);
// FILE.index.
std::string log_index_path(std::string_view path);

// One record of a log as a driver stores it: a whole line (without its newline) or a
// piece of one that goes on in the next record of the same stream.
struct LogRecord {
  UnixNanos time = 0;
  Stream stream = Stream::Stdout;
  bool partial = false;
  std::string_view text;
};

// A record line of the file driver, without its newline; nothing when it is malformed.
std::optional<LogRecord> parse_log_record(std::string_view line);

// What FILE.index says of one file. An index of an older roost has no RECORDS and no
// CONTINUED column.
struct LogIndexEntry {
  ino_t inode = 0;
  uint64_t first_line = 0;
  std::optional<uint64_t> first_record;
  std::array<bool, 2> continued = {};  // by Stream: a line of it goes on from the file before
};
std::string format_log_index_entry(const LogIndexEntry& entry);
// A line of FILE.index, without its newline; nothing when it is malformed.
std::optional<LogIndexEntry> parse_log_index_entry(std::string_view line);

class LogWriter {
 public:
  LogWriter(std::string path, uint64_t max_size);

  // Writes `data` as it came from `stream`, split at newlines, at once: nothing is held
  // back, so a killed monitor loses nothing it had read.
  void write(Stream stream, std::string_view data);

 private:
  bool append(const std::string& record);  // false when it could not be written
  void rotate();
  void begin_file(LogIndexEntry entry);  // its inode is the open file's
  void warn_once(const std::string& message);

  std::string path_;
  uint64_t max_size_;
  uint64_t size_ = 0;
  // In the files of this writer, the current one's earlier content too.
  uint64_t lines_ = 0;
  uint64_t records_ = 0;
  std::array<bool, 2> open_ = {};           // by Stream: its last record was a piece
  std::vector<LogIndexEntry> generations_;  // oldest first, the current file last
  UniqueFd fd_;
  bool warned_ = false;
};

}  // namespace roost::cli
