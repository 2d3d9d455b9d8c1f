#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "image/config.hpp"
#include "image/digest.hpp"
#include "image/reference.hpp"
#include "image/registry.hpp"
#include "image/store.hpp"

using roost::Error;
using roost::UsageError;
using namespace roost::image;
using nlohmann::json;
namespace stdfs = std::filesystem;

namespace {

// ---------------------------------------------------------------- references

Reference parse(std::string_view text) {
  return parse_reference(text);
}

std::string usage_error_of(std::string_view text) {
  try {
    parse_reference(text);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

TEST(Reference, BareNameTagAndDigest) {
  Reference plain = parse("busybox");
  EXPECT_EQ(plain.transport, Transport::Store);
  EXPECT_EQ(plain.name, "busybox");
  EXPECT_EQ(plain.tag, "");
  EXPECT_EQ(plain.canonical_name(), "localhost/busybox:latest");

  Reference tagged = parse("busybox:1");
  EXPECT_EQ(tagged.tag, "1");
  EXPECT_EQ(tagged.canonical_name(), "localhost/busybox:1");

  std::string digest = "sha256:" + std::string(64, 'a');
  Reference digested = parse("library/busybox:1.36@" + digest);
  EXPECT_EQ(digested.name, "library/busybox");
  EXPECT_EQ(digested.tag, "1.36");
  EXPECT_EQ(digested.digest, digest);
  EXPECT_EQ(parse("busybox@" + digest).canonical_name(), "localhost/busybox@" + digest);
}

TEST(Reference, RegistryPortIsNotATag) {
  Reference with_port = parse("localhost:5000/a/b:1");
  EXPECT_EQ(with_port.name, "localhost:5000/a/b");
  EXPECT_EQ(with_port.tag, "1");
  EXPECT_EQ(with_port.canonical_name(), "localhost:5000/a/b:1");

  Reference port_only = parse("registry.example:5000/app");
  EXPECT_EQ(port_only.name, "registry.example:5000/app");
  EXPECT_EQ(port_only.tag, "");
  EXPECT_EQ(port_only.canonical_name(), "registry.example:5000/app:latest");
}

TEST(Reference, RegistryComponentRules) {
  EXPECT_EQ(parse("localhost/busybox").canonical_name(), "localhost/busybox:latest");
  EXPECT_EQ(parse("quay.io/org/app:2").canonical_name(), "quay.io/org/app:2");
  // Without '.', ':' or "localhost" the first component is part of the path.
  EXPECT_EQ(parse("library/busybox").canonical_name(), "localhost/library/busybox:latest");
  EXPECT_EQ(parse("docker.io/busybox:1").canonical_name(), "docker.io/library/busybox:1");
}

TEST(Reference, DockerTransportNormalisesToDockerHub) {
  Reference reference = parse("docker://busybox:1");
  EXPECT_EQ(reference.transport, Transport::Docker);
  EXPECT_EQ(reference.name, "busybox");
  EXPECT_EQ(reference.canonical_name(), "docker.io/library/busybox:1");
  EXPECT_EQ(parse("docker://org/app").canonical_name(), "docker.io/org/app:latest");
  EXPECT_EQ(parse("docker://localhost:5000/app@sha256:" + std::string(64, '0')).digest,
            "sha256:" + std::string(64, '0'));
}

std::string location_error_of(std::string_view text) {
  try {
    registry_location(parse_reference(text), text);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

TEST(Registry, LocationOfDockerReference) {
  RegistryLocation tagged = registry_location(parse("docker://127.0.0.1:5000/team/app:2"), "");
  EXPECT_EQ(tagged.host, "127.0.0.1:5000");
  EXPECT_EQ(tagged.repository, "team/app");
  EXPECT_EQ(tagged.reference, "2");
  EXPECT_EQ(registry_location(parse("docker://registry.example/app"), "").reference, "latest");
  std::string digest = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(registry_location(parse("docker://registry.example/app:1@" + digest), "").reference,
            digest);
  EXPECT_EQ(registry_location(parse("docker://localhost/app"), "").host, "localhost");
}

TEST(Registry, BareNameWithHostNamesTheRegistry) {
  RegistryLocation location = registry_location(parse("127.0.0.1:5000/busybox:1"), "");
  EXPECT_EQ(location.host, "127.0.0.1:5000");
  EXPECT_EQ(location.repository, "busybox");
  EXPECT_TRUE(names_registry(parse("registry.example/app")));
  EXPECT_FALSE(names_registry(parse("localhost/app:1")));
  EXPECT_FALSE(names_registry(parse("busybox")));
  EXPECT_FALSE(names_registry(parse("oci:/tmp/layout:1")));
}

TEST(Registry, NoDefaultRegistry) {
  for (const char* text : {"busybox:1", "docker://busybox:1", "docker://library/busybox"}) {
    std::string message = location_error_of(text);
    EXPECT_NE(message.find("no default registry"), std::string::npos) << text << ": " << message;
    EXPECT_NE(message.find(text), std::string::npos) << message;
  }
}

TEST(Registry, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1:5000"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("localhost:5000"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_FALSE(is_loopback_host("registry.example:5000"));
  EXPECT_FALSE(is_loopback_host("127.example.org"));
  EXPECT_TRUE(is_loopback_host("LOCALHOST:5402"));
  EXPECT_TRUE(is_loopback_host("LocalHost"));
  EXPECT_TRUE(is_loopback_host("[::1]:5402"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_FALSE(is_loopback_host("[::2]:5402"));
  EXPECT_FALSE(is_loopback_host("localhost.example:5402"));
}

TEST(Registry, BracketedIpv6HostIsARegistry) {
  RegistryLocation location = registry_location(parse("[::1]:5402/busybox:1"), "");
  EXPECT_EQ(location.host, "[::1]:5402");
  EXPECT_EQ(location.repository, "busybox");
  EXPECT_EQ(location.reference, "1");
  EXPECT_EQ(registry_location(parse("docker://[fe80::1]/app"), "").host, "[fe80::1]");
  EXPECT_EQ(parse("[::1]:5402/busybox").canonical_name(), "[::1]:5402/busybox:latest");
  EXPECT_NE(usage_error_of("[::1/busybox").find("not a valid registry"), std::string::npos);
  EXPECT_NE(usage_error_of("[::g]:1/busybox").find("not a valid registry"), std::string::npos);
}

TEST(Reference, PortOutOfRangeIsNamed) {
  EXPECT_EQ(usage_error_of("127.0.0.1:99999/busybox:1"),
            "invalid image reference \"127.0.0.1:99999/busybox:1\": port 99999 of registry "
            "127.0.0.1 is out of range; a port is 1 to 65535");
  EXPECT_NE(usage_error_of("docker://localhost:0/app").find("port 0 of registry localhost"),
            std::string::npos);
  EXPECT_NE(usage_error_of("localhost:123456789012345678901/app").find("out of range"),
            std::string::npos);
  EXPECT_EQ(usage_error_of("localhost:65535/app"), "");
}

TEST(Reference, DockerArchive) {
  Reference bare = parse("docker-archive:/tmp/img.tar");
  EXPECT_EQ(bare.transport, Transport::DockerArchive);
  EXPECT_EQ(bare.path, "/tmp/img.tar");
  EXPECT_EQ(bare.name, "");
  Reference named = parse("docker-archive:img.tar:app:2");
  EXPECT_EQ(named.path, "img.tar");
  EXPECT_EQ(named.name, "app");
  EXPECT_EQ(named.tag, "2");
  EXPECT_EQ(named.canonical_name(), "localhost/app:2");
  Reference with_port = parse("docker-archive:img.tar:localhost:5000/app");
  EXPECT_EQ(with_port.name, "localhost:5000/app");
  EXPECT_EQ(with_port.tag, "");
}

TEST(Reference, OciArchiveAndDirectory) {
  Reference archive = parse("oci-archive:out/app.tar:v1");
  EXPECT_EQ(archive.transport, Transport::OciArchive);
  EXPECT_EQ(archive.path, "out/app.tar");
  EXPECT_EQ(archive.tag, "v1");
  Reference directory = parse("oci:layout");
  EXPECT_EQ(directory.transport, Transport::OciDir);
  EXPECT_EQ(directory.path, "layout");
  EXPECT_EQ(directory.tag, "");
  // An OCI ref name may be a whole image name.
  EXPECT_EQ(parse("oci-archive:a.tar:localhost/busybox:1").tag, "localhost/busybox:1");
}

TEST(Reference, BadReferencesSayWhatIsWrong) {
  EXPECT_EQ(usage_error_of("Busybox"),
            "invalid image reference \"Busybox\": repository names must be lowercase");
  EXPECT_NE(usage_error_of("busybox:-1").find("\"-1\" is not a valid tag"), std::string::npos);
  EXPECT_NE(usage_error_of("busybox:" + std::string(129, 'a')).find("is not a valid tag"),
            std::string::npos);
  EXPECT_NE(usage_error_of("busybox@sha256:abc").find("\"sha256:abc\" is not a valid digest"),
            std::string::npos);
  EXPECT_NE(usage_error_of("a//b").find("empty path component"), std::string::npos);
  EXPECT_NE(usage_error_of("a_-b").find("\"a_-b\" is not a valid name component"),
            std::string::npos);
  EXPECT_NE(usage_error_of("bad_host.:5000/x").find("not a valid registry"), std::string::npos);
  EXPECT_NE(usage_error_of(std::string(256, 'a')).find("longer than 255"), std::string::npos);
  EXPECT_NE(usage_error_of("").find("it is empty"), std::string::npos);
  EXPECT_NE(usage_error_of("docker-archive:").find("no file or directory path"), std::string::npos);
  EXPECT_NE(usage_error_of("docker-archive:a.tar:app@sha256:" + std::string(64, 'a'))
                .find("a digest is not allowed here"),
            std::string::npos);
  EXPECT_NE(usage_error_of("oci:dir:bad name").find("not a valid OCI reference name"),
            std::string::npos);
  EXPECT_NE(usage_error_of("dir:/tmp/x").find("the transport dir: is not supported"),
            std::string::npos);
  EXPECT_EQ(usage_error_of("busybox:1").size(), 0u);
}

// The distribution grammar as regular expressions: roost matches it by hand, and every
// string of small alphabets up to a length must get the same answer from both.
bool accepted(std::string_view text) {
  try {
    parse_reference(text);
    return true;
  } catch (const UsageError&) {
    return false;
  }
}

// Every string over `alphabet` of length 0 to max_length, in order.
std::vector<std::string> all_strings(std::string_view alphabet, size_t max_length) {
  std::vector<std::string> strings{""};
  for (size_t begin = 0, length = 0; length < max_length; ++length) {
    size_t end = strings.size();
    for (size_t i = begin; i < end; ++i)
      for (char c : alphabet) strings.push_back(strings[i] + c);
    begin = end;
  }
  return strings;
}

// `wrap` makes a whole reference of a piece; `applies` picks the pieces that the
// reference reads under this rule (a first component is a registry only with '.' or ':').
void expect_same_as_regex(
    const std::string& pattern, std::string_view alphabet, size_t max_length,
    const std::function<std::string(std::string)>& wrap,
    const std::function<bool(const std::string&)>& applies = [](const std::string&) {
      return true;
    }) {
  std::regex grammar(pattern);
  size_t matched = 0;
  for (const auto& text : all_strings(alphabet, max_length)) {
    if (!applies(text)) continue;
    bool expected = std::regex_match(text, grammar);
    matched += expected;
    EXPECT_EQ(accepted(wrap(text)), expected) << "\"" << wrap(text) << "\" against " << pattern;
  }
  EXPECT_GT(matched, 0u) << pattern;
}

TEST(Reference, HandWrittenRulesMatchTheGrammar) {
  expect_same_as_regex("[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*", "a0._-", 7,
                       [](std::string text) { return "localhost/" + text; });
  expect_same_as_regex(
      "(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
      "(?:\\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*(?::[0-9]+)?",
      "aZ0-.:", 6, [](std::string text) { return text + "/name"; },
      [](const std::string& text) {
        // Beyond the grammar, a port must be in range (1 to 65535).
        size_t colon = text.find(':');
        bool port_in_range =
            colon == std::string::npos || colon + 1 == text.size() ||
            text.find_first_not_of("0123456789", colon + 1) != std::string::npos ||
            (text.size() - colon - 1 <= 5 && std::stoul(text.substr(colon + 1)) >= 1 &&
             std::stoul(text.substr(colon + 1)) <= 65535);
        return text.find_first_of(".:") != std::string::npos && port_in_range;
      });
  expect_same_as_regex("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "aZ0_.-", 5,
                       [](std::string text) { return "name:" + text; });
  expect_same_as_regex("[A-Za-z0-9]+(?:(?:[-._:@/+]|--)[A-Za-z0-9]+)*", "aZ0-._:@/+", 5,
                       [](std::string text) { return "oci:/dir:" + text; });
  EXPECT_TRUE(accepted("name:" + std::string(128, 't')));
  EXPECT_FALSE(accepted("name:" + std::string(129, 't')));
  EXPECT_TRUE(accepted("name@sha256:" + std::string(64, 'a')));
  EXPECT_TRUE(accepted("name@sha512:" + std::string(128, '0')));
  EXPECT_FALSE(accepted("name@sha256:" + std::string(63, 'a')));
  EXPECT_FALSE(accepted("name@sha256:" + std::string(64, 'A')));
  EXPECT_FALSE(accepted("name@sha512:" + std::string(64, 'a')));
  EXPECT_FALSE(accepted("name@sha256"));
}

// ---------------------------------------------------------------- configs

TEST(Config, ReadsTheRunParts) {
  ImageConfig config = parse_image_config(R"({
    "architecture": "arm", "os": "linux", "variant": "v7", "created": "2024-01-02T03:04:05Z",
    "config": {"Entrypoint": ["/init"], "Cmd": ["serve", "-v"], "Env": ["A=1", "PATH=/bin"],
               "WorkingDir": "/srv", "User": "app:app", "StopSignal": "SIGINT"},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:)" +
                                              std::string(64, '1') + R"(",
                                              "sha256:)" +
                                              std::string(64, '2') + R"("]}
  })",
                                          "test.json");
  EXPECT_EQ(config.architecture, "arm");
  EXPECT_EQ(config.os, "linux");
  EXPECT_EQ(config.variant, "v7");
  EXPECT_EQ(config.created, "2024-01-02T03:04:05Z");
  EXPECT_EQ(config.entrypoint, (std::vector<std::string>{"/init"}));
  EXPECT_EQ(config.cmd, (std::vector<std::string>{"serve", "-v"}));
  EXPECT_EQ(config.env, (std::vector<std::string>{"A=1", "PATH=/bin"}));
  EXPECT_EQ(config.working_dir, "/srv");
  EXPECT_EQ(config.user, "app:app");
  EXPECT_EQ(config.stop_signal, "SIGINT");
  EXPECT_EQ(config.diff_ids, (std::vector<std::string>{"sha256:" + std::string(64, '1'),
                                                       "sha256:" + std::string(64, '2')}));
}

TEST(Config, NullAbsentAndEmptyAreTold) {
  ImageConfig null_parts = parse_image_config(
      R"({"config": {"Entrypoint": null, "Cmd": null, "Env": null}})", "null.json");
  EXPECT_FALSE(null_parts.entrypoint.has_value());
  EXPECT_FALSE(null_parts.cmd.has_value());
  EXPECT_TRUE(null_parts.env.empty());

  ImageConfig absent = parse_image_config(R"({"architecture": "amd64"})", "absent.json");
  EXPECT_FALSE(absent.entrypoint.has_value());
  EXPECT_FALSE(absent.cmd.has_value());
  EXPECT_TRUE(absent.diff_ids.empty());

  ImageConfig empty = parse_image_config(R"({"config": {"Entrypoint": [], "Cmd": []}})", "e");
  ASSERT_TRUE(empty.entrypoint.has_value());
  EXPECT_TRUE(empty.entrypoint->empty());
  ASSERT_TRUE(empty.cmd.has_value());
  EXPECT_TRUE(empty.cmd->empty());
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

TEST(Config, MalformedConfigsNameTheOrigin) {
  EXPECT_EQ(error_of([] { parse_image_config("{", "blobs/sha256/x"); }),
            "image config blobs/sha256/x: not valid JSON");
  EXPECT_EQ(error_of([] { parse_image_config(R"({"config": {"Cmd": 3}})", "c.json"); }),
            "image config c.json: \"Cmd\" is not a list of strings");
  EXPECT_EQ(error_of([] {
              parse_image_config(R"({"rootfs": {"diff_ids": ["sha256:../../x"]}})", "c.json");
            }),
            "image config c.json: diff id \"sha256:../../x\" is not sha256: and 64 hex digits");
}

std::string other_architecture() {
  return host_architecture() == "arm64" ? "amd64" : "arm64";
}

TEST(Config, PlatformCheckNamesBothPlatforms) {
  ImageConfig config;
  config.os = "linux";
  config.architecture = host_architecture();
  EXPECT_NO_THROW(check_platform(config, "x"));
  config.architecture = other_architecture();
  std::string host = host_architecture();
  EXPECT_EQ(error_of([&] { check_platform(config, "docker.io/library/hello-world:latest"); }),
            fmt::format("image docker.io/library/hello-world:latest is for linux/{} but this host "
                        "is linux/{}; use an image built for linux/{}",
                        other_architecture(), host, host));
  config.architecture = host;
  config.os = "windows";
  EXPECT_NE(error_of([&] { check_platform(config, "w"); }).find("is for windows/"),
            std::string::npos);
}

// ---------------------------------------------------------------- archive fixtures

enum class Compression { Gzip, Zstd };

struct Entry {
  std::string path;
  std::string content{};
  mode_t type = AE_IFREG;
  std::string link{};
};

la_ssize_t append_to_string(archive*, void* out, const void* data, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), length);
  return static_cast<la_ssize_t>(length);
}

void check(archive* a, int status) {
  if (status < ARCHIVE_WARN) throw std::runtime_error(archive_error_string(a));
}

void write_entry(archive* a, const Entry& spec) {
  archive_entry* entry = archive_entry_new();
  archive_entry_set_pathname(entry, spec.path.c_str());
  archive_entry_set_filetype(entry, spec.type);
  archive_entry_set_perm(entry, spec.type == AE_IFDIR ? 0755 : 0644);
  archive_entry_set_mtime(entry, 1600000000, 0);
  if (spec.type == AE_IFLNK) archive_entry_set_symlink(entry, spec.link.c_str());
  if (spec.type == AE_IFREG)
    archive_entry_set_size(entry, static_cast<la_int64_t>(spec.content.size()));
  check(a, archive_write_header(a, entry));
  if (!spec.content.empty()) archive_write_data(a, spec.content.data(), spec.content.size());
  archive_entry_free(entry);
}

std::string make_tar(const std::vector<Entry>& entries) {
  std::string out;
  archive* a = archive_write_new();
  check(a, archive_write_set_format_pax_restricted(a));
  check(a, archive_write_open(a, &out, nullptr, append_to_string, nullptr));
  for (const auto& entry : entries) write_entry(a, entry);
  check(a, archive_write_close(a));
  archive_write_free(a);
  return out;
}

std::string hex_of(const std::string& content) {
  return digest_hex(sha256_digest(content));
}

// A layer: its uncompressed tar and the diff id it must unpack to.
struct Layer {
  std::string tar;
  std::string diff_id;
};

Layer make_layer(const std::vector<Entry>& entries) {
  std::string tar = make_tar(entries);
  return {tar, sha256_digest(tar)};
}

Layer base_layer() {
  return make_layer({{"etc", "", AE_IFDIR}, {"etc/hostname", "base\n"}, {"bin/tool", "#!x\n"}});
}

Layer app_layer() {
  return make_layer({{"app", "", AE_IFDIR}, {"app/version", "2\n"}});
}

std::string make_config(const std::vector<Layer>& layers, const std::string& arch = "",
                        const std::string& env = "A=1") {
  json diff_ids = json::array();
  for (const auto& layer : layers) diff_ids.push_back(layer.diff_id);
  json config = {{"architecture", arch.empty() ? host_architecture() : arch},
                 {"os", "linux"},
                 {"created", "2024-05-06T07:08:09Z"},
                 {"config", {{"Env", {env}}, {"Cmd", {"/bin/tool"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  return config.dump();
}

// The legacy layout docker save and podman write: HEX/layer.tar (podman's as a symlink
// to a tar named by its diff id), HEX.json configs, manifest.json and repositories.
std::string legacy_docker_archive(const std::vector<Layer>& layers, const std::string& config,
                                  const std::vector<std::string>& repo_tags) {
  std::vector<Entry> entries;
  json layer_paths = json::array();
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string v1_id = hex_of("v1-" + std::to_string(i) + layers[i].diff_id);
    if (i == 0) {
      std::string tar_name = digest_hex(layers[i].diff_id) + ".tar";
      entries.push_back({tar_name, layers[i].tar});
      entries.push_back({v1_id + "/layer.tar", "", AE_IFLNK, "../" + tar_name});
    } else {
      entries.push_back({v1_id + "/layer.tar", layers[i].tar});
    }
    entries.push_back({v1_id + "/VERSION", "1.0"});
    layer_paths.push_back(v1_id + "/layer.tar");
  }
  entries.push_back({hex_of(config) + ".json", config});
  json manifest = json::array(
      {{{"Config", hex_of(config) + ".json"}, {"RepoTags", repo_tags}, {"Layers", layer_paths}}});
  entries.push_back({"manifest.json", manifest.dump()});
  entries.push_back({"repositories", "{}"});
  return make_tar(entries);
}

using Files = std::map<std::string, std::string>;

std::string blob_path(const std::string& content) {
  return "blobs/sha256/" + hex_of(content);
}

std::string oci_manifest(const std::string& config, const std::vector<std::string>& blobs,
                         const std::string& layer_type) {
  json layers = json::array();
  for (const auto& blob : blobs)
    layers.push_back(
        {{"mediaType", layer_type}, {"digest", sha256_digest(blob)}, {"size", blob.size()}});
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", sha256_digest(config)},
                     {"size", config.size()}}},
                   {"layers", layers}};
  return manifest.dump();
}

json descriptor(const std::string& media_type, const std::string& content,
                const std::string& ref_name = "") {
  json entry = {
      {"mediaType", media_type}, {"digest", sha256_digest(content)}, {"size", content.size()}};
  if (!ref_name.empty()) entry["annotations"] = {{"org.opencontainers.image.ref.name", ref_name}};
  return entry;
}

// An OCI layout of one image whose layers are stored as `blobs`.
Files oci_layout(const std::string& config, const std::vector<std::string>& blobs,
                 const std::string& layer_type, const std::string& ref_name) {
  Files files;
  std::string manifest = oci_manifest(config, blobs, layer_type);
  for (const auto& blob : blobs) files[blob_path(blob)] = blob;
  files[blob_path(config)] = config;
  files[blob_path(manifest)] = manifest;
  json index = {{"schemaVersion", 2},
                {"manifests",
                 {descriptor("application/vnd.oci.image.manifest.v1+json", manifest, ref_name)}}};
  files["index.json"] = index.dump();
  files["oci-layout"] = R"({"imageLayoutVersion": "1.0.0"})";
  return files;
}

std::string tar_of(const Files& files) {
  std::vector<Entry> entries;
  for (const auto& [path, content] : files) entries.push_back({path, content});
  return make_tar(entries);
}

// The layout docker 25 saves: blobs/sha256/ with an OCI index and a manifest.json
// that names the blobs by path.
std::string docker25_archive(const std::vector<Layer>& layers, const std::string& config,
                             const json& repo_tags) {
  std::vector<std::string> blobs;
  for (const auto& layer : layers) blobs.push_back(layer.tar);
  Files files = oci_layout(config, blobs, "application/vnd.oci.image.layer.v1.tar", "");
  json layer_paths = json::array();
  for (const auto& blob : blobs) layer_paths.push_back(blob_path(blob));
  json manifest = json::array(
      {{{"Config", blob_path(config)}, {"RepoTags", repo_tags}, {"Layers", layer_paths}}});
  files["manifest.json"] = manifest.dump();
  return tar_of(files);
}

// Compresses bytes as one stream, without the zero padding libarchive adds to tar
// blocks (it would follow the compressed frame).
std::string compress(const std::string& content, Compression compression) {
  std::string out;
  archive* a = archive_write_new();
  check(a, archive_write_set_format_raw(a));
  check(a, compression == Compression::Gzip ? archive_write_add_filter_gzip(a)
                                            : archive_write_add_filter_zstd(a));
  check(a, archive_write_set_bytes_in_last_block(a, 1));
  check(a, archive_write_open(a, &out, nullptr, append_to_string, nullptr));
  archive_entry* entry = archive_entry_new();
  archive_entry_set_filetype(entry, AE_IFREG);
  check(a, archive_write_header(a, entry));
  archive_write_data(a, content.data(), content.size());
  archive_entry_free(entry);
  check(a, archive_write_close(a));
  archive_write_free(a);
  return out;
}

std::string gzip(const std::string& content) {
  return compress(content, Compression::Gzip);
}

std::string zstd(const std::string& content) {
  return compress(content, Compression::Zstd);
}

std::string read_text(const stdfs::path& path) {
  return roost::fs::read_file(path);
}

ino_t inode_of(const stdfs::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) < 0) return 0;
  return st.st_ino;
}

