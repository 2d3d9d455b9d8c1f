#include "image/layout.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "image/config.hpp"
#include "image/digest.hpp"

namespace roost::image {

namespace {

using nlohmann::json;

// Manifests and configs are small; a bigger file is not what it claims to be.
constexpr off_t kMaxJsonSize = 32 << 20;
constexpr int kMaxIndexDepth = 4;

constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr std::string_view kContainerdNameAnnotation = "io.containerd.image.name";

int open_beneath(int root_fd, std::string_view relative) {
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string path(relative);
  return static_cast<int>(::syscall(SYS_openat2, root_fd, path.c_str(), &how, sizeof how));
}

json parse_json(const std::string& text, const std::string& origin) {
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded()) throw Error(fmt::format("{}: not valid JSON", origin));
  return value;
}

const json& object_at(const json& object, std::string_view key) {
  static const json empty = json::object();
  if (!object.is_object()) return empty;
  auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : empty;
}

std::string string_at(const json& object, std::string_view key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

const json& array_at(const json& object, std::string_view key, const std::string& origin) {
  static const json empty = json::array();
  if (!object.is_object()) throw Error(fmt::format("{}: not a JSON object", origin));
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return empty;
  if (!it->is_array()) throw Error(fmt::format("{}: \"{}\" is not a list", origin, key));
  return *it;
}

std::string canonical_name_of(const std::string& name, const std::string& origin) {
  Reference reference = with_context(origin, [&] { return parse_reference(name); });
  if (reference.transport != Transport::Store)
    throw Error(fmt::format("{}: \"{}\" is not an image name", origin, name));
  return reference.canonical_name();
}

// Docker names the blobs of its newer layout blobs/sha256/HEX and legacy configs
// HEX.json; both spell out the digest the content must have.
std::string digest_in_path(std::string_view path, bool legacy_config) {
  if (path.starts_with("./")) path.remove_prefix(2);
  if (path.starts_with("blobs/sha256/") && is_hex_id(path.substr(13)))
    return "sha256:" + std::string(path.substr(13));
  if (legacy_config && path.ends_with(".json") && is_hex_id(path.substr(0, path.size() - 5)))
    return "sha256:" + std::string(path.substr(0, path.size() - 5));
  return "";
}

ImageSource docker_manifest_item(const json& item, const std::string& origin) {
  ImageSource image;
  image.config_path = string_at(item, "Config");
  if (image.config_path.empty()) throw Error(fmt::format("{}: an image has no Config", origin));
  image.config_digest = digest_in_path(image.config_path, true);
  for (const json& layer : array_at(item, "Layers", origin)) {
    if (!layer.is_string()) throw Error(fmt::format("{}: a layer path is not a string", origin));
    std::string path = layer.get<std::string>();
    image.layers.push_back({path, digest_in_path(path, false)});
  }
  for (const json& tag : array_at(item, "RepoTags", origin)) {
    if (!tag.is_string()) throw Error(fmt::format("{}: a RepoTag is not a string", origin));
    image.names.push_back(canonical_name_of(tag.get<std::string>(), origin));
  }
  return image;
}

std::vector<ImageSource> select_named(std::vector<ImageSource> images, const Reference& source,
                                      const std::string& origin) {
  std::string wanted = source.canonical_name();
  std::vector<std::string> known;
  for (auto& image : images) {
    if (std::find(image.names.begin(), image.names.end(), wanted) != image.names.end())
      return {std::move(image)};
    known.insert(known.end(), image.names.begin(), image.names.end());
  }
  throw Error(fmt::format("{}: no image is named {} (names: {})", origin, wanted,
                          known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))));
}

std::string blob_path(const std::string& digest, const std::string& origin) {
  if (!is_sha256_digest(digest))
    throw Error(fmt::format("{}: \"{}\" is not a sha256 digest; only sha256 blobs are supported",
                            origin, digest));
  return "blobs/sha256/" + digest_hex(digest);
}

