#include "launcher/logs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <deque>
#include <thread>

#include "common/error.hpp"

namespace roost::cli {

namespace {

constexpr auto kFollowInterval = std::chrono::milliseconds(100);

std::string_view stream_name(Stream stream) {
  return stream == Stream::Stdout ? "stdout" : "stderr";
}

std::filesystem::path rotated_path(const std::filesystem::path& path) {
  auto rotated = path;
  rotated += ".1";
  return rotated;
}

UniqueFd open_for_append(const std::filesystem::path& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) throw_errno(fmt::format("open log {}", path.string()));
  return fd;
}

struct Record {
  UnixNanos time = 0;
  Stream stream = Stream::Stdout;
  bool partial = false;
  std::string_view text;
};

std::optional<Record> parse_record(std::string_view line) {
  auto first = line.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  auto second = line.find(' ', first + 1);
  if (second == std::string_view::npos || second + 2 > line.size()) return std::nullopt;
  auto time = parse_rfc3339(line.substr(0, first));
  auto stream = line.substr(first + 1, second - first - 1);
  if (!time || (stream != "stdout" && stream != "stderr")) return std::nullopt;
  Record record;
  record.time = *time;
  record.stream = stream == "stdout" ? Stream::Stdout : Stream::Stderr;
  record.partial = line[second + 1] == 'P';
  record.text = second + 3 <= line.size() ? line.substr(second + 3) : std::string_view();
  return record;
}

// A line as the container wrote it, newline included when it had one.
struct Line {
  UnixNanos time = 0;
  Stream stream = Stream::Stdout;
  std::string text;
};

// Joins pieces into lines and hands on those the query wants.
class LineAssembler {
 public:
  LineAssembler(const LogQuery& query) : query_(query) {}

  void add_record_line(std::string_view raw) {
    auto record = parse_record(raw);
    if (!record) {
      spdlog::debug("skipping a malformed log record: {}", raw.substr(0, 80));
      return;
    }
    auto& pending = pending_[static_cast<int>(record->stream)];
    if (!pending) pending = Line{record->time, record->stream, {}};
    pending->text.append(record->text);
    if (record->partial) return;
    pending->text.push_back('\n');
    emit(std::move(*pending));
    pending.reset();
  }

  // The log ended: pieces without a closing newline are lines too.
  void finish() {
    for (auto& pending : pending_)
      if (pending) {
        emit(std::move(*pending));
        pending.reset();
      }
  }

  // Lines held back for --tail are printed; later ones go out as they come.
  void release_tail() {
    for (const auto& line : tail_) print(line);
    tail_.clear();
    tail_done_ = true;
  }

 private:
  void emit(Line line) {
    if (query_.since && line.time < *query_.since) return;
    if (query_.until && line.time > *query_.until) return;
    if (!query_.tail || tail_done_) {
      print(line);
      return;
    }
    tail_.push_back(std::move(line));
    if (tail_.size() > *query_.tail) tail_.pop_front();
  }

  void print(const Line& line) const {
    int fd = line.stream == Stream::Stdout ? STDOUT_FILENO : STDERR_FILENO;
    std::string text =
        query_.timestamps ? format_timestamp(line.time) + " " + line.text : line.text;
    write_fully(fd, text);
  }

  const LogQuery& query_;
  std::array<std::optional<Line>, 2> pending_;
  std::deque<Line> tail_;
  bool tail_done_ = false;
};

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
        lines.add_record_line(std::string_view(buffer_).substr(start, end - start));
      buffer_.erase(0, start);
    }
    return any;
  }

 private:
  UniqueFd fd_;
  std::string buffer_;
};

LogFileReader open_log(const std::filesystem::path& path) {
  return LogFileReader(UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)));
}

ino_t inode_of(const std::filesystem::path& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Follows the log until the container has ended, across rotations.
void follow(const std::filesystem::path& path, LogFileReader current, LineAssembler& lines,
            const std::function<bool()>& still_running) {
  for (;;) {
    bool running = still_running();
    bool grew = current.open() && current.read_into(lines);
    ino_t now_at_path = inode_of(path);
    if (now_at_path != 0 && (!current.open() || now_at_path != current.inode())) {
      if (current.open()) current.read_into(lines);
      current = open_log(path);
      continue;
    }
    if (!running && !grew) return;
    if (!grew) std::this_thread::sleep_for(kFollowInterval);
  }
}

}  // namespace

LogWriter::LogWriter(std::filesystem::path path, uint64_t max_size)
    : path_(std::move(path)), max_size_(max_size == 0 ? kDefaultLogMaxSize : max_size) {
  fd_ = open_for_append(path_);
  struct stat st;
  if (::fstat(fd_.get(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
}

void LogWriter::write(Stream stream, std::string_view data) {
  auto stamp = format_timestamp(now_nanos());
  while (!data.empty()) {
    auto newline = data.find('\n');
    bool whole = newline != std::string_view::npos;
    auto text = data.substr(0, whole ? newline : data.size());
    append(fmt::format("{} {} {} {}\n", stamp, stream_name(stream), whole ? 'F' : 'P', text));
    data.remove_prefix(whole ? newline + 1 : data.size());
  }
}

void LogWriter::append(const std::string& record) {
  if (size_ > 0 && size_ + record.size() > max_size_) rotate();
  if (!write_fully(fd_.get(), record)) {
    if (!warned_)
      spdlog::warn("write log {}: {}, dropping output", path_.string(), strerror(errno));
    warned_ = true;
    return;
  }
  size_ += record.size();
}

void LogWriter::rotate() {
  try {
    if (::rename(path_.c_str(), rotated_path(path_).c_str()) < 0)
      throw_errno(fmt::format("rename {} to {}", path_.string(), rotated_path(path_).string()));
    fd_ = open_for_append(path_);
    size_ = 0;
  } catch (const Error& error) {
    if (!warned_) spdlog::warn("rotate log: {}; the log keeps growing", error.what());
    warned_ = true;
  }
}

void print_log(const std::filesystem::path& path, const LogQuery& query,
               const std::function<bool()>& still_running) {
  LineAssembler lines(query);
  // The current file first: if it is rotated meanwhile, the older one still holds all
  // that was in it when we opened both.
  LogFileReader current = open_log(path);
  LogFileReader older = open_log(rotated_path(path));
  if (older.open() && !(current.open() && older.inode() == current.inode())) older.read_into(lines);
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
