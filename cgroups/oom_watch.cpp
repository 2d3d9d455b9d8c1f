#include "cgroups/oom_watch.hpp"

#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>

#include "cgroups/limits.hpp"
#include "common/error.hpp"
#include "common/stderr_log.hpp"

namespace roost::cgroups {

namespace {

// A cgroup file's content; nothing once the cgroup is gone.
std::optional<std::string> read_small_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string content;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) return content;
    content.append(buffer, static_cast<size_t>(n));
  }
}

std::optional<uint64_t> parse_count(std::string_view text) {
  uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The value of `key` in a flat keyed file ("key value" lines).
std::optional<uint64_t> keyed_value(std::string_view content, std::string_view key) {
  while (!content.empty()) {
    auto line = content.substr(0, content.find('\n'));
    content.remove_prefix(std::min(content.size(), line.size() + 1));
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ')
      return parse_count(line.substr(key.size() + 1));
  }
  return std::nullopt;
}

}  // namespace

OomWatch::OomWatch(std::string cgroup)
    : cgroup_(std::move(cgroup)), inotify_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
  if (!inotify_) throw_errno("inotify_init1 to watch " + cgroup_);
  auto events = cgroup_ + "/memory.events";
  if (::inotify_add_watch(inotify_.get(), events.c_str(), IN_MODIFY) < 0) {
    if (errno != ENOENT) throw_errno("inotify_add_watch " + events);
    stderr_log::debug(events + " does not exist, so out-of-memory kills cannot be seen, ignoring");
  }
  update();
}

OomWatch::OomWatch(std::string cgroup, UniqueFd inotify, uint64_t oom_kills_seen)
    : cgroup_(std::move(cgroup)), inotify_(std::move(inotify)), oom_kills_(oom_kills_seen) {
  update();
}

void OomWatch::update() {
  char buffer[4096];
  while (::read(inotify_.get(), buffer, sizeof buffer) > 0) {
  }
  auto events = read_small_file(cgroup_ + "/memory.events");
  if (!events) return;  // the cgroup is gone: keep what was seen last
  if (auto kills = keyed_value(*events, "oom_kill")) oom_kills_ = *kills;
  auto max = read_small_file(cgroup_ + "/memory.max");
  if (!max) return;
  std::string_view value(*max);
  if (value.ends_with('\n')) value.remove_suffix(1);
  if (value == "max")
    memory_max_ = kUnlimited;
  else if (auto bytes = parse_count(value))
    memory_max_ = bytes;
}

}  // namespace roost::cgroups
