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

std::string_view stream_name(Stream stream) {
  return stream == Stream::Stdout ? "stdout" : "stderr";
}

std::filesystem::path rotated_path(const std::filesystem::path& path, int number = 1) {
  auto rotated = path;
  rotated += "." + std::to_string(number);
  return rotated;
}

std::filesystem::path index_path(const std::filesystem::path& path) {
  auto index = path;
  index += ".index";
  return index;
}

struct IndexEntry {
  ino_t inode = 0;
  uint64_t first_line = 0;
};

// FILE.index, oldest file first; empty when there is none (a log of an older roost).
std::vector<IndexEntry> read_index(const std::filesystem::path& path) {
  std::vector<IndexEntry> entries;
  std::ifstream index(index_path(path));
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

UniqueFd open_for_append(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) throw_errno(fmt::format("open log {}", path.string()));
  return fd;
}

std::optional<LogRecord> parse_record(std::string_view line) {
  auto first = line.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = line.find(' ', first + 1);
  if (second == std::string_view::npos || second + 2 > line.size()) return std::nullopt;
  auto time = parse_rfc3339(line.substr(0, first));
  auto stream = line.substr(first + 1, second - first - 1);
  if (!time || (stream != "stdout" && stream != "stderr")) return std::nullopt;
  LogRecord record;
  record.time = *time;
  record.stream = stream == "stdout" ? Stream::Stdout : Stream::Stderr;
  record.partial = line[second + 1] == 'P';
  record.text = second + 3 <= line.size() ? line.substr(second + 3) : std::string_view();
  return record;
}

// Lines the file holds as whole-line (F) records: a line split into pieces counts once.
uint64_t count_lines(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  uint64_t lines = 0;
  for (std::string line; std::getline(file, line);)
    if (auto record = parse_record(line); record && !record->partial) ++lines;
  return lines;
}

// Returns whether the record closed a line.
bool add_record_line(LineAssembler& lines, std::string_view raw) {
  auto record = parse_record(raw);
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
    LogFileReader reader = open_log(number == 0 ? path : rotated_path(path, number));
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

LogWriter::LogWriter(std::filesystem::path path, uint64_t max_size)
    : path_(std::move(path)), max_size_(max_size == 0 ? kDefaultLogMaxSize : max_size) {
  fd_ = open_for_append(path_);
  struct stat st;
  if (::fstat(fd_.get(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  // Records are numbered from the start of the file found here.
  if (size_ > 0) lines_ = count_lines(path_);
  begin_file(0);
}

// Lists the file just opened in the index, after the ones still kept.
void LogWriter::begin_file(uint64_t first_line) {
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return;
  generations_.push_back({st.st_ino, first_line});
  if (generations_.size() > static_cast<size_t>(kKeptRotations) + 1)
    generations_.erase(generations_.begin());
  std::string text;
  for (const auto& generation : generations_)
    text += fmt::format("{} {}\n", generation.inode, generation.first_line);
  try {
    fs::write_file_atomic(index_path(path_), text, 0600, fs::Durability::RenameOnly);
  } catch (const Error& error) {
    if (!warned_)
      spdlog::warn("log index: {}; a slow 'logs -f' may lose lines unsaid", error.what());
    warned_ = true;
  }
}

// One write for the records of `data` (a container printing short lines would otherwise
// cost a system call per line), split only where the file must be rotated.
void LogWriter::write(Stream stream, std::string_view data) {
  auto prefix = format_timestamp(now_nanos()) + " " + std::string(stream_name(stream)) + " ";
  std::string records;
  std::string record;
  uint64_t whole_lines = 0;
  auto flush = [&] {
    if (!records.empty() && append(records)) lines_ += whole_lines;
    records.clear();
    whole_lines = 0;
  };
  while (!data.empty()) {
    auto newline = data.find('\n');
    bool whole = newline != std::string_view::npos;
    record.assign(prefix).append(whole ? "F " : "P ");
    record.append(data.substr(0, whole ? newline : data.size())).push_back('\n');
    data.remove_prefix(whole ? newline + 1 : data.size());
    if (size_ + records.size() + record.size() > max_size_) flush();
    records += record;
    whole_lines += whole ? 1 : 0;
  }
  flush();
}

bool LogWriter::append(const std::string& record) {
  if (size_ > 0 && size_ + record.size() > max_size_) rotate();
  if (!write_fully(fd_.get(), record)) {
    if (!warned_)
      spdlog::warn("write log {}: {}, dropping output", path_.string(), strerror(errno));
    warned_ = true;
    return false;
  }
  size_ += record.size();
  return true;
}

void LogWriter::rotate() {
  try {
    for (int number = kKeptRotations; number > 1; --number) {
      auto older = rotated_path(path_, number - 1);
      if (::rename(older.c_str(), rotated_path(path_, number).c_str()) < 0 && errno != ENOENT)
        throw_errno(
            fmt::format("rename {} to {}", older.string(), rotated_path(path_, number).string()));
    }
    if (::rename(path_.c_str(), rotated_path(path_).c_str()) < 0)
      throw_errno(fmt::format("rename {} to {}", path_.string(), rotated_path(path_).string()));
    fd_ = open_for_append(path_);
    size_ = 0;
    begin_file(lines_);
  } catch (const Error& error) {
    if (!warned_) spdlog::warn("rotate log: {}; the log keeps growing", error.what());
    warned_ = true;
  }
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
    LogFileReader reader = open_log(rotated_path(path, number));
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
