// Detached containers in the guest: what their monitor (roost-monitor, once the
// container runs) sends to journald, read back by `roost logs` and by journalctl.
// Conventions as in guest_test.cpp; helpers in guest_support.hpp.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "common/process.hpp"
#include "tests/systemd/guest_support.hpp"

namespace {

using namespace guest;
namespace fs = std::filesystem;

// busybox with the applets these tests use, imported once as guest/detached:1.
const std::string& detached_image() {
  static const std::string name = [] {
    fs::path root = fs::absolute("detached-root");
    fs::create_directories(root / "bin");
    fs::copy_file("/bin/busybox", root / "bin/busybox", fs::copy_options::overwrite_existing);
    for (const char* applet : {"sh", "echo", "printf", "head", "tr", "sleep"})
      if (!fs::exists(root / "bin" / applet)) fs::create_symlink("busybox", root / "bin" / applet);
    auto tar =
        roost::process::run({"/usr/bin/tar", "-C", root.string(), "-cf", "detached.tar", "."});
    if (tar.exit_status != 0) throw std::runtime_error("tar: " + tar.error_output);
    auto imported = run_roost({"import", "detached.tar", "guest/detached:1"});
    if (imported.status != 0) throw std::runtime_error("import: " + describe(imported));
    return std::string("guest/detached:1");
  }();
  return name;
}

std::vector<std::string> journal_lines(const std::vector<std::string>& matches) {
  std::vector<std::string> argv = {"journalctl", "--user", "--no-pager", "-o", "cat"};
  argv.insert(argv.end(), matches.begin(), matches.end());
  std::vector<std::string> lines;
  std::string text = run(argv).out;
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(text.substr(start, end - start));
  return lines;
}

bool eventually(const std::function<bool()>& done) {
  wait_until(done, std::chrono::seconds(20));
  return done();
}

}  // namespace

// A long line goes in pieces marked partial, a last line without a newline too; roost
// logs joins them back into what the container wrote, stream by stream.
TEST(DetachedJournal, LinesPiecesAndFieldsReachTheJournalAndComeBackWhole) {
  auto started = run_roost({"run", "-d", "--log-driver", "journald", "--name", "jlog",
                            detached_image(), "sh", "-c",
                            "echo out; echo err >&2; head -c 40000 /dev/zero | tr '\\0' x; echo; "
                            "printf tail"});
  ASSERT_EQ(started.status, 0) << describe(started);
  std::string id = started.out.substr(0, started.out.find('\n'));
  auto waited = run_roost({"wait", "jlog"});
  EXPECT_EQ(waited.out, "0\n") << describe(waited);
  std::string long_line(40000, 'x');
  Ran logs;
  EXPECT_TRUE(eventually([&] {
    logs = run_roost({"logs", "jlog"});
    return logs.out == "out\n" + long_line + "\ntail";
  })) << "status "
      << logs.status << ", " << logs.out.size() << " bytes on stdout, beginning "
      << logs.out.substr(0, 120) << "\n--- stderr\n"
      << logs.err;
  EXPECT_EQ(logs.err, "err");  // the trailing newline trimmed by roost::process::run
  EXPECT_EQ(journal_lines({"CONTAINER_NAME=jlog", "PRIORITY=3"}), std::vector<std::string>{"err"});
  // At least two pieces of the long line (16 KiB each at most) and the unended last line.
  EXPECT_GE(journal_lines({"CONTAINER_NAME=jlog", "CONTAINER_PARTIAL_MESSAGE=true"}).size(), 3u);
  for (const auto& match :
       {"CONTAINER_ID=" + id.substr(0, 12), "CONTAINER_ID_FULL=" + id,
        std::string("IMAGE_NAME=guest/detached:1"), std::string("SYSLOG_IDENTIFIER=jlog")})
    EXPECT_EQ(journal_lines({match, "PRIORITY=3"}), std::vector<std::string>{"err"}) << match;
  EXPECT_EQ(run_roost({"rm", "jlog"}).status, 0);
}