std::set<std::string> entries_of(const stdfs::path& directory) {
  std::set<std::string> names;
  for (const auto& entry : stdfs::directory_iterator(directory))
    names.insert(entry.path().filename().string());
  return names;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/roost-image-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    root_ = dir_ / "store";
  }
  void TearDown() override { roost::fs::remove_tree(dir_); }

  std::string write(const std::string& name, const std::string& content) {
    stdfs::path path = dir_ / name;
    stdfs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }

  std::string write_tree(const std::string& name, const Files& files) {
    for (const auto& [path, content] : files) write(name + "/" + path, content);
    return (dir_ / name).string();
  }

  void expect_store_empty() {
    EXPECT_TRUE(entries_of(root_ / "images").empty());
    EXPECT_TRUE(entries_of(root_ / "layers").empty());
    EXPECT_TRUE(entries_of(root_ / "blobs" / "sha256").empty());
    EXPECT_TRUE(entries_of(root_ / "tmp").empty());
  }

  std::string load_error(Store& store, const std::string& reference) {
    return error_of([&] { store.load(parse(reference)); });
  }

  stdfs::path dir_;
  stdfs::path root_;
};

// ---------------------------------------------------------------- loading

TEST_F(StoreTest, LoadsALegacyDockerArchive) {
  Layer base = base_layer(), app = app_layer();
  std::string config = make_config({base, app});
  std::string archive = write(
      "legacy.tar", legacy_docker_archive({base, app}, config, {"busybox:1", "quay.io/x/y:2"}));
  Store store(root_);
  auto loaded = store.load(parse("docker-archive:" + archive));
  ASSERT_EQ(loaded.size(), 1u);
  const ImageRecord& image = loaded.front();
  EXPECT_EQ(image.id, hex_of(config));
  EXPECT_EQ(image.names, (std::vector<std::string>{"localhost/busybox:1", "quay.io/x/y:2"}));
  EXPECT_EQ(image.layers, (std::vector<std::string>{base.diff_id, app.diff_id}));
  EXPECT_EQ(image.created, "2024-05-06T07:08:09Z");
  EXPECT_EQ(image.config.cmd, (std::vector<std::string>{"/bin/tool"}));
  EXPECT_EQ(image.size, base.tar.size() + app.tar.size());
  EXPECT_EQ(read_text(store.layer_path(base.diff_id) / "etc" / "hostname"), "base\n");
  EXPECT_EQ(read_text(store.layer_path(app.diff_id) / "app" / "version"), "2\n");
  EXPECT_EQ(read_text(root_ / "blobs" / "sha256" / image.id), config);
  EXPECT_TRUE(stdfs::exists(root_ / "images" / (image.id + ".json")));
  EXPECT_TRUE(entries_of(root_ / "tmp").empty());

  auto listed = store.list();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed.front().names, image.names);
  EXPECT_EQ(listed.front().config.env, (std::vector<std::string>{"A=1"}));
}

