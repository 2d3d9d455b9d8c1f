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
#include "launcher/log_file.hpp"
#include "launcher/times.hpp"

namespace roost::cli {

struct LogQuery {
  std::optional<UnixNanos> since;
  std::optional<UnixNanos> until;
  std::optional<size_t> tail;  // the last N lines only
  bool timestamps = false;     // each line starts with its time
  bool follow = false;
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
  // Forgets the pieces of lines not closed yet: the rest of them was lost.
  void drop_pieces();
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
// away before it reached them are reported on stderr with the number of lines lost, and
// the pieces of lost lines are left out.
void print_log(const std::filesystem::path& path, const LogQuery& query,
               const std::function<bool()>& still_running);

}  // namespace roost::cli
