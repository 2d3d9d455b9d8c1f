#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "tests/unit/error_of.hpp"
#include "userns/idmap.hpp"
#include "userns/namespace.hpp"
#include "userns/subid.hpp"

namespace roost::userns {

// For EXPECT_EQ and its messages; found by argument-dependent lookup.
bool operator==(const IdMapEntry& a, const IdMapEntry& b) {
  return a.inside == b.inside && a.outside == b.outside && a.count == b.count;
}
bool operator==(const SubidRange& a, const SubidRange& b) {
  return a.start == b.start && a.count == b.count;
}
std::ostream& operator<<(std::ostream& out, const IdMapEntry& e) {
  return out << "{" << e.inside << " " << e.outside << " " << e.count << "}";
}
std::ostream& operator<<(std::ostream& out, const SubidRange& r) {
  return out << "{" << r.start << " " << r.count << "}";
}

}  // namespace roost::userns

using namespace roost::userns;
using roost::Error;

namespace {

constexpr uint32_t kNobody = 65534;
constexpr uint32_t kAllIds = std::numeric_limits<uint32_t>::max();

using roost::testing::error_of;

// What the kernel and newuidmap demand of a map: sorted by inside id, no overlap inside
// or outside, no extent past the highest id, and every entry within one range or the
// caller's own id alone.
void expect_valid_map(const IdMap& map, uint32_t caller, const std::vector<SubidRange>& ranges) {
  for (size_t i = 0; i < map.size(); ++i) {
    const auto& entry = map[i];
    SCOPED_TRACE(::testing::Message() << "entry " << i << " " << entry);
    EXPECT_GT(entry.count, 0u);
    EXPECT_LE(uint64_t{entry.inside} + entry.count, kAllIds);
    EXPECT_LE(uint64_t{entry.outside} + entry.count, kAllIds);
    if (i > 0) {
      EXPECT_GE(entry.inside, uint64_t{map[i - 1].inside} + map[i - 1].count);
    }
    for (size_t j = 0; j < i; ++j) {
      bool apart = uint64_t{entry.outside} + entry.count <= map[j].outside ||
                   uint64_t{map[j].outside} + map[j].count <= entry.outside;
      EXPECT_TRUE(apart) << "outside overlaps entry " << j << " " << map[j];
    }
    bool own_id = entry.outside == caller && entry.count == 1;
    bool in_one_range = false;
    for (const auto& range : ranges)
      in_one_range |= entry.outside >= range.start &&
                      uint64_t{entry.outside} + entry.count <= uint64_t{range.start} + range.count;
    EXPECT_TRUE(own_id || in_one_range) << "not inside one range";
    if (!own_id) {
      EXPECT_EQ(to_outside(map, entry.inside), entry.outside);
    }
    EXPECT_FALSE(entry.count > 1 && entry.outside <= caller && caller - entry.outside < entry.count)
        << "the caller's id is mapped twice";
  }
}

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("roost-userns-" + roost::fs::random_hex(6))) {
    roost::fs::make_dirs(path_, 0755);
  }
  ~TempDir() { roost::fs::remove_tree(path_); }
  std::filesystem::path write(const std::string& name, const std::string& content,
                              mode_t mode = 0644) {
    auto file = path_ / name;
    roost::fs::write_file_atomic(file, content, mode);
    ::chmod(file.c_str(), mode);
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = std::getenv("PATH")) old_ = old;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() { ::setenv("PATH", old_.c_str(), 1); }

 private:
  std::string old_;
};

std::string read_text(const std::string& path) {
  return roost::fs::read_file(path);
}

// The numbers of /proc/self/uid_map, without the kernel's column padding.
std::string map_numbers(const std::string& path) {
  std::istringstream in(read_text(path));
  std::string word, joined;
  while (in >> word) joined += (joined.empty() ? "" : " ") + word;
  return joined;
}

Maps own_single_maps() {
  return {plan_map(MapMode::Single, ::geteuid(), {}), plan_map(MapMode::Single, ::getegid(), {})};
}