TEST_F(StoreTest, LoadsADocker25ArchiveAndSharesLayers) {
  Layer base = base_layer(), app = app_layer();
  Store store(root_);
  std::string first =
      write("first.tar", legacy_docker_archive({base}, make_config({base}), {"first:1"}));
  store.load(parse("docker-archive:" + first));
  ino_t base_inode = inode_of(store.layer_path(base.diff_id));
  ASSERT_NE(base_inode, 0u);

  std::string config = make_config({base, app}, other_architecture());
  std::string archive = write("v25.tar", docker25_archive({base, app}, config, nullptr));
  auto loaded = store.load(parse("docker-archive:" + archive));
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_TRUE(loaded.front().names.empty());
  EXPECT_EQ(loaded.front().layers, (std::vector<std::string>{base.diff_id, app.diff_id}));
  EXPECT_EQ(inode_of(store.layer_path(base.diff_id)), base_inode);
  EXPECT_EQ(read_text(store.layer_path(app.diff_id) / "app" / "version"), "2\n");

  // Its index.json lists nothing, so as an OCI archive it loads through manifest.json.
  EXPECT_EQ(store.load(parse("oci-archive:" + archive)).front().id, loaded.front().id);

  auto found = store.find(loaded.front().id);
  ASSERT_TRUE(found.has_value());
  EXPECT_NE(error_of([&] {
              check_platform(found->config, found->id);
            }).find("is for linux/" + other_architecture()),
            std::string::npos);
}

