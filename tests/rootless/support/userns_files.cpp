#include "tests/rootless/support/userns_files.hpp"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace rootless {

namespace {

bool names_caller(const std::string& key) {
  if (key == std::to_string(::getuid())) return true;
  const passwd* entry = ::getpwuid(::getuid());
  return entry != nullptr && key == entry->pw_name;
}

// Overlaps among intervals [start, start + count).
bool overlapping(std::vector<std::pair<uint64_t, uint64_t>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  for (size_t i = 1; i < intervals.size(); ++i)
    if (intervals[i - 1].first + intervals[i - 1].second > intervals[i].first) return true;
  return false;
}

}  // namespace

std::vector<SubordinateRange> subordinate_ranges(const std::string& file) {
  std::vector<SubordinateRange> ranges;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key, start, count;
    if (!std::getline(fields, key, ':') || !std::getline(fields, start, ':') ||
        !std::getline(fields, count))
      continue;
    if (names_caller(key)) ranges.push_back({std::stoull(start), std::stoull(count)});
  }
  return ranges;
}

std::vector<MapLine> parse_map(const std::string& text) {
  std::vector<MapLine> map;
  std::istringstream lines(text);
  for (MapLine line; lines >> line.inside >> line.outside >> line.count;) map.push_back(line);
  return map;
}

std::string map_problems(const std::vector<MapLine>& map) {
  std::vector<std::pair<uint64_t, uint64_t>> inside, outside;
  std::string problems;
  for (const auto& line : map) {
    if (line.count == 0) problems += "an extent of zero ids; ";
    if (line.inside + line.count > (1ULL << 32) || line.outside + line.count > (1ULL << 32))
      problems += "an extent past 2^32; ";
    inside.emplace_back(line.inside, line.count);
    outside.emplace_back(line.outside, line.count);
  }
  if (overlapping(inside)) problems += "inside ranges overlap; ";
  if (overlapping(outside)) problems += "outside ranges overlap; ";
  if (map.empty()) problems += "no lines; ";
  return problems;
}

uint64_t ids_used_from(const std::vector<MapLine>& map, const SubordinateRange& range) {
  uint64_t used = 0;
  for (const auto& line : map) {
    uint64_t begin = std::max(line.outside, range.start);
    uint64_t end = std::min(line.outside + line.count, range.start + range.count);
    if (end > begin) used += end - begin;
  }
  return used;
}

}  // namespace rootless
