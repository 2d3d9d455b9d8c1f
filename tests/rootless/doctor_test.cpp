// roost doctor and roost info on the real machine, as the test user: first what passes
// here, then each condition broken the way a user can break it (a subordinate id file
// without the user's line, a copy of newuidmap without its setuid bit, a runtime
// directory of another user, /dev/fuse hidden by an unreadable file, storage on a noexec
// or full filesystem), and the diagnosis and fix doctor gives for it.

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string user_name() {
  const char* name = std::getenv("USER");
  return name != nullptr ? name : std::to_string(::getuid());
}

class Doctor : public RoostTest {
 protected:
  Spawn doctor_spawn(const std::vector<std::string>& options = {}) {
    std::vector<std::string> args = {"doctor", "--format", "json"};
    args.insert(args.end(), options.begin(), options.end());
    return installation().spawn(args);
  }

  // Runs doctor and returns its report, checking that the exit status agrees with it.
  json run_doctor(const Spawn& spawn) {
    Outcome outcome = run(spawn);
    json report;
    try {
      report = json::parse(outcome.out);
    } catch (const json::exception& error) {
      ADD_FAILURE() << "doctor printed no JSON: " << error.what() << "\n" << outcome.describe();
      return json::object();
    }
    std::string status = report.value("status", "");
    int expected_exit = status == "pass" ? 0 : status == "warn" ? 2 : 1;
    EXPECT_EQ(outcome.exit_code, expected_exit) << outcome.describe();
    EXPECT_EQ(report.value("passed", false), status == "pass") << outcome.describe();
    return report;
  }

  static json check(const json& report, const std::string& name) {
    for (const auto& item : report.value("checks", json::array()))
      if (item.value("name", "") == name) return item;
    ADD_FAILURE() << "no check " << name << " in " << report.dump(2);
    return json::object();
  }

  // doctor in a user and mount namespace of its own (as its root), where `prepare`
  // (shell commands) has changed the mounts first.
  Spawn in_private_mounts(const std::string& prepare, const std::vector<std::string>& options) {
    Spawn spawn = doctor_spawn(options);
    std::vector<std::string> argv = {"unshare", "--user", "--map-root-user",           "--mount",
                                     "sh",      "-c",     prepare + " && exec \"$@\"", "sh"};
    argv.insert(argv.end(), spawn.argv.begin(), spawn.argv.end());
    spawn.argv = argv;
    return spawn;
  }

  void use_subuid_file(const std::string& text) {
    write_file(scratch("subuid"), text);
    write_file(installation().home() / ".config/roost/config.toml",
               "[userns]\nsubuid_file = \"" + scratch("subuid").string() + "\"\n");
  }
};

TEST_F(Doctor, WhatRootlessContainersNeedPassesOnThisMachine) {
  json report = run_doctor(doctor_spawn());
  for (const char* name :
       {"subuid", "subgid", "newuidmap", "newgidmap", "user namespaces", "overlay", "/dev/fuse",
        "fuse-overlayfs", "runtime dir", "storage", "free space"})
    EXPECT_EQ(check(report, name).value("status", ""), "pass") << check(report, name).dump(2);
  EXPECT_NE(report.value("status", ""), "fail") << report.dump(2);
}

TEST_F(Doctor, AMissingSubuidLineIsNamedWithTheLineThatAddsIt) {
  use_subuid_file("someone-else:100000:65536\n");
  json report = run_doctor(doctor_spawn());
  json subuid = check(report, "subuid");
  EXPECT_EQ(subuid.value("status", ""), "fail");
  EXPECT_EQ(subuid.value("finding", ""), "no entry for user " + user_name() + " (uid " +
                                             std::to_string(::getuid()) + ") in " +
                                             scratch("subuid").string());
  EXPECT_EQ(subuid.value("fix", ""),
            "add the line '" + user_name() + ":165536:65536' to " + scratch("subuid").string());
  EXPECT_EQ(check(report, "subgid").value("status", ""), "pass") << "the other file is fine";
  EXPECT_EQ(report.value("status", ""), "fail");
}

TEST_F(Doctor, TooFewAndSharedSubordinateIdsAreNamed) {
  use_subuid_file(user_name() + ":100000:1000\n");
  EXPECT_NE(check(run_doctor(doctor_spawn()), "subuid").value("finding", "").find("only 1000"),
            std::string::npos);
  use_subuid_file("someone-else:90000:20000\n" + user_name() + ":100000:65536\n");
  json subuid = check(run_doctor(doctor_spawn()), "subuid");
  EXPECT_EQ(subuid.value("status", ""), "fail");
  EXPECT_NE(subuid.value("finding", "").find("user someone-else has 100000-109999 too"),
            std::string::npos)
      << subuid.dump(2);
}

TEST_F(Doctor, ACopyOfNewuidmapWithoutItsSetuidBitIsNamed) {
  fs::path helpers = scratch("helpers");
  fs::create_directories(helpers);
  fs::copy_file("/usr/bin/newuidmap", helpers / "newuidmap");
  ASSERT_EQ(fs::status(helpers / "newuidmap").permissions() & fs::perms::set_uid, fs::perms::none);
  Spawn spawn = doctor_spawn();
  set_env(spawn.env, "PATH", helpers.string() + ":" + kDefaultPath);
  json report = run_doctor(spawn);
  json newuidmap = check(report, "newuidmap");
  std::string copy = (helpers / "newuidmap").string();
  EXPECT_EQ(newuidmap.value("status", ""), "fail");
  EXPECT_NE(newuidmap.value("finding", "").find(copy + " is neither setuid root"),
            std::string::npos)
      << newuidmap.dump(2);
  EXPECT_NE(newuidmap.value("fix", "").find("chmod u+s " + copy), std::string::npos);
  EXPECT_EQ(check(report, "newgidmap").value("status", ""), "pass");
}

