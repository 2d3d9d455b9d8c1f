// Layers: hand-made tar layers with the odd and hostile entries of real images,
// unpacked by roost as the unprivileged user and seen through both mount drivers.

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;

class Layers : public RoostTest {
 protected:
  // Loads busybox plus `layers`; returns the image name.
  std::string load_layers(const std::vector<std::vector<TarEntry>>& layers) {
    ImageSpec spec = busybox_plus(layers);
    spec.name = "localhost/layers:1";
    return load(spec);
  }

  // Paths below the storage root whose owner is not the caller.
  std::vector<std::string> foreign_owned_paths() {
    std::vector<std::string> found;
    std::error_code error;
    for (fs::recursive_directory_iterator it(installation().root(), error), end;
         !error && it != end; it.increment(error)) {
      struct stat st;
      if (::lstat(it->path().c_str(), &st) == 0 && st.st_uid != ::getuid())
        found.push_back(it->path().string());
    }
    return found;
  }
};

class LayersOnDriver : public Layers, public ::testing::WithParamInterface<std::string> {
 protected:
  Outcome run_on_driver(const std::string& image, const std::vector<std::string>& command) {
    std::vector<std::string> args = {"--storage-driver", GetParam(), "run", "--rm", image};
    args.insert(args.end(), command.begin(), command.end());
    return roost(args);
  }
};

TEST_P(LayersOnDriver, TopLevelWhiteoutHidesOnlyTheTopLevelFile) {
  std::string image = load_layers({
      {TarEntry::file("test", "top\n"), TarEntry::directory("d"),
       TarEntry::file("d/test", "kept\n")},
      {TarEntry::whiteout("test")},
  });
  Outcome seen = run_on_driver(image, {"sh", "-c", "test -e /test && echo visible; cat /d/test"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "kept\n");
}

std::vector<std::vector<TarEntry>> dir1_layers(TarEntry hide_dir1) {
  std::vector<TarEntry> hiding = {hide_dir1};
  if (hide_dir1.path.find(".wh..wh..opq") != std::string::npos)
    hiding.insert(hiding.begin(), TarEntry::directory("dir1"));
  return {
      {TarEntry::directory("dir1"), TarEntry::directory("dir1/dir2")},
      {TarEntry::directory("dir1"), TarEntry::directory("dir1/dir2"),
       TarEntry::file("dir1/dir2/foo", "foo\n")},
      hiding,
      // Made again in a later step; the mode keeps this layer distinct from the first.
      {TarEntry::directory("dir1", 0775), TarEntry::directory("dir1/dir2")},
  };
}

constexpr const char* kListDir2 = "test -d /dir1/dir2 && echo dir2; ls -A /dir1/dir2";

TEST_P(LayersOnDriver, WhiteoutThenRecreatedDirectoryHidesOldContent) {
  std::string image = load_layers(dir1_layers(TarEntry::whiteout("dir1")));
  Outcome seen = run_on_driver(image, {"sh", "-c", kListDir2});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "dir2\n");
}

TEST_P(LayersOnDriver, OpaqueDirectoryHidesOldContent) {
  std::string image = load_layers(dir1_layers(TarEntry::opaque("dir1")));
  Outcome seen = run_on_driver(image, {"sh", "-c", kListDir2});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "dir2\n");
}

// Docker writes the same empty layer for every step that changes no file, so one
// image may list an identical layer several times.
TEST_P(LayersOnDriver, RepeatedIdenticalLayersMount) {
  std::string image = load_layers({{}, {TarEntry::file("f", "f\n")}, {}, {}});
  Outcome seen = run_on_driver(image, {"cat", "/f"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "f\n");
}

// Common in real images: a lower layer's absolute symlink replaced by a directory. A
// fuse-overlayfs moved into the container's root by pivot_root would resolve such
// lookups through its own mount and deadlock.
TEST_P(LayersOnDriver, AbsoluteSymlinkReplacedByADirectoryIsListed) {
  std::string image = load_layers({
      {TarEntry::symlink("other", "/tmp")},
      {TarEntry::directory("other"), TarEntry::file("other/y", "y\n")},
  });
  Spawn spawn = installation().spawn({"--storage-driver", GetParam(), "run", "--rm", image, "sh",
                                      "-c", "ls -la / >/dev/null; cat /other/y"});
  spawn.timeout = Seconds(60);
  Outcome seen = run(spawn);
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "y\n");
}

