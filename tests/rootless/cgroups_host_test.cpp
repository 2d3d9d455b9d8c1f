// What roost does with cgroups on a host that cannot give a container one of its own
// (this build machine: hybrid cgroups, no systemd): stats and configured limits refuse
// with the reason, and a foreground run's output is still kept in its log. The systemd
// tier checks the same commands where the host can.

#include <gtest/gtest.h>

#include <fstream>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

class CgroupsHost : public RoostTest {
 protected:
  void SetUp() override {
    RoostTest::SetUp();
    image_ = load_busybox();
  }

  std::filesystem::path write_config(const std::string& text) {
    auto file = installation().home() / ".config/roost/config.toml";
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << text;
    return file;
  }

  std::string image_;
};

TEST_F(CgroupsHost, StatsNamesWhyAContainerHasNoCgroup) {
  installation().remember_container("idle");
  require_success(roost({"run", "-d", "--name", "idle", image_, "sleep", "60"}), "run -d");
  Outcome named = roost({"stats", "--no-stream", "idle"});
  EXPECT_EQ(named.exit_code, 125) << named.describe();
  EXPECT_NE(named.err.find("container idle has no cgroup of its own to read statistics from: "
                           "this host cannot give containers a cgroup: "),
            std::string::npos)
      << named.describe();
  Outcome all = roost({"stats", "--no-stream", "--format", "json"});
  EXPECT_EQ(all.exit_code, 0) << all.describe();
  EXPECT_EQ(all.out, "[]\n");
  EXPECT_NE(all.err.find("container idle is left out"), std::string::npos) << all.describe();
  Outcome ended = roost({"stats", "--no-stream", "nosuch"});
  EXPECT_EQ(ended.exit_code, 125) << ended.describe();
}

TEST_F(CgroupsHost, ConfiguredLimitsAreRefusedNamingWhereTheyWereSet) {
  auto file = write_config("[limits]\nmemory = \"64m\"\npids_limit = 20\n");
  Outcome refused = run_in(image_, {"true"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_NE(refused.err.find("set in config.toml: memory (" + file.string() +
                             ":2:10), pids_limit (" + file.string() + ":3:14)"),
            std::string::npos)
      << refused.describe();
  Outcome disabled = run_in(image_, {"echo", "ran"}, {"--cgroups", "disabled"});
  EXPECT_EQ(disabled.exit_code, 0) << disabled.describe();
  EXPECT_EQ(disabled.out, "ran\n");
}

TEST_F(CgroupsHost, BadConfiguredLimitNamesFileLineAndColumn) {
  auto file = write_config("[limits]\ncpus = \"half\"\n");
  Outcome refused = run_in(image_, {"true"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_NE(refused.err.find(file.string() + ":2:8: cpus = \"half\""), std::string::npos)
      << refused.describe();
  write_config("[limits]\nmemory_limit = \"1g\"\n");
  Outcome unknown = roost({"ps"});
  EXPECT_EQ(unknown.exit_code, 125) << unknown.describe();
  EXPECT_NE(unknown.err.find(":2:16: unknown key limits.memory_limit"), std::string::npos)
      << unknown.describe();
}

TEST_F(CgroupsHost, ForegroundOutputIsShownAndKeptInTheLog) {
  installation().remember_container("shown");
  Outcome ran = roost({"run", "--name", "shown", image_, "sh", "-c",
                       "echo to stdout; echo to stderr >&2; printf 'no newline'"});
  EXPECT_EQ(ran.exit_code, 0) << ran.describe();
  EXPECT_EQ(ran.out, "to stdout\nno newline");
  EXPECT_NE(ran.err.find("to stderr\n"), std::string::npos) << ran.describe();
  Outcome logs = roost({"logs", "shown"});
  EXPECT_EQ(logs.exit_code, 0) << logs.describe();
  EXPECT_EQ(logs.out, "to stdout\nno newline");
  EXPECT_EQ(logs.err, "to stderr\n");
}

}  // namespace
}  // namespace rootless
