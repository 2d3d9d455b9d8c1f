// Store names in the real shells' completions, with the scripts `roost completion`
// prints: images from a real load, containers from real runs, and `roost __complete
// running` telling a running container from a finished one.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/rootless/support/roost_test.hpp"
#include "tests/rootless/support/shells.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;
using Words = std::vector<std::string>;

class Completion : public RoostTest {
 protected:
  std::string script(const char* shell) {
    return require_success(roost({"completion", shell}), "roost completion").out;
  }

  Completer completer() {
    std::vector<std::string> env = installation().env();
    set_env(env, "PATH", fs::path(roost_binary()).parent_path().string() + ":" + kDefaultPath);
    return Completer(scratch("shells"), {script("bash"), script("zsh"), script("fish")}, env);
  }

  // The command line so far, with this installation's storage named as a user would.
  std::string line(const std::string& rest) {
    return "roost --root " + installation().root().string() +
           " --runroot=" + installation().runroot().string() + " " + rest;
  }

  Words running_names() {
    Outcome outcome = roost({"__complete", "running"});
    return lines_of(outcome.out);
  }

  bool wait_until_running(const std::string& name) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      Words names = running_names();
      if (std::find(names.begin(), names.end(), name) != names.end()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
};

TEST_F(Completion, ContainerAndImageNamesComeFromTheStoreInEveryShell) {
  std::string image = load_busybox();
  installation().remember_container("finished-one");
  require_success(roost({"run", "--name", "finished-one", image, "true"}), "run finished-one");
  installation().remember_container("still-running");
  Background running(
      installation().spawn({"run", "--name", "still-running", image, "sleep", "60"}));
  ASSERT_TRUE(wait_until_running("still-running")) << running.finish(Millis(1000)).describe();
  EXPECT_EQ(running_names(), (Words{"still-running"})) << "a finished container is not running";

  Completer shells = completer();
  Words lines = {line("rm "), line("rm fin"), line("rmi "), line("run --rm " + image + " ")};
  for (Shell shell : kShells) {
    SCOPED_TRACE(shell_name(shell));
    auto answers = shells.complete_all(shell, lines);
    EXPECT_EQ(answers[0], (Words{"finished-one", "still-running"}));
    EXPECT_EQ(answers[1], (Words{"finished-one"}));
    EXPECT_EQ(answers[2], (Words{"busybox:1", "localhost/busybox:1"}));
    EXPECT_TRUE(answers[3].empty()) << "the container's command is not completed";
  }
  running.signal(SIGTERM);
  running.finish(Millis(30000));
}

TEST_F(Completion, AnEmptyStoreOffersNothingAndFailsNothing) {
  Completer shells = completer();
  for (Shell shell : kShells) {
    SCOPED_TRACE(shell_name(shell));
    for (const auto& answer : shells.complete_all(shell, {line("rm "), line("run ")}))
      EXPECT_TRUE(answer.empty());
  }
}

}  // namespace
}  // namespace rootless
