// Images: load and import in every format roost accepts, the store's guarantees
// (verified digests, layers shared and unpacked once, nothing half-visible, safe under
// concurrent loads) and refusal of images made for another platform.

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;

using Images = RoostTest;

constexpr const char* kHello = "hello from a hand-made layer\n";

ImageSpec hello_image(const std::string& name) {
  ImageSpec spec = busybox_plus({{TarEntry::file("hello", kHello)}});
  spec.name = name;
  return spec;
}

TEST_F(Images, LoadsDockerArchiveWrittenBySkopeo) {
  Outcome loaded = load_file(fixtures::busybox_docker_archive());
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  EXPECT_NE(loaded.out.find(fixtures::kBusyboxName), std::string::npos) << loaded.describe();
  EXPECT_EQ(image_ids().size(), 1u);
  Outcome echoed = run_in(fixtures::kBusyboxName, {"echo", "hi"});
  EXPECT_EQ(echoed.exit_code, 0) << echoed.describe();
  EXPECT_EQ(echoed.out, "hi\n");
}

TEST_F(Images, LoadsOciArchiveWrittenBySkopeo) {
  Outcome loaded = load_file(fixtures::busybox_oci_archive());
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  Outcome echoed = run_in(fixtures::kBusyboxName, {"echo", "hi"});
  EXPECT_EQ(echoed.exit_code, 0) << echoed.describe();
  EXPECT_EQ(echoed.out, "hi\n");
}

