#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rootless {

// One line of /etc/subuid or /etc/subgid.
struct SubordinateRange {
  uint64_t start = 0;
  uint64_t count = 0;
};

// The calling user's ranges in `file` (lines naming the user or its uid), in file order.
std::vector<SubordinateRange> subordinate_ranges(const std::string& file);

// One line of /proc/PID/uid_map or gid_map.
struct MapLine {
  uint64_t inside = 0;
  uint64_t outside = 0;
  uint64_t count = 0;
  bool operator==(const MapLine&) const = default;
};

std::vector<MapLine> parse_map(const std::string& text);

// Problems with a map as the kernel and newuidmap see them (a zero count, overlaps
// inside or outside, an extent past 2^32); empty when the map is valid.
std::string map_problems(const std::vector<MapLine>& map);

// How many ids of `range` the map gives out.
uint64_t ids_used_from(const std::vector<MapLine>& map, const SubordinateRange& range);

}  // namespace rootless