TEST_F(StoreTest, LoadsAnOciArchiveWithAGzipLayerNamedLikePodman) {
  Layer base = base_layer();
  std::string config = make_config({base});
  std::string blob = gzip(base.tar);
  std::string named = write(
      "named.tar", tar_of(oci_layout(config, {blob}, "application/vnd.oci.image.layer.v1.tar+gzip",
                                     "localhost/app:2")));
  Store store(root_);
  auto loaded = store.load(parse("oci-archive:" + named));
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded.front().names, (std::vector<std::string>{"localhost/app:2"}));
  EXPECT_EQ(loaded.front().layers, (std::vector<std::string>{base.diff_id}));
  EXPECT_EQ(read_text(store.layer_path(base.diff_id) / "etc" / "hostname"), "base\n");

  // A bare ref name is an image name to podman: "layered" is localhost/layered:latest.
  std::string config2 = make_config({base}, "", "B=2");
  std::string bare = write(
      "bare.tar", tar_of(oci_layout(config2, {blob}, "application/vnd.oci.image.layer.v1.tar+gzip",
                                    "layered")));
  ino_t layer_inode = inode_of(store.layer_path(base.diff_id));
  auto second = store.load(parse("oci-archive:" + bare));
  EXPECT_EQ(second.front().names, (std::vector<std::string>{"localhost/layered:latest"}));
  // The gzip blob was seen to unpack to the layer, so the layer is not unpacked again.
  EXPECT_EQ(inode_of(store.layer_path(base.diff_id)), layer_inode);
  EXPECT_EQ(store.list().size(), 2u);
}

