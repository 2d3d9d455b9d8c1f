// Containers as systemd user services in the guest: declarative files turned into units
// by roost-generator (installed by guest-job into the user generator directory) and a
// unit from `roost generate unit`, each started, stopped and checked against what
// systemd, the kernel and the journal report. Conventions as in guest_test.cpp; the
// container image holds busybox and unit-helper ($ROOST_UNIT_HELPER, a static binary).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "tests/systemd/guest_support.hpp"

namespace {

using namespace guest;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// busybox and unit-helper, imported once as guest/units:1.
const std::string& units_image() {
  static const std::string name = [] {
    fs::path root = fs::absolute("units-root");
    fs::create_directories(root / "bin");
    fs::copy_file("/bin/busybox", root / "bin/busybox", fs::copy_options::overwrite_existing);
    fs::copy_file(environment_or("ROOST_UNIT_HELPER", "/job/bin/unit-helper"),
                  root / "bin/unit-helper", fs::copy_options::overwrite_existing);
    for (const char* applet : {"sh", "echo", "printf", "sleep", "cat"})
      if (!fs::exists(root / "bin" / applet)) fs::create_symlink("busybox", root / "bin" / applet);
    auto tar = roost::process::run({"/usr/bin/tar", "-C", root.string(), "-cf", "units.tar", "."});
    if (tar.exit_status != 0) throw std::runtime_error("tar: " + tar.error_output);
    auto imported = run_roost({"import", "units.tar", "guest/units:1"});
    if (imported.status != 0) throw std::runtime_error("import: " + imported.err);
    return std::string("guest/units:1");
  }();
  return name;
}

// The units image as a docker-archive tagged TAG, made in the directory DIR_NAME.
fs::path units_image_as_docker_archive(const std::string& dir_name, const std::string& tag) {
  units_image();
  fs::path dir = fs::absolute(dir_name);
  fs::create_directories(dir);
  fs::copy_file("units.tar", dir / "layer.tar", fs::copy_options::overwrite_existing);
  auto digest = run({"sha256sum", (dir / "layer.tar").string()}).out.substr(0, 64);
  roost::fs::write_file_atomic(
      dir / "config.json", fmt::format(R"({{"architecture":"amd64","os":"linux","config":{{}},)"
                                       R"("rootfs":{{"type":"layers","diff_ids":["sha256:{}"]}}}})",
                                       digest));
  roost::fs::write_file_atomic(
      dir / "manifest.json",
      fmt::format(R"([{{"Config":"config.json","RepoTags":["{}"],"Layers":["layer.tar"]}}])", tag));
  fs::path archive = dir / "image.tar";
  auto tar = run({"/usr/bin/tar", "-C", dir.string(), "-cf", archive.string(), "manifest.json",
                  "config.json", "layer.tar"});
  if (tar.status != 0) throw std::runtime_error("tar: " + tar.err);
  return archive;
}

fs::path units_dir() {
  return fs::path(environment_or("HOME", "/home/roost")) / ".config/roost/units";
}

// Writes NAME.toml and reloads, so that roost-generator makes roost-NAME.service.
void declare(const std::string& name, const std::string& toml) {
  fs::create_directories(units_dir());
  roost::fs::write_file_atomic(units_dir() / (name + ".toml"), toml);
  ASSERT_EQ(systemctl({"daemon-reload"}).status, 0);
}

}  // namespace

TEST(Units, ArgumentsAndEnvironmentSurviveTheUnitExactly) {
  units_image();
  declare("escape", R"(image = "guest/units:1"
command = ["sh", "-c", "printf '[%s]\\n' \"$@\" \"$V\"", "sh", "a  b", "$HOME", "${HOME}",
           "100%", "%n", "back\\slash", "\"q\"", "it's", ";"]
env = { V = "$x %h \\ \" ' end" }
restart = "no"
)");
  ASSERT_EQ(systemctl({"start", "roost-escape.service"}).status, 0) << diagnose("roost-escape");
  wait_until([] { return show("roost-escape.service", "ActiveState") == "inactive"; },
             std::chrono::seconds(60));
  auto journal = journal_of("roost-escape.service");
  for (const char* line : {"[a  b]", "[$HOME]", "[${HOME}]", "[100%]", "[%n]", "[back\\slash]",
                           "[\"q\"]", "[it's]", "[;]", "[$x %h \\ \" ' end]"})
    EXPECT_NE(journal.find(line), std::string::npos) << line << "\n" << diagnose("roost-escape");
}

