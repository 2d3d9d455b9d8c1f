// Standard input and terminals: -i passes a pipe and its end of file, -t gives a pty of
// the caller's size before the command starts, resizes and Ctrl-C reach the container.
// The terminal tests open their own pty (CI has no terminal).

#include <gtest/gtest.h>

#include <thread>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

using Io = RoostTest;

const Millis kTerminalTimeout(60000);

std::string shell_quoted(const std::vector<std::string>& words) {
  std::string line;
  for (const auto& word : words) {
    std::string quoted = "'";
    for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    line += (line.empty() ? "" : " ") + quoted + "'";
  }
  return line;
}

// `roost ARGS | head -1` in a shell, with roost's exit status on stderr as "status N";
// roost is killed after 40 s (status 137) so that a hang fails the test instead of
// outliving it.
Outcome piped_into_head(const Roost& roost, const std::vector<std::string>& args) {
  std::string script = "{ timeout -s KILL 40 " + shell_quoted(roost.argv(args)) +
                       "; echo \"status $?\" >&2; } | head -1";
  Spawn spawn({"/bin/sh", "-c", script}, roost.env());
  spawn.timeout = Seconds(90);
  return run(spawn);
}

std::string first_nonempty_line(const std::string& text) {
  for (const auto& line : lines_of(text))
    if (!line.empty()) return line;
  return {};
}

// With --rm no log is kept; without it the output goes through the log file as well,
// and stdin still reaches the container.
TEST_F(Io, PipedStdinReachesTheContainerAndItsEndEndsIt) {
  std::string image = load_busybox();
  installation().remember_container("logged");
  for (const std::string keep : {"--rm", "--name=logged"}) {
    Spawn spawn = installation().spawn({"run", keep, "-i", image, "cat"});
    spawn.input = "hi\n";
    spawn.timeout = Seconds(60);
    Outcome seen = run(spawn);
    EXPECT_FALSE(seen.timed_out) << keep << ": end of file on stdin did not reach cat";
    EXPECT_EQ(seen.exit_code, 0) << seen.describe();
    EXPECT_EQ(seen.out, "hi\n") << keep;
  }
  EXPECT_EQ(installation()({"logs", "logged"}).out, "hi\n");
}

// As with podman: -it with input from a pipe warns once and runs as -i, so that the
// input is not echoed back through a terminal and end of file reaches the command.
TEST_F(Io, PipedStdinWithATerminalAskedForWarnsAndRunsWithoutOne) {
  std::string image = load_busybox();
  for (std::string input : {"hi\n", "hi"}) {
    Spawn spawn = installation().spawn({"run", "--rm", "-it", image, "sh", "-c",
                                        "cat; echo; test -t 0 || test -t 1 || echo no-terminal"});
    spawn.input = input;
    spawn.timeout = Seconds(60);
    Outcome seen = run(spawn);
    EXPECT_FALSE(seen.timed_out) << "end of file on stdin did not reach cat";
    EXPECT_EQ(seen.exit_code, 0) << seen.describe();
    EXPECT_EQ(seen.out, input + "\nno-terminal\n");
    EXPECT_EQ(seen.err,
              "roost: warning: -it: standard input is not a terminal; going on without one, as "
              "with -i alone\n");
  }
}

TEST_F(Io, OutputIntoAPipeWhoseReaderEndedEndsTheContainer) {
  std::string image = load_busybox();
  for (bool terminal : {true, false}) {
    std::vector<std::string> args = {"run", "--rm", "--name", "yes-into-head"};
    if (terminal) args.push_back("-t");
    installation().remember_container("yes-into-head");
    args.insert(args.end(), {image, "yes"});
    Outcome seen = piped_into_head(installation(), args);
    EXPECT_EQ(seen.out, terminal ? "y\r\n" : "y\n") << seen.describe();
    EXPECT_NE(seen.err.find("status "), std::string::npos) << seen.describe();
    EXPECT_EQ(seen.err.find("status 137"), std::string::npos)
        << (terminal ? "-t: " : "pipes: ") << "roost went on after head ended: " << seen.describe();
    Outcome left = roost({"ps", "-a", "--format", "json"});
    EXPECT_EQ(left.out, "[]\n") << "the container outlived roost: " << left.describe();
  }
}