// Runs `body` in a forked process that, when the tests run as root, first becomes
// nobody, so it takes the unprivileged paths; returns what `body` returned.
std::string as_unprivileged(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) < 0) return "pipe failed";
  roost::UniqueFd read_end(fds[0]), write_end(fds[1]);
  pid_t pid = ::fork();
  if (pid == 0) {
    read_end.reset();
    std::string result;
    if (::geteuid() == 0 &&
        (::setgroups(0, nullptr) < 0 || ::setresgid(kNobody, kNobody, kNobody) < 0 ||
         ::setresuid(kNobody, kNobody, kNobody) < 0))
      result = "could not become nobody";
    // Changing credentials clears the dumpable flag, which would hand /proc/PID of our
    // children to root and keep us from writing their maps.
    else if (::prctl(PR_SET_DUMPABLE, 1) < 0)
      result = "could not set dumpable";
    else
      result = body();
    (void)!::write(write_end.get(), result.data(), result.size());
    ::_exit(0);
  }
  write_end.reset();
  std::string result;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(read_end.get(), buffer, sizeof buffer)) > 0) result.append(buffer, n);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return result;
}

void expect_contains(const std::string& text, const std::vector<std::string>& parts) {
  for (const auto& part : parts)
    EXPECT_NE(text.find(part), std::string::npos) << "no '" << part << "' in: " << text;
}

}  // namespace

// ---- /etc/subuid parsing ------------------------------------------------------------

TEST(Subid, NameForm) {
  auto ranges =
      ranges_for_user("bob:200000:10\nalice:100000:65536\n", "alice", 1000, "/etc/subuid");
  EXPECT_EQ(ranges, (std::vector<SubidRange>{{100000, 65536}}));
}

TEST(Subid, UidFormWorksLikeTheName) {
  auto ranges = ranges_for_user("1000:100000:65536\n", "alice", 1000, "/etc/subuid");
  EXPECT_EQ(ranges, (std::vector<SubidRange>{{100000, 65536}}));
  EXPECT_TRUE(ranges_for_user("1001:100000:65536\n", "alice", 1000, "f").empty());
}

TEST(Subid, SeveralRangesInFileOrderFromBothForms) {
  auto ranges = ranges_for_user("alice:100000:65536\nbob:1:1\n1000:975:1\n", "alice", 1000, "f");
  EXPECT_EQ(ranges, (std::vector<SubidRange>{{100000, 65536}, {975, 1}}));
}

TEST(Subid, CommentsBlankLinesAndSpacesAreSkipped) {
  auto ranges = ranges_for_user("# alice:1:1\n\n   \n  alice:100000:65536  \r\n#x\nalice:5:2",
                                "alice", 1000, "f");
  EXPECT_EQ(ranges, (std::vector<SubidRange>{{100000, 65536}, {5, 2}}));
}

TEST(Subid, OtherUsersMalformedLinesAreNotJudged) {
  auto ranges = ranges_for_user("bob:x\ngarbage\nbob:1:2:3\nalice:7:1\n", "alice", 1000, "f");
  EXPECT_EQ(ranges, (std::vector<SubidRange>{{7, 1}}));
}

TEST(Subid, MalformedLineNamesFileLineNumberAndLine) {
  EXPECT_EQ(error_of([] {
              ranges_for_user("bob:1:1\n# c\nalice:100000\n", "alice", 1000, "/etc/subuid");
            }),
            "/etc/subuid:3: malformed line 'alice:100000' (it has 2 fields, not 3); expected "
            "NAME:START:COUNT");
}

TEST(Subid, EveryKindOfMalformedLineIsRefused) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"alice:abc:10", "START and COUNT must be decimal numbers"},
      {"alice:100000:", "START and COUNT must be decimal numbers"},
      {"alice:-5:10", "START and COUNT must be decimal numbers"},
      {"alice:+5:10", "START and COUNT must be decimal numbers"},
      {"alice:5:10x", "START and COUNT must be decimal numbers"},
      {"alice:99999999999999999999999:1", "START and COUNT must be decimal numbers"},
      {"1000:100000:0", "COUNT is 0"},
      {"alice:4294967290:10", "the range runs past the highest id 4294967294"},
      {"alice:18446744073709551615:1", "the range runs past the highest id 4294967294"},
      {"alice:1:18446744073709551615", "the range runs past the highest id 4294967294"},
      {"alice:1:2:3", "it has 4 fields, not 3"},
  };
  for (const auto& [line, reason] : cases) {
    auto message = error_of([&] { ranges_for_user(line + "\n", "alice", 1000, "/etc/subgid"); });
    EXPECT_EQ(message, "/etc/subgid:1: malformed line '" + line + "' (" + reason +
                           "); expected NAME:START:COUNT");
  }
}