json read_verified_json(const LayoutDir& layout, const std::string& digest,
                        const std::string& origin) {
  std::string path = blob_path(digest, origin);
  std::string content = layout.read(path);
  std::string actual = sha256_digest(content);
  if (actual != digest)
    throw Error(fmt::format("{}: blob has digest {} but is listed as {}", layout.describe(path),
                            actual, digest));
  return parse_json(content, layout.describe(path));
}

bool is_index(const json& descriptor, const json& content) {
  std::string type = string_at(descriptor, "mediaType");
  if (type.empty()) type = string_at(content, "mediaType");
  if (type == "application/vnd.oci.image.index.v1+json" ||
      type == "application/vnd.docker.distribution.manifest.list.v2+json")
    return true;
  return type.empty() && content.contains("manifests");
}

bool is_runnable_platform(const json& descriptor) {
  return string_at(object_at(descriptor, "platform"), "os") != "unknown";
}

const json& choose_platform(const json& manifests, const std::string& origin) {
  std::string host = host_architecture();
  for (const json& descriptor : manifests) {
    const json& platform = object_at(descriptor, "platform");
    if (string_at(platform, "os") == "linux" && string_at(platform, "architecture") == host)
      return descriptor;
  }
  for (const json& descriptor : manifests) {
    if (is_runnable_platform(descriptor)) {
      spdlog::debug("{}: no manifest for linux/{}; taking the first one", origin, host);
      return descriptor;
    }
  }
  throw Error(fmt::format("{}: the image index lists no manifests", origin));
}

json resolve_manifest(const LayoutDir& layout, const json& descriptor, int depth) {
  const std::string origin = layout.describe("index.json");
  json content = read_verified_json(layout, string_at(descriptor, "digest"), origin);
  if (!is_index(descriptor, content)) return content;
  if (depth >= kMaxIndexDepth)
    throw Error(fmt::format("{}: image indexes nest more than {} deep", origin, kMaxIndexDepth));
  return resolve_manifest(layout, choose_platform(array_at(content, "manifests", origin), origin),
                          depth + 1);
}

void check_layer_type(const json& layer, const std::string& origin) {
  std::string type = string_at(layer, "mediaType");
  if (type.ends_with("+encrypted"))
    throw Error(fmt::format("{}: layer {} is encrypted ({}); encrypted layers are not supported",
                            origin, string_at(layer, "digest"), type));
}

ImageSource oci_manifest_image(const json& manifest, const std::string& origin) {
  ImageSource image;
  image.config_digest = string_at(object_at(manifest, "config"), "digest");
  image.config_path = blob_path(image.config_digest, origin);
  for (const json& layer : array_at(manifest, "layers", origin)) {
    check_layer_type(layer, origin);
    std::string digest = string_at(layer, "digest");
    image.layers.push_back({blob_path(digest, origin), digest});
  }
  return image;
}

std::string annotation(const json& descriptor, std::string_view key) {
  return string_at(object_at(descriptor, "annotations"), key);
}

// An OCI archive names its image like podman 4.3 does: the containerd name or else the
// ref name, taken as an image name ("app" is localhost/app:latest).
std::vector<std::string> archive_names(const json& descriptor, const std::string& origin) {
  std::string name = annotation(descriptor, kContainerdNameAnnotation);
  if (name.empty()) name = annotation(descriptor, kRefNameAnnotation);
  if (name.empty()) return {};
  try {
    return {canonical_name_of(name, origin)};
  } catch (const UsageError& error) {
    spdlog::warn("{}; loading the image without a name", error.what());
    return {};
  }
}

