// A container's life beyond one foreground run: detached containers and their monitor,
// ps, stop, kill, rm, wait, logs with the file driver, exec, inspect, create, start,
// restart and attach; what each says and leaves when the container is in the wrong
// state, when its monitor was killed, when its state file is damaged, and when two
// commands race.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const Millis kPatience(20000);

class Lifecycle : public RoostTest {
 protected:
  void SetUp() override {
    RoostTest::SetUp();
    image_ = load_busybox();
  }

  const std::string& image() const { return image_; }

  // `roost run -d --name NAME OPTIONS... IMAGE COMMAND...`; returns the id it printed.
  std::string detach(const std::string& name, const std::vector<std::string>& command,
                     const std::vector<std::string>& options = {}) {
    std::vector<std::string> args = {"run", "-d", "--name", name};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(image_);
    args.insert(args.end(), command.begin(), command.end());
    installation().remember_container(name);
    Outcome started = require_success(roost(args), "run -d " + name);
    return started.out.substr(0, started.out.find('\n'));
  }

  // `roost create --name NAME IMAGE COMMAND...`; returns the id.
  std::string create(const std::string& name, const std::vector<std::string>& command) {
    std::vector<std::string> args = {"create", "--name", name, image_};
    args.insert(args.end(), command.begin(), command.end());
    installation().remember_container(name);
    Outcome created = require_success(roost(args), "create " + name);
    return created.out.substr(0, created.out.find('\n'));
  }

  json inspect(const std::string& name) {
    Outcome shown = require_success(roost({"inspect", name}), "inspect " + name);
    return json::parse(shown.out).at(0);
  }

  std::string status_of(const std::string& name) {
    return inspect(name)["State"]["Status"].get<std::string>();
  }

  json ps_all() {
    return json::parse(require_success(roost({"ps", "-a", "--format", "json"}), "ps").out);
  }

  std::set<std::string> listed_names() {
    std::set<std::string> names;
    for (const auto& entry : ps_all()) names.insert(entry["Names"][0].get<std::string>());
    return names;
  }

  // The wait command's output: the exit code and a newline.
  std::string wait_for(const std::string& name) {
    return require_success(roost({"wait", name}), "wait " + name).out;
  }

  fs::path state_file(const std::string& id) {
    return installation().runroot() / "containers" / id / "state.json";
  }

 private:
  std::string image_;
};

bool eventually(const std::function<bool()>& condition, Millis timeout = kPatience) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(Millis(50));
  }
  return condition();
}

// Alive and not a zombie: an orphaned container is reaped by whatever init the host
// has, which may take its time.
bool process_exists(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

// Field 22 of /proc/PID/stat.
uint64_t start_time_of(pid_t pid) {
  std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int number = 3; number <= 22 && fields >> field; ++number) {
  }
  return std::stoull(field);
}

std::string error_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

// ---- run -d and its monitor ----

TEST_F(Lifecycle, DetachedRunPrintsTheIdAndReturnsWhileTheContainerRuns) {
  auto started = std::chrono::steady_clock::now();
  std::string id = detach("web", {"sleep", "1000"});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{64}"))) << id;
  json state = inspect("web")["State"];
  EXPECT_EQ(state["Status"], "running");
  pid_t pid = state["Pid"].get<pid_t>();
  ASSERT_TRUE(process_exists(pid)) << state.dump();
  EXPECT_NE(fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid"),
            fs::read_symlink("/proc/self/ns/pid"));
  EXPECT_EQ(roost({"ps", "-q"}).out, id.substr(0, 12) + "\n");
  EXPECT_EQ(roost({"ps", "-q", "--no-trunc"}).out, id + "\n");
}

TEST_F(Lifecycle, MonitorIsTheContainersParentInASessionOfItsOwn) {
  detach("web", {"sleep", "1000"});
  json state = inspect("web")["State"];
  pid_t monitor = state["Monitor"]["Pid"].get<pid_t>();
  pid_t container = state["Pid"].get<pid_t>();
  std::string stat = read_file("/proc/" + std::to_string(container) + "/stat");
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string process_state;
  pid_t parent = 0;
  fields >> process_state >> parent;
  EXPECT_EQ(parent, monitor);
  EXPECT_NE(::getsid(monitor), ::getsid(0));
  // Not a session leader: it can never acquire a controlling terminal.
  EXPECT_NE(::getsid(monitor), monitor);
  EXPECT_EQ(read_file("/proc/" + std::to_string(monitor) + "/comm"), "roost-monitor\n");
}

// Once the container runs, its monitor is roost-monitor, executed in place of the roost
// that set it up (the same pid): a static program that maps no shared library.
TEST_F(Lifecycle, MonitorOfARunningContainerIsRoostMonitorWithoutSharedLibraries) {
  detach("small", {"sleep", "1000"});
  pid_t monitor = inspect("small")["State"]["Monitor"]["Pid"].get<pid_t>();
  std::string proc = "/proc/" + std::to_string(monitor);
  // The monitor executes roost-monitor just after it tells the launcher that the
  // container runs, so run -d may return a moment before the exec.
  EXPECT_TRUE(eventually([&] {
    return fs::read_symlink(proc + "/exe").filename() == "roost-monitor";
  })) << fs::read_symlink(proc + "/exe");
  std::string maps = read_file(proc + "/maps");
  EXPECT_EQ(maps.find(".so"), std::string::npos) << maps;
}

// Even with a monitor installed on the machine: a roost outside the install directory
// must not pair with it.
TEST_F(Lifecycle, DetachedRunWithoutRoostMonitorFailsBeforeCreatingAnything) {
  fs::path lone = installation().dir() / "lone";
  fs::create_directories(lone);
  fs::copy_file(roost_binary(), lone / "roost");
  fs::permissions(lone / "roost", fs::perms(0755), fs::perm_options::replace);
  Spawn spawn = installation().spawn({"run", "-d", "--name", "alone", image(), "true"});
  spawn.argv[0] = (lone / "roost").string();
  Outcome run = rootless::run(spawn);
  EXPECT_EQ(run.exit_code, 125) << run.describe();
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err,
            "Error: roost-monitor, which keeps a detached container's output and state, "
            "is not beside roost (" +
                (lone / "roost-monitor").string() +
                "); build it with roost (ninja builds both) or use the installed roost\n");
  EXPECT_TRUE(listed_names().empty()) << ps_all().dump();
}

TEST_F(Lifecycle, RoostMonitorRefusesArgumentsThatRoostDoesNotGive) {
  std::string monitor = (fs::path(roost_binary()).parent_path() / "roost-monitor").string();
  const std::string by_hand = "roost-monitor is started by 'roost run -d', not by hand\n";
  Outcome word = rootless::run(Spawn({monitor, "--pid=first", "--pidfd=4", "--", "x"}, {}));
  EXPECT_EQ(word.exit_code, 125) << word.describe();
  EXPECT_EQ(word.err, "roost-monitor: error: --pid=first: not a number; " + by_hand);
  Outcome unknown = rootless::run(Spawn({monitor, "--colour=red"}, {}));
  EXPECT_EQ(unknown.exit_code, 125) << unknown.describe();
  EXPECT_EQ(unknown.err,
            "roost-monitor: error: --colour=red: not an option of roost-monitor; it is started by "
            "'roost run -d', not by hand\n");
  Outcome bare = rootless::run(Spawn({monitor}, {}));
  EXPECT_EQ(bare.exit_code, 125) << bare.describe();
  EXPECT_EQ(bare.err,
            "roost-monitor: error: --pid, --pidfd and the command after -- are needed; " + by_hand);
}

