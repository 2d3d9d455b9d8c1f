#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace roost::image {

struct UnpackedLayer {
  std::string diff_id;  // "sha256:" + hex of the uncompressed tar stream
  uint64_t size = 0;    // bytes of the uncompressed stream
};

// Reads a layer (tar; gzip, zstd or uncompressed, detected from the content) from
// `source_fd` and unpacks it into `destination`, which must not exist yet; on any
// error nothing of `destination` is left. Entries become files owned by their tar
// uid/gid (so this runs as root of a user namespace that maps them), with modes,
// setuid bits, hardlinks, symlinks and mtimes kept. `.wh.NAME` becomes a 0/0
// character device NAME, `.wh..wh..opq` the xattr user.overlay.opaque=y on its
// directory. Devices that cannot be created become empty files with a warning. An
// entry reaching outside `destination` (absolute, `..`, through a symlink) is refused
// with an Error naming it. An owner id the namespace does not map fails naming the
// path, the id and how many ids would be needed.
UnpackedLayer unpack_layer(int source_fd, const std::filesystem::path& destination);

}  // namespace roost::image
