#include "launcher/plan.hpp"

#include <sys/mount.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/error.hpp"

namespace roost::cli {

namespace {

std::string env_key(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

void set_env(std::vector<std::string>& env, const std::string& entry) {
  auto key = env_key(entry);
  auto same_key = [&](const std::string& existing) { return env_key(existing) == key; };
  env.erase(std::remove_if(env.begin(), env.end(), same_key), env.end());
  env.push_back(entry);
}

bool has_key(const std::vector<std::string>& env, const std::string& key) {
  return std::any_of(env.begin(), env.end(),
                     [&](const std::string& entry) { return env_key(entry) == key; });
}

void add_option_value(std::vector<std::string>& env, const std::string& value,
                      const std::string& where) {
  if (value.empty() || value[0] == '=')
    throw UsageError(
        fmt::format("{} '{}': an environment entry needs a name (KEY=VALUE)", where, value));
  if (value.find('=') != std::string::npos) {
    set_env(env, value);
    return;
  }
  if (const char* host_value = std::getenv(value.c_str()); host_value != nullptr)
    set_env(env, value + "=" + host_value);
}

bool all_of(std::string_view text, const char* allowed) {
  return !text.empty() && text.find_first_not_of(allowed) == std::string_view::npos;
}

// A count with an optional k, m or g suffix, as tmpfs reads size and nr_inodes.
bool is_scaled_number(std::string_view text) {
  if (!text.empty() && std::string_view("kKmMgG").find(text.back()) != std::string_view::npos)
    text.remove_suffix(1);
  return all_of(text, "0123456789");
}

bool is_tmpfs_size(std::string_view text) {
  if (text.ends_with('%')) return all_of(text.substr(0, text.size() - 1), "0123456789");
  return is_scaled_number(text);
}

bool is_tmpfs_mode(std::string_view text) {
  return all_of(text, "01234567") && std::strtoul(std::string(text).c_str(), nullptr, 8) <= 07777;
}

bool is_huge_policy(std::string_view text) {
  return text == "never" || text == "always" || text == "within_size" || text == "advise";
}

struct TmpfsValueOption {
  std::string_view key;
  bool (*valid)(std::string_view);
  std::string_view expected;
};

const TmpfsValueOption kTmpfsValueOptions[] = {
    {"size", is_tmpfs_size, "a number with k, m or g, or a percentage of memory (64m, 50%)"},
    {"nr_blocks", is_scaled_number, "a number of blocks with k, m or g"},
    {"nr_inodes", is_scaled_number, "a number of inodes with k, m or g"},
    {"mode", is_tmpfs_mode, "octal permissions up to 7777 (1777)"},
    {"uid", [](std::string_view text) { return all_of(text, "0123456789"); }, "a numeric uid"},
    {"gid", [](std::string_view text) { return all_of(text, "0123456789"); }, "a numeric gid"},
    {"huge", is_huge_policy, "never, always, within_size or advise"},
};

// Refuses what the kernel would answer only with EINVAL, naming the option.
void check_tmpfs_data(const std::string& value, const std::string& word) {
  auto equals = word.find('=');
  std::string_view key = std::string_view(word).substr(0, equals);
  for (const auto& option : kTmpfsValueOptions) {
    if (option.key != key) continue;
    std::string_view given = equals == std::string::npos
                                 ? std::string_view()
                                 : std::string_view(word).substr(equals + 1);
    if (!option.valid(given))
      throw UsageError(fmt::format("--tmpfs {}: {} has a bad value '{}'; use {}", value, key, given,
                                   option.expected));
    return;
  }
  throw UsageError(fmt::format(
      "--tmpfs {}: unknown option '{}'; use size=, nr_blocks=, nr_inodes=, mode=, uid=, gid=, "
      "huge=, ro, rw, nosuid, suid, nodev, dev, noexec or exec",
      value, word));
}

// "/run/", "/run/." and "//run" are all /run.
std::string normal_path(const std::string& path) {
  auto normal = std::filesystem::path(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

bool is_container_root(const std::string& destination) {
  return normal_path(destination) == "/";
}

struct TmpfsFlag {
  std::string_view word;
  unsigned long flag;
};

constexpr TmpfsFlag kTmpfsFlags[] = {
    {"ro", MS_RDONLY}, {"nosuid", MS_NOSUID}, {"nodev", MS_NODEV}, {"noexec", MS_NOEXEC},
    {"rw", 0},         {"suid", 0},           {"dev", 0},          {"exec", 0},
};

}  // namespace

std::vector<std::string> parse_entrypoint(const std::string& value) {
  if (value.empty()) return {};
  if (value.front() != '[') return {value};
  auto parsed = nlohmann::json::parse(value, nullptr, false);
  bool strings =
      parsed.is_array() &&
      std::all_of(parsed.begin(), parsed.end(), [](const auto& item) { return item.is_string(); });
  if (!strings)
    throw UsageError(fmt::format(
        "--entrypoint {}: not a JSON array of strings; write it as [\"/bin/sh\",\"-c\"] or give "
        "one program",
        value));
  return parsed.get<std::vector<std::string>>();
}

std::vector<std::string> resolve_command(const image::ImageConfig& config,
                                         const std::optional<std::vector<std::string>>& entrypoint,
                                         const std::vector<std::string>& arguments) {
  std::vector<std::string> argv;
  if (entrypoint.has_value()) {
    argv = *entrypoint;
    argv.insert(argv.end(), arguments.begin(), arguments.end());
  } else {
    if (config.entrypoint) argv = *config.entrypoint;
    const auto& command = arguments.empty() && config.cmd ? *config.cmd : arguments;
    argv.insert(argv.end(), command.begin(), command.end());
  }
  if (argv.empty())
    throw UsageError(
        "no command to run: the image has no Entrypoint or Cmd; give one after the image name");
  if (argv.front().empty())
    throw UsageError(
        "the command to run is an empty string (''); name a program after the image, or give "
        "--entrypoint");
  return argv;
}

std::vector<std::string> resolve_environment(const image::ImageConfig& config,
                                             const std::vector<std::string>& env_file_lines,
                                             const std::vector<std::string>& env_options, bool tty,
                                             const std::string& hostname) {
  std::vector<std::string> env;
  for (const auto& entry : config.env) set_env(env, entry);
  if (!has_key(env, "PATH")) set_env(env, kDefaultPath);
  if (tty) set_env(env, "TERM=xterm");
  set_env(env, "container=roost");
  if (!hostname.empty()) set_env(env, "HOSTNAME=" + hostname);
  for (const auto& line : env_file_lines) add_option_value(env, line, "--env-file entry");
  for (const auto& value : env_options) add_option_value(env, value, "-e");
  return env;
}

std::vector<std::string> parse_env_file(const std::string& content, const std::string& file) {
  std::vector<std::string> lines;
  std::istringstream stream(content);
  std::string line;
  int number = 0;
  while (std::getline(stream, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first);
    if (line[0] == '=')
      throw UsageError(
          fmt::format("--env-file {}:{}: '{}' has no variable name", file, number, line));
    lines.push_back(line);
  }
  return lines;
}

namespace {

bool is_alphanumeric(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 1123: letters, digits and '-', not first or last, 1 to 63 characters.
bool is_host_label(std::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (!is_alphanumeric(label.front()) || !is_alphanumeric(label.back())) return false;
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return is_alphanumeric(c) || c == '-'; });
}

}  // namespace

void check_hostname(const std::string& hostname) {
  bool valid = !hostname.empty() && hostname.size() <= kMaxHostnameLength;
  for (size_t start = 0; valid && start <= hostname.size();) {
    size_t dot = std::min(hostname.find('.', start), hostname.size());
    valid = is_host_label(std::string_view(hostname).substr(start, dot - start));
    start = dot + 1;
  }
  if (!valid)
    throw UsageError(fmt::format(
        "--hostname {}: not a valid host name; use letters, digits and '-' (not first or "
        "last), labels separated by '.', at most {} characters",
        hostname, kMaxHostnameLength));
}

void add_read_only_tmpfs(ContainerPlan& plan) {
  struct Scratch {
    const char* destination;
    const char* options;
  };
  static constexpr Scratch kScratch[] = {
      {"/tmp", "mode=1777"}, {"/var/tmp", "mode=1777"}, {"/run", "mode=755"}};
  auto taken = [&](const std::string& destination) {
    auto same = [&](const auto& mount) { return normal_path(mount.destination) == destination; };
    return std::any_of(plan.binds.begin(), plan.binds.end(), same) ||
           std::any_of(plan.tmpfs.begin(), plan.tmpfs.end(), same);
  };
  for (const auto& scratch : kScratch)
    if (!taken(scratch.destination))
      plan.tmpfs.push_back({scratch.destination, scratch.options, MS_NOSUID | MS_NODEV});
}

BindMount parse_volume(const std::string& value, const std::filesystem::path& cwd) {
  std::vector<std::string> parts;
  std::stringstream stream(value);
  for (std::string part; std::getline(stream, part, ':');) parts.push_back(part);
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    throw UsageError(fmt::format("-v {}: use SOURCE:DESTINATION[:ro]", value));
  BindMount bind;
  bind.source = std::filesystem::absolute(cwd / parts[0]).lexically_normal().string();
  bind.destination = parts[1];
  if (bind.destination[0] != '/')
    throw UsageError(
        fmt::format("-v {}: the destination {} must be an absolute path", value, bind.destination));
  if (is_container_root(bind.destination))
    throw UsageError(fmt::format(
        "-v {}: a volume cannot replace the container's /, which holds the image; mount it on "
        "a directory below (SOURCE:/data)",
        value));
  if (parts.size() == 3) {
    if (parts[2] != "ro" && parts[2] != "rw")
      throw UsageError(fmt::format("-v {}: unknown option '{}'; use ro or rw", value, parts[2]));
    bind.read_only = parts[2] == "ro";
  }
  return bind;
}

OwnerTranslations stored_owner_translations(const ContainerPlan& plan) {
  return {userns::translate_ids(plan.maps.uids, plan.storage_maps.uids),
          userns::translate_ids(plan.maps.gids, plan.storage_maps.gids)};
}

bool stored_owners_shift(const ContainerPlan& plan) {
  auto translations = stored_owner_translations(plan);
  return userns::changes_ids(translations.uids) || userns::changes_ids(translations.gids);
}

void check_storage_driver(const ContainerPlan& plan, const std::string& userns_mode) {
  if (plan.storage_driver != "overlay" || !stored_owners_shift(plan)) return;
  throw UsageError(fmt::format(
      "--storage-driver overlay cannot run a container with --userns {}: the kernel's overlayfs "
      "cannot show the image's file owners under that id map; use --storage-driver "
      "fuse-overlayfs or auto (or [storage] driver in config.toml)",
      userns_mode));
}

TmpfsMount parse_tmpfs(const std::string& value) {
  TmpfsMount mount;
  auto colon = value.find(':');
  mount.destination = value.substr(0, colon);
  if (mount.destination.empty() || mount.destination[0] != '/')
    throw UsageError(fmt::format("--tmpfs {}: the destination must be an absolute path", value));
  if (is_container_root(mount.destination))
    throw UsageError(fmt::format(
        "--tmpfs {}: a tmpfs cannot replace the container's /; mount it on a directory below "
        "(/scratch) or use --read-only",
        value));
  mount.flags = MS_NOSUID | MS_NODEV;
  if (colon == std::string::npos) return mount;
  std::stringstream stream(value.substr(colon + 1));
  for (std::string word; std::getline(stream, word, ',');) {
    auto known = std::find_if(std::begin(kTmpfsFlags), std::end(kTmpfsFlags),
                              [&](const TmpfsFlag& flag) { return flag.word == word; });
    if (known == std::end(kTmpfsFlags)) {
      check_tmpfs_data(value, word);
      mount.options += (mount.options.empty() ? "" : ",") + word;
      continue;
    }
    if (word == "suid") mount.flags &= ~static_cast<unsigned long>(MS_NOSUID);
    if (word == "dev") mount.flags &= ~static_cast<unsigned long>(MS_NODEV);
    if (word == "exec") mount.flags &= ~static_cast<unsigned long>(MS_NOEXEC);
    mount.flags |= known->flag;
  }
  return mount;
}

}  // namespace roost::cli
