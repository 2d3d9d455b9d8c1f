#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "userns/subid.hpp"

namespace roost::userns {

struct IdMapEntry {
  uint32_t inside = 0;
  uint32_t outside = 0;
  uint32_t count = 0;
};
using IdMap = std::vector<IdMapEntry>;

enum class MapMode {
  Full,    // inside 0 is the caller, 1..N the subordinate ranges in turn
  Single,  // inside 0 is the caller, nothing else
  KeepId,  // the caller keeps its own id inside; 0.. and above come from the ranges
  Host,    // caller is root: the whole id space maps onto itself
};

// Plans one map (uid or gid) for `caller` with the given subordinate ranges. The
// caller's own id is never mapped twice: a range holding it is split. Entries are
// sorted by inside id, never overlap inside or outside, and each entry lies within
// one range (what newuidmap checks). Throws Error when the mode needs ranges and
// there are none.
IdMap plan_map(MapMode mode, uint32_t caller, std::span<const SubidRange> ranges);

// How many ids the map covers inside (highest mapped inside id + 1).
uint64_t inside_span(const IdMap& map);

// The outside id of `inside`, if mapped.
std::optional<uint32_t> to_outside(const IdMap& map, uint32_t inside);

// The inside id that `outside` appears as, if mapped.
std::optional<uint32_t> to_inside(const IdMap& map, uint32_t outside);

// A run of outside ids as two maps name them inside: `from` under one, `to` under the other.
struct IdTranslation {
  uint32_t from = 0;
  uint32_t to = 0;
  uint32_t count = 0;
  bool operator==(const IdTranslation&) const = default;
};
using IdTranslations = std::vector<IdTranslation>;

// Every outside id that both maps cover, as `from` names it inside and as `to` does, in
// runs sorted by their `from` id, a run continuing the one before it joined to it. A file
// system that shows files written under `to` to a namespace mapped by `from` translates
// with this.
IdTranslations translate_ids(const IdMap& from, const IdMap& to);

// Whether some id covered by `translations` has two different names.
bool changes_ids(const IdTranslations& translations);

// One "INSIDE OUTSIDE COUNT" line per entry ("0 1000 1\n1 100000 65536\n"), as
// /proc/PID/uid_map takes it in a single write.
std::string format_for_proc(const IdMap& map);

}  // namespace roost::userns