TEST_F(StoreTest, LoadsAnOciDirectoryWithAZstdLayerThroughANestedIndex) {
  Layer base = base_layer();
  std::string config = make_config({base});
  std::string blob = zstd(base.tar);
  Files files = oci_layout(config, {blob}, "application/vnd.oci.image.layer.v1.tar+zstd", "");
  std::string manifest =
      oci_manifest(config, {blob}, "application/vnd.oci.image.layer.v1.tar+zstd");
  // A foreign platform's manifest comes first; the host's must be picked.
  std::string foreign_config = make_config({base}, other_architecture());
  std::string foreign =
      oci_manifest(foreign_config, {blob}, "application/vnd.oci.image.layer.v1.tar+zstd");
  files[blob_path(foreign_config)] = foreign_config;
  files[blob_path(foreign)] = foreign;
  json foreign_entry = descriptor("application/vnd.oci.image.manifest.v1+json", foreign);
  foreign_entry["platform"] = {{"architecture", other_architecture()}, {"os", "linux"}};
  json host_entry = descriptor("application/vnd.oci.image.manifest.v1+json", manifest);
  host_entry["platform"] = {{"architecture", host_architecture()}, {"os", "linux"}};
  std::string nested = json({{"schemaVersion", 2},
                             {"mediaType", "application/vnd.oci.image.index.v1+json"},
                             {"manifests", {foreign_entry, host_entry}}})
                           .dump();
  files[blob_path(nested)] = nested;
  files["index.json"] =
      json({{"schemaVersion", 2},
            {"manifests",
             {descriptor("application/vnd.oci.image.index.v1+json", nested, "1"),
              descriptor("application/vnd.oci.image.manifest.v1+json", foreign, "other")}}})
          .dump();
  std::string layout = write_tree("My-Layout", files);

  Store store(root_);
  auto loaded = store.load(parse("oci:" + layout + ":1"));
  ASSERT_EQ(loaded.size(), 1u);
  EXPECT_EQ(loaded.front().id, hex_of(config));
  EXPECT_EQ(loaded.front().names, (std::vector<std::string>{"localhost/my-layout:1"}));
  EXPECT_EQ(read_text(store.layer_path(base.diff_id) / "bin" / "tool"), "#!x\n");

  // Two images and no tag: the user must choose.
  EXPECT_NE(load_error(store, "oci:" + layout).find("holds 2 images; choose one"),
            std::string::npos);
  EXPECT_NE(load_error(store, "oci:" + layout + ":nope").find("no image is named nope"),
            std::string::npos);
}

