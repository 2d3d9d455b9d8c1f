// Exit status as podman reports it: the container's own, 125 when roost failed, 126
// when the command cannot be executed, 127 when it is not found, 128+N when the
// container's process was killed by signal N.

#include <signal.h>

#include <gtest/gtest.h>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

using ExitStatus = RoostTest;

TEST_F(ExitStatus, ContainerStatus125IsPassedThroughQuietly) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", "exit 125"});
  EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  EXPECT_EQ(seen.err, "") << "the container failed, not roost";
}

TEST_F(ExitStatus, ContainerStatus3IsPassedThrough) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", "exit 3"});
  EXPECT_EQ(seen.exit_code, 3) << seen.describe();
}

TEST_F(ExitStatus, DirectoryAsCommandIs126) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"/etc"});
  EXPECT_EQ(seen.exit_code, 126) << seen.describe();
  EXPECT_NE(seen.err.find("/etc"), std::string::npos) << seen.describe();
}

TEST_F(ExitStatus, MissingCommandIs127) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"no-such-command"});
  EXPECT_EQ(seen.exit_code, 127) << seen.describe();
  EXPECT_NE(seen.err.find("no-such-command"), std::string::npos) << seen.describe();
}

TEST_F(ExitStatus, RoostsOwnFailureIs125) {
  Outcome seen = run_in("localhost/not-loaded:1", {"true"});
  EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  EXPECT_NE(seen.err.find("not-loaded"), std::string::npos) << seen.describe();
}

TEST_F(ExitStatus, ContainerKilledBySigkillFromTheHostIs137) {
  std::string image = load_busybox();
  Background running(
      installation().spawn({"run", "--rm", image, "sh", "-c", "echo ready; exec sleep 60"}));
  ASSERT_TRUE(running.wait_for_output("ready", Millis(60000)))
      << running.finish(Millis(1000)).describe();
  std::optional<pid_t> container = namespace_init_below(running.pid());
  ASSERT_TRUE(container) << "no process below roost is PID 1 of a pid namespace";
  ::kill(*container, SIGKILL);
  Outcome done = running.finish(Millis(30000));
  EXPECT_EQ(done.exit_code, 137) << done.describe();
}

TEST_F(ExitStatus, ProcessKilledBySigkillUnderInitIs137) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", "kill -KILL $$"}, {"--init"});
  EXPECT_EQ(seen.exit_code, 137) << seen.describe();
}

TEST_F(ExitStatus, ProcessKilledBySigtermUnderInitIs143) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", "kill -TERM $$"}, {"--init"});
  EXPECT_EQ(seen.exit_code, 143) << seen.describe();
}

}  // namespace
}  // namespace rootless
