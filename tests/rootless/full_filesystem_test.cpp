// roost on a full filesystem: a runtime root on a small tmpfs that fills up while a
// container starts. The tmpfs is mounted in a user and mount namespace of the test's
// own, where roost runs as root with --userns single.

#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;

// Host pids of the processes whose command line is exactly `argv`.
std::vector<pid_t> processes_running(const std::vector<std::string>& argv) {
  std::string wanted;
  for (const auto& arg : argv) wanted += arg + '\0';
  std::vector<pid_t> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream file(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (cmdline == wanted) found.push_back(std::stoi(name));
  }
  return found;
}

// A sleep no other test runs, so that a leftover one is known to be this test's.
std::vector<std::string> unique_sleep() {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  auto seconds = 100'000'000 + std::chrono::duration_cast<Millis>(now).count() % 100'000'000;
  return {"sleep", std::to_string(seconds)};
}

class FullFilesystem : public RoostTest {
 protected:
  // Runs `script` with sh as root of a new user and mount namespace in which a 256 KiB
  // tmpfs is mounted on roost's runtime root ($RUNROOT); "$@" is roost with this test's
  // --root and --runroot.
  Outcome in_small_runroot(const std::string& script) {
    fs::create_directories(installation().runroot());
    std::string runroot = installation().runroot().string();
    Spawn spawn = installation().spawn({});
    std::vector<std::string> argv = {
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        "RUNROOT=" + runroot +
            "; mount -t tmpfs -o size=256k,mode=0700 tmpfs $RUNROOT || exit 99\n" + script,
        "sh"};
    argv.insert(argv.end(), spawn.argv.begin(), spawn.argv.end());
    spawn.argv = argv;
    return run(spawn);
  }
};

// A probe container shows how many blocks a running container takes on the runtime
// root; the tmpfs is then filled to one block less, so that the files written before
// the command runs fit and the state that records it running does not.
TEST_F(FullFilesystem, AStartThatCannotBeRecordedEndsTheContainerAndLeavesNothing) {
  std::string image = load_busybox();
  auto sleeper = unique_sleep();
  std::string sleep_command = sleeper[0] + " " + sleeper[1];
  Outcome outcome = in_small_runroot(
      "free() { stat -f -c %a $RUNROOT; }\n"
      "before=$(free)\n"
      "\"$@\" run --userns single -d --name probe " +
      image +
      " sleep 1000 >/dev/null || exit 98\n"
      "needed=$((before - $(free)))\n"
      "\"$@\" rm -f probe >/dev/null || exit 97\n"
      "dd if=/dev/zero of=$RUNROOT/filler bs=4096 2>/dev/null\n"
      "truncate -s -$(((needed - 1) * 4096)) $RUNROOT/filler\n"
      "\"$@\" run --userns single -d --name full " +
      image + " " + sleep_command +
      "\n"
      "echo \"status=$?\"\n"
      "rm $RUNROOT/filler\n"
      "\"$@\" ps -a --format '{{.Names}}'\n"
      "ls $RUNROOT/containers\n");
  auto leftovers = processes_running(sleeper);
  for (pid_t pid : leftovers) ::kill(pid, SIGKILL);
  EXPECT_TRUE(leftovers.empty()) << "the container still runs\n" << outcome.describe();
  EXPECT_EQ(outcome.exit_code, 0) << outcome.describe();
  EXPECT_EQ(outcome.out, "status=125\n") << "nothing listed, nothing left in the runtime root\n"
                                         << outcome.describe();
  EXPECT_NE(outcome.err.find("state.json"), std::string::npos) << outcome.describe();
  EXPECT_NE(outcome.err.find("No space left on device; free space on that filesystem, or keep "
                             "images and containers elsewhere with --root and --runroot\n"),
            std::string::npos)
      << outcome.describe();
  fs::path containers = roost_root() / "containers";
  EXPECT_TRUE(!fs::exists(containers) || fs::is_empty(containers))
      << "the container's directories in the store are removed";
}

}  // namespace
}  // namespace rootless
