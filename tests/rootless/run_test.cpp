// Running: what a container sees (namespaces, /proc, /dev, /sys, /etc files, volumes,
// tmpfs, a read-only root), how its command, environment, working directory and user
// come from the image and the options, and what --rm and rm leave behind.

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;

using Running = RoostTest;

std::string default_path_line() {
  return std::string(kDefaultPath) + "\n";
}

// The mount options (field 6) of the mount at `mount_point` in a mountinfo text.
std::string mount_options(const std::string& mountinfo, const std::string& mount_point) {
  std::string options;
  for (const auto& line : lines_of(mountinfo)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, point, opts;
    fields >> id >> parent >> device >> root >> point >> opts;
    if (point == mount_point) options = opts;
  }
  return options;
}

TEST_F(Running, CommandIsPid1InNamespacesOfItsOwn) {
  std::string image = load_busybox();
  const std::vector<std::string> kinds = {"user", "mnt", "pid", "uts", "ipc"};
  std::string probe = "echo $$";
  for (const auto& kind : kinds) probe += "; readlink /proc/self/ns/" + kind;
  Outcome seen = run_in(image, {"sh", "-c", probe});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  std::vector<std::string> lines = lines_of(seen.out);
  ASSERT_EQ(lines.size(), kinds.size() + 1) << seen.out;
  EXPECT_EQ(lines[0], "1");
  for (size_t i = 0; i < kinds.size(); ++i)
    EXPECT_NE(lines[i + 1], fs::read_symlink("/proc/self/ns/" + kinds[i]).string()) << kinds[i];
}

TEST_F(Running, ContainerRootIsTheCallerOnTheHost) {
  std::string image = load_busybox();
  fs::create_directories(scratch("volume"));
  Outcome seen = run_in(image, {"sh", "-c", "id -u; touch /volume/made-inside"},
                        {"-v", scratch("volume").string() + ":/volume"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "0\n");
  struct stat st;
  ASSERT_EQ(::stat(scratch("volume/made-inside").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::getuid());
}

TEST_F(Running, EachContainerHasItsOwnWritableLayer) {
  std::string image = load_busybox();
  Outcome first = roost({"run", "--name", "first", image, "sh", "-c", "echo 1 > /written"});
  installation().remember_container("first");
  EXPECT_EQ(first.exit_code, 0) << first.describe();
  Outcome second = run_in(image, {"sh", "-c", "test -e /written && echo leaked; echo done"});
  EXPECT_EQ(second.out, "done\n") << second.describe();
  EXPECT_EQ(roost({"rm", "first"}).exit_code, 0);
}

TEST_F(Running, RmOptionAndRmCommandRemoveContainers) {
  std::string image = load_busybox();
  ASSERT_EQ(roost({"run", "--rm", "--name", "gone", image, "true"}).exit_code, 0);
  ASSERT_EQ(roost({"run", "--name", "kept", image, "true"}).exit_code, 0);
  installation().remember_container("kept");
  Outcome listed = roost({"ps", "-a"});
  EXPECT_EQ(listed.exit_code, 0) << listed.describe();
  EXPECT_EQ(listed.out.find("gone"), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("kept"), std::string::npos) << listed.out;
  Outcome removed = roost({"rm", "kept"});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_EQ(roost({"ps", "-a"}).out.find("kept"), std::string::npos);
}

// What container root made is removed directly; what other mapped ids own, or a
// directory locked with mode 0, needs the user namespace. Both must go, with --rm and rm.
TEST_F(Running, RemovalTakesFilesOfOtherIdsAndLockedDirectories) {
  std::string image = load_busybox();
  const std::string probe =
      "mkdir -p /theirs/deeper /locked/inside && touch /theirs/deeper/file /mine && "
      "chown -R 1000:1000 /theirs && chmod 0755 /theirs /theirs/deeper && "
      "chown 1000 /mine && chmod 0 /mine /locked/inside /locked";
  ASSERT_EQ(roost({"run", "--rm", image, "sh", "-c", probe}).exit_code, 0);
  ASSERT_EQ(roost({"run", "--name", "owned", image, "sh", "-c", probe}).exit_code, 0);
  installation().remember_container("owned");
  Outcome removed = roost({"rm", "owned"});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(installation().root() / "containers"))
    left.push_back(entry.path().filename().string());
  EXPECT_TRUE(left.empty()) << left.size() << " left, the first " << left.front();
}

// docker's default set (chown, dac_override, fowner, fsetid, kill, setgid, setuid,
// setpcap, net_bind_service, sys_chroot, setfcap); nothing inheritable, so that a
// program given file capabilities cannot gain more than the set allows.
TEST_F(Running, CapabilitiesAreTheDefaultSetAndNoneInheritable) {
  std::string image = load_busybox();
  Outcome seen = roost({"run", "--rm", image, "sh", "-c",
                        "grep -E '^(CapInh|CapEff|CapBnd|NoNewPrivs)' /proc/self/status"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out,
            "CapInh:\t0000000000000000\nCapEff:\t00000000800405fb\nCapBnd:\t00000000800405fb\n"
            "NoNewPrivs:\t1\n");
}

TEST_F(Running, DevIsMinimal) {
  std::string image = load_busybox();
  const char* probe =
      "for d in null zero full random urandom tty; do test -c /dev/$d || echo \"no $d\"; done;"
      "test -e /dev/ptmx || echo 'no ptmx'; test -d /dev/pts || echo 'no pts';"
      "test -d /dev/shm || echo 'no shm'; test \"$(readlink /dev/fd)\" = /proc/self/fd || "
      "echo 'no fd link'; for s in stdin stdout stderr; do test -L /dev/$s || echo \"no $s\"; "
      "done; for h in fuse mem kmsg net sda vda; do test -e /dev/$h && echo \"host $h\"; done;"
      "echo x > /dev/null && head -c 2 /dev/urandom | wc -c";
  Outcome seen = run_in(image, {"sh", "-c", probe});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "2\n");
}

TEST_F(Running, ProcIsMountedAndSysIsReadOnly) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"cat", "/proc/self/mountinfo"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_FALSE(mount_options(seen.out, "/proc").empty()) << seen.out;
  EXPECT_EQ(mount_options(seen.out, "/sys").rfind("ro", 0), 0u) << seen.out;
}