TEST(Units, ContainerReadinessIsRelayedAndMainPidIsTheMonitor) {
  units_image();
  declare("ready", R"(image = "guest/units:1"
command = ["unit-helper", "ready-after", "3"]
user = "1000:1000"
sdnotify = "container"
)");
  auto begin = Clock::now();
  ASSERT_EQ(systemctl({"start", "roost-ready.service"}).status, 0) << diagnose("roost-ready");
  EXPECT_GE(Clock::now() - begin, std::chrono::seconds(3));
  EXPECT_EQ(show("roost-ready.service", "ActiveState"), "active");
  EXPECT_EQ(show("roost-ready.service", "StatusText"), "serving");
  auto main_pid = show("roost-ready.service", "MainPID");
  ASSERT_NE(main_pid, "0");
  EXPECT_EQ(roost::fs::read_file(fmt::format("/proc/{}/comm", main_pid)), "roost\n");
  ASSERT_EQ(systemctl({"stop", "roost-ready.service"}).status, 0);
  EXPECT_EQ(show("roost-ready.service", "ActiveState"), "inactive") << diagnose("roost-ready");
  EXPECT_EQ(show("roost-ready.service", "Result"), "success");
}

TEST(Units, LimitsAreTheUnitsAndTheContainerIsInItsCgroup) {
  units_image();
  declare("limited", R"(image = "guest/units:1"
command = ["unit-helper", "wait"]
[limits]
memory = "64m"
pids-limit = 50
)");
  ASSERT_EQ(systemctl({"start", "roost-limited.service"}).status, 0) << diagnose("roost-limited");
  EXPECT_EQ(show("roost-limited.service", "MemoryMax"), "67108864");
  EXPECT_EQ(show("roost-limited.service", "TasksMax"), "50");
  fs::path cgroup = "/sys/fs/cgroup" + show("roost-limited.service", "ControlGroup");
  EXPECT_EQ(roost::fs::read_file(cgroup / "memory.max"), "67108864\n");
  EXPECT_EQ(roost::fs::read_file(cgroup / "pids.max"), "50\n");
  EXPECT_FALSE(roost::fs::read_file(cgroup / "container/cgroup.procs").empty());
  EXPECT_NE(roost::fs::read_file(cgroup / "supervisor/cgroup.procs")
                .find(show("roost-limited.service", "MainPID")),
            std::string::npos);
  ASSERT_EQ(systemctl({"stop", "roost-limited.service"}).status, 0);
  EXPECT_EQ(show("roost-limited.service", "Result"), "success") << diagnose("roost-limited");
}

TEST(Units, FailingContainerMarksTheUnitFailedAndIsRestarted) {
  units_image();
  declare("failing", R"(image = "guest/units:1"
command = ["sh", "-c", "echo failing now; exit 3"]
[service]
RestartSec = "1"
)");
  systemctl({"start", "roost-failing.service"});
  auto restarts = [] {
    auto count = show("roost-failing.service", "NRestarts");
    return count.empty() ? 0 : std::stoi(count);
  };
  wait_until([&] { return restarts() >= 2; }, std::chrono::seconds(60));
  EXPECT_GE(restarts(), 2) << diagnose("roost-failing");
  EXPECT_NE(journal_of("roost-failing.service").find("failing now"), std::string::npos);
  systemctl({"stop", "roost-failing.service"});
  systemctl({"reset-failed", "roost-failing.service"});
}