TEST_F(Images, LoadsLegacyDockerArchive) {
  load(hello_image("localhost/legacy:1"), DockerLayout::Legacy);
  Outcome shown = run_in("localhost/legacy:1", {"cat", "/hello"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, kHello);
}

TEST_F(Images, LoadsDockerArchiveInTheLayoutOfDocker25) {
  load(hello_image("localhost/docker25:1"), DockerLayout::Docker25);
  Outcome shown = run_in("localhost/docker25:1", {"cat", "/hello"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, kHello);
}

TEST_F(Images, RunsFromOciLayoutWithZstdLayers) {
  std::string image = "oci:" + fixtures::busybox_zstd_layout().string() + ":1";
  Outcome shown = run_in(image, {"id"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out.rfind("uid=0(root) gid=0(root)", 0), 0u) << shown.describe();
}

TEST_F(Images, RunsFromOciLayoutWithGzipLayers) {
  std::string image = "oci:" + fixtures::busybox_layout().string() + ":1";
  Outcome shown = run_in(image, {"id", "-u"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, "0\n");
}

TEST_F(Images, RunsFromOciLayoutWithUncompressedLayers) {
  fs::path layout = scratch("plain-layout");
  write_oci_layout(layout, hello_image("localhost/plain:1"), "7", Compression::None);
  Outcome shown = run_in("oci:" + layout.string() + ":7", {"cat", "/hello"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, kHello);
}

TEST_F(Images, RunsFromOciLayoutWithHandMadeZstdLayers) {
  fs::path layout = scratch("zstd-layout");
  write_oci_layout(layout, hello_image("localhost/zstd:1"), "1", Compression::Zstd);
  Outcome shown = run_in("oci:" + layout.string() + ":1", {"cat", "/hello"});
  EXPECT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, kHello);
}

TEST_F(Images, ArchiveTransportsWorkWhereAnImageIsNamed) {
  for (const std::string& image : {"docker-archive:" + fixtures::busybox_docker_archive().string(),
                                   "oci-archive:" + fixtures::busybox_oci_archive().string()}) {
    Outcome echoed = run_in(image, {"echo", "hi"});
    EXPECT_EQ(echoed.exit_code, 0) << image << "\n" << echoed.describe();
    EXPECT_EQ(echoed.out, "hi\n") << image;
  }
}

TEST_F(Images, ImportsPlainRootfsTarball) {
  fs::path tarball = scratch("rootfs.tar");
  write_file(tarball, fixtures::busybox_layer());
  Outcome imported = roost({"import", tarball.string(), "mybase:1"});
  ASSERT_EQ(imported.exit_code, 0) << imported.describe();
  for (const char* name : {"mybase:1", "localhost/mybase:1"}) {
    Outcome echoed = run_in(name, {"echo", "imported"});
    EXPECT_EQ(echoed.exit_code, 0) << name << "\n" << echoed.describe();
    EXPECT_EQ(echoed.out, "imported\n") << name;
  }
}

// Other names of the same image id were given by other archives or by tag, not by this one.
TEST_F(Images, LoadReportsOnlyTheNamesTheArchiveGave) {
  std::string image = load_busybox();
  require_success(roost({"tag", image, "localhost/other-name:7"}), "tag");
  Outcome loaded = load_file(fixtures::busybox_docker_archive());
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  EXPECT_EQ(loaded.out, "Loaded image: " + image + "\n");
  Outcome listed = roost({"images", "--format", "{{.Repository}}:{{.Tag}}"});
  EXPECT_EQ(lines_of(listed.out).size(), 2u) << "the tag stays: " << listed.describe();
}

TEST_F(Images, TableColumnsFitLongNamesAndTags) {
  std::string image = load_busybox();
  std::string long_tag = "a-tag-longer-than-twelve-characters";
  std::string long_name = "localhost/a/repository/name/longer/than/forty/characters/in/all";
  require_success(roost({"tag", image, long_name + ":" + long_tag}), "tag");
  Outcome listed = roost({"images"});
  ASSERT_EQ(listed.exit_code, 0) << listed.describe();
  auto lines = lines_of(listed.out);
  ASSERT_EQ(lines.size(), 3u) << listed.describe();
  for (const char* column : {"TAG", "IMAGE ID", "CREATED", "SIZE"}) {
    size_t at = lines[0].find(column);
    for (const auto& line : lines) {
      EXPECT_EQ(line.substr(at - 3, 3), "   ") << column << " in\n" << listed.out;
      EXPECT_NE(line[at], ' ') << column << " in\n" << listed.out;
    }
  }
  EXPECT_NE(listed.out.find(long_tag), std::string::npos) << listed.out;
}

TEST_F(Images, RmiRemovesTheImageAndItsLayers) {
  std::string image = load_busybox();
  ASSERT_FALSE(layer_dirs().empty()) << "no unpacked layer under " << installation().root();
  Outcome removed = roost({"rmi", image});
  ASSERT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_TRUE(image_ids().empty());
  EXPECT_TRUE(layer_dirs().empty()) << "layers left after the last image went";
  Outcome gone = run_in(image, {"true"});
  EXPECT_EQ(gone.exit_code, 125) << gone.describe();
}

TEST_F(Images, LoadReadsTheArchiveFromStandardInput) {
  Spawn spawn = installation().spawn({"load"});
  spawn.input = read_file(fixtures::busybox_docker_archive());
  Outcome loaded = run(spawn);
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  EXPECT_EQ(loaded.out, std::string("Loaded image: ") + fixtures::kBusyboxName + "\n");
  EXPECT_EQ(image_ids().size(), 1u);
  EXPECT_EQ(run_in(fixtures::kBusyboxName, {"true"}).exit_code, 0);
}

TEST_F(Images, LoadFromATerminalAsksForAFile) {
  PtySession terminal(installation().spawn({"load"}), 24, 80);
  EXPECT_EQ(terminal.finish(Millis(60000)), 125) << terminal.screen();
  EXPECT_NE(terminal.screen().find("standard input is a terminal; name the archive with -i FILE"),
            std::string::npos)
      << terminal.screen();
}

TEST_F(Images, LoadOfSomethingElseOnStandardInputIsNamed) {
  Spawn spawn = installation().spawn({"load"});
  spawn.input = "not an archive\n";
  Outcome loaded = run(spawn);
  EXPECT_EQ(loaded.exit_code, 125) << loaded.describe();
  EXPECT_NE(loaded.err.find("load from standard input: "), std::string::npos) << loaded.describe();
  EXPECT_TRUE(image_ids().empty());
}

TEST_F(Images, AStoreThatCannotBeMadeIsNamedWithWhereToPutIt) {
  std::vector<std::string> env = installation().env();
  set_env(env, "HOME", "/nonexistent");
  std::erase_if(env,
                [](const std::string& entry) { return entry.rfind("XDG_DATA_HOME=", 0) == 0; });
  Spawn spawn({roost_binary(), "images"}, env);
  spawn.timeout = Seconds(90);
  Outcome listed = run(spawn);
  EXPECT_EQ(listed.exit_code, 125) << listed.describe();
  EXPECT_EQ(listed.out, "");
  EXPECT_NE(listed.err.find("Error: image store /nonexistent/.local/share/roost: "),
            std::string::npos)
      << listed.describe();
  EXPECT_NE(listed.err.find("; choose a directory you can write with --root, or set "
                            "XDG_DATA_HOME\n"),
            std::string::npos)
      << listed.describe();
}

TEST_F(Images, LoadOfACutShortArchiveSaysItIsDamaged) {
  std::string archive = read_file(fixtures::busybox_docker_archive());
  Spawn spawn = installation().spawn({"load"});
  spawn.input = archive.substr(0, archive.size() / 2);
  Outcome loaded = run(spawn);
  EXPECT_EQ(loaded.exit_code, 125) << loaded.describe();
  EXPECT_NE(loaded.err.find("load from standard input: the archive is damaged or cut short ("),
            std::string::npos)
      << loaded.describe();
  EXPECT_NE(loaded.err.find("); save or copy it again\n"), std::string::npos) << loaded.describe();
  EXPECT_TRUE(image_ids().empty());
}

// rmi and a starting run wait for the same lock: either the container is made first
// and rmi refuses, or the image goes first and run says so, never a container without
// its image.
TEST_F(Images, RmiAndAStartingRunOfTheImageNeverOverlap) {
  std::string image = load_busybox();
  fs::path lock_path = roost_root() / "containers.lock";
  int held = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(held, 0);
  ASSERT_EQ(::flock(held, LOCK_EX), 0);
  Background run_it(installation().spawn({"run", "--rm", image, "echo", "ran"}));
  Background remove_it(installation().spawn({"rmi", image}));
  std::this_thread::sleep_for(Millis(2000));
  EXPECT_EQ(image_ids().size(), 1u) << "rmi did not wait for the containers' lock";
  ::close(held);
  Outcome ran = run_it.finish(Millis(60000));
  Outcome removed = remove_it.finish(Millis(60000));
  if (removed.exit_code == 0) {
    EXPECT_EQ(ran.exit_code, 125) << ran.describe();
    EXPECT_NE(ran.err.find("was removed while the container was being created"), std::string::npos)
        << ran.describe();
    EXPECT_TRUE(image_ids().empty());
  } else {
    EXPECT_EQ(ran.exit_code, 0) << ran.describe();
    EXPECT_EQ(ran.out, "ran\n");
    EXPECT_NE(removed.err.find("is used by container"), std::string::npos) << removed.describe();
    EXPECT_EQ(image_ids().size(), 1u);
  }
  EXPECT_EQ(roost({"ps", "-a", "--format", "json"}).out, "[]\n");
}

TEST_F(Images, RmiOfAllTheNamesOfAnImageInUseAtOnceIsRefused) {
  std::string image = load_busybox();
  require_success(roost({"tag", image, "localhost/second:1"}), "tag localhost/second:1");
  require_success(roost({"create", "--name", "made", image, "true"}), "create made");
  Outcome refused = roost({"rmi", image, "localhost/second:1"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err,
            "Error: image localhost/second:1 is used by container made; remove the "
            "container first ('roost rm made')\n");
  EXPECT_EQ(image_ids().size(), 1u);
  require_success(roost({"start", "made"}), "start made, its image kept");
}

TEST_F(Images, RmiOfAnImageInUseNamesTheRemovalThatWorks) {
  std::string image = load_busybox();
  require_success(roost({"create", "--name", "made", image, "true"}), "create made");
  Outcome refused = roost({"rmi", image});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err, "Error: image " + image +
                             " is used by container made; remove the container first ('roost "
                             "rm made')\n");
  require_success(roost({"rm", "made"}), "rm made");
  require_success(roost({"run", "-d", "--name", "web", image, "sleep", "1000"}), "run -d web");
  installation().remember_container("web");
  refused = roost({"rmi", image});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err, "Error: image " + image +
                             " is used by container web, which is running; stop and remove it "
                             "first ('roost rm -f web')\n");
  require_success(roost({"rm", "-f", "web"}), "the suggested rm -f web");
  require_success(roost({"rmi", image}), "rmi once the container is gone");
}

TEST_F(Images, RmiByIdOfAnImageWithSeveralNamesNeedsForce) {
  std::string image = load_busybox();
  require_success(roost({"tag", image, "localhost/second:1"}), "tag localhost/second:1");
  std::string id =
      require_success(roost({"image", "inspect", "--format", "{{.Id}}", image}), "inspect").out;
  id.pop_back();
  Outcome refused = roost({"rmi", id.substr(0, 12)});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err, "Error: rmi " + id.substr(0, 12) + ": the image has 2 names (" + image +
                             ", localhost/second:1), and removing it by id removes them all; "
                             "give -f (--force) to do that, or remove the names one by one\n");
  Outcome listed = roost({"images", "--format", "{{.Repository}}:{{.Tag}}"});
  EXPECT_EQ(lines_of(listed.out).size(), 2u) << listed.describe();
  Outcome removed = roost({"rmi", "-f", id.substr(0, 12)});
  ASSERT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_EQ(removed.out,
            "Untagged: " + image + "\nUntagged: localhost/second:1\nDeleted: " + id + "\n");
  EXPECT_TRUE(image_ids().empty());
  EXPECT_TRUE(layer_dirs().empty());
}

TEST_F(Images, RmiForceKeepsRefusingAnImageAContainerUses) {
  std::string image = load_busybox();
  require_success(roost({"create", "--name", "made", image, "true"}), "create made");
  Outcome refused = roost({"rmi", "--force", image});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.err, "Error: image " + image +
                             " is used by container made; remove the container first ('roost "
                             "rm made')\n");
  EXPECT_EQ(image_ids().size(), 1u);
  require_success(roost({"start", "made"}), "start made, its image kept");
}

TEST_F(Images, RmiAllRemovesEveryImageOrNoneWhileOneIsUsed) {
  std::string busybox = load_busybox();
  ImageSpec spec = busybox_plus({{TarEntry::file("other", "2\n")}});
  spec.name = "localhost/other:1";
  std::string other = load(spec);
  ASSERT_EQ(image_ids().size(), 2u);
  require_success(roost({"create", "--name", "made", other, "true"}), "create made");
  Outcome refused = roost({"rmi", "-a"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(lines_of(refused.err).size(), 1u) << refused.describe();
  EXPECT_NE(refused.err.find("container made"), std::string::npos) << refused.describe();
  EXPECT_EQ(image_ids().size(), 2u) << "rmi -a removed some images before refusing";
  require_success(roost({"rm", "made"}), "rm made");
  Outcome removed = roost({"rmi", "--all"});
  ASSERT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_TRUE(image_ids().empty()) << removed.describe();
  EXPECT_TRUE(layer_dirs().empty());
}

TEST_F(Images, RmiTakesNamesOrAllButNotBothOrNeither) {
  std::string image = load_busybox();
  Outcome both = roost({"rmi", "-a", image});
  EXPECT_EQ(both.exit_code, 125) << both.describe();
  EXPECT_EQ(both.err, "Error: roost rmi: give image names or --all, not both\n");
  Outcome neither = roost({"rmi"});
  EXPECT_EQ(neither.exit_code, 125) << neither.describe();
  EXPECT_EQ(neither.err,
            "Error: roost rmi: name the images to remove, or give --all to remove every image\n");
  EXPECT_EQ(image_ids().size(), 1u);
}

// Each load of localhost/app:1 takes the name from the image before, which is left
// without one.
TEST_F(Images, ImagePruneRemovesUnnamedImagesNoContainerUses) {
  std::vector<std::string> ids;
  for (std::string version : {"1", "2", "3"}) {
    ImageSpec spec = busybox_plus({{TarEntry::file("version", version + "\n")}});
    spec.name = "localhost/app:1";
    load(spec);
    Outcome shown = roost({"image", "inspect", "--format", "{{.Id}}", spec.name});
    ids.push_back(require_success(shown, "inspect app:1").out);
    if (version == "1") require_success(roost({"create", "--name", "made", spec.name}), "create");
  }
  std::string busybox = load_busybox();
  std::string busybox_id =
      require_success(roost({"image", "inspect", "--format", "{{.Id}}", busybox}), "").out;
  Outcome pruned = roost({"image", "prune"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.describe();
  EXPECT_EQ(pruned.out, ids[1]) << "only the unnamed image no container uses";
  EXPECT_EQ(image_ids().size(), 3u);
  Outcome all = roost({"image", "prune", "-a", "-f"});
  ASSERT_EQ(all.exit_code, 0) << all.describe();
  std::vector<std::string> removed = lines_of(all.out);
  std::sort(removed.begin(), removed.end());
  std::vector<std::string> expected = {ids[2], busybox_id};
  for (auto& id : expected) id.pop_back();
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(removed, expected) << all.describe();
  EXPECT_EQ(image_ids(), std::vector<std::string>{ids[0].substr(0, 12)});
  require_success(roost({"start", "made"}), "start made, its image kept");
  require_success(roost({"rm", "-f", "made"}), "rm -f made");
  Outcome last = roost({"image", "prune"});
  EXPECT_EQ(last.out, ids[0]) << last.describe();
  EXPECT_TRUE(image_ids().empty());
  EXPECT_TRUE(layer_dirs().empty());
  Outcome nothing = roost({"image", "prune"});
  EXPECT_EQ(nothing.exit_code, 0) << nothing.describe();
  EXPECT_EQ(nothing.out, "");
}

TEST_F(Images, ImageLsListAndRmAreImagesAndRmi) {
  std::string image = load_busybox();
  std::string listed = require_success(roost({"images"}), "images").out;
  EXPECT_EQ(require_success(roost({"image", "ls"}), "image ls").out, listed);
  EXPECT_EQ(require_success(roost({"image", "list"}), "image list").out, listed);
  Outcome removed = roost({"image", "rm", image});
  ASSERT_EQ(removed.exit_code, 0) << removed.describe();
  EXPECT_EQ(removed.out.rfind("Untagged: " + image + "\nDeleted: ", 0), 0u) << removed.describe();
  EXPECT_TRUE(image_ids().empty());
}

TEST_F(Images, SharedLayerIsUnpackedOnce) {
  ImageSpec first = hello_image("localhost/first:1");
  ImageSpec second = busybox_plus({{TarEntry::file("other", "x\n")}});
  second.name = "localhost/second:1";
  load(first);
  load(second);
  std::set<std::string> expected;
  for (const auto& id : diff_ids(first)) expected.insert(id);
  for (const auto& id : diff_ids(second)) expected.insert(id);
  ASSERT_EQ(expected.size(), 3u);
  EXPECT_EQ(layer_dirs(), expected);
  EXPECT_EQ(image_ids().size(), 2u);
}

TEST_F(Images, LayerNotMatchingItsDiffIdIsRefused) {
  ImageSpec spec = hello_image("localhost/tampered:1");
  spec.claimed_diff_ids = diff_ids(spec);
  spec.layers.back() = make_tar({TarEntry::file("hello", "tampered\n")});
  fs::path archive = scratch("tampered.tar");
  write_docker_archive(archive, spec, DockerLayout::Legacy);
  Outcome loaded = load_file(archive);
  EXPECT_EQ(loaded.exit_code, 125) << loaded.describe();
  EXPECT_NE(loaded.err.find(spec.claimed_diff_ids.back()), std::string::npos)
      << "the error should name the digest that did not match\n"
      << loaded.describe();
  EXPECT_TRUE(image_ids().empty());
}

// Larger than a load reads before it knows which layers the store lacks.
ImageSpec image_with_a_large_layer() {
  std::string noise(3 << 20, '\0');
  uint64_t state = 0x2545f4914f6cdd1dULL;
  for (char& byte : noise) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    byte = static_cast<char>(state >> 56);
  }
  ImageSpec spec = busybox_plus({{TarEntry::file("noise", noise)}});
  spec.name = "localhost/noisy:1";
  return spec;
}

// A copy of the archive has the large layer's bytes spoilt inside an intact tar: loaded
// into a store that holds the layer it succeeds, which shows the layer was not read, and
// loaded into an empty store it is refused, naming the layer's digest.
TEST_F(Images, WarmLoadReadsNoLayerTheStoreHolds) {
  ImageSpec spec = image_with_a_large_layer();
  const std::string& layer = spec.layers.back();
  std::string diff_id = diff_ids(spec).back();
  std::vector<std::pair<std::string, std::function<void(const fs::path&)>>> writers = {
      {"legacy",
       [&](const fs::path& file) { write_docker_archive(file, spec, DockerLayout::Legacy); }},
      {"docker25",
       [&](const fs::path& file) { write_docker_archive(file, spec, DockerLayout::Docker25); }},
      {"oci", [&](const fs::path& file) { write_oci_archive(file, spec); }},
  };
  for (const auto& [kind, write] : writers) {
    SCOPED_TRACE(kind);
    fs::path archive = scratch(kind + ".tar");
    write(archive);
    Outcome first = require_success(load_file(archive), "load " + kind);
    std::set<std::string> layers = layer_dirs();
    std::string bytes = read_file(archive);
    size_t at = bytes.find(layer);
    ASSERT_NE(at, std::string::npos);
    bytes[at + layer.size() / 2] ^= 0x55;
    fs::path spoilt = scratch(kind + "-spoilt.tar");
    write_file(spoilt, bytes);
    Outcome warm = load_file(spoilt);
    EXPECT_EQ(warm.exit_code, 0) << warm.describe();
    EXPECT_EQ(warm.out, first.out);
    EXPECT_EQ(layer_dirs(), layers);
    require_success(roost({"rmi", spec.name}), "rmi " + spec.name);
    Outcome cold = load_file(spoilt);
    EXPECT_EQ(cold.exit_code, 125) << cold.describe();
    EXPECT_NE(cold.err.find(diff_id), std::string::npos) << cold.describe();
    EXPECT_TRUE(image_ids().empty());
    EXPECT_TRUE(layer_dirs().empty());
  }
}

TEST_F(Images, BlobNotMatchingItsDigestIsRefused) {
  fs::path layout = scratch("corrupt-layout");
  ImageSpec spec = hello_image("localhost/corrupt:1");
  write_oci_layout(layout, spec, "1");
  std::string hex = diff_ids(spec).back();
  std::string blob = read_file(layout / "blobs/sha256" / hex);
  blob[blob.size() / 2] ^= 0x20;
  write_file(layout / "blobs/sha256" / hex, blob);
  Outcome ran = run_in("oci:" + layout.string() + ":1", {"cat", "/hello"});
  EXPECT_EQ(ran.exit_code, 125) << ran.describe();
  EXPECT_NE(ran.err.find(hex), std::string::npos) << ran.describe();
  EXPECT_EQ(ran.out, "");
  EXPECT_TRUE(image_ids().empty());
}

// A large layer, so that a load can be interrupted part of the way through.
ImageSpec big_image() {
  std::string noise(48 << 20, '\0');
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  for (char& byte : noise) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    byte = static_cast<char>(state >> 56);
  }
  ImageSpec spec = busybox_plus({{TarEntry::file("big", noise)}});
  spec.name = "localhost/big:1";
  return spec;
}

TEST_F(Images, KilledLoadLeavesNothingHalfVisible) {
  fs::path archive = scratch("big.tar");
  write_docker_archive(archive, big_image(), DockerLayout::Legacy);
  for (int delay_ms : {20, 80, 200, 500}) {
    Background load(installation().spawn({"load", "-i", archive.string()}));
    std::this_thread::sleep_for(Millis(delay_ms));
    load.signal(SIGKILL);
    load.finish(Millis(10000));
    std::vector<std::string> ids = image_ids();
    if (ids.empty()) continue;
    Outcome counted = run_in("localhost/big:1", {"sh", "-c", "wc -c < /big"});
    EXPECT_EQ(counted.exit_code, 0) << "after a kill at " << delay_ms << " ms\n"
                                    << counted.describe();
    EXPECT_EQ(counted.out, std::to_string(48 << 20) + "\n");
  }
  require_success(load_file(archive), "load after the interrupted loads");
  Outcome counted = run_in("localhost/big:1", {"sh", "-c", "wc -c < /big"});
  EXPECT_EQ(counted.exit_code, 0) << counted.describe();
  EXPECT_EQ(counted.out, std::to_string(48 << 20) + "\n");
}

TEST_F(Images, ConcurrentLoadsCorruptNothing) {
  ImageSpec first = hello_image("localhost/first:1");
  ImageSpec second = busybox_plus({{TarEntry::file("other", "other\n")}});
  second.name = "localhost/second:1";
  write_docker_archive(scratch("first.tar"), first, DockerLayout::Legacy);
  write_docker_archive(scratch("second.tar"), second, DockerLayout::Docker25);
  std::vector<std::unique_ptr<Background>> loads;
  for (int i = 0; i < 6; ++i) {
    std::string archive = scratch(i % 2 ? "second.tar" : "first.tar").string();
    loads.push_back(std::make_unique<Background>(installation().spawn({"load", "-i", archive})));
  }
  for (auto& load : loads) {
    Outcome done = load->finish(Millis(120000));
    EXPECT_EQ(done.exit_code, 0) << done.describe();
  }
  EXPECT_EQ(image_ids().size(), 2u);
  EXPECT_EQ(layer_dirs().size(), 3u);
  EXPECT_EQ(run_in("localhost/first:1", {"cat", "/hello"}).out, kHello);
  EXPECT_EQ(run_in("localhost/second:1", {"cat", "/other"}).out, "other\n");
}

// Loading a foreign image is allowed (as podman does); running it is refused before any
// container is created, naming the image's platform and the host's.
// The parameter: true for another architecture, false for another operating system.
class ForeignImage : public RoostTest, public ::testing::WithParamInterface<bool> {
 protected:
  static std::string other_architecture() {
    return host_architecture() == "arm64" ? "amd64" : "arm64";
  }
  ImageSpec foreign_spec() const {
    ImageSpec spec = hello_image("localhost/foreign:1");
    if (GetParam())
      spec.architecture = other_architecture();
    else
      spec.os = "windows";
    return spec;
  }
  std::string theirs() const { return GetParam() ? other_architecture() : "windows"; }
  std::string ours() const { return GetParam() ? host_architecture() : "linux"; }

  void expect_refused(const ImageSpec& spec, const std::string& theirs, const std::string& ours) {
    fs::path archive = scratch("foreign.tar");
    write_docker_archive(archive, spec, DockerLayout::Legacy);
    Outcome loaded = load_file(archive);
    if (loaded.exit_code == 0) {
      Outcome ran = run_in(spec.name, {"echo", "ran"});
      expect_names_both(ran, theirs, ours);
      EXPECT_EQ(ran.out, "");
      std::error_code error;
      EXPECT_TRUE(!fs::exists(roost_root() / "containers", error) ||
                  fs::is_empty(roost_root() / "containers", error))
          << "a container was created for a foreign image";
      return;
    }
    expect_names_both(loaded, theirs, ours);
    EXPECT_TRUE(image_ids().empty());
  }

  // Named by its layout or archive, the image is refused before it is stored.
  void expect_refused_unstored(const ImageSpec& spec, const std::string& theirs,
                               const std::string& ours) {
    write_oci_layout(scratch("layout"), spec, "1");
    write_docker_archive(scratch("foreign.tar"), spec, DockerLayout::Legacy);
    for (const std::string& image : {"oci:" + scratch("layout").string() + ":1",
                                     "docker-archive:" + scratch("foreign.tar").string()}) {
      Outcome ran = run_in(image, {"echo", "ran"});
      expect_names_both(ran, theirs, ours);
      EXPECT_EQ(ran.out, "");
      EXPECT_TRUE(image_ids().empty()) << image;
      EXPECT_TRUE(layer_dirs().empty()) << image;
      EXPECT_EQ(roost({"images", "--quiet"}).out, "") << image;
    }
  }

  static void expect_names_both(const Outcome& refused, const std::string& theirs,
                                const std::string& ours) {
    EXPECT_EQ(refused.exit_code, 125) << refused.describe();
    EXPECT_NE(refused.err.find(theirs), std::string::npos) << refused.describe();
    EXPECT_NE(refused.err.find(ours), std::string::npos) << refused.describe();
  }
};

TEST_P(ForeignImage, IsRefusedNamingBothPlatforms) {
  expect_refused(foreign_spec(), theirs(), ours());
}

TEST_P(ForeignImage, NamedByItsLayoutIsRefusedBeforeItIsStored) {
  expect_refused_unstored(foreign_spec(), theirs(), ours());
}

INSTANTIATE_TEST_SUITE_P(OtherArchitectureOrOs, ForeignImage, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "OtherArchitecture" : "OtherOs";
                         });

}  // namespace
}  // namespace rootless