// Images built for systemd make /etc/resolv.conf a link to a file under /run that
// exists only once systemd-resolved runs. The container gets a file of its own in place
// of such a link, and a link aiming out of the rootfs leads roost to write nothing there.
TEST_P(LayersOnDriver, LinkedEtcFilesAreReplacedByTheContainersOwn) {
  fs::path outside = scratch("outside-the-rootfs");
  fs::create_directories(outside);
  std::string image = load_layers({{
      TarEntry::directory("etc"),
      TarEntry::symlink("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf"),
      TarEntry::symlink("etc/hosts", "/../../../../../../../../.." + (outside / "hosts").string()),
      TarEntry::symlink("etc/hostname",
                        "../../../../../../../../.." + (outside / "hostname").string()),
  }});
  // The second round meets the files the first one left in the image's layers untouched.
  for (int round = 0; round < 2; ++round) {
    Outcome seen = roost({"--storage-driver", GetParam(), "run", "--rm", "--hostname", "web", image,
                          "sh", "-c",
                          "for f in resolv.conf hosts hostname; do test -L /etc/$f && echo link "
                          "$f; test -f /etc/$f || echo missing $f; done; grep -c localhost "
                          "/etc/hosts; cat /etc/hostname; touch /etc/resolv.conf && echo ok"});
    EXPECT_EQ(seen.exit_code, 0) << seen.describe();
    EXPECT_EQ(seen.out, "2\nweb\nok\n") << seen.describe();
  }
  EXPECT_TRUE(fs::is_empty(outside));
  int links_kept = 0;
  for (const auto& layer : layer_dirs())
    links_kept += fs::is_symlink(roost_root() / "layers" / layer / "etc/resolv.conf");
  EXPECT_EQ(links_kept, 1);
}