// What roost-monitor runs at a container's end is no command for people: hidden, and
// strict about its numbers.
TEST_F(Lifecycle, ContainerEndedCommandIsHiddenAndRefusesWhatIsNotANumber) {
  EXPECT_EQ(roost({"--help"}).out.find("__container-ended"), std::string::npos);
  Outcome status = roost({"__container-ended", "abc", "done", "0"});
  EXPECT_EQ(status.exit_code, 125) << status.describe();
  EXPECT_EQ(status.err,
            "Error: __container-ended STATUS done: not a number up to 2147483647; "
            "__container-ended is run by roost-monitor, not by hand\n");
  Outcome fd = roost({"__container-ended", "--user-namespace-fd=-1", "abc", "0", "0"});
  EXPECT_EQ(fd.exit_code, 125) << fd.describe();
  EXPECT_EQ(fd.err,
            "Error: __container-ended --user-namespace-fd -1: not a number up to 2147483647; "
            "__container-ended is run by roost-monitor, not by hand\n");
  // A container removed while it ran is no error.
  Outcome gone = roost({"__container-ended", "abc", "0", "0"});
  EXPECT_EQ(gone.exit_code, 0) << gone.describe();
  EXPECT_EQ(gone.err, "");
}

TEST_F(Lifecycle, DetachedOutputGoesToTheLogByStream) {
  detach("talk", {"sh", "-c", "echo out; echo err >&2; echo more"});
  EXPECT_EQ(wait_for("talk"), "0\n");
  Outcome logs = roost({"logs", "talk"});
  EXPECT_EQ(logs.exit_code, 0) << logs.describe();
  EXPECT_EQ(logs.out, "out\nmore\n");
  EXPECT_EQ(logs.err, "err\n");
}

TEST_F(Lifecycle, WaitPrintsTheExitCodeAndPsShowsIt) {
  std::string id = detach("three", {"sh", "-c", "sleep 0.5; exit 3"});
  EXPECT_EQ(wait_for("three"), "3\n");
  json listed = ps_all();
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["Id"], id);
  EXPECT_EQ(listed[0]["State"], "exited");
  EXPECT_EQ(listed[0]["ExitCode"], 3);
  EXPECT_EQ(roost({"ps"}).out.find("three"), std::string::npos);
  EXPECT_EQ(inspect("three")["State"]["ExitCode"], 3);
}

TEST_F(Lifecycle, WaitPrintsEachContainersCode) {
  detach("one", {"sh", "-c", "exit 1"});
  detach("two", {"sh", "-c", "exit 2"});
  Outcome waited = roost({"wait", "one", "two"});
  EXPECT_EQ(waited.exit_code, 0) << waited.describe();
  EXPECT_EQ(waited.out, "1\n2\n");
}

TEST_F(Lifecycle, DetachedCommandNotFoundFailsTheRunAndIsRecorded) {
  installation().remember_container("missing");
  Outcome run = roost({"run", "-d", "--name", "missing", image(), "no-such-program"});
  EXPECT_EQ(run.exit_code, 127) << run.describe();
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(error_line(run.err), "Error: executable file no-such-program not found in $PATH (" +
                                     std::string(kDefaultPath) + ")");
  EXPECT_EQ(status_of("missing"), "exited");
  EXPECT_EQ(inspect("missing")["State"]["ExitCode"], 127);
}

TEST_F(Lifecycle, DetachedRmOptionRemovesTheContainerWhenItEnds) {
  Outcome run = roost({"run", "-d", "--rm", "--name", "brief", image(), "sleep", "0.3"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  // The monitor removes it after the end; nothing of it stays, not even a half-removed
  // directory.
  EXPECT_TRUE(eventually([&] {
    return listed_names().empty() && fs::is_empty(installation().root() / "containers");
  })) << ps_all().dump();
}

TEST_F(Lifecycle, WaitGetsTheExitCodeOfAContainerRemovedByRmOption) {
  Outcome run =
      roost({"run", "-d", "--rm", "--name", "short", image(), "sh", "-c", "sleep 1; exit 4"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_EQ(wait_for("short"), "4\n");
  EXPECT_TRUE(eventually([&] { return listed_names().empty(); }));
}

TEST_F(Lifecycle, DetachedRmOptionWithACommandNotFoundLeavesNothing) {
  Outcome run = roost({"run", "-d", "--rm", "--name", "gone", image(), "no-such-program"});
  EXPECT_EQ(run.exit_code, 127) << run.describe();
  EXPECT_TRUE(listed_names().empty()) << ps_all().dump();
}

// Once wait has seen the end, the name is free, though the monitor may still be
// removing the container.
TEST_F(Lifecycle, AnEndedRmOptionContainerDoesNotHoldItsName) {
  for (int round = 0; round < 3; ++round) {
    Outcome run = roost({"run", "-d", "--rm", "--name", "rr2", image(), "true"});
    ASSERT_EQ(run.exit_code, 0) << "round " << round << ": " << run.describe();
    roost({"wait", "rr2"});  // fails when the container is gone already
  }
}

// Kills the monitor and the container of a detached container, as a crash would.
// Returns once both are gone: a monitor still dying would show the container as stopping.
void kill_monitor_and_container(const json& state) {
  pid_t pid = state["Process"]["Pid"].get<pid_t>();
  pid_t monitor = state["Monitor"]["Pid"].get<pid_t>();
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(pid) && !process_exists(monitor); }));
}

TEST_F(Lifecycle, RmOptionContainerLeftStoppedByACrashFreesItsName) {
  detach("crashed", {"sleep", "1000"}, {"--rm"});
  kill_monitor_and_container(inspect("crashed")["State"]);
  Outcome again = roost({"run", "-d", "--rm", "--name", "crashed", image(), "sleep", "1000"});
  EXPECT_EQ(again.exit_code, 0) << again.describe();
  json listed = ps_all();
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["State"], "running");
}

TEST_F(Lifecycle, RmOptionContainerWhoseMonitorDiedBeforeRemovingItGoesAtTheNextPs) {
  std::string id = detach("half", {"sleep", "1000"}, {"--rm"});
  kill_monitor_and_container(inspect("half")["State"]);
  json saved = json::parse(read_file(state_file(id)));
  saved["status"] = "exited";
  saved["exit_code"] = 0;
  write_file(state_file(id), saved.dump());
  EXPECT_EQ(ps_all(), json::array());
  EXPECT_TRUE(fs::is_empty(installation().root() / "containers"));
}

TEST_F(Lifecycle, DetachedTerminalOutputIsLogged) {
  detach("tty", {"sh", "-c", "test -t 1 && echo terminal"}, {"-t"});
  EXPECT_EQ(wait_for("tty"), "0\n");
  EXPECT_EQ(roost({"logs", "tty"}).out, "terminal\r\n");
}

TEST_F(Lifecycle, BackToBackForegroundRmRunsReuseTheName) {
  for (int round = 0; round < 3; ++round) {
    Outcome run = roost({"run", "--rm", "--name", "again", image(), "true"});
    ASSERT_EQ(run.exit_code, 0) << "round " << round << ": " << run.describe();
  }
  EXPECT_TRUE(listed_names().empty());
}

// ---- stop, kill, restart ----

