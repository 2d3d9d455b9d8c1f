#include "userns/idmap.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "common/error.hpp"

namespace roost::userns {

namespace {

// uid_t -1 means "no id" to the kernel, so inside and outside ids stay below it.
constexpr uint64_t kIdEnd = std::numeric_limits<uint32_t>::max();

std::string_view option_of(MapMode mode) {
  switch (mode) {
    case MapMode::Full:
      return "--userns=auto";
    case MapMode::Single:
      return "--userns=single";
    case MapMode::KeepId:
      return "--userns=keep-id";
    case MapMode::Host:
      return "--userns=host";
  }
  return "--userns";
}

// Hands out the outside ids of the pieces in order; a piece is split where a stretch of
// inside ids ends, so every entry still lies inside one piece.
class OutsideIds {
 public:
  explicit OutsideIds(std::vector<SubidRange> pieces) : pieces_(std::move(pieces)) {}

  // Maps inside ids from `inside` up to `end` for as long as ids last; returns the first
  // inside id left unmapped.
  uint64_t fill(IdMap& map, uint64_t inside, uint64_t end) {
    while (inside < end && next_ < pieces_.size()) {
      auto& piece = pieces_[next_];
      auto count = static_cast<uint32_t>(std::min<uint64_t>(piece.count, end - inside));
      map.push_back({static_cast<uint32_t>(inside), piece.start, count});
      inside += count;
      piece.start += count;
      piece.count -= count;
      if (piece.count == 0) ++next_;
    }
    return inside;
  }

 private:
  std::vector<SubidRange> pieces_;
  size_t next_ = 0;
};

// The caller's own id is mapped on its own, so no range may hand it out again.
std::vector<SubidRange> without_id(const std::vector<SubidRange>& ranges, uint32_t id) {
  std::vector<SubidRange> pieces;
  for (const auto& range : ranges) {
    if (id < range.start || id - range.start >= range.count) {
      pieces.push_back(range);
      continue;
    }
    if (id > range.start) pieces.push_back({range.start, id - range.start});
    if (auto after = range.count - (id - range.start) - 1; after > 0)
      pieces.push_back({id + 1, after});
  }
  return pieces;
}

OutsideIds usable_ids(MapMode mode, uint32_t caller, std::span<const SubidRange> ranges) {
  auto pieces = without_id(without_overlaps(ranges), caller);
  if (pieces.empty())
    throw Error(
        fmt::format("no subordinate ids besides id {} itself; {} needs at least one "
                    "range of other ids",
                    caller, option_of(mode)));
  return OutsideIds(std::move(pieces));
}

IdMap plan_full(uint32_t caller, std::span<const SubidRange> ranges) {
  IdMap map{{0, caller, 1}};
  usable_ids(MapMode::Full, caller, ranges).fill(map, 1, kIdEnd);
  return map;
}

// Inside ids below the caller's come from the ranges first, so the ids most images use
// (0 and the system accounts) are mapped before those above the caller's.
IdMap plan_keep_id(uint32_t caller, std::span<const SubidRange> ranges) {
  IdMap map;
  auto outside_ids = usable_ids(MapMode::KeepId, caller, ranges);
  outside_ids.fill(map, 0, caller);
  map.push_back({caller, caller, 1});
  outside_ids.fill(map, uint64_t{caller} + 1, kIdEnd);
  return map;
}

}  // namespace

IdMap plan_map(MapMode mode, uint32_t caller, std::span<const SubidRange> ranges) {
  if (caller >= kIdEnd) throw Error(fmt::format("plan id map: {} is not a valid id", caller));
  switch (mode) {
    case MapMode::Full:
      return plan_full(caller, ranges);
    case MapMode::Single:
      return {{0, caller, 1}};
    case MapMode::KeepId:
      return plan_keep_id(caller, ranges);
    case MapMode::Host:
      return {{0, 0, static_cast<uint32_t>(kIdEnd)}};
  }
  throw Error(fmt::format("plan id map: unknown mode {}", static_cast<int>(mode)));
}

uint64_t inside_span(const IdMap& map) {
  uint64_t span = 0;
  for (const auto& entry : map) span = std::max(span, uint64_t{entry.inside} + entry.count);
  return span;
}

std::optional<uint32_t> to_outside(const IdMap& map, uint32_t inside) {
  for (const auto& entry : map) {
    if (inside >= entry.inside && inside - entry.inside < entry.count)
      return entry.outside + (inside - entry.inside);
  }
  return std::nullopt;
}

std::optional<uint32_t> to_inside(const IdMap& map, uint32_t outside) {
  for (const auto& entry : map) {
    if (outside >= entry.outside && outside - entry.outside < entry.count)
      return entry.inside + (outside - entry.outside);
  }
  return std::nullopt;
}

namespace {

void add_translation(IdTranslations& translations, const IdMapEntry& from, const IdMapEntry& to) {
  uint64_t start = std::max(from.outside, to.outside);
  uint64_t end = std::min(uint64_t{from.outside} + from.count, uint64_t{to.outside} + to.count);
  if (start >= end) return;
  translations.push_back({static_cast<uint32_t>(from.inside + (start - from.outside)),
                          static_cast<uint32_t>(to.inside + (start - to.outside)),
                          static_cast<uint32_t>(end - start)});
}

bool continues(const IdTranslation& before, const IdTranslation& next) {
  return uint64_t{before.from} + before.count == next.from &&
         uint64_t{before.to} + before.count == next.to;
}

}  // namespace

IdTranslations translate_ids(const IdMap& from, const IdMap& to) {
  IdTranslations found;
  for (const auto& from_entry : from)
    for (const auto& to_entry : to) add_translation(found, from_entry, to_entry);
  std::sort(found.begin(), found.end(),
            [](const IdTranslation& a, const IdTranslation& b) { return a.from < b.from; });
  IdTranslations joined;
  for (const auto& translation : found) {
    if (!joined.empty() && continues(joined.back(), translation))
      joined.back().count += translation.count;
    else
      joined.push_back(translation);
  }
  return joined;
}

bool changes_ids(const IdTranslations& translations) {
  return std::any_of(
      translations.begin(), translations.end(),
      [](const IdTranslation& translation) { return translation.from != translation.to; });
}

std::string format_for_proc(const IdMap& map) {
  std::string text;
  for (const auto& entry : map)
    text += fmt::format("{} {} {}\n", entry.inside, entry.outside, entry.count);
  return text;
}

}  // namespace roost::userns
