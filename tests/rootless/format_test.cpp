// --format templates on the real binary: ps, images, inspect and image inspect over a real
// store.

#include <gtest/gtest.h>

#include "tests/rootless/support/roost_test.hpp"

namespace rootless {
namespace {

using Format = RoostTest;

TEST_F(Format, ImagesTemplatePrintsTheFieldsAsked) {
  ImageSpec spec = busybox_plus({});
  spec.name = "localhost/fmt-images:1";
  load(spec);
  Outcome shown = roost({"images", "--format", "{{.Repository}}\\t{{.Tag}}"});
  ASSERT_EQ(shown.exit_code, 0) << shown.describe();
  EXPECT_EQ(shown.out, "localhost/fmt-images\t1\n");
}

TEST_F(Format, PsAndInspectTemplatesPrintTheFieldsAsked) {
  ImageSpec spec = busybox_plus({});
  spec.name = "localhost/fmt-ps:1";
  load(spec);
  require_success(roost({"create", "--name", "fmtc", spec.name, "true"}), "create");
  Outcome listed = roost({"ps", "-a", "--format", "{{.Names}} {{.Image}} {{.State}}"});
  EXPECT_EQ(listed.exit_code, 0) << listed.describe();
  EXPECT_EQ(listed.out, "fmtc localhost/fmt-ps:1 created\n");
  Outcome inspected = roost({"inspect", "--format={{.Name}}:{{json .AutoRemove}}", "fmtc"});
  EXPECT_EQ(inspected.exit_code, 0) << inspected.describe();
  EXPECT_EQ(inspected.out, "fmtc:false\n");
  require_success(roost({"rm", "fmtc"}), "rm");
}

TEST_F(Format, ImageInspectTemplatePrintsTheFieldsAsked) {
  ImageSpec spec = busybox_plus({});
  spec.name = "localhost/fmt-image:1";
  load(spec);
  Outcome shown = roost(
      {"image", "inspect", "--format", "{{.Names}}|{{.Os}}|{{json .Layers}}|{{.ID}}", spec.name});
  ASSERT_EQ(shown.exit_code, 0) << shown.describe();
  Outcome as_json = roost({"image", "inspect", "--format=json", spec.name});
  ASSERT_EQ(as_json.exit_code, 0) << as_json.describe();
  EXPECT_EQ(as_json.out, roost({"image", "inspect", spec.name}).out);
  auto record = nlohmann::json::parse(as_json.out).at(0);
  EXPECT_EQ(shown.out, spec.name + "|" + spec.os + "|" + record["Layers"].dump() + "|" +
                           record["Id"].get<std::string>() + "\n");
  Outcome refused = roost({"image", "inspect", "--format", "{{.Nope}}", "nosuch"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_NE(refused.err.find("unknown field .Nope; valid fields: .ID .Id .Names"),
            std::string::npos)
      << refused.describe();
}

// The template is checked first: a missing container is not what is reported.
TEST_F(Format, InspectNamesABadTemplateEvenForAMissingContainer) {
  Outcome refused = roost({"inspect", "--format", "{{.State.Status}} {{.Nope}}", "nosuch"});
  EXPECT_EQ(refused.exit_code, 125) << refused.describe();
  EXPECT_EQ(refused.out, "") << refused.describe();
  EXPECT_EQ(lines_of(refused.err).size(), 1u) << refused.describe();
  EXPECT_NE(refused.err.find("unknown field .Nope; valid fields: .ID"), std::string::npos)
      << refused.describe();
}

TEST_F(Format, UnknownFieldIsOneErrorListingTheValidOnes) {
  for (const char* command : {"ps", "images"}) {
    Outcome refused = roost({command, "--format", "{{.Nope}}"});
    EXPECT_EQ(refused.exit_code, 125) << refused.describe();
    EXPECT_EQ(refused.out, "") << refused.describe();
    EXPECT_NE(refused.err.find("unknown field .Nope; valid fields: .ID"), std::string::npos)
        << refused.describe();
  }
}

// The STATUS of a container that exited 137 is wider than a fixed column once was, and CREATED
// is always one RFC 3339 time: each column is as wide as its longest entry.
TEST_F(Format, PsTableColumnsAreAsWideAsTheirContent) {
  std::string image = load_busybox();
  EXPECT_EQ(roost({"run", "--name", "web", image, "sh", "-c", "exit 137"}).exit_code, 137);
  installation().remember_container("web");
  require_success(roost({"create", "--name", "a-rather-long-name", image, "true"}), "create");
  installation().remember_container("a-rather-long-name");
  Outcome listed = roost({"ps", "-a"});
  ASSERT_EQ(listed.exit_code, 0) << listed.describe();
  std::vector<std::string> lines = lines_of(listed.out);
  ASSERT_EQ(lines.size(), 3u) << listed.out;
  const std::string& header = lines[0];
  size_t created = header.find("CREATED"), status = header.find("STATUS");
  size_t names = header.find("NAMES");
  ASSERT_NE(names, std::string::npos) << listed.out;
  EXPECT_EQ(status - created, std::string("2026-01-01T00:00:00Z").size() + 3) << listed.out;
  size_t widest_status = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& row = lines[i];
    ASSERT_GT(row.size(), names) << listed.out;
    EXPECT_EQ(row.substr(names - 3, 3), "   ") << listed.out;
    std::string shown_status = row.substr(status, names - status);
    widest_status = std::max(widest_status, shown_status.find_last_not_of(' ') + 1);
  }
  EXPECT_EQ(names - status, widest_status + 3) << listed.out;
  const std::string& web = lines[1].substr(names) == "web" ? lines[1] : lines[2];
  EXPECT_EQ(web.substr(names), "web") << listed.out;
  EXPECT_EQ(web.substr(status, 13), "Exited (137) ") << listed.out;
}

}  // namespace
}  // namespace rootless
