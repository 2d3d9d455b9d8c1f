#pragma once

#include <sys/types.h>

#include "launcher/identity.hpp"

namespace roost::cli {

// Limits the bounding set to the default capabilities of a container, switches to the
// container user (a non-root user ends with no capabilities), sets no_new_privs and
// installs the syscall filter. Runs last before exec.
void apply_security(const Identity& identity);

}  // namespace roost::cli