TEST(Subid, RangeUpToTheHighestIdIsAccepted) {
  auto ranges = ranges_for_user("alice:4294901759:65536\n", "alice", 1000, "f");
  EXPECT_EQ(ranges, (std::vector<SubidRange>{{4294901759u, 65536}}));
}

TEST(Subid, DuplicateAndOverlappingRangesAreMerged) {
  auto ranges =
      ranges_for_user("alice:100000:65536\nalice:100000:65536\n1000:150000:65536\nalice:100010:5\n",
                      "alice", 1000, "f");
  EXPECT_EQ(ranges, (std::vector<SubidRange>{{100000, 65536}, {165536, 50000}}));
}

TEST(Subid, WithoutOverlapsSplitsARangeAroundEarlierOnes) {
  std::vector<SubidRange> ranges{{10, 10}, {40, 5}, {0, 50}, {45, 1}};
  EXPECT_EQ(without_overlaps(ranges),
            (std::vector<SubidRange>{{10, 10}, {40, 5}, {0, 10}, {20, 20}, {45, 5}}));
}

// ---- plan_map -------------------------------------------------------------------------

TEST(PlanMap, FullMapsCallerToZeroAndRangesAbove) {
  std::vector<SubidRange> ranges{{100000, 65536}};
  auto map = plan_map(MapMode::Full, 1000, ranges);
  EXPECT_EQ(map, (IdMap{{0, 1000, 1}, {1, 100000, 65536}}));
  expect_valid_map(map, 1000, ranges);
}

TEST(PlanMap, FullUsesBothRangesWhenTheLargeOneIsListedFirst) {
  auto ranges = ranges_for_user("u:100000:65536\nu:975:1\n", "u", 1000, "/etc/subuid");
  auto map = plan_map(MapMode::Full, 1000, ranges);
  EXPECT_EQ(map, (IdMap{{0, 1000, 1}, {1, 100000, 65536}, {65537, 975, 1}}));
  expect_valid_map(map, 1000, ranges);
  EXPECT_EQ(inside_span(map), 65538u);
}

TEST(PlanMap, RangeHoldingTheCallerIsSplit) {
  std::vector<SubidRange> ranges{{990, 20}};
  auto map = plan_map(MapMode::Full, 1000, ranges);
  EXPECT_EQ(map, (IdMap{{0, 1000, 1}, {1, 990, 10}, {11, 1001, 9}}));
  expect_valid_map(map, 1000, ranges);
}

TEST(PlanMap, RangeOfOnlyTheCallerLeavesNothingToMap) {
  std::vector<SubidRange> ranges{{1000, 1}};
  expect_contains(error_of([&] { plan_map(MapMode::Full, 1000, ranges); }),
                  {"no subordinate ids besides id 1000", "--userns=auto"});
}

TEST(PlanMap, OverlappingRangesAreNotMappedTwice) {
  std::vector<SubidRange> ranges{{100000, 65536}, {100000, 65536}, {160000, 10000}};
  auto map = plan_map(MapMode::Full, 1000, ranges);
  EXPECT_EQ(map, (IdMap{{0, 1000, 1}, {1, 100000, 65536}, {65537, 165536, 4464}}));
  expect_valid_map(map, 1000, ranges);
}

TEST(PlanMap, FullOverTheWholeIdSpaceStaysWithinIt) {
  std::vector<SubidRange> ranges{{0, kAllIds}};
  auto map = plan_map(MapMode::Full, 1000, ranges);
  EXPECT_EQ(map, (IdMap{{0, 1000, 1}, {1, 0, 1000}, {1001, 1001, kAllIds - 1001}}));
  EXPECT_EQ(inside_span(map), kAllIds);
  expect_valid_map(map, 1000, ranges);
}