std::string directory_stem(const std::string& path) {
  std::filesystem::path directory = std::filesystem::path(path).lexically_normal();
  if (!directory.has_filename()) directory = directory.parent_path();
  std::string stem = directory.filename().string();
  std::transform(stem.begin(), stem.end(), stem.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return stem;
}

// An OCI directory's ref name is usually a bare tag (skopeo's oci:DIR:TAG); the image
// is then named after the directory: oci:busybox:1 gives localhost/busybox:1.
std::vector<std::string> directory_names(const json& descriptor, const Reference& source,
                                         const std::string& origin) {
  std::string name = annotation(descriptor, kContainerdNameAnnotation);
  std::string ref_name = annotation(descriptor, kRefNameAnnotation);
  if (name.empty() && ref_name.find_first_of("/:") != std::string::npos) name = ref_name;
  if (name.empty())
    name = fmt::format("localhost/{}:{}", directory_stem(source.path),
                       ref_name.empty() ? "latest" : ref_name);
  try {
    return {canonical_name_of(name, origin)};
  } catch (const UsageError& error) {
    spdlog::warn("{}; loading the image without a name", error.what());
    return {};
  }
}

bool descriptor_has_name(const json& descriptor, const std::string& wanted) {
  return annotation(descriptor, kRefNameAnnotation) == wanted ||
         annotation(descriptor, kContainerdNameAnnotation) == wanted;
}

std::string listed_names(const json& manifests) {
  std::vector<std::string> names;
  for (const json& descriptor : manifests) {
    std::string name = annotation(descriptor, kRefNameAnnotation);
    names.push_back(name.empty() ? "(unnamed)" : name);
  }
  return names.empty() ? "none" : fmt::format("{}", fmt::join(names, ", "));
}

const json& select_descriptor(const json& manifests, const Reference& source,
                              const std::string& origin) {
  if (!source.tag.empty()) {
    for (const json& descriptor : manifests) {
      if (descriptor_has_name(descriptor, source.tag)) return descriptor;
    }
    throw Error(fmt::format("{}: no image is named {} (names: {})", origin, source.tag,
                            listed_names(manifests)));
  }
  if (manifests.size() == 1) return manifests.front();
  if (manifests.empty()) throw Error(fmt::format("{}: the layout holds no images", origin));
  throw Error(
      fmt::format("{}: the layout holds {} images; choose one by adding :NAME to the "
                  "path (names: {})",
                  origin, manifests.size(), listed_names(manifests)));
}

}  // namespace

LayoutDir::LayoutDir(const std::filesystem::path& directory, std::string label, FileDigests known)
    : label_(std::move(label)), digests_(std::move(known)) {
  root_.reset(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root_) throw_errno(fmt::format("open image layout {}", directory.string()));
}

LayoutDir::LayoutDir(const std::filesystem::path& directory, std::string label,
                     std::unique_ptr<PartialExtraction> extraction)
    : LayoutDir(directory, std::move(label), extraction->digests()) {
  extraction_ = std::move(extraction);
}

// 0 unless the file is a placeholder still waiting for its data.
ino_t LayoutDir::pending_inode(int fd, std::string_view relative) const {
  if (!extraction_) return 0;
  struct stat st;
  if (::fstat(fd, &st) < 0) throw_errno(fmt::format("stat {}", describe(relative)));
  return S_ISREG(st.st_mode) && extraction_->is_placeholder(st.st_ino) ? st.st_ino : 0;
}

void LayoutDir::fill_inodes(const std::vector<ino_t>& inodes) const {
  if (inodes.empty()) return;
  extraction_->fill(inodes);
  for (ino_t inode : inodes) {
    auto digest = extraction_->digests().find(inode);
    if (digest != extraction_->digests().end()) digests_[inode] = digest->second;
  }
}

bool LayoutDir::pending(std::string_view relative) const {
  if (!extraction_) return false;
  UniqueFd fd(open_beneath(root_.get(), relative));
  return fd && pending_inode(fd.get(), relative) != 0;
}

