#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.hpp"
#include "image/archive.hpp"
#include "image/reference.hpp"

namespace roost::image {

// A directory holding an image layout (an extracted archive or an OCI layout). Files
// are opened with every symlink resolved inside the directory, and their digests are
// taken from what extraction already computed or hashed once and remembered. A file
// the extraction left unread is read from the archive when it is first opened.
class LayoutDir {
 public:
  // `label` names the layout in messages: the archive or directory the user gave.
  LayoutDir(const std::filesystem::path& directory, std::string label, FileDigests known = {});
  LayoutDir(const std::filesystem::path& directory, std::string label,
            std::unique_ptr<PartialExtraction> extraction);

  bool contains(std::string_view relative) const;
  // Whether the file is in the archive but its data has not been read yet.
  bool pending(std::string_view relative) const;
  // Reads the pending files among `relatives` in one pass over the archive.
  void fill(const std::vector<std::string>& relatives) const;
  UniqueFd open(std::string_view relative) const;
  std::string read(std::string_view relative) const;
  std::string digest_of(int fd, std::string_view relative) const;
  // Takes `digest` as the file's, for a file verified while it was written.
  void remember_digest(std::string_view relative, std::string digest);
  // "PATH in LABEL", for messages.
  std::string describe(std::string_view relative) const;
  const std::string& label() const { return label_; }

 private:
  ino_t pending_inode(int fd, std::string_view relative) const;
  void fill_inodes(const std::vector<ino_t>& inodes) const;

  std::string label_;
  UniqueFd root_;
  mutable FileDigests digests_;
  std::unique_ptr<PartialExtraction> extraction_;
};

struct LayerSource {
  std::string path;    // inside the layout
  std::string digest;  // of the blob as stored; empty when the layout gives none
};

// One image of a layout, as files still to be verified.
struct ImageSource {
  std::string config_path;
  std::string config_digest;  // empty when the layout gives none
  std::vector<LayerSource> layers;
  std::vector<std::string> names;  // canonical NAME:TAG
};

// The images of a docker-archive (manifest.json), all of them or the one `source` names.
std::vector<ImageSource> docker_archive_images(const LayoutDir& layout, const Reference& source);

// Whether the layout's index.json lists any manifest.
bool oci_layout_lists_images(const LayoutDir& layout);

// The image of an OCI layout (index.json) that `source`'s tag selects; nested indexes
// resolve to the manifest for the host's platform, or the first one.
std::vector<ImageSource> oci_layout_images(const LayoutDir& layout, const Reference& source);

}  // namespace roost::image
