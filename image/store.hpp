#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "image/config.hpp"
#include "image/reference.hpp"

namespace roost::image {

// Sees an image's config before anything of the image is stored; throws to refuse it.
using ImageCheck = std::function<void(const ImageConfig&)>;

// Writes the blob named by `digest` to `destination`, verified against that digest;
// throws to give up.
using BlobFetch =
    std::function<void(const std::string& digest, const std::filesystem::path& destination)>;

// An image known by its blobs' digests, as a registry's manifest lists them.
struct RemoteImage {
  std::string label;  // the source, for messages
  std::string config_digest;
  std::vector<std::string> layer_digests;  // bottom first
  std::vector<std::string> names;          // canonical NAME:TAG
  // NAME@sha256:... of the manifest (and of the index that listed it) it was pulled by.
  std::vector<std::string> repo_digests;
  std::string manifest_digest;
};

struct ImageRecord {
  std::string id;                  // hex of the config's sha256 (64 digits)
  std::vector<std::string> names;  // canonical NAME:TAG
  // NAME@sha256:... of every manifest or index it was pulled by, as podman's RepoDigests;
  // NAME@DIGEST finds the image by these.
  std::vector<std::string> repo_digests;
  std::string manifest_digest;      // of the last pull; empty for an image loaded or imported
  std::vector<std::string> layers;  // diff ids, bottom first; each unpacked under layers/
  ImageConfig config;
  std::string created;  // RFC 3339, from the config
  uint64_t size = 0;    // sum of uncompressed layer sizes
};

// The content-addressed image store under `root` ($XDG_DATA_HOME/roost):
//   layers/HEX/       one unpacked layer per diff id, shared by images and containers
//   layers/HEX.json   its size and the compressed blob digests seen to unpack to it
//   images/HEX.json   one record per image, named by its config digest
//   blobs/sha256/HEX  image configs (verified)
//   tmp/              work areas, renamed into place when complete; locked while in use,
//                     and swept by the next load when their process died
//   store.lock        flock held while records change
// Methods that unpack or delete layers must run as root of the caller's user
// namespace, so that file owners land on the mapped ids.
class Store {
 public:
  explicit Store(std::filesystem::path root);

  // docker-archive (legacy and docker 25 layouts), oci-archive or an OCI layout
  // directory; every blob's sha256 is verified. Returns the images loaded, each with the
  // names the source gave it. A refusal by `check` stores nothing.
  std::vector<ImageRecord> load(const Reference& source, const ImageCheck& check = {});

  // Fetches the config, then only the layers the store holds no layer for under their
  // diff ids, and verifies and unpacks those as load does. A refusal by
  // `check` or a failed fetch stores nothing.
  ImageRecord pull(const RemoteImage& image, const BlobFetch& fetch, const ImageCheck& check = {});

  // A plain rootfs tarball as a one-layer image named `name` (canonicalised).
  ImageRecord import_rootfs(const std::filesystem::path& tarball, const std::string& name);

  // By canonical name, by short name (busybox:1 finds localhost/busybox:1 or else the
  // one image named REGISTRY/busybox:1 or docker.io/library/busybox:1), by full id,
  // sha256:ID or unique id prefix, by NAME@DIGEST of a manifest or index it was pulled by
  // (or, for an image never pulled by it, of its config); NAME alone means NAME:latest. Throws
  // Error on an ambiguous short name or id prefix, UsageError on a malformed name.
  std::optional<ImageRecord> find(const std::string& name_or_id) const;
  // As find, with the name it matched: empty when it matched by id or digest.
  std::optional<std::pair<ImageRecord, std::string>> find_with_name(
      const std::string& name_or_id) const;
  std::vector<ImageRecord> list() const;

  void tag(const std::string& name_or_id, const std::string& new_name);
  // Removes a name; the image (and layers no other image uses) goes with its last name,
  // or at once when given by id. Returns "Untagged: NAME" and "Deleted: ID" lines.
  // Throws Error "image X not known; see 'roost images'" for an unknown image.
  std::vector<std::string> remove(const std::string& name_or_id);

  std::filesystem::path layer_path(const std::string& diff_id) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;
};

}  // namespace roost::image
