#include "cgroups/properties.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.hpp"

namespace roost::cgroups {

namespace {

// systemd's unit names allow these characters, and a name part like docker's too.
bool valid_unit_name_part(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-' && c != ':') return false;
  return true;
}

// systemd rejects unit names longer than this.
constexpr size_t kUnitNameMax = 255;

}  // namespace

const std::vector<LimitProperty>& limit_properties() {
  static const std::vector<LimitProperty> kTable = {
      {&Limits::memory_max, "--memory", "MemoryMax", "t", "memory", "memory.max"},
      {&Limits::memory_swap_max, "--memory-swap", "MemorySwapMax", "t", "memory",
       "memory.swap.max"},
      {&Limits::memory_low, "--memory-reservation", "MemoryLow", "t", "memory", "memory.low"},
      {&Limits::cpu_quota_per_sec_usec, "--cpus", "CPUQuotaPerSecUSec", "t", "cpu", "cpu.max"},
      {&Limits::cpu_weight, "--cpu-weight/--cpu-shares", "CPUWeight", "t", "cpu", "cpu.weight"},
      {&Limits::tasks_max, "--pids-limit", "TasksMax", "t", "pids", "pids.max"},
      {&Limits::io_weight, "--io-weight", "IOWeight", "t", "io", "io.weight"},
  };
  return kTable;
}

std::string cgroup_file_value(const LimitProperty& row, uint64_t value) {
  constexpr uint64_t kPeriodUsec = 100000;
  constexpr uint64_t kSmallestQuotaUsec = 1000;  // the kernel's floor, which systemd keeps to
  if (value == kUnlimited) return "max";
  if (row.cgroup_file == "cpu.max")
    return fmt::format("{} {}", std::max(value * kPeriodUsec / 1000000, kSmallestQuotaUsec),
                       kPeriodUsec);
  if (row.cgroup_file == "io.weight") return fmt::format("default {}", value);
  return std::to_string(value);
}

std::string_view signature_of(const PropertyValue& value) {
  static constexpr std::string_view kSignatures[] = {"t", "b", "s", "au"};
  return kSignatures[value.index()];
}

std::vector<Property> limit_property_values(const Limits& limits) {
  std::vector<Property> properties;
  for (const auto& row : limit_properties())
    if (auto value = limits.*row.field)
      properties.push_back({std::string(row.property), std::string(row.signature), *value});
  return properties;
}

std::string scope_unit_name(std::string_view name) {
  std::string unit = fmt::format("roost-{}.scope", name);
  if (!valid_unit_name_part(name) || unit.size() > kUnitNameMax)
    throw UsageError(
        fmt::format("container name \"{}\" cannot name a systemd scope: use up to "
                    "{} letters, digits and the characters _ . - :",
                    name, kUnitNameMax - (unit.size() - name.size())));
  return unit;
}

std::vector<Property> scope_properties(const ScopeRequest& request) {
  std::string_view slice = request.slice;
  if (!slice.ends_with(".slice") || !valid_unit_name_part(slice))
    throw UsageError(
        fmt::format("--cgroup-parent {}: not a systemd slice; use a slice unit name "
                    "such as app.slice or roost.slice",
                    request.slice));
  std::vector<Property> properties = {
      {"Description", "s", "roost container " + request.name},
      {"Slice", "s", request.slice},
      {"PIDs", "au", std::vector<uint32_t>{static_cast<uint32_t>(request.pid)}},
      {"Delegate", "b", true},
      // A failed scope would otherwise stay loaded and block the next one of its name.
      {"CollectMode", "s", "inactive-or-failed"},
  };
  auto limits = limit_property_values(request.limits);
  properties.insert(properties.end(), limits.begin(), limits.end());
  return properties;
}

}  // namespace roost::cgroups
