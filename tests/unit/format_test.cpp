#include <gtest/gtest.h>

#include "common/error.hpp"
#include "launcher/format_template.hpp"
#include "launcher/parse.hpp"

using roost::UsageError;
using roost::cli::FormatTemplate;
using roost::cli::kPsTemplateFields;

namespace {

const nlohmann::json kRow = {{"ID", "0123456789ab"},     {"Names", "web"},
                             {"Status", "Up 2 seconds"}, {"Pid", 42},
                             {"Command", "sh -c true"},  {"Error", nullptr}};

std::string render(std::string_view text, const nlohmann::json& row = kRow) {
  return FormatTemplate(text, kPsTemplateFields).render(row);
}

std::string usage_error_of(std::string_view text) {
  try {
    FormatTemplate(text, kPsTemplateFields);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(FormatTemplate, FieldsByNameWithLiteralText) {
  EXPECT_EQ(render("{{.Names}} {{.Status}}"), "web Up 2 seconds\n");
  EXPECT_EQ(render("id={{ .ID }} pid={{.Pid}}"), "id=0123456789ab pid=42\n");
}

TEST(FormatTemplate, TabAndNewlineEscapes) {
  EXPECT_EQ(render("{{.Names}}\\t{{.Pid}}\\n{{.Command}}"), "web\t42\nsh -c true\n");
  EXPECT_EQ(render("a\\\\b\\x"), "a\\b\\x\n");
}

TEST(FormatTemplate, JsonOfTheRowAndOfAField) {
  EXPECT_EQ(nlohmann::json::parse(render("{{json .}}")), kRow);
  EXPECT_EQ(render("{{json .Names}} {{json .Pid}}"), "\"web\" 42\n");
}

TEST(FormatTemplate, NestedKeysArraysAndMissingValues) {
  nlohmann::json row = {{"Names", {"a", "b"}}, {"State", {{"Status", "exited"}}}};
  auto text = FormatTemplate("{{.Names}}|{{.State.Status}}|{{.State.Nope}}|{{.Error}}",
                             {"Names", "State", "Error"});
  EXPECT_EQ(text.render(row), "a,b|exited|<no value>|<no value>\n");
}

TEST(FormatTemplate, NoValueForMissingOrNullButEmptyStringsStayEmpty) {
  nlohmann::json row = {{"Names", ""}, {"Error", nullptr}, {"State", {{"Status", ""}}}};
  auto text = FormatTemplate("[{{.Names}}][{{.Error}}][{{.State.Status}}][{{.State.Pid}}]",
                             {"Names", "State", "Error"});
  EXPECT_EQ(text.render(row), "[][<no value>][][<no value>]\n");
  auto as_json = FormatTemplate("{{json .Error}} {{json .State.Pid}} {{json .Names}}",
                                {"Names", "State", "Error"});
  EXPECT_EQ(as_json.render(row), "null null \"\"\n");
}

TEST(FormatTemplate, UnknownFieldIsNamedWithTheValidOnes) {
  auto message = usage_error_of("{{.Names}} {{.Stauts}}");
  EXPECT_NE(message.find("unknown field .Stauts"), std::string::npos) << message;
  EXPECT_NE(message.find("valid fields: .ID .Id .Names"), std::string::npos) << message;
}

TEST(FormatTemplate, UnsupportedActionsAndUnclosedBracesAreRefused) {
  EXPECT_NE(usage_error_of("{{range .}}x{{end}}").find("is not supported"), std::string::npos);
  EXPECT_NE(usage_error_of("{{.Names").find("has no '}}'"), std::string::npos);
}

TEST(FormatTemplate, ParserTakesTemplatesButStillChecksNamedFormats) {
  auto invocation = roost::cli::parse_arguments({"ps", "--format", "{{.Names}}"});
  EXPECT_EQ(invocation.command.value("format"), "{{.Names}}");
  EXPECT_EQ(roost::cli::parse_arguments({"inspect", "--format={{.State.Status}}", "c"})
                .command.value("format"),
            "{{.State.Status}}");
  EXPECT_THROW(roost::cli::parse_arguments({"images", "--format", "yaml"}), UsageError);
}

TEST(FormatTemplate, ParserChecksTheTemplateBeforeTheCommandLooksAnythingUp) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"inspect", "--format", "{{.Nope}}", "missing"},
        std::vector<std::string>{"ps", "--format={{.Names}} {{.Nope}}"},
        std::vector<std::string>{"images", "--format", "{{.Repository}"}}) {
    try {
      roost::cli::parse_arguments(args);
      ADD_FAILURE() << args[0] << " " << args[1] << " accepted";
    } catch (const UsageError& error) {
      EXPECT_EQ(std::string(error.what()).rfind("--format '", 0), 0u) << error.what();
    }
  }
}

TEST(FormatTemplate, ImageInspectTakesJsonOrATemplateOverItsFields) {
  auto parsed = roost::cli::parse_arguments({"image", "inspect", "--format", "{{.Os}}", "img"});
  EXPECT_EQ(parsed.command.value("format"), "{{.Os}}");
  EXPECT_EQ(roost::cli::parse_arguments({"image", "inspect", "--format=json", "img"})
                .command.value("format"),
            "json");
  EXPECT_THROW(roost::cli::parse_arguments({"image", "inspect", "--format", "table", "img"}),
               UsageError);
  try {
    roost::cli::parse_arguments({"image", "inspect", "--format", "{{.Repository}}", "img"});
    ADD_FAILURE() << "an images field accepted by image inspect";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what())
                  .find("unknown field .Repository; valid fields: .ID .Id "
                        ".Names .Created .Size .Layers"),
              std::string::npos)
        << error.what();
  }
  auto help = roost::cli::render_help(parsed.command.spec);
  EXPECT_NE(help.find("--format FORMAT"), std::string::npos) << help;
  EXPECT_NE(help.find(".Entrypoint .Cmd .Env"), std::string::npos) << help;
}
