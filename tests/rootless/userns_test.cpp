// User namespaces as the kernel sees them from inside the container: maps built from
// the caller's /etc/subuid and /etc/subgid ranges (by name or uid, several ranges),
// keep-id, the single-id map only on request, and the refusals that explain themselves.

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <regex>

#include "tests/rootless/support/roost_test.hpp"
#include "tests/rootless/support/userns_files.hpp"

namespace rootless {
namespace {

namespace fs = std::filesystem;

constexpr const char* kShowMaps = "cat /proc/self/uid_map; echo --; cat /proc/self/gid_map";

struct Maps {
  std::vector<MapLine> uids;
  std::vector<MapLine> gids;
};

Maps parse_maps(const std::string& out) {
  auto separator = out.find("--\n");
  if (separator == std::string::npos) return {};
  return {parse_map(out.substr(0, separator)), parse_map(out.substr(separator + 3))};
}

std::string caller_name() {
  const passwd* entry = ::getpwuid(::getuid());
  return entry != nullptr ? entry->pw_name : std::to_string(::getuid());
}

uint64_t total(const std::vector<SubordinateRange>& ranges) {
  uint64_t sum = 0;
  for (const auto& range : ranges) sum += range.count;
  return sum;
}

class Userns : public RoostTest {
 protected:
  // Points roost at other subuid/subgid files through the user's config.toml.
  void use_subid_files(const std::string& subuid_text, const std::string& subgid_text) {
    write_file(scratch("subuid"), subuid_text);
    write_file(scratch("subgid"), subgid_text);
    write_file(installation().home() / ".config/roost/config.toml",
               "[userns]\nsubuid_file = \"" + scratch("subuid").string() + "\"\nsubgid_file = \"" +
                   scratch("subgid").string() + "\"\n");
  }