TEST(Units, MissingImageFailsWithOneLineNamingIt) {
  declare("absent", "image = \"guest/absent:1\"\n");
  EXPECT_NE(systemctl({"start", "roost-absent.service"}).status, 0);
  EXPECT_EQ(show("roost-absent.service", "ActiveState"), "failed");
  EXPECT_EQ(show("roost-absent.service", "NRestarts"), "0");
  auto journal = journal_of("roost-absent.service");
  size_t lines = 0;
  for (size_t at = 0;
       (at = journal.find("guest/absent:1 is not in your store", at)) != std::string::npos; ++at)
    ++lines;
  EXPECT_EQ(lines, 1u) << journal;
  systemctl({"reset-failed", "roost-absent.service"});
}

TEST(Units, BrokenFileIsReportedWhileGoodOnesStillWork) {
  units_image();
  fs::create_directories(units_dir());
  roost::fs::write_file_atomic(units_dir() / "broken.toml",
                               "image = \"guest/units:1\"\nimgae = \"typo\"\n");
  declare("fine", "image = \"guest/units:1\"\ncommand = [\"unit-helper\", \"wait\"]\n");
  EXPECT_EQ(show("roost-broken.service", "LoadState"), "not-found");
  EXPECT_EQ(show("roost-fine.service", "LoadState"), "loaded");
  auto logged = run({"journalctl", "--no-pager", "-o", "cat", "-t", "roost-generator"}).out;
  EXPECT_NE(logged.find("broken.toml:2:9: imgae: unknown key"), std::string::npos) << logged;
  ASSERT_EQ(systemctl({"start", "roost-fine.service"}).status, 0) << diagnose("roost-fine");
  EXPECT_EQ(systemctl({"stop", "roost-fine.service"}).status, 0);
  fs::remove(units_dir() / "broken.toml");
}

TEST(Units, SocketActivatedContainerAnswersOnTheSystemdSocket) {
  units_image();
  declare("echo", R"(image = "guest/units:1"
command = ["unit-helper", "serve"]
[socket]
ListenStream = "127.0.0.1:18080"
)");
  ASSERT_EQ(systemctl({"start", "roost-echo.socket"}).status, 0) << diagnose("roost-echo.socket");
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(18080);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<struct sockaddr*>(&address), sizeof address), 0);
  struct timeval timeout = {90, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char buffer[256] = {};
  ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  EXPECT_EQ(std::string(buffer, n > 0 ? static_cast<size_t>(n) : 0),
            "fds=1 names=roost-echo.socket pid-ok=yes\n")
      << diagnose("roost-echo.service");
  systemctl({"stop", "roost-echo.socket", "roost-echo.service"});
}

TEST(Units, GeneratedUnitStartsAndStopsCleanly) {
  const auto& image = units_image();
  fs::path user_units = fs::path(environment_or("HOME", "/home/roost")) / ".config/systemd/user";
  fs::create_directories(user_units);
  auto generated =
      run({"/bin/sh", "-c",
           fmt::format("cd {} && {} generate unit --files --name gen {}", user_units.string(),
                       environment_or("ROOST_BIN", "roost"), image)});
  ASSERT_EQ(generated.status, 0) << generated.err;
  auto unit = roost::fs::read_file(user_units / "roost-gen.service");
  ASSERT_NE(unit.find("Type=notify"), std::string::npos) << unit;
  // The image's command is sh; a unit for a service names its own command.
  auto text = unit;
  auto at = text.find("\"guest/units:1\"");
  ASSERT_NE(at, std::string::npos);
  text.insert(at + std::string("\"guest/units:1\"").size(), " \"unit-helper\" \"wait\"");
  roost::fs::write_file_atomic(user_units / "roost-gen.service", text);
  ASSERT_EQ(systemctl({"daemon-reload"}).status, 0);
  ASSERT_EQ(systemctl({"start", "roost-gen.service"}).status, 0) << diagnose("roost-gen");
  EXPECT_EQ(show("roost-gen.service", "ActiveState"), "active");
  EXPECT_EQ(show("roost-gen.service", "KillSignal"), "15");
  auto begin = Clock::now();
  ASSERT_EQ(systemctl({"stop", "roost-gen.service"}).status, 0);
  EXPECT_LT(Clock::now() - begin, std::chrono::seconds(10));
  EXPECT_EQ(show("roost-gen.service", "ActiveState"), "inactive") << diagnose("roost-gen");
  EXPECT_EQ(show("roost-gen.service", "Result"), "success");
  // journald may write the container's last line after systemctl has returned.
  auto stopped_line = [] {
    return journal_of("roost-gen.service").find("unit-helper: stopping on SIGTERM") !=
           std::string::npos;
  };
  wait_until(stopped_line, std::chrono::seconds(10));
  EXPECT_TRUE(stopped_line()) << diagnose("roost-gen");
}

