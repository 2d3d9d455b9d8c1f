#include "launcher/format_template.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "common/error.hpp"

namespace roost::cli {

const std::vector<std::string_view> kPsTemplateFields = {
    "ID",    "Id",     "Names", "Name",     "Image", "ImageID",   "Command",    "Created",
    "State", "Status", "Pid",   "ExitCode", "Error", "StartedAt", "FinishedAt", "AutoRemove"};
const std::vector<std::string_view> kImagesTemplateFields = {
    "ID",   "Id",    "Repository", "Tag",          "Names",  "Created",
    "Size", "Bytes", "Layers",     "Architecture", "Os",     "Entrypoint",
    "Cmd",  "Env",   "WorkingDir", "User",         "Digest", "RepoDigests"};
const std::vector<std::string_view> kInspectTemplateFields = {
    "ID",    "Id",     "Name",  "Created",    "Image",  "ImageName", "AutoRemove", "Config",
    "State", "Mounts", "Scope", "IdMappings", "Rootfs", "UpperDir",  "LogPath"};
const std::vector<std::string_view> kImageInspectTemplateFields = {
    "ID",         "Id",  "Names", "Created",    "Size", "Layers", "Architecture", "Os",
    "Entrypoint", "Cmd", "Env",   "WorkingDir", "User", "Digest", "RepoDigests"};

namespace {

std::string field_list(const std::vector<std::string_view>& fields) {
  std::string list;
  for (auto field : fields) list += fmt::format("{}.{}", list.empty() ? "" : " ", field);
  return list;
}

// What Go's templates print for a key a map lacks or holds nil for, as podman's
// --format prints {{.Config.Labels.nope}}; an empty string stays empty.
constexpr std::string_view kNoValue = "<no value>";

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

std::vector<std::string> split_path(std::string_view dotted) {
  std::vector<std::string> path;
  while (!dotted.empty()) {
    dotted.remove_prefix(1);
    auto next = dotted.find('.');
    path.emplace_back(dotted.substr(0, next));
    dotted = next == std::string_view::npos ? std::string_view() : dotted.substr(next);
  }
  return path;
}

// Arrays of plain values print joined by commas, as ps prints several names.
std::string plain_text(const nlohmann::json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array() && std::none_of(value.begin(), value.end(),
                                       [](const auto& item) { return item.is_structured(); })) {
    std::string joined;
    for (const auto& item : value) joined += (joined.empty() ? "" : ",") + plain_text(item);
    return joined;
  }
  return value.dump();
}

// A key a row lacks (Error when there was none) is null.
const nlohmann::json& lookup(const nlohmann::json& row, const std::vector<std::string>& path) {
  static const nlohmann::json missing;
  const nlohmann::json* value = &row;
  for (const auto& key : path) {
    if (!value->is_object() || !value->contains(key)) return missing;
    value = &(*value)[key];
  }
  return *value;
}

}  // namespace

bool is_format_template(std::string_view format) {
  return format.find("{{") != std::string_view::npos;
}

std::string format_option_help(std::string_view named,
                               const std::vector<std::string_view>& fields) {
  return fmt::format("Output format: {}, or a template such as '{{{{.{}}}}}\\t{{{{.{}}}}}' over {}",
                     named, fields[0], fields[2], field_list(fields));
}

FormatTemplate::FormatTemplate(std::string_view text, const std::vector<std::string_view>& fields)
    : text_(text) {
  std::string literal;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "{{") == 0) {
      auto end = text.find("}}", i + 2);
      if (end == std::string_view::npos)
        throw UsageError(fmt::format("--format '{}': '{{{{' at offset {} has no '}}}}'", text_, i));
      pieces_.push_back({.literal = std::move(literal)});
      literal.clear();
      add_action(trimmed(text.substr(i + 2, end - i - 2)), fields);
      i = end + 1;
    } else if (text[i] == '\\' && i + 1 < text.size() &&
               std::string_view("tn\\").find(text[i + 1]) != std::string_view::npos) {
      literal += text[i + 1] == 't' ? '\t' : text[i + 1] == 'n' ? '\n' : '\\';
      ++i;
    } else {
      literal += text[i];
    }
  }
  pieces_.push_back({.literal = std::move(literal)});
}

void FormatTemplate::add_action(std::string_view action,
                                const std::vector<std::string_view>& fields) {
  Piece piece;
  if (action.rfind("json ", 0) == 0) {
    piece.as_json = true;
    action = trimmed(action.substr(5));
  }
  if (action == "." && piece.as_json) {
    piece.whole_row = true;
    pieces_.push_back(std::move(piece));
    return;
  }
  if (action.size() < 2 || action[0] != '.' || action.find(' ') != std::string_view::npos)
    throw UsageError(fmt::format(
        "--format '{}': '{{{{{}}}}}' is not supported; use {{{{.Field}}}}, {{{{json .Field}}}} "
        "or {{{{json .}}}} with fields {}",
        text_, action, field_list(fields)));
  piece.path = split_path(action);
  if (std::find(fields.begin(), fields.end(), piece.path[0]) == fields.end())
    throw UsageError(fmt::format("--format '{}': unknown field .{}; valid fields: {}", text_,
                                 piece.path[0], field_list(fields)));
  pieces_.push_back(std::move(piece));
}

std::string FormatTemplate::render(const nlohmann::json& row) const {
  std::string line;
  for (const auto& piece : pieces_) {
    if (!piece.whole_row && piece.path.empty()) {
      line += piece.literal;
      continue;
    }
    const nlohmann::json& value = lookup(row, piece.path);
    if (piece.as_json)
      line += value.dump();
    else if (value.is_null())
      line += kNoValue;
    else
      line += plain_text(value);
  }
  return line + "\n";
}

void print_with_template(const std::string& format, const std::vector<std::string_view>& fields,
                         const nlohmann::json& rows) {
  FormatTemplate compiled(format, fields);
  for (const auto& row : rows) fmt::print("{}", compiled.render(row));
}

}  // namespace roost::cli