TEST_F(Io, WithoutInteractiveStdinIsNotPassed) {
  std::string image = load_busybox();
  Spawn spawn = installation().spawn({"run", "--rm", image, "sh", "-c", "cat; echo end"});
  spawn.input = "hi\n";
  spawn.timeout = Seconds(60);
  Outcome seen = run(spawn);
  EXPECT_FALSE(seen.timed_out);
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "end\n");
}

TEST_F(Io, TerminalHasTheCallersSizeOnItsFirstRead) {
  std::string image = load_busybox();
  PtySession terminal(installation().spawn({"run", "--rm", "-t", image, "stty", "size"}), 42, 173);
  int code = terminal.finish(kTerminalTimeout);
  EXPECT_EQ(code, 0) << terminal.screen();
  EXPECT_EQ(first_nonempty_line(terminal.screen()), "42 173") << terminal.screen();
}

TEST_F(Io, TerminalIsATerminalInside) {
  std::string image = load_busybox();
  PtySession terminal(
      installation().spawn({"run", "--rm", "-t", image, "sh", "-c",
                            "test -t 0 && test -t 1 && test -t 2 && echo all-terminals"}),
      24, 80);
  EXPECT_EQ(terminal.finish(kTerminalTimeout), 0) << terminal.screen();
  EXPECT_EQ(first_nonempty_line(terminal.screen()), "all-terminals") << terminal.screen();
}

TEST_F(Io, TerminalResizeReachesTheContainer) {
  std::string image = load_busybox();
  PtySession terminal(installation().spawn({"run", "--rm", "-it", image, "sh", "-c",
                                            "stty size; read line; stty size"}),
                      42, 173);
  ASSERT_TRUE(terminal.wait_for_output("42 173", kTerminalTimeout)) << terminal.screen();
  terminal.resize(50, 100);
  // SIGWINCH reaches roost asynchronously; the new size must be in place before the
  // container's second stty runs.
  std::this_thread::sleep_for(Millis(500));
  terminal.type("\n");
  EXPECT_TRUE(terminal.wait_for_output("50 100", kTerminalTimeout)) << terminal.screen();
  EXPECT_EQ(terminal.finish(kTerminalTimeout), 0) << terminal.screen();
}

// Ctrl-C typed on roost's terminal must end up as SIGINT in the container, under -it
// and under -t alone.
void expect_ctrl_c_reaches_the_shell(const Roost& installation, const std::string& image,
                                     const std::string& terminal_flag) {
  PtySession terminal(installation.spawn({"run", "--rm", terminal_flag, image, "sh", "-c",
                                          "trap 'echo got-int; exit 7' INT; echo ready; "
                                          "while :; do sleep 0.1; done"}),
                      24, 80);
  ASSERT_TRUE(terminal.wait_for_output("ready", kTerminalTimeout)) << terminal.screen();
  terminal.type("\x03");
  EXPECT_TRUE(terminal.wait_for_output("got-int", kTerminalTimeout)) << terminal.screen();
  EXPECT_EQ(terminal.finish(kTerminalTimeout), 7) << terminal.screen();
}

TEST_F(Io, CtrlCReachesTheShell) {
  expect_ctrl_c_reaches_the_shell(installation(), load_busybox(), "-it");
}

TEST_F(Io, CtrlCReachesTheContainerOnATerminalWithoutInteractive) {
  expect_ctrl_c_reaches_the_shell(installation(), load_busybox(), "-t");
}

TEST_F(Io, ConsoleIsTheContainersTerminal) {
  std::string image = load_busybox();
  PtySession terminal(
      installation().spawn({"run", "--rm", "-t", image, "sh", "-c",
                            "test -c /dev/console && echo on-the-console > /dev/console"}),
      24, 80);
  EXPECT_EQ(terminal.finish(kTerminalTimeout), 0) << terminal.screen();
  EXPECT_EQ(first_nonempty_line(terminal.screen()), "on-the-console") << terminal.screen();
}

}  // namespace
}  // namespace rootless
