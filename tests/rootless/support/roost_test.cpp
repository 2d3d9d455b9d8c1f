#include "tests/rootless/support/roost_test.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace rootless {

namespace fs = std::filesystem;

namespace {

std::string current_test_name() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  std::replace(name.begin(), name.end(), '/', '_');
  return name;
}

}  // namespace

void RoostTest::SetUp() {
  dir_ = run_dir() / "tests" / current_test_name();
  fs::create_directories(dir_ / "scratch");
  roost_ = std::make_unique<Roost>(dir_ / "roost");
}

void RoostTest::TearDown() {
  if (roost_) roost_->clean_up();
  remove_tree(dir_);
}

Outcome RoostTest::run_in(const std::string& image, const std::vector<std::string>& command,
                          const std::vector<std::string>& options) {
  std::vector<std::string> args = {"run", "--rm"};
  args.insert(args.end(), options.begin(), options.end());
  args.push_back(image);
  args.insert(args.end(), command.begin(), command.end());
  return roost(args);
}

fs::path RoostTest::scratch(const std::string& name) const {
  return dir_ / "scratch" / name;
}

std::string RoostTest::load_busybox() {
  require_success(load_file(fixtures::busybox_docker_archive()), "load the busybox image");
  return fixtures::kBusyboxName;
}

std::string RoostTest::load(const ImageSpec& spec, DockerLayout layout) {
  static int archives_written = 0;
  fs::path archive = scratch("image-" + std::to_string(++archives_written) + ".tar");
  write_docker_archive(archive, spec, layout);
  require_success(load_file(archive), "load " + spec.name);
  return spec.name;
}

Outcome RoostTest::load_file(const fs::path& archive) {
  return roost({"load", "-i", archive.string()});
}

std::vector<std::string> RoostTest::image_ids() {
  Outcome listed = require_success(roost({"images", "-q"}), "list images");
  std::vector<std::string> ids;
  std::istringstream words(listed.out);
  for (std::string id; words >> id;) ids.push_back(id);
  return ids;
}

std::filesystem::path RoostTest::roost_root() const {
  return roost_->root();
}

std::set<std::string> RoostTest::layer_dirs() const {
  std::set<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(roost_->root() / "layers", error), end; !error && it != end;
       it.increment(error))
    if (it->is_directory(error)) names.insert(it->path().filename().string());
  return names;
}

ImageSpec busybox_plus(const std::vector<std::vector<TarEntry>>& layers,
                       const nlohmann::json& config) {
  ImageSpec spec;
  spec.layers.push_back(fixtures::busybox_layer());
  for (const auto& entries : layers) spec.layers.push_back(make_tar(entries));
  spec.config = config.is_null() ? nlohmann::json{{"Cmd", {"/bin/sh"}},
                                                  {"Env", {std::string("PATH=") + kDefaultPath}}}
                                 : config;
  return spec;
}

Outcome require_success(Outcome outcome, const std::string& what) {
  if (outcome.exit_code != 0) throw std::runtime_error(what + " failed: " + outcome.describe());
  return outcome;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

std::string root_filesystem_type(const std::string& mountinfo) {
  std::string type;
  for (const auto& line : lines_of(mountinfo)) {
    std::istringstream fields(line);
    std::string id, parent, device, root, mount_point;
    fields >> id >> parent >> device >> root >> mount_point;
    auto dash = line.find(" - ");
    if (mount_point == "/" && dash != std::string::npos)
      type = line.substr(dash + 3, line.find(' ', dash + 3) - dash - 3);
  }
  return type;
}

}  // namespace rootless