TEST(Units, ArchiveIsLoadedOnceBeforeTheFirstStart) {
  fs::path archive = units_image_as_docker_archive("archive", "guest/archived:1");
  declare("archived", fmt::format("image = \"docker-archive:{}\"\n"
                                  "command = [\"unit-helper\", \"wait\"]\n",
                                  archive.string()));
  for (int start = 0; start < 2; ++start) {
    ASSERT_EQ(systemctl({"start", "roost-archived.service"}).status, 0)
        << diagnose("roost-archived");
    EXPECT_EQ(show("roost-archived.service", "ActiveState"), "active");
    ASSERT_EQ(systemctl({"stop", "roost-archived.service"}).status, 0);
  }
  auto journal = journal_of("roost-archived.service");
  auto first = journal.find("as localhost/roost-unit-archived:latest");
  EXPECT_NE(first, std::string::npos) << journal;
  EXPECT_EQ(journal.find("as localhost/roost-unit-archived:latest", first + 1), std::string::npos)
      << journal;
}

// Prepares AfterReboot.LingeringUsersUnitStartedAtBoot: a unit wanted by default.target
// (the generator makes the link) and this boot's id.
TEST(Units, BootUnitIsDeclaredForTheNextBoot) {
  units_image();
  declare("boot", "image = \"guest/units:1\"\ncommand = [\"unit-helper\", \"wait\"]\n");
  EXPECT_NE(show("default.target", "Wants").find("roost-boot.service"), std::string::npos);
  roost::fs::write_file_atomic("boot-id-before-reboot",
                               roost::fs::read_file("/proc/sys/kernel/random/boot_id"));
}

TEST(AfterReboot, LingeringUsersUnitStartedAtBoot) {
  ASSERT_NE(roost::fs::read_file("boot-id-before-reboot"),
            roost::fs::read_file("/proc/sys/kernel/random/boot_id"))
      << "the guest was not booted again";
  wait_until([] { return show("roost-boot.service", "ActiveState") == "active"; },
             std::chrono::seconds(120));
  EXPECT_EQ(show("roost-boot.service", "ActiveState"), "active") << diagnose("roost-boot");
  auto main_pid = show("roost-boot.service", "MainPID");
  EXPECT_EQ(roost::fs::read_file(fmt::format("/proc/{}/comm", main_pid)), "roost\n");
  ASSERT_EQ(systemctl({"stop", "roost-boot.service"}).status, 0);
  EXPECT_EQ(show("roost-boot.service", "Result"), "success") << diagnose("roost-boot");
}

