// process::start and process::run: programs run without a shell, several at once, and
// none is left unreaped.

#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <optional>

#include "common/process.hpp"

namespace {

using roost::process::Running;

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

TEST(Process, RunGivesTheStatusAndTheErrorOutputWithoutItsLastNewline) {
  auto result = roost::process::run({"/bin/sh", "-c", "echo 'went wrong' >&2; exit 3"});
  ASSERT_TRUE(WIFEXITED(result.exit_status));
  EXPECT_EQ(WEXITSTATUS(result.exit_status), 3);
  EXPECT_EQ(result.error_output, "went wrong");
}

TEST(Process, StartedProgramsRunAtTheSameTime) {
  auto start = std::chrono::steady_clock::now();
  Running first = roost::process::start({"/bin/sleep", "1"});
  Running second = roost::process::start({"/bin/sh", "-c", "sleep 1; echo second >&2"});
  EXPECT_EQ(first.wait().exit_status, 0);
  auto result = second.wait();
  EXPECT_EQ(result.exit_status, 0);
  EXPECT_EQ(result.error_output, "second");
  double took = seconds_since(start);
  EXPECT_GE(took, 1.0);
  EXPECT_LT(took, 1.9) << "the two sleeps ran one after the other";
}

TEST(Process, AProgramNeverWaitedForIsReaped) {
  {
    std::optional<Running> running(roost::process::start({"/bin/sleep", "0.1"}));
    Running moved(std::move(*running));
    running.reset();  // the moved-from object owns nothing and must not wait
  }
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST(Process, AMissingProgramIsAnErrorNamingIt) {
  try {
    roost::process::start({"/nonexistent/helper"});
    FAIL() << "start did not throw";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find("/nonexistent/helper"), std::string::npos)
        << error.what();
  }
}

}  // namespace
