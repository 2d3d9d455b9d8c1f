#include "launcher/log_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/stderr_log.hpp"

namespace roost::cli {

namespace {

std::string_view stream_name(Stream stream) {
  return stream == Stream::Stdout ? "stdout" : "stderr";
}

UniqueFd open_for_append(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open log " + path);
  return fd;
}

struct FileCounts {
  uint64_t lines = 0;  // whole-line (F) records: a line split into pieces counts once
  uint64_t records = 0;
  std::array<bool, 2> open = {};  // by Stream: its last record is a piece
};

FileCounts count_records(const std::string& path) {
  FileCounts counts;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return counts;
  std::string buffer;
  char chunk[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buffer.append(chunk, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t end; (end = buffer.find('\n', start)) != std::string::npos; start = end + 1) {
      auto record = parse_log_record(std::string_view(buffer).substr(start, end - start));
      if (!record) continue;
      ++counts.records;
      if (!record->partial) ++counts.lines;
      counts.open[static_cast<int>(record->stream)] = record->partial;
    }
    buffer.erase(0, start);
  }
  return counts;
}

std::string continued_streams(const std::array<bool, 2>& continued) {
  std::string text;
  for (Stream stream : {Stream::Stdout, Stream::Stderr})
    if (continued[static_cast<int>(stream)])
      text += (text.empty() ? "" : ",") + std::string(stream_name(stream));
  return text.empty() ? "-" : text;
}

std::optional<std::array<bool, 2>> parse_continued_streams(std::string_view text) {
  std::array<bool, 2> continued = {};
  if (text == "-") return continued;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto name = text.substr(0, comma);
    if (name != "stdout" && name != "stderr") return std::nullopt;
    continued[name == "stdout" ? 0 : 1] = true;
    text.remove_prefix(comma == std::string_view::npos ? text.size() : comma + 1);
  }
  return continued;
}

template <typename Number>
bool parse_number(std::string_view text, Number& value) {
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  while (!line.empty()) {
    auto space = line.find(' ');
    if (space != 0) fields.push_back(line.substr(0, space));
    line.remove_prefix(space == std::string_view::npos ? line.size() : space + 1);
  }
  return fields;
}

}  // namespace

std::string rotated_log_path(std::string_view path, int number) {
  return std::string(path) + "." + std::to_string(number);
}

std::string log_index_path(std::string_view path) {
  return std::string(path) + ".index";
}

std::optional<LogRecord> parse_log_record(std::string_view line) {
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

std::string format_log_index_entry(const LogIndexEntry& entry) {
  return std::to_string(entry.inode) + " " + std::to_string(entry.first_line) + " " +
         std::to_string(entry.first_record.value_or(0)) + " " + continued_streams(entry.continued);
}

std::optional<LogIndexEntry> parse_log_index_entry(std::string_view line) {
  auto fields = split_fields(line);
  LogIndexEntry entry;
  if ((fields.size() != 2 && fields.size() != 4) || !parse_number(fields[0], entry.inode) ||
      !parse_number(fields[1], entry.first_line))
    return std::nullopt;
  if (fields.size() == 2) return entry;
  uint64_t first_record = 0;
  auto continued = parse_continued_streams(fields[3]);
  if (!parse_number(fields[2], first_record) || !continued) return std::nullopt;
  entry.first_record = first_record;
  entry.continued = *continued;
  return entry;
}

LogWriter::LogWriter(std::string path, uint64_t max_size)
    : path_(std::move(path)), max_size_(max_size == 0 ? kDefaultLogMaxSize : max_size) {
  fd_ = open_for_append(path_);
  struct stat st;
  if (::fstat(fd_.get(), &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  // Lines and records are numbered from the start of the file found here.
  if (size_ > 0) {
    auto counts = count_records(path_);
    lines_ = counts.lines;
    records_ = counts.records;
    open_ = counts.open;
  }
  begin_file({0, 0, 0, {}});
}

void LogWriter::warn_once(const std::string& message) {
  if (!warned_) stderr_log::warning(message);
  warned_ = true;
}

// Lists the file just opened in the index, after the ones still kept.
void LogWriter::begin_file(LogIndexEntry entry) {
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return;
  entry.inode = st.st_ino;
  generations_.push_back(entry);
  if (generations_.size() > static_cast<size_t>(kKeptRotations) + 1)
    generations_.erase(generations_.begin());
  std::string text;
  for (const auto& generation : generations_) text += format_log_index_entry(generation) + "\n";
  try {
    fs::write_file_atomic(log_index_path(path_), text, 0600, fs::Durability::RenameOnly);
  } catch (const Error& error) {
    warn_once("log index: " + std::string(error.what()) +
              "; a slow 'logs -f' may lose lines unsaid");
  }
}

// One write for the records of `data` (a container printing short lines would otherwise
// cost a system call per line), split only where the file must be rotated.
void LogWriter::write(Stream stream, std::string_view data) {
  auto prefix = format_timestamp(now_nanos()) + " " + std::string(stream_name(stream)) + " ";
  std::string records;
  std::string record;
  uint64_t whole_lines = 0;
  uint64_t count = 0;
  bool ends_open = false;
  auto flush = [&] {
    if (!records.empty() && append(records)) {
      lines_ += whole_lines;
      records_ += count;
      open_[static_cast<int>(stream)] = ends_open;
    }
    records.clear();
    whole_lines = count = 0;
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
    ++count;
    ends_open = !whole;
  }
  flush();
}

bool LogWriter::append(const std::string& record) {
  if (size_ > 0 && size_ + record.size() > max_size_) rotate();
  if (!write_fully(fd_.get(), record)) {
    int error = errno;
    warn_once("write log " + path_ + ": " + std::strerror(error) + ", dropping output");
    return false;
  }
  size_ += record.size();
  return true;
}

void LogWriter::rotate() {
  try {
    for (int number = kKeptRotations; number > 1; --number) {
      auto older = rotated_log_path(path_, number - 1);
      auto newer = rotated_log_path(path_, number);
      if (::rename(older.c_str(), newer.c_str()) < 0 && errno != ENOENT)
        throw_errno("rename " + older + " to " + newer);
    }
    auto rotated = rotated_log_path(path_);
    if (::rename(path_.c_str(), rotated.c_str()) < 0)
      throw_errno("rename " + path_ + " to " + rotated);
    fd_ = open_for_append(path_);
    size_ = 0;
    begin_file({0, lines_, records_, open_});
  } catch (const Error& error) {
    warn_once("rotate log: " + std::string(error.what()) + "; the log keeps growing");
  }
}

}  // namespace roost::cli