TEST(PlanMap, SingleMapsOnlyTheCaller) {
  EXPECT_EQ(plan_map(MapMode::Single, 1000, {}), (IdMap{{0, 1000, 1}}));
}

TEST(PlanMap, HostMapsEveryIdOntoItself) {
  EXPECT_EQ(plan_map(MapMode::Host, 0, {}), (IdMap{{0, 0, 4294967295u}}));
}

TEST(PlanMap, KeepIdWithUid70000AndOne65536Range) {
  std::vector<SubidRange> ranges{{100000, 65536}};
  auto map = plan_map(MapMode::KeepId, 70000, ranges);
  EXPECT_EQ(map, (IdMap{{0, 100000, 65536}, {70000, 70000, 1}}));
  expect_valid_map(map, 70000, ranges);
  EXPECT_EQ(to_outside(map, 65536), std::nullopt);
  EXPECT_EQ(to_outside(map, 70000), 70000u);
  EXPECT_EQ(inside_span(map), 70001u);
  EXPECT_EQ(to_inside(map, 70000), 70000u);
  EXPECT_EQ(to_inside(map, 165535), 65535u);
  EXPECT_EQ(to_inside(map, 165536), std::nullopt);
  EXPECT_EQ(to_inside(map, 99999), std::nullopt);
}

TEST(PlanMap, KeepIdFillsBelowThenAboveTheCaller) {
  std::vector<SubidRange> ranges{{100000, 65536}, {975, 1}};
  auto map = plan_map(MapMode::KeepId, 1000, ranges);
  EXPECT_EQ(map,
            (IdMap{{0, 100000, 1000}, {1000, 1000, 1}, {1001, 101000, 64536}, {65537, 975, 1}}));
  expect_valid_map(map, 1000, ranges);
}

TEST(PlanMap, KeepIdSplitsARangeHoldingTheCaller) {
  std::vector<SubidRange> ranges{{0, 5000}};
  auto map = plan_map(MapMode::KeepId, 1000, ranges);
  EXPECT_EQ(map, (IdMap{{0, 0, 1000}, {1000, 1000, 1}, {1001, 1001, 3999}}));
  expect_valid_map(map, 1000, ranges);
}

TEST(PlanMap, FullAndKeepIdNeedRanges) {
  expect_contains(error_of([] { plan_map(MapMode::Full, 1000, {}); }), {"--userns=auto"});
  expect_contains(error_of([] { plan_map(MapMode::KeepId, 1000, {}); }), {"--userns=keep-id"});
}

TEST(PlanMap, InvalidCallerIdIsRefused) {
  std::vector<SubidRange> ranges{{100000, 65536}};
  expect_contains(error_of([&] { plan_map(MapMode::KeepId, kAllIds, ranges); }),
                  {"4294967295 is not a valid id"});
}

TEST(IdMapHelpers, InsideSpanToOutsideAndFormat) {
  IdMap map{{0, 1000, 1}, {1, 100000, 65536}};
  EXPECT_EQ(inside_span(map), 65537u);
  EXPECT_EQ(inside_span({}), 0u);
  EXPECT_EQ(to_outside(map, 0), 1000u);
  EXPECT_EQ(to_outside(map, 1), 100000u);
  EXPECT_EQ(to_outside(map, 65536), 165535u);
  EXPECT_EQ(to_outside(map, 65537), std::nullopt);
  EXPECT_EQ(format_for_proc(map), "0 1000 1\n1 100000 65536\n");
  EXPECT_EQ(format_for_proc({}), "");
  EXPECT_EQ(inside_span({{0, 0, kAllIds}}), uint64_t{kAllIds});
  EXPECT_EQ(to_outside({{0, 0, kAllIds}}, kAllIds - 1), kAllIds - 1);
}

std::ostream& operator<<(std::ostream& out, const IdTranslation& t) {
  return out << "{" << t.from << " " << t.to << " " << t.count << "}";
}

// The ranges of the rootless test user: one id at 100000, then 65536 at 131072.
const std::vector<SubidRange> kTwoRanges{{100000, 1}, {131072, 65536}};

