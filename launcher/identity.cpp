#include "launcher/identity.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <sstream>

#include "common/error.hpp"

namespace roost::cli {

namespace {

std::vector<std::string> split(const std::string& line, char separator) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  for (std::string field; std::getline(stream, field, separator);) fields.push_back(field);
  if (!line.empty() && line.back() == separator) fields.emplace_back();
  return fields;
}

// Ids above this are refused, as podman does: the kernel reserves (uid_t)-1, and
// tools disagree about the upper half.
constexpr uint32_t kHighestId = 2147483647;

std::optional<uint32_t> as_number(const std::string& text) {
  uint32_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  if (value > kHighestId) return std::nullopt;
  return value;
}

// Digits, with or without a leading minus: the spelling of an id rather than of a name.
bool spelled_as_id(const std::string& text) {
  size_t digits = !text.empty() && text[0] == '-' ? 1 : 0;
  return text.size() > digits && std::all_of(text.begin() + static_cast<long>(digits), text.end(),
                                             [](char c) { return c >= '0' && c <= '9'; });
}

// An id of the USER[:GROUP] in `spec` (which `label` names in messages), when spelled as
// one; nothing for a name.
std::optional<uint32_t> id_in_spec(const std::string& part, const std::string& label,
                                   const char* kind) {
  if (!spelled_as_id(part)) return std::nullopt;
  if (auto number = as_number(part)) return number;
  throw UsageError(fmt::format("{}: {} {} is {}; use a {} from 0 to {}", label, kind, part,
                               part[0] == '-' ? "negative" : "out of range", kind, kHighestId));
}

// Finds the line whose field 0 (name) or field 2 (id) matches.
std::optional<std::vector<std::string>> find_entry(const std::string& content,
                                                   const std::string& key, bool by_id) {
  std::stringstream stream(content);
  for (std::string line; std::getline(stream, line);) {
    auto fields = split(line, ':');
    if (fields.size() < 4) continue;
    if ((by_id ? fields[2] : fields[0]) == key) return fields;
  }
  return std::nullopt;
}

gid_t resolve_group(const std::string& spec, const std::string& group, const std::string& label) {
  if (auto number = id_in_spec(spec, label, "gid")) return *number;
  auto entry = find_entry(group, spec, false);
  if (!entry)
    throw Error(
        fmt::format("group {} is not in the container's /etc/group; use a numeric gid or "
                    "an image that defines it",
                    spec));
  auto gid = as_number((*entry)[2]);
  if (!gid)
    throw Error(fmt::format("group {} has no valid gid in the container's /etc/group", spec));
  return *gid;
}

std::vector<gid_t> supplementary_groups(const std::string& group, const std::string& user_name,
                                        gid_t primary) {
  std::vector<gid_t> groups;
  std::stringstream stream(group);
  for (std::string line; std::getline(stream, line);) {
    auto fields = split(line, ':');
    if (fields.size() < 4) continue;
    auto gid = as_number(fields[2]);
    if (!gid || *gid == primary) continue;
    for (const auto& member : split(fields[3], ','))
      if (member == user_name) groups.push_back(*gid);
  }
  return groups;
}

[[noreturn]] void missing_group(const std::string& label) {
  throw UsageError(fmt::format("{}: a group must follow the colon (USER:GROUP)", label));
}

}  // namespace

void check_user_option(const std::string& flag, const std::string& spec) {
  std::string label = fmt::format("{} {}", flag, spec);
  if (spec.empty())
    throw UsageError(
        fmt::format("{} '': the user is empty; give a user name or uid (USER[:GROUP])", flag));
  auto colon = spec.find(':');
  id_in_spec(spec.substr(0, colon), label, "uid");
  if (colon == std::string::npos) return;
  if (colon + 1 == spec.size()) missing_group(label);
  id_in_spec(spec.substr(colon + 1), label, "gid");
}

Identity resolve_identity(const std::string& spec, const std::string& passwd,
                          const std::string& group) {
  Identity identity;
  std::string label = "user " + spec;
  auto colon = spec.find(':');
  std::string user = spec.substr(0, colon);
  if (user.empty()) user = "0";
  auto number = id_in_spec(user, label, "uid");
  auto entry = find_entry(passwd, user, number.has_value());
  if (number) {
    identity.uid = *number;
  } else if (!entry) {
    throw Error(
        fmt::format("user {} is not in the container's /etc/passwd; use a numeric uid or "
                    "an image that defines it",
                    user));
  }
  if (entry) {
    auto uid = as_number((*entry)[2]);
    auto gid = as_number((*entry)[3]);
    if (!uid || !gid)
      throw Error(fmt::format("user {} has no valid uid/gid in the container's /etc/passwd", user));
    identity.uid = *uid;
    identity.gid = *gid;
    if (entry->size() > 5 && !(*entry)[5].empty()) identity.home = (*entry)[5];
    identity.supplementary_groups = supplementary_groups(group, (*entry)[0], identity.gid);
  }
  if (colon != std::string::npos) {
    if (colon + 1 == spec.size()) missing_group(label);
    identity.gid = resolve_group(spec.substr(colon + 1), group, label);
    identity.supplementary_groups.clear();
  }
  return identity;
}

}  // namespace roost::cli
