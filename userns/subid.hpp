#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace roost::userns {

struct SubidRange {
  uint32_t start = 0;
  uint32_t count = 0;
};

// The ranges one user owns in the text of an /etc/subuid or /etc/subgid file, in file
// order. A line names the user by name or by numeric id (in both files the user's uid,
// as newuidmap and newgidmap read them). Comments and blank lines are skipped; a
// malformed line of this user throws Error naming `file_name`, the line number and the
// line; other users' lines are not judged. Ids listed twice are kept once (see
// without_overlaps).
std::vector<SubidRange> ranges_for_user(std::string_view content, std::string_view user_name,
                                        uint32_t id, std::string_view file_name);

// `ranges` with every id kept once, in the same order: a range overlapping earlier ones
// keeps only its new ids, so it may shrink, split or vanish. Each piece lies inside one
// of the given ranges.
std::vector<SubidRange> without_overlaps(std::span<const SubidRange> ranges);

}  // namespace roost::userns
