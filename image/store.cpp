#include "image/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "image/archive.hpp"
#include "image/digest.hpp"
#include "image/layer.hpp"
#include "image/layout.hpp"
#include "image/record.hpp"

namespace roost::image {

namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kDefaultPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Held while records, names and the set of layer directories change, so that
// concurrent roost processes see the store before or after a change, never during.
class StoreLock {
 public:
  StoreLock(const stdfs::path& root, bool exclusive) {
    stdfs::path path = root / "store.lock";
    fd_.reset(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd_) throw_errno(fmt::format("open {}", path.string()));
    int status;
    do {
      status = ::flock(fd_.get(), exclusive ? LOCK_EX : LOCK_SH);
    } while (status < 0 && errno == EINTR);
    if (status < 0) throw_errno(fmt::format("lock {}", path.string()));
  }

 private:
  UniqueFd fd_;
};

UniqueFd open_locked_directory(const stdfs::path& path, bool wait) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return fd;
  if (::flock(fd.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) fd.reset();
  return fd;
}

// A directory under the store's tmp/ (same filesystem, so its parts can be renamed
// into place) that is removed with whatever is left in it. It is locked while in use:
// one that nobody holds was left by an interrupted roost and is swept away.
class WorkDir {
 public:
  WorkDir(const stdfs::path& tmp, std::string_view purpose)
      : path_(tmp / fmt::format("{}-{}", purpose, fs::random_hex(8))) {
    // Made under a hidden name and locked before it gets the name sweeping looks at.
    stdfs::path hidden = tmp / ("." + path_.filename().string());
    if (::mkdir(hidden.c_str(), 0700) < 0) throw_errno(fmt::format("create {}", hidden.string()));
    lock_ = open_locked_directory(hidden, true);
    if (!lock_ || ::rename(hidden.c_str(), path_.c_str()) < 0) {
      int saved = errno;
      ::rmdir(hidden.c_str());
      throw_errno(fmt::format("set up work directory {}", path_.string()), saved);
    }
  }
  WorkDir(const WorkDir&) = delete;
  WorkDir& operator=(const WorkDir&) = delete;
  ~WorkDir() {
    try {
      fs::remove_tree(path_);
    } catch (const Error& error) {
      spdlog::warn("remove work directory {}: {}, ignoring", path_.string(), error.what());
    }
  }
  const stdfs::path& path() const { return path_; }

