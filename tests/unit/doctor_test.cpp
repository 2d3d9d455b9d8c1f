// doctor's verdicts and fixes for findings of every kind, and the subordinate id file
// reading behind them. The real machine, broken on purpose, is checked in
// tests/rootless/doctor_test.cpp.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "launcher/commands_info.hpp"

namespace roost::cli {
namespace {

namespace stdfs = std::filesystem;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A machine where everything a rootless container needs is in place.
Machine healthy_machine() {
  Machine machine;
  machine.caller = {1000, 1000, "alice"};
  for (auto* subids : {&machine.subuid, &machine.subgid}) {
    subids->file_exists = true;
    subids->ranges = {{100000, 65536}};
    subids->total = 65536;
    subids->first_free = 165536;
  }
  machine.subuid.file = "/etc/subuid";
  machine.subgid.file = "/etc/subgid";
  machine.newuidmap = {"newuidmap", "/usr/bin/newuidmap", "setuid root", ""};
  machine.newgidmap = {"newgidmap", "/usr/bin/newgidmap", "setuid root", ""};
  machine.user_namespaces.max_user_namespaces = 15000;
  machine.fuse = {"", "/usr/bin/fuse-overlayfs", "1.10", ""};
  machine.storage = {
      "/home/alice/.local/share/roost", "ext4", false, false, false, true, uint64_t{20} << 30};
  machine.runtime_dir = {"/run/user/1000", ""};
  machine.cgroups.layout = cgroups::CgroupLayout::Unified;
  machine.cgroups.unified = machine.cgroups.systemd_running = true;
  machine.cgroups.bus_reachable = machine.cgroups.can_limit = true;
  machine.cgroups.uid = 1000;
  machine.cgroups.bus = {"unix:path=/run/user/1000/bus", "/run/user/1000/bus", "XDG_RUNTIME_DIR"};
  machine.cgroups.delegated_controllers = {"cpu", "io", "memory", "pids"};
  machine.linger = true;
  return machine;
}

Settings default_settings() {
  Settings settings;
  settings.data_root = "/home/alice/.local/share/roost";
  settings.runtime_root = "/run/user/1000/roost";
  return settings;
}

Check check_named(const std::vector<Check>& checks, const std::string& name) {
  for (const auto& check : checks)
    if (check.name == name) return check;
  ADD_FAILURE() << "no check named " << name;
  return {};
}

Check doctor_says(const Machine& machine, const std::string& name,
                  const Settings& settings = default_settings()) {
  return check_named(doctor_checks(machine, settings), name);
}

TEST(Doctor, AHealthyMachinePassesEveryCheck) {
  for (const auto& check : doctor_checks(healthy_machine(), default_settings())) {
    EXPECT_EQ(check.verdict, Verdict::Pass) << check.name << ": " << check.finding;
    EXPECT_EQ(check.fix, "") << check.name;
  }
}

TEST(Doctor, AMissingSubuidEntryNamesTheUsermodThatAddsAFreeRange) {
  Machine machine = healthy_machine();
  machine.subuid.ranges.clear();
  machine.subuid.total = 0;
  Check check = doctor_says(machine, "subuid");
  EXPECT_EQ(check.verdict, Verdict::Fail);
  EXPECT_EQ(check.finding, "no entry for user alice (uid 1000) in /etc/subuid");
  EXPECT_EQ(check.fix, "as root: usermod --add-subuids 165536-231071 alice");
}

TEST(Doctor, AnEntryMissingFromAConfiguredFileNamesTheLineToAdd) {
  Machine machine = healthy_machine();
  machine.subgid = {"/srv/ids/subgid", false, "", {}, 0, {}, 100000};
  Check check = doctor_says(machine, "subgid");
  EXPECT_EQ(check.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(check.finding, "(there is no such file)")) << check.finding;
  EXPECT_EQ(check.fix, "add the line 'alice:100000:65536' to /srv/ids/subgid");
}

TEST(Doctor, TooFewOrSharedSubordinateIdsFail) {
  Machine machine = healthy_machine();
  machine.subuid.ranges = {{100000, 1000}};
  machine.subuid.total = 1000;
  Check few = doctor_says(machine, "subuid");
  EXPECT_EQ(few.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(few.finding, "alice has only 1000 subordinate ids in /etc/subuid"))
      << few.finding;
  machine.subuid.overlaps = {"user bob has 100500-100999 too"};
  Check shared = doctor_says(machine, "subuid");
  EXPECT_EQ(shared.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(shared.finding, "not its own: user bob has 100500-100999 too"));
  EXPECT_TRUE(contains(shared.fix, "a range no other user has"));
}

TEST(Doctor, RootNeedsNeitherSubordinateIdsNorMapHelpers) {
  Machine machine = healthy_machine();
  machine.caller = {0, 0, "root"};
  machine.subuid = {};
  machine.newuidmap.problem = "newuidmap not found";
  EXPECT_EQ(doctor_says(machine, "subuid").verdict, Verdict::Pass);
  EXPECT_EQ(doctor_says(machine, "newuidmap").verdict, Verdict::Pass);
}

TEST(Doctor, AMapHelperWithoutPrivilegeOrMissingNamesItsFix) {
  Machine machine = healthy_machine();
  machine.newuidmap.problem = "/opt/newuidmap is neither setuid root nor ...";
  machine.newuidmap.path = "/opt/newuidmap";
  Check unprivileged = doctor_says(machine, "newuidmap");
  EXPECT_EQ(unprivileged.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(unprivileged.fix, "chown root /opt/newuidmap && chmod u+s /opt/newuidmap"));
  machine.newgidmap = {"newgidmap", "", "", "newgidmap not found"};
  EXPECT_EQ(doctor_says(machine, "newgidmap").fix, "as root: apt-get install uidmap");
}

TEST(Doctor, EachUserNamespaceSysctlHasItsOwnFix) {
  Machine machine = healthy_machine();
  machine.user_namespaces.problem = "a user namespace cannot be made: Operation not permitted";
  machine.user_namespaces.unprivileged_userns_clone = 0;
  EXPECT_TRUE(contains(doctor_says(machine, "user namespaces").fix,
                       "sysctl -w kernel.unprivileged_userns_clone=1"));
  machine.user_namespaces.unprivileged_userns_clone = 1;
  machine.user_namespaces.apparmor_restricts_userns = 1;
  EXPECT_TRUE(contains(doctor_says(machine, "user namespaces").fix,
                       "kernel.apparmor_restrict_unprivileged_userns=0"));
  machine.user_namespaces.max_user_namespaces = 0;
  Check check = doctor_says(machine, "user namespaces");
  EXPECT_EQ(check.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(check.fix, "user.max_user_namespaces=15000"));
}

TEST(Doctor, FuseMattersOnlyWhereRoostWouldUseIt) {
  Machine machine = healthy_machine();
  machine.fuse.device_problem = "/dev/fuse cannot be opened for reading and writing: EACCES";
  EXPECT_EQ(doctor_says(machine, "/dev/fuse").verdict, Verdict::Warn);
  Settings fuse_driver = default_settings();
  fuse_driver.storage_driver = "fuse-overlayfs";
  Check needed = doctor_says(machine, "/dev/fuse", fuse_driver);
  EXPECT_EQ(needed.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(needed.fix, "chmod 0666 /dev/fuse"));
  machine.overlay_problem = "mount overlay on /x: Operation not permitted";
  EXPECT_EQ(doctor_says(machine, "overlay").verdict, Verdict::Warn);
  EXPECT_EQ(doctor_says(machine, "/dev/fuse").verdict, Verdict::Fail);
  Settings overlay_driver = default_settings();
  overlay_driver.storage_driver = "overlay";
  EXPECT_EQ(doctor_says(machine, "overlay", overlay_driver).verdict, Verdict::Fail);
}

TEST(Doctor, ARuntimeDirOfSomeoneElseFailsAndNoneAtAllWarns) {
  Machine machine = healthy_machine();
  machine.runtime_dir.problem = "/run/user/0 belongs to uid 0, not to you (uid 1000)";
  Check check = doctor_says(machine, "runtime dir");
  EXPECT_EQ(check.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(check.finding, "roost refuses to use it"));
  machine.runtime_dir = {};
  EXPECT_EQ(doctor_says(machine, "runtime dir").verdict, Verdict::Warn);
}

TEST(Doctor, LimitsWithoutBusLingerOrControllersAreWarnings) {
  Machine machine = healthy_machine();
  machine.cgroups.delegated_controllers = {"cpu", "pids"};
  Check controllers = doctor_says(machine, "cgroups");
  EXPECT_EQ(controllers.verdict, Verdict::Warn);
  EXPECT_EQ(controllers.finding, "systemd delegates 'cpu pids' to user@1000.service, not memory");
  EXPECT_TRUE(contains(controllers.fix, "/etc/systemd/system/user@.service.d/delegate.conf"));
  machine.linger = false;
  EXPECT_EQ(doctor_says(machine, "linger").fix, "loginctl enable-linger alice");
  machine.cgroups.bus_reachable = false;
  EXPECT_EQ(doctor_says(machine, "user bus").verdict, Verdict::Warn);
  machine.cgroups.layout = cgroups::CgroupLayout::Hybrid;
  machine.cgroups.unified = false;
  EXPECT_TRUE(contains(doctor_says(machine, "cgroups").fix, "systemd.unified_cgroup_hierarchy=1"));
}

TEST(Doctor, StorageOnNfsNoexecOrWithoutRoomFails) {
  Machine machine = healthy_machine();
  machine.storage.filesystem = "nfs4";
  machine.storage.network = true;
  machine.storage.noexec = true;
  Check storage = doctor_says(machine, "storage");
  EXPECT_EQ(storage.verdict, Verdict::Fail);
  EXPECT_TRUE(contains(storage.finding, "network filesystem (nfs4)")) << storage.finding;
  EXPECT_TRUE(contains(storage.finding, "mounted noexec")) << storage.finding;
  EXPECT_TRUE(contains(storage.fix, "[storage] root"));
  machine.storage.free_bytes = 100 << 20;
  EXPECT_EQ(doctor_says(machine, "free space").verdict, Verdict::Fail);
}

class SubidFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (stdfs::temp_directory_path() / ("roost-subid-" + std::to_string(::getpid()))).string();
  }
  void TearDown() override { stdfs::remove(path_); }
  void write(const std::string& text) { std::ofstream(path_) << text; }
  std::string path_;
};

