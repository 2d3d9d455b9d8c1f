#include "tests/rootless/support/registry.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

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
  if (options.tls)
    config += "  tls:\n    certificate: " + (dir / "registry.crt").string() +
              "\n    key: " + (dir / "registry.key").string() + "\n";
  config += options.extra_config;
  if (!options.auth_config.empty()) return config + options.auth_config;
  if (!options.user.empty())
    config +=
        "auth:\n  htpasswd:\n    realm: roost-tests\n    path: " + (dir / "htpasswd").string() +
        "\n";
  return config;
}

std::string base64(std::string_view data, bool url) {
  const char* alphabet = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                             : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t n = (uint8_t(data[i]) << 16) | (uint8_t(data[i + 1]) << 8) | uint8_t(data[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += alphabet[(n >> shift) & 63];
  }
  size_t rest = data.size() - i;
  if (rest > 0) {
    uint32_t n = uint8_t(data[i]) << 16;
    if (rest == 2) n |= uint8_t(data[i + 1]) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (rest == 2) out += alphabet[(n >> 6) & 63];
    if (!url) out += rest == 2 ? "=" : "==";
  }
  return out;
}

constexpr size_t kSmallBlob = 64 << 10;

constexpr const char* kTokenService = "roost-test-registry";
constexpr const char* kTokenIssuer = "roost-test-token-service";

// An RS256 JWT granting pull and push on `repository` for an hour, its certificate in x5c.
std::string signed_token(const fs::path& dir, const std::string& repository) {
  fs::create_directories(dir);
  required(
      tool(dir, {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "token.key",
                 "-out", "token.crt", "-days", "1", "-subj", "/CN=roost-test-token-service"}),
      "openssl req");
  std::string der = required(tool(dir, {"openssl", "x509", "-in", "token.crt", "-outform", "DER"}),
                             "openssl x509")
                        .out;
  using nlohmann::json;
  long now = static_cast<long>(::time(nullptr));
  json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5c", {base64(der, false)}}};
  json claims = {
      {"iss", kTokenIssuer},
      {"sub", "puller"},
      {"aud", kTokenService},
      {"exp", now + 3600},
      {"nbf", now - 60},
      {"iat", now - 60},
      {"jti", "roost-test-token"},
      {"access", {{{"type", "repository"}, {"name", repository}, {"actions", {"pull", "push"}}}}}};
  std::string signing_input = base64(header.dump(), true) + "." + base64(claims.dump(), true);
  Spawn sign({"openssl", "dgst", "-sha256", "-sign", "token.key", "-binary"},
             {kPath, "HOME=" + dir.string()});
  sign.cwd = dir.string();
  sign.input = signing_input;
  std::string signature = required(run(sign), "openssl dgst -sign").out;
  return signing_input + "." + base64(signature, true);
}

std::string http_response(const std::string& status, const std::string& body) {
  return "HTTP/1.1 " + status +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

LoopbackServer::LoopbackServer(Respond respond) : respond_(std::move(respond)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) < 0 ||
      ::listen(listen_fd_, 16) < 0)
    throw std::runtime_error("loopback server: cannot listen on 127.0.0.1");
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

LoopbackServer::~LoopbackServer() {
  ::shutdown(listen_fd_, SHUT_RDWR);
  thread_.join();
  ::close(listen_fd_);
}

constexpr char kTlsHandshake = 0x16;

void LoopbackServer::serve() {
  for (;;) {
    int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;
    std::string request;
    char buffer[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(client, buffer, sizeof buffer);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
      // A TLS handshake gets what a plain http server gives it: a closed connection.
      if (request.front() == kTlsHandshake) break;
    }
    if (!request.empty() && request.front() != kTlsHandshake) respond_(request, client);
    ::close(client);
  }
}

TokenService::TokenService(const fs::path& dir, const std::string& repository,
                           const std::string& user, const std::string& password, bool anonymous)
    : dir_(dir),
      token_(signed_token(dir_, repository)),
      expected_authorization_("Authorization: Basic " + base64(user + ":" + password, false)),
      anonymous_(anonymous),
      server_([this](const std::string& request, int client) { respond(request, client); }) {}

std::string TokenService::registry_config() const {
  return "auth:\n  token:\n    realm: http://127.0.0.1:" + std::to_string(server_.port()) +
         "/token\n    service: " + kTokenService + "\n    issuer: " + kTokenIssuer +
         "\n    rootcertbundle: " + (dir_ / "token.crt").string() + "\n";
}

void TokenService::respond(const std::string& request, int client) {
  bool authorized = false;
  std::istringstream lines(request);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == expected_authorization_) authorized = true;
  }
  if (!authorized && !anonymous_) {
    send_all(client, http_response("401 Unauthorized", R"({"errors":[]})"));
    return;
  }
  ++tokens_given_;
  send_all(client, http_response("200 OK", nlohmann::json{{"token", token_}}.dump()));
}

BlobStorage::BlobStorage(fs::path storage, bool stall_first_download)
    : storage_(std::move(storage)),
      stall_(stall_first_download),
      server_([this](const std::string& request, int client) { respond(request, client); }) {}

BlobStorage::~BlobStorage() {
  release();
}

std::string BlobStorage::registry_config() const {
  return "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: "
         "http://127.0.0.1:" +
         std::to_string(server_.port()) + "/\n";
}

void BlobStorage::release() {
  std::lock_guard lock(mutex_);
  released_ = true;
  released_changed_.notify_all();
}

std::vector<std::string> BlobStorage::paths_served() {
  std::lock_guard lock(mutex_);
  return served_;
}

void BlobStorage::respond(const std::string& request, int client) {
  std::istringstream head(request);
  std::string method, path;
  head >> method >> path;
  fs::path file = storage_ / path.substr(path.find_first_not_of('/'));
  if (path.find("..") != std::string::npos || !fs::is_regular_file(file)) {
    send_all(client, http_response("404 Not Found", "{}"));
    return;
  }
  std::string data = read_file(file);
  std::string header =
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: " +
      std::to_string(data.size()) + "\r\nConnection: close\r\n\r\n";
  if (method == "HEAD") {
    send_all(client, header);
    return;
  }
  std::unique_lock lock(mutex_);
  served_.push_back(path);
  // Configs are small; the layer is what a stalled download interrupts.
  bool stall = stall_ && data.size() > kSmallBlob;
  if (stall) stall_ = false;
  lock.unlock();
  if (!stall) {
    send_all(client, header + data);
    return;
  }
  send_all(client, header + data.substr(0, data.size() / 2));
  lock.lock();
  released_changed_.wait(lock, [this] { return released_; });
}

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
  if (!options_.user.empty() && options_.auth_config.empty()) {
    Outcome hashed =
        required(tool(dir_, {"htpasswd", "-Bbn", options_.user, options_.password}), "htpasswd -B");
    write_file(dir_ / "htpasswd", hashed.out);
  }
  if (options_.tls)
    required(tool(dir_, {"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                         "registry.key", "-out", "registry.crt", "-days", "1", "-subj",
                         "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"}),
             "openssl req for the registry's certificate");
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
