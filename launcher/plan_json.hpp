#pragma once

#include <nlohmann/json.hpp>

#include "launcher/plan.hpp"

namespace roost::cli {

// A plan as saved in a container's config.json, so that `start` runs the container again
// exactly as it was created. The scope and the terminal size are decided at each start
// and are not saved.
nlohmann::json plan_to_json(const ContainerPlan& plan);

// Throws Error naming the missing or mistyped key.
ContainerPlan plan_from_json(const nlohmann::json& saved);

}  // namespace roost::cli
