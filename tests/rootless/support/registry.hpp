#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/rootless/support/process.hpp"

namespace rootless {

// Debian's docker-registry (the distribution registry 2.x) serving 127.0.0.1 on a free
// port, with its config and storage under `dir`. It runs as the test's own user and is
// killed and reaped, by its pid, when this goes.
class LocalRegistry {
 public:
  struct Options {
    // When set, the registry asks for HTTP basic auth with this user and password
    // (bcrypt, through an htpasswd file made with htpasswd -B).
    std::string user;
    std::string password;
    // Extra top-level YAML for the config (an auth: section, say).
    std::string extra_config;
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

// A port on 127.0.0.1 that nothing listens on right now.
int free_loopback_port();

// Layer digests (sha256:HEX) of the one image of an OCI layout directory.
std::vector<std::string> layout_layer_digests(const std::filesystem::path& layout);

}  // namespace rootless
