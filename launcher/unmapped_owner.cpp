#include "launcher/unmapped_owner.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <sstream>

#include "common/fd.hpp"

namespace roost::cli {

namespace {

struct Owner {
  std::string path;  // as the container sees it
  const char* kind;  // "uid" or "gid"
  uint32_t id;       // on the host
};

bool for_want_of_permission(const std::string& failure) {
  return failure.find(std::strerror(EACCES)) != std::string::npos ||
         failure.find(std::strerror(EPERM)) != std::string::npos;
}

// The container's writable layer, then the image's layers from the top.
std::vector<std::filesystem::path> layers_of(const ContainerPlan& plan) {
  std::vector<std::filesystem::path> layers;
  if (!plan.upper_dir.empty()) layers.push_back(plan.upper_dir);
  layers.insert(layers.end(), plan.lower_dirs.begin(), plan.lower_dirs.end());
  return layers;
}

// lstat of `path` in one layer, never following a link of the image on the host.
std::optional<struct stat> stat_in_layer(const std::filesystem::path& layer,
                                         const std::string& path) {
  UniqueFd root(::open(layer.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return std::nullopt;
  struct open_how how = {};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  std::string relative = path.substr(path.find_first_not_of('/'));
  UniqueFd found(
      static_cast<int>(::syscall(SYS_openat2, root.get(), relative.c_str(), &how, sizeof how)));
  struct stat st;
  if (!found || ::fstat(found.get(), &st) < 0) return std::nullopt;
  return st;
}

std::optional<Owner> unmapped(const ContainerPlan& plan, const std::string& path,
                              const struct stat& st) {
  if (!userns::to_inside(plan.maps.uids, st.st_uid)) return Owner{path, "uid", st.st_uid};
  if (!userns::to_inside(plan.maps.gids, st.st_gid)) return Owner{path, "gid", st.st_gid};
  return std::nullopt;
}

// The first directory on the way to `path` (or `path` itself) whose topmost copy has an
// owner the map leaves out.
std::optional<Owner> unmapped_on_the_way(const ContainerPlan& plan, const std::string& path) {
  auto layers = layers_of(plan);
  std::string prefix;
  std::istringstream parts(path);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty() || part == "." || part == "..") continue;
    prefix += "/" + part;
    std::optional<struct stat> st;
    for (const auto& layer : layers)
      if ((st = stat_in_layer(layer, prefix))) break;
    if (!st) return std::nullopt;
    if (auto owner = unmapped(plan, prefix, *st)) return owner;
    if (S_ISLNK(st->st_mode)) return std::nullopt;
  }
  return std::nullopt;
}

// Words of the message that are absolute paths, without the punctuation that follows.
std::vector<std::string> paths_in(const std::string& failure) {
  std::vector<std::string> paths;
  std::istringstream words(failure);
  for (std::string word; words >> word;) {
    while (!word.empty() && std::strchr(":;,)'\"", word.back()) != nullptr) word.pop_back();
    if (word.starts_with("/")) paths.push_back(word);
  }
  return paths;
}

// Any file of the layers whose owner the map leaves out, when the message names none.
std::optional<Owner> any_unmapped(const ContainerPlan& plan) {
  for (const auto& layer : layers_of(plan)) {
    std::error_code error;
    std::filesystem::recursive_directory_iterator it(layer, error), end;
    for (; !error && it != end; it.increment(error)) {
      struct stat st;
      if (::lstat(it->path().c_str(), &st) < 0) continue;
      std::string path = "/" + it->path().lexically_relative(layer).string();
      if (auto owner = unmapped(plan, path, st)) return owner;
    }
  }
  return std::nullopt;
}

bool single_id_map(const ContainerPlan& plan) {
  return plan.maps.uids.size() == 1 && plan.maps.uids[0].count == 1;
}

std::string advice(const ContainerPlan& plan) {
  if (single_id_map(plan))
    return "--userns single maps your own ids alone; run it with --userns full (the default)";
  return fmt::format(
      "image {} was unpacked under other subordinate ids than this container maps (were "
      "/etc/subuid or /etc/subgid changed?); remove it with 'roost rmi {}' and load it again",
      plan.image_name, plan.image_name);
}

}  // namespace

std::string explain_unmapped_owner(const ContainerPlan& plan, const std::string& failure) {
  if (!for_want_of_permission(failure)) return failure;
  std::optional<Owner> owner;
  for (const auto& path : paths_in(failure))
    if ((owner = unmapped_on_the_way(plan, path))) break;
  if (owner)
    return fmt::format(
        "{}; {} belongs to host {} {}, which this container's user namespace "
        "does not map: {}",
        failure, owner->path, owner->kind, owner->id, advice(plan));
  if ((owner = any_unmapped(plan)))
    return fmt::format(
        "{}; files of the image belong to ids this container's user namespace "
        "does not map ({} has host {} {}), which may be why: {}",
        failure, owner->path, owner->kind, owner->id, advice(plan));
  return failure;
}

}  // namespace roost::cli