 private:
  stdfs::path path_;
  UniqueFd lock_;
};

void sweep_abandoned_work(const stdfs::path& tmp) {
  std::error_code error;
  for (const auto& entry : stdfs::directory_iterator(tmp, error)) {
    if (entry.path().filename().string().starts_with(".")) continue;
    UniqueFd lock = open_locked_directory(entry.path(), false);
    if (!lock) continue;
    spdlog::debug("removing {}, left behind by an interrupted roost", entry.path().string());
    try {
      fs::remove_tree(entry.path());
    } catch (const Error& failure) {
      spdlog::warn("{}, ignoring", failure.what());
    }
  }
}

// What the store knows of an unpacked layer besides its files: its size and the blob
// digests (compressed forms) already seen to unpack to it.
struct LayerInfo {
  uint64_t size = 0;
  std::set<std::string> blob_digests;
};

struct UnpackedLayerDir {
  std::string diff_id;
  stdfs::path directory;
  LayerInfo info;
};

using UnpackedLayers = std::map<std::string, UnpackedLayerDir>;  // by diff id

// An image whose config and blobs are verified, ready to be recorded.
struct PreparedImage {
  std::string id;
  std::string config_text;
  ImageConfig config;
  std::vector<std::string> names;
  std::vector<std::string> repo_digests;
  std::string manifest_digest;
  std::vector<LayerSource> layers;  // parallel to config.diff_ids; empty for imports
  std::vector<bool> known_good;     // the blob is known to unpack to its diff id
};

struct Match {
  size_t index;
  bool by_id;
  std::string name;  // the name matched, when not by id
};

[[noreturn]] void digest_mismatch(const std::string& blob, const std::string& actual,
                                  const std::string& expected) {
  throw Error(fmt::format(
      "{}: blob has digest {} but is listed as {}; the image is corrupt or was modified", blob,
      actual, expected));
}

std::string now_rfc3339() {
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", now);
}

bool directory_exists(const stdfs::path& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool has_name(const ImageRecord& record, const std::string& name) {
  return std::find(record.names.begin(), record.names.end(), name) != record.names.end();
}

bool erase_name(ImageRecord& record, const std::string& name) {
  auto it = std::find(record.names.begin(), record.names.end(), name);
  if (it == record.names.end()) return false;
  record.names.erase(it);
  return true;
}

// The name without its registry part: docker.io/library/busybox:1 -> library/busybox:1.
std::string without_registry(const std::string& name) {
  size_t slash = name.find('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

std::string canonical_image_name(const std::string& text, std::string_view operation) {
  Reference reference = parse_reference(text);
  if (reference.transport != Transport::Store || !reference.digest.empty())
    throw UsageError(fmt::format(
        "{} {}: an image name is NAME[:TAG], without a transport or digest", operation, text));
  return reference.canonical_name();
}

bool is_lower_hex_prefix(std::string_view text) {
  return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::optional<Match> match_id(const std::vector<ImageRecord>& records, std::string_view prefix) {
  std::optional<Match> found;
  size_t count = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!records[i].id.starts_with(prefix)) continue;
    if (records[i].id == prefix) return Match{i, true, ""};
    found = Match{i, true, ""};
    ++count;
  }
  if (count > 1)
    throw Error(
        fmt::format("image id prefix {} matches {} images; give more digits", prefix, count));
  return found;
}

// busybox:1 finds localhost/busybox:1 first, then the one image whose name is
// REGISTRY/busybox:1 or docker.io/library/busybox:1.
std::optional<Match> match_short_name(const std::vector<ImageRecord>& records,
                                      const std::string& short_name) {
  std::map<size_t, std::string> candidates;  // by record, the first name that fits
  std::vector<std::string> names;
  for (size_t i = 0; i < records.size(); ++i) {
    for (const auto& name : records[i].names) {
      std::string path = without_registry(name);
      if (path != short_name && path != "library/" + short_name) continue;
      candidates.emplace(i, name);
      names.push_back(name);
    }
  }
  if (candidates.empty()) return std::nullopt;
  if (candidates.size() > 1)
    throw Error(fmt::format("image name {} is ambiguous: it could be {}; use the full name",
                            short_name, fmt::join(names, ", ")));
  return Match{candidates.begin()->first, false, candidates.begin()->second};
}

// NAME@DIGEST among the digests images were pulled by; a short NAME finds
// REGISTRY/NAME@DIGEST as it finds a short NAME:TAG.
std::optional<Match> match_repo_digest(const std::vector<ImageRecord>& records,
                                       const Reference& reference) {
  Reference untagged = reference;
  untagged.tag.clear();
  std::string canonical = untagged.canonical_name();
  bool short_name =
      canonical.starts_with("localhost/") && !reference.name.starts_with("localhost/");
  std::string wanted = reference.name + "@" + reference.digest;
  for (size_t i = 0; i < records.size(); ++i) {
    for (const auto& repo_digest : records[i].repo_digests) {
      std::string path = without_registry(repo_digest);
      if (repo_digest == canonical ||
          (short_name && (path == wanted || path == "library/" + wanted)))
        return Match{i, true, ""};
    }
  }
  return std::nullopt;
}

std::optional<Match> match_name(const std::vector<ImageRecord>& records,
                                const Reference& reference) {
  if (!reference.digest.empty()) {
    if (!reference.digest.starts_with("sha256:")) return std::nullopt;
    if (auto found = match_repo_digest(records, reference)) return found;
    // An image loaded from an archive has no manifest digest; its config's names it.
    return match_id(records, digest_hex(reference.digest));
  }
  std::string canonical = reference.canonical_name();
  for (size_t i = 0; i < records.size(); ++i) {
    if (has_name(records[i], canonical)) return Match{i, false, canonical};
  }
  if (canonical.starts_with("localhost/") && !reference.name.starts_with("localhost/"))
    return match_short_name(
        records, reference.name + ":" + (reference.tag.empty() ? "latest" : reference.tag));
  return std::nullopt;
}

std::optional<Match> resolve(const std::vector<ImageRecord>& records, const std::string& text) {
  if (text.starts_with("sha256:")) {
    std::string_view hex = std::string_view(text).substr(7);
    if (!is_lower_hex_prefix(hex))
      throw UsageError(fmt::format("{}: not an image id; expected sha256: and hex digits", text));
    return match_id(records, hex);
  }
  Reference reference = parse_reference(text);
  if (reference.transport != Transport::Store) return std::nullopt;
  if (auto found = match_name(records, reference)) return found;
  if (is_lower_hex_prefix(text)) return match_id(records, text);
  return std::nullopt;
}

[[noreturn]] void not_known(const std::string& name_or_id) {
  throw Error(fmt::format("image {} not known; see 'roost images'", name_or_id));
}

json layer_info_to_json(const LayerInfo& info) {
  return {{"size", info.size}, {"blob_digests", info.blob_digests}};
}

std::string minimal_config(const std::string& diff_id) {
  std::string created = now_rfc3339();
  json config = {
      {"architecture", host_architecture()},
      {"os", "linux"},
      {"created", created},
      {"config", {{"Env", {kDefaultPath}}}},
      {"rootfs", {{"type", "layers"}, {"diff_ids", {diff_id}}}},
      {"history", {{{"created", created}, {"created_by", "roost import"}}}},
  };
  return config.dump();
}

class StoreWork {
 public:
  StoreWork(Store& store, const stdfs::path& work, BlobFetch fetch = {})
      : store_(store), work_(work), fetch_(std::move(fetch)) {}

  PreparedImage prepare(const LayoutDir& layout, const ImageSource& source,
                        const ImageCheck& check);
  void unpack_needed(const std::vector<PreparedImage>& images, LayoutDir& layout);
  void add_unpacked(UnpackedLayerDir layer) { unpacked_.emplace(layer.diff_id, std::move(layer)); }
  std::optional<std::vector<ImageRecord>> try_commit(const std::vector<PreparedImage>& images);
  std::vector<ImageRecord> commit(const std::vector<PreparedImage>& images, LayoutDir* layout);
  void fetch_config(LayoutDir& layout, const ImageSource& source) {
    fetch_if_missing(layout, {source.config_path, source.config_digest});
  }
  UnpackedLayerDir unpack(int fd, const std::string& blob_name, const std::string& blob_digest,
                          const std::string& diff_id);

 private:
  bool blob_known_good(const LayoutDir& layout, const LayerSource& layer,
                       const std::string& diff_id);
  void fetch_if_missing(LayoutDir& layout, const LayerSource& blob);
  struct NeededLayer {
    std::string diff_id;
    const LayerSource* source;
  };
  std::vector<NeededLayer> layers_to_unpack(const std::vector<PreparedImage>& images) const;
  bool layers_present(const std::vector<PreparedImage>& images) const;
  void install_layers();
  ImageRecord record_image(std::vector<ImageRecord>& records, const PreparedImage& image);

  Store& store_;
  stdfs::path work_;
  BlobFetch fetch_;  // set when blobs come from elsewhere, on demand
  UnpackedLayers unpacked_;
};

stdfs::path layer_info_path(const stdfs::path& root, const std::string& diff_id) {
  return root / "layers" / (digest_hex(diff_id) + ".json");
}

LayerInfo read_layer_info(const stdfs::path& root, const std::string& diff_id) {
  LayerInfo info;
  stdfs::path path = layer_info_path(root, diff_id);
  if (::access(path.c_str(), F_OK) < 0) return info;
  try {
    json value = json::parse(fs::read_file(path));
    info.size = value.at("size").get<uint64_t>();
    info.blob_digests = value.at("blob_digests").get<std::set<std::string>>();
  } catch (const std::exception& error) {
    spdlog::warn("read layer information {}: {}, ignoring", path.string(), error.what());
  }
  return info;
}

std::vector<ImageRecord> read_records(const stdfs::path& root) {
  std::vector<ImageRecord> records;
  stdfs::path images = root / "images";
  std::error_code error;
  for (const auto& entry : stdfs::directory_iterator(images, error)) {
    std::string file = entry.path().filename().string();
    if (!file.ends_with(".json") || !is_hex_id(file.substr(0, file.size() - 5))) continue;
    try {
      records.push_back(record_from_json(fs::read_file(entry.path()), entry.path().string()));
    } catch (const Error& failure) {
      spdlog::warn("{}, ignoring", failure.what());
    }
  }
  if (error) throw Error(fmt::format("list {}: {}", images.string(), error.message()));
  return records;
}

void write_record(const stdfs::path& root, const ImageRecord& record) {
  fs::write_file_atomic(root / "images" / (record.id + ".json"), record_to_json(record));
}

// A name belongs to one image: giving it to `owner` takes it from any other.
void take_name(const stdfs::path& root, std::vector<ImageRecord>& records, const std::string& name,
               const std::string& owner) {
  for (auto& other : records) {
    if (other.id != owner && erase_name(other, name)) write_record(root, other);
  }
}

PreparedImage StoreWork::prepare(const LayoutDir& layout, const ImageSource& source,
                                 const ImageCheck& check) {
  PreparedImage image;
  image.config_text = layout.read(source.config_path);
  std::string config_digest = sha256_digest(image.config_text);
  if (!source.config_digest.empty() && config_digest != source.config_digest)
    digest_mismatch(layout.describe(source.config_path), config_digest, source.config_digest);
  image.id = digest_hex(config_digest);
  image.config = parse_image_config(image.config_text, layout.describe(source.config_path));
  if (check) check(image.config);
  if (image.config.diff_ids.size() != source.layers.size())
    throw Error(fmt::format("{}: the image has {} layers but its config lists {} diff ids",
                            layout.describe(source.config_path), source.layers.size(),
                            image.config.diff_ids.size()));
  image.names = source.names;
  image.layers = source.layers;
  for (size_t i = 0; i < image.layers.size(); ++i)
    image.known_good.push_back(blob_known_good(layout, image.layers[i], image.config.diff_ids[i]));
  return image;
}

// Verifies the blob against the digest the layout lists; it is known to unpack to its
// diff id when it is the uncompressed tar itself or a form seen unpacking to it before.
bool StoreWork::blob_known_good(const LayoutDir& layout, const LayerSource& layer,
                                const std::string& diff_id) {
  // A blob not fetched yet is fetched only when no layer is stored under its diff id: the
  // config, verified, names the layers by diff id, so a stored one is the content the image
  // needs, whatever compressed form the registry holds (as podman skips it too).
  if (fetch_ && !layout.contains(layer.path)) return true;
  // A large blob of an archive is read only when no layer is stored under its diff id,
  // for the same reason.
  if (layout.pending(layer.path)) return true;
  UniqueFd fd = layout.open(layer.path);
  std::string actual = layout.digest_of(fd.get(), layer.path);
  if (!layer.digest.empty() && actual != layer.digest)
    digest_mismatch(layout.describe(layer.path), actual, layer.digest);
  return actual == diff_id || read_layer_info(store_.root(), diff_id).blob_digests.contains(actual);
}

UnpackedLayerDir StoreWork::unpack(int fd, const std::string& blob_name,
                                   const std::string& blob_digest, const std::string& diff_id) {
  stdfs::path destination = work_ / ("layer-" + fs::random_hex(8));
  spdlog::debug("unpacking layer {} from {}", diff_id, blob_name);
  // By its digest where it is known: the file name may say nothing, and the work
  // directory is no place the user knows.
  UnpackedLayer result =
      with_context(fmt::format("unpack layer {}", diff_id.empty() ? blob_name : diff_id),
                   [&] { return unpack_layer(fd, destination); });
  if (!diff_id.empty() && result.diff_id != diff_id)
    throw Error(fmt::format(
        "{}: layer content has digest {} but the image config lists {}; the image is corrupt "
        "or was modified",
        blob_name, result.diff_id, diff_id));
  UnpackedLayerDir layer{result.diff_id, destination, {result.size, {}}};
  if (!blob_digest.empty() && blob_digest != result.diff_id)
    layer.info.blob_digests.insert(blob_digest);
  return layer;
}

void StoreWork::fetch_if_missing(LayoutDir& layout, const LayerSource& blob) {
  if (!fetch_ || layout.contains(blob.path)) return;
  fetch_(blob.digest, work_ / blob.path);
  layout.remember_digest(blob.path, blob.digest);
}

std::vector<StoreWork::NeededLayer> StoreWork::layers_to_unpack(
    const std::vector<PreparedImage>& images) const {
  std::vector<NeededLayer> needed;
  std::set<std::string> seen;
  for (const auto& image : images) {
    for (size_t i = 0; i < image.layers.size(); ++i) {
      const std::string& diff_id = image.config.diff_ids[i];
      if (unpacked_.contains(diff_id) || seen.contains(diff_id)) continue;
      if (image.known_good[i] && directory_exists(store_.layer_path(diff_id))) continue;
      seen.insert(diff_id);
      needed.push_back({diff_id, &image.layers[i]});
    }
  }
  return needed;
}

void StoreWork::unpack_needed(const std::vector<PreparedImage>& images, LayoutDir& layout) {
  std::vector<NeededLayer> needed = layers_to_unpack(images);
  std::vector<std::string> paths;
  for (const auto& layer : needed) paths.push_back(layer.source->path);
  layout.fill(paths);
  for (const auto& [diff_id, layer] : needed) {
    fetch_if_missing(layout, *layer);
    UniqueFd fd = layout.open(layer->path);
    std::string blob_digest = layout.digest_of(fd.get(), layer->path);
    if (!layer->digest.empty() && blob_digest != layer->digest)
      digest_mismatch(layout.describe(layer->path), blob_digest, layer->digest);
    unpacked_.emplace(diff_id,
                      unpack(fd.get(), layout.describe(layer->path), blob_digest, diff_id));
  }
}

bool StoreWork::layers_present(const std::vector<PreparedImage>& images) const {
  for (const auto& image : images) {
    for (const auto& diff_id : image.config.diff_ids) {
      if (!unpacked_.contains(diff_id) && !directory_exists(store_.layer_path(diff_id)))
        return false;
    }
  }
  return true;
}

// Runs under the store lock: a layer another load installed meanwhile wins, and ours
// goes with the work directory.
void StoreWork::install_layers() {
  for (auto& [diff_id, layer] : unpacked_) {
    stdfs::path target = store_.layer_path(diff_id);
    LayerInfo info = read_layer_info(store_.root(), diff_id);
    bool present = directory_exists(target);
    size_t known_forms = info.blob_digests.size();
    info.blob_digests.insert(layer.info.blob_digests.begin(), layer.info.blob_digests.end());
    if (present && info.blob_digests.size() == known_forms) continue;
    if (!present) info.size = layer.info.size;
    fs::write_file_atomic(layer_info_path(store_.root(), diff_id),
                          layer_info_to_json(info).dump() + "\n");
    if (present) continue;
    if (::rename(layer.directory.c_str(), target.c_str()) < 0)
      throw_errno(fmt::format("rename {} to {}", layer.directory.string(), target.string()));
  }
  unpacked_.clear();
}

ImageRecord StoreWork::record_image(std::vector<ImageRecord>& records, const PreparedImage& image) {
  const stdfs::path& root = store_.root();
  auto existing = std::find_if(records.begin(), records.end(),
                               [&](const ImageRecord& record) { return record.id == image.id; });
  ImageRecord record;
  if (existing != records.end()) record = *existing;
  record.id = image.id;
  record.layers = image.config.diff_ids;
  record.config = image.config;
  record.created = image.config.created;
  record.size = 0;
  for (const auto& diff_id : record.layers) record.size += read_layer_info(root, diff_id).size;
  for (const auto& name : image.names) {
    take_name(root, records, name, image.id);
    if (!has_name(record, name)) record.names.push_back(name);
  }
  for (const auto& repo_digest : image.repo_digests) {
    if (std::find(record.repo_digests.begin(), record.repo_digests.end(), repo_digest) ==
        record.repo_digests.end())
      record.repo_digests.push_back(repo_digest);
  }
  if (!image.manifest_digest.empty()) record.manifest_digest = image.manifest_digest;
  fs::write_file_atomic(root / "blobs" / "sha256" / image.id, image.config_text);
  write_record(root, record);
  if (existing != records.end())
    *existing = record;
  else
    records.push_back(record);
  return record;
}

std::optional<std::vector<ImageRecord>> StoreWork::try_commit(
    const std::vector<PreparedImage>& images) {
  StoreLock lock(store_.root(), true);
  if (!layers_present(images)) return std::nullopt;
  install_layers();
  std::vector<ImageRecord> records = read_records(store_.root());
  std::vector<ImageRecord> loaded;
  for (const auto& image : images) {
    loaded.push_back(record_image(records, image));
    // Other names the image already had are not this load's to report.
    loaded.back().names = image.names;
  }
  return loaded;
}

void unlink_if_present(const stdfs::path& path) {
  if (::unlink(path.c_str()) < 0 && errno != ENOENT)
    throw_errno(fmt::format("remove {}", path.string()));
}

void delete_record(const stdfs::path& root, const std::string& id) {
  unlink_if_present(root / "images" / (id + ".json"));
  unlink_if_present(root / "blobs" / "sha256" / id);
}

// Removes the name matched; the image goes with its last name or when matched by id.
std::vector<std::string> untag_or_delete(const stdfs::path& root, std::vector<ImageRecord>& records,
                                         const Match& match) {
  std::vector<std::string> lines;
  ImageRecord& record = records[match.index];
  std::vector<std::string> untagged = match.by_id ? record.names : std::vector{match.name};
  for (const auto& name : untagged) {
    erase_name(record, name);
    lines.push_back("Untagged: " + name);
  }
  if (!record.names.empty()) {
    write_record(root, record);
    return lines;
  }
  delete_record(root, record.id);
  lines.push_back("Deleted: " + record.id);
  records.erase(records.begin() + static_cast<ptrdiff_t>(match.index));
  return lines;
}

// Runs under the store lock: unused layers are renamed into tmp/ at once and deleted
// after the lock is released, so other roost processes do not wait for the deletion.
struct SetAside {
  stdfs::path path;
  UniqueFd lock;  // keeps sweeping off while this process deletes it
};

std::vector<SetAside> set_aside_unused_layers(const stdfs::path& root,
                                              const std::vector<ImageRecord>& records) {
  std::set<std::string> in_use;
  for (const auto& record : records)
    for (const auto& diff_id : record.layers) in_use.insert(digest_hex(diff_id));
  std::vector<stdfs::path> unused;
  std::error_code error;
  for (const auto& entry : stdfs::directory_iterator(root / "layers", error)) {
    std::string file = entry.path().filename().string();
    std::string hex = file.ends_with(".json") ? file.substr(0, file.size() - 5) : file;
    if (is_hex_id(hex) && !in_use.contains(hex)) unused.push_back(entry.path());
  }
  if (error) throw Error(fmt::format("list {}: {}", (root / "layers").string(), error.message()));
  std::vector<SetAside> trash;
  for (const auto& path : unused) {
    if (path.extension() == ".json") {
      unlink_if_present(path);
      continue;
    }
    stdfs::path aside = root / "tmp" / ("removed-" + fs::random_hex(8));
    UniqueFd lock = open_locked_directory(path, true);
    if (::rename(path.c_str(), aside.c_str()) < 0)
      throw_errno(fmt::format("rename {} to {}", path.string(), aside.string()));
    spdlog::debug("layer sha256:{} is no longer used; removing it", path.filename().string());
    trash.push_back({aside, std::move(lock)});
  }
  return trash;
}

// A layer found present when loading started may be removed before the lock is held;
// it is then unpacked after all and the commit tried again.
std::vector<ImageRecord> StoreWork::commit(const std::vector<PreparedImage>& images,
                                           LayoutDir* layout) {
  for (;;) {
    if (layout != nullptr) unpack_needed(images, *layout);
    if (auto records = try_commit(images)) return *records;
    if (layout == nullptr) throw Error("import: the unpacked layer vanished before it was stored");
    spdlog::debug("a layer was removed while loading; unpacking it again");
  }
}

LayoutDir open_layout(const Reference& source, const stdfs::path& work) {
  switch (source.transport) {
    case Transport::DockerArchive:
    case Transport::OciArchive: {
      stdfs::path directory = work / "archive";
      return LayoutDir(directory, source.path,
                       std::make_unique<PartialExtraction>(source.path, directory));
    }
    case Transport::OciDir:
      return LayoutDir(source.path, source.path);
    case Transport::Docker:
      throw UsageError(
          fmt::format("load {}: a registry's image is pulled, not loaded; use 'roost pull {}'",
                      source.canonical_name(), source.canonical_name()));
    case Transport::Store:
      break;
  }
  throw UsageError(fmt::format(
      "load {}: not an archive or layout; use docker-archive:PATH, oci-archive:PATH or oci:PATH",
      source.name));
}

// An archive given as one kind but holding the other loads as what it holds, as long
// as the reference does not select an image by a name only the other kind has.
std::vector<ImageSource> images_of(const LayoutDir& layout, const Reference& source) {
  bool docker = layout.contains("manifest.json");
  bool oci = layout.contains("index.json");
  bool selects = !source.name.empty() || !source.tag.empty();
  if (source.transport == Transport::DockerArchive && docker)
    return docker_archive_images(layout, source);
  // Docker 25 writes an index.json listing nothing beside its manifest.json.
  if (source.transport != Transport::DockerArchive && oci &&
      (!docker || oci_layout_lists_images(layout)))
    return oci_layout_images(layout, source);
  if (docker && !selects) {
    spdlog::debug("{} is a docker archive; loading it as one", layout.label());
    return docker_archive_images(layout, source);
  }
  if (oci && !selects && source.transport == Transport::DockerArchive) {
    spdlog::debug("{} is an OCI archive; loading it as one", layout.label());
    Reference as_oci = source;
    as_oci.transport = Transport::OciArchive;
    return oci_layout_images(layout, as_oci);
  }
  if (docker || oci)
    throw Error(fmt::format("{} is {}; use the {} transport", layout.label(),
                            docker ? "a docker archive" : "an OCI layout",
                            docker ? "docker-archive:" : "oci-archive: or oci:"));
  throw Error(fmt::format(
      "{}: has neither manifest.json nor index.json; it is not a docker or OCI image archive",
      layout.label()));
}

}  // namespace

Store::Store(std::filesystem::path root) : root_(std::move(root)) {
  fs::make_dirs(root_, 0700);
  for (const char* part : {"layers", "images", "blobs/sha256", "tmp"}) fs::make_dirs(root_ / part);
}

std::vector<ImageRecord> Store::load(const Reference& source, const ImageCheck& check) {
  sweep_abandoned_work(root_ / "tmp");
  WorkDir work(root_ / "tmp", "load");
  LayoutDir layout = open_layout(source, work.path());
  StoreWork store_work(*this, work.path());
  std::vector<PreparedImage> images;
  for (const auto& image : images_of(layout, source))
    images.push_back(store_work.prepare(layout, image, check));
  return store_work.commit(images, &layout);
}

ImageRecord Store::pull(const RemoteImage& image, const BlobFetch& fetch, const ImageCheck& check) {
  sweep_abandoned_work(root_ / "tmp");
  WorkDir work(root_ / "tmp", "pull");
  fs::make_dirs(work.path() / "blobs" / "sha256", 0700);
  LayoutDir layout(work.path(), image.label);
  ImageSource source;
  source.config_digest = image.config_digest;
  source.config_path = "blobs/sha256/" + digest_hex(image.config_digest);
  for (const auto& digest : image.layer_digests)
    source.layers.push_back({"blobs/sha256/" + digest_hex(digest), digest});
  source.names = image.names;
  StoreWork store_work(*this, work.path(), fetch);
  store_work.fetch_config(layout, source);
  PreparedImage prepared = store_work.prepare(layout, source, check);
  prepared.repo_digests = image.repo_digests;
  prepared.manifest_digest = image.manifest_digest;
  return store_work.commit({prepared}, &layout).front();
}

ImageRecord Store::import_rootfs(const std::filesystem::path& tarball, const std::string& name) {
  std::string canonical = canonical_image_name(name, "import");
  UniqueFd fd(::open(tarball.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno(fmt::format("open {}", tarball.string()));
  sweep_abandoned_work(root_ / "tmp");
  WorkDir work(root_ / "tmp", "import");
  StoreWork store_work(*this, work.path());
  UnpackedLayerDir layer = store_work.unpack(fd.get(), tarball.string(), "", "");
  PreparedImage image;
  image.config_text = minimal_config(layer.diff_id);
  image.id = digest_hex(sha256_digest(image.config_text));
  image.config = parse_image_config(image.config_text, "of the imported " + tarball.string());
  image.names = {canonical};
  store_work.add_unpacked(std::move(layer));
  return store_work.commit({image}, nullptr).front();
}

std::optional<ImageRecord> Store::find(const std::string& name_or_id) const {
  StoreLock lock(root_, false);
  std::vector<ImageRecord> records = read_records(root_);
  auto match = resolve(records, name_or_id);
  if (!match) return std::nullopt;
  return records[match->index];
}

std::optional<std::pair<ImageRecord, std::string>> Store::find_with_name(
    const std::string& name_or_id) const {
  StoreLock lock(root_, false);
  std::vector<ImageRecord> records = read_records(root_);
  auto match = resolve(records, name_or_id);
  if (!match) return std::nullopt;
  return std::pair{records[match->index], match->by_id ? std::string() : match->name};
}

std::vector<ImageRecord> Store::list() const {
  StoreLock lock(root_, false);
  std::vector<ImageRecord> records = read_records(root_);
  std::sort(records.begin(), records.end(), [](const ImageRecord& a, const ImageRecord& b) {
    return a.created != b.created ? a.created > b.created : a.id < b.id;
  });
  return records;
}

void Store::tag(const std::string& name_or_id, const std::string& new_name) {
  std::string canonical = canonical_image_name(new_name, "tag");
  StoreLock lock(root_, true);
  std::vector<ImageRecord> records = read_records(root_);
  auto match = resolve(records, name_or_id);
  if (!match) not_known(name_or_id);
  ImageRecord& target = records[match->index];
  take_name(root_, records, canonical, target.id);
  if (has_name(target, canonical)) return;
  target.names.push_back(canonical);
  write_record(root_, target);
}

std::vector<std::string> Store::remove(const std::string& name_or_id) {
  std::vector<std::string> lines;
  std::vector<SetAside> trash;
  {
    StoreLock lock(root_, true);
    std::vector<ImageRecord> records = read_records(root_);
    auto match = resolve(records, name_or_id);
    if (!match) not_known(name_or_id);
    lines = untag_or_delete(root_, records, *match);
    if (!lines.back().starts_with("Deleted: ")) return lines;
    trash = set_aside_unused_layers(root_, records);
  }
  for (const auto& layer : trash) {
    try {
      fs::remove_tree(layer.path);
    } catch (const Error& error) {
      spdlog::warn("{}; a later load will retry removing it", error.what());
    }
  }
  return lines;
}

std::filesystem::path Store::layer_path(const std::string& diff_id) const {
  if (!is_sha256_digest(diff_id))
    throw Error(fmt::format("layer {}: not a sha256 diff id", diff_id));
  return root_ / "layers" / digest_hex(diff_id);
}

}  // namespace roost::image
