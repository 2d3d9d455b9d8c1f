#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/rootless/support/process.hpp"

namespace rootless {

// Debian's docker-registry (the distribution registry 2.x) serving 127.0.0.1 on a free
// port, with its config and storage under `dir`. It runs as the test's own user and is
// killed and reaped, by its pid, when this goes.
class LocalRegistry {
 public:
  struct Options {
    // Credentials the registry asks for; skopeo pushes and inspects with them.
    std::string user;
    std::string password;
    // The config's auth: section; when empty and a user is set, HTTP basic auth through
    // an htpasswd file made with htpasswd -B (bcrypt).
    std::string auth_config;
    // More top-level YAML (a middleware: section).
    std::string extra_config;
    // Serve https only, with a self-signed certificate for 127.0.0.1 made by openssl.
    bool tls = false;
  };

  explicit LocalRegistry(const std::filesystem::path& dir) : LocalRegistry(dir, Options()) {}
  LocalRegistry(const std::filesystem::path& dir, const Options& options);
  ~LocalRegistry();
  LocalRegistry(const LocalRegistry&) = delete;
  LocalRegistry& operator=(const LocalRegistry&) = delete;

  // 127.0.0.1:PORT
  const std::string& host() const { return host_; }
  // docker://127.0.0.1:PORT/NAME
  std::string reference(const std::string& name) const { return "docker://" + host_ + "/" + name; }

  // skopeo copy SOURCE to docker://HOST/NAME (plain http), with `options` before the
  // arguments (--format v2s2, --all, --dest-compress-format zstd...). Throws on failure.
  void push(const std::string& source, const std::string& name,
            const std::vector<std::string>& options = {}) const;
  // The manifest digest skopeo inspect reports for NAME.
  std::string digest_of(const std::string& name) const;
  // The manifest the registry serves for NAME, as it serves it.
  std::string raw_manifest(const std::string& name) const;
  // The file the registry serves blob `digest` (sha256:HEX) from.
  std::filesystem::path blob_file(const std::string& digest) const;

 private:
  std::filesystem::path dir_;
  std::string host_;
  Options options_;
  std::unique_ptr<Background> process_;
};

// An HTTP/1.1 server on 127.0.0.1 in a thread of the test: one connection at a time, its
// request head handed to `respond` with the client's socket, which is closed afterwards.
class LoopbackServer {
 public:
  using Respond = std::function<void(const std::string& request, int client)>;
  explicit LoopbackServer(Respond respond);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  int port() const { return port_; }

 private:
  void serve();

  Respond respond_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// The token service of the distribution spec: it hands out one RS256 JWT signed by a
// self-signed certificate (made with openssl) that grants pull and push on `repository`,
// to a client showing basic credentials user:password, or to anyone when `anonymous`.
// A registry trusts it through registry_config().
class TokenService {
 public:
  TokenService(const std::filesystem::path& dir, const std::string& repository,
               const std::string& user, const std::string& password, bool anonymous);

  // The auth: section for LocalRegistry::Options::auth_config.
  std::string registry_config() const;
  // Token requests answered so far.
  int tokens_given() const { return tokens_given_; }

 private:
  void respond(const std::string& request, int client);

  std::filesystem::path dir_;
  std::string token_;
  std::string expected_authorization_;
  bool anonymous_;
  std::atomic<int> tokens_given_{0};
  LoopbackServer server_;
};

// Where the registry's redirect middleware sends blob downloads, as registries send them
// to cloud storage: the registry's storage directory served over http. When
// `stall_first_download`, the first download of a blob bigger than 64 KiB (a layer, not a
// config) gets half of the blob and then nothing more until release().
class BlobStorage {
 public:
  BlobStorage(std::filesystem::path storage, bool stall_first_download);
  ~BlobStorage();
  BlobStorage(const BlobStorage&) = delete;
  BlobStorage& operator=(const BlobStorage&) = delete;

  // The middleware: section for LocalRegistry::Options::extra_config.
  std::string registry_config() const;
  void release();
  // The paths of the GET requests answered so far.
  std::vector<std::string> paths_served();

 private:
  void respond(const std::string& request, int client);

  std::filesystem::path storage_;
  std::mutex mutex_;
  std::condition_variable released_changed_;
  bool stall_ = false;
  bool released_ = false;
  std::vector<std::string> served_;
  LoopbackServer server_;
};

// A port on 127.0.0.1 that nothing listens on right now.
int free_loopback_port();

// Layer digests (sha256:HEX) of the one image of an OCI layout directory.
std::vector<std::string> layout_layer_digests(const std::filesystem::path& layout);

}  // namespace rootless