TEST_P(LayersOnDriver, RootFilesystemIsMountedByTheChosenDriver) {
  load_busybox();
  Outcome seen = run_on_driver(fixtures::kBusyboxName, {"cat", "/proc/self/mountinfo"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  std::string fstype = root_filesystem_type(seen.out);
  EXPECT_EQ(fstype, GetParam() == "overlay" ? "overlay" : "fuse.fuse-overlayfs") << seen.out;
}

INSTANTIATE_TEST_SUITE_P(Drivers, LayersOnDriver, ::testing::Values("overlay", "fuse-overlayfs"),
                         [](const auto& info) {
                           return info.param == "overlay" ? std::string("KernelOverlay")
                                                          : std::string("FuseOverlayfs");
                         });

TEST_F(Layers, UnreadableFilesUnpackAndStayRemovable) {
  std::string image = load_layers({
      {TarEntry::directory("etc"), TarEntry::file("etc/gshadow", "old\n", 0000),
       TarEntry::directory("root", 0550), TarEntry::file("root/file", "secret\n", 0600),
       TarEntry::directory("d", 0555), TarEntry::file("d/file", "", 0000)},
      {TarEntry::directory("etc"), TarEntry::file("etc/gshadow", "new\n", 0000)},
  });
  Outcome seen = run_in(image, {"sh", "-c",
                                "stat -c '%a %n' /etc/gshadow /root /d /d/file;"
                                "cat /etc/gshadow /root/file"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "0 /etc/gshadow\n550 /root\n555 /d\n0 /d/file\nnew\nsecret\n");
  Outcome removed = roost({"rmi", image});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_TRUE(layer_dirs().empty());
  EXPECT_EQ(foreign_owned_paths(), std::vector<std::string>{});
}

TEST_F(Layers, ContainerWritingInsideUnreadableDirectoriesIsRemovable) {
  std::string image =
      load_layers({{TarEntry::directory("d", 0555), TarEntry::file("d/file", "", 0000)}});
  Outcome written = roost({"run", "--name", "writer", image, "sh", "-c",
                           "mkdir -p /w/x && touch /w/x/f && chmod 0 /w/x/f && chmod 0555 /w/x "
                           "/w && chown 1000:1000 /d/file && echo written"});
  installation().remember_container("writer");
  EXPECT_EQ(written.exit_code, 0) << written.describe();
  EXPECT_EQ(written.out, "written\n");
  EXPECT_NE(foreign_owned_paths(), std::vector<std::string>{})
      << "the container's writable layer should hold files of mapped ids";
  Outcome removed = roost({"rm", "writer"});
  EXPECT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_EQ(roost({"rmi", image}).exit_code, 0);
  EXPECT_EQ(foreign_owned_paths(), std::vector<std::string>{});
}

TEST_F(Layers, DirectoryReplacedBySymlink) {
  std::string image = load_layers({
      {TarEntry::directory("data"), TarEntry::file("data/a", "a\n"), TarEntry::directory("target"),
       TarEntry::file("target/b", "b\n")},
      {TarEntry::symlink("data", "/target")},
  });
  Outcome seen = run_in(image, {"sh", "-c", "readlink /data; ls /data/"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "/target\nb\n");
}

TEST_F(Layers, SymlinkReplacedByDirectory) {
  std::string image = load_layers({
      {TarEntry::directory("target"), TarEntry::file("target/b", "b\n"),
       TarEntry::symlink("data", "/target")},
      {TarEntry::directory("data"), TarEntry::file("data/c", "c\n")},
  });
  Outcome seen = run_in(image, {"sh", "-c", "test -L /data && echo link; ls /data/"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, "c\n");
}

TEST_F(Layers, CharacterDevicesBecomeEmptyFilesWithAWarning) {
  ImageSpec spec =
      busybox_plus({{TarEntry::directory("dev"), TarEntry::char_device("dev/tty0", 4, 0),
                     TarEntry::char_device("dev/zero", 1, 5)}});
  fs::path archive = scratch("devices.tar");
  write_docker_archive(archive, spec, DockerLayout::Legacy);
  Outcome loaded = load_file(archive);
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  EXPECT_NE(loaded.err.find("dev/tty0"), std::string::npos) << loaded.describe();
  EXPECT_NE(loaded.err.find("dev/zero"), std::string::npos) << loaded.describe();
  fs::path layer = installation().root() / "layers" / diff_ids(spec).back();
  for (const char* device : {"dev/tty0", "dev/zero"}) {
    struct stat st;
    ASSERT_EQ(::lstat((layer / device).c_str(), &st), 0) << (layer / device);
    EXPECT_TRUE(S_ISREG(st.st_mode)) << device;
    EXPECT_EQ(st.st_size, 0) << device;
  }
  Outcome zero =
      run_in(spec.name, {"sh", "-c", "test -c /dev/zero && head -c 3 /dev/zero | wc -c"});
  EXPECT_EQ(zero.exit_code, 0) << zero.describe();
  EXPECT_EQ(zero.out, "3\n");
}

TEST_F(Layers, HardlinksSymlinksSpecialBitsAndOwnersAreKept) {
  std::string image = load_layers({{
      TarEntry::directory("opt"),
      TarEntry::file("opt/tool", "tool\n", 0755),
      TarEntry::hardlink("opt/tool-link", "opt/tool"),
      TarEntry::symlink("opt/sym", "tool"),
      TarEntry::file("opt/suid", "s\n", 04755),
      TarEntry::directory("opt/shared", 02775),
      TarEntry::file("opt/owned", "o\n").owned_by(1000, 1000),
      TarEntry::file("opt/nobody", "n\n").owned_by(65534, 65534),
  }});
  Outcome seen = run_in(image, {"sh", "-c",
                                "cd /opt && stat -c '%a %u:%g %n' tool suid shared owned nobody;"
                                "stat -c %h tool; readlink sym; cat tool-link;"
                                "test $(stat -c %i tool) = $(stat -c %i tool-link) && echo same"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out,
            "755 0:0 tool\n4755 0:0 suid\n2775 0:0 shared\n644 1000:1000 owned\n"
            "644 65534:65534 nobody\n2\ntool\ntool\nsame\n");
}

TEST_F(Layers, OwnerOutsideTheMapFailsNamingPathIdAndIdsNeeded) {
  ImageSpec spec = busybox_plus(
      {{TarEntry::directory("srv"), TarEntry::file("srv/data", "d\n").owned_by(200000, 200000)}});
  fs::path archive = scratch("far-owner.tar");
  write_docker_archive(archive, spec, DockerLayout::Legacy);
  Outcome loaded = load_file(archive);
  EXPECT_EQ(loaded.exit_code, 125) << loaded.describe();
  EXPECT_NE(loaded.err.find("srv/data"), std::string::npos) << loaded.describe();
  EXPECT_NE(loaded.err.find("200000"), std::string::npos) << loaded.describe();
  EXPECT_NE(loaded.err.find("200001"), std::string::npos)
      << "the error should say how many ids the image needs (200001)\n"
      << loaded.describe();
  EXPECT_TRUE(image_ids().empty());
  EXPECT_EQ(layer_dirs().count(diff_ids(spec).back()), 0u);
}

// A layer entry that tries to write outside the layer directory.
struct Hostile {
  std::string name;
  std::string named;  // what the error must name
  std::function<std::vector<TarEntry>(const fs::path& outside)> entries;
};

std::string up_to_root() {
  std::string ups;
  for (int i = 0; i < 24; ++i) ups += "../";
  return ups;
}

const Hostile kHostile[] = {
    {"DotDotPath", "dotdot-escape",
     [](const fs::path& outside) {
       return std::vector<TarEntry>{TarEntry::file(
           up_to_root() + (outside / "dotdot-escape").relative_path().string(), "x\n")};
     }},
    {"AbsolutePath", "absolute-escape",
     [](const fs::path& outside) {
       return std::vector<TarEntry>{TarEntry::file((outside / "absolute-escape").string(), "x\n")};
     }},
    {"PathThroughAbsoluteSymlink", "escape/through-symlink",
     [](const fs::path& outside) {
       return std::vector<TarEntry>{TarEntry::symlink("escape", outside.string()),
                                    TarEntry::file("escape/through-symlink", "x\n")};
     }},
    {"PathThroughRelativeSymlink", "up/through-relative-symlink",
     [](const fs::path& outside) {
       return std::vector<TarEntry>{
           TarEntry::symlink("up", up_to_root() + outside.relative_path().string()),
           TarEntry::file("up/through-relative-symlink", "x\n")};
     }},
    {"DirectoryThroughSymlink", "escape-dir/made-through-symlink",
     [](const fs::path& outside) {
       return std::vector<TarEntry>{TarEntry::symlink("escape-dir", outside.string()),
                                    TarEntry::directory("escape-dir/made-through-symlink")};
     }},
    {"HardlinkToOutside", "grab",
     [](const fs::path& outside) {
       return std::vector<TarEntry>{TarEntry::hardlink(
           "grab", up_to_root() + (outside / "victim").relative_path().string())};
     }},
};

void PrintTo(const Hostile& hostile, std::ostream* out) {
  *out << hostile.name;
}

class HostileLayer : public Layers, public ::testing::WithParamInterface<Hostile> {};

TEST_P(HostileLayer, IsRefusedNamingTheEntryAndNothingIsKept) {
  fs::path outside = scratch("outside");
  write_file(outside / "victim", "victim\n");
  std::vector<TarEntry> entries = {TarEntry::file("kept-before", "k\n")};
  for (auto& entry : GetParam().entries(outside)) entries.push_back(std::move(entry));
  ImageSpec spec = busybox_plus({entries});
  fs::path archive = scratch("hostile.tar");
  write_docker_archive(archive, spec, DockerLayout::Legacy);
  Outcome loaded = load_file(archive);
  EXPECT_EQ(loaded.exit_code, 125) << loaded.describe();
  EXPECT_NE(loaded.err.find(GetParam().named), std::string::npos) << loaded.describe();
  std::string layer = diff_ids(spec).back();
  if (layer.rfind("sha256:", 0) != 0) layer = "sha256:" + layer;
  EXPECT_EQ(loaded.err.rfind("Error: unpack layer " + layer + ": ", 0), 0u)
      << "the layer named once, by its digest\n"
      << loaded.describe();
  EXPECT_EQ(loaded.err.find("unpack layer", 8), std::string::npos) << loaded.describe();
  EXPECT_EQ(loaded.err.find("/tmp/load-"), std::string::npos) << loaded.describe();
  std::vector<std::string> outside_now;
  for (const auto& entry : fs::directory_iterator(outside))
    outside_now.push_back(entry.path().filename().string());
  EXPECT_EQ(outside_now, std::vector<std::string>{"victim"});
  EXPECT_EQ(read_file(outside / "victim"), "victim\n");
  EXPECT_EQ(fs::hard_link_count(outside / "victim"), 1u);
  EXPECT_TRUE(image_ids().empty());
  EXPECT_EQ(layer_dirs().count(diff_ids(spec).back()), 0u) << "the hostile layer was kept";
  std::error_code error;
  for (fs::recursive_directory_iterator it(installation().root(), error), end; !error && it != end;
       it.increment(error))
    EXPECT_NE(it->path().filename(), "kept-before") << "part of the layer stayed: " << it->path();
}

INSTANTIATE_TEST_SUITE_P(Entries, HostileLayer, ::testing::ValuesIn(kHostile),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace rootless