TEST_F(StoreTest, SelectsOneImageOfADockerArchiveByName) {
  Layer base = base_layer();
  std::string config_a = make_config({base}, "", "A=1");
  std::string config_b = make_config({base}, "", "B=2");
  Files files;
  std::string tar_name = digest_hex(base.diff_id) + "/layer.tar";
  files[tar_name] = base.tar;
  files[hex_of(config_a) + ".json"] = config_a;
  files[hex_of(config_b) + ".json"] = config_b;
  files["manifest.json"] =
      json::array(
          {{{"Config", hex_of(config_a) + ".json"}, {"RepoTags", {"a:1"}}, {"Layers", {tar_name}}},
           {{"Config", hex_of(config_b) + ".json"}, {"RepoTags", {"b:1"}}, {"Layers", {tar_name}}}})
          .dump();
  std::string archive = write("two.tar", tar_of(files));
  Store store(root_);
  auto only_b = store.load(parse("docker-archive:" + archive + ":b:1"));
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b.front().id, hex_of(config_b));
  EXPECT_EQ(store.list().size(), 1u);
  EXPECT_EQ(store.load(parse("docker-archive:" + archive)).size(), 2u);
  EXPECT_NE(load_error(store, "docker-archive:" + archive + ":c")
                .find("no image is named "
                      "localhost/c:latest"),
            std::string::npos);
}

TEST_F(StoreTest, ImportsARootfsTarball) {
  std::string tarball = write("rootfs.tar.gz", gzip(make_tar({{"etc/os-release", "ID=test\n"}})));
  Store store(root_);
  ImageRecord image = store.import_rootfs(tarball, "rootfs:1");
  EXPECT_EQ(image.names, (std::vector<std::string>{"localhost/rootfs:1"}));
  EXPECT_EQ(image.config.architecture, host_architecture());
  EXPECT_EQ(image.config.os, "linux");
  ASSERT_EQ(image.layers.size(), 1u);
  EXPECT_EQ(image.config.diff_ids, image.layers);
  EXPECT_EQ(image.config.env.size(), 1u);
  EXPECT_TRUE(image.config.env.front().starts_with("PATH=/usr/local/sbin:"));
  EXPECT_EQ(read_text(store.layer_path(image.layers.front()) / "etc" / "os-release"), "ID=test\n");
  EXPECT_EQ(sha256_digest(read_text(root_ / "blobs" / "sha256" / image.id)), "sha256:" + image.id);
  EXPECT_EQ(store.find("rootfs:1")->id, image.id);
}