namespace {

fs::path user_units_dir() {
  return fs::path(environment_or("HOME", "/home/roost")) / ".config/systemd/user";
}

// A user's own unit (not one roost generated) whose ExecStart runs `roost ARGS...`.
void write_own_unit(const std::string& name, const std::vector<std::string>& args) {
  std::string exec = roost_bin();
  for (const auto& arg : args) exec += " " + arg;
  fs::create_directories(user_units_dir());
  roost::fs::write_file_atomic(
      user_units_dir() / (name + ".service"),
      fmt::format("[Service]\nType=notify\nNotifyAccess=all\nDelegate=yes\nExecStart={}\n"
                  "ExecStop={} stop {}\n",
                  exec, roost_bin(), name));
  ASSERT_EQ(systemctl({"daemon-reload"}).status, 0);
}

std::string comm_of(const std::string& pid) {
  return roost::fs::read_file(fmt::format("/proc/{}/comm", pid));
}

// Writes roost-NAME.service with `roost generate unit --files ARGS...` and reloads.
Ran generate_unit(const std::vector<std::string>& args) {
  fs::create_directories(user_units_dir());
  std::string command =
      fmt::format("cd {} && {} generate unit --files", user_units_dir().string(), roost_bin());
  for (const auto& arg : args) command += " " + arg;
  auto generated = run({"/bin/sh", "-c", command});
  systemctl({"daemon-reload"});
  return generated;
}

}  // namespace

// The command that started the container still waits in the service's cgroup when the
// monitor splits it; everything moves into `supervisor`, the container into `container`.
TEST(Units, DetachedSplitRunInAUsersOwnUnitStaysInTheService) {
  const auto& image = units_image();
  write_own_unit("own-split", {"run", "-d", "--name", "own-split", "--cgroups=split",
                               "--pids-limit", "40", image, "unit-helper", "wait"});
  ASSERT_EQ(systemctl({"start", "own-split.service"}).status, 0) << diagnose("own-split");
  EXPECT_EQ(show("own-split.service", "ActiveState"), "active");
  auto main_pid = show("own-split.service", "MainPID");
  ASSERT_NE(main_pid, "0");
  EXPECT_EQ(comm_of(main_pid), "roost-monitor\n");
  fs::path cgroup = "/sys/fs/cgroup" + show("own-split.service", "ControlGroup");
  EXPECT_EQ(roost::fs::read_file(cgroup / "cgroup.procs"), "");
  EXPECT_EQ(roost::fs::read_file(cgroup / "supervisor/cgroup.procs"), main_pid + "\n");
  EXPECT_FALSE(roost::fs::read_file(cgroup / "container/cgroup.procs").empty());
  EXPECT_EQ(roost::fs::read_file(cgroup / "container/pids.max"), "40\n");
  auto scope = run_roost({"inspect", "--format", "{{.Scope}}", "own-split"});
  EXPECT_EQ(scope.out, "own-split.service\n") << describe(scope);
  ASSERT_EQ(systemctl({"stop", "own-split.service"}).status, 0);
  EXPECT_EQ(show("own-split.service", "ActiveState"), "inactive") << diagnose("own-split");
  EXPECT_EQ(show("own-split.service", "Result"), "success");
  auto stopped_line = [] {
    return journal_of("own-split.service").find("unit-helper: stopping on SIGTERM") !=
           std::string::npos;
  };
  wait_until(stopped_line, std::chrono::seconds(10));
  EXPECT_TRUE(stopped_line()) << diagnose("own-split");
  EXPECT_EQ(run_roost({"rm", "own-split"}).status, 0);
}

