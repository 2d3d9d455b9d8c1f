#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roost::cgroups {

// systemd's "infinity" for the uint64 limit properties (MemoryMax, TasksMax, ...).
inline constexpr uint64_t kUnlimited = UINT64_MAX;

// The limit keys, spelled as the run options without dashes and as config.toml keys.
inline constexpr std::string_view kLimitKeys[] = {"memory",     "memory-swap", "memory-reservation",
                                                  "cpus",       "cpu-weight",  "cpu-shares",
                                                  "pids-limit", "io-weight"};

bool is_limit_key(std::string_view key);

// One limit as the user wrote it, and where: on the command line (source empty) or in a
// configuration file (source is FILE:LINE:COLUMN), so that a message points at the right
// place.
struct LimitText {
  std::string value;
  std::string source;
};

// Limits as text, keyed by kLimitKeys, before any checking.
struct LimitRequest {
  std::map<std::string, LimitText, std::less<>> values;

  // Throws UsageError for a key that is not in kLimitKeys.
  void set(std::string_view key, std::string value, std::string source = "");
  bool empty() const { return values.empty(); }
};

// "memory_swap" for "memory-swap": how config.toml's [limits] table spells a limit key.
std::string config_key(std::string_view limit_key);

// One entry of config.toml's [limits] table: the key as the file spells it, the value as
// text, and where it stands (FILE:LINE:COLUMN) for messages.
struct ConfigLimit {
  std::string key;
  std::string value;
  std::string location;
};

// The [limits] entries of one file as a request whose messages name each entry's
// location. Throws UsageError, naming the location, for a key that is not a limit.
LimitRequest config_limits(const std::vector<ConfigLimit>& entries);

// The command line over the configured defaults. --memory also drops a configured
// memory-swap (it was meant for the configured memory), and --cpu-weight and
// --cpu-shares drop each other's default, so a default never contradicts an option.
LimitRequest with_defaults(const LimitRequest& command_line, const LimitRequest& defaults);

// Checked limits in systemd's units; an empty optional is a limit not asked for.
struct Limits {
  std::optional<uint64_t> memory_max;              // bytes
  std::optional<uint64_t> memory_swap_max;         // bytes of swap alone, or kUnlimited
  std::optional<uint64_t> memory_low;              // bytes
  std::optional<uint64_t> cpu_quota_per_sec_usec;  // 0.5 CPUs is 500000
  std::optional<uint64_t> cpu_weight;              // 1..10000
  std::optional<uint64_t> tasks_max;               // processes and threads, or kUnlimited
  std::optional<uint64_t> io_weight;               // 1..10000
  // memory_swap_max was not asked for but follows docker's rule for --memory alone
  // (as much swap as memory), so a host without swap accounting skips it quietly.
  bool swap_from_memory_alone = false;

  bool empty() const;
  bool operator==(const Limits&) const = default;
};

// Checks docker-style values (64m, 0.5, -1) and converts them. Every bad value is a
// UsageError naming the option (or the config key and file), the value and the form
// that is accepted.
Limits parse_limits(const LimitRequest& request);

// "64 MiB", "1.5 GiB", "512 B": a byte count for people.
std::string format_size(uint64_t bytes);

}  // namespace roost::cgroups
