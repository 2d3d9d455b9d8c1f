#include "cgroups/limits.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/error.hpp"

namespace roost::cgroups {

namespace {

constexpr std::string_view kSizeForm =
    "a number of bytes with an optional unit b, k, m, g or t (also kb, mb, gb, tb; any case), "
    "such as 64m or 1.5g";
constexpr std::string_view kWeightForm = "a whole number from 1 to 10000 (100 is the default)";

// "--memory 12q" on the command line, "FILE:3:10: memory = "12q"" from a configuration
// file.
std::string quoted(std::string_view key, const LimitText& text) {
  if (text.source.empty()) return fmt::format("--{} {}", key, text.value);
  return fmt::format("{}: {} = \"{}\"", text.source, config_key(key), text.value);
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// docker's units are binary: k is 1024; "ki", "kb" and "kib" mean the same.
std::optional<uint64_t> unit_multiplier(std::string_view unit_text) {
  std::string unit = lowercase(unit_text);
  if (unit.empty() || unit == "b") return 1;
  auto position = std::string_view("kmgt").find(unit.front());
  std::string_view rest = std::string_view(unit).substr(1);
  if (position == std::string_view::npos) return std::nullopt;
  if (!rest.empty() && rest != "b" && rest != "i" && rest != "ib") return std::nullopt;
  return uint64_t{1} << (10 * (position + 1));
}

std::optional<double> parse_decimal(std::string_view text) {
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    return std::nullopt;
  return value;
}

std::optional<uint64_t> parse_size(std::string_view text) {
  auto unit_start = std::min(text.find_first_not_of("0123456789."), text.size());
  std::string_view number = text.substr(0, unit_start);
  if (number.empty() || number.front() == '.' || number.back() == '.' ||
      std::count(number.begin(), number.end(), '.') > 1)
    return std::nullopt;
  auto multiplier = unit_multiplier(text.substr(unit_start));
  auto value = parse_decimal(number);
  if (!multiplier || !value) return std::nullopt;
  double bytes = *value * static_cast<double>(*multiplier);
  if (bytes >= 0x1p63) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

std::optional<int64_t> parse_integer(std::string_view text) {
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

class LimitParser {
 public:
  explicit LimitParser(const LimitRequest& request) : request_(request) {}

  Limits run() {
    check_cpu_weight_given_once();
    limits_.memory_max = memory();
    parse_swap();
    limits_.memory_low = memory_reservation();
    limits_.cpu_quota_per_sec_usec = cpus();
    limits_.cpu_weight = cpu_weight();
    limits_.tasks_max = pids_limit();
    limits_.io_weight = weight("io-weight");
    return limits_;
  }

 private:
  const LimitText* find(std::string_view key) const {
    auto it = request_.values.find(key);
    return it == request_.values.end() ? nullptr : &it->second;
  }

  void check_cpu_weight_given_once() const {
    const LimitText* weight = find("cpu-weight");
    const LimitText* shares = find("cpu-shares");
    if (weight && shares)
      throw UsageError(fmt::format("{} and {}: both set the CPU weight; give only one of them",
                                   quoted("cpu-weight", *weight), quoted("cpu-shares", *shares)));
  }

  std::optional<uint64_t> memory() const {
    const LimitText* text = find("memory");
    if (!text) return std::nullopt;
    auto bytes = parse_size(text->value);
    if (!bytes)
      throw UsageError(fmt::format("{}: not a size; use {}", quoted("memory", *text), kSizeForm));
    if (*bytes == 0)
      throw UsageError(
          fmt::format("{}: a memory limit of 0 leaves no memory; use {}, or leave "
                      "the option out for no limit",
                      quoted("memory", *text), kSizeForm));
    return bytes;
  }

  // docker's --memory-swap is memory plus swap; systemd's MemorySwapMax is swap alone.
  void parse_swap() {
    const LimitText* text = find("memory-swap");
    if (!text || text->value == "0") {
      limits_.memory_swap_max = limits_.memory_max;
      limits_.swap_from_memory_alone = limits_.memory_max.has_value();
      return;
    }
    if (text->value == "-1") {
      limits_.memory_swap_max = kUnlimited;
      return;
    }
    auto total = parse_size(text->value);
    if (!total)
      throw UsageError(fmt::format("{}: not a size; use {}, or -1 for unlimited swap",
                                   quoted("memory-swap", *text), kSizeForm));
    limits_.memory_swap_max = swap_beside_memory(*text, *total);
  }

  uint64_t swap_beside_memory(const LimitText& text, uint64_t total) const {
    const LimitText* memory_text = find("memory");
    if (!memory_text)
      throw UsageError(
          fmt::format("{}: memory-swap is memory plus swap, so it needs a memory "
                      "limit (--memory) as well",
                      quoted("memory-swap", text)));
    if (total < *limits_.memory_max)
      throw UsageError(
          fmt::format("{} is less than {}: memory-swap counts memory plus swap, so "
                      "use at least the memory limit, or -1 for unlimited swap",
                      quoted("memory-swap", text), quoted("memory", *memory_text)));
    return total - *limits_.memory_max;
  }

  std::optional<uint64_t> memory_reservation() const {
    const LimitText* text = find("memory-reservation");
    if (!text) return std::nullopt;
    auto bytes = parse_size(text->value);
    if (!bytes)
      throw UsageError(
          fmt::format("{}: not a size; use {}", quoted("memory-reservation", *text), kSizeForm));
    if (limits_.memory_max && *bytes > *limits_.memory_max)
      throw UsageError(
          fmt::format("{} is more than {}: the reservation must not exceed the memory "
                      "limit",
                      quoted("memory-reservation", *text), quoted("memory", *find("memory"))));
    return bytes;
  }

  // systemd, like the kernel, counts CPU time in microseconds per second of wall time.
  std::optional<uint64_t> cpus() const {
    const LimitText* text = find("cpus");
    if (!text) return std::nullopt;
    auto value = parse_decimal(text->value);
    if (!value || *value < 0.01 || *value > 1e9)
      throw UsageError(
          fmt::format("{}: not a number of CPUs; use a decimal number from 0.01 up, "
                      "such as 0.5 or 2",
                      quoted("cpus", *text)));
    return static_cast<uint64_t>(std::llround(*value * 1e6));
  }

  std::optional<uint64_t> weight(std::string_view key) const {
    const LimitText* text = find(key);
    if (!text) return std::nullopt;
    auto value = parse_integer(text->value);
    if (!value || *value < 1 || *value > 10000)
      throw UsageError(fmt::format("{}: not a weight; use {}", quoted(key, *text), kWeightForm));
    return static_cast<uint64_t>(*value);
  }

  // docker's shares (2..262144, default 1024) map onto cgroup v2 weights (1..10000) by
  // the linear rule crun and podman use, so the same option gives the same weight.
  std::optional<uint64_t> cpu_weight() const {
    if (find("cpu-weight")) return weight("cpu-weight");
    const LimitText* text = find("cpu-shares");
    if (!text) return std::nullopt;
    auto shares = parse_integer(text->value);
    if (!shares || *shares < 2 || *shares > 262144)
      throw UsageError(
          fmt::format("{}: not a CPU share; use a whole number from 2 to 262144 "
                      "(1024 is the default), or --cpu-weight from 1 to 10000",
                      quoted("cpu-shares", *text)));
    return 1 + (static_cast<uint64_t>(*shares) - 2) * 9999 / 262142;
  }

  std::optional<uint64_t> pids_limit() const {
    const LimitText* text = find("pids-limit");
    if (!text) return std::nullopt;
    auto value = parse_integer(text->value);
    if (!value || *value < -1)
      throw UsageError(
          fmt::format("{}: not a process limit; use a whole number above 0, or 0 or "
                      "-1 for no limit",
                      quoted("pids-limit", *text)));
    return *value <= 0 ? kUnlimited : static_cast<uint64_t>(*value);
  }

  const LimitRequest& request_;
  Limits limits_;
};

}  // namespace

bool is_limit_key(std::string_view key) {
  return std::find(std::begin(kLimitKeys), std::end(kLimitKeys), key) != std::end(kLimitKeys);
}

void LimitRequest::set(std::string_view key, std::string value, std::string source) {
  if (!is_limit_key(key))
    throw UsageError(
        fmt::format("{}{} is not a resource limit; the limits are memory, "
                    "memory-swap, memory-reservation, cpus, cpu-weight, cpu-shares, "
                    "pids-limit and io-weight",
                    source.empty() ? "" : source + ": ", key));
  values.insert_or_assign(std::string(key), LimitText{std::move(value), std::move(source)});
}

std::string config_key(std::string_view limit_key) {
  std::string key(limit_key);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

LimitRequest config_limits(const std::vector<ConfigLimit>& entries) {
  LimitRequest request;
  for (const auto& entry : entries) {
    auto limit = std::find_if(std::begin(kLimitKeys), std::end(kLimitKeys),
                              [&](std::string_view key) { return config_key(key) == entry.key; });
    if (limit == std::end(kLimitKeys))
      throw UsageError(
          fmt::format("{}: unknown key limits.{}; the keys of [limits] are memory, memory_swap, "
                      "memory_reservation, cpus, cpu_weight, cpu_shares, pids_limit and io_weight",
                      entry.location, entry.key));
    request.set(*limit, entry.value, entry.location);
  }
  return request;
}

LimitRequest with_defaults(const LimitRequest& command_line, const LimitRequest& defaults) {
  // An option here makes these defaults meaningless: a configured memory-swap was meant
  // for the configured memory, and the two CPU weight forms are one setting.
  static const std::multimap<std::string_view, std::string_view> kOptionDropsDefault = {
      {"memory", "memory-swap"}, {"cpu-weight", "cpu-shares"}, {"cpu-shares", "cpu-weight"}};
  LimitRequest merged = command_line;
  for (const auto& [key, text] : defaults.values) merged.values.emplace(key, text);
  for (const auto& [option, dropped] : kOptionDropsDefault)
    if (command_line.values.contains(option) && !command_line.values.contains(dropped))
      merged.values.erase(std::string(dropped));
  return merged;
}

bool Limits::empty() const {
  return !memory_max && !memory_swap_max && !memory_low && !cpu_quota_per_sec_usec && !cpu_weight &&
         !tasks_max && !io_weight;
}

Limits parse_limits(const LimitRequest& request) {
  return LimitParser(request).run();
}

std::string format_size(uint64_t bytes) {
  static constexpr std::string_view kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  size_t unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0 || value == std::floor(value)) return fmt::format("{:.0f} {}", value, kUnits[unit]);
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

}  // namespace roost::cgroups
