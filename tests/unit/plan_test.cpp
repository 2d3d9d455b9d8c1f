#include <gtest/gtest.h>

#include <cstdlib>

#include "common/error.hpp"
#include "launcher/identity.hpp"
#include "launcher/plan.hpp"

using roost::cli::resolve_command;
using roost::cli::resolve_environment;
using roost::cli::resolve_identity;
using roost::image::ImageConfig;
using Args = std::vector<std::string>;

TEST(Command, ImageEntrypointAndCmdCombine) {
  ImageConfig config;
  config.entrypoint = Args{"/entry", "-x"};
  config.cmd = Args{"serve"};
  EXPECT_EQ(resolve_command(config, std::nullopt, {}), (Args{"/entry", "-x", "serve"}));
  EXPECT_EQ(resolve_command(config, std::nullopt, {"other"}), (Args{"/entry", "-x", "other"}));
}

TEST(Command, EntrypointOptionDropsImageCmd) {
  ImageConfig config;
  config.cmd = Args{"/bin/sh"};
  EXPECT_EQ(resolve_command(config, Args{"/bin/date"}, {}), (Args{"/bin/date"}));
}

TEST(Command, EmptyEntrypointClearsIt) {
  ImageConfig config;
  config.entrypoint = Args{"git"};
  EXPECT_EQ(resolve_command(config, Args{}, {"sh"}), (Args{"sh"}));
}

TEST(Command, NothingToRunIsAUsageError) {
  ImageConfig config;
  EXPECT_THROW(resolve_command(config, std::nullopt, {}), roost::UsageError);
  EXPECT_THROW(resolve_command(config, Args{}, {}), roost::UsageError);
}

TEST(Command, EmptyProgramIsAUsageError) {
  ImageConfig config;
  config.cmd = Args{"/bin/sh"};
  EXPECT_THROW(resolve_command(config, std::nullopt, {""}), roost::UsageError);
  config.entrypoint = Args{""};
  EXPECT_THROW(resolve_command(config, std::nullopt, {}), roost::UsageError);
  EXPECT_EQ(resolve_command(config, Args{}, {"echo", ""}), (Args{"echo", ""}));
}