TEST_F(SubidFile, RangesTotalsOverlapsAndTheFirstFreeId) {
  write("# comment\nbob:100000:65536\nalice:150000:65536\n1000:300000:10\ncarol:400000:5\n");
  auto finding = find_subids(path_, "alice", 1000);
  EXPECT_TRUE(finding.error.empty()) << finding.error;
  EXPECT_EQ(finding.ranges,
            (std::vector<std::pair<uint64_t, uint64_t>>{{150000, 65536}, {300000, 10}}));
  EXPECT_EQ(finding.total, 65546u);
  EXPECT_EQ(finding.overlaps, (std::vector<std::string>{"user bob has 150000-165535 too"}));
  EXPECT_EQ(finding.first_free, 400005u);
}

TEST_F(SubidFile, AMalformedLineOfTheUserIsAnErrorAndAMissingFileIsNot) {
  write("alice:lots:65536\n");
  EXPECT_TRUE(contains(find_subids(path_, "alice", 1000).error, path_));
  auto missing = find_subids(path_ + ".absent", "alice", 1000);
  EXPECT_FALSE(missing.file_exists);
  EXPECT_TRUE(missing.error.empty());
}

TEST(Info, TheDocumentHasEverySection) {
  Context context;
  context.settings = default_settings();
  auto document = info_document(healthy_machine(), context);
  for (const char* key :
       {"version", "user", "storage", "id_maps", "cgroups", "bus", "helpers", "store"})
    EXPECT_TRUE(document.contains(key)) << key;
  EXPECT_EQ(document["storage"]["driver_in_use"], "overlay");
  EXPECT_EQ(document["cgroups"]["limits"], "available");
  EXPECT_EQ(document["helpers"]["newuidmap"]["privilege"], "setuid root");
}

}  // namespace
}  // namespace roost::cli
