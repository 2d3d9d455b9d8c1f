#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/rootless/support/tarball.hpp"

namespace rootless {

// An image assembled by hand from tar streams, for layers no real tool would write.
struct ImageSpec {
  std::vector<std::string> layers;                   // uncompressed tar streams, bottom first
  nlohmann::json config = nlohmann::json::object();  // the config's "config" (Cmd, Env, ...)
  std::string architecture;                          // empty: the host's
  std::string os = "linux";
  std::string name = "localhost/handmade:1";
  // When set, the config claims these diff ids instead of the layers' real digests.
  std::vector<std::string> claimed_diff_ids;
};

// The host's architecture as OCI names it (amd64, arm64, ...).
std::string host_architecture();

// sha256 hex digests of the layers' uncompressed streams.
std::vector<std::string> diff_ids(const ImageSpec& spec);

enum class DockerLayout {
  Legacy,    // ID/layer.tar, ID/json, CONFIG.json, manifest.json, repositories
  Docker25,  // an OCI layout (blobs/sha256, index.json) plus manifest.json
};

void write_docker_archive(const std::filesystem::path& file, const ImageSpec& spec,
                          DockerLayout layout);

// An OCI image layout directory holding the image under `tag`.
void write_oci_layout(const std::filesystem::path& dir, const ImageSpec& spec,
                      const std::string& tag, Compression compression = Compression::None);

// An OCI image layout whose `tag` names an image index listing one manifest per spec,
// each with its spec's platform (os and architecture), as multi-platform images are kept.
void write_oci_index_layout(const std::filesystem::path& dir, const std::vector<ImageSpec>& specs,
                            const std::string& tag, Compression compression = Compression::Gzip);

// The same layout as an oci-archive, its reference name being `spec.name`.
void write_oci_archive(const std::filesystem::path& file, const ImageSpec& spec,
                       Compression compression = Compression::None);

void write_file(const std::filesystem::path& path, const std::string& data);
std::string read_file(const std::filesystem::path& path);

}  // namespace rootless