// run -d returns once the container runs; the unit is active only when the container
// says it is ready, and meanwhile no lock keeps other commands from the container.
TEST(Units, DetachedContainerReadinessIsRelayedAfterTheStarterReturned) {
  const auto& image = units_image();
  write_own_unit("own-ready", {"run", "-d", "--name", "own-ready", "--cgroups=split",
                               "--sdnotify=container", image, "unit-helper", "ready-after", "8"});
  ASSERT_EQ(systemctl({"start", "--no-block", "own-ready.service"}).status, 0);
  Ran inspected;
  wait_until(
      [&] {
        inspected = run_roost({"inspect", "--format", "{{.State.Status}}", "own-ready"});
        return inspected.out == "running\n";
      },
      std::chrono::seconds(30));
  EXPECT_EQ(inspected.out, "running\n") << describe(inspected) << diagnose("own-ready");
  // run -d returned: only the monitor is left beside the container. (The id it printed is
  // no proof in the unit's journal: journald may not credit the unit with the last line
  // of a process that has already ended.)
  fs::path cgroup = "/sys/fs/cgroup" + show("own-ready.service", "ControlGroup");
  auto starter_ended = [&] {
    try {
      auto left = roost::fs::read_file(cgroup / "supervisor/cgroup.procs");
      return std::count(left.begin(), left.end(), '\n') == 1 &&
             comm_of(left.substr(0, left.size() - 1)) == "roost-monitor\n";
    } catch (const std::exception&) {
      return false;  // the supervisor cgroup is not made yet, or a pid in it just ended
    }
  };
  wait_until(starter_ended, std::chrono::seconds(30));
  EXPECT_TRUE(starter_ended()) << "run -d did not return\n" << diagnose("own-ready");
  auto executed = run_roost({"exec", "own-ready", "echo", "reachable"});
  EXPECT_EQ(executed.out, "reachable\n") << describe(executed);
  EXPECT_EQ(show("own-ready.service", "ActiveState"), "activating") << diagnose("own-ready");
  wait_until([] { return show("own-ready.service", "ActiveState") != "activating"; },
             std::chrono::seconds(60));
  EXPECT_EQ(show("own-ready.service", "ActiveState"), "active") << diagnose("own-ready");
  EXPECT_EQ(show("own-ready.service", "StatusText"), "serving");
  auto main_pid = show("own-ready.service", "MainPID");
  ASSERT_NE(main_pid, "0");
  EXPECT_EQ(comm_of(main_pid), "roost-monitor\n");
  ASSERT_EQ(systemctl({"stop", "own-ready.service"}).status, 0);
  EXPECT_EQ(show("own-ready.service", "ActiveState"), "inactive") << diagnose("own-ready");
  EXPECT_EQ(show("own-ready.service", "Result"), "success");
  EXPECT_EQ(run_roost({"rm", "own-ready"}).status, 0);
}

// Without --cgroups=split the monitor would leave the service, and systemd would take
// neither its MAINPID nor readiness: the unit failed ("protocol") while the container ran
// on. Refused before anything is made, for the container's readiness as for roost's.
TEST(Units, DetachedRunWithoutSplitUnderANotifyServiceIsRefused) {
  const auto& image = units_image();
  write_own_unit("own-unsplit", {"run", "-d", "--name", "own-unsplit", "--sdnotify=container",
                                 image, "unit-helper", "ready-after", "1"});
  EXPECT_NE(systemctl({"start", "own-unsplit.service"}).status, 0);
  EXPECT_EQ(show("own-unsplit.service", "ExecMainStatus"), "125") << diagnose("own-unsplit");
  auto journal = journal_of("own-unsplit.service");
  EXPECT_NE(journal.find("Error: run -d under a systemd service that waits for readiness "
                         "(NOTIFY_SOCKET is set): the detached monitor would run in a scope of "
                         "its own, from where systemd takes neither its MAINPID nor READY=1; add "
                         "--cgroups=split (with Delegate=yes in the unit), or run without -d as "
                         "the units of 'roost generate unit' do\n"),
            std::string::npos)
      << journal;
  EXPECT_NE(run_roost({"inspect", "own-unsplit"}).status, 0) << "nothing is made";
  systemctl({"reset-failed", "own-unsplit.service"});
  write_own_unit("own-unsplit",
                 {"run", "-d", "--name", "own-unsplit", image, "unit-helper", "wait"});
  EXPECT_NE(systemctl({"start", "own-unsplit.service"}).status, 0);
  EXPECT_EQ(show("own-unsplit.service", "ExecMainStatus"), "125") << diagnose("own-unsplit");
  EXPECT_NE(run_roost({"inspect", "own-unsplit"}).status, 0) << "nothing is made";
  systemctl({"reset-failed", "own-unsplit.service"});
}

