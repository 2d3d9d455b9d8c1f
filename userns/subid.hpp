#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace roost::userns {

struct SubidRange {
  uint32_t start = 0;
  uint32_t count = 0;
};

// The ranges one user owns in the text of an /etc/subuid or /etc/subgid file, in file
// order. A line names the user by name or by numeric id. Comments and blank lines are
// skipped; a malformed line of this user throws Error naming `file_name`, the line
// number and the line; other users' lines are not judged.
std::vector<SubidRange> ranges_for_user(std::string_view content, std::string_view user_name,
                                        uint32_t id, std::string_view file_name);

}  // namespace roost::userns