void LayoutDir::fill(const std::vector<std::string>& relatives) const {
  if (!extraction_) return;
  std::vector<ino_t> inodes;
  for (const auto& relative : relatives) {
    UniqueFd fd(open_beneath(root_.get(), relative));
    if (!fd) continue;
    if (ino_t inode = pending_inode(fd.get(), relative)) inodes.push_back(inode);
  }
  fill_inodes(inodes);
}

std::string LayoutDir::describe(std::string_view relative) const {
  return fmt::format("{} in {}", relative, label_);
}

bool LayoutDir::contains(std::string_view relative) const {
  UniqueFd fd(open_beneath(root_.get(), relative));
  if (fd) return true;
  if (errno == ENOENT) return false;
  throw_errno(fmt::format("open {}", describe(relative)));
}

UniqueFd LayoutDir::open(std::string_view relative) const {
  UniqueFd fd(open_beneath(root_.get(), relative));
  if (!fd && errno == ENOENT) throw Error(fmt::format("{}: missing", describe(relative)));
  if (!fd) throw_errno(fmt::format("open {}", describe(relative)));
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) throw_errno(fmt::format("stat {}", describe(relative)));
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("{}: not a regular file", describe(relative)));
  if (ino_t inode = pending_inode(fd.get(), relative)) fill_inodes({inode});
  return fd;
}

std::string LayoutDir::read(std::string_view relative) const {
  UniqueFd fd = open(relative);
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) throw_errno(fmt::format("stat {}", describe(relative)));
  if (st.st_size > kMaxJsonSize)
    throw Error(
        fmt::format("{}: {} bytes is too big for image metadata", describe(relative), st.st_size));
  std::string content(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::pread(fd.get(), content.data() + done, content.size() - done, done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(fmt::format("read {}", describe(relative)));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  content.resize(done);
  return content;
}

std::string LayoutDir::digest_of(int fd, std::string_view relative) const {
  struct stat st;
  if (::fstat(fd, &st) < 0) throw_errno(fmt::format("stat {}", describe(relative)));
  auto known = digests_.find(st.st_ino);
  if (known != digests_.end()) return known->second;
  std::string digest = sha256_digest_of_file(fd, describe(relative));
  digests_.emplace(st.st_ino, digest);
  return digest;
}

void LayoutDir::remember_digest(std::string_view relative, std::string digest) {
  UniqueFd fd = open(relative);
  struct stat st;
  if (::fstat(fd.get(), &st) < 0) throw_errno(fmt::format("stat {}", describe(relative)));
  digests_[st.st_ino] = std::move(digest);
}

std::vector<ImageSource> docker_archive_images(const LayoutDir& layout, const Reference& source) {
  const std::string origin = layout.describe("manifest.json");
  json manifest = parse_json(layout.read("manifest.json"), origin);
  if (!manifest.is_array()) throw Error(fmt::format("{}: not a list of images", origin));
  std::vector<ImageSource> images;
  for (const json& item : manifest) images.push_back(docker_manifest_item(item, origin));
  if (images.empty()) throw Error(fmt::format("{}: the archive holds no images", origin));
  if (!source.name.empty()) return select_named(std::move(images), source, origin);
  return images;
}

bool oci_layout_lists_images(const LayoutDir& layout) {
  const std::string origin = layout.describe("index.json");
  json index = parse_json(layout.read("index.json"), origin);
  return index.is_object() && !array_at(index, "manifests", origin).empty();
}

std::vector<ImageSource> oci_layout_images(const LayoutDir& layout, const Reference& source) {
  const std::string origin = layout.describe("index.json");
  json index = parse_json(layout.read("index.json"), origin);
  if (!index.is_object()) throw Error(fmt::format("{}: not a JSON object", origin));
  const json& descriptor = select_descriptor(array_at(index, "manifests", origin), source, origin);
  ImageSource image = oci_manifest_image(resolve_manifest(layout, descriptor, 0), origin);
  image.names = source.transport == Transport::OciDir ? directory_names(descriptor, source, origin)
                                                      : archive_names(descriptor, origin);
  return {image};
}

}  // namespace roost::image
