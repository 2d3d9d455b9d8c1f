#include "launcher/times.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/error.hpp"

namespace roost::cli {

namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;

// Reads exactly `width` digits at `pos`; advances past them.
std::optional<int> take_digits(std::string_view text, size_t& pos, size_t width) {
  if (pos + width > text.size()) return std::nullopt;
  int value = 0;
  auto [end, error] = std::from_chars(text.data() + pos, text.data() + pos + width, value);
  if (error != std::errc() || end != text.data() + pos + width) return std::nullopt;
  pos += width;
  return value;
}

bool take_char(std::string_view text, size_t& pos, std::string_view allowed) {
  if (pos >= text.size() || allowed.find(text[pos]) == std::string_view::npos) return false;
  ++pos;
  return true;
}

// ".123" after the seconds, as nanoseconds; 0 when there is no fraction.
int64_t take_fraction(std::string_view text, size_t& pos) {
  if (pos >= text.size() || text[pos] != '.') return 0;
  ++pos;
  int64_t nanos = 0;
  int digits = 0;
  for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos, ++digits)
    if (digits < 9) nanos = nanos * 10 + (text[pos] - '0');
  for (; digits < 9; ++digits) nanos *= 10;
  return nanos;
}

// "Z", "+02:00" or "-0130" as seconds east of UTC.
std::optional<int64_t> take_offset(std::string_view text, size_t& pos) {
  if (take_char(text, pos, "Zz")) return 0;
  if (pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return std::nullopt;
  int sign = text[pos++] == '-' ? -1 : 1;
  auto hours = take_digits(text, pos, 2);
  take_char(text, pos, ":");
  auto minutes = take_digits(text, pos, 2);
  if (!hours || !minutes) return std::nullopt;
  return sign * (*hours * 3600 + *minutes * 60);
}

std::optional<UnixNanos> parse_unix_seconds(std::string_view text) {
  size_t pos = 0;
  int64_t seconds = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (error != std::errc() || end == text.data()) return std::nullopt;
  pos = static_cast<size_t>(end - text.data());
  int64_t fraction = take_fraction(text, pos);
  if (pos != text.size()) return std::nullopt;
  return seconds * kNanosPerSecond + fraction;
}

struct DurationUnit {
  std::string_view suffix;
  double nanos;
};

// Longest suffixes first so that "ms" is not read as "m".
constexpr DurationUnit kDurationUnits[] = {
    {"ns", 1},  {"us", 1e3},     {"µs", 1e3},       {"ms", 1e6},
    {"s", 1e9}, {"m", 60 * 1e9}, {"h", 3600 * 1e9},
};

}  // namespace

UnixNanos now_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_timestamp(UnixNanos time) {
  std::time_t seconds = static_cast<std::time_t>(time / kNanosPerSecond);
  struct tm utc;
  ::gmtime_r(&seconds, &utc);
  char text[48];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long long>(time % kNanosPerSecond));
  return text;
}

std::optional<UnixNanos> parse_rfc3339(std::string_view text) {
  size_t pos = 0;
  struct tm fields = {};
  auto year = take_digits(text, pos, 4);
  bool dash1 = take_char(text, pos, "-");
  auto month = take_digits(text, pos, 2);
  bool dash2 = take_char(text, pos, "-");
  auto day = take_digits(text, pos, 2);
  bool t = take_char(text, pos, "Tt ");
  auto hour = take_digits(text, pos, 2);
  bool colon1 = take_char(text, pos, ":");
  auto minute = take_digits(text, pos, 2);
  bool colon2 = take_char(text, pos, ":");
  auto second = take_digits(text, pos, 2);
  if (!year || !month || !day || !hour || !minute || !second || !dash1 || !dash2 || !t || !colon1 ||
      !colon2)
    return std::nullopt;
  int64_t fraction = take_fraction(text, pos);
  auto offset = take_offset(text, pos);
  if (!offset || pos != text.size()) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60)
    return std::nullopt;
  fields.tm_year = *year - 1900;
  fields.tm_mon = *month - 1;
  fields.tm_mday = *day;
  fields.tm_hour = *hour;
  fields.tm_min = *minute;
  fields.tm_sec = *second;
  int64_t seconds = static_cast<int64_t>(::timegm(&fields)) - *offset;
  return seconds * kNanosPerSecond + fraction;
}

std::optional<int64_t> parse_duration_nanos(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    double number = 0;
    auto [end, error] = std::from_chars(text.data() + pos, text.data() + text.size(), number);
    if (error != std::errc() || number < 0) return std::nullopt;
    pos = static_cast<size_t>(end - text.data());
    const DurationUnit* unit = nullptr;
    for (const auto& candidate : kDurationUnits)
      if (text.substr(pos, candidate.suffix.size()) == candidate.suffix) {
        unit = &candidate;
        break;
      }
    if (unit == nullptr) return std::nullopt;
    pos += unit->suffix.size();
    total += number * unit->nanos;
  }
  return static_cast<int64_t>(total);
}

UnixNanos parse_point_in_time(std::string_view text, std::string_view option, UnixNanos now) {
  if (auto time = parse_rfc3339(text)) return *time;
  if (auto time = parse_unix_seconds(text)) return *time;
  if (auto duration = parse_duration_nanos(text)) return now - *duration;
  throw UsageError("--" + std::string(option) + " " + std::string(text) +
                   ": not a time; use RFC 3339 (2024-05-01T12:00:00Z or with an offset), Unix "
                   "seconds (1714564800.5) or a duration back from now (10m, 1h30m)");
}

std::string describe_age(UnixNanos since, UnixNanos now) {
  int64_t seconds = std::max<int64_t>(0, (now - since) / kNanosPerSecond);
  auto plural = [](int64_t count, const char* unit) {
    return std::to_string(count) + " " + unit + (count == 1 ? "" : "s");
  };
  if (seconds < 60) return plural(seconds, "second");
  if (seconds < 3600) return plural(seconds / 60, "minute");
  if (seconds < 86400) return plural(seconds / 3600, "hour");
  return plural(seconds / 86400, "day");
}

}  // namespace roost::cli
