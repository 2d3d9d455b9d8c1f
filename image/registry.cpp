#include "image/registry.hpp"

#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "image/config.hpp"
#include "image/digest.hpp"

namespace roost::image {

namespace {

using nlohmann::json;

constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr std::string_view kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr std::string_view kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

// As podman's limit: a manifest or index is a small JSON document.
constexpr size_t kMaxManifestBytes = 4 << 20;

constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";

// Layer forms that unpacking reads (tar, gzip or zstd, told apart by their content).
constexpr std::array<std::string_view, 5> kLayerTypes = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
};

std::string accept_header() {
  return fmt::format("Accept: {}, {}, {}, {}", kOciIndex, kOciManifest, kDockerList,
                     kDockerManifest);
}

std::string_view first_component(std::string_view name) {
  return name.substr(0, name.find('/'));
}

bool is_registry_host(std::string_view component) {
  return component.find_first_of(".:") != std::string_view::npos || component == "localhost";
}

bool is_index_type(std::string_view type) {
  return type == kOciIndex || type == kDockerList;
}

bool is_manifest_type(std::string_view type) {
  return type == kOciManifest || type == kDockerManifest;
}

std::string string_at(const json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// The type a registry declares, else the one the document names, else what its shape
// says; "application/json" is what some registries send for everything.
std::string manifest_type(const std::string& content_type, const json& document) {
  std::string declared = content_type.substr(0, content_type.find(';'));
  if (!declared.empty() && declared != "application/json" && declared != "text/plain")
    return declared;
  std::string named = string_at(document, "mediaType");
  if (!named.empty()) return named;
  if (document.is_object() && document.contains("manifests")) return std::string(kOciIndex);
  if (document.is_object() && document.contains("config")) return std::string(kOciManifest);
  return declared.empty() ? "unknown" : declared;
}

std::string percent_encoded(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

// The parameters of a WWW-Authenticate challenge: Bearer realm="...",service="...".
std::map<std::string, std::string> challenge_parameters(std::string_view challenge) {
  std::map<std::string, std::string> parameters;
  size_t at = challenge.find(' ');
  while (at != std::string_view::npos && at < challenge.size()) {
    while (at < challenge.size() && (challenge[at] == ' ' || challenge[at] == ',')) ++at;
    size_t equals = challenge.find('=', at);
    if (equals == std::string_view::npos) break;
    std::string key(challenge.substr(at, equals - at));
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value;
    at = equals + 1;
    if (at < challenge.size() && challenge[at] == '"') {
      size_t close = challenge.find('"', at + 1);
      value = challenge.substr(at + 1, close - at - 1);
      at = close == std::string_view::npos ? close : close + 1;
    } else {
      size_t comma = challenge.find(',', at);
      value = challenge.substr(at, comma - at);
      at = comma;
    }
    parameters[key] = value;
  }
  return parameters;
}

std::string challenge_scheme(std::string_view challenge) {
  std::string scheme(challenge.substr(0, challenge.find(' ')));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return scheme;
}

// The first line of an error body, short enough for a message.
std::string body_excerpt(const std::string& body) {
  std::string line = body.substr(0, body.find('\n'));
  json document = json::parse(body, nullptr, false);
  if (document.is_object() && document.contains("errors") && document["errors"].is_array() &&
      !document["errors"].empty())
    line = string_at(document["errors"][0], "message");
  if (line.size() > 200) line = line.substr(0, 200) + "...";
  return line;
}

std::string_view reason_phrase(long status) {
  static const std::map<long, std::string_view> phrases = {{300, "Multiple Choices"},
                                                           {301, "Moved Permanently"},
                                                           {302, "Found"},
                                                           {303, "See Other"},
                                                           {304, "Not Modified"},
                                                           {307, "Temporary Redirect"},
                                                           {308, "Permanent Redirect"},
                                                           {400, "Bad Request"},
                                                           {403, "Forbidden"},
                                                           {405, "Method Not Allowed"},
                                                           {406, "Not Acceptable"},
                                                           {429, "Too Many Requests"},
                                                           {500, "Internal Server Error"},
                                                           {502, "Bad Gateway"},
                                                           {503, "Service Unavailable"},
                                                           {504, "Gateway Timeout"}};
  auto it = phrases.find(status);
  return it == phrases.end() ? "" : it->second;
}

// "302 (Found), a redirect without a Location to follow" or "500 (...): what the body says".
std::string answer(const HttpResponse& response) {
  std::string_view phrase = reason_phrase(response.status);
  std::string status = phrase.empty() ? std::to_string(response.status)
                                      : fmt::format("{} ({})", response.status, phrase);
  if (response.status >= 300 && response.status < 400)
    return status + ", a redirect without a Location to follow";
  std::string excerpt = body_excerpt(response.body);
  return excerpt.empty() ? status + " and an empty body" : status + ": " + excerpt;
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(fmt::format("write {}", path));
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// A file written under a temporary name that becomes `destination` only when kept.
class PartialFile {
 public:
  explicit PartialFile(std::filesystem::path destination)
      : destination_(std::move(destination)), partial_(destination_.string() + ".partial") {
    fd_.reset(::open(partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd_) throw_errno(fmt::format("create {}", partial_.string()));
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;
  ~PartialFile() {
    if (!kept_) ::unlink(partial_.c_str());
  }
  void write(std::string_view data) { write_all(fd_.get(), data, partial_.string()); }
  void keep() {
    if (::rename(partial_.c_str(), destination_.c_str()) < 0)
      throw_errno(fmt::format("rename {} to {}", partial_.string(), destination_.string()));
    kept_ = true;
  }

 private:
  std::filesystem::path destination_;
  std::filesystem::path partial_;
  UniqueFd fd_;
  bool kept_ = false;
};

// The path and query of an http or https URL.
std::string_view url_path(std::string_view url) {
  size_t start = url.find("://");
  if (start == std::string_view::npos) return url;
  url.remove_prefix(start + 3);
  size_t path = url.find_first_of("/?");
  return path == std::string_view::npos ? "/" : url.substr(path);
}

// HOST[:PORT] of an http or https URL.
std::string_view url_host(std::string_view url) {
  size_t start = url.find("://");
  if (start == std::string_view::npos) return "";
  url.remove_prefix(start + 3);
  return url.substr(0, url.find_first_of("/?"));
}

}  // namespace

struct RegistryClient::Manifest {
  std::string type;
  std::string digest;
  json document;
};

bool is_loopback_host(std::string_view host) {
  if (host.starts_with("[")) return host == "[::1]" || host.starts_with("[::1]:");
  std::string_view name = host.substr(0, host.find(':'));
  bool dotted_digits =
      std::all_of(name.begin(), name.end(), [](char c) { return std::isdigit(c) || c == '.'; });
  return ::strcasecmp(std::string(name).c_str(), "localhost") == 0 ||
         (name.starts_with("127.") && dotted_digits);
}

bool names_registry(const Reference& reference) {
  if (reference.transport != Transport::Docker && reference.transport != Transport::Store)
    return false;
  if (reference.name.find('/') == std::string::npos) return false;
  std::string_view host = first_component(reference.name);
  // Bare localhost/NAME is how the store names images made or loaded here.
  if (reference.transport == Transport::Store) return host.find_first_of(".:") != host.npos;
  return is_registry_host(host);
}

RegistryLocation registry_location(const Reference& reference, std::string_view text) {
  bool bare = reference.transport == Transport::Store;
  if (reference.transport != Transport::Docker && !bare)
    throw UsageError(fmt::format(
        "pull {}: not a registry reference; name one as docker://HOST[:PORT]/NAME[:TAG]", text));
  if (!names_registry(reference))
    throw UsageError(fmt::format(
        "pull {}: the name has no registry host, and roost has no default registry; name one, "
        "e.g. docker://127.0.0.1:5000/{}",
        text, reference.name + (reference.tag.empty() ? "" : ":" + reference.tag)));
  RegistryLocation location;
  location.host = first_component(reference.name);
  location.repository = reference.name.substr(location.host.size() + 1);
  location.reference = !reference.digest.empty() ? reference.digest
                       : reference.tag.empty()   ? "latest"
                                                 : reference.tag;
  return location;
}

RegistryClient::RegistryClient(RegistryLocation location, RegistryOptions options, std::string text)
    : location_(std::move(location)),
      options_(std::move(options)),
      text_(std::move(text)),
      insecure_(!options_.tls_verify.value_or(!is_loopback_host(location_.host))) {}

void RegistryClient::fail(std::string_view problem) const {
  throw Error(fmt::format("pull {}: {}", text_, problem));
}

void RegistryClient::fail_credentials() const {
  if (options_.credentials.empty())
    fail(fmt::format("the registry {} requires credentials; give them with --creds USER:PASS",
                     location_.host));
  fail(
      fmt::format("the registry {} refused the credentials given with --creds; check the user "
                  "name and password",
                  location_.host));
}

std::string RegistryClient::path(std::string_view kind, std::string_view reference) const {
  return fmt::format("/v2/{}/{}/{}", location_.repository, kind, reference);
}

// As docker does for insecure registries (and 127.0.0.0/8 is one by default): https
// without certificate checks first, then plain http when the host speaks no TLS. Any
// other host must show a valid certificate.
HttpResponse RegistryClient::send(HttpRequest request) {
  request.url = fmt::format("{}://{}{}", scheme_, location_.host, request.url);
  request.verify_tls = !insecure_;
  if (send_basic_) request.basic_credentials = options_.credentials;
  if (!bearer_token_.empty()) request.headers.push_back("Authorization: Bearer " + bearer_token_);
  HttpResponse response = http_.get(request);
  if (response.tls_failed && insecure_ && scheme_ == "https") {
    spdlog::debug("{} speaks no TLS ({}); using plain http", location_.host, response.failure);
    scheme_ = "http";
    request.url.replace(0, 5, "http");
    response = http_.get(request);
  }
  if (response.body_too_long)
    fail(
        fmt::format("the registry {} answered {} with more than {} bytes, the most roost reads "
                    "there; it is no registry roost can pull from",
                    location_.host, url_path(request.url), request.max_kept_body));
  if (response.too_many_redirects)
    fail(fmt::format("the registry {} redirected {} more than {} times, in a loop most likely",
                     location_.host, url_path(request.url), kMaxHttpRedirects));
  if (!response.failure.empty()) {
    std::string hint = response.tls_failed && !insecure_
                           ? "; for a registry without a valid certificate use --tls-verify=false"
                           : "; check that it runs and that the host and port are right";
    fail(fmt::format("cannot reach the registry {}: {}{}", location_.host, response.failure, hint));
  }
  return response;
}

HttpResponse RegistryClient::send_authenticated(const HttpRequest& request) {
  HttpResponse response = send(request);
  if (response.status != 401) return response;
  authenticate(response.www_authenticate);
  response = send(request);
  if (response.status == 401) fail_credentials();
  return response;
}

void RegistryClient::authenticate(const std::string& challenge) {
  std::string scheme = challenge_scheme(challenge);
  // A token expires: a new challenge gets a new one.
  if (scheme == "bearer") return request_token(challenge);
  if (options_.credentials.empty()) fail_credentials();
  if (scheme != "basic")
    fail(
        fmt::format("the registry {} asks for {} authentication; roost speaks Basic and "
                    "Bearer",
                    location_.host, challenge.empty() ? "an unnamed" : scheme));
  send_basic_ = true;
}

// The token flow of the distribution spec: the realm gives a token for the service and
// scope, to a client that shows the credentials it has, or to anyone for public images.
void RegistryClient::request_token(const std::string& challenge) {
  auto parameters = challenge_parameters(challenge);
  std::string realm = parameters["realm"];
  if (realm.empty())
    fail(fmt::format("the registry {} asks for a token but names no realm to get it from",
                     location_.host));
  std::string scope = parameters.contains("scope")
                          ? parameters["scope"]
                          : fmt::format("repository:{}:pull", location_.repository);
  HttpRequest request;
  request.url = fmt::format("{}{}scope={}", realm, realm.find('?') == std::string::npos ? "?" : "&",
                            percent_encoded(scope));
  if (parameters.contains("service"))
    request.url += "&service=" + percent_encoded(parameters["service"]);
  request.basic_credentials = options_.credentials;
  request.verify_tls = options_.tls_verify.value_or(!is_loopback_host(url_host(realm)));
  request.follow_redirects = true;
  HttpResponse response = http_.get(request);
  if (!response.failure.empty())
    fail(fmt::format("cannot get a token from {}: {}", realm, response.failure));
  if (response.status == 401 || response.status == 403)
    fail(options_.credentials.empty()
             ? fmt::format("the registry {} requires credentials; give them with --creds "
                           "USER:PASS",
                           location_.host)
             : fmt::format("the token service {} refused the credentials given with --creds; "
                           "check the user name and password",
                           realm));
  if (response.status != 200)
    fail(fmt::format("the token service {} answered {}", realm, answer(response)));
  json document = json::parse(response.body, nullptr, false);
  bearer_token_ = string_at(document, "token");
  if (bearer_token_.empty()) bearer_token_ = string_at(document, "access_token");
  if (bearer_token_.empty()) fail(fmt::format("the token service {} sent no token", realm));
}

RegistryClient::Manifest RegistryClient::fetch_manifest(const std::string& reference) {
  HttpRequest request;
  request.url = path("manifests", reference);
  request.headers.push_back(accept_header());
  request.follow_redirects = true;
  request.max_kept_body = kMaxManifestBytes;
  HttpResponse response = send_authenticated(request);
  if (response.status == 404)
    fail(
        fmt::format("the registry {} has no manifest {} for {} (manifest unknown); check the "
                    "name and the tag",
                    location_.host, reference, location_.repository));
  if (response.status != 200)
    fail(fmt::format("the registry {} answered manifest {} with {}", location_.host, reference,
                     answer(response)));
  Manifest manifest;
  manifest.digest = sha256_digest(response.body);
  if (reference.starts_with("sha256:") && manifest.digest != reference)
    fail(
        fmt::format("manifest {} arrived with digest {}; the registry's copy is corrupt or "
                    "was changed",
                    reference, manifest.digest));
  manifest.document = json::parse(response.body, nullptr, false);
  if (!manifest.document.is_object())
    fail(fmt::format("manifest {} from {} is not a JSON object", reference, location_.host));
  manifest.type = manifest_type(response.content_type, manifest.document);
  if (!is_index_type(manifest.type) && !is_manifest_type(manifest.type))
    fail(
        fmt::format("manifest {} is of type {}, which roost does not support; roost pulls OCI "
                    "and Docker schema 2 images",
                    reference, manifest.type));
  return manifest;
}

// The manifest an index lists for linux on this host's architecture; the refusal names
// both this host's platform and those the index has.
std::string RegistryClient::platform_manifest(const Manifest& index) const {
  std::string host = host_architecture();
  std::vector<std::string> listed;
  std::string chosen;
  for (const json& descriptor : index.document.value("manifests", json::array())) {
    const json& platform = descriptor.value("platform", json::object());
    std::string os = string_at(platform, "os");
    std::string architecture = string_at(platform, "architecture");
    if (os == "linux" && architecture == host && chosen.empty())
      chosen = string_at(descriptor, "digest");
    listed.push_back(os + "/" + architecture);
  }
  if (chosen.empty())
    fail(fmt::format(
        "the image has no manifest for linux/{}, the platform of this host; it lists {}; pull "
        "an image built for linux/{}",
        host, listed.empty() ? "none" : fmt::format("{}", fmt::join(listed, ", ")), host));
  if (!is_sha256_digest(chosen))
    fail(fmt::format("the index lists manifest \"{}\", which is not a sha256 digest", chosen));
  return chosen;
}

RegistryImage RegistryClient::image_of(const Manifest& manifest) const {
  RegistryImage image;
  image.manifest_digest = manifest.digest;
  auto size_of = [&](const json& descriptor) {
    const json& size = descriptor.value("size", json());
    if (!size.is_number_unsigned())
      fail(fmt::format("manifest {} lists blob {} without its size in bytes", manifest.digest,
                       string_at(descriptor, "digest")));
    return size.get<uint64_t>();
  };
  const json& config = manifest.document.value("config", json::object());
  std::string config_type = string_at(config, "mediaType");
  if (config_type != kOciConfig && config_type != kDockerConfig)
    fail(
        fmt::format("manifest {} is not a container image: its config is of type {}, which "
                    "roost does not support",
                    manifest.digest, config_type.empty() ? "(none)" : config_type));
  image.config_digest = string_at(config, "digest");
  check_blob_digest(manifest, image.config_digest);
  image.config_size = size_of(config);
  for (const json& layer : manifest.document.value("layers", json::array())) {
    RegistryLayer entry{string_at(layer, "digest"), string_at(layer, "mediaType"), size_of(layer)};
    if (std::find(kLayerTypes.begin(), kLayerTypes.end(), entry.media_type) == kLayerTypes.end())
      fail(
          fmt::format("layer {} is of type {}, which roost does not support; roost unpacks tar "
                      "layers, plain or compressed with gzip or zstd",
                      entry.digest, entry.media_type.empty() ? "(none)" : entry.media_type));
    check_blob_digest(manifest, entry.digest);
    image.layers.push_back(std::move(entry));
  }
  return image;
}

void RegistryClient::check_blob_digest(const Manifest& manifest, const std::string& digest) const {
  if (!is_sha256_digest(digest))
    fail(
        fmt::format("manifest {} lists blob \"{}\", which is not a sha256 digest; roost "
                    "verifies sha256 blobs only",
                    manifest.digest, digest));
}

RegistryImage RegistryClient::resolve() {
  Manifest manifest = fetch_manifest(location_.reference);
  if (!is_index_type(manifest.type)) return image_of(manifest);
  std::string chosen = platform_manifest(manifest);
  std::string index_digest = manifest.digest;
  manifest = fetch_manifest(chosen);
  if (!is_manifest_type(manifest.type))
    fail(
        fmt::format("manifest {} is of type {} inside an index; roost pulls OCI and Docker "
                    "schema 2 images",
                    chosen, manifest.type));
  RegistryImage image = image_of(manifest);
  image.index_digest = index_digest;
  return image;
}

void RegistryClient::fetch_blob(const std::string& digest, uint64_t size,
                                const std::filesystem::path& destination) {
  PartialFile file(destination);
  Sha256 hasher;
  uint64_t received = 0;
  HttpRequest request;
  request.url = path("blobs", digest);
  request.follow_redirects = true;
  request.body_sink = [&](std::string_view chunk) {
    received += chunk.size();
    // Without this bound a registry could fill the disk with one endless blob.
    if (received > size)
      fail(
          fmt::format("blob {} is longer than the {} bytes its manifest gives; the registry's "
                      "copy is corrupt or was changed, and nothing of it was kept",
                      digest, size));
    hasher.update(chunk.data(), chunk.size());
    file.write(chunk);
  };
  HttpResponse response = send_authenticated(request);
  if (response.status == 404)
    fail(fmt::format("the registry {} lists blob {} but does not have it (blob unknown)",
                     location_.host, digest));
  if (response.status != 200)
    fail(fmt::format("the registry {} answered blob {} with {}", location_.host, digest,
                     answer(response)));
  std::string actual = hasher.digest();
  if (actual != digest)
    fail(
        fmt::format("blob {} arrived with digest {}; the registry's copy is corrupt or was "
                    "changed, and nothing of it was kept",
                    digest, actual));
  file.keep();
}

}  // namespace roost::image
