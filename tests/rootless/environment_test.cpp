// What the rest of the tier relies on, checked first so that a broken machine shows up
// as one clear failure instead of many puzzling ones.

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>

#include "tests/rootless/support/process.hpp"
#include "tests/rootless/support/roost.hpp"
#include "tests/rootless/support/userns_files.hpp"

namespace rootless {
namespace {

TEST(Environment, RunsAsAnUnprivilegedUser) {
  EXPECT_NE(::geteuid(), 0u) << "the rootless tier must not run as root";
  EXPECT_NE(::getuid(), 0u);
}

TEST(Environment, CallerHasSubordinateIds) {
  for (const char* file : {"/etc/subuid", "/etc/subgid"}) {
    uint64_t total = 0;
    for (const auto& range : subordinate_ranges(file)) total += range.count;
    EXPECT_GE(total, 65536u) << file << " gives this user too few ids; scripts/setup adds them";
  }
}

TEST(Environment, FuseDeviceIsOpenToUsers) {
  int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  EXPECT_GE(fd, 0) << "/dev/fuse: " << std::strerror(errno)
                   << " (distributions make it 0666; scripts/setup does too)";
  if (fd >= 0) ::close(fd);
}

TEST(Environment, ToolsAreInstalled) {
  for (const char* tool : {"newuidmap", "newgidmap", "fuse-overlayfs", "umoci", "skopeo"})
    EXPECT_FALSE(find_in_path(tool).empty()) << tool << " is not in PATH";
  EXPECT_EQ(::access("/bin/busybox", X_OK), 0) << "/bin/busybox (busybox-static) is missing";
  EXPECT_EQ(::access(roost_binary().c_str(), X_OK), 0) << roost_binary() << " is not executable";
}

TEST(Environment, RoostStarts) {
  Outcome version = run(Spawn({roost_binary(), "version"}, {"PATH=/usr/bin:/bin"}));
  EXPECT_EQ(version.exit_code, 0) << version.describe();
  EXPECT_NE(version.out.find("0."), std::string::npos) << version.describe();
}

}  // namespace
}  // namespace rootless
