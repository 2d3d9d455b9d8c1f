#include "userns/subid.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <optional>

#include "common/error.hpp"

namespace roost::userns {

namespace {

// uid_t -1 means "no id" to the kernel, so the last usable id is one below it.
constexpr uint64_t kIdEnd = std::numeric_limits<uint32_t>::max();

std::string_view trimmed(std::string_view text) {
  const auto* blanks = " \t\r";
  auto first = text.find_first_not_of(blanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(blanks) - first + 1);
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  for (;;) {
    auto colon = line.find(':');
    fields.push_back(line.substr(0, colon));
    if (colon == std::string_view::npos) return fields;
    line.remove_prefix(colon + 1);
  }
}

std::optional<uint64_t> parse_number(std::string_view text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return {};
  return value;
}

// Why the fields of this user's line do not form a range; empty when they do.
std::string problem_with(const std::vector<std::string_view>& fields) {
  if (fields.size() != 3) return fmt::format("it has {} fields, not 3", fields.size());
  auto start = parse_number(fields[1]);
  auto count = parse_number(fields[2]);
  if (!start || !count) return "START and COUNT must be decimal numbers";
  if (*count == 0) return "COUNT is 0";
  if (*start >= kIdEnd || *count > kIdEnd - *start)
    return fmt::format("the range runs past the highest id {}", kIdEnd - 1);
  return {};
}

bool names_user(std::string_view owner, std::string_view user_name, uint32_t id) {
  return owner == user_name || owner == std::to_string(id);
}

// Calls visit(line_number, line) with each line trimmed of surrounding blanks.
template <typename Visit>
void for_each_line(std::string_view content, Visit&& visit) {
  for (size_t line_number = 1; !content.empty(); ++line_number) {
    auto newline = content.find('\n');
    visit(line_number, trimmed(content.substr(0, newline)));
    content.remove_prefix(newline == std::string_view::npos ? content.size() : newline + 1);
  }
}

struct Span {
  uint64_t begin, end;
};

// Adds the parts of [begin, end) that no span of `taken` (sorted by begin) covers.
void append_uncovered(uint64_t begin, uint64_t end, const std::vector<Span>& taken,
                      std::vector<SubidRange>& pieces) {
  auto add = [&](uint64_t from, uint64_t to) {
    if (from < to)
      pieces.push_back({static_cast<uint32_t>(from), static_cast<uint32_t>(to - from)});
  };
  for (const auto& used : taken) {
    if (used.end <= begin || used.begin >= end) continue;
    add(begin, used.begin);
    begin = std::max(begin, used.end);
  }
  add(begin, end);
}

}  // namespace

std::vector<SubidRange> ranges_for_user(std::string_view content, std::string_view user_name,
                                        uint32_t id, std::string_view file_name) {
  std::vector<SubidRange> ranges;
  for_each_line(content, [&](size_t line_number, std::string_view line) {
    if (line.empty() || line.front() == '#') return;
    auto fields = split_fields(line);
    if (!names_user(trimmed(fields[0]), user_name, id)) return;
    if (auto problem = problem_with(fields); !problem.empty())
      throw Error(fmt::format("{}:{}: malformed line '{}' ({}); expected NAME:START:COUNT",
                              file_name, line_number, line, problem));
    ranges.push_back({static_cast<uint32_t>(*parse_number(fields[1])),
                      static_cast<uint32_t>(*parse_number(fields[2]))});
  });
  return without_overlaps(ranges);
}

std::vector<SubidRange> without_overlaps(std::span<const SubidRange> ranges) {
  std::vector<Span> taken;  // sorted by begin; may overlap
  std::vector<SubidRange> pieces;
  for (const auto& range : ranges) {
    uint64_t end = uint64_t{range.start} + range.count;
    append_uncovered(range.start, end, taken, pieces);
    taken.insert(
        std::upper_bound(taken.begin(), taken.end(), range.start,
                         [](uint64_t begin, const Span& span) { return begin < span.begin; }),
        {range.start, end});
  }
  return pieces;
}

}  // namespace roost::userns
