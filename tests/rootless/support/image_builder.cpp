#include "tests/rootless/support/image_builder.hpp"

#include <sys/utsname.h>

#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace rootless {

namespace {

using nlohmann::json;

constexpr const char* kManifestType = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kConfigType = "application/vnd.oci.image.config.v1+json";

struct Blob {
  std::string hex;
  std::string data;
  std::string media_type;

  json descriptor() const {
    return {{"mediaType", media_type}, {"digest", "sha256:" + hex}, {"size", data.size()}};
  }
};

Blob make_blob(std::string data, std::string media_type) {
  std::string hex = sha256_hex(data);
  return {std::move(hex), std::move(data), std::move(media_type)};
}

std::string config_text(const ImageSpec& spec) {
  json ids = json::array();
  for (const auto& id : spec.claimed_diff_ids.empty() ? diff_ids(spec) : spec.claimed_diff_ids)
    ids.push_back("sha256:" + id);
  json config = {
      {"architecture", spec.architecture.empty() ? host_architecture() : spec.architecture},
      {"os", spec.os},
      {"created", "2024-01-01T00:00:00Z"},
      {"config", spec.config},
      {"rootfs", {{"type", "layers"}, {"diff_ids", ids}}},
  };
  return config.dump();
}

std::string layer_media_type(Compression compression) {
  switch (compression) {
    case Compression::Gzip:
      return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::Zstd:
      return "application/vnd.oci.image.layer.v1.tar+zstd";
    default:
      return "application/vnd.oci.image.layer.v1.tar";
  }
}

// The blobs of an OCI image: layers, config, manifest (last).
std::vector<Blob> oci_blobs(const ImageSpec& spec, const std::vector<std::string>& layer_data,
                            Compression compression) {
  std::vector<Blob> blobs;
  json layers = json::array();
  for (const auto& data : layer_data) {
    blobs.push_back(make_blob(data, layer_media_type(compression)));
    layers.push_back(blobs.back().descriptor());
  }
  blobs.push_back(make_blob(config_text(spec), kConfigType));
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", kManifestType},
                   {"config", blobs.back().descriptor()},
                   {"layers", layers}};
  blobs.push_back(make_blob(manifest.dump(), kManifestType));
  return blobs;
}

std::string oci_index(const Blob& manifest, const std::string& ref_name,
                      const std::string& image_name) {
  json annotations = {{"org.opencontainers.image.ref.name", ref_name}};
  if (!image_name.empty()) annotations["io.containerd.image.name"] = image_name;
  json descriptor = manifest.descriptor();
  descriptor["annotations"] = annotations;
  return json{{"schemaVersion", 2},
              {"mediaType", "application/vnd.oci.image.index.v1+json"},
              {"manifests", json::array({descriptor})}}
      .dump();
}

const std::string kOciLayoutFile = R"({"imageLayoutVersion":"1.0.0"})";

// Files of an OCI layout, path to content; the index names the image `ref_name`.
std::map<std::string, std::string> oci_layout_files(const std::vector<Blob>& blobs,
                                                    const std::string& ref_name,
                                                    const std::string& image_name) {
  std::map<std::string, std::string> files;
  for (const auto& blob : blobs) files["blobs/sha256/" + blob.hex] = blob.data;
  files["oci-layout"] = kOciLayoutFile;
  files["index.json"] = oci_index(blobs.back(), ref_name, image_name);
  return files;
}

std::vector<TarEntry> as_tar_entries(const std::map<std::string, std::string>& files) {
  std::vector<TarEntry> entries;
  std::map<std::string, bool> dirs;
  for (const auto& [path, data] : files) {
    for (auto slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string dir = path.substr(0, slash);
      if (!dirs[dir]) entries.push_back(TarEntry::directory(dir));
      dirs[dir] = true;
    }
    entries.push_back(TarEntry::file(path, data));
  }
  return entries;
}

std::string repo_of(const std::string& name) {
  return name.substr(0, name.rfind(':'));
}
std::string tag_of(const std::string& name) {
  return name.substr(name.rfind(':') + 1);
}

