// Signals sent to roost reach the container; --init runs a reaping PID 1 that
// forwards them, so a shell that would ignore SIGTERM as PID 1 still ends.

#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

const Millis kTimeout(60000);

struct Forwarded {
  int number;
  const char* name;
};

void PrintTo(const Forwarded& signal, std::ostream* out) {
  *out << "SIG" << signal.name;
}

class SignalTest : public RoostTest {
 protected:
  // A shell that prints "got-NAME" and exits 42 on the signal, after printing "ready".
  std::vector<std::string> trapping_shell(const std::string& name) {
    return {"sh", "-c",
            "trap 'echo got-" + name + "; exit 42' " + name +
                "; echo ready; while :; do sleep 0.1; done"};
  }

  Outcome signal_when_ready(const std::vector<std::string>& args, int signal_number) {
    Background running(installation().spawn(args));
    if (!running.wait_for_output("ready", kTimeout)) return running.finish(Millis(1000));
    running.signal(signal_number);
    return running.finish(kTimeout);
  }
};

class Signals : public SignalTest, public ::testing::WithParamInterface<Forwarded> {};

TEST_P(Signals, SignalToRoostReachesTheContainer) {
  std::string image = load_busybox();
  std::vector<std::string> args = {"run", "--rm", image};
  for (auto& word : trapping_shell(GetParam().name)) args.push_back(word);
  Outcome done = signal_when_ready(args, GetParam().number);
  EXPECT_NE(done.out.find(std::string("got-") + GetParam().name), std::string::npos)
      << done.describe();
  EXPECT_EQ(done.exit_code, 42) << done.describe();
}

INSTANTIATE_TEST_SUITE_P(Forwarding, Signals,
                         ::testing::Values(Forwarded{SIGINT, "INT"}, Forwarded{SIGTERM, "TERM"},
                                           Forwarded{SIGHUP, "HUP"}, Forwarded{SIGQUIT, "QUIT"},
                                           Forwarded{SIGUSR1, "USR1"}, Forwarded{SIGUSR2, "USR2"}),
                         [](const auto& info) { return std::string(info.param.name); });

using Init = SignalTest;

TEST_F(Init, SigtermEndsAShellThatWouldIgnoreItAsPid1) {
  std::string image = load_busybox();
  Outcome done = signal_when_ready(
      {"run", "--rm", "--init", image, "sh", "-c", "echo ready; while :; do sleep 0.1; done"},
      SIGTERM);
  EXPECT_FALSE(done.timed_out) << done.describe();
  EXPECT_EQ(done.exit_code, 143) << done.describe();
}

TEST_F(Init, ForwardsSignalsToTheCommand) {
  std::string image = load_busybox();
  std::vector<std::string> args = {"run", "--rm", "--init", image};
  for (auto& word : trapping_shell("USR1")) args.push_back(word);
  Outcome done = signal_when_ready(args, SIGUSR1);
  EXPECT_NE(done.out.find("got-USR1"), std::string::npos) << done.describe();
  EXPECT_EQ(done.exit_code, 42) << done.describe();
}

// Process states from the text of several /proc/PID/stat files.
std::vector<char> states_of(const std::string& stats) {
  std::vector<char> states;
  for (size_t close = stats.find(") "); close != std::string::npos;
       close = stats.find(") ", close + 2))
    states.push_back(stats[close + 2]);
  return states;
}

TEST_F(Init, OrphansAreReaped) {
  std::string image = load_busybox();
  Outcome seen = run_in(image,
                        {"sh", "-c",
                         "echo $$; (sleep 0.2 &); sleep 1.5; "
                         "for f in /proc/[0-9]*/stat; do cat $f; echo; done"},
                        {"--init"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  auto first_line = seen.out.substr(0, seen.out.find('\n'));
  EXPECT_NE(first_line, "1") << "with --init the command must not be PID 1";
  std::vector<char> states = states_of(seen.out);
  EXPECT_GE(states.size(), 2u) << seen.out;
  for (char state : states) EXPECT_NE(state, 'Z') << "a zombie was left\n" << seen.out;
}

// Alive and not a zombie.
bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

bool all_ended(const std::vector<pid_t>& pids) {
  auto deadline = std::chrono::steady_clock::now() + Seconds(30);
  auto alive = [&] { return std::any_of(pids.begin(), pids.end(), process_alive); };
  while (alive() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(Millis(50));
  return !alive();
}

class KilledRoost : public SignalTest, public ::testing::WithParamInterface<bool> {};

// SIGKILL gives roost no chance to stop its container: the container must end with it,
// and the next command finishes the --rm that roost could not.
TEST_P(KilledRoost, TakesItsContainerAlongAndTheNextCommandCleansUp) {
  std::string image = load_busybox();
  installation().remember_container("killed");
  std::vector<std::string> args = {"run", "--rm", "--name", "killed"};
  if (GetParam()) args.push_back("--init");
  args.insert(args.end(), {image, "sh", "-c", "echo ready; while :; do sleep 0.1; done"});
  Background running(installation().spawn(args));
  ASSERT_TRUE(running.wait_for_output("ready", kTimeout));
  ASSERT_TRUE(namespace_init_below(running.pid()).has_value());
  std::vector<pid_t> container = descendants_of(running.pid());
  running.signal(SIGKILL);
  EXPECT_EQ(running.finish(kTimeout).exit_code, 137);
  EXPECT_TRUE(all_ended(container)) << "the container outlived its killed roost";
  Outcome listed = roost({"ps", "-a", "--format", "json"});
  EXPECT_EQ(listed.out, "[]\n") << listed.describe();
  std::error_code error;
  EXPECT_TRUE(std::filesystem::is_empty(installation().root() / "containers", error));
  Outcome again = run_in(image, {"true"}, {"--name", "killed"});
  EXPECT_EQ(again.exit_code, 0) << again.describe();
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutInit, KilledRoost, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Init" : "NoInit"; });

}  // namespace
}  // namespace rootless