// ---------------------------------------------------------------- refusals

TEST_F(StoreTest, ACorruptLayerBlobIsRefusedAndNothingIsKept) {
  Layer base = base_layer(), app = app_layer();
  std::string config = make_config({base, app});
  std::string good = gzip(base.tar);
  std::string bad = gzip(app.tar);
  Files files = oci_layout(config, {good, bad}, "application/vnd.oci.image.layer.v1.tar+gzip",
                           "localhost/app:1");
  std::string listed = sha256_digest(bad);
  std::string corrupted = gzip(make_tar({{"app/version", "evil\n"}}));
  files[blob_path(bad)] = corrupted;
  std::string archive = write("corrupt.tar", tar_of(files));
  Store store(root_);
  std::string message = load_error(store, "oci-archive:" + archive);
  EXPECT_NE(message.find(blob_path(bad) + " in " + archive), std::string::npos) << message;
  EXPECT_NE(message.find(sha256_digest(corrupted)), std::string::npos) << message;
  EXPECT_NE(message.find(listed), std::string::npos) << message;
  expect_store_empty();
}

TEST_F(StoreTest, ALegacyLayerNotMatchingItsDiffIdIsRefused) {
  Layer base = base_layer(), app = app_layer();
  std::string config = make_config({base, app});
  Layer forged = make_layer({{"app/version", "evil\n"}});
  std::string archive =
      write("forged.tar", legacy_docker_archive({base, forged}, config, {"forged:1"}));
  Store store(root_);
  std::string message = load_error(store, "docker-archive:" + archive);
  EXPECT_NE(message.find(forged.diff_id), std::string::npos) << message;
  EXPECT_NE(message.find(app.diff_id), std::string::npos) << message;
  // The base layer unpacked fine, yet nothing of the failed load stays.
  expect_store_empty();
}

TEST_F(StoreTest, ACorruptConfigIsRefused) {
  Layer base = base_layer();
  std::string config = make_config({base});
  Files files = oci_layout(config, {base.tar}, "application/vnd.oci.image.layer.v1.tar", "a");
  files[blob_path(config)] = make_config({base}, "", "EVIL=1");
  std::string archive = write("config.tar", tar_of(files));
  Store store(root_);
  std::string message = load_error(store, "oci-archive:" + archive);
  EXPECT_NE(message.find(sha256_digest(config)), std::string::npos) << message;
  expect_store_empty();
}

TEST_F(StoreTest, UnsafeArchivePathsAreRefused) {
  Store store(root_);
  std::string climbing = write("climb.tar", make_tar({{"../escaped", "x"}}));
  EXPECT_NE(load_error(store, "docker-archive:" + climbing).find("refusing entry \"../escaped\""),
            std::string::npos);
  std::string through_link =
      write("link.tar", make_tar({{"out", "", AE_IFLNK, dir_.string()}, {"out/planted", "x"}}));
  EXPECT_NE(load_error(store, "docker-archive:" + through_link).find("refusing entry"),
            std::string::npos);
  EXPECT_FALSE(stdfs::exists(dir_ / "planted"));
  EXPECT_FALSE(stdfs::exists(root_ / "escaped"));
  expect_store_empty();
}

TEST_F(StoreTest, AnArchiveOfTheOtherKindLoadsOrSaysWhichTransport) {
  Layer base = base_layer();
  std::string archive = write(
      "oci.tar", tar_of(oci_layout(make_config({base}), {base.tar},
                                   "application/vnd.oci.image.layer.v1.tar", "localhost/x:1")));
  Store store(root_);
  EXPECT_EQ(store.load(parse("docker-archive:" + archive)).front().names,
            (std::vector<std::string>{"localhost/x:1"}));
  EXPECT_NE(load_error(store, "docker-archive:" + archive + ":x:1").find("use the oci-archive:"),
            std::string::npos);
  std::string junk = write("junk.tar", make_tar({{"readme", "hi"}}));
  EXPECT_NE(load_error(store, "oci-archive:" + junk).find("neither manifest.json nor index.json"),
            std::string::npos);
}

