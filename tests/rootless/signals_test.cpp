// Signals sent to roost reach the container; --init runs a reaping PID 1 that
// forwards them, so a shell that would ignore SIGTERM as PID 1 still ends.

#include <signal.h>

#include <gtest/gtest.h>

#include <sstream>

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

}  // namespace
}  // namespace rootless
