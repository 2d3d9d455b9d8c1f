#include "launcher/logs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <deque>
#include <fstream>
#include <set>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::cli {

namespace {

constexpr auto kFollowInterval = std::chrono::milliseconds(100);

// FILE.index, oldest file first; empty when there is none.
std::vector<LogIndexEntry> read_index(const std::filesystem::path& path) {
  std::vector<LogIndexEntry> entries;
  std::ifstream index(log_index_path(path.string()));
  for (std::string line; std::getline(index, line);)
    if (auto entry = parse_log_index_entry(line)) entries.push_back(*entry);
  return entries;
}

// Where a file begins in the log, by the index; nothing when the index does not list it.
std::optional<LogIndexEntry> index_entry_of(const std::filesystem::path& path, ino_t inode) {
  for (const auto& entry : read_index(path))
    if (entry.inode == inode) return entry;
  return std::nullopt;
}

// Reads one log file from where it was left, record line by record line; a record
// still being written (no newline yet) waits for the next read. The pieces of a line
// whose start was lost can be left out.
class LogFileReader {
 public:
  explicit LogFileReader(UniqueFd fd) : fd_(std::move(fd)) {}

  bool open() const { return static_cast<bool>(fd_); }
  ino_t inode() const {
    struct stat st;
    return ::fstat(fd_.get(), &st) == 0 ? st.st_ino : 0;
  }

  // Whole lines and records read so far.
  uint64_t lines() const { return lines_; }
  uint64_t records() const { return records_; }

  // Leaves out the records of each stream marked until one ends a line.
  void skip_continued(const std::array<bool, 2>& streams) { skipping_ = streams; }

  // Feeds the complete record lines read now; returns whether any data came.
  bool read_into(LineAssembler& lines) {
    bool any = false;
    char chunk[65536];
    for (;;) {
      ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read a container log");
      if (n == 0) break;
      any = true;
      buffer_.append(chunk, static_cast<size_t>(n));
      size_t start = 0;
      for (size_t end; (end = buffer_.find('\n', start)) != std::string::npos; start = end + 1)
        add_record_line(lines, std::string_view(buffer_).substr(start, end - start));
      buffer_.erase(0, start);
    }
    return any;
  }

 private:
  void add_record_line(LineAssembler& lines, std::string_view raw) {
    auto record = parse_log_record(raw);
    if (!record) {
      spdlog::debug("skipping a malformed log record: {}", raw.substr(0, 80));
      return;
    }
    ++records_;
    if (!record->partial) ++lines_;
    bool& skipping = skipping_[static_cast<int>(record->stream)];
    if (!skipping)
      lines.add(*record);
    else if (!record->partial)
      skipping = false;
  }

  UniqueFd fd_;
  std::string buffer_;
  uint64_t lines_ = 0;
  uint64_t records_ = 0;
  std::array<bool, 2> skipping_ = {};
};

LogFileReader open_log(const std::filesystem::path& path) {
  return LogFileReader(UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)));
}