TEST_F(Running, HostnameIsSetAndWrittenToEtc) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", "hostname; cat /etc/hostname"}, {"--hostname", "box1"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "box1\nbox1\n");
}

TEST_F(Running, EtcHostsNamesLocalhostForBothFamiliesAndTheHostname) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"cat", "/etc/hosts"}, {"--hostname", "box1"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  bool v4 = false, v6 = false, own = false;
  for (const auto& line : lines_of(seen.out)) {
    std::istringstream words(line);
    std::string address, name;
    words >> address;
    while (words >> name) {
      v4 = v4 || (address == "127.0.0.1" && name == "localhost");
      v6 = v6 || (address == "::1" && name == "localhost");
      own = own || name == "box1";
    }
  }
  EXPECT_TRUE(v4 && v6 && own) << seen.out;
}

TEST_F(Running, ResolvConfIsTheHostsAfterFollowingItsSymlinks) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"cat", "/etc/resolv.conf"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, read_file("/etc/resolv.conf"));
}

TEST_F(Running, VolumeIsReadWrite) {
  std::string image = load_busybox();
  write_file(scratch("vol/in"), "from host\n");
  Outcome seen = run_in(image, {"sh", "-c", "cat /data/in; echo from container > /data/out"},
                        {"-v", scratch("vol").string() + ":/data"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "from host\n");
  EXPECT_EQ(read_file(scratch("vol/out")), "from container\n");
}

TEST_F(Running, ReadOnlyVolumeRefusesWrites) {
  std::string image = load_busybox();
  write_file(scratch("vol/in"), "from host\n");
  Outcome seen = run_in(image, {"sh", "-c", "cat /data/in; touch /data/out"},
                        {"-v", scratch("vol").string() + ":/data:ro"});
  EXPECT_EQ(seen.exit_code, 1) << seen.describe();
  EXPECT_EQ(seen.out, "from host\n");
  EXPECT_NE(seen.err.find("Read-only file system"), std::string::npos) << seen.describe();
  EXPECT_FALSE(fs::exists(scratch("vol/out")));
}

TEST_F(Running, TmpfsIsMountedAndWritable) {
  std::string image = load_busybox();
  Outcome seen = run_in(image,
                        {"sh", "-c",
                         "echo x > /scratch/f && cat /scratch/f && "
                         "grep ' /scratch ' /proc/self/mountinfo | grep -c tmpfs"},
                        {"--tmpfs", "/scratch"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "x\n1\n");
}

TEST_F(Running, ReadOnlyRootRefusesWrites) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"touch", "/probe"}, {"--read-only"});
  EXPECT_EQ(seen.exit_code, 1) << seen.describe();
  EXPECT_NE(seen.err.find("Read-only file system"), std::string::npos) << seen.describe();
}

