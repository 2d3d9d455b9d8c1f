#include "tests/rootless/support/fixtures.hpp"

#include <sys/stat.h>

#include <stdexcept>

#include "tests/rootless/support/image_builder.hpp"
#include "tests/rootless/support/process.hpp"
#include "tests/rootless/support/roost.hpp"
#include "tests/rootless/support/tarball.hpp"

namespace rootless::fixtures {

namespace fs = std::filesystem;

namespace {

const char* const kPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fs::path fixtures_dir() {
  return run_dir() / "fixtures";
}

void tool(std::vector<std::string> argv) {
  std::string home = (fixtures_dir() / "home").string();
  fs::create_directories(home);
  Spawn spawn(argv, {std::string("PATH=") + kPath, "HOME=" + home, "TMPDIR=" + home});
  spawn.cwd = fixtures_dir().string();
  spawn.timeout = Seconds(300);
  Outcome outcome = run(spawn);
  if (outcome.exit_code != 0) {
    std::string command;
    for (const auto& word : argv) command += word + " ";
    throw std::runtime_error("fixture tool failed: " + command + "\n" + outcome.describe());
  }
}

// Writes the entries into `root` as the files they describe.
void materialize(const std::vector<TarEntry>& entries, const fs::path& root) {
  for (const auto& entry : entries) {
    fs::path target = root / entry.path;
    if (entry.type == TarEntry::Type::Directory) {
      fs::create_directories(target);
    } else if (entry.type == TarEntry::Type::Symlink) {
      if (!fs::exists(fs::symlink_status(target))) fs::create_symlink(entry.content, target);
    } else {
      write_file(target, entry.content);
    }
    if (entry.type != TarEntry::Type::Symlink) ::chmod(target.c_str(), entry.mode & 07777);
  }
}

fs::path build_busybox_layout() {
  fs::path dir = fixtures_dir();
  fs::create_directories(dir);
  std::string image = (dir / "umoci").string() + ":1";
  tool({"umoci", "init", "--layout", (dir / "umoci").string()});
  tool({"umoci", "new", "--image", image});
  tool({"umoci", "unpack", "--rootless", "--image", image, (dir / "bundle").string()});
  materialize(busybox_rootfs(true), dir / "bundle/rootfs");
  tool({"umoci", "repack", "--image", image, (dir / "bundle").string()});
  tool({"umoci", "config", "--image", image, "--config.cmd", "/bin/sh", "--config.env",
        std::string("PATH=") + kPath, "--author", "roost rootless tests"});
  return dir / "umoci";
}

void skopeo_copy(const std::string& destination, std::vector<std::string> options = {}) {
  std::vector<std::string> argv = {"skopeo", "--insecure-policy", "copy", "--quiet"};
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back("oci:" + busybox_layout().string() + ":1");
  argv.push_back(destination);
  tool(argv);
}

}  // namespace

const fs::path& busybox_layout() {
  static const fs::path layout = build_busybox_layout();
  return layout;
}

const fs::path& busybox_docker_archive() {
  static const fs::path archive = [] {
    fs::path file = fixtures_dir() / "busybox-docker.tar";
    skopeo_copy("docker-archive:" + file.string() + ":" + kBusyboxName);
    return file;
  }();
  return archive;
}

const fs::path& busybox_oci_archive() {
  static const fs::path archive = [] {
    fs::path file = fixtures_dir() / "busybox-oci.tar";
    skopeo_copy("oci-archive:" + file.string() + ":" + kBusyboxName);
    return file;
  }();
  return archive;
}

const fs::path& busybox_zstd_layout() {
  static const fs::path layout = [] {
    fs::path dir = fixtures_dir() / "zstd";
    skopeo_copy("oci:" + dir.string() + ":1", {"--dest-compress-format", "zstd"});
    return dir;
  }();
  return layout;
}

const std::string& busybox_layer(bool with_passwd) {
  static const std::string with = make_tar(busybox_rootfs(true));
  static const std::string without = make_tar(busybox_rootfs(false));
  return with_passwd ? with : without;
}

}  // namespace rootless::fixtures
