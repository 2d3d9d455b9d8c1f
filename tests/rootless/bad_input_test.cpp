// Bad input to run, create, stop, restart, rm and rmi: one line naming the option, the value and
// what to do, exit status 125, and nothing of the store changed: no container half-made, no
// directory left, no other container touched.

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;

struct BadInput {
  const char* name;  // for the test's name
  std::vector<std::string> options;
  std::vector<std::string> expected;  // pieces of the one error line
};

void PrintTo(const BadInput& input, std::ostream* out) {
  *out << input.name;
}

class BadInputTest : public RoostTest {
 protected:
  void SetUp() override {
    RoostTest::SetUp();
    image_ = load_busybox();
    require_success(roost({"create", "--name", "keep", image_, "true"}), "create keep");
  }

  const std::string& image() const { return image_; }

  // What a failed command may have left: the container directories of both roots.
  std::vector<std::string> entries_of(const fs::path& dir) const {
    std::vector<std::string> names;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir, error))
      names.push_back(entry.path().filename().string());
    return names;
  }

  void expect_refused_and_nothing_changed(const Outcome& seen,
                                          const std::vector<std::string>& expected) {
    EXPECT_EQ(seen.exit_code, 125) << seen.describe();
    EXPECT_TRUE(seen.out.empty()) << seen.describe();
    auto lines = lines_of(seen.err);
    ASSERT_EQ(lines.size(), 1u) << seen.describe();
    EXPECT_EQ(lines[0].rfind("Error: ", 0), 0u) << seen.describe();
    for (const auto& piece : expected)
      EXPECT_NE(lines[0].find(piece), std::string::npos) << "'" << piece << "' in " << lines[0];
    Outcome listed = roost({"ps", "-a", "--format", "json"});
    auto containers = nlohmann::json::parse(listed.out, nullptr, false);
    ASSERT_TRUE(containers.is_array()) << listed.describe();
    ASSERT_EQ(containers.size(), 1u) << listed.describe();
    EXPECT_EQ(containers[0]["Names"][0], "keep");
    EXPECT_EQ(entries_of(installation().root() / "containers").size(), 1u);
    EXPECT_EQ(entries_of(installation().runroot() / "containers").size(), 1u);
  }

 private:
  std::string image_;
};

class BadRunOption : public BadInputTest, public ::testing::WithParamInterface<BadInput> {};

