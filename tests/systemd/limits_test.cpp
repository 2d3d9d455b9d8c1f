// roost's limits in the guest: each test runs the real roost against the user's
// systemd manager and checks what systemd and the kernel report, not what roost says.
// Conventions as in guest_test.cpp; helpers in guest_support.hpp.
//
// CpuNotDelegated.* run in a phase of their own (guest-job), after root has restarted
// the user's manager with a user@.service drop-in that delegates memory and pids only.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "tests/systemd/guest_support.hpp"

namespace {

using namespace guest;
namespace fs = std::filesystem;

// Waits for the scope while the roost process `pid` still runs.
void wait_until_active(const std::string& unit, pid_t pid) {
  for (int i = 0; i < 120; ++i) {
    if (show(unit, "ActiveState") == "active") return;
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "roost ended before " << unit << " started";
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  FAIL() << unit << " never became active";
}

// The user's config.toml for the length of a test.
class UserConfig {
 public:
  explicit UserConfig(const std::string& text)
      : path_(fs::path(environment_or("HOME", "/home/roost")) / ".config/roost/config.toml") {
    fs::create_directories(path_.parent_path());
    roost::fs::write_file_atomic(path_, text);
  }
  ~UserConfig() { fs::remove(path_); }
  UserConfig(const UserConfig&) = delete;
  UserConfig& operator=(const UserConfig&) = delete;

 private:
  fs::path path_;
};

uint64_t number_in(const fs::path& file) {
  return std::stoull(roost::fs::read_file(file));
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream stream(text);
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

}  // namespace

TEST(RoostLimits, ContainerSeesItsLimitsInItsCgroupNamespace) {
  auto ran = run_roost({"run", "--rm", "--memory", "64m", "--pids-limit", "50", "--cpus", "0.5",
                        busybox_image(), "cat", "/sys/fs/cgroup/memory.max",
                        "/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/cpu.max", "/proc/self/cgroup"});
  ASSERT_EQ(ran.status, 0) << describe(ran);
  EXPECT_EQ(ran.out, "67108864\n50\n50000 100000\n0::/\n") << describe(ran);
}

TEST(RoostLimits, ScopeCarriesTheLimitsAndGoesAwayAfterExit) {
  std::string unit = "roost-limited.scope";
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string image = busybox_image();
    ::execl(roost_bin().c_str(), "roost", "run", "--rm", "--name", "limited", "-m", "96m",
            "--memory-swap", "96m", "--pids-limit", "40", "--cpus", "1.5", image.c_str(), "sleep",
            "20", nullptr);
    ::_exit(127);
  }
  busybox_image();
  ASSERT_NO_FATAL_FAILURE(wait_until_active(unit, pid));
  EXPECT_EQ(show(unit, "MemoryMax"), std::to_string(96ull << 20));
  EXPECT_EQ(show(unit, "TasksMax"), "40");
  EXPECT_EQ(show(unit, "CPUQuotaPerSecUSec"), "1.500000s");
  EXPECT_EQ(show(unit, "Delegate"), "yes");
  EXPECT_EQ(unit_cgroup_file(unit, "memory.max"), std::to_string(96ull << 20) + "\n");
  EXPECT_EQ(unit_cgroup_file(unit, "pids.max"), "40\n");
  EXPECT_EQ(unit_cgroup_file(unit, "cpu.max"), "150000 100000\n");
  EXPECT_EQ(unit_cgroup_file(unit, "memory.swap.max"), "0\n");
  EXPECT_NE(unit_cgroup_file(unit, "container/cgroup.procs"), "");
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::string state = show(unit, "ActiveState");
  EXPECT_TRUE(state == "inactive" || state.empty()) << state;
}

TEST(RoostLimits, OutOfMemoryIsExit137WithOneLine) {
  auto ran = run_roost({"run", "--rm", "-m", "16m", "--memory-swap", "16m", busybox_image(), "dd",
                        "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  EXPECT_EQ(ran.status, 137) << describe(ran);
  EXPECT_NE(ran.err.find("ran out of memory (limit 16 MiB)"), std::string::npos) << describe(ran);
}

TEST(RoostLimits, ForkBombStaysUnderThePidsLimit) {
  // The inner shell gives up when fork fails; the sleeps it started stay behind.
  auto ran = run_roost({"run", "--rm", "--pids-limit", "20", busybox_image(), "sh", "-c",
                        "sh -c 'for i in $(seq 60); do sleep 3 & done' 2>/dev/null; "
                        "cat /sys/fs/cgroup/pids.current"});
  ASSERT_EQ(ran.status, 0) << describe(ran);
  int current = std::atoi(ran.out.c_str());
  EXPECT_GT(current, 10) << describe(ran);
  EXPECT_LE(current, 20) << describe(ran);
}

TEST(RoostLimits, RunsInAScopeWithoutLimitsToo) {
  auto ran = run_roost({"run", "--rm", busybox_image(), "cat", "/proc/self/cgroup"});
  ASSERT_EQ(ran.status, 0) << describe(ran);
  EXPECT_EQ(ran.out, "0::/\n");
}

TEST(RoostLimits, CgroupsDisabledRunsWithoutAScope) {
  auto ran = run_roost(
      {"run", "--rm", "--cgroups", "disabled", busybox_image(), "cat", "/proc/self/cgroup"});
  ASSERT_EQ(ran.status, 0) << describe(ran);
  EXPECT_NE(ran.out, "0::/\n") << "no cgroup namespace without a scope";
}

TEST(RoostLimits, IoWeightNeedsTheIoControllerAndNamesTheDropIn) {
  auto ran = run_roost({"run", "--rm", "--io-weight", "200", busybox_image(), "true"});
  EXPECT_EQ(ran.status, 125) << describe(ran);
  EXPECT_NE(ran.err.find("io"), std::string::npos) << describe(ran);
  EXPECT_NE(ran.err.find("Delegate="), std::string::npos) << describe(ran);
}

TEST(RoostLimits, StatsMatchTheContainersCgroup) {
  const auto& image = busybox_image();
  Removing removing({"stats"});
  // 24 MiB on the container's /dev/shm is memory charged to its cgroup; "filled" says
  // that the processes are what they stay: two sleeps.
  auto started = run_roost({"run", "-d", "--name", "stats", "-m", "64m", "--pids-limit", "20",
                            image, "sh", "-c",
                            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=24 2>/dev/null; "
                            "sleep 600 & echo filled; exec sleep 600"});
  ASSERT_EQ(started.status, 0) << describe(started);
  wait_until(
      [] {
        return run_roost({"logs", "stats"}).out == "filled\n";
      },
      std::chrono::seconds(60));
  ASSERT_EQ(run_roost({"logs", "stats"}).out, "filled\n");
  pid_t pid = container_pid("stats");
  ASSERT_GT(pid, 0);
  fs::path cgroup = "/sys/fs/cgroup" + cgroup_of(pid);
  ASSERT_EQ(number_in(cgroup / "pids.current"), 2u);
  ASSERT_GE(number_in(cgroup / "memory.current"), 24u << 20);
  auto memory_before = number_in(cgroup / "memory.current");
  auto stats = run_roost({"stats", "--no-stream", "--format", "json", "stats"});
  auto memory_after = number_in(cgroup / "memory.current");
  ASSERT_EQ(stats.status, 0) << describe(stats);
  auto entries = nlohmann::json::parse(stats.out);
  ASSERT_EQ(entries.size(), 1u) << stats.out;
  const auto& entry = entries[0];
  EXPECT_EQ(entry["name"], "stats");
  EXPECT_EQ(entry["pids"], number_in(cgroup / "pids.current"));
  EXPECT_EQ(entry["mem_limit"], number_in(cgroup / "memory.max"));
  EXPECT_EQ(entry["mem_limit"], 64u << 20);
  // The container is idle; what moves is the kernel's own bookkeeping, far below 1 MiB.
  constexpr uint64_t kTolerance = 1u << 20;
  auto usage = entry["mem_usage"].get<uint64_t>();
  EXPECT_GE(usage + kTolerance, std::min(memory_before, memory_after)) << stats.out;
  EXPECT_LE(usage, std::max(memory_before, memory_after) + kTolerance) << stats.out;
}

TEST(RoostLimits, ConfiguredDefaultsReachTheScopeAndAnOptionOverridesThem) {
  const auto& image = busybox_image();
  Removing removing({"defaults", "override"});
  UserConfig config("[limits]\nmemory = \"48m\"\npids_limit = 30\n");
  auto defaults = run_roost({"run", "-d", "--name", "defaults", image, "sleep", "600"});
  ASSERT_EQ(defaults.status, 0) << describe(defaults);
  auto overridden =
      run_roost({"run", "-d", "--name", "override", "--memory", "80m", image, "sleep", "600"});
  ASSERT_EQ(overridden.status, 0) << describe(overridden);
  EXPECT_EQ(show("roost-defaults.scope", "MemoryMax"), std::to_string(48u << 20));
  EXPECT_EQ(show("roost-defaults.scope", "TasksMax"), "30");
  EXPECT_EQ(unit_cgroup_file("roost-defaults.scope", "memory.max"),
            std::to_string(48u << 20) + "\n");
  EXPECT_EQ(unit_cgroup_file("roost-defaults.scope", "pids.max"), "30\n");
  EXPECT_EQ(show("roost-override.scope", "MemoryMax"), std::to_string(80u << 20));
  EXPECT_EQ(show("roost-override.scope", "TasksMax"), "30");
  EXPECT_EQ(unit_cgroup_file("roost-override.scope", "memory.max"),
            std::to_string(80u << 20) + "\n");
  EXPECT_EQ(unit_cgroup_file("roost-override.scope", "pids.max"), "30\n");
}

TEST(RoostLimits, ForeignBusAddressIsNotUsedAndTheOwnBusIs) {
  auto ran = run({"env", "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/0/bus", roost_bin(), "run",
                  "--rm", "--memory", "40m", busybox_image(), "cat", "/sys/fs/cgroup/memory.max"});
  ASSERT_EQ(ran.status, 0) << describe(ran);
  EXPECT_EQ(ran.out, std::to_string(40u << 20) + "\n");
  EXPECT_EQ(occurrences(ran.err,
                        "(unix:path=/run/user/0/bus) is not used: /run/user/0 is the "
                        "runtime directory of uid 0"),
            1u)
      << describe(ran);
}

// Root restarted the user's manager with `Delegate=memory pids` before this phase.
TEST(CpuNotDelegated, CpusIsRefusedNamingCpuAndTheDropIn) {
  auto manager =
      fmt::format("/sys/fs/cgroup/user.slice/user-{0}.slice/user@{0}.service", ::getuid());
  ASSERT_EQ(words_of(roost::fs::read_file(manager + "/cgroup.controllers")),
            (std::vector<std::string>{"memory", "pids"}))
      << "the phase's drop-in did not take: nothing here would be tested";
  const auto& image = busybox_image();
  auto before = run_roost({"ps", "-a", "-q"});
  auto ran = run_roost({"run", "--rm", "--name", "nocpu", "--cpus", "1", image, "true"});
  EXPECT_EQ(ran.status, 125) << describe(ran);
  EXPECT_EQ(ran.err.find('\n'), std::string::npos) << "one line:\n" << describe(ran);
  EXPECT_NE(ran.err.find("--cpus needs the cpu controller"), std::string::npos) << describe(ran);
  EXPECT_NE(ran.err.find("(it delegates: memory pids)"), std::string::npos) << describe(ran);
  EXPECT_NE(ran.err.find("/etc/systemd/system/user@.service.d/delegate.conf"), std::string::npos)
      << describe(ran);
  EXPECT_EQ(show("roost-nocpu.scope", "LoadState"), "not-found");
  EXPECT_EQ(run_roost({"ps", "-a", "-q"}).out, before.out) << "a refused run left a container";
}

TEST(CpuNotDelegated, MemoryAloneWorks) {
  auto ran = run_roost({"run", "--rm", "--memory", "32m", busybox_image(), "sh", "-c",
                        "cat /sys/fs/cgroup/memory.max; test -e /sys/fs/cgroup/cpu.max || "
                        "echo no cpu.max"});
  ASSERT_EQ(ran.status, 0) << describe(ran);
  EXPECT_EQ(ran.out, std::to_string(32u << 20) + "\nno cpu.max\n") << describe(ran);
}