TEST_F(Doctor, ARuntimeDirectoryOfAnotherUserIsRefused) {
  Spawn spawn = doctor_spawn();
  set_env(spawn.env, "XDG_RUNTIME_DIR", "/");
  json runtime = check(run_doctor(spawn), "runtime dir");
  EXPECT_EQ(runtime.value("status", ""), "fail");
  EXPECT_EQ(runtime.value("finding", ""), "/ belongs to uid 0, not to you (uid " +
                                              std::to_string(::getuid()) +
                                              "); roost refuses to use it");
  EXPECT_NE(runtime.value("fix", "").find("directory of your own with mode 0700"),
            std::string::npos);
}

TEST_F(Doctor, ARuntimeDirectoryOthersMayEnterIsNamed) {
  fs::path shared = scratch("shared-runtime");
  fs::create_directories(shared);
  fs::permissions(shared, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  Spawn spawn = doctor_spawn();
  set_env(spawn.env, "XDG_RUNTIME_DIR", shared.string());
  json runtime = check(run_doctor(spawn), "runtime dir");
  EXPECT_EQ(runtime.value("status", ""), "fail");
  EXPECT_EQ(runtime.value("finding", ""),
            shared.string() + " has mode 755; others may use it; roost refuses to use it");
}

// In a namespace of its own, a root-owned file the test user cannot read hides /dev/fuse.
TEST_F(Doctor, AnUnreadableDevFuseFailsWhereFuseOverlayfsIsUsed) {
  ASSERT_NE(::access("/etc/shadow", R_OK), 0) << "the test needs a file it cannot read";
  std::string hide = "mount --bind /etc/shadow /dev/fuse";
  json needed = check(run_doctor(in_private_mounts(hide, {"--storage-driver", "fuse-overlayfs"})),
                      "/dev/fuse");
  EXPECT_EQ(needed.value("status", ""), "fail");
  EXPECT_EQ(needed.value("finding", ""),
            "/dev/fuse cannot be opened for reading and writing: Permission denied");
  EXPECT_NE(needed.value("fix", "").find("chmod 0666 /dev/fuse"), std::string::npos);
  json fallback = check(run_doctor(in_private_mounts(hide, {})), "/dev/fuse");
  EXPECT_EQ(fallback.value("status", ""), "warn") << "the kernel's overlayfs works here";
  EXPECT_EQ(check(run_doctor(in_private_mounts("true", {"--storage-driver", "fuse-overlayfs"})),
                  "/dev/fuse")
                .value("status", ""),
            "pass");
}

TEST_F(Doctor, StorageOnANoexecOrFullFilesystemFails) {
  fs::path mount_point = scratch("small");
  fs::create_directories(mount_point);
  std::string root = (mount_point / "store").string();
  json noexec = check(
      run_doctor(in_private_mounts("mount -t tmpfs -o noexec,size=1g tmpfs " + mount_point.string(),
                                   {"--root", root})),
      "storage");
  EXPECT_EQ(noexec.value("status", ""), "fail");
  EXPECT_NE(noexec.value("finding", "").find("is mounted noexec"), std::string::npos)
      << noexec.dump(2);
  json full =
      check(run_doctor(in_private_mounts("mount -t tmpfs -o size=16m tmpfs " + mount_point.string(),
                                         {"--root", root})),
            "free space");
  EXPECT_EQ(full.value("status", ""), "fail");
  EXPECT_NE(full.value("finding", "").find("only 0.0 GiB free in " + mount_point.string()),
            std::string::npos)
      << full.dump(2);
}

class Info : public RoostTest {};

TEST_F(Info, ShowsTheMapsTheDriverAndWhatTheStoreHolds) {
  load_busybox();
  Outcome outcome = roost({"info", "--format", "json"});
  ASSERT_EQ(outcome.exit_code, 0) << outcome.describe();
  json info = json::parse(outcome.out);
  EXPECT_EQ(info["user"]["uid"], ::getuid());
  EXPECT_EQ(info["storage"]["root"], installation().root().string());
  EXPECT_EQ(info["storage"]["driver_in_use"], "overlay");
  std::string own = "0 " + std::to_string(::getuid()) + " 1";
  ASSERT_TRUE(info["id_maps"].contains("uid_map")) << info.dump(2);
  EXPECT_EQ(info["id_maps"]["uid_map"][0], own);
  EXPECT_GT(info["id_maps"]["uid_map"].size(), 1u) << "subordinate ranges are mapped too";
  EXPECT_EQ(info["store"]["images"], 1);
  EXPECT_EQ(info["store"]["containers"], 0);
  EXPECT_EQ(info["helpers"]["/dev/fuse"], "usable");
  Outcome text = roost({"info"});
  EXPECT_NE(text.out.find("  driver_in_use: overlay\n"), std::string::npos) << text.out;
}

}  // namespace
}  // namespace rootless
