#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace roost::cli {

// The fields a --format template may name, per command; each row that command prints
// is one JSON object with these keys.
extern const std::vector<std::string_view> kPsTemplateFields;
extern const std::vector<std::string_view> kImagesTemplateFields;
extern const std::vector<std::string_view> kInspectTemplateFields;
extern const std::vector<std::string_view> kImageInspectTemplateFields;

// True when a --format value is a template such as '{{.Names}} {{.Status}}' rather than
// a named format (table, json).
bool is_format_template(std::string_view format);

// Help text for a --format option that takes `named` formats or a template over `fields`.
std::string format_option_help(std::string_view named, const std::vector<std::string_view>& fields);

// A Go-template-like line: literal text with \t, \n and \\ escapes, and the actions
// {{.Field}}, {{.Field.Key}}, {{json .}} and {{json .Field}}.
class FormatTemplate {
 public:
  // Throws UsageError (exit 125) naming an unknown field and listing the valid ones.
  FormatTemplate(std::string_view text, const std::vector<std::string_view>& fields);

  // One line per row, ended by a newline.
  std::string render(const nlohmann::json& row) const;

 private:
  struct Piece {
    std::string literal = {};            // used when path is empty and whole_row is false
    std::vector<std::string> path = {};  // .Field.Key
    bool as_json = false;
    bool whole_row = false;  // {{json .}}
  };

  void add_action(std::string_view action, const std::vector<std::string_view>& fields);

  std::string text_;
  std::vector<Piece> pieces_;
};

// Prints every row of `rows` (a JSON array) through `format`.
void print_with_template(const std::string& format, const std::vector<std::string_view>& fields,
                         const nlohmann::json& rows);

}  // namespace roost::cli
