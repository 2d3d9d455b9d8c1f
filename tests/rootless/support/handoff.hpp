#pragma once

#include <optional>
#include <string>
#include <vector>

namespace rootless {

// Started as root, the suite runs itself as the unprivileged test user: it copies the
// roost binary and itself into a fresh 0755 directory under /tmp (the build tree may sit
// below directories that user cannot enter), runs the copy there as that user with the
// same GoogleTest arguments, and copies the XML report back to where meson expects it.
struct Handoff {
  std::optional<int> exit_code;  // the copy ran: its exit code
  std::string failure;           // the copy could not run: why
};

// The user is ROOST_TEST_USER, or roost-test (made by scripts/setup).
Handoff run_as_test_user(const std::vector<std::string>& args);

}  // namespace rootless
