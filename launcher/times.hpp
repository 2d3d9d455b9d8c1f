#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace roost::cli {

// Nanoseconds since the Unix epoch.
using UnixNanos = int64_t;

UnixNanos now_nanos();

// 2024-05-01T12:00:00.123456789Z: fixed width, so such stamps sort as text.
std::string format_timestamp(UnixNanos time);

// RFC 3339 with Z or a numeric offset and optional fractions; nullopt if malformed.
std::optional<UnixNanos> parse_rfc3339(std::string_view text);

// Go's duration form: 10m, 1h30m, 2.5s, 300ms; nullopt if malformed.
std::optional<int64_t> parse_duration_nanos(std::string_view text);

// A --since or --until value: RFC 3339, Unix seconds with fractions, or a duration
// back from `now`. Throws UsageError naming `option` and the forms it accepts.
UnixNanos parse_point_in_time(std::string_view text, std::string_view option, UnixNanos now);

// "3 seconds", "2 minutes", "5 hours", "4 days": how long ago, for people.
std::string describe_age(UnixNanos since, UnixNanos now);

}  // namespace roost::cli