TEST_F(StoreTest, WorkLeftByAnInterruptedLoadIsSweptButWorkInUseIsNot) {
  Store store(root_);
  stdfs::path abandoned = root_ / "tmp" / "load-0123456789abcdef";
  stdfs::path in_use = root_ / "tmp" / "load-fedcba9876543210";
  write("store/tmp/load-0123456789abcdef/archive/manifest.json", "[]");
  write("store/tmp/load-fedcba9876543210/archive/manifest.json", "[]");
  roost::UniqueFd held(::open(in_use.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(held);
  ASSERT_EQ(::flock(held.get(), LOCK_EX), 0);
  Layer base = base_layer();
  std::string archive = write("a.tar", legacy_docker_archive({base}, make_config({base}), {}));
  store.load(parse("docker-archive:" + archive));
  EXPECT_FALSE(stdfs::exists(abandoned));
  EXPECT_TRUE(stdfs::exists(in_use / "archive" / "manifest.json"));
}

// ---------------------------------------------------------------- names

class NamedStoreTest : public StoreTest {
 protected:
  ImageRecord load_image(Store& store, const std::string& env,
                         const std::vector<std::string>& tags) {
    std::string config = make_config({base_}, "", env);
    std::string archive = write(env + ".tar", legacy_docker_archive({base_}, config, tags));
    return store.load(parse("docker-archive:" + archive)).front();
  }

  Layer base_ = base_layer();
};

TEST_F(NamedStoreTest, FindsByNameShortNameAndId) {
  Store store(root_);
  ImageRecord image = load_image(store, "A=1", {"busybox:1"});
  EXPECT_EQ(store.find("busybox:1")->id, image.id);
  EXPECT_EQ(store.find("localhost/busybox:1")->id, image.id);
  EXPECT_EQ(store.find(image.id)->id, image.id);
  EXPECT_EQ(store.find(image.id.substr(0, 12))->id, image.id);
  EXPECT_EQ(store.find("sha256:" + image.id)->id, image.id);
  EXPECT_EQ(store.find("busybox@sha256:" + image.id)->id, image.id);
  EXPECT_FALSE(store.find("busybox").has_value());
  EXPECT_FALSE(store.find("busybox:2").has_value());
  store.tag("busybox:1", "busybox");
  EXPECT_EQ(store.find("busybox")->id, image.id);
  EXPECT_EQ(store.find("busybox")->names,
            (std::vector<std::string>{"localhost/busybox:1", "localhost/busybox:latest"}));
}

TEST_F(NamedStoreTest, ShortNamesPreferLocalhostAndRefuseAmbiguity) {
  Store store(root_);
  ImageRecord local = load_image(store, "A=1", {"localhost/tool:1"});
  ImageRecord hub =
      load_image(store, "B=2", {"docker.io/library/tool:1", "docker.io/library/only:1"});
  ImageRecord quay = load_image(store, "C=3", {"quay.io/tool:1", "quay.io/only:1"});
  EXPECT_EQ(store.find("tool:1")->id, local.id);
  EXPECT_EQ(store.find("docker.io/tool:1")->id, hub.id);
  std::string message = error_of([&] { store.find("only:1"); });
  EXPECT_NE(message.find("image name only:1 is ambiguous"), std::string::npos) << message;
  EXPECT_NE(message.find("docker.io/library/only:1"), std::string::npos) << message;
  store.remove("quay.io/only:1");
  EXPECT_EQ(store.find("only:1")->id, hub.id);
  EXPECT_EQ(store.find("library/only:1")->id, hub.id);
}

TEST_F(NamedStoreTest, AnAmbiguousIdPrefixIsAnError) {
  Store store(root_);
  std::map<char, std::string> first_digits;
  std::string shared;
  for (int i = 0; shared.empty() && i < 17; ++i) {
    ImageRecord image = load_image(store, fmt::format("N={}", i), {});
    auto [it, fresh] = first_digits.emplace(image.id[0], image.id);
    if (!fresh) shared = std::string(1, image.id[0]);
  }
  ASSERT_FALSE(shared.empty());
  std::string message = error_of([&] { store.find(shared); });
  EXPECT_NE(message.find("image id prefix " + shared + " matches 2 images"), std::string::npos)
      << message;
}

TEST_F(NamedStoreTest, ANameMovesToTheImageLoadedOrTaggedLast) {
  Store store(root_);
  ImageRecord first = load_image(store, "A=1", {"app:1", "app:stable"});
  ImageRecord second = load_image(store, "B=2", {"app:1"});
  EXPECT_EQ(store.find("app:1")->id, second.id);
  EXPECT_EQ(store.find(first.id)->names, (std::vector<std::string>{"localhost/app:stable"}));
  store.tag(first.id.substr(0, 8), "app:1");
  EXPECT_EQ(store.find("app:1")->id, first.id);
  EXPECT_TRUE(store.find(second.id)->names.empty());
  EXPECT_THROW(store.tag("app:1", "docker://x"), UsageError);
  EXPECT_EQ(error_of([&] { store.tag("nope:1", "x"); }),
            "image nope:1 not known; see 'roost images'");
}

TEST_F(NamedStoreTest, RemovingUntagsThenDeletesAndCollectsLayers) {
  Store store(root_);
  Layer app = app_layer();
  ImageRecord shared = load_image(store, "A=1", {"shared:1"});
  std::string config = make_config({base_, app});
  std::string archive =
      write("two.tar", legacy_docker_archive({base_, app}, config, {"two:1", "two:2"}));
  ImageRecord two = store.load(parse("docker-archive:" + archive)).front();

  EXPECT_EQ(store.remove("two:1"), (std::vector<std::string>{"Untagged: localhost/two:1"}));
  EXPECT_TRUE(stdfs::exists(store.layer_path(app.diff_id)));
  EXPECT_EQ(store.remove("two:2"),
            (std::vector<std::string>{"Untagged: localhost/two:2", "Deleted: " + two.id}));
  EXPECT_FALSE(stdfs::exists(store.layer_path(app.diff_id)));
  EXPECT_FALSE(stdfs::exists(root_ / "blobs" / "sha256" / two.id));
  EXPECT_FALSE(stdfs::exists(root_ / "images" / (two.id + ".json")));
  EXPECT_TRUE(stdfs::exists(store.layer_path(base_.diff_id) / "etc" / "hostname"));

  EXPECT_EQ(error_of([&] { store.remove("two:1"); }), "image two:1 not known; see 'roost images'");
  EXPECT_EQ(store.remove(shared.id),
            (std::vector<std::string>{"Untagged: localhost/shared:1", "Deleted: " + shared.id}));
  expect_store_empty();
}

// ---------------------------------------------------------------- concurrency

TEST_F(StoreTest, TwoConcurrentLoadsLeaveOneConsistentStore) {
  std::vector<Entry> big;
  for (int i = 0; i < 64; ++i)
    big.push_back(
        {fmt::format("data/file{}", i), std::string(64 * 1024, static_cast<char>('a' + i % 26))});
  Layer base = base_layer(), data = make_layer(big);
  std::string config = make_config({base, data});
  std::string archive = write("race.tar", legacy_docker_archive({base, data}, config, {"race:1"}));

  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int status = 0;
      try {
        Store(root_).load(parse("docker-archive:" + archive));
      } catch (const std::exception& error) {
        fmt::print(stderr, "child load failed: {}\n", error.what());
        status = 1;
      }
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  Store store(root_);
  auto images = store.list();
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images.front().names, (std::vector<std::string>{"localhost/race:1"}));
  EXPECT_EQ(images.front().size, base.tar.size() + data.tar.size());
  EXPECT_EQ(entries_of(root_ / "images"), (std::set<std::string>{images.front().id + ".json"}));
  EXPECT_EQ(entries_of(root_ / "layers").size(), 4u);  // two layer dirs, two info files
  EXPECT_EQ(read_text(store.layer_path(data.diff_id) / "data" / "file1"),
            std::string(64 * 1024, 'b'));
  EXPECT_TRUE(entries_of(root_ / "tmp").empty());
}

}  // namespace
