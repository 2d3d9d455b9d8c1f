#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "image/http.hpp"
#include "image/reference.hpp"

namespace roost::image {

struct RegistryOptions {
  std::string credentials;  // USER:PASS for basic auth and token requests; empty: anonymous
  // false: https without certificate checks, then plain http where the host speaks no TLS.
  // Unset: true, except for loopback hosts, which are treated as false.
  std::optional<bool> tls_verify;
};

// Where a reference points in a registry (distribution spec v2).
struct RegistryLocation {
  std::string host;        // HOST[:PORT]
  std::string repository;  // the name below the host
  std::string reference;   // the digest when one was written, else the tag ("latest" if none)
};

// docker://HOST[:PORT]/REPO[:TAG|@DIGEST], or a name of the store transport whose first
// component is a registry host. roost has no default registry: a name without a host is
// refused with a UsageError that says so; `text` is what the user wrote.
RegistryLocation registry_location(const Reference& reference, std::string_view text);

// Whether the reference names a registry host: docker://HOST/..., or a store name such as
// 127.0.0.1:5000/busybox:1 whose first component has a dot or a port (bare localhost/NAME
// is how the store names images made or loaded here).
bool names_registry(const Reference& reference);

// Whether `host` (HOST[:PORT], [IPV6][:PORT]) is this machine: localhost in any case,
// 127.0.0.0/8 or [::1]. Unless --tls-verify says otherwise, as docker does, its
// certificate is not checked, and plain http is used where it speaks no TLS.
bool is_loopback_host(std::string_view host);

struct RegistryLayer {
  std::string digest;
  std::string media_type;
  uint64_t size = 0;
};

// What an image's manifest lists, for this host's platform when the reference names an
// index.
struct RegistryImage {
  std::string index_digest;  // of the index the reference named; empty when it named a manifest
  std::string manifest_digest;
  std::string config_digest;
  uint64_t config_size = 0;
  std::vector<RegistryLayer> layers;
};

// A client for one repository of one registry: anonymous, basic auth, or bearer tokens
// from the realm a 401 challenge names. Every error is one line that starts with
// "pull TEXT:", TEXT being the reference as the user wrote it.
class RegistryClient {
 public:
  RegistryClient(RegistryLocation location, RegistryOptions options, std::string text);

  // Fetches the manifest (verified when the reference is a digest) and, for an index,
  // the manifest for linux on this host's architecture.
  RegistryImage resolve();

  // Streams the blob into `destination`, verifying its sha256 as it arrives and stopping
  // at the first byte past the `size` its manifest gives; the file appears only once
  // verified, and nothing is kept on any failure.
  void fetch_blob(const std::string& digest, uint64_t size,
                  const std::filesystem::path& destination);

 private:
  struct Manifest;
  Manifest fetch_manifest(const std::string& reference);
  std::string platform_manifest(const Manifest& index) const;
  RegistryImage image_of(const Manifest& manifest) const;
  void check_blob_digest(const Manifest& manifest, const std::string& digest) const;
  // `request.url` is a path on the registry; the scheme and host are added here.
  HttpResponse send(HttpRequest request);
  HttpResponse send_authenticated(const HttpRequest& request);
  void authenticate(const std::string& challenge);
  void request_token(const std::string& challenge);
  std::string path(std::string_view kind, std::string_view reference) const;
  [[noreturn]] void fail(std::string_view problem) const;
  [[noreturn]] void fail_credentials() const;

  RegistryLocation location_;
  RegistryOptions options_;
  std::string text_;
  bool insecure_;  // no certificate checks, and plain http if the host speaks no TLS
  std::string scheme_ = "https";
  std::string bearer_token_;
  bool send_basic_ = false;
  HttpClient http_;
};

}  // namespace roost::image
