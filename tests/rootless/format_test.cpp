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

}  // namespace
}  // namespace rootless