  // The caller's real ranges from `file`, rewritten with the caller's uid as the key.
  std::string keyed_by_uid(const std::string& file) {
    std::string text = "# keyed by uid\nsomeone-else:500000:65536\n";
    for (const auto& range : subordinate_ranges(file))
      text += std::to_string(::getuid()) + ":" + std::to_string(range.start) + ":" +
              std::to_string(range.count) + "\n";
    return text;
  }
};

// Every id of every range is mapped once, after the caller as root, and nothing else.
void expect_full_map(const std::vector<MapLine>& map, uint64_t caller,
                     const std::vector<SubordinateRange>& ranges, const std::string& what) {
  EXPECT_EQ(map_problems(map), "") << what;
  EXPECT_NE(std::find(map.begin(), map.end(), MapLine{0, caller, 1}), map.end())
      << what << ": container root should be the caller";
  for (const auto& range : ranges)
    EXPECT_EQ(ids_used_from(map, range), range.count)
        << what << ": range " << range.start << ":" << range.count << " not fully used";
  uint64_t mapped = 0;
  for (const auto& line : map) mapped += line.count;
  EXPECT_EQ(mapped, 1 + total(ranges)) << what;
}

TEST_F(Userns, EveryRangeOfTheCallerIsMapped) {
  auto uid_ranges = subordinate_ranges("/etc/subuid");
  auto gid_ranges = subordinate_ranges("/etc/subgid");
  EXPECT_GE(uid_ranges.size(), 2u)
      << "this case needs two ranges, a 65536-id one listed before a one-id one at a lower id "
         "(scripts/setup gives roost-test exactly that)";
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", kShowMaps});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  Maps maps = parse_maps(seen.out);
  expect_full_map(maps.uids, ::getuid(), uid_ranges, "uid map");
  expect_full_map(maps.gids, ::getgid(), gid_ranges, "gid map");
}

TEST_F(Userns, HighestMappedIdOwnsFiles) {
  uint64_t highest = total(subordinate_ranges("/etc/subuid"));
  std::string id = std::to_string(highest);
  std::string image = load_busybox();
  Outcome seen =
      run_in(image, {"sh", "-c", "touch /f && chown " + id + ":" + id + " /f && stat -c %u /f"});
  EXPECT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, id + "\n");
}

TEST_F(Userns, SubuidLinesKeyedByUidWorkLikeTheName) {
  std::string image = load_busybox();
  Outcome by_name = run_in(image, {"sh", "-c", kShowMaps});
  ASSERT_EQ(by_name.exit_code, 0) << by_name.describe();
  ASSERT_EQ(map_problems(parse_maps(by_name.out).uids), "") << by_name.describe();
  use_subid_files(keyed_by_uid("/etc/subuid"), keyed_by_uid("/etc/subgid"));
  Outcome by_uid = run_in(image, {"sh", "-c", kShowMaps});
  EXPECT_EQ(by_uid.exit_code, 0) << by_uid.describe();
  EXPECT_EQ(by_uid.out, by_name.out);
}

TEST_F(Userns, NoSubuidEntryIsExplainedWithAValidLine) {
  std::string image = load_busybox();
  use_subid_files("someone-else:500000:65536\n", "someone-else:500000:65536\n");
  Outcome seen = run_in(image, {"true"});
  EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  EXPECT_NE(seen.err.find(scratch("subuid").string()), std::string::npos) << seen.describe();
  EXPECT_TRUE(std::regex_search(seen.err, std::regex(caller_name() + ":[0-9]+:[0-9]+")))
      << "the error should show a valid line for this user\n"
      << seen.describe();
}

TEST_F(Userns, SingleIdMapOnlyWhenAsked) {
  std::string image = load_busybox();
  use_subid_files("someone-else:500000:65536\n", "someone-else:500000:65536\n");
  Outcome seen = run_in(image, {"sh", "-c", kShowMaps}, {"--userns=single"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  Maps maps = parse_maps(seen.out);
  EXPECT_EQ(maps.uids, (std::vector<MapLine>{{0, ::getuid(), 1}})) << seen.out;
  EXPECT_EQ(maps.gids, (std::vector<MapLine>{{0, ::getgid(), 1}})) << seen.out;
}

TEST_F(Userns, KeepIdMapsTheCallerToItself) {
  std::string image = load_busybox();
  fs::create_directories(scratch("volume"));
  fs::permissions(scratch("volume"), fs::perms::all, fs::perm_options::replace);
  Outcome seen = run_in(image, {"sh", "-c", std::string("id -u; touch /volume/mine; ") + kShowMaps},
                        {"--userns=keep-id", "-v", scratch("volume").string() + ":/volume"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out.substr(0, seen.out.find('\n')), std::to_string(::getuid()));
  Maps maps = parse_maps(seen.out.substr(seen.out.find('\n') + 1));
  EXPECT_EQ(map_problems(maps.uids), "") << seen.out;
  EXPECT_EQ(map_problems(maps.gids), "") << seen.out;
  uint64_t uid = ::getuid();
  EXPECT_NE(std::find(maps.uids.begin(), maps.uids.end(), MapLine{uid, uid, 1}), maps.uids.end())
      << seen.out;
  struct stat st;
  ASSERT_EQ(::stat(scratch("volume/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::getuid());
}

TEST_F(Userns, KeepIdWithAUidAboveTheRangeSizeLeavesAGapNotANegativeExtent) {
  EXPECT_GT(::getuid(), 65536u) << "this case needs a caller uid above 65536 with a 65536-id "
                                   "range (scripts/setup gives roost-test uid 70000)";
  std::string image = load_busybox();
  Outcome seen = run_in(image, {"sh", "-c", kShowMaps}, {"--userns=keep-id"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  Maps maps = parse_maps(seen.out);
  EXPECT_EQ(map_problems(maps.uids), "") << seen.out;
  uint64_t uid = ::getuid();
  EXPECT_NE(std::find(maps.uids.begin(), maps.uids.end(), MapLine{uid, uid, 1}), maps.uids.end())
      << seen.out;
  EXPECT_NE(std::find_if(maps.uids.begin(), maps.uids.end(),
                         [](const MapLine& line) { return line.inside == 0; }),
            maps.uids.end())
      << "inside id 0 should still be mapped\n"
      << seen.out;
}

// Busybox plus /owners/root, /owners/app and /owners/other, owned (uid and gid alike) by
// 0, 1000 and 1001 of the image.
ImageSpec image_with_owners() {
  ImageSpec spec =
      busybox_plus({{TarEntry::directory("owners"), TarEntry::file("owners/root", "r\n"),
                     TarEntry::file("owners/app", "a\n").owned_by(1000, 1000),
                     TarEntry::file("owners/other", "o\n").owned_by(1001, 1001)}});
  spec.name = "localhost/owners:1";
  return spec;
}

constexpr const char* kShowOwners =
    "stat -c '%u:%g %n' / /bin /etc /owners/root /owners/app /owners/other";
constexpr const char* kImageOwners =
    "0:0 /\n0:0 /bin\n0:0 /etc\n0:0 /owners/root\n1000:1000 /owners/app\n1001:1001 "
    "/owners/other\n";

std::string caller_ids() {
  return std::to_string(::getuid()) + ":" + std::to_string(::getgid());
}

class KeepIdOnDriver : public Userns, public ::testing::WithParamInterface<std::string> {};

TEST_P(KeepIdOnDriver, ShowsTheImagesOwnersAndTheCallerAsItself) {
  std::string image = load(image_with_owners());
  Outcome seen =
      roost({"--log-level", "debug", "--storage-driver", GetParam(), "run", "--rm", "--userns",
             "keep-id", image, "sh", "-c", std::string(kShowOwners) + "; echo $(id -u):$(id -g)"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, kImageOwners + caller_ids() + "\n");
  if (GetParam() == "auto") {
    EXPECT_NE(seen.err.find("storage driver auto: fuse-overlayfs"), std::string::npos)
        << "the debug log should say why auto took fuse-overlayfs\n"
        << seen.describe();
  }
}

INSTANTIATE_TEST_SUITE_P(Drivers, KeepIdOnDriver, ::testing::Values("auto", "fuse-overlayfs"),
                         [](const auto& info) { return info.param == "auto" ? "Auto" : "Fuse"; });

// The same files made under keep-id and under the default map, as the host stores them.
struct StoredOwner {
  uid_t uid = 0;
  gid_t gid = 0;
  bool operator==(const StoredOwner&) const = default;
};

class KeepId : public Userns {
 protected:
  std::string container_id(const std::string& name) {
    return require_success(roost({"inspect", "--format", "{{.Id}}", name}), "inspect")
        .out.substr(0, 64);
  }

  StoredOwner stored_owner(const std::string& name, const std::string& path) {
    fs::path file = roost_root() / "containers" / container_id(name) / "upper" / path;
    struct stat st;
    if (::lstat(file.c_str(), &st) < 0) throw std::runtime_error("no " + file.string());
    return {st.st_uid, st.st_gid};
  }
};

TEST_F(KeepId, FilesOfTheContainersRootAreStoredAsUnderTheDefaultMap) {
  std::string image = load(image_with_owners());
  std::string make =
      "touch /by-root /by-app && chown 1000:1001 /by-app && echo x >> /owners/app && "
      "stat -c '%u:%g %n' /by-root /by-app /owners/app";
  std::string expected = "0:0 /by-root\n1000:1001 /by-app\n1000:1000 /owners/app\n";
  installation().remember_container("keep");
  installation().remember_container("default");
  Outcome keep =
      roost({"run", "--name", "keep", "--userns", "keep-id", "-u", "0:0", image, "sh", "-c", make});
  ASSERT_EQ(keep.exit_code, 0) << keep.describe();
  EXPECT_EQ(keep.out, expected);
  Outcome usual = roost({"run", "--name", "default", image, "sh", "-c", make});
  ASSERT_EQ(usual.exit_code, 0) << usual.describe();
  EXPECT_EQ(usual.out, expected);
  EXPECT_EQ(stored_owner("keep", "by-root"), (StoredOwner{::getuid(), ::getgid()}));
  for (const char* path : {"by-root", "by-app", "owners/app"})
    EXPECT_EQ(stored_owner("keep", path), stored_owner("default", path)) << path;
  Outcome again = roost({"start", "-a", "keep"});
  EXPECT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(again.out, expected) << "a second start of the keep-id container";
  require_success(roost({"rm", "keep", "default"}), "rm");
  std::error_code error;
  EXPECT_TRUE(fs::is_empty(roost_root() / "containers", error)) << error.message();
}

TEST_F(KeepId, FilesOfTheCallerInAVolumeAreTheCallers) {
  std::string image = load(image_with_owners());
  fs::create_directories(scratch("volume"));
  Outcome seen = run_in(image, {"sh", "-c", "touch /volume/mine && stat -c %u:%g /volume/mine"},
                        {"--userns", "keep-id", "-v", scratch("volume").string() + ":/volume"});
  ASSERT_EQ(seen.exit_code, 0) << seen.describe();
  EXPECT_EQ(seen.out, caller_ids() + "\n");
  EXPECT_GT(::getuid(), 65538u) << "this case needs a caller uid above its subordinate ids "
                                   "(scripts/setup gives roost-test uid 70000)";
  EXPECT_NE(seen.err.find("--userns keep-id: your uid " + std::to_string(::getuid()) +
                          " lies beyond the 65538 uids your image store maps"),
            std::string::npos)
      << "the caller should be told that its files belong in a volume\n"
      << seen.describe();
  EXPECT_NE(seen.err.find("keep them in a volume (-v)"), std::string::npos) << seen.describe();
  struct stat st;
  ASSERT_EQ(::stat(scratch("volume/mine").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::getuid());
  EXPECT_EQ(st.st_gid, ::getgid());
}

// A store loaded while keep-id is the configured default still holds the image as the
// default map names its owners, so that a container under either map sees them.
TEST_F(KeepId, ConfiguredAsTheDefaultItLeavesTheStoreUnderTheDefaultMap) {
  write_file(installation().home() / ".config/roost/config.toml",
             "[containers]\nuserns = \"keep-id\"\n");
  std::string image = load(image_with_owners());
  Outcome keep = run_in(image, {"sh", "-c", std::string(kShowOwners) + "; id -u"});
  ASSERT_EQ(keep.exit_code, 0) << keep.describe();
  EXPECT_EQ(keep.out, kImageOwners + std::to_string(::getuid()) + "\n");
  Outcome usual =
      run_in(image, {"sh", "-c", std::string(kShowOwners) + "; id -u"}, {"--userns", "auto"});
  ASSERT_EQ(usual.exit_code, 0) << usual.describe();
  EXPECT_EQ(usual.out, kImageOwners + std::string("0\n"));
}

// Busybox plus /srv and /srv/run, owned by uid and gid 1000 of the image and closed to
// others, as an application's files often are.
ImageSpec image_with_private_srv() {
  TarEntry srv = TarEntry::directory("srv", 0750);
  TarEntry run = TarEntry::file("srv/run", "#!/bin/sh\necho ran\n", 0750);
  ImageSpec spec = busybox_plus({{srv.owned_by(1000, 1000), run.owned_by(1000, 1000)}});
  spec.name = "localhost/private-srv:1";
  return spec;
}

// The one error line, checked for the failure itself and for the owner it blames.
void expect_unmapped_owner_named(const Outcome& seen, int status, const std::string& failure,
                                 const std::string& advice) {
  EXPECT_EQ(seen.exit_code, status) << seen.describe();
  ASSERT_EQ(lines_of(seen.err).size(), 1u) << seen.describe();
  std::string line = lines_of(seen.err)[0];
  EXPECT_EQ(line.rfind("Error: " + failure + "; /srv belongs to host uid ", 0), 0u) << line;
  EXPECT_TRUE(std::regex_search(
      line, std::regex("host uid [0-9]+, which this container's user namespace does not map: ")))
      << line;
  EXPECT_NE(line.find(advice), std::string::npos) << line;
}

TEST_F(Userns, FilesOwnedByIdsASingleIdMapLeavesOutAreNamed) {
  std::string image = load(image_with_private_srv());
  std::string advice = "--userns single maps your own ids alone; run it with --userns full";
  expect_unmapped_owner_named(run_in(image, {"true"}, {"--userns=single", "-w", "/srv"}), 125,
                              "enter working directory /srv: Permission denied", advice);
  expect_unmapped_owner_named(run_in(image, {"/srv/run"}, {"--userns=single"}), 126,
                              "/srv/run: cannot be executed: Permission denied", advice);
  installation().remember_container("single");
  require_success(
      roost({"run", "-d", "--name", "single", "--userns=single", image, "sleep", "1000"}),
      "run -d");
  expect_unmapped_owner_named(roost({"exec", "-w", "/srv", "single", "true"}), 125,
                              "enter working directory /srv: Permission denied", advice);
  Outcome full = run_in(image, {"/srv/run"});
  EXPECT_EQ(full.exit_code, 0) << full.describe();
  EXPECT_EQ(full.out, "ran\n");
}

TEST_F(Userns, ImageUnpackedUnderOtherSubordinateIdsIsNamed) {
  std::string image = load(image_with_private_srv());
  // The same ranges less their first 2000 ids: what image uid 1000 was given is no longer
  // the caller's.
  auto shrunk = [](const std::string& file) {
    std::string text;
    for (const auto& range : subordinate_ranges(file))
      if (range.count > 2000)
        text += caller_name() + ":" + std::to_string(range.start + 2000) + ":" +
                std::to_string(range.count - 2000) + "\n";
    return text;
  };
  use_subid_files(shrunk("/etc/subuid"), shrunk("/etc/subgid"));
  expect_unmapped_owner_named(
      run_in(image, {"true"}, {"-w", "/srv"}), 125,
      "enter working directory /srv: Permission denied",
      "image " + image + " was unpacked under other subordinate ids than this container maps");
}

TEST_F(Userns, MapHelperWithoutSetuidIsNamedBeforeTrying) {
  std::string image = load_busybox();
  fs::path helpers = scratch("bin");
  fs::create_directories(helpers);
  for (const char* helper : {"newuidmap", "newgidmap"})
    fs::copy_file(find_in_path(helper), helpers / helper);
  Spawn spawn = installation().spawn({"run", "--rm", image, "echo", "ran"});
  set_env(spawn.env, "PATH", helpers.string() + ":" + kDefaultPath);
  Outcome seen = run(spawn);
  EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  EXPECT_EQ(seen.out, "");
  EXPECT_NE(seen.err.find((helpers / "newuidmap").string()), std::string::npos) << seen.describe();
  EXPECT_TRUE(std::regex_search(seen.err, std::regex("setuid|cap_setuid"))) << seen.describe();
}

TEST_F(Userns, RuntimeDirOfAnotherUserIsRefusedWithTheReason) {
  std::string image = load_busybox();
  std::string foreign = fs::exists("/run/user/0") ? "/run/user/0" : "/run";
  Spawn spawn({roost_binary(), "--root", installation().root().string(), "run", "--rm", image,
               "echo", "hi"},
              installation().env());
  set_env(spawn.env, "XDG_RUNTIME_DIR", foreign);
  Outcome seen = run(spawn);
  EXPECT_NE(seen.err.find("XDG_RUNTIME_DIR"), std::string::npos) << seen.describe();
  EXPECT_NE(seen.err.find(foreign), std::string::npos) << seen.describe();
  if (seen.exit_code == 0) {
    EXPECT_EQ(seen.out, "hi\n");
  } else {
    EXPECT_EQ(seen.exit_code, 125) << seen.describe();
  }
}

}  // namespace
}  // namespace rootless
