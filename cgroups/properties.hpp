#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cgroups/limits.hpp"

namespace roost::cgroups {

// How one limit reaches the kernel: the option that asks for it, the systemd unit
// property that carries it (with its D-Bus signature), the controller systemd must
// have delegated for it, and the cgroup file systemd writes.
struct LimitProperty {
  std::optional<uint64_t> Limits::*field;
  std::string_view options;      // "--memory", for messages
  std::string_view property;     // "MemoryMax"
  std::string_view signature;    // "t"
  std::string_view controller;   // "memory"
  std::string_view cgroup_file;  // "memory.max"
};

const std::vector<LimitProperty>& limit_properties();

// The text systemd writes to row.cgroup_file for this value: "max" for kUnlimited,
// "50000 100000" in cpu.max for 500000 us per second (systemd's 100 ms period),
// "default 100" in io.weight.
std::string cgroup_file_value(const LimitProperty& row, uint64_t value);

// A value for StartTransientUnit's a(sv): its D-Bus type is one of t, b, s or au.
using PropertyValue = std::variant<uint64_t, bool, std::string, std::vector<uint32_t>>;

struct Property {
  std::string name;
  std::string signature;
  PropertyValue value;
  bool operator==(const Property&) const = default;
};

// The D-Bus signature that holds a value of this kind.
std::string_view signature_of(const PropertyValue& value);

// The properties for the limits asked for, in the order of limit_properties().
std::vector<Property> limit_property_values(const Limits& limits);

// What a transient scope for a container is asked to be.
struct ScopeRequest {
  std::string name;                 // container name or id: the unit is roost-NAME.scope
  pid_t pid = 0;                    // the container's first process, not yet released
  std::string slice = "app.slice";  // or --cgroup-parent
  Limits limits;                    // as returned by applicable_limits()
  std::string bus_address;          // HostSupport::bus_address
};

// "roost-NAME.scope"; a name systemd would not accept is a UsageError.
std::string scope_unit_name(std::string_view name);

// Every property StartTransientUnit gets: description, slice, the process, delegation,
// collection, then the limits. A slice name not ending in ".slice" is a UsageError.
std::vector<Property> scope_properties(const ScopeRequest& request);

}  // namespace roost::cgroups
