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