ino_t inode_of(const std::filesystem::path& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

LogFileReader open_by_inode(const std::filesystem::path& path, ino_t inode) {
  for (int number = 0; number <= kKeptRotations; ++number) {
    LogFileReader reader =
        open_log(number == 0 ? path.string() : rotated_log_path(path.string(), number));
    if (reader.open() && reader.inode() == inode) return reader;
  }
  return LogFileReader(UniqueFd());
}

void report_lost(uint64_t lost) {
  if (lost == 0) return;
  std::fprintf(stderr,
               "roost: %llu log lines were lost: the log rotated more than %d times while this "
               "reader was behind\n",
               static_cast<unsigned long long>(lost), kKeptRotations);
}

// The files a follower passes through, by FILE.index.
class Follower {
 public:
  Follower(std::filesystem::path path, LogFileReader current, LineAssembler& lines)
      : path_(std::move(path)), current_(std::move(current)), lines_(lines) {
    if (current_.open()) start_ = index_entry_of(path_, current_.inode());
  }

  // Reads what the file has now; returns whether anything came.
  bool read() { return current_.open() && current_.read_into(lines_); }

  // Whether the writer began another file than the one being read.
  bool rotated() const {
    ino_t now_at_path = inode_of(path_);
    return now_at_path != 0 && (!current_.open() || now_at_path != current_.inode());
  }

  // Moves to the file the writer began after the one read to its end; false while the
  // index does not list that one yet. Without an index entry for the file read, the
  // file now at the path is next.
  bool move_to_next_file() {
    if (!current_.open() || !start_) {
      current_ = open_log(path_);
      start_ = current_.open() ? index_entry_of(path_, current_.inode()) : std::nullopt;
      return true;
    }
    auto index = read_index(path_);
    size_t next = 0;  // the oldest kept file when ours was dropped already
    for (size_t i = 0; i < index.size(); ++i)
      if (index[i].inode == current_.inode()) next = i + 1;
    if (next >= index.size()) return false;
    LogFileReader reader = open_by_inode(path_, index[next].inode);
    if (!reader.open()) return false;
    if (passed_files(index[next])) leave_out_lost_lines(index[next], reader);
    current_ = std::move(reader);
    start_ = index[next];
    return true;
  }

 private:
  // Whether files were rotated away between the one read and `next`.
  bool passed_files(const LogIndexEntry& next) const {
    if (next.first_record && start_->first_record)
      return *next.first_record > *start_->first_record + current_.records();
    return next.first_line > start_->first_line + current_.lines();
  }

  // The lines that ended in the files passed are lost; so are those that began there or
  // in the file read and go on in `next`: what was read of them is dropped, and the rest
  // left out.
  void leave_out_lost_lines(const LogIndexEntry& next, LogFileReader& reader) {
    uint64_t lost =
        next.first_line - std::min(next.first_line, start_->first_line + current_.lines());
    lines_.drop_pieces();
    for (bool continued : next.continued) lost += continued ? 1 : 0;
    reader.skip_continued(next.continued);
    report_lost(lost);
  }

  std::filesystem::path path_;
  LogFileReader current_;
  std::optional<LogIndexEntry> start_;  // where the file being read begins in the log
  LineAssembler& lines_;
};

// Follows the log until the container has ended, across rotations.
void follow(const std::filesystem::path& path, LogFileReader current, LineAssembler& lines,
            const std::function<bool()>& still_running) {
  Follower follower(path, std::move(current), lines);
  for (;;) {
    bool running = still_running();
    bool grew = follower.read();
    if (follower.rotated()) {
      follower.read();
      if (follower.move_to_next_file()) continue;
    }
    if (!running && !grew) return;
    if (!grew) std::this_thread::sleep_for(kFollowInterval);
  }
}

}  // namespace

bool LineAssembler::add(const LogRecord& record) {
  auto& pending = pending_[static_cast<int>(record.stream)];
  if (!pending) pending = Line{record.time, record.stream, {}};
  pending->text.append(record.text);
  if (record.partial) return false;
  pending->text.push_back('\n');
  emit(std::move(*pending));
  pending.reset();
  return true;
}

void LineAssembler::drop_pieces() {
  for (auto& pending : pending_) pending.reset();
}

void LineAssembler::finish() {
  for (auto& pending : pending_)
    if (pending) {
      emit(std::move(*pending));
      pending.reset();
    }
}

void LineAssembler::release_tail() {
  for (const auto& line : tail_) print(line);
  tail_.clear();
  tail_done_ = true;
}

void LineAssembler::emit(Line line) {
  if (query_.since && line.time < *query_.since) return;
  if (query_.until && line.time > *query_.until) return;
  if (!query_.tail || tail_done_) {
    print(line);
    return;
  }
  tail_.push_back(std::move(line));
  if (tail_.size() > *query_.tail) tail_.pop_front();
}

void LineAssembler::print(const Line& line) const {
  int fd = line.stream == Stream::Stdout ? STDOUT_FILENO : STDERR_FILENO;
  std::string text = query_.timestamps ? format_timestamp(line.time) + " " + line.text : line.text;
  write_fully(fd, text);
}

void print_log(const std::filesystem::path& path, const LogQuery& query,
               const std::function<bool()>& still_running) {
  LineAssembler lines(query);
  // The current file first, then the older ones newest first: if it is rotated
  // meanwhile, the older files still hold all that was in them when we opened them.
  LogFileReader current = open_log(path);
  std::vector<LogFileReader> older;
  std::set<ino_t> seen = {current.open() ? current.inode() : 0};
  for (int number = 1; number <= kKeptRotations; ++number) {
    LogFileReader reader = open_log(rotated_log_path(path.string(), number));
    if (reader.open() && seen.insert(reader.inode()).second) older.push_back(std::move(reader));
  }
  for (auto file = older.rbegin(); file != older.rend(); ++file) file->read_into(lines);
  if (current.open()) current.read_into(lines);
  if (!query.follow) {
    lines.finish();
    lines.release_tail();
    return;
  }
  lines.release_tail();
  follow(path, std::move(current), lines, still_running);
  lines.finish();
}

}  // namespace roost::cli
