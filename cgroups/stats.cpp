#include "cgroups/stats.hpp"

#include <sys/inotify.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <map>
#include <sstream>

#include "cgroups/files.hpp"
#include "cgroups/limits.hpp"
#include "common/error.hpp"

namespace roost::cgroups {

namespace {

namespace stdfs = std::filesystem;

uint64_t parse_number(const stdfs::path& file, std::string_view text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size())
    throw Error(fmt::format("read {}: \"{}\" is not a number", file.string(), text));
  return value;
}

// A one-value file: a number, or "max" for no limit.
std::optional<uint64_t> read_value(const stdfs::path& file) {
  auto content = files::read_if_present(file);
  if (!content) return std::nullopt;
  auto words = files::words(*content);
  if (words.size() != 1)
    throw Error(fmt::format("read {}: expected one value, found \"{}\"", file.string(), *content));
  if (words.front() == "max") return kUnlimited;
  return parse_number(file, words.front());
}

// A flat keyed file: "key value" lines (cpu.stat, memory.events).
std::optional<std::map<std::string, uint64_t>> read_keyed(const stdfs::path& file) {
  auto content = files::read_if_present(file);
  if (!content) return std::nullopt;
  std::map<std::string, uint64_t> values;
  std::istringstream lines(*content);
  for (std::string line; std::getline(lines, line);) {
    auto words = files::words(line);
    if (words.empty()) continue;
    if (words.size() != 2)
      throw Error(fmt::format("read {}: malformed line \"{}\"", file.string(), line));
    values[words[0]] = parse_number(file, words[1]);
  }
  return values;
}

std::optional<uint64_t> lookup(const std::optional<std::map<std::string, uint64_t>>& values,
                               const std::string& key) {
  if (!values) return std::nullopt;
  auto it = values->find(key);
  return it == values->end() ? std::nullopt : std::optional(it->second);
}

// io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device.
void add_io(const stdfs::path& file, Stats& stats) {
  auto content = files::read_if_present(file);
  if (!content) return;
  const std::map<std::string_view, uint64_t Stats::*> kFields = {{"rbytes", &Stats::io_read_bytes},
                                                                 {"wbytes", &Stats::io_write_bytes},
                                                                 {"rios", &Stats::io_reads},
                                                                 {"wios", &Stats::io_writes}};
  for (const auto& word : files::words(*content)) {
    auto equals = word.find('=');
    if (equals == std::string::npos) continue;  // the device number
    auto field = kFields.find(std::string_view(word).substr(0, equals));
    if (field != kFields.end())
      stats.*(field->second) += parse_number(file, word.substr(equals + 1));
  }
}

}  // namespace

Stats read_stats(const stdfs::path& cgroup) {
  Stats stats;
  stats.memory_current = read_value(cgroup / "memory.current");
  stats.memory_max = read_value(cgroup / "memory.max");
  stats.memory_swap_current = read_value(cgroup / "memory.swap.current");
  auto cpu = read_keyed(cgroup / "cpu.stat");
  stats.cpu_usage_usec = lookup(cpu, "usage_usec");
  stats.cpu_user_usec = lookup(cpu, "user_usec");
  stats.cpu_system_usec = lookup(cpu, "system_usec");
  stats.cpu_throttled_usec = lookup(cpu, "throttled_usec");
  stats.pids_current = read_value(cgroup / "pids.current");
  stats.pids_max = read_value(cgroup / "pids.max");
  add_io(cgroup / "io.stat", stats);
  return stats;
}

std::optional<MemoryEvents> read_memory_events(const stdfs::path& cgroup) {
  auto values = read_keyed(cgroup / "memory.events");
  if (!values) return std::nullopt;
  MemoryEvents events;
  events.low = lookup(values, "low").value_or(0);
  events.high = lookup(values, "high").value_or(0);
  events.max = lookup(values, "max").value_or(0);
  events.oom = lookup(values, "oom").value_or(0);
  events.oom_kill = lookup(values, "oom_kill").value_or(0);
  return events;
}

uint64_t oom_kill_count(const stdfs::path& cgroup) {
  auto events = read_memory_events(cgroup);
  return events ? events->oom_kill : 0;
}

bool oom_killed(const stdfs::path& cgroup) {
  return oom_kill_count(cgroup) > 0;
}

std::string out_of_memory_message(std::optional<uint64_t> memory_max) {
  if (!memory_max || *memory_max == kUnlimited) return "container ran out of memory";
  return fmt::format("container ran out of memory (limit {})", format_size(*memory_max));
}

}  // namespace roost::cgroups
