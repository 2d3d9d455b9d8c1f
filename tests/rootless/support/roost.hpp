#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "tests/rootless/support/process.hpp"

namespace rootless {

// The roost binary under test (ROOST_BINARY, set by meson).
const std::string& roost_binary();

// The directory of this run of the suite: made on first use, removed at the end.
const std::filesystem::path& run_dir();
void remove_run_dir();

// Sets KEY in a KEY=VALUE environment, replacing an earlier value.
void set_env(std::vector<std::string>& env, const std::string& key, const std::string& value);

// One roost installation of its own under `dir`: storage root, runtime root, HOME and
// the XDG directories, so that no two tests share any state.
class Roost {
 public:
  explicit Roost(std::filesystem::path dir);

  // The command line with the global --root and --runroot in front of `args`.
  std::vector<std::string> argv(const std::vector<std::string>& args) const;
  std::vector<std::string> env() const;
  // Ready to run; callers may change the environment, input or timeout first.
  Spawn spawn(const std::vector<std::string>& args) const;
  Outcome operator()(const std::vector<std::string>& args) const;

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path root() const { return dir_ / "root"; }
  std::filesystem::path runroot() const { return dir_ / "runroot"; }
  std::filesystem::path home() const { return dir_ / "home"; }

  // Containers named here are removed by clean_up.
  void remember_container(const std::string& name) { containers_.push_back(name); }
  // Removes containers and images with roost itself, then the whole directory; what
  // belongs to ids of the user namespace and is still there goes through `unshare`.
  void clean_up() const;

 private:
  std::filesystem::path dir_;
  std::vector<std::string> containers_;
};

// rm -rf for trees the caller owns, including 0000 files in 0555 directories.
// Returns false (and leaves what it could not remove) instead of throwing.
bool remove_tree(const std::filesystem::path& path);

}  // namespace rootless
