#include "tests/rootless/support/roost.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace rootless {

namespace fs = std::filesystem;

namespace {

fs::path& run_dir_storage() {
  static fs::path dir;
  return dir;
}

void make_run_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/roost-rootless-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + pattern + " failed");
  run_dir_storage() = pattern;
}

std::string user_name() {
  const passwd* entry = ::getpwuid(::getuid());
  return entry != nullptr ? entry->pw_name : std::to_string(::getuid());
}

void make_private_dir(const fs::path& dir) {
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
}

// Gives the owner rwx on every directory below `path` that the caller owns, so that
// their entries can be removed.
void open_up_directories(const fs::path& path) {
  std::error_code error;
  if (!fs::is_directory(fs::symlink_status(path, error))) return;
  fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, error);
  for (fs::directory_iterator it(path, error), end; !error && it != end; it.increment(error))
    open_up_directories(it->path());
}

// Files left behind with owners of the user's namespace can only go from inside one.
bool remove_inside_user_namespace(const fs::path& path) {
  std::string unshare = find_in_path("unshare");
  if (unshare.empty()) return false;
  Outcome removed = run(
      Spawn({unshare, "--user", "--map-root-user", "--map-auto", "rm", "-rf", "--", path.string()},
            {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}));
  return removed.exit_code == 0 && !fs::exists(fs::symlink_status(path));
}

}  // namespace

const std::string& roost_binary() {
  static const std::string binary = [] {
    const char* path = std::getenv("ROOST_BINARY");
    if (path == nullptr || *path == '\0')
      throw std::runtime_error("ROOST_BINARY is not set; meson sets it to the built roost");
    return std::string(path);
  }();
  return binary;
}

const fs::path& run_dir() {
  if (run_dir_storage().empty()) make_run_dir();
  return run_dir_storage();
}

void remove_run_dir() {
  if (run_dir_storage().empty()) return;
  if (!remove_tree(run_dir_storage()))
    std::cerr << "note: could not remove all of " << run_dir_storage() << "\n";
}

void set_env(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  std::erase_if(env, [&](const std::string& entry) { return entry.rfind(key + "=", 0) == 0; });
  env.push_back(key + "=" + value);
}

bool remove_tree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  if (!error) return true;
  open_up_directories(path);
  fs::remove_all(path, error);
  if (!error) return true;
  return remove_inside_user_namespace(path);
}

Roost::Roost(fs::path dir) : dir_(std::move(dir)) {
  for (const char* sub : {"home/.config", "home/.local/share", "xdg-runtime", "tmp"})
    fs::create_directories(dir_ / sub);
  make_private_dir(dir_ / "xdg-runtime");
}

std::vector<std::string> Roost::argv(const std::vector<std::string>& args) const {
  std::vector<std::string> all = {roost_binary(), "--root", root().string(), "--runroot",
                                  runroot().string()};
  all.insert(all.end(), args.begin(), args.end());
  return all;
}

std::vector<std::string> Roost::env() const {
  return {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=" + home().string(),
      "USER=" + user_name(),
      "LOGNAME=" + user_name(),
      "XDG_CONFIG_HOME=" + (home() / ".config").string(),
      "XDG_DATA_HOME=" + (home() / ".local/share").string(),
      "XDG_RUNTIME_DIR=" + (dir_ / "xdg-runtime").string(),
      "TMPDIR=" + (dir_ / "tmp").string(),
  };
}

Spawn Roost::spawn(const std::vector<std::string>& args) const {
  Spawn spawn(argv(args), env());
  spawn.cwd = dir_.string();
  spawn.timeout = Seconds(90);
  return spawn;
}

Outcome Roost::operator()(const std::vector<std::string>& args) const {
  return run(spawn(args));
}

void Roost::clean_up() const {
  for (const auto& name : containers_) (*this)({"rm", "-f", name});
  if (fs::exists(root())) {
    Outcome images = (*this)({"images", "-q"});
    std::istringstream ids(images.out);
    for (std::string id; ids >> id;) (*this)({"rmi", id});
  }
  if (!remove_tree(dir_)) std::cerr << "note: could not remove all of " << dir_ << "\n";
}

}  // namespace rootless
