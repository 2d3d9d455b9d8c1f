// The rootless tier: the real roost binary, run as an unprivileged user with real user
// namespaces, newuidmap, fuse-overlayfs and overlay, on images the tests make themselves.
//
// Run it all through meson:
//   meson test -C build --suite rootless --print-errorlogs
// Run some tests by hand, from the source directory, as a normal user with /etc/subuid
// and /etc/subgid entries (as root it re-runs itself as roost-test, which
// `sudo scripts/setup test` creates); --gtest_filter takes any pattern:
//   ROOST_BINARY=build/launcher/roost build/tests/rootless/rootless-tests --gtest_filter=Io.*
// List the tests with --gtest_list_tests. Each test works in its own directory under
// $TMPDIR/roost-rootless-XXXXXX (removed at the end) with its own --root and --runroot.

#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "tests/rootless/support/handoff.hpp"
#include "tests/rootless/support/roost.hpp"

namespace {

class CannotRunAsTestUser : public ::testing::Test {
 public:
  explicit CannotRunAsTestUser(std::string reason) : reason_(std::move(reason)) {}
  void TestBody() override { FAIL() << reason_; }

 private:
  std::string reason_;
};

// Reports, as one failing test, why the suite could not run as the test user.
int report_handoff_failure(int argc, char** argv, const std::string& reason) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::RegisterTest(
      "RootlessSetup", "RunsAsTheTestUser", nullptr, nullptr, __FILE__, __LINE__,
      [reason]() -> ::testing::Test* { return new CannotRunAsTestUser(reason); });
  GTEST_FLAG_SET(filter, "RootlessSetup.RunsAsTheTestUser");
  return RUN_ALL_TESTS();
}

int run_tests(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  int status = RUN_ALL_TESTS();
  rootless::remove_run_dir();
  return status;
}

bool only_listing(const std::vector<std::string>& args) {
  return std::find(args.begin(), args.end(), "--gtest_list_tests") != args.end();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (::geteuid() != 0 || only_listing(args)) return run_tests(argc, argv);
  rootless::Handoff handoff = rootless::run_as_test_user(args);
  if (handoff.exit_code) return *handoff.exit_code;
  std::cerr << "rootless: " << handoff.failure << "\n";
  return report_handoff_failure(argc, argv, handoff.failure);
}