TEST_F(Running, ReadOnlyRootKeepsTmpVarTmpAndRunWritable) {
  std::string image = load_busybox();
  Outcome seen = run_in(image,
                        {"sh", "-c",
                         "for d in /tmp /var/tmp /run; do touch $d/probe && echo $d; done; "
                         "stat -c %a /tmp /var/tmp /run; touch /probe"},
                        {"--read-only"});
  EXPECT_EQ(seen.exit_code, 1) << seen.describe();
  EXPECT_EQ(seen.out, "/tmp\n/var/tmp\n/run\n1777\n1777\n755\n") << seen.describe();
  EXPECT_NE(seen.err.find("Read-only file system"), std::string::npos) << seen.describe();
}

TEST_F(Running, ReadOnlyLeavesTheUsersOwnMountsThere) {
  std::string image = load_busybox();
  fs::create_directories(scratch("vol"));
  Outcome seen =
      run_in(image,
             {"sh", "-c",
              "grep -E ' /(tmp|run) ' /proc/self/mountinfo | wc -l; "
              "grep ' /tmp ' /proc/self/mountinfo | grep -c size=1024k"},
             {"--read-only", "--tmpfs", "/tmp:size=1m", "-v", scratch("vol").string() + ":/run"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "2\n1\n") << seen.describe();
}

TEST_F(Running, EnvironmentComesFromImageOptionsAndEnvFile) {
  ImageSpec spec =
      busybox_plus({}, {{"Cmd", {"/bin/sh"}},
                        {"Env", {std::string("PATH=") + kDefaultPath, "FOO=image", "BAR=image"}}});
  spec.name = "localhost/env:1";
  std::string image = load(spec);
  write_file(scratch("env.list"), "# a comment\n\nBAZ=file\n");
  Outcome seen =
      run_in(image, {"sh", "-c", "echo $FOO $BAR $NEW $BAZ"},
             {"-e", "BAR=option", "-e", "NEW=new", "--env-file", scratch("env.list").string()});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "image option new file\n");
}

TEST_F(Running, NullEnvGetsTheUsualPath) {
  ImageSpec spec = busybox_plus({}, {{"Cmd", {"/bin/sh"}}, {"Env", nullptr}});
  spec.name = "localhost/nullenv:1";
  std::string image = load(spec);
  Outcome seen = run_in(image, {"sh", "-c", "echo $PATH"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, default_path_line());
}

TEST_F(Running, MissingWorkingDirIsCreated) {
  ImageSpec spec = busybox_plus({}, {{"Cmd", {"pwd"}},
                                     {"Env", {std::string("PATH=") + kDefaultPath}},
                                     {"WorkingDir", "/go/src/app"}});
  spec.name = "localhost/workdir:1";
  std::string image = load(spec);
  Outcome seen = run_in(image, {});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "/go/src/app\n");
  Outcome option = run_in(image, {"pwd"}, {"-w", "/made/by/option"});
  EXPECT_EQ(option.exit_code, 0) << option.describe();
  EXPECT_EQ(option.out, "/made/by/option\n");
}

ImageSpec image_with_user(const std::string& user, std::vector<TarEntry> top = {}) {
  ImageSpec spec;
  spec.layers = {fixtures::busybox_layer(false)};
  if (!top.empty()) spec.layers.push_back(make_tar(top));
  spec.config = {
      {"Cmd", {"/bin/sh"}}, {"Env", {std::string("PATH=") + kDefaultPath}}, {"User", user}};
  spec.name = "localhost/user:1";
  return spec;
}

