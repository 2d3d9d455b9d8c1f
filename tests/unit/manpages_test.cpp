// Manual pages from the option table: one per command, every option in its page, and
// roff that groff reads without a warning.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/process.hpp"
#include "launcher/manpages.hpp"
#include "launcher/parse.hpp"

namespace roost::cli {
namespace {

namespace stdfs = std::filesystem;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

const ManPage* page_named(const std::vector<ManPage>& pages, const std::string& name) {
  for (const auto& page : pages)
    if (page.file_name == name) return &page;
  return nullptr;
}

std::string temporary_directory() {
  std::string pattern = (stdfs::temp_directory_path() / "roost-man-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

TEST(ManPages, EveryCommandHasAPageNamingEachOfItsOptions) {
  auto table = roost_completion_table();
  auto pages = man_pages(table);
  const ManPage* main = page_named(pages, "roost.1");
  ASSERT_NE(main, nullptr);
  for (const auto& command : table.commands) {
    std::string name = "roost-" + std::string(command.name);
    std::replace(name.begin(), name.end(), ' ', '-');
    const ManPage* page = page_named(pages, name + ".1");
    EXPECT_EQ(page != nullptr, !command.hidden) << name;
    if (page == nullptr) continue;
    EXPECT_TRUE(contains(main->text, "\\fB" + roff_escaped(name) + "\\fR(1)")) << name;
    for (const auto& option : command.options)
      EXPECT_TRUE(contains(page->text, "\\fB\\-\\-" + roff_escaped(option.long_name) + "\\fR"))
          << name << " --" << option.long_name;
  }
  for (const auto& option : table.globals)
    EXPECT_TRUE(contains(main->text, "\\fB\\-\\-" + roff_escaped(option.long_name) + "\\fR"));
}

TEST(ManPages, RoffEscapesBackslashesHyphensAndLeadingDots) {
  EXPECT_EQ(roff_escaped("--rm a\\b"), "\\-\\-rm a\\eb");
  EXPECT_EQ(roff_escaped(".hidden"), "\\&.hidden");
  EXPECT_EQ(roff_escaped("'quoted'"), "\\&'quoted'");
}

TEST(ManPages, ChoicesAndRepeatableOptionsAreSpelledOut) {
  auto pages = man_pages(roost_completion_table());
  const ManPage* run = page_named(pages, "roost-run.1");
  ASSERT_NE(run, nullptr);
  EXPECT_TRUE(contains(run->text, "One of: host, none.")) << run->text;
  EXPECT_TRUE(contains(run->text, "\\fB\\-e\\fR, \\fB\\-\\-env\\fR \\fIKEY=VALUE\\fR\n"));
  EXPECT_TRUE(contains(run->text, "May be given more than once."));
  EXPECT_TRUE(contains(run->text, ".SH SYNOPSIS\n.B roost run\n.RI [ OPTIONS ]\n.I IMAGE\n"));
}

// groff's own check: -ww warns about every questionable construct, -z prints nothing.
TEST(ManPages, GroffReadsEveryPageWithoutWarnings) {
  std::string dir = temporary_directory();
  for (const auto& page : man_pages(roost_completion_table())) {
    std::string path = dir + "/" + page.file_name;
    std::ofstream(path) << page.text;
    auto result = process::run({"/usr/bin/groff", "-man", "-Tutf8", "-ww", "-z", path});
    EXPECT_EQ(result.exit_status, 0) << page.file_name;
    EXPECT_EQ(result.error_output, "") << page.file_name;
  }
  stdfs::remove_all(dir);
}

TEST(ManPages, WritingThemReplacesPagesOfCommandsThatAreGone) {
  std::string dir = temporary_directory();
  std::ofstream(dir + "/roost-gone.1") << ".TH GONE 1\n";
  std::ofstream(dir + "/other.1") << ".TH OTHER 1\n";
  auto invocation = parse_arguments({"__manpages", dir});
  Context context;
  EXPECT_EQ(invocation.command.spec->handler(invocation.command, context), 0);
  EXPECT_FALSE(stdfs::exists(dir + "/roost-gone.1"));
  EXPECT_TRUE(stdfs::exists(dir + "/other.1"));
  EXPECT_TRUE(stdfs::exists(dir + "/roost.1"));
  EXPECT_TRUE(stdfs::exists(dir + "/roost-image-inspect.1"));
  stdfs::remove_all(dir);
}

}  // namespace
}  // namespace roost::cli
