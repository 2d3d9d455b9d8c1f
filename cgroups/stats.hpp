#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "cgroups/oom_watch.hpp"
#include "common/fd.hpp"

namespace roost::cgroups {

// A cgroup's usage as its files report it. An empty optional is a file the cgroup does
// not have (its controller is not enabled there); a limit of "max" is kUnlimited.
struct Stats {
  std::optional<uint64_t> memory_current;  // bytes
  std::optional<uint64_t> memory_max;
  std::optional<uint64_t> memory_swap_current;
  std::optional<uint64_t> cpu_usage_usec;
  std::optional<uint64_t> cpu_user_usec;
  std::optional<uint64_t> cpu_system_usec;
  std::optional<uint64_t> cpu_throttled_usec;
  std::optional<uint64_t> pids_current;
  std::optional<uint64_t> pids_max;
  // io.stat summed over devices; zero when nothing was read or written.
  uint64_t io_read_bytes = 0;
  uint64_t io_write_bytes = 0;
  uint64_t io_reads = 0;
  uint64_t io_writes = 0;
};

// Reads the files of the cgroup directory `cgroup` (the scope's, for a container:
// Scope::cgroup). A malformed value is an Error naming the file.
Stats read_stats(const std::filesystem::path& cgroup);

// memory.events: each counter covers the cgroup and everything below it.
struct MemoryEvents {
  uint64_t low = 0;
  uint64_t high = 0;
  uint64_t max = 0;
  uint64_t oom = 0;
  uint64_t oom_kill = 0;
};

// Nothing when the cgroup has no memory.events (memory not enabled, or gone).
std::optional<MemoryEvents> read_memory_events(const std::filesystem::path& cgroup);

uint64_t oom_kill_count(const std::filesystem::path& cgroup);
bool oom_killed(const std::filesystem::path& cgroup);

// "container ran out of memory (limit 64 MiB)"; the limit is memory.max, left out when
// there is none.
std::string out_of_memory_message(std::optional<uint64_t> memory_max);

}  // namespace roost::cgroups
