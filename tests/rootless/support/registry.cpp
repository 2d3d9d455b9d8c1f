#include "tests/rootless/support/registry.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "tests/rootless/support/image_builder.hpp"

namespace rootless {

namespace fs = std::filesystem;

namespace {

const char* const kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

bool accepts_connections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(port);
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

Outcome tool(const fs::path& dir, const std::vector<std::string>& argv) {
  Spawn spawn(argv, {kPath, "HOME=" + dir.string(), "TMPDIR=" + dir.string()});
  spawn.cwd = dir.string();
  spawn.timeout = Seconds(120);
  return run(spawn);
}

Outcome required(Outcome outcome, const std::string& what) {
  if (outcome.exit_code != 0)
    throw std::runtime_error("registry fixture: " + what + " failed\n" + outcome.describe());
  return outcome;
}

std::string config_text(const fs::path& dir, const std::string& host,
                        const LocalRegistry::Options& options) {
  std::string config =
      "version: 0.1\n"
      "log:\n  level: error\n  accesslog:\n    disabled: true\n"
      "storage:\n  filesystem:\n    rootdirectory: " +
      (dir / "storage").string() +
      "\n  delete:\n    enabled: true\n"
      "http:\n  addr: " +
      host + "\n";
  if (!options.user.empty())
    config +=
        "auth:\n  htpasswd:\n    realm: roost-tests\n    path: " + (dir / "htpasswd").string() +
        "\n";
  return config + options.extra_config;
}

}  // namespace

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

LocalRegistry::LocalRegistry(const fs::path& dir, const Options& options)
    : dir_(dir), options_(options) {
  fs::create_directories(dir_);
  int port = free_loopback_port();
  host_ = "127.0.0.1:" + std::to_string(port);
  if (!options_.user.empty()) {
    Outcome hashed =
        required(tool(dir_, {"htpasswd", "-Bbn", options_.user, options_.password}), "htpasswd -B");
    write_file(dir_ / "htpasswd", hashed.out);
  }
  write_file(dir_ / "config.yml", config_text(dir_, host_, options_));
  Spawn spawn({"docker-registry", "serve", (dir_ / "config.yml").string()},
              {kPath, "HOME=" + dir_.string()});
  spawn.cwd = dir_.string();
  process_ = std::make_unique<Background>(spawn);
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (accepts_connections(port)) return;
    std::this_thread::sleep_for(Millis(50));
  }
  Outcome ended = process_->finish(Millis(1000));
  throw std::runtime_error("docker-registry did not listen on " + host_ + "\n" + ended.describe());
}

LocalRegistry::~LocalRegistry() = default;

void LocalRegistry::push(const std::string& source, const std::string& name,
                         const std::vector<std::string>& options) const {
  std::vector<std::string> argv = {"skopeo", "--insecure-policy", "copy", "--quiet",
                                   "--dest-tls-verify=false"};
  if (!options_.user.empty())
    argv.push_back("--dest-creds=" + options_.user + ":" + options_.password);
  argv.insert(argv.end(), options.begin(), options.end());
  argv.push_back(source);
  argv.push_back(reference(name));
  required(tool(dir_, argv), "skopeo copy " + source + " to " + reference(name));
}

std::string LocalRegistry::raw_manifest(const std::string& name) const {
  std::vector<std::string> argv = {"skopeo", "inspect", "--tls-verify=false", "--raw"};
  if (!options_.user.empty()) argv.push_back("--creds=" + options_.user + ":" + options_.password);
  argv.push_back(reference(name));
  return required(tool(dir_, argv), "skopeo inspect --raw " + reference(name)).out;
}

std::string LocalRegistry::digest_of(const std::string& name) const {
  std::vector<std::string> argv = {"skopeo", "inspect", "--tls-verify=false", "--format",
                                   "{{.Digest}}"};
  if (!options_.user.empty()) argv.push_back("--creds=" + options_.user + ":" + options_.password);
  argv.push_back(reference(name));
  std::string digest = required(tool(dir_, argv), "skopeo inspect " + reference(name)).out;
  while (!digest.empty() && digest.back() == '\n') digest.pop_back();
  return digest;
}

fs::path LocalRegistry::blob_file(const std::string& digest) const {
  std::string hex = digest.substr(digest.find(':') + 1);
  return dir_ / "storage/docker/registry/v2/blobs/sha256" / hex.substr(0, 2) / hex / "data";
}

std::vector<std::string> layout_layer_digests(const fs::path& layout) {
  using nlohmann::json;
  json index = json::parse(read_file(layout / "index.json"));
  std::string manifest_digest = index["manifests"][0]["digest"];
  json manifest = json::parse(read_file(layout / "blobs/sha256" / manifest_digest.substr(7)));
  std::vector<std::string> digests;
  for (const auto& layer : manifest["layers"]) digests.push_back(layer["digest"]);
  return digests;
}

}  // namespace rootless