TEST_P(BadRunOption, IsRefusedBeforeAnythingIsMade) {
  std::vector<std::string> args = {"run", "--rm"};
  for (const auto& option : GetParam().options) args.push_back(option);
  args.insert(args.end(), {image(), "true"});
  expect_refused_and_nothing_changed(roost(args), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Options, BadRunOption,
    ::testing::Values(
        BadInput{"EnvWithoutName", {"-e", "=x"}, {"-e '=x'", "needs a name"}},
        BadInput{"MissingEnvFile",
                 {"--env-file", "/nonexistent/vars"},
                 {"--env-file /nonexistent/vars"}},
        BadInput{"Hostname", {"--hostname", "we_b"}, {"--hostname we_b", "not a valid host name"}},
        BadInput{
            "LongHostname", {"--hostname", std::string(65, 'h')}, {"--hostname", "at most 64"}},
        BadInput{"Name", {"--name", "a b"}, {"--name a b", "starts with a letter or digit"}},
        BadInput{"TmpfsSize", {"--tmpfs", "/t:size=abc"}, {"--tmpfs /t:size=abc", "size", "'abc'"}},
        BadInput{
            "TmpfsOption", {"--tmpfs", "/t:bogus"}, {"--tmpfs /t:bogus", "unknown option 'bogus'"}},
        BadInput{"TmpfsOnRoot", {"--tmpfs", "/"}, {"--tmpfs /", "container's /"}},
        BadInput{"VolumeOnRoot", {"-v", "/tmp:/"}, {"-v /tmp:/", "container's /", "below"}},
        BadInput{"EntrypointArray",
                 {"--entrypoint", R"(["/bin/sh",1])"},
                 {R"(--entrypoint ["/bin/sh",1])", "JSON array of strings"}},
        BadInput{
            "NameStartingWithAPunctuation", {"--name", "_web"}, {"--name _web", "starts with"}},
        BadInput{"NameWithANonAsciiLetter", {"--name", "caf\xc3\xa9"}, {"starts with a letter"}},
        BadInput{"EmptyUser", {"-u", ""}, {"-u ''", "the user is empty", "USER[:GROUP]"}},
        BadInput{"UidOutOfRange",
                 {"-u", "99999999999"},
                 {"-u 99999999999: uid 99999999999 is out of range", "0 to 2147483647"}},
        BadInput{"NegativeUid", {"-u", "-5"}, {"-u -5: uid -5 is negative", "0 to 2147483647"}},
        BadInput{"NegativeGid", {"-u", "app:-1"}, {"-u app:-1: gid -1 is negative"}},
        BadInput{"MissingGroup", {"-u", "app:"}, {"-u app:", "a group must follow the colon"}},
        BadInput{"ForeignRunroot", {"--runroot", "/"}, {"--runroot /", "belongs to uid 0"}},
        BadInput{"HugeStopTimeout",
                 {"--stop-timeout", "1e300"},
                 {"--stop-timeout 1e300: use seconds from 0 to 86400"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(BadInputTest, EmptyCommandIsNamed) {
  expect_refused_and_nothing_changed(roost({"run", "--rm", image(), ""}),
                                     {"the command to run is an empty string ('')"});
}

TEST_F(BadInputTest, BadLineInEnvFileIsNamed) {
  fs::path file = scratch("vars.env");
  write_file(file, "A=1\n=x\n");
  expect_refused_and_nothing_changed(
      roost({"run", "--rm", "--env-file", file.string(), image(), "true"}),
      {"--env-file " + file.string() + ":2", "'=x'"});
}

TEST_F(BadInputTest, RunrootThatCannotBeWrittenIsRefused) {
  fs::path runroot = scratch("read-only-runroot");
  fs::create_directories(runroot);
  ASSERT_EQ(::chmod(runroot.c_str(), 0500), 0);
  Outcome seen = roost({"--runroot", runroot.string(), "run", "--rm", image(), "true"});
  expect_refused_and_nothing_changed(seen, {"--runroot " + runroot.string(), "cannot write"});
  ::chmod(runroot.c_str(), 0700);
}

// Checked before any container is looked up, so a missing one is not what is reported.
TEST_F(BadInputTest, StopTimeOutOfRangeIsNamed) {
  for (const char* command : {"stop", "restart"}) {
    for (const char* container : {"keep", "nosuch"})
      expect_refused_and_nothing_changed(roost({command, "-t", "1e300", container}),
                                         {"--time 1e300: use seconds from 0 to 86400"});
    expect_refused_and_nothing_changed(roost({command, "--time=86401", "keep"}),
                                       {"--time 86401: use seconds from 0 to 86400"});
  }
  Outcome listed = roost({"ps", "-a", "--format", "{{.Names}} {{.State}}"});
  EXPECT_EQ(listed.out, "keep created\n") << listed.describe();
}

// The kernel's overlayfs cannot show the image's owners under keep-id's map.
TEST_F(BadInputTest, KernelOverlayWithKeepIdIsRefused) {
  for (const char* command : {"run", "create"})
    expect_refused_and_nothing_changed(
        roost({"--storage-driver", "overlay", command, "--userns", "keep-id", image(), "true"}),
        {"--storage-driver overlay", "--userns keep-id", "use --storage-driver fuse-overlayfs"});
  write_file(installation().home() / ".config/roost/config.toml",
             "[storage]\ndriver = \"overlay\"\n[containers]\nuserns = \"keep-id\"\n");
  expect_refused_and_nothing_changed(roost({"run", "--rm", image(), "true"}),
                                     {"overlay", "keep-id", "fuse-overlayfs"});
}

TEST_F(BadInputTest, EmptyNameRemovesNothing) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"rm", ""}, std::vector<std::string>{"rm", "-f", ""}}) {
    expect_refused_and_nothing_changed(roost(args), {"empty container name"});
  }
  Outcome seen = roost({"rmi", ""});
  EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  EXPECT_EQ(lines_of(seen.err).size(), 1u) << seen.describe();
  EXPECT_EQ(image_ids().size(), 1u);
}

}  // namespace
}  // namespace rootless