std::map<std::string, std::string> legacy_docker_files(const ImageSpec& spec) {
  std::map<std::string, std::string> files;
  std::string config = config_text(spec);
  std::string config_name = sha256_hex(config) + ".json";
  files[config_name] = config;
  json layer_paths = json::array();
  std::string parent;
  for (const auto& layer : spec.layers) {
    std::string id = sha256_hex(parent + sha256_hex(layer));
    files[id + "/layer.tar"] = layer;
    files[id + "/VERSION"] = "1.0";
    json layer_json = {{"id", id}};
    if (!parent.empty()) layer_json["parent"] = parent;
    files[id + "/json"] = layer_json.dump();
    layer_paths.push_back(id + "/layer.tar");
    parent = id;
  }
  json manifest =
      json::array({{{"Config", config_name}, {"RepoTags", {spec.name}}, {"Layers", layer_paths}}});
  files["manifest.json"] = manifest.dump();
  files["repositories"] = json{{repo_of(spec.name), {{tag_of(spec.name), parent}}}}.dump();
  return files;
}

std::map<std::string, std::string> docker25_files(const ImageSpec& spec) {
  std::vector<Blob> blobs = oci_blobs(spec, spec.layers, Compression::None);
  auto files = oci_layout_files(blobs, tag_of(spec.name), spec.name);
  json layer_paths = json::array();
  for (size_t i = 0; i < spec.layers.size(); ++i)
    layer_paths.push_back("blobs/sha256/" + blobs[i].hex);
  const Blob& config = blobs[blobs.size() - 2];
  json manifest = json::array({{{"Config", "blobs/sha256/" + config.hex},
                                {"RepoTags", {spec.name}},
                                {"Layers", layer_paths}}});
  files["manifest.json"] = manifest.dump();
  return files;
}

std::vector<std::string> layers_compressed(const ImageSpec& spec, Compression compression) {
  std::vector<std::string> out;
  for (const auto& layer : spec.layers) out.push_back(compress(layer, compression));
  return out;
}

}  // namespace

std::string host_architecture() {
  utsname name{};
  ::uname(&name);
  static const std::map<std::string, std::string> kGoNames = {
      {"x86_64", "amd64"},    {"aarch64", "arm64"}, {"armv7l", "arm"},     {"i686", "386"},
      {"ppc64le", "ppc64le"}, {"s390x", "s390x"},   {"riscv64", "riscv64"}};
  auto it = kGoNames.find(name.machine);
  return it == kGoNames.end() ? name.machine : it->second;
}

std::vector<std::string> diff_ids(const ImageSpec& spec) {
  std::vector<std::string> ids;
  for (const auto& layer : spec.layers) ids.push_back(sha256_hex(layer));
  return ids;
}

void write_docker_archive(const std::filesystem::path& file, const ImageSpec& spec,
                          DockerLayout layout) {
  auto files = layout == DockerLayout::Legacy ? legacy_docker_files(spec) : docker25_files(spec);
  write_file(file, make_tar(as_tar_entries(files)));
}

void write_oci_layout(const std::filesystem::path& dir, const ImageSpec& spec,
                      const std::string& tag, Compression compression) {
  auto layers = layers_compressed(spec, compression);
  auto files = oci_layout_files(oci_blobs(spec, layers, compression), tag, "");
  for (const auto& [path, data] : files) write_file(dir / path, data);
}

void write_oci_index_layout(const std::filesystem::path& dir, const std::vector<ImageSpec>& specs,
                            const std::string& tag, Compression compression) {
  std::map<std::string, std::string> files;
  json manifests = json::array();
  for (const auto& spec : specs) {
    std::vector<Blob> blobs = oci_blobs(spec, layers_compressed(spec, compression), compression);
    for (const auto& blob : blobs) files["blobs/sha256/" + blob.hex] = blob.data;
    json descriptor = blobs.back().descriptor();
    descriptor["platform"] = {
        {"os", spec.os},
        {"architecture", spec.architecture.empty() ? host_architecture() : spec.architecture}};
    manifests.push_back(descriptor);
  }
  Blob index = make_blob(json{{"schemaVersion", 2},
                              {"mediaType", "application/vnd.oci.image.index.v1+json"},
                              {"manifests", manifests}}
                             .dump(),
                         "application/vnd.oci.image.index.v1+json");
  files["blobs/sha256/" + index.hex] = index.data;
  files["oci-layout"] = kOciLayoutFile;
  files["index.json"] = oci_index(index, tag, "");
  for (const auto& [path, data] : files) write_file(dir / path, data);
}

void write_oci_archive(const std::filesystem::path& file, const ImageSpec& spec,
                       Compression compression) {
  auto layers = layers_compressed(spec, compression);
  auto files = oci_layout_files(oci_blobs(spec, layers, compression), spec.name, "");
  write_file(file, make_tar(as_tar_entries(files)));
}

void write_file(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

}  // namespace rootless
