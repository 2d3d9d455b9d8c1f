#include "image/reference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "common/error.hpp"

namespace roost::image {

namespace {

constexpr size_t kMaxNameLength = 255;

// The grammar of names, tags and digests follows the Docker distribution reference;
// OCI ref names follow the image layout's org.opencontainers.image.ref.name rule. The
// rules are matched by hand: std::regex took longer to build than the rest of a
// container's start-up work in roost's own code.
bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

bool is_hex_lower(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// Runs of word characters joined by separators; separator_length tells how long the
// separator at the start of its argument is, 0 when there is none.
template <typename IsWord, typename SeparatorLength>
bool is_joined_words(std::string_view text, IsWord is_word, SeparatorLength separator_length) {
  size_t at = 0;
  for (;;) {
    size_t word_start = at;
    while (at < text.size() && is_word(text[at])) ++at;
    if (at == word_start) return false;
    if (at == text.size()) return true;
    size_t length = separator_length(text.substr(at));
    if (length == 0) return false;
    at += length;
  }
}

// [a-z0-9]+ joined by '.', '_', '__' or a run of '-'.
bool is_path_component(std::string_view text) {
  return is_joined_words(text, is_lower_alnum, [](std::string_view rest) -> size_t {
    if (rest[0] == '.') return 1;
    if (rest[0] == '_') return rest.starts_with("__") ? 2 : 1;
    if (rest[0] == '-') return std::min(rest.find_first_not_of('-'), rest.size());
    return 0;
  });
}

// Letters, digits and '-', neither first nor last.
bool is_domain_label(std::string_view label) {
  return !label.empty() && is_alnum(label.front()) && is_alnum(label.back()) &&
         std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// An IPv6 address in brackets, as URLs write it: [::1].
bool is_bracketed_ipv6(std::string_view host) {
  if (host.size() < 4 || !host.starts_with("[") || !host.ends_with("]")) return false;
  std::string_view address = host.substr(1, host.size() - 2);
  return address.find(':') != std::string_view::npos &&
         std::all_of(address.begin(), address.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.';
         });
}

// HOST of HOST[:PORT], where HOST may be a bracketed IPv6 address.
std::string_view host_of(std::string_view domain) {
  if (domain.starts_with("[")) return domain.substr(0, domain.find(']') + 1);
  return domain.substr(0, domain.find(':'));
}

// Labels joined by '.' or a bracketed IPv6 address, then an optional :PORT.
bool is_domain(std::string_view text) {
  std::string_view host = host_of(text);
  if (host.size() < text.size()) {
    if (text[host.size()] != ':') return false;
    std::string_view port = text.substr(host.size() + 1);
    if (port.empty() ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return false;
  }
  if (host.starts_with("[")) return is_bracketed_ipv6(host);
  for (;;) {
    size_t dot = host.find('.');
    if (!is_domain_label(host.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    host.remove_prefix(dot + 1);
  }
}

// 1 to 128 of letters, digits, '_', '.' and '-', not starting with '.' or '-'.
bool is_tag(std::string_view text) {
  if (text.empty() || text.size() > 128 || text[0] == '.' || text[0] == '-') return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool is_digest(std::string_view text) {
  size_t hex_length = text.starts_with("sha256:") ? 64 : text.starts_with("sha512:") ? 128 : 0;
  std::string_view hex = text.substr(std::min<size_t>(7, text.size()));
  return hex_length != 0 && hex.size() == hex_length &&
         std::all_of(hex.begin(), hex.end(), is_hex_lower);
}

// [A-Za-z0-9]+ joined by one of - . _ : @ / + or by '--'.
bool is_oci_ref_name(std::string_view text) {
  return is_joined_words(text, is_alnum, [](std::string_view rest) -> size_t {
    if (rest.starts_with("--")) return 2;
    return std::string_view("-._:@/+").find(rest[0]) != std::string_view::npos ? 1 : 0;
  });
}

[[noreturn]] void reject(std::string_view text, std::string_view problem) {
  throw UsageError(fmt::format("invalid image reference \"{}\": {}", text, problem));
}

bool is_registry_component(std::string_view component) {
  return component.find_first_of(".:") != std::string_view::npos || component == "localhost";
}

std::string_view first_component(std::string_view name) {
  return name.substr(0, name.find('/'));
}

bool has_registry(std::string_view name) {
  return name.find('/') != std::string_view::npos && is_registry_component(first_component(name));
}

void check_path_component(std::string_view text, const std::string& component) {
  if (component.empty()) reject(text, "the name has an empty path component");
  if (is_path_component(component)) return;
  if (std::any_of(component.begin(), component.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    reject(text, "repository names must be lowercase");
  reject(text, fmt::format("\"{}\" is not a valid name component; use lowercase letters and "
                           "digits, separated by '.', '_', '__' or '-'",
                           component));
}

void check_port(std::string_view text, std::string_view domain) {
  std::string_view host = host_of(domain);
  if (host.size() + 1 >= domain.size()) return;
  std::string_view port = domain.substr(host.size() + 1);
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return;
  if (port.size() <= 5 && std::stoul(std::string(port)) >= 1 &&
      std::stoul(std::string(port)) <= 65535)
    return;
  reject(text,
         fmt::format("port {} of registry {} is out of range; a port is 1 to 65535", port, host));
}

void check_name(std::string_view text, std::string_view name) {
  if (name.empty()) reject(text, "no image name");
  if (name.size() > kMaxNameLength)
    reject(text, fmt::format("the name is longer than {} characters", kMaxNameLength));
  std::string_view path = name;
  if (has_registry(name)) {
    std::string domain(first_component(name));
    check_port(text, domain);
    if (!is_domain(domain))
      reject(text, fmt::format("\"{}\" is not a valid registry host[:port]", domain));
    path = name.substr(domain.size() + 1);
  }
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    check_path_component(text, std::string(path.substr(start, slash - start)));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
}

void check_tag(std::string_view text, const std::string& tag) {
  if (is_tag(tag)) return;
  reject(text, fmt::format("\"{}\" is not a valid tag; a tag has 1 to 128 letters, digits, '_', "
                           "'.' or '-' and does not start with '.' or '-'",
                           tag));
}

void check_digest(std::string_view text, const std::string& digest) {
  if (is_digest(digest)) return;
  reject(text, fmt::format("\"{}\" is not a valid digest; expected sha256: and 64 lowercase hex "
                           "digits",
                           digest));
}

// Splits NAME[:TAG][@DIGEST]; a colon before the last '/' belongs to a registry port.
void parse_name_into(Reference& reference, std::string_view text, std::string_view whole,
                     bool digest_allowed) {
  std::string_view rest = text;
  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    if (!digest_allowed) reject(whole, "a digest is not allowed here");
    reference.digest = std::string(rest.substr(at + 1));
    check_digest(whole, reference.digest);
    rest = rest.substr(0, at);
  }
  size_t colon = rest.rfind(':');
  size_t slash = rest.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    reference.tag = std::string(rest.substr(colon + 1));
    check_tag(whole, reference.tag);
    rest = rest.substr(0, colon);
  }
  check_name(whole, rest);
  reference.name = std::string(rest);
}

struct TransportPrefix {
  std::string_view prefix;
  Transport transport;
};

constexpr std::array kTransports = {
    TransportPrefix{"docker://", Transport::Docker},
    TransportPrefix{"docker-archive:", Transport::DockerArchive},
    TransportPrefix{"oci-archive:", Transport::OciArchive},
    TransportPrefix{"oci:", Transport::OciDir},
};

constexpr std::array<std::string_view, 6> kUnsupportedTransports = {
    "dir:", "containers-storage:", "docker-daemon:", "ostree:", "sif:", "tarball:"};

// PATH[:REST]: the path ends at the first colon, as in skopeo.
std::pair<std::string, std::string> split_path(std::string_view text, std::string_view body) {
  size_t colon = body.find(':');
  std::string path(body.substr(0, colon));
  if (path.empty()) reject(text, "no file or directory path after the transport");
  if (colon == std::string_view::npos) return {path, ""};
  std::string rest(body.substr(colon + 1));
  if (rest.empty()) reject(text, "nothing after the ':' that follows the path");
  return {path, rest};
}

Reference parse_docker_archive(std::string_view text, std::string_view body) {
  Reference reference;
  reference.transport = Transport::DockerArchive;
  auto [path, name] = split_path(text, body);
  reference.path = path;
  if (!name.empty()) parse_name_into(reference, name, text, false);
  return reference;
}

Reference parse_oci(std::string_view text, std::string_view body, Transport transport) {
  Reference reference;
  reference.transport = transport;
  auto [path, ref_name] = split_path(text, body);
  reference.path = path;
  if (!ref_name.empty() && !is_oci_ref_name(ref_name))
    reject(text, fmt::format("\"{}\" is not a valid OCI reference name; use letters and digits "
                             "separated by one of - . _ : @ / +",
                             ref_name));
  reference.tag = ref_name;
  return reference;
}

Reference parse_with_transport(std::string_view text, Transport transport, std::string_view body) {
  switch (transport) {
    case Transport::DockerArchive:
      return parse_docker_archive(text, body);
    case Transport::OciArchive:
    case Transport::OciDir:
      return parse_oci(text, body, transport);
    default: {
      Reference reference;
      reference.transport = transport;
      parse_name_into(reference, body, text, true);
      return reference;
    }
  }
}

std::string docker_hub_repository(const std::string& name) {
  if (!has_registry(name)) {
    bool single = name.find('/') == std::string::npos;
    return single ? "docker.io/library/" + name : "docker.io/" + name;
  }
  std::string_view registry = first_component(name);
  std::string path = name.substr(registry.size() + 1);
  if (registry != "docker.io" && registry != "index.docker.io") return name;
  if (path.find('/') == std::string::npos) path = "library/" + path;
  return "docker.io/" + path;
}

}  // namespace

std::string Reference::canonical_name() const {
  if (name.empty()) return "";
  std::string repository;
  if (transport == Transport::Docker ||
      (has_registry(name) && first_component(name) == "docker.io"))
    repository = docker_hub_repository(name);
  else
    repository = has_registry(name) ? name : "localhost/" + name;
  if (!tag.empty()) return repository + ":" + tag;
  if (!digest.empty()) return repository + "@" + digest;
  return repository + ":latest";
}

Reference parse_reference(std::string_view text) {
  if (text.empty()) reject(text, "it is empty");
  for (const auto& [prefix, transport] : kTransports) {
    if (text.starts_with(prefix))
      return parse_with_transport(text, transport, text.substr(prefix.size()));
  }
  for (std::string_view unsupported : kUnsupportedTransports) {
    if (text.starts_with(unsupported))
      reject(text, fmt::format("the transport {} is not supported; use docker://, "
                               "docker-archive:, oci-archive:, oci: or a name",
                               unsupported));
  }
  return parse_with_transport(text, Transport::Store, text);
}

}  // namespace roost::image