TEST_F(Lifecycle, StopSendsSigkillAfterTheTimeoutAndSaysSo) {
  detach("stubborn", {"sleep", "1000"});
  Outcome stopped = roost({"stop", "-t", "1", "stubborn"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_EQ(stopped.out, "stubborn\n");
  EXPECT_EQ(stopped.err,
            "roost: container stubborn did not stop within 1 second after SIGTERM; sending "
            "SIGKILL\n");
  EXPECT_EQ(status_of("stubborn"), "exited");
  EXPECT_EQ(wait_for("stubborn"), "137\n");
}

// Each shell below runs as PID 1 of its namespace, which ignores a signal until its trap
// is set: the tests wait for the shell to say so before they signal it.
TEST_F(Lifecycle, StopEndsAContainerThatHandlesTheSignalQuietly) {
  detach("polite", {"sh", "-c", "trap 'exit 0' TERM; echo trapped; while :; do sleep 0.1; done"});
  ASSERT_TRUE(eventually([&] { return roost({"logs", "polite"}).out == "trapped\n"; }));
  Outcome stopped = roost({"stop", "polite"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_EQ(stopped.err, "");
  EXPECT_EQ(wait_for("polite"), "0\n");
}

TEST_F(Lifecycle, StopUsesTheStopSignalOption) {
  detach("usr1", {"sh", "-c", "trap 'exit 5' USR1; echo trapped; while :; do sleep 0.1; done"},
         {"--stop-signal", "SIGUSR1"});
  ASSERT_TRUE(eventually([&] { return roost({"logs", "usr1"}).out == "trapped\n"; }));
  EXPECT_EQ(inspect("usr1")["Config"]["StopSignal"], "SIGUSR1");
  Outcome stopped = roost({"stop", "usr1"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_EQ(stopped.err, "");
  EXPECT_EQ(wait_for("usr1"), "5\n");
}

TEST_F(Lifecycle, StopUsesTheImagesStopSignal) {
  ImageSpec spec = busybox_plus({}, {{"Cmd", {"/bin/sh"}},
                                     {"Env", {std::string("PATH=") + kDefaultPath}},
                                     {"StopSignal", "SIGUSR2"}});
  spec.name = "localhost/stopsignal:1";
  std::string image_with_signal = load(spec);
  installation().remember_container("usr2");
  require_success(roost({"run", "-d", "--name", "usr2", image_with_signal, "sh", "-c",
                         "trap 'exit 6' USR2; echo trapped; while :; do sleep 0.1; done"}),
                  "run -d usr2");
  ASSERT_TRUE(eventually([&] { return roost({"logs", "usr2"}).out == "trapped\n"; }));
  EXPECT_EQ(inspect("usr2")["Config"]["StopSignal"], "SIGUSR2");
  Outcome stopped = roost({"stop", "usr2"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_EQ(stopped.err, "");
  EXPECT_EQ(wait_for("usr2"), "6\n");
}

TEST_F(Lifecycle, StopOfAnExitedContainerIsNoError) {
  detach("done", {"true"});
  wait_for("done");
  Outcome stopped = roost({"stop", "done"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_EQ(stopped.out, "done\n");
}

TEST_F(Lifecycle, KillSendsTheSignalGiven) {
  detach("target", {"sh", "-c", "trap 'exit 9' USR2; echo trapped; while :; do sleep 0.1; done"});
  ASSERT_TRUE(eventually([&] { return roost({"logs", "target"}).out == "trapped\n"; }));
  Outcome killed = roost({"kill", "-s", "USR2", "target"});
  EXPECT_EQ(killed.exit_code, 0) << killed.describe();
  EXPECT_EQ(killed.out, "target\n");
  EXPECT_EQ(wait_for("target"), "9\n");
}

TEST_F(Lifecycle, KillSendsSigkillByDefault) {
  detach("target", {"sleep", "1000"});
  ASSERT_EQ(roost({"kill", "target"}).exit_code, 0);
  EXPECT_EQ(wait_for("target"), "137\n");
}

TEST_F(Lifecycle, KillOfAnExitedContainerIsRefused) {
  detach("done", {"true"});
  wait_for("done");
  Outcome killed = roost({"kill", "done"});
  EXPECT_EQ(killed.exit_code, 125) << killed.describe();
  EXPECT_EQ(killed.err,
            "Error: container done is exited (code 0); only a running container can be "
            "signalled\n");
  EXPECT_EQ(killed.out, "");
}

TEST_F(Lifecycle, KillWithAnUnknownSignalChangesNothing) {
  detach("target", {"sleep", "1000"});
  Outcome killed = roost({"kill", "-s", "SIGNOPE", "target"});
  EXPECT_EQ(killed.exit_code, 125) << killed.describe();
  EXPECT_EQ(killed.err,
            "Error: --signal SIGNOPE: not a signal; use a name such as SIGTERM or TERM, or a "
            "number\n");
  EXPECT_EQ(status_of("target"), "running");
}

TEST_F(Lifecycle, RestartRunsTheCommandAgainOnTheSameWritableLayer) {
  detach("counter", {"sh", "-c", "echo run >> /history; cat /history; exec sleep 1000"});
  ASSERT_TRUE(eventually([&] { return roost({"logs", "counter"}).out == "run\n"; }));
  Outcome restarted = roost({"restart", "-t", "0", "counter"});
  EXPECT_EQ(restarted.exit_code, 0) << restarted.describe();
  EXPECT_EQ(restarted.out, "counter\n");
  EXPECT_EQ(status_of("counter"), "running");
  EXPECT_TRUE(eventually([&] {
    return roost({"logs", "counter"}).out == "run\nrun\nrun\n";
  })) << roost({"logs", "counter"}).out;
}

TEST_F(Lifecycle, RestartOfAContainerThatIsNotRunningStartsIt) {
  create("idle", {"sleep", "1000"});
  Background restart(installation().spawn({"restart", "idle"}));
  Outcome restarted = restart.finish(kPatience);
  EXPECT_EQ(restarted.exit_code, 0) << restarted.describe();
  EXPECT_EQ(restarted.out, "idle\n");
  EXPECT_EQ(status_of("idle"), "running");
}

// ---- create, start ----

TEST_F(Lifecycle, CreateThenStartInTheBackground) {
  std::string id = create("later", {"sh", "-c", "echo started; exit 4"});
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{64}"))) << id;
  EXPECT_EQ(status_of("later"), "created");
  EXPECT_NE(roost({"ps", "-a"}).out.find(" Created "), std::string::npos);
  Outcome started = roost({"start", "later"});
  EXPECT_EQ(started.exit_code, 0) << started.describe();
  EXPECT_EQ(started.out, "later\n");
  EXPECT_EQ(wait_for("later"), "4\n");
  EXPECT_EQ(roost({"logs", "later"}).out, "started\n");
}

TEST_F(Lifecycle, StartAttachedGivesTheStreamsAndTheExitStatus) {
  create("attached", {"sh", "-c", "echo to-out; echo to-err >&2; exit 6"});
  Outcome started = roost({"start", "-a", "attached"});
  EXPECT_EQ(started.exit_code, 6) << started.describe();
  EXPECT_EQ(started.out, "to-out\n");
  EXPECT_EQ(started.err, "to-err\n");
  EXPECT_EQ(status_of("attached"), "exited");
}

TEST_F(Lifecycle, StartOfAStoppedContainerKeepsItsWritableLayer) {
  installation().remember_container("layer");
  Outcome first = roost({"run", "--name", "layer", image(), "sh", "-c", "echo x >> /f; cat /f"});
  ASSERT_EQ(first.exit_code, 0) << first.describe();
  EXPECT_EQ(first.out, "x\n");
  Outcome again = roost({"start", "-a", "layer"});
  EXPECT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(again.out, "x\nx\n");
}

TEST_F(Lifecycle, StartAfterTheRuntimeDirectoryWasLostRunsTheContainerAgain) {
  detach("rebooted", {"sleep", "1000"});
  json state = inspect("rebooted")["State"];
  for (const char* role : {"Monitor", "Process"})
    ASSERT_EQ(::kill(state[role]["Pid"].get<pid_t>(), SIGKILL), 0) << role;
  ASSERT_TRUE(eventually([&] { return !process_exists(state["Process"]["Pid"].get<pid_t>()); }));
  fs::remove_all(installation().runroot());
  EXPECT_EQ(status_of("rebooted"), "stopped");
  Outcome started = roost({"start", "rebooted"});
  EXPECT_EQ(started.exit_code, 0) << started.describe();
  EXPECT_EQ(status_of("rebooted"), "running");
}

TEST_F(Lifecycle, StartOfARunningContainerIsRefused) {
  detach("busy", {"sleep", "1000"});
  pid_t pid = inspect("busy")["State"]["Pid"].get<pid_t>();
  Outcome started = roost({"start", "busy"});
  EXPECT_EQ(started.exit_code, 125) << started.describe();
  EXPECT_EQ(started.err,
            "Error: container busy is running; to run its command again use 'roost restart "
            "busy'\n");
  EXPECT_EQ(inspect("busy")["State"]["Pid"], pid);
}

TEST_F(Lifecycle, TwoStartsRacingStartTheContainerOnce) {
  create("raced", {"sleep", "1000"});
  Background first(installation().spawn({"start", "raced"}));
  Background second(installation().spawn({"start", "raced"}));
  Outcome a = first.finish(kPatience);
  Outcome b = second.finish(kPatience);
  std::multiset<int> codes = {a.exit_code, b.exit_code};
  EXPECT_EQ(codes, (std::multiset<int>{0, 125})) << a.describe() << b.describe();
  const Outcome& loser = a.exit_code == 125 ? a : b;
  EXPECT_EQ(loser.err,
            "Error: container raced is running; to run its command again use 'roost restart "
            "raced'\n");
  EXPECT_EQ(status_of("raced"), "running");
}

TEST_F(Lifecycle, StopAndForcedRmRacingLeaveNothingBehind) {
  detach("doomed", {"sleep", "1000"});
  pid_t pid = inspect("doomed")["State"]["Pid"].get<pid_t>();
  Background stop(installation().spawn({"stop", "-t", "2", "doomed"}));
  Background remove(installation().spawn({"rm", "-f", "doomed"}));
  Outcome stopped = stop.finish(kPatience);
  Outcome removed = remove.finish(kPatience);
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  if (stopped.exit_code != 0) {
    EXPECT_EQ(stopped.exit_code, 125) << stopped.describe();
    EXPECT_TRUE(stopped.err == "Error: no container named doomed; see 'roost ps -a'\n" ||
                stopped.err == "Error: container doomed was removed meanwhile\n")
        << stopped.describe();
  }
  EXPECT_FALSE(process_exists(pid));
  EXPECT_TRUE(listed_names().empty());
  EXPECT_TRUE(fs::is_empty(installation().root() / "containers"));
}

// ---- rm, prune ----

TEST_F(Lifecycle, RmOfARunningContainerNeedsForce) {
  std::string id = detach("live", {"sleep", "1000"});
  pid_t pid = inspect("live")["State"]["Pid"].get<pid_t>();
  Outcome refused = roost({"rm", "live"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err,
            "Error: container live is running; stop it first or use 'roost rm -f live'\n");
  EXPECT_EQ(status_of("live"), "running");
  Outcome forced = roost({"rm", "-f", "live"});
  EXPECT_EQ(forced.exit_code, 0) << forced.describe();
  EXPECT_EQ(forced.out, id + "\n");
  EXPECT_FALSE(process_exists(pid));
  EXPECT_TRUE(listed_names().empty());
  Outcome twice = roost({"rm", "-f", "live"});
  EXPECT_EQ(twice.exit_code, 0) << twice.describe();
  EXPECT_EQ(twice.out, "");
  Outcome without_force = roost({"rm", "live"});
  EXPECT_EQ(without_force.exit_code, 125);
  EXPECT_EQ(without_force.err, "Error: no container named live; see 'roost ps -a'\n");
}

TEST_F(Lifecycle, RmOfSeveralChecksAllBeforeRemovingAny) {
  detach("idle", {"true"});
  detach("live", {"sleep", "1000"});
  wait_for("idle");
  Outcome refused = roost({"rm", "idle", "live"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(listed_names(), (std::set<std::string>{"idle", "live"}));
  Outcome all = roost({"rm", "-a"});
  EXPECT_EQ(all.exit_code, 125) << all.describe();
  EXPECT_EQ(listed_names(), (std::set<std::string>{"idle", "live"}));
  Outcome forced = roost({"rm", "-a", "-f"});
  EXPECT_EQ(forced.exit_code, 0) << forced.describe();
  EXPECT_TRUE(listed_names().empty());
}

TEST_F(Lifecycle, PruneRemovesWhatIsNotRunning) {
  std::string first = detach("first", {"true"});
  std::string second = create("second", {"true"});
  detach("live", {"sleep", "1000"});
  wait_for("first");
  Outcome pruned = roost({"container", "prune"});
  EXPECT_EQ(pruned.exit_code, 0) << pruned.describe();
  std::set<std::string> ids;
  for (const auto& line : lines_of(pruned.out)) ids.insert(line);
  EXPECT_EQ(ids, (std::set<std::string>{first, second}));
  EXPECT_EQ(listed_names(), (std::set<std::string>{"live"}));
}

// ---- a killed monitor, a reboot, a damaged state file ----

TEST_F(Lifecycle, KilledMonitorLeavesTheContainerRunningAndRmForceEndsIt) {
  std::string id = detach("orphan", {"sleep", "1000"});
  json state = inspect("orphan")["State"];
  pid_t monitor = state["Monitor"]["Pid"].get<pid_t>();
  pid_t pid = state["Pid"].get<pid_t>();
  ASSERT_EQ(::kill(monitor, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return !process_exists(monitor); }));
  EXPECT_EQ(status_of("orphan"), "running");
  Outcome removed = roost({"rm", "-f", "orphan"});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_EQ(removed.out, id + "\n");
  EXPECT_TRUE(eventually([&] { return !process_exists(pid); }));
  EXPECT_TRUE(listed_names().empty());
}

TEST_F(Lifecycle, ContainerEndingAfterItsMonitorWasKilledIsStopped) {
  detach("orphan", {"sleep", "1"});
  json state = inspect("orphan")["State"];
  ASSERT_EQ(::kill(state["Monitor"]["Pid"].get<pid_t>(), SIGKILL), 0);
  pid_t pid = state["Pid"].get<pid_t>();
  ASSERT_TRUE(eventually([&] { return !process_exists(pid); }));
  json listed = ps_all();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["State"], "stopped");
  EXPECT_EQ(listed[0]["ExitCode"], nullptr);
  EXPECT_EQ(roost({"ps"}).out.find("orphan"), std::string::npos);
  EXPECT_EQ(wait_for("orphan"), "-1\n");
  Outcome removed = roost({"rm", "orphan"});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
}

// A state file that names a living process with the right start time but another boot
// (the runtime directory outlived a reboot) must not be believed.
TEST_F(Lifecycle, StateFromAnotherBootIsNotRunning) {
  std::string id = detach("rebooted", {"true"});
  wait_for("rebooted");
  json saved = json::parse(read_file(state_file(id)));
  json process = {{"pid", ::getpid()},
                  {"start_time", start_time_of(::getpid())},
                  {"boot_id", "00000000-0000-0000-0000-000000000000"}};
  saved["status"] = "running";
  saved["process"] = process;
  saved["monitor"] = process;
  write_file(state_file(id), saved.dump());
  EXPECT_EQ(status_of("rebooted"), "stopped");
  Outcome killed = roost({"kill", "rebooted"});
  EXPECT_EQ(killed.exit_code, 125) << killed.describe();
  EXPECT_TRUE(process_exists(::getpid()));
}

TEST_F(Lifecycle, StateWithAReusedPidIsNotRunning) {
  std::string id = detach("reused", {"true"});
  wait_for("reused");
  json saved = json::parse(read_file(state_file(id)));
  std::string boot_id = read_file("/proc/sys/kernel/random/boot_id");
  boot_id.pop_back();
  json process = {
      {"pid", ::getpid()}, {"start_time", start_time_of(::getpid()) + 1}, {"boot_id", boot_id}};
  saved["status"] = "running";
  saved["process"] = process;
  saved["monitor"] = process;
  write_file(state_file(id), saved.dump());
  EXPECT_EQ(status_of("reused"), "stopped");
  Outcome stopped = roost({"stop", "reused"});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_TRUE(process_exists(::getpid()));
  EXPECT_EQ(json::parse(read_file(state_file(id)))["status"], "stopped");
}

TEST_F(Lifecycle, CorruptStateIsMarkedAndRmForceRemovesIt) {
  std::string broken = detach("broken", {"true"});
  detach("fine", {"true"});
  wait_for("broken");
  wait_for("fine");
  write_file(state_file(broken), "{\"status\": \"runn");
  json listed = ps_all();
  ASSERT_EQ(listed.size(), 2u) << listed.dump();
  std::map<std::string, std::string> states;
  for (const auto& entry : listed) states[entry["Names"][0]] = entry["State"];
  EXPECT_EQ(states,
            (std::map<std::string, std::string>{{"broken", "corrupt"}, {"fine", "exited"}}));
  Outcome refused = roost({"rm", "broken"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err.rfind("Error: container broken is corrupt (unreadable state ", 0), 0u)
      << refused.err;
  Outcome removed = roost({"rm", "-f", "broken"});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_EQ(removed.out, broken + "\n");
  EXPECT_EQ(listed_names(), (std::set<std::string>{"fine"}));
}

TEST_F(Lifecycle, CommandsOnACorruptStateNameTheFileAndTheForcedRemoval) {
  std::string broken = detach("broken", {"true"});
  wait_for("broken");
  write_file(state_file(broken), "{\"status\": \"runn");
  for (const char* command : {"stop", "kill", "start"}) {
    Outcome refused = roost({command, "broken"});
    EXPECT_EQ(refused.exit_code, 125) << refused.describe();
    EXPECT_EQ(refused.err, "Error: container broken is corrupt (unreadable state " +
                               state_file(broken).string() +
                               ": not valid JSON (at byte 17)); remove it with 'roost rm -f "
                               "broken'\n")
        << refused.describe();
  }
  require_success(roost({"rm", "-f", "broken"}), "the suggested rm -f broken");
}

TEST_F(Lifecycle, CorruptConfigurationIsListedByIdAndRmForceRemovesIt) {
  std::string broken = create("broken", {"true"});
  create("fine", {"true"});
  write_file(installation().root() / "containers" / broken / "config.json", "not json");
  json listed = ps_all();
  ASSERT_EQ(listed.size(), 2u) << listed.dump();
  std::map<std::string, std::string> states;
  for (const auto& entry : listed) states[entry["Id"]] = entry["State"];
  EXPECT_EQ(states[broken], "corrupt") << listed.dump();
  Outcome removed = roost({"rm", "-f", broken.substr(0, 12)});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_EQ(removed.out, broken + "\n");
  EXPECT_EQ(listed_names(), (std::set<std::string>{"fine"}));
}

// rm -f of a container whose files are damaged still ends its monitor and its process.
class DamagedRunning : public Lifecycle {
 protected:
  void start(const std::string& name) {
    id_ = detach(name, {"sleep", "1000"});
    json state = inspect(name)["State"];
    pids_ = {state["Pid"].get<pid_t>(), state["Monitor"]["Pid"].get<pid_t>()};
  }
  void damage_state() { write_file(state_file(id_), "{\"status\": \"runn"); }
  void damage_config() {
    write_file(installation().root() / "containers" / id_ / "config.json", "not json");
  }
  void expect_forced_rm_ends_everything() {
    Outcome removed = roost({"rm", "-f", id_.substr(0, 12)});
    EXPECT_EQ(removed.exit_code, 0) << removed.describe();
    EXPECT_EQ(removed.out, id_ + "\n");
    for (pid_t pid : pids_)
      EXPECT_TRUE(eventually([&] { return !process_exists(pid); })) << "pid " << pid;
    EXPECT_TRUE(listed_names().empty());
  }

 private:
  std::string id_;
  std::vector<pid_t> pids_;
};

TEST_F(DamagedRunning, CorruptStateOfARunningContainer) {
  start("broken");
  damage_state();
  expect_forced_rm_ends_everything();
}

TEST_F(DamagedRunning, CorruptConfigurationOfARunningContainer) {
  start("broken");
  damage_config();
  expect_forced_rm_ends_everything();
}

TEST_F(DamagedRunning, CorruptConfigurationAndStateOfARunningContainer) {
  start("broken");
  damage_config();
  damage_state();
  expect_forced_rm_ends_everything();
}

TEST_F(Lifecycle, CorruptStateOfAForegroundRunAndRmForceEndsIt) {
  installation().remember_container("fore");
  Background run(installation().spawn({"run", "--name", "fore", image(), "sleep", "1000"}));
  ASSERT_TRUE(eventually([&] {
    return roost({"inspect", "fore"}).exit_code == 0 && status_of("fore") == "running";
  }));
  json shown = inspect("fore");
  pid_t pid = shown["State"]["Pid"].get<pid_t>();
  ASSERT_TRUE(process_exists(pid)) << shown.dump();
  write_file(state_file(shown["Id"].get<std::string>()), "{\"status\": \"runn");
  ASSERT_EQ(ps_all().at(0)["State"], "corrupt");
  Outcome removed = roost({"rm", "-f", "fore"});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_TRUE(eventually([&] { return !process_exists(pid); })) << "container pid " << pid;
  EXPECT_TRUE(eventually([&] { return !process_exists(run.pid()); })) << "roost run";
  EXPECT_TRUE(listed_names().empty());
}

// ---- names and ids ----

TEST_F(Lifecycle, NamesAreUnique) {
  std::string id = detach("dup", {"sleep", "1000"});
  Outcome second = roost({"create", "--name", "dup", image(), "true"});
  EXPECT_EQ(second.exit_code, 125) << second.describe();
  EXPECT_EQ(second.err, "Error: the name dup is in use by container " + id.substr(0, 12) +
                            " (running); remove it with 'roost rm -f dup' or choose another "
                            "--name\n");
  EXPECT_EQ(listed_names(), (std::set<std::string>{"dup"}));
}

TEST_F(Lifecycle, BadNamesAreRefused) {
  Outcome created = roost({"create", "--name", "-bad/name", image(), "true"});
  EXPECT_EQ(created.exit_code, 125) << created.describe();
  EXPECT_EQ(error_line(created.err),
            "Error: --name -bad/name: a container name starts with a letter or digit and holds "
            "only letters, digits, '_', '.' and '-'");
  EXPECT_TRUE(listed_names().empty());
}

TEST_F(Lifecycle, ANameOfSixtyFourHexDigitsIsRefused) {
  std::string id = create("first", {"true"});
  for (const auto& name : {id, std::string(64, 'a')}) {
    Outcome created = roost({"create", "--name", name, image(), "true"});
    EXPECT_EQ(created.exit_code, 125) << created.describe();
    EXPECT_EQ(created.err, "Error: --name " + name +
                               ": 64 hexadecimal digits are read as a container id; choose "
                               "another name\n");
  }
  EXPECT_EQ(listed_names(), (std::set<std::string>{"first"}));
  EXPECT_EQ(inspect(id)["Name"], "first");
}

TEST_F(Lifecycle, AnyUniqueIdPrefixNamesTheContainer) {
  std::string id = detach("prefixed", {"sleep", "1000"});
  EXPECT_EQ(inspect(id.substr(0, 5))["Name"], "prefixed");
  EXPECT_EQ(inspect(id)["Name"], "prefixed");
  Outcome stopped = roost({"stop", "-t", "0", id.substr(0, 7)});
  EXPECT_EQ(stopped.exit_code, 0) << stopped.describe();
  EXPECT_EQ(status_of("prefixed"), "exited");
}

TEST_F(Lifecycle, InspectOfSeveralContainersKeepsTheOrderGiven) {
  std::string first = create("first", {"true"});
  create("second", {"true"});
  create("third", {"true"});
  Outcome shown = require_success(roost({"inspect", "third", first.substr(0, 8), "second"}),
                                  "inspect of three");
  json entries = json::parse(shown.out);
  ASSERT_EQ(entries.size(), 3u) << shown.out;
  EXPECT_EQ(entries[0]["Name"], "third");
  EXPECT_EQ(entries[1]["Name"], "first");
  EXPECT_EQ(entries[1]["Id"], first);
  EXPECT_EQ(entries[2]["Name"], "second");

  Outcome refused = roost({"inspect", "first", "nosuch", "second"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(refused.err, "Error: no container named nosuch; see 'roost ps -a'\n");
}

TEST_F(Lifecycle, AnAmbiguousPrefixIsRefused) {
  std::map<char, int> first_digits;
  char shared = 0;
  for (int n = 0; shared == 0 && n < 17; ++n) {
    std::string id = create("c" + std::to_string(n), {"true"});
    if (++first_digits[id[0]] == 2) shared = id[0];
  }
  ASSERT_NE(shared, 0);
  Outcome shown = roost({"inspect", std::string(1, shared)});
  EXPECT_EQ(shown.exit_code, 125) << shown.describe();
  EXPECT_EQ(shown.err.rfind("Error: container id prefix " + std::string(1, shared) +
                                " is ambiguous: 2 containers match",
                            0),
            0u)
      << shown.err;
}

TEST_F(Lifecycle, EveryCommandNamesAnUnknownContainer) {
  for (const auto& command : std::vector<std::vector<std::string>>{{"start", "nosuch"},
                                                                   {"stop", "nosuch"},
                                                                   {"kill", "nosuch"},
                                                                   {"restart", "nosuch"},
                                                                   {"wait", "nosuch"},
                                                                   {"inspect", "nosuch"},
                                                                   {"logs", "nosuch"},
                                                                   {"exec", "nosuch", "true"},
                                                                   {"rm", "nosuch"}}) {
    Outcome failed = roost(command);
    EXPECT_EQ(failed.exit_code, 125) << failed.describe();
    EXPECT_EQ(failed.err, "Error: no container named nosuch; see 'roost ps -a'\n")
        << failed.describe();
    EXPECT_EQ(failed.out, "");
  }
}

TEST_F(Lifecycle, AnEmptyContainerNameIsAUsageError) {
  create("present", {"true"});
  for (const auto& command : std::vector<std::vector<std::string>>{
           {"inspect", ""}, {"start", ""}, {"rm", ""}, {"rm", "-f", ""}}) {
    Outcome failed = roost(command);
    EXPECT_EQ(failed.exit_code, 125) << failed.describe();
    EXPECT_EQ(failed.err,
              "Error: \"\": an empty container name or id names no container; see 'roost ps "
              "-a'\n")
        << failed.describe();
  }
  EXPECT_EQ(listed_names(), (std::set<std::string>{"present"}));
}

TEST_F(Lifecycle, NoCommandIsAUsageErrorWithTheHelpOnStderr) {
  Outcome bare = roost({});
  EXPECT_EQ(bare.exit_code, 125) << bare.describe();
  EXPECT_EQ(bare.out, "");
  EXPECT_NE(bare.err.find("Run 'roost COMMAND --help'"), std::string::npos) << bare.err;
  Outcome asked = roost({"--help"});
  EXPECT_EQ(asked.exit_code, 0) << asked.describe();
  EXPECT_EQ(asked.out, bare.err);
}

// ---- inspect ----

TEST_F(Lifecycle, InspectShowsConfigurationStateMountsAndIds) {
  fs::create_directories(scratch("data"));
  std::string id = detach("seen", {"sleep", "1000"},
                          {"-e", "GREETING=hi", "-v", scratch("data").string() + ":/data:ro"});
  json shown = inspect("seen");
  EXPECT_EQ(shown["Id"], id);
  EXPECT_EQ(shown["Name"], "seen");
  EXPECT_EQ(shown["ImageName"], image());
  EXPECT_EQ(shown["Config"]["Cmd"], json({"sleep", "1000"}));
  auto env = shown["Config"]["Env"].get<std::vector<std::string>>();
  EXPECT_NE(std::find(env.begin(), env.end(), "GREETING=hi"), env.end());
  EXPECT_EQ(shown["State"]["Status"], "running");
  EXPECT_TRUE(shown["State"]["Running"].get<bool>());
  EXPECT_TRUE(process_exists(shown["State"]["Pid"].get<pid_t>()));
  EXPECT_EQ(shown["State"]["ExitCode"], nullptr);
  EXPECT_EQ(shown["Mounts"],
            json::parse(R"([{"Type": "bind", "Source": ")" + scratch("data").string() +
                        R"(", "Destination": "/data", "RW": false}])"));
  EXPECT_EQ(shown["IdMappings"]["UidMap"][0],
            json({{"ContainerID", 0}, {"HostID", ::getuid()}, {"Size", 1}}));
  EXPECT_EQ(shown["LogPath"], (installation().root() / "containers" / id / "ctr.log").string());
}

// ---- logs ----

TEST_F(Lifecycle, LogsTailSinceUntilAndTimestamps) {
  detach("lines", {"sh", "-c", "echo one; echo two; echo three"});
  wait_for("lines");
  EXPECT_EQ(roost({"logs", "lines"}).out, "one\ntwo\nthree\n");
  EXPECT_EQ(roost({"logs", "--tail", "2", "lines"}).out, "two\nthree\n");
  EXPECT_EQ(roost({"logs", "-n", "0", "lines"}).out, "");
  EXPECT_EQ(roost({"logs", "--since", "1h", "lines"}).out, "one\ntwo\nthree\n");
  EXPECT_EQ(roost({"logs", "--since", "2099-01-01T00:00:00Z", "lines"}).out, "");
  EXPECT_EQ(roost({"logs", "--since", "2099-01-01T02:00:00+02:00", "lines"}).out, "");
  EXPECT_EQ(roost({"logs", "--until", "1.5", "lines"}).out, "");
  auto hour_ago = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count() -
                  3600;
  EXPECT_EQ(roost({"logs", "--since", std::to_string(hour_ago) + ".25", "lines"}).out,
            "one\ntwo\nthree\n");
  std::vector<std::string> stamped = lines_of(roost({"logs", "--timestamps", "lines"}).out);
  ASSERT_EQ(stamped.size(), 3u);
  std::regex stamp(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (one|two|three))");
  for (const auto& line : stamped) EXPECT_TRUE(std::regex_match(line, stamp)) << line;
}

TEST_F(Lifecycle, LogsRefusesABadTime) {
  detach("lines", {"true"});
  Outcome refused = roost({"logs", "--since", "yesterday", "lines"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err,
            "Error: --since yesterday: not a time; use RFC 3339 (2024-05-01T12:00:00Z or with an "
            "offset), Unix seconds (1714564800.5) or a duration back from now (10m, 1h30m)\n");
}

TEST_F(Lifecycle, LogsKeepALastLineWithoutNewline) {
  detach("unfinished", {"printf", "a\\nb"});
  wait_for("unfinished");
  EXPECT_EQ(roost({"logs", "unfinished"}).out, "a\nb");
  EXPECT_EQ(roost({"logs", "--tail", "1", "unfinished"}).out, "b");
}

TEST_F(Lifecycle, LogsFollowEndsWithTheContainerAndMissesNothing) {
  detach("stream",
         {"sh", "-c", "for i in $(seq 1 300); do echo line $i; done; sleep 1; echo last"});
  Outcome followed = roost({"logs", "-f", "stream"});
  EXPECT_EQ(followed.exit_code, 0) << followed.describe();
  std::string expected;
  for (int i = 1; i <= 300; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(followed.out, expected + "last\n");
}

TEST_F(Lifecycle, LogsHoldEverythingOfABurst) {
  detach("burst", {"sh", "-c", "seq 1 50000; seq 1 20000 >&2"});
  EXPECT_EQ(wait_for("burst"), "0\n");
  Outcome logs = roost({"logs", "burst"});
  std::string out, err;
  for (int i = 1; i <= 50000; ++i) out += std::to_string(i) + "\n";
  for (int i = 1; i <= 20000; ++i) err += std::to_string(i) + "\n";
  EXPECT_TRUE(logs.out == out) << "stdout holds " << logs.out.size() << " bytes";
  EXPECT_TRUE(logs.err == err) << "stderr holds " << logs.err.size() << " bytes";
}

TEST_F(Lifecycle, LogsAreRotatedBySizeAndReadAcrossTheRotation) {
  std::string id = detach("rotated", {"sh", "-c", "for i in $(seq 1 400); do echo line $i; done"},
                          {"--log-opt", "max-size=4k"});
  wait_for("rotated");
  fs::path log = installation().root() / "containers" / id / "ctr.log";
  EXPECT_LE(fs::file_size(log), 4096u);
  ASSERT_TRUE(fs::exists(log.string() + ".1"));
  EXPECT_LE(fs::file_size(log.string() + ".1"), 4096u);
  std::vector<std::string> lines = lines_of(roost({"logs", "rotated"}).out);
  ASSERT_GT(lines.size(), 10u);
  int first = std::stoi(lines.front().substr(5));
  for (size_t i = 0; i < lines.size(); ++i)
    EXPECT_EQ(lines[i], "line " + std::to_string(first + static_cast<int>(i)));
  EXPECT_EQ(lines.back(), "line 400");
}

// A follower slower than the writer reads every kept file to its end and counts the
// lines of files rotated away before it reached them: none vanish unsaid.
TEST_F(Lifecycle, LogsFollowBehindManyRotationsCountsWhatItLost) {
  std::string id =
      detach("rot", {"sh", "-c", "sleep 1; seq 1 100000"}, {"--log-opt", "max-size=100k"});
  std::string command;
  for (const auto& arg : installation().argv({"logs", "-f", "rot"})) command += "'" + arg + "' ";
  Spawn slow({"/bin/sh", "-c", command + "| (sleep 4; wc -l)"}, installation().env());
  Outcome followed = run(slow);
  ASSERT_EQ(followed.exit_code, 0) << followed.describe();
  uint64_t read = std::stoull(followed.out);
  uint64_t lost_lines = 0;
  std::regex lost("roost: ([0-9]+) log lines were lost");
  for (std::sregex_iterator gap(followed.err.begin(), followed.err.end(), lost), end; gap != end;
       ++gap)
    lost_lines += std::stoull((*gap)[1]);
  EXPECT_EQ(read + lost_lines, 100000u) << followed.describe();
  EXPECT_EQ(read == 100000u, followed.err.empty()) << followed.describe();
  fs::path log = installation().root() / "containers" / id / "ctr.log";
  EXPECT_TRUE(fs::exists(log.string() + ".4"));
  EXPECT_FALSE(fs::exists(log.string() + ".5"));
}

// Lines longer than a read are split into pieces, and a file ends in the middle of one:
// a follower that falls behind leaves out the pieces of lines it lost, counts those
// lines, and prints every other line whole.
TEST_F(Lifecycle, LogsFollowBehindLongLinesPrintsNoPieceOfALostLine) {
  detach("long",
         {"sh", "-c",
          "pad=$(printf '%40000s' '' | tr ' ' x); sleep 1; "
          "for i in $(seq 1 300); do echo \"$i $pad\"; done"},
         {"--log-opt", "max-size=100k"});
  std::string command;
  for (const auto& arg : installation().argv({"logs", "-f", "long"})) command += "'" + arg + "' ";
  Spawn slow({"/bin/sh", "-c", command + "| (sleep 4; cat)"}, installation().env());
  Outcome followed = run(slow);
  ASSERT_EQ(followed.exit_code, 0) << followed.err;
  const std::string pad(40000, 'x');
  uint64_t whole = 0;
  int previous = 0;
  for (const auto& line : lines_of(followed.out)) {
    auto space = line.find(' ');
    ASSERT_NE(space, std::string::npos) << "a piece: " << line.substr(0, 60);
    int number = std::stoi(line.substr(0, space));
    EXPECT_EQ(line.substr(space + 1), pad) << "line " << number << " is not whole";
    EXPECT_GT(number, previous);
    previous = number;
    ++whole;
  }
  uint64_t lost_lines = 0;
  std::regex lost("roost: ([0-9]+) log lines were lost");
  for (std::sregex_iterator gap(followed.err.begin(), followed.err.end(), lost), end; gap != end;
       ++gap)
    lost_lines += std::stoull((*gap)[1]);
  EXPECT_GT(lost_lines, 0u) << followed.err;
  EXPECT_EQ(whole + lost_lines, 300u) << followed.err;
}

TEST_F(Lifecycle, NoneLogDriverKeepsNoLog) {
  detach("quiet", {"echo", "lost"}, {"--log-driver", "none"});
  wait_for("quiet");
  Outcome logs = roost({"logs", "quiet"});
  EXPECT_EQ(logs.exit_code, 125);
  EXPECT_EQ(logs.err,
            "Error: container quiet keeps no log: it was created with --log-driver none\n");
}

// ---- exec ----

TEST_F(Lifecycle, ExecJoinsEveryNamespaceOfTheContainer) {
  detach("host", {"sleep", "1000"}, {"--hostname", "inside", "--network", "none"});
  pid_t pid = inspect("host")["State"]["Pid"].get<pid_t>();
  std::string probe = "hostname";
  std::vector<std::string> kinds = {"user", "mnt", "pid", "uts", "ipc", "net"};
  for (const auto& kind : kinds) probe += "; readlink /proc/self/ns/" + kind;
  Outcome joined = roost({"exec", "host", "sh", "-c", probe});
  ASSERT_EQ(joined.exit_code, 0) << joined.describe();
  std::vector<std::string> lines = lines_of(joined.out);
  ASSERT_EQ(lines.size(), kinds.size() + 1) << joined.out;
  EXPECT_EQ(lines[0], "inside");
  for (size_t i = 0; i < kinds.size(); ++i)
    EXPECT_EQ(lines[i + 1],
              fs::read_symlink("/proc/" + std::to_string(pid) + "/ns/" + kinds[i]).string())
        << kinds[i];
}

TEST_F(Lifecycle, ExecSeesTheContainersRootProcessesAndEnvironment) {
  detach("env", {"sh", "-c", "echo made > /marker; exec sleep 1000"}, {"-e", "FROM_RUN=yes"});
  ASSERT_TRUE(eventually([&] { return roost({"exec", "env", "cat", "/marker"}).out == "made\n"; }));
  Outcome seen = roost({"exec", "env", "sh", "-c", "cat /proc/1/comm; echo $FROM_RUN; pwd"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "sleep\nyes\n/\n");
}

TEST_F(Lifecycle, ExecTakesUserWorkdirAndEnvironment) {
  detach("opts", {"sleep", "1000"});
  Outcome seen = roost({"exec", "-u", "1000", "-w", "/tmp", "-e", "FOO=bar", "opts", "sh", "-c",
                        "id -u; pwd; echo $FOO"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "1000\n/tmp\nbar\n");
}

// As podman: a working directory the container lacks is an error, status 127, and the
// exec does not make it.
TEST_F(Lifecycle, ExecIntoAMissingWorkdirFailsAndMakesNothing) {
  detach("nodir", {"sleep", "1000"});
  Outcome refused = roost({"exec", "-w", "/nonexistent", "nodir", "pwd"});
  EXPECT_EQ(refused.exit_code, 127) << refused.describe();
  EXPECT_EQ(refused.out, "");
  EXPECT_EQ(refused.err,
            "Error: working directory /nonexistent does not exist in the container; name an "
            "existing directory with -w or create it first\n");
  Outcome looked = roost({"exec", "nodir", "sh", "-c", "test -e /nonexistent || echo absent"});
  EXPECT_EQ(looked.out, "absent\n") << looked.describe();
}

TEST_F(Lifecycle, ExecFollowsRunsExitStatusRules) {
  detach("codes", {"sleep", "1000"});
  EXPECT_EQ(roost({"exec", "codes", "sh", "-c", "exit 3"}).exit_code, 3);
  EXPECT_EQ(roost({"exec", "codes", "sh", "-c", "kill -TERM $$"}).exit_code, 143);
  Outcome missing = roost({"exec", "codes", "no-such-program"});
  EXPECT_EQ(missing.exit_code, 127) << missing.describe();
  EXPECT_EQ(missing.err, "Error: executable file no-such-program not found in $PATH (" +
                             std::string(kDefaultPath) + ")\n");
  Outcome directory = roost({"exec", "codes", "/etc"});
  EXPECT_EQ(directory.exit_code, 126) << directory.describe();
}

TEST_F(Lifecycle, ExecPassesStandardInputWithInteractive) {
  detach("cat", {"sleep", "1000"});
  Spawn spawn = installation().spawn({"exec", "-i", "cat", "cat"});
  spawn.input = "through stdin\n";
  Outcome piped = run(spawn);
  EXPECT_EQ(piped.exit_code, 0) << piped.describe();
  EXPECT_EQ(piped.out, "through stdin\n");
}

TEST_F(Lifecycle, ExecWithATerminalGetsOneFromTheContainer) {
  detach("pty", {"sleep", "1000"});
  PtySession terminal(installation().spawn({"exec", "-t", "pty", "sh", "-c",
                                            "tty; test -t 0 && test -t 1 && echo all-terminals"}),
                      30, 90);
  EXPECT_EQ(terminal.finish(kPatience), 0) << terminal.screen();
  std::vector<std::string> lines = lines_of(terminal.screen());
  std::erase(lines, "");
  EXPECT_EQ(lines, (std::vector<std::string>{"/dev/pts/0", "all-terminals"})) << terminal.screen();
}

TEST_F(Lifecycle, ExecWithATerminalFromAPipeWarnsAndGoesOnWithoutOne) {
  detach("piped", {"sleep", "1000"});
  Spawn spawn = installation().spawn(
      {"exec", "-it", "piped", "sh", "-c", "cat; test -t 0 || test -t 1 || echo no-terminal"});
  spawn.input = "through stdin\n";
  Outcome piped = run(spawn);
  EXPECT_EQ(piped.exit_code, 0) << piped.describe();
  EXPECT_EQ(piped.out, "through stdin\nno-terminal\n");
  EXPECT_EQ(piped.err,
            "roost: warning: -it: standard input is not a terminal; going on without one, as "
            "with -i alone\n");
}

TEST_F(Lifecycle, ExecRefusesAnEmptyCommandAndBadUsers) {
  detach("target", {"sleep", "1000"});
  std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"exec", "target", ""},
       "Error: roost exec target: the command is an empty string (''); name a program to run "
       "in it\n"},
      {{"exec", "-u", "", "target", "true"},
       "Error: -u '': the user is empty; give a user name or uid (USER[:GROUP])\n"},
      {{"exec", "-u", "99999999999", "target", "true"},
       "Error: -u 99999999999: uid 99999999999 is out of range; use a uid from 0 to "
       "2147483647\n"},
      {{"exec", "-u", "-5", "target", "true"},
       "Error: -u -5: uid -5 is negative; use a uid from 0 to 2147483647\n"},
  };
  for (const auto& [args, expected] : cases) {
    Outcome refused = roost(args);
    EXPECT_EQ(refused.exit_code, 125) << refused.describe();
    EXPECT_EQ(refused.err, expected) << refused.describe();
  }
  EXPECT_EQ(status_of("target"), "running");
}

TEST_F(Lifecycle, ExecIntoAStoppedContainerIsRefused) {
  detach("over", {"true"});
  wait_for("over");
  Outcome refused = roost({"exec", "over", "true"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err,
            "Error: container over is exited (code 0); start it with 'roost start over'\n");
}

// ---- attach ----

TEST_F(Lifecycle, AttachReachesTheTerminalDetachesAndReattaches) {
  detach("shell", {"sh"}, {"-i", "-t"});
  {
    PtySession first(installation().spawn({"attach", "shell"}), 30, 100);
    first.type("stty size; echo hello-$((6*7))\n");
    ASSERT_TRUE(first.wait_for_output("hello-42", kPatience)) << first.screen();
    EXPECT_NE(first.screen().find("30 100"), std::string::npos) << first.screen();
    first.type("\x10\x11");
    EXPECT_EQ(first.finish(kPatience), 0) << first.screen();
  }
  EXPECT_EQ(status_of("shell"), "running");
  PtySession second(installation().spawn({"attach", "shell"}), 24, 80);
  second.type("exit 3\n");
  EXPECT_EQ(second.finish(kPatience), 3) << second.screen();
  EXPECT_EQ(status_of("shell"), "exited");
  EXPECT_NE(roost({"logs", "shell"}).out.find("hello-42"), std::string::npos);
}

// Without a terminal, -i keeps the container's stdin open for attach: what attach reads
// goes there, stdout and stderr come back apart, and the end of attach's input ends the
// container's. Leaving with ctrl-c keeps it open for the next attach.
TEST_F(Lifecycle, AttachConnectsTheStreamsOfAContainerWithInput) {
  detach("echoer",
         {"sh", "-c",
          "while read line; do echo \"out $line\"; echo \"err $line\" >&2; done; "
          "echo done; exit 4"},
         {"-i"});
  {
    PtySession first(installation().spawn({"attach", "echoer"}), 24, 80);
    first.type("one\n");
    ASSERT_TRUE(first.wait_for_output("out one", kPatience)) << first.screen();
    ASSERT_TRUE(first.wait_for_output("err one", kPatience)) << first.screen();
    first.type("\x03");
    EXPECT_EQ(first.finish(kPatience), 128 + SIGINT) << first.screen();
  }
  EXPECT_EQ(status_of("echoer"), "running");
  Spawn second = installation().spawn({"attach", "echoer"});
  second.input = "two\nthree\n";
  Outcome attached = run(second);
  EXPECT_EQ(attached.exit_code, 4) << attached.describe();
  EXPECT_EQ(attached.out, "out two\nout three\ndone\n") << attached.describe();
  EXPECT_EQ(attached.err, "err two\nerr three\n") << attached.describe();
  EXPECT_EQ(status_of("echoer"), "exited");
  EXPECT_EQ(roost({"logs", "echoer"}).out, "out one\nout two\nout three\ndone\n");
}

// Input a container does not read waits (its output still comes); input for a stdin it
// closed is dropped, and the broken pipe is no signal to the container.
TEST_F(Lifecycle, AttachInputToAContainerThatDoesNotReadIt) {
  const std::string ticks =
      "trap 'echo SIGPIPE; exit 9' PIPE; for i in $(seq 1 40); do "
      "echo tick $i; sleep 0.1; done";
  for (const std::string name : {"deaf", "closed"}) {
    detach(name, {"sh", "-c", (name == "closed" ? "exec 0<&-; " : "") + ticks}, {"-i"});
    Spawn attach = installation().spawn({"attach", name});
    attach.input = std::string(1 << 20, 'x');
    Outcome attached = run(attach);
    EXPECT_EQ(attached.exit_code, 0) << name << ": " << attached.describe();
    EXPECT_NE(attached.out.find("tick 40\n"), std::string::npos) << attached.describe();
    EXPECT_EQ(wait_for(name), "0\n") << name;
  }
}

TEST_F(Lifecycle, AttachWithoutInputShowsTheOutputAndSaysSo) {
  detach("plain", {"sh", "-c", "for i in $(seq 1 60); do echo tick $i; sleep 0.1; done; exit 5"});
  Spawn attach = installation().spawn({"attach", "plain"});
  attach.input = "ignored\n";
  Outcome attached = run(attach);
  EXPECT_EQ(attached.exit_code, 5) << attached.describe();
  EXPECT_NE(attached.out.find("tick 60\n"), std::string::npos) << attached.describe();
  EXPECT_EQ(attached.err,
            "roost attach: container plain was started without -i: its stdin is not attached; "
            "showing its output until it ends (ctrl-c leaves it running)\n");
}

TEST_F(Lifecycle, AttachToAForegroundContainerSaysWhatAttachReaches) {
  installation().remember_container("front");
  Background front(installation().spawn({"run", "--name", "front", image(), "sleep", "1000"}));
  ASSERT_TRUE(eventually([&] {
    Outcome shown = roost({"inspect", "front"});
    return shown.exit_code == 0 && shown.out.find("\"running\"") != std::string::npos;
  }));
  Outcome refused = roost({"attach", "front"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err,
            "Error: container front runs in the foreground of the roost command that started "
            "it, which holds its streams; roost attach reaches containers started with -d (or "
            "started by 'roost start' without -a); see 'roost logs -f front'\n");
  EXPECT_EQ(status_of("front"), "running");
  require_success(roost({"rm", "-f", "front"}), "rm -f front");
}

}  // namespace
}  // namespace rootless
