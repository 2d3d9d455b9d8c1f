#pragma once

#include <string>

#include "launcher/plan.hpp"

namespace roost::cli {

// A container's setup or exec that failed for want of permission, with its likely cause
// named when the image holds files owned by ids the container's user namespace does not
// map (an image unpacked under other subordinate ids, or run with --userns single): the
// file, its owner on the host and what to do. Any other failure comes back unchanged.
std::string explain_unmapped_owner(const ContainerPlan& plan, const std::string& failure);

}  // namespace roost::cli