TEST(Units, GeneratedUnitWithNewMakesTheSavedContainerAnewEachStart) {
  const auto& image = units_image();
  auto created = run_roost({"create", "--name", "saved-new", "-e", "GREETING=hello", "-w", "/bin",
                            "--pids-limit", "30", image, "sh", "-c",
                            "echo \"$GREETING from $(pwd)\" && exec unit-helper wait"});
  ASSERT_EQ(created.status, 0) << describe(created);
  auto generated = generate_unit({"--new", "saved-new"});
  ASSERT_EQ(generated.status, 0) << describe(generated);
  auto unit = roost::fs::read_file(user_units_dir() / "roost-saved-new.service");
  for (const char* line : {"\"run\" \"--rm\" \"--name=saved-new\"", "\"--env=GREETING=hello\"",
                           "\"--workdir=/bin\"", "\nTasksMax=30\n", "exec unit-helper wait\""})
    EXPECT_NE(unit.find(line), std::string::npos) << line << "\n" << unit;
  ASSERT_EQ(systemctl({"start", "roost-saved-new.service"}).status, 0)
      << diagnose("roost-saved-new");
  EXPECT_EQ(show("roost-saved-new.service", "ActiveState"), "active");
  fs::path cgroup = "/sys/fs/cgroup" + show("roost-saved-new.service", "ControlGroup");
  EXPECT_EQ(roost::fs::read_file(cgroup / "pids.max"), "30\n");
  ASSERT_EQ(systemctl({"stop", "roost-saved-new.service"}).status, 0);
  EXPECT_EQ(show("roost-saved-new.service", "ActiveState"), "inactive")
      << diagnose("roost-saved-new");
  EXPECT_EQ(show("roost-saved-new.service", "Result"), "success");
  EXPECT_NE(journal_of("roost-saved-new.service").find("hello from /bin"), std::string::npos)
      << diagnose("roost-saved-new");
  EXPECT_NE(run_roost({"inspect", "saved-new"}).status, 0) << "--rm removed it at the stop";
}

TEST(Units, GeneratedUnitWithoutNewStartsTheExistingContainerAgainAndAgain) {
  const auto& image = units_image();
  fs::path out = fs::absolute("saved-out");
  fs::create_directories(out);
  fs::permissions(out, fs::perms::all);
  auto created = run_roost({"create", "--name", "saved", "-e", "GREETING=hi", "--pids-limit", "30",
                            "-v", out.string() + ":/out", image, "sh", "-c",
                            "printf \"$GREETING\" >> /kept; cat /kept > /out/seen; "
                            "echo \"saved says $(cat /kept)\"; exec unit-helper wait"});
  ASSERT_EQ(created.status, 0) << describe(created);
  auto generated = generate_unit({"saved"});
  ASSERT_EQ(generated.status, 0) << describe(generated);
  auto unit = roost::fs::read_file(user_units_dir() / "roost-saved.service");
  EXPECT_NE(unit.find("\"start\" \"--attach\" \"saved\"\n"), std::string::npos) << unit;
  // The writable layer is kept from one start to the next: /kept grows.
  for (const std::string kept : {"hi", "hihi"}) {
    fs::remove(out / "seen");
    ASSERT_EQ(systemctl({"start", "roost-saved.service"}).status, 0) << diagnose("roost-saved");
    EXPECT_EQ(show("roost-saved.service", "ActiveState"), "active");
    auto seen = [&] {
      return fs::exists(out / "seen") && roost::fs::read_file(out / "seen") == kept;
    };
    wait_until(seen, std::chrono::seconds(20));
    EXPECT_TRUE(seen()) << kept << "\n" << diagnose("roost-saved");
    // The unit supervises the container: it runs in the unit's cgroup, and journald
    // credits the unit with its output (it may write the line a moment later).
    auto cgroup = cgroup_of(container_pid("saved"));
    EXPECT_TRUE(cgroup.starts_with(show("roost-saved.service", "ControlGroup") + "/"))
        << cgroup << "\n"
        << diagnose("roost-saved");
    EXPECT_EQ(roost::fs::read_file("/sys/fs/cgroup" + cgroup + "/pids.max"), "30\n");
    auto said = [&] {
      return journal_of("roost-saved.service").find("saved says " + kept) != std::string::npos;
    };
    wait_until(said, std::chrono::seconds(10));
    EXPECT_TRUE(said()) << kept << "\n" << diagnose("roost-saved");
    // Once, with the container's fields: roost logs finds it as well.
    std::string line = "saved says " + kept + "\n";
    auto journal = journal_of("roost-saved.service");
    EXPECT_EQ(journal.find(line), journal.rfind(line)) << "logged twice:\n" << journal;
    auto logs = run_roost({"logs", "saved"});
    EXPECT_NE(logs.out.find(line), std::string::npos) << describe(logs);
    ASSERT_EQ(systemctl({"stop", "roost-saved.service"}).status, 0);
    EXPECT_EQ(show("roost-saved.service", "ActiveState"), "inactive") << diagnose("roost-saved");
    EXPECT_EQ(show("roost-saved.service", "Result"), "success");
    auto status = run_roost({"inspect", "--format", "{{.State.Status}}", "saved"});
    EXPECT_EQ(status.out, "exited\n") << describe(status);
  }
  EXPECT_EQ(run_roost({"rm", "saved"}).status, 0);
}

