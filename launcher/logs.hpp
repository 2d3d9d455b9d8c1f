#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "launcher/monitor.hpp"
#include "launcher/times.hpp"

namespace roost::cli {

// The file log driver. One record per line:
//   2024-05-01T12:00:00.123456789Z stdout F text of a whole line
// F closes a line; P is a piece of one that goes on in the next record of the same
// stream (a line longer than a read, or text not yet ended by a newline). A last line
// without a newline stays a P record. When the file would grow past its size, it is
// renamed to FILE.1 (FILE.1 to FILE.2, and so on; the oldest beyond kKeptRotations is
// dropped) and a new one begun, so the log takes at most (kKeptRotations + 1) times its
// size. FILE.index names each file still kept by inode with the number of whole lines
// written before it, so that a follower that falls behind more than the kept files can
// say how many it lost.
inline constexpr uint64_t kDefaultLogMaxSize = 10 * 1024 * 1024;
inline constexpr int kKeptRotations = 4;

class LogWriter {
 public:
  LogWriter(std::filesystem::path path, uint64_t max_size);

  // Writes `data` as it came from `stream`, split at newlines, at once: nothing is held
  // back, so a killed monitor loses nothing it had read.
  void write(Stream stream, std::string_view data);

 private:
  bool append(const std::string& record);  // false when it could not be written
  void rotate();
  void begin_file(uint64_t first_line);

  struct Generation {
    ino_t inode;
    uint64_t first_line;
  };

  std::filesystem::path path_;
  uint64_t max_size_;
  uint64_t size_ = 0;
  uint64_t lines_ = 0;  // whole lines in the files of this writer, the current one's earlier too
  std::vector<Generation> generations_;  // oldest first, the current file last
  UniqueFd fd_;
  bool warned_ = false;
};

struct LogQuery {
  std::optional<UnixNanos> since;
  std::optional<UnixNanos> until;
  std::optional<size_t> tail;  // the last N lines only
  bool timestamps = false;     // each line starts with its time
  bool follow = false;
};

// One record of a log as a driver stores it: a whole line (without its newline) or a
// piece of one that goes on in the next record of the same stream.
struct LogRecord {
  UnixNanos time = 0;
  Stream stream = Stream::Stdout;
  bool partial = false;
  std::string_view text;
};

// Joins records into lines, newline included when the line had one, and prints those the
// query wants to stdout or stderr as the container wrote them.
class LineAssembler {
 public:
  explicit LineAssembler(const LogQuery& query) : query_(query) {}

  // Returns whether the record closed a line.
  bool add(const LogRecord& record);
  // The log ended: pieces without a closing newline are lines too.
  void finish();
  // Lines held back for --tail are printed; later ones go out as they come.
  void release_tail();

 private:
  struct Line {
    UnixNanos time = 0;
    Stream stream = Stream::Stdout;
    std::string text;
  };

  void emit(Line line);
  void print(const Line& line) const;

  const LogQuery& query_;
  std::array<std::optional<Line>, 2> pending_;
  std::deque<Line> tail_;
  bool tail_done_ = false;
};

// Prints the lines of a container's log (the rotated files oldest first, then FILE) to
// stdout and stderr as the container wrote them. With follow, keeps reading as the log
// grows and across rotations, each file to its end before the next, until
// `still_running` says the container has ended, then reads what is left; files rotated
// away before it reached them are reported on stderr with the number of records lost.
void print_log(const std::filesystem::path& path, const LogQuery& query,
               const std::function<bool()>& still_running);

}  // namespace roost::cli