TEST(TranslateIds, KeepIdFilesShowAsTheFullMapWroteThem) {
  auto full = plan_map(MapMode::Full, 70000, kTwoRanges);
  auto keep_id = plan_map(MapMode::KeepId, 70000, kTwoRanges);
  auto translations = translate_ids(keep_id, full);
  EXPECT_EQ(translations, (IdTranslations{{0, 1, 65537}, {70000, 0, 1}}));
  EXPECT_TRUE(changes_ids(translations));
}

TEST(TranslateIds, CallerInsideTheRangesSplitsThem) {
  std::vector<SubidRange> ranges{{100000, 65536}};
  auto full = plan_map(MapMode::Full, 1000, ranges);
  auto keep_id = plan_map(MapMode::KeepId, 1000, ranges);
  EXPECT_EQ(translate_ids(keep_id, full),
            (IdTranslations{{0, 1, 1000}, {1000, 0, 1}, {1001, 1001, 64536}}));
  EXPECT_EQ(translate_ids(full, keep_id),
            (IdTranslations{{0, 1000, 1}, {1, 0, 1000}, {1001, 1001, 64536}}));
}

TEST(TranslateIds, SameMapChangesNothing) {
  auto full = plan_map(MapMode::Full, 70000, kTwoRanges);
  auto translations = translate_ids(full, full);
  EXPECT_EQ(translations, (IdTranslations{{0, 0, 65538}}));
  EXPECT_FALSE(changes_ids(translations));
  IdMap host{{0, 0, kAllIds}};
  EXPECT_EQ(translate_ids(host, host), (IdTranslations{{0, 0, kAllIds}}));
}

TEST(TranslateIds, OnlyIdsBothMapsCoverAreTranslated) {
  auto full = plan_map(MapMode::Full, 70000, kTwoRanges);
  auto single = plan_map(MapMode::Single, 70000, {});
  auto translations = translate_ids(single, full);
  EXPECT_EQ(translations, (IdTranslations{{0, 0, 1}}));
  EXPECT_FALSE(changes_ids(translations));
  EXPECT_EQ(translate_ids({}, full), IdTranslations{});
}

// ---- planning for a caller ----------------------------------------------------------

class PlanFor : public ::testing::Test {
 protected:
  MapRequest request(MapMode mode, const std::string& subuid, const std::string& subgid) {
    return {mode, files.write("subuid", subuid).string(), files.write("subgid", subgid).string()};
  }
  TempDir files;
  Caller alice{1000, 1000, "alice"};
};

TEST_F(PlanFor, FullReadsBothFilesAndKeysSubgidByUid) {
  auto maps =
      plan_maps_for(alice, request(MapMode::Full, "alice:100000:65536\n", "1000:200000:65536\n"));
  EXPECT_EQ(maps.uids, (IdMap{{0, 1000, 1}, {1, 100000, 65536}}));
  EXPECT_EQ(maps.gids, (IdMap{{0, 1000, 1}, {1, 200000, 65536}}));
}

TEST_F(PlanFor, KeepIdUsesTheCallersGidOnTheGidSide) {
  Caller carol{70000, 70001, "carol"};
  auto maps = plan_maps_for(
      carol, request(MapMode::KeepId, "carol:100000:65536\n", "carol:300000:65536\n"));
  EXPECT_EQ(maps.uids, (IdMap{{0, 100000, 65536}, {70000, 70000, 1}}));
  EXPECT_EQ(maps.gids, (IdMap{{0, 300000, 65536}, {70001, 70001, 1}}));
}

TEST_F(PlanFor, NoEntrySaysWhatToAdd) {
  auto message = error_of(
      [&] { plan_maps_for(alice, request(MapMode::Full, "bob:100000:65536\n", "alice:1:1\n")); });
  auto subuid = (files.path() / "subuid").string();
  expect_contains(message,
                  {"no entry for user alice (uid 1000) in " + subuid, "'alice:100000:65536'",
                   "usermod --add-subuids 100000-165535 alice", "--userns=single"});
}