TEST(Command, EntrypointAsJsonArray) {
  using roost::cli::parse_entrypoint;
  EXPECT_EQ(parse_entrypoint(R"(["/bin/sh","-c"])"), (Args{"/bin/sh", "-c"}));
  EXPECT_EQ(parse_entrypoint("[]"), Args{});
  EXPECT_EQ(parse_entrypoint(""), Args{});
  EXPECT_EQ(parse_entrypoint("/bin/date"), (Args{"/bin/date"}));
  ImageConfig config;
  config.cmd = Args{"/bin/sh"};
  EXPECT_EQ(resolve_command(config, parse_entrypoint(R"(["/bin/sh","-c"])"), {"echo hi"}),
            (Args{"/bin/sh", "-c", "echo hi"}));
  try {
    parse_entrypoint(R"(["/bin/sh",1])");
    FAIL();
  } catch (const roost::UsageError& error) {
    EXPECT_NE(std::string(error.what())
                  .find(R"(--entrypoint ["/bin/sh",1]: not a JSON array of strings)"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(parse_entrypoint(R"(["/bin/sh")"), roost::UsageError);
}

TEST(Hostname, RfcLabelsUpTo64Characters) {
  using roost::cli::check_hostname;
  for (const std::string& good : std::vector<std::string>{
           "web", "a", "web-1", "Web.example.org", "0abc", std::string(63, 'a'),
           std::string(32, 'a') + "." + std::string(31, 'b')})
    EXPECT_NO_THROW(check_hostname(good)) << good;
  for (const std::string& bad : std::vector<std::string>{
           "-web", "web-", "we_b", "a..b", ".a", "a.", "a b", "web\nevil", std::string(64, 'a'),
           std::string(32, 'a') + "." + std::string(32, 'b')})
    EXPECT_THROW(check_hostname(bad), roost::UsageError) << bad;
  try {
    check_hostname("we_b");
    FAIL();
  } catch (const roost::UsageError& error) {
    EXPECT_EQ(std::string(error.what()).rfind("--hostname we_b: not a valid host name", 0), 0u)
        << error.what();
  }
}

TEST(Environment, NullEnvGetsDefaultPath) {
  ImageConfig config;
  auto env = resolve_environment(config, {}, {}, false, "h");
  EXPECT_EQ(env.front(), roost::cli::kDefaultPath);
  EXPECT_NE(std::find(env.begin(), env.end(), "HOSTNAME=h"), env.end());
}

TEST(Environment, LaterValuesWinAndBareKeysCopyTheCaller) {
  ImageConfig config;
  config.env = {"PATH=/bin", "A=image"};
  ::setenv("ROOST_TEST_COPY", "copied", 1);
  ::unsetenv("ROOST_TEST_ABSENT");
  auto env = resolve_environment(config, {"A=file", "B=file"},
                                 {"A=option", "ROOST_TEST_COPY", "ROOST_TEST_ABSENT"}, true, "h");
  auto has = [&](const std::string& entry) {
    return std::find(env.begin(), env.end(), entry) != env.end();
  };
  EXPECT_TRUE(has("PATH=/bin"));
  EXPECT_TRUE(has("A=option"));
  EXPECT_FALSE(has("A=image"));
  EXPECT_TRUE(has("B=file"));
  EXPECT_TRUE(has("ROOST_TEST_COPY=copied"));
  EXPECT_TRUE(has("TERM=xterm"));
  for (const auto& entry : env) EXPECT_NE(entry.rfind("ROOST_TEST_ABSENT", 0), 0u);
}

TEST(Environment, EnvFileSkipsCommentsAndNamesBadLines) {
  auto lines = roost::cli::parse_env_file("# c\n\nA=1\r\n  B=two words\n", "f");
  EXPECT_EQ(lines, (Args{"A=1", "B=two words"}));
  try {
    roost::cli::parse_env_file("A=1\n=x\n", "vars.env");
    FAIL();
  } catch (const roost::UsageError& error) {
    EXPECT_STREQ(error.what(), "--env-file vars.env:2: '=x' has no variable name");
  }
}

TEST(Volume, ParsesAndChecks) {
  auto bind = roost::cli::parse_volume("data:/srv:ro", "/home/u");
  EXPECT_EQ(bind.source, "/home/u/data");
  EXPECT_EQ(bind.destination, "/srv");
  EXPECT_TRUE(bind.read_only);
  EXPECT_THROW(roost::cli::parse_volume("/a", "/"), roost::UsageError);
  EXPECT_THROW(roost::cli::parse_volume("/a:rel", "/"), roost::UsageError);
  EXPECT_THROW(roost::cli::parse_volume("/a:/b:zz", "/"), roost::UsageError);
}

TEST(Volume, ContainerRootIsRefused) {
  for (const char* value : {"/a:/", "/a://", "/a:/.:ro", "/a:/x/.."}) {
    try {
      roost::cli::parse_volume(value, "/");
      ADD_FAILURE() << value;
    } catch (const roost::UsageError& error) {
      EXPECT_EQ(std::string(error.what()),
                std::string("-v ") + value +
                    ": a volume cannot replace the container's /, which holds the image; mount "
                    "it on a directory below (SOURCE:/data)");
    }
  }
  EXPECT_THROW(roost::cli::parse_tmpfs("/"), roost::UsageError);
}

TEST(Tmpfs, OptionsSplitIntoFlagsAndData) {
  auto mount = roost::cli::parse_tmpfs("/scratch:size=1m,noexec,mode=1777");
  EXPECT_EQ(mount.destination, "/scratch");
  EXPECT_EQ(mount.options, "size=1m,mode=1777");
  EXPECT_THROW(roost::cli::parse_tmpfs("scratch"), roost::UsageError);
}

TEST(Tmpfs, ReadOnlyKeepsScratchDirectoriesWritable) {
  roost::cli::ContainerPlan plan;
  plan.tmpfs.push_back(roost::cli::parse_tmpfs("/run/:size=1m"));
  plan.binds.push_back(roost::cli::parse_volume("/srv:/var/tmp", "/"));
  roost::cli::add_read_only_tmpfs(plan);
  ASSERT_EQ(plan.tmpfs.size(), 2u);
  EXPECT_EQ(plan.tmpfs[0].options, "size=1m");
  EXPECT_EQ(plan.tmpfs[1].destination, "/tmp");
  EXPECT_EQ(plan.tmpfs[1].options, "mode=1777");
}

TEST(Tmpfs, GoodOptionsPass) {
  auto mount = roost::cli::parse_tmpfs(
      "/t:size=64m,size=50%,size=1048576,nr_inodes=10k,mode=0700,uid=0,gid=5,huge=never,ro");
  EXPECT_EQ(mount.options,
            "size=64m,size=50%,size=1048576,nr_inodes=10k,mode=0700,uid=0,gid=5,"
            "huge=never");
}

TEST(Tmpfs, BadOptionsAreNamed) {
  struct Case {
    const char* value;
    const char* message;
  };
  const Case cases[] = {
      {"/t:size=abc",
       "--tmpfs /t:size=abc: size has a bad value 'abc'; use a number with k, m "
       "or g, or a percentage of memory (64m, 50%)"},
      {"/t:mode=999",
       "--tmpfs /t:mode=999: mode has a bad value '999'; use octal permissions "
       "up to 7777 (1777)"},
      {"/t:mode=17777",
       "--tmpfs /t:mode=17777: mode has a bad value '17777'; use octal "
       "permissions up to 7777 (1777)"},
      {"/t:size",
       "--tmpfs /t:size: size has a bad value ''; use a number with k, m or g, or a "
       "percentage of memory (64m, 50%)"},
      {"/t:uid=root", "--tmpfs /t:uid=root: uid has a bad value 'root'; use a numeric uid"},
      {"/t:noexec,bogus",
       "--tmpfs /t:noexec,bogus: unknown option 'bogus'; use size=, "
       "nr_blocks=, nr_inodes=, mode=, uid=, gid=, huge=, ro, rw, nosuid, "
       "suid, nodev, dev, noexec or exec"},
  };
  for (const auto& each : cases) {
    try {
      roost::cli::parse_tmpfs(each.value);
      ADD_FAILURE() << each.value;
    } catch (const roost::UsageError& error) {
      EXPECT_EQ(std::string(error.what()), each.message);
    }
  }
}

const char* kPasswd =
    "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nnobody:x:65534:65534::/:\n";
const char* kGroup = "root:x:0:\nwheel:x:10:app\napp:x:1000:\n";

TEST(Identity, NamesLookUpPasswdAndGroups) {
  auto identity = resolve_identity("app", kPasswd, kGroup);
  EXPECT_EQ(identity.uid, 1000u);
  EXPECT_EQ(identity.gid, 1000u);
  EXPECT_EQ(identity.home, "/home/app");
  EXPECT_EQ(identity.supplementary_groups, (std::vector<gid_t>{10}));
}

TEST(Identity, NumericUserWithoutPasswdRunsWithGidZero) {
  auto identity = resolve_identity("1001", "", "");
  EXPECT_EQ(identity.uid, 1001u);
  EXPECT_EQ(identity.gid, 0u);
  EXPECT_EQ(identity.home, "/");
}

TEST(Identity, UidColonGid) {
  auto identity = resolve_identity("1000:10", kPasswd, kGroup);
  EXPECT_EQ(identity.uid, 1000u);
  EXPECT_EQ(identity.gid, 10u);
}

TEST(Identity, UnknownNameIsNamed) {
  try {
    resolve_identity("app", "root:x:0:0::/root:/bin/sh\n", "");
    FAIL();
  } catch (const roost::Error& error) {
    EXPECT_STREQ(error.what(),
                 "user app is not in the container's /etc/passwd; use a numeric uid or an image "
                 "that defines it");
  }
}

TEST(Identity, EmptyIsRoot) {
  auto identity = resolve_identity("", kPasswd, kGroup);
  EXPECT_EQ(identity.uid, 0u);
  EXPECT_EQ(identity.home, "/root");
}

TEST(Identity, IdsBeyondTheSignedRangeAreRefused) {
  EXPECT_THROW(resolve_identity("4294967295", kPasswd, kGroup), roost::UsageError);
  EXPECT_THROW(resolve_identity("0:2147483648", kPasswd, kGroup), roost::UsageError);
  EXPECT_EQ(resolve_identity("2147483647", "", "").uid, 2147483647u);
}

TEST(Identity, EmptyGroupAfterColonIsRefused) {
  EXPECT_THROW(resolve_identity("1000:", kPasswd, kGroup), roost::UsageError);
}

std::string user_option_refusal(const std::string& spec) {
  try {
    roost::cli::check_user_option("-u", spec);
  } catch (const roost::UsageError& error) {
    return error.what();
  }
  return "accepted";
}

TEST(UserOption, EmptyIsRefused) {
  EXPECT_EQ(user_option_refusal(""),
            "-u '': the user is empty; give a user name or uid (USER[:GROUP])");
}

TEST(UserOption, IdsOutOfRangeOrNegativeAreNamed) {
  EXPECT_EQ(user_option_refusal("99999999999"),
            "-u 99999999999: uid 99999999999 is out of range; use a uid from 0 to 2147483647");
  EXPECT_EQ(user_option_refusal("-5"), "-u -5: uid -5 is negative; use a uid from 0 to 2147483647");
  EXPECT_EQ(user_option_refusal("app:-1"),
            "-u app:-1: gid -1 is negative; use a gid from 0 to 2147483647");
  EXPECT_EQ(user_option_refusal("1000:"), "-u 1000:: a group must follow the colon (USER:GROUP)");
}

TEST(UserOption, NamesAndIdsInRangeAreAccepted) {
  for (const char* spec : {"app", "0", "2147483647", "1000:10", "app:wheel", ":10", "app-1"})
    EXPECT_EQ(user_option_refusal(spec), "accepted") << spec;
}

TEST(Identity, ImageUserOutOfRangeIsNamed) {
  try {
    resolve_identity("4294967296", kPasswd, kGroup);
    FAIL();
  } catch (const roost::UsageError& error) {
    EXPECT_STREQ(error.what(),
                 "user 4294967296: uid 4294967296 is out of range; use a uid from 0 to 2147483647");
  }
}

namespace {

// The rootless test user's maps: uid 70000 with one subordinate id at 100000 and 65536 at
// 131072; the storage map is the default one.
roost::cli::ContainerPlan keep_id_plan(const std::string& driver) {
  roost::cli::ContainerPlan plan;
  plan.storage_driver = driver;
  roost::userns::IdMap keep_id{{0, 100000, 1}, {1, 131072, 65536}, {70000, 70000, 1}};
  roost::userns::IdMap full{{0, 70000, 1}, {1, 100000, 1}, {2, 131072, 65536}};
  plan.maps = {keep_id, keep_id};
  plan.storage_maps = {full, full};
  return plan;
}

}  // namespace

TEST(StoredOwners, KeepIdShiftsThemAndTheDefaultMapDoesNot) {
  auto plan = keep_id_plan("auto");
  EXPECT_TRUE(roost::cli::stored_owners_shift(plan));
  auto translations = roost::cli::stored_owner_translations(plan);
  ASSERT_EQ(translations.uids.size(), 2u);
  EXPECT_EQ(translations.uids[1].from, 70000u);
  EXPECT_EQ(translations.uids[1].to, 0u);
  plan.maps = plan.storage_maps;
  EXPECT_FALSE(roost::cli::stored_owners_shift(plan));
}

TEST(StoredOwners, KernelOverlayIsRefusedOnlyWhereOwnersShift) {
  try {
    roost::cli::check_storage_driver(keep_id_plan("overlay"), "keep-id");
    FAIL();
  } catch (const roost::UsageError& error) {
    std::string message = error.what();
    EXPECT_NE(message.find("--storage-driver overlay"), std::string::npos) << message;
    EXPECT_NE(message.find("--userns keep-id"), std::string::npos) << message;
    EXPECT_NE(message.find("use --storage-driver fuse-overlayfs"), std::string::npos) << message;
  }
  for (const char* driver : {"auto", "fuse-overlayfs"})
    EXPECT_NO_THROW(roost::cli::check_storage_driver(keep_id_plan(driver), "keep-id")) << driver;
  auto usual = keep_id_plan("overlay");
  usual.maps = usual.storage_maps;
  EXPECT_NO_THROW(roost::cli::check_storage_driver(usual, "auto"));
}
