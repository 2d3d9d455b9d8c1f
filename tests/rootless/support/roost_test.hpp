#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/rootless/support/fixtures.hpp"
#include "tests/rootless/support/image_builder.hpp"
#include "tests/rootless/support/process.hpp"
#include "tests/rootless/support/roost.hpp"
#include "tests/rootless/support/tarball.hpp"

namespace rootless {

inline constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Every rootless test gets a directory and a roost installation of its own; both go
// away at the end, through roost's own rm and rmi first.
class RoostTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  Roost& installation() { return *roost_; }
  Outcome roost(const std::vector<std::string>& args) { return (*roost_)(args); }
  // `roost run --rm OPTIONS... IMAGE COMMAND...`
  Outcome run_in(const std::string& image, const std::vector<std::string>& command,
                 const std::vector<std::string>& options = {});
  // A place for the test's own files (archives, volumes) outside roost's directories.
  std::filesystem::path scratch(const std::string& name) const;

  // Loads the skopeo docker-archive of busybox; returns its name. Throws on failure.
  std::string load_busybox();
  // Writes `spec` as a docker-archive, loads it and returns its name. Throws on failure.
  std::string load(const ImageSpec& spec, DockerLayout layout = DockerLayout::Legacy);
  Outcome load_file(const std::filesystem::path& archive);

  std::vector<std::string> image_ids();
  // Names of the unpacked layer directories in the store (root/layers/HEX/, one per
  // diff id; the HEX.json beside each is not counted).
  std::set<std::string> layer_dirs() const;
  // The store root (--root) of this test's roost.
  std::filesystem::path roost_root() const;

 private:
  std::filesystem::path dir_;
  std::unique_ptr<Roost> roost_;
};

// Busybox (with passwd) as the bottom layer, then one layer per entry list; Cmd
// ["/bin/sh"] and the usual PATH unless `config` says otherwise.
ImageSpec busybox_plus(const std::vector<std::vector<TarEntry>>& layers,
                       const nlohmann::json& config = nullptr);

// Throws (failing the test with the output) unless the command exited 0.
Outcome require_success(Outcome outcome, const std::string& what);

// The filesystem type of "/" in the text of /proc/self/mountinfo.
std::string root_filesystem_type(const std::string& mountinfo);

// Lines of `text` without their line ends (a pty adds \r).
std::vector<std::string> lines_of(const std::string& text);

}  // namespace rootless