TEST_F(PlanFor, NoEntryInSubgidNamesSubgid) {
  auto message = error_of(
      [&] { plan_maps_for(alice, request(MapMode::KeepId, "alice:100000:65536\n", "# none\n")); });
  expect_contains(message,
                  {"no entry for user alice (uid 1000) in " + (files.path() / "subgid").string(),
                   "--userns=keep-id", "--add-subgids", "--userns=single"});
}

TEST_F(PlanFor, SubgidLineKeyedByTheGidIsNotTheUsers) {
  Caller dave{1000, 2000, "dave"};
  auto message = error_of([&] {
    plan_maps_for(dave, request(MapMode::Full, "dave:100000:65536\n", "2000:200000:10\n"));
  });
  expect_contains(message, {"no entry for user dave (uid 1000)"});
}

TEST_F(PlanFor, MissingFileIsSaidToBeMissing) {
  MapRequest missing{MapMode::Full, (files.path() / "none").string(), "/nonexistent"};
  expect_contains(error_of([&] { plan_maps_for(alice, missing); }),
                  {"in " + missing.subuid_file + " (the file does not exist)"});
}

TEST_F(PlanFor, MalformedLineOfTheUserStopsPlanning) {
  auto message = error_of([&] {
    plan_maps_for(alice, request(MapMode::Full, "alice:100000:65536\nalice:1\n", "alice:1:1\n"));
  });
  expect_contains(message, {"subuid:2: malformed line 'alice:1'"});
}

TEST_F(PlanFor, RootGetsHostUnlessItAsksForSingle) {
  Caller root{0, 0, "root"};
  MapRequest no_files{MapMode::Full, "/nonexistent", "/nonexistent"};
  for (auto mode : {MapMode::Full, MapMode::KeepId, MapMode::Host}) {
    no_files.mode = mode;
    auto maps = plan_maps_for(root, no_files);
    EXPECT_EQ(maps.uids, (IdMap{{0, 0, kAllIds}}));
    EXPECT_EQ(maps.gids, (IdMap{{0, 0, kAllIds}}));
  }
  no_files.mode = MapMode::Single;
  EXPECT_EQ(plan_maps_for(root, no_files).uids, (IdMap{{0, 0, 1}}));
}

TEST_F(PlanFor, SingleNeedsNoFiles) {
  auto maps = plan_maps_for(alice, {MapMode::Single, "/nonexistent", "/nonexistent"});
  EXPECT_EQ(maps.uids, (IdMap{{0, 1000, 1}}));
  EXPECT_EQ(maps.gids, (IdMap{{0, 1000, 1}}));
}

TEST_F(PlanFor, HostIsRefusedToAUser) {
  try {
    plan_maps_for(alice, {MapMode::Host, "/nonexistent", "/nonexistent"});
    ADD_FAILURE() << "no UsageError";
  } catch (const roost::UsageError& error) {
    expect_contains(error.what(), {"--userns=host", "needs root", "user alice"});
  }
}

TEST(PlanCaller, UsesTheRealCaller) {
  auto caller = current_caller();
  EXPECT_EQ(caller.uid, ::getuid());
  EXPECT_EQ(caller.gid, ::getgid());
  EXPECT_FALSE(caller.name.empty());
  MapRequest no_files{MapMode::Full, "/nonexistent", "/nonexistent"};
  if (caller.uid == 0) {
    EXPECT_EQ(caller.name, "root");
    EXPECT_EQ(plan_caller_maps(no_files).uids, (IdMap{{0, 0, kAllIds}}));
  } else {
    expect_contains(error_of([&] { plan_caller_maps(no_files); }),
                    {"no entry for user " + caller.name});
  }
  no_files.mode = MapMode::Single;
  EXPECT_EQ(plan_caller_maps(no_files).uids, (IdMap{{0, caller.uid, 1}}));
}

// ---- map helpers --------------------------------------------------------------------

TEST(MapHelper, FoundInPathFirst) {
  TempDir dir;
  auto fake = dir.write("newuidmap", "#!/bin/sh\n", 0755);
  ScopedPath path("relative/dir:" + dir.path().string());
  EXPECT_EQ(find_map_helper("newuidmap"), fake.string());
}