TEST(Units, GeneratedUnitForARemovedOnExitContainerNeedsNew) {
  const auto& image = units_image();
  ASSERT_EQ(run_roost({"create", "--rm", "--name", "gone", image, "unit-helper", "wait"}).status,
            0);
  auto generated = generate_unit({"gone"});
  EXPECT_EQ(generated.status, 125);
  EXPECT_EQ(generated.err,
            "Error: container gone was made with --rm: it is removed when it stops, so a unit "
            "cannot start it again; give --new for a unit that makes it anew from its "
            "configuration at every start");
  EXPECT_FALSE(fs::exists(user_units_dir() / "roost-gone.service"));
  EXPECT_EQ(run_roost({"rm", "gone"}).status, 0);
}

// The archive arrives through a pipe 8 s after the start, long past TimeoutStartSec=3:
// only the extensions roost asks for while it loads keep systemd from killing it.
TEST(Units, SlowArchiveLoadKeepsExtendingTheStartTimeout) {
  fs::path archive = units_image_as_docker_archive("slow-archive", "guest/slow:1");
  fs::path pipe = archive.parent_path() / "arriving.tar";
  fs::remove(pipe);
  ASSERT_EQ(run({"mkfifo", pipe.string()}).status, 0);
  declare("slow", fmt::format("image = \"docker-archive:{}\"\n"
                              "command = [\"unit-helper\", \"wait\"]\n"
                              "[service]\nTimeoutStartSec = \"3\"\n",
                              pipe.string()));
  auto writer =
      roost::process::start({"/usr/bin/timeout", "90", "/bin/sh", "-c",
                             fmt::format("sleep 8; cat {} > {}", archive.string(), pipe.string())});
  auto begin = Clock::now();
  auto started = systemctl({"start", "roost-slow.service"});
  EXPECT_GE(Clock::now() - begin, std::chrono::seconds(8));
  writer.wait();
  ASSERT_EQ(started.status, 0) << diagnose("roost-slow");
  EXPECT_EQ(show("roost-slow.service", "ActiveState"), "active");
  EXPECT_EQ(show("roost-slow.service", "NRestarts"), "0");
  EXPECT_NE(journal_of("roost-slow.service").find("as localhost/roost-unit-slow:latest"),
            std::string::npos)
      << diagnose("roost-slow");
  ASSERT_EQ(systemctl({"stop", "roost-slow.service"}).status, 0);
}
