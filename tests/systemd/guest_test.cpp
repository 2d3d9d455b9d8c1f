// Tests of the systemd tier: they run inside a Debian 12 guest with systemd as PID 1.
//
// How they run: `meson test --suite systemd` calls run-guest, which boots the cached
// guest image (build-image) under qemu, and the guest runs this executable as the
// lingering user `roost` in a transient service of that user's own systemd manager
// (guest-job). So a test here sees what a user's service sees: the unified cgroup
// tree with cpu, memory and pids delegated under user@UID.service, the user's D-Bus
// session bus at $DBUS_SESSION_BUS_ADDRESS, $XDG_RUNTIME_DIR, journald, newuidmap with
// the subordinate range 100000:65536, fuse-overlayfs, and no root.
//
// Environment: ROOST_BIN is the roost binary under test; the working directory is a
// scratch folder the test user owns and whose content is kept with the results.
//
// Results: the build folder's tests/systemd/guest-results/ holds console.log (the
// serial console) and results/ with, for each phase of guest-job (guest-test, the one
// most tests run in, and phases for a reconfigured manager or a second boot),
// PHASE.log (this program's output), PHASE.xml and PHASE.exit-code, and journal.txt
// (the guest's whole journal).
//
// Adding a test: write a TEST() here or in a *_test.cpp of this folder, build, run the
// suite; nothing else changes. Helpers the test files share are in guest_support.hpp.
// A test that needs another Debian package in the guest adds it to GUEST_PACKAGES in
// build-image, which rebuilds the cached image (about two minutes). Never skip a test
// for a missing guest feature: fail, so the tier cannot pass without testing.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"

extern char** environ;

namespace {

struct Output {
  int exit_status = -1;  // as from waitpid
  std::string text;      // standard output; standard error goes to the test log
};

pid_t spawn_with_stdout(const std::vector<std::string>& argv, int stdout_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdout_fd, STDOUT_FILENO);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) roost::throw_errno(fmt::format("run {}", argv[0]), rc);
  return pid;
}

std::string read_to_end(int fd, const std::string& what) {
  std::string text;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) roost::throw_errno(fmt::format("read {}", what));
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

// Runs argv (argv[0] looked up in PATH) and collects its standard output.
Output run_collecting_output(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) roost::throw_errno("pipe");
  roost::UniqueFd read_end(pipe_fds[0]);
  roost::UniqueFd write_end(pipe_fds[1]);
  pid_t pid = spawn_with_stdout(argv, write_end.get());
  write_end.reset();
  Output output;
  output.text = read_to_end(read_end.get(), "the output of " + argv[0]);
  while (::waitpid(pid, &output.exit_status, 0) < 0) {
    if (errno != EINTR) roost::throw_errno(fmt::format("wait for {} (pid {})", argv[0], pid));
  }
  return output;
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

std::vector<std::string> words_of(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream stream(text);
  for (std::string word; stream >> word;) words.push_back(word);
  return words;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

// This process's cgroup v2 path, e.g. /user.slice/user-1000.slice/user@1000.service/...
std::string own_cgroup() {
  for (const auto& line : lines_of(roost::fs::read_file("/proc/self/cgroup"))) {
    if (line.rfind("0::", 0) == 0) return line.substr(3);
  }
  throw roost::Error("find the unified (0::) entry in /proc/self/cgroup");
}

// The cgroup systemd delegates to the user's manager: .../user@UID.service.
std::string delegated_user_cgroup() {
  std::string unit = fmt::format("/user@{}.service", ::getuid());
  std::string cgroup = own_cgroup();
  auto at = cgroup.find(unit);
  if (at == std::string::npos)
    throw roost::Error(fmt::format("find {} in this process's cgroup {}", unit, cgroup));
  return cgroup.substr(0, at + unit.size());
}

struct BusCloser {
  void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
using Bus = std::unique_ptr<sd_bus, BusCloser>;

Bus open_user_bus() {
  sd_bus* bus = nullptr;
  int rc = sd_bus_open_user(&bus);
  if (rc < 0) roost::throw_errno("connect to the user bus", -rc);
  return Bus(bus);
}

std::string user_manager_property(sd_bus* bus, const char* property) {
  sd_bus_error error = SD_BUS_ERROR_NULL;
  char* value = nullptr;
  int rc = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                      "org.freedesktop.systemd1.Manager", property, &error, &value);
  std::string message = error.message ? error.message : "";
  sd_bus_error_free(&error);
  if (rc < 0)
    throw roost::Error(fmt::format("get the user manager's {}: {}", property, message), -rc);
  std::string result(value);
  std::free(value);
  return result;
}

}  // namespace