TEST(MapHelper, FoundInUsrBinWhenPathLacksIt) {
  ScopedPath path("/nonexistent");
  EXPECT_EQ(find_map_helper("newuidmap"), "/usr/bin/newuidmap");
  EXPECT_EQ(find_map_helper("newgidmap"), "/usr/bin/newgidmap");
}

TEST(MapHelper, MissingHelperNamesTheUidmapPackage) {
  ScopedPath path("/nonexistent");
  expect_contains(error_of([] { find_map_helper("roost-no-such-helper"); }),
                  {"roost-no-such-helper", "PATH, /usr/bin and /usr/sbin", "uidmap package",
                   "apt-get install uidmap"});
  expect_contains(error_of([] { check_map_helper("/nonexistent/newuidmap"); }),
                  {"/nonexistent/newuidmap not found", "apt-get install uidmap"});
}

TEST(MapHelper, InstalledHelpersPass) {
  EXPECT_NO_THROW(check_map_helper("/usr/bin/newuidmap"));
  EXPECT_NO_THROW(check_map_helper("/usr/bin/newgidmap"));
}

TEST(MapHelper, PlainExecutableIsRefusedWithTheFix) {
  TempDir dir;
  auto uid_helper = dir.write("newuidmap", "x", 0755).string();
  expect_contains(error_of([&] { check_map_helper(uid_helper); }),
                  {uid_helper + " is neither setuid root nor carries file capabilities",
                   "chmod u+s " + uid_helper, "setcap cap_setuid+ep " + uid_helper});
  auto gid_helper = dir.write("newgidmap", "x", 04755).string();
  if (::geteuid() != 0) {
    // setuid, but owned by a user: no better than a plain file.
    expect_contains(error_of([&] { check_map_helper(gid_helper); }), {"setcap cap_setgid+ep"});
  }
}

