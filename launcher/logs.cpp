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

struct IndexEntry {
  ino_t inode = 0;
  uint64_t first_line = 0;
};

// FILE.index, oldest file first; empty when there is none (a log of an older roost).
std::vector<IndexEntry> read_index(const std::filesystem::path& path) {
  std::vector<IndexEntry> entries;
  std::ifstream index(log_index_path(path.string()));
  IndexEntry entry;
  while (index >> entry.inode >> entry.first_line) entries.push_back(entry);
  return entries;
}

// The number of a file's first record when the index does not list it.
constexpr uint64_t kUnnumbered = UINT64_MAX;

uint64_t first_line_of(const std::filesystem::path& path, ino_t inode) {
  for (const auto& entry : read_index(path))
    if (entry.inode == inode) return entry.first_line;
  return kUnnumbered;
}

// Returns whether the record closed a line.
bool add_record_line(LineAssembler& lines, std::string_view raw) {
  auto record = parse_log_record(raw);
  if (!record) {
    spdlog::debug("skipping a malformed log record: {}", raw.substr(0, 80));
    return false;
  }
  return lines.add(*record);
}

// Reads one log file from where it was left, record line by record line; a record
// still being written (no newline yet) waits for the next read.
class LogFileReader {
 public:
  explicit LogFileReader(UniqueFd fd) : fd_(std::move(fd)) {}

  bool open() const { return static_cast<bool>(fd_); }
  ino_t inode() const {
    struct stat st;
    return ::fstat(fd_.get(), &st) == 0 ? st.st_ino : 0;
  }

  // Whole lines read so far.
  uint64_t lines() const { return lines_; }

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
      for (size_t end; (end = buffer_.find('\n', start)) != std::string::npos; start = end + 1) {
        if (add_record_line(lines, std::string_view(buffer_).substr(start, end - start))) ++lines_;
      }
      buffer_.erase(0, start);
    }
    return any;
  }

 private:
  UniqueFd fd_;
  std::string buffer_;
  uint64_t lines_ = 0;
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

void report_lost(uint64_t expected_first, uint64_t next_first) {
  if (next_first <= expected_first) return;
  std::fprintf(stderr,
               "roost: %llu log lines were lost: the log rotated more than %d times while this "
               "reader was behind\n",
               static_cast<unsigned long long>(next_first - expected_first), kKeptRotations);
}

// Moves the follower from the file it has read to its end to the next one the writer
// began, by FILE.index; false while the index does not list that one yet. Without an
// index (or before the first file), the file now at the path is next.
bool move_to_next_file(const std::filesystem::path& path, LogFileReader& current,
                       uint64_t& first_line) {
  if (!current.open() || first_line == kUnnumbered) {
    current = open_log(path);
    first_line = current.open() ? first_line_of(path, current.inode()) : kUnnumbered;
    return true;
  }
  auto index = read_index(path);
  size_t next = 0;  // the oldest kept file when ours was dropped already
  for (size_t i = 0; i < index.size(); ++i)
    if (index[i].inode == current.inode()) next = i + 1;
  if (next >= index.size()) return false;
  LogFileReader reader = open_by_inode(path, index[next].inode);
  if (!reader.open()) return false;
  report_lost(first_line + current.lines(), index[next].first_line);
  current = std::move(reader);
  first_line = index[next].first_line;
  return true;
}

// Follows the log until the container has ended, across rotations.
void follow(const std::filesystem::path& path, LogFileReader current, LineAssembler& lines,
            const std::function<bool()>& still_running) {
  uint64_t first_line = current.open() ? first_line_of(path, current.inode()) : kUnnumbered;
  for (;;) {
    bool running = still_running();
    bool grew = current.open() && current.read_into(lines);
    ino_t now_at_path = inode_of(path);
    if (now_at_path != 0 && (!current.open() || now_at_path != current.inode())) {
      if (current.open()) current.read_into(lines);
      if (move_to_next_file(path, current, first_line)) continue;
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