TEST(Session, RunsAsTheUnprivilegedTestUser) {
  EXPECT_NE(::getuid(), 0u);
  EXPECT_EQ(environment("XDG_RUNTIME_DIR"), fmt::format("/run/user/{}", ::getuid()));
  EXPECT_EQ(environment("DBUS_SESSION_BUS_ADDRESS"),
            fmt::format("unix:path=/run/user/{}/bus", ::getuid()));
}

TEST(UserManager, AnswersOnTheSessionBus) {
  Bus bus = open_user_bus();
  EXPECT_EQ(user_manager_property(bus.get(), "SystemState"), "running");
  EXPECT_EQ(user_manager_property(bus.get(), "Version").substr(0, 3), "252");
}

TEST(Cgroup, HierarchyIsUnified) {
  struct statfs info {};
  ASSERT_EQ(::statfs("/sys/fs/cgroup", &info), 0) << "statfs /sys/fs/cgroup: " << errno;
  EXPECT_EQ(static_cast<unsigned long>(info.f_type), CGROUP2_SUPER_MAGIC);
}

TEST(Cgroup, UserManagerHasCpuMemoryAndPidsDelegated) {
  std::string cgroup = "/sys/fs/cgroup" + delegated_user_cgroup();
  auto controllers = words_of(roost::fs::read_file(cgroup + "/cgroup.controllers"));
  EXPECT_TRUE(contains(controllers, "cpu")) << cgroup;
  EXPECT_TRUE(contains(controllers, "memory")) << cgroup;
  EXPECT_TRUE(contains(controllers, "pids")) << cgroup;
  struct stat info {};
  ASSERT_EQ(::stat(cgroup.c_str(), &info), 0) << "stat " << cgroup << ": " << errno;
  EXPECT_EQ(info.st_uid, ::getuid()) << "a delegated cgroup belongs to its user";
}

TEST(Scope, TransientScopeWithMemoryMaxRuns) {
  auto result = run_collecting_output(
      {"systemd-run", "--user", "--scope", "--quiet", "-p", "MemoryMax=64M", "true"});
  EXPECT_EQ(result.exit_status, 0) << roost::process::describe_status(result.exit_status);
}

TEST(Scope, MemoryMaxReachesTheKernel) {
  const std::string report =
      "cgroup=$(sed -n 's/^0:://p' /proc/self/cgroup); echo \"$cgroup\"; "
      "cat \"/sys/fs/cgroup$cgroup/memory.max\"";
  auto result = run_collecting_output({"systemd-run", "--user", "--scope", "--quiet", "-p",
                                       "MemoryMax=64M", "/bin/sh", "-c", report});
  ASSERT_EQ(result.exit_status, 0) << roost::process::describe_status(result.exit_status);
  auto lines = lines_of(result.text);
  ASSERT_EQ(lines.size(), 2u) << result.text;
  EXPECT_EQ(lines[0].rfind(delegated_user_cgroup() + "/", 0), 0u) << lines[0];
  EXPECT_TRUE(lines[0].ends_with(".scope")) << lines[0];
  EXPECT_EQ(lines[1], std::to_string(64ull << 20));
}

TEST(Roost, VersionRuns) {
  std::string roost = environment("ROOST_BIN");
  ASSERT_FALSE(roost.empty()) << "ROOST_BIN is not set";
  auto result = run_collecting_output({roost, "version"});
  EXPECT_EQ(result.exit_status, 0) << roost::process::describe_status(result.exit_status);
  EXPECT_EQ(result.text.rfind("roost version ", 0), 0u) << result.text;
}

TEST(UserNamespace, NewuidmapMapsTheSubordinateRanges) {
  auto result = run_collecting_output(
      {"unshare", "--map-auto", "/bin/sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map"});
  ASSERT_EQ(result.exit_status, 0) << roost::process::describe_status(result.exit_status);
  auto lines = lines_of(result.text);
  ASSERT_EQ(lines.size(), 2u) << result.text;
  EXPECT_EQ(words_of(lines[0]), (std::vector<std::string>{"0", "100000", "65536"}));
  EXPECT_EQ(words_of(lines[1]), (std::vector<std::string>{"0", "100000", "65536"}));
}