TEST(MapHelper, SetuidRootOrFileCapabilitiesPass) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to make a root-owned setuid file and set "
                                "security.capability (CI runs unit tests as root)";
  TempDir dir;
  auto setuid_helper = dir.write("newuidmap", "x", 04755).string();
  EXPECT_NO_THROW(check_map_helper(setuid_helper));
  auto capable_helper = dir.write("newgidmap", "x", 0755).string();
  vfs_cap_data caps{};
  caps.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
  caps.data[0].permitted = 1u << CAP_SETGID;
  ASSERT_EQ(::setxattr(capable_helper.c_str(), "security.capability", &caps, sizeof caps, 0), 0)
      << std::strerror(errno);
  EXPECT_NO_THROW(check_map_helper(capable_helper));
  auto owned_by_nobody = dir.write("other", "x", 0755).string();
  ASSERT_EQ(::chown(owned_by_nobody.c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(::chmod(owned_by_nobody.c_str(), 04755), 0);
  expect_contains(error_of([&] { check_map_helper(owned_by_nobody); }), {"neither setuid root"});
}

// ---- a real user namespace ----------------------------------------------------------

TEST(MappedRoot, HostMapAsRoot) {
  ASSERT_EQ(::geteuid(), 0u) << "a Host map needs root (CI runs unit tests as root)";
  auto outer_namespace = std::filesystem::read_symlink("/proc/self/ns/user");
  Maps host{plan_map(MapMode::Host, 0, {}), plan_map(MapMode::Host, 0, {})};
  int status = run_as_mapped_root(host, [&] {
    if (std::filesystem::read_symlink("/proc/self/ns/user") == outer_namespace) return 10;
    if (::getuid() != 0 || ::geteuid() != 0 || ::getgid() != 0) return 11;
    if (map_numbers("/proc/self/uid_map") != "0 0 4294967295") return 12;
    if (map_numbers("/proc/self/gid_map") != "0 0 4294967295") return 13;
    return 0;
  });
  EXPECT_EQ(status, 0);
}

TEST(MappedRoot, BecomesRootWhenTheCallerIsNotRootInside) {
  ASSERT_EQ(::geteuid(), 0u)
      << "maps of ids besides our own need root (CI runs unit tests as root)";
  // The keep-id shape: the caller keeps id 1000 inside, 0 is a subordinate id.
  IdMap keep_id{{0, 100000, 1000}, {1000, 0, 1}};
  int status = run_as_mapped_root({keep_id, keep_id}, [] {
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    if (::getresuid(&ruid, &euid, &suid) < 0 || ::getresgid(&rgid, &egid, &sgid) < 0) return 10;
    if (ruid != 0 || euid != 0 || suid != 0 || rgid != 0 || egid != 0 || sgid != 0) return 11;
    if (::getgroups(0, nullptr) != 0) return 12;
    return 0;
  });
  EXPECT_EQ(status, 0);
}

TEST(MappedRoot, SingleMapWithoutPrivileges) {
  auto report = as_unprivileged([] {
    auto maps = own_single_maps();
    auto expected_uid_map = "0 " + std::to_string(::geteuid()) + " 1";
    auto expected_gid_map = "0 " + std::to_string(::getegid()) + " 1";
    try {
      int status = run_as_mapped_root(maps, [&] {
        if (::getuid() != 0 || ::getgid() != 0) return 11;
        if (map_numbers("/proc/self/uid_map") != expected_uid_map) return 12;
        if (map_numbers("/proc/self/gid_map") != expected_gid_map) return 13;
        if (map_numbers("/proc/self/setgroups") != "deny") return 14;
        return 0;
      });
      return "status " + std::to_string(status);
    } catch (const Error& error) {
      return std::string(error.what());
    }
  });
  EXPECT_EQ(report, "status 0");
}

TEST(MappedRoot, UnprivilegedFullMapGoesThroughNewuidmapAndExplainsItsRefusal) {
  auto report = as_unprivileged([] {
    // Ids no user of the build machine owns, so newuidmap refuses them.
    Maps maps{{{0, ::geteuid(), 1}, {1, 4000000000u, 10}}, {{0, ::getegid(), 1}}};
    try {
      run_as_mapped_root(maps, [] { return 0; });
      return std::string("mapped");
    } catch (const Error& error) {
      return std::string(error.what());
    }
  });
  expect_contains(
      report, {"newuidmap ", " 0 ",
               " 1 4000000000 10: exited with status 1: newuidmap:", "/etc/subuid", "setuid bit"});
}

TEST(MappedRoot, ReturnsTheStatusOfWork) {
  EXPECT_EQ(run_as_mapped_root(own_single_maps(), [] { return 7; }), 7);
}

TEST(MappedRoot, ChildKilledBySignalGives128PlusN) {
  EXPECT_EQ(run_as_mapped_root(own_single_maps(), [] { return ::raise(SIGKILL); }), 128 + 9);
}

TEST(MappedRoot, ErrorInWorkIsRethrownWithItsMessage) {
  auto message = error_of([] {
    run_as_mapped_root(own_single_maps(), []() -> int {
      throw Error("unpack layer sha256:abc: mknod /x: Operation not permitted");
    });
  });
  EXPECT_EQ(message, "unpack layer sha256:abc: mknod /x: Operation not permitted");
}

TEST(MappedRoot, ContextOfTheErrorComesBackToo) {
  auto message = error_of([] {
    run_as_mapped_root(own_single_maps(), [] {
      return roost::with_context("delete /c/rootfs", []() -> int { throw Error("unlink a"); });
    });
  });
  EXPECT_EQ(message, "delete /c/rootfs: unlink a");
}

TEST(MappedRoot, OtherExceptionsComeBackAsError) {
  auto message = error_of([] {
    run_as_mapped_root(own_single_maps(), []() -> int { throw std::runtime_error("bad"); });
  });
  EXPECT_EQ(message, "bad");
}

TEST(MappedRoot, FailedMapWriteKillsAndReapsTheChild) {
  // Overlapping inside ids: the kernel (or newuidmap) refuses the map.
  Maps bad{{{0, ::geteuid(), 1}, {0, 4000000000u, 1}}, own_single_maps().gids};
  bool ran = false;
  auto message = error_of([&] {
    run_as_mapped_root(bad, [&] {
      ran = true;
      return 0;
    });
  });
  EXPECT_FALSE(message.empty());
  EXPECT_FALSE(ran);
  errno = 0;
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD) << "a child was left behind";
}
