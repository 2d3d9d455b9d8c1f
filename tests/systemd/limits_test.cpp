// roost's limits in the guest: each test runs the real roost against the user's
// systemd manager and checks what systemd and the kernel report, not what roost says.
// Shares the guest's conventions (see guest_test.cpp): ROOST_BIN, a scratch working
// directory, and busybox-static installed in the guest for the test image.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "common/process.hpp"

namespace {

namespace fs = std::filesystem;

struct Ran {
  int status = -1;  // exit code, or 128+N
  std::string out;
  std::string err;
};

Ran run(const std::vector<std::string>& argv) {
  std::string out_file = fmt::format("out-{}.txt", ::getpid());
  std::vector<std::string> shell = {"/bin/sh", "-c", "exec \"$@\" > " + out_file, "sh"};
  shell.insert(shell.end(), argv.begin(), argv.end());
  auto result = roost::process::run(shell);
  Ran ran;
  ran.status = WIFEXITED(result.exit_status) ? WEXITSTATUS(result.exit_status)
                                             : 128 + WTERMSIG(result.exit_status);
  ran.out = roost::fs::read_file(out_file);
  ran.err = result.error_output;
  return ran;
}

std::string roost_bin() {
  const char* bin = std::getenv("ROOST_BIN");
  return bin ? bin : "roost";
}

Ran run_roost(std::vector<std::string> args) {
  args.insert(args.begin(), roost_bin());
  return run(args);
}

std::string describe(const Ran& ran) {
  return fmt::format("status {}\n--- stdout\n{}--- stderr\n{}", ran.status, ran.out, ran.err);
}

// A busybox image made in the guest: /bin/busybox with its applets as links.
const std::string& busybox_image() {
  static const std::string name = [] {
    fs::path root = fs::absolute("busybox-root");
    fs::create_directories(root / "bin");
    fs::copy_file("/bin/busybox", root / "bin/busybox", fs::copy_options::overwrite_existing);
    for (const char* applet : {"sh", "cat", "sleep", "dd", "seq", "echo", "head", "true"})
      if (!fs::exists(root / "bin" / applet)) fs::create_symlink("busybox", root / "bin" / applet);
    auto tar =
        roost::process::run({"/usr/bin/tar", "-C", root.string(), "-cf", "busybox.tar", "."});
    if (tar.exit_status != 0) throw std::runtime_error("tar: " + tar.error_output);
    auto imported = run_roost({"import", "busybox.tar", "guest/busybox:1"});
    if (imported.status != 0) throw std::runtime_error("import: " + describe(imported));
    return std::string("guest/busybox:1");
  }();
  return name;
}

std::string systemctl_show(const std::string& unit, const std::string& property) {
  auto shown = run({"systemctl", "--user", "show", "-P", property, unit});
  while (!shown.out.empty() && shown.out.back() == '\n') shown.out.pop_back();
  return shown.out;
}

std::string scope_cgroup_file(const std::string& unit, const std::string& file) {
  return roost::fs::read_file("/sys/fs/cgroup" + systemctl_show(unit, "ControlGroup") + "/" + file);
}

// Waits for the scope while the roost process `pid` still runs.
void wait_until_active(const std::string& unit, pid_t pid) {
  for (int i = 0; i < 120; ++i) {
    if (systemctl_show(unit, "ActiveState") == "active") return;
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "roost ended before " << unit << " started";
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  FAIL() << unit << " never became active";
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
  EXPECT_EQ(systemctl_show(unit, "MemoryMax"), std::to_string(96ull << 20));
  EXPECT_EQ(systemctl_show(unit, "TasksMax"), "40");
  EXPECT_EQ(systemctl_show(unit, "CPUQuotaPerSecUSec"), "1.500000s");
  EXPECT_EQ(systemctl_show(unit, "Delegate"), "yes");
  EXPECT_EQ(scope_cgroup_file(unit, "memory.max"), std::to_string(96ull << 20) + "\n");
  EXPECT_EQ(scope_cgroup_file(unit, "pids.max"), "40\n");
  EXPECT_EQ(scope_cgroup_file(unit, "cpu.max"), "150000 100000\n");
  EXPECT_EQ(scope_cgroup_file(unit, "memory.swap.max"), "0\n");
  EXPECT_NE(scope_cgroup_file(unit, "container/cgroup.procs"), "");
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::string state = systemctl_show(unit, "ActiveState");
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
