// Detached containers in the guest: where their processes sit in the user's cgroup
// tree, exec joining the container's cgroup, surviving the unit that started them, and
// the journald log driver read back by journalctl and roost logs. Conventions as in
// guest_test.cpp; helpers in guest_support.hpp.

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "tests/systemd/guest_support.hpp"

namespace {

using namespace guest;
namespace fs = std::filesystem;

// The process whose command line is exactly argv; 0 when there is none.
pid_t find_process(const std::vector<std::string>& argv) {
  std::string wanted;
  for (const auto& arg : argv) wanted += arg + '\0';
  for (const auto& entry : fs::directory_iterator("/proc")) {
    auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    try {
      if (roost::fs::read_file(entry.path() / "cmdline") == wanted) return std::stoi(name);
    } catch (const std::exception&) {
      // The process ended while it was looked at.
    }
  }
  return 0;
}

std::string inspect(const std::string& name, const std::string& field) {
  return chomp(run_roost({"inspect", "--format", "{{" + field + "}}", name}).out);
}

bool alive(pid_t pid) {
  return fs::exists(fmt::format("/proc/{}", pid));
}

// `roost run -d ARGS` as the oneshot service `unit` with RemainAfterExit, as a user's
// own unit would start a container.
Ran run_detached_in_service(const std::string& unit, std::vector<std::string> args) {
  std::string runtime = environment_or("XDG_RUNTIME_DIR", "");
  std::vector<std::string> argv = {
      "systemd-run",
      "--user",
      "--quiet",
      "--unit=" + unit,
      "-p",
      "Type=oneshot",
      "-p",
      "RemainAfterExit=yes",
      "--setenv=XDG_RUNTIME_DIR=" + runtime,
      "--setenv=DBUS_SESSION_BUS_ADDRESS=" + environment_or("DBUS_SESSION_BUS_ADDRESS", ""),
      "--working-directory=" + fs::current_path().string(),
      roost_bin(),
      "run",
      "-d"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

}  // namespace

TEST(Detached, MonitorHasItsOwnScopeExecJoinsTheCgroupAndTheStartersUnitCanStop) {
  const auto& image = busybox_image();
  Removing removing({"detached"});
  auto started = run_detached_in_service(
      "detach-starter", {"--name", "detached", "-m", "64m", image, "sleep", "600"});
  ASSERT_EQ(started.status, 0) << describe(started) << diagnose("detach-starter.service");
  ASSERT_EQ(show("detach-starter.service", "ActiveState"), "active");
  pid_t pid = container_pid("detached");
  ASSERT_GT(pid, 0);
  pid_t monitor = std::atoi(inspect("detached", ".State.Monitor.Pid").c_str());
  ASSERT_GT(monitor, 0);
  std::string monitor_scope = "roost-monitor-" + inspect("detached", ".Id") + ".scope";

  EXPECT_EQ(show(monitor_scope, "ActiveState"), "active");
  EXPECT_EQ(cgroup_of(monitor), show(monitor_scope, "ControlGroup"));
  std::string container_cgroup = cgroup_of(pid);
  EXPECT_EQ(container_cgroup, show("roost-detached.scope", "ControlGroup") + "/container");
  EXPECT_EQ(inspect("detached", ".Scope"), "roost-detached.scope");
  EXPECT_EQ(roost::fs::read_file("/sys/fs/cgroup" + container_cgroup + "/memory.max"),
            std::to_string(64u << 20) + "\n");

  auto exec = roost::process::start({roost_bin(), "exec", "detached", "sleep", "8"});
  pid_t exec_pid = 0;
  wait_until(
      [&] {
        return (exec_pid = find_process({"sleep", "8"})) > 0;
      },
      std::chrono::seconds(30));
  ASSERT_GT(exec_pid, 0) << "the exec'd command never showed up";
  EXPECT_EQ(cgroup_of(exec_pid), container_cgroup);
  auto exec_result = exec.wait();
  EXPECT_EQ(exec_result.exit_status, 0) << exec_result.error_output;

  ASSERT_EQ(systemctl({"stop", "detach-starter.service"}).status, 0);
  EXPECT_NE(show("detach-starter.service", "ActiveState"), "active");
  EXPECT_TRUE(alive(monitor)) << "the monitor ended with the unit that started it";
  EXPECT_TRUE(alive(pid)) << "the container ended with the unit that started it";
  EXPECT_EQ(inspect("detached", ".State.Status"), "running");
  EXPECT_EQ(cgroup_of(pid), container_cgroup);
}

TEST(Detached, JournaldLogCarriesTheContainersFields) {
  const auto& image = busybox_image();
  Removing removing({"jl"});
  auto started = run_roost({"run", "-d", "--name", "jl", image, "sh", "-c", "echo hello"});
  ASSERT_EQ(started.status, 0) << describe(started);
  std::string id = chomp(started.out);
  ASSERT_EQ(id.size(), 64u) << started.out;
  EXPECT_EQ(chomp(run_roost({"wait", "jl"}).out), "0");
  EXPECT_EQ(inspect("jl", ".Config.LogDriver"), "journald");

  nlohmann::json hello;
  std::string journal;
  size_t hellos = 0;
  wait_until(
      [&] {
        journal =
            run({"journalctl", "--user", "--no-pager", "-o", "json", "CONTAINER_NAME=jl"}).out;
        std::istringstream lines(journal);
        hellos = 0;
        for (std::string line; std::getline(lines, line);) {
          auto entry = nlohmann::json::parse(line);
          if (entry.value("MESSAGE", "") != "hello") continue;
          hello = entry;
          ++hellos;
        }
        return hellos > 0;
      },
      std::chrono::seconds(30));
  ASSERT_FALSE(hello.is_null()) << "journalctl --user CONTAINER_NAME=jl:\n" << journal;
  EXPECT_EQ(hello.value("CONTAINER_ID", ""), id.substr(0, 12));
  EXPECT_EQ(hello.value("CONTAINER_ID_FULL", ""), id);
  EXPECT_EQ(hello.value("IMAGE_NAME", ""), inspect("jl", ".ImageName"));
  EXPECT_NE(hello.value("IMAGE_NAME", "").find("guest/busybox"), std::string::npos);
  EXPECT_EQ(hello.value("SYSLOG_IDENTIFIER", ""), "jl");
  EXPECT_EQ(hellos, 1u) << journal;

  auto logs = run_roost({"logs", "jl"});
  EXPECT_EQ(logs.status, 0) << describe(logs);
  EXPECT_EQ(logs.out, "hello\n");
}