TEST_F(Running, NumericUserWithoutPasswdRuns) {
  std::string image = load(image_with_user("1001"));
  Outcome seen = run_in(image, {"sh", "-c", "id -u; id -g"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "1001\n0\n");
}

TEST_F(Running, UserNameMissingFromPasswdIsAClearError) {
  std::string image =
      load(image_with_user("app", {TarEntry::directory("etc"),
                                   TarEntry::file("etc/passwd", "root:x:0:0::/root:/bin/sh\n")}));
  Outcome seen = run_in(image, {"id"});
  EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  EXPECT_TRUE(std::regex_search(seen.err, std::regex("\\bapp\\b"))) << seen.describe();
  EXPECT_EQ(seen.out, "");
}

TEST_F(Running, PasswdSymlinkLeadingOutOfTheRootfsIsNotFollowed) {
  write_file(scratch("host-passwd"), "app:x:4242:4242::/:/bin/sh\n");
  std::string image = load(
      image_with_user("app", {TarEntry::directory("etc"),
                              TarEntry::symlink("etc/passwd", scratch("host-passwd").string())}));
  Outcome seen = run_in(image, {"id", "-u"});
  EXPECT_NE(seen.out, "4242\n") << "roost read the host's file through the image's symlink";
  EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  EXPECT_TRUE(std::regex_search(seen.err, std::regex("\\bapp\\b"))) << seen.describe();
}

TEST_F(Running, UserByNameFromTheImagesPasswd) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", "id -u; id -g"}, {"-u", "app"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "1000\n1000\n");
}

TEST_F(Running, UserAsUidAndGid) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", "id -u; id -g"}, {"-u", "1234:5678"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "1234\n5678\n");
}

TEST_F(Running, EntrypointOptionDropsTheImagesCmd) {
  std::string image = load_busybox();
  Outcome seen = roost({"run", "--rm", "--entrypoint", "/bin/date", image});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  std::regex date_output(R"(^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \w+ \d{4}\n$)");
  EXPECT_TRUE(std::regex_match(seen.out, date_output)) << "date should run with no argument\n"
                                                       << seen.describe();
}

TEST_F(Running, EmptyEntrypointOptionClearsTheImagesEntrypoint) {
  ImageSpec spec =
      busybox_plus({}, {{"Entrypoint", {"git"}}, {"Env", {std::string("PATH=") + kDefaultPath}}});
  spec.name = "localhost/git:1";
  std::string image = load(spec);
  Outcome seen = roost({"run", "--rm", "--entrypoint", "", image, "sh", "-c", "echo sh ran"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "sh ran\n");
  Outcome with_git = run_in(image, {"status"});
  EXPECT_EQ(with_git.exit_code, 127) << "the image's entrypoint git does not exist\n"
                                     << with_git.describe();
}

TEST_F(Running, EntrypointAsJsonArray) {
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"echo from-json $0"}, {"--entrypoint", R"(["/bin/sh","-c"])"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "from-json /bin/sh\n") << seen.describe();
}

TEST_F(Running, EntrypointAndCmdCombineAsDockerDoes) {
  ImageSpec spec = busybox_plus({}, {{"Entrypoint", {"/bin/echo", "entry"}},
                                     {"Cmd", {"from-cmd"}},
                                     {"Env", {std::string("PATH=") + kDefaultPath}}});
  spec.name = "localhost/echo:1";
  std::string image = load(spec);
  EXPECT_EQ(run_in(image, {}).out, "entry from-cmd\n");
  EXPECT_EQ(run_in(image, {"from-args"}).out, "entry from-args\n");
}

TEST_F(Running, HostWithoutDelegatedCgroupsRunsAndSaysSoAtDebugLevel) {
  std::string image = load_busybox();
  Outcome seen = roost({"--log-level", "debug", "run", "--rm", image, "echo", "hi"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "hi\n");
  EXPECT_NE(seen.err.find("cgroup"), std::string::npos) << seen.describe();
}

TEST_F(Running, AutomaticStorageDriverChoiceIsLoggedAtDebugLevel) {
  std::string image = load_busybox();
  Outcome seen =
      roost({"--log-level", "debug", "run", "--rm", image, "cat", "/proc/self/mountinfo"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  std::string type = root_filesystem_type(seen.out);
  ASSERT_TRUE(type == "overlay" || type == "fuse.fuse-overlayfs") << seen.out;
  // The kernel's driver is named as "overlay" or "overlayfs" without "fuse-" in front.
  std::regex driver_named(type == "overlay" ? "(^|[^-])overlay" : "fuse-overlayfs");
  EXPECT_TRUE(std::regex_search(seen.err, driver_named))
      << "the debug log should name the driver that mounted " << type << "\n"
      << seen.describe();
}

}  // namespace
}  // namespace rootless
