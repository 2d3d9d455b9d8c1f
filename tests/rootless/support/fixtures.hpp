#pragma once

#include <filesystem>
#include <string>

namespace rootless::fixtures {

// Images made once per run with the real tools, from Debian's busybox-static: umoci
// builds the image (init, new, unpack --rootless, repack, config), skopeo converts it.
// Each holds busybox with its applets in /bin, /etc/passwd and /etc/group (root, app
// 1000:1000, nobody), Cmd ["/bin/sh"] and a PATH. A tool failure throws with its output.

// The name every archive below carries.
inline constexpr const char* kBusyboxName = "localhost/busybox:1";

// umoci's OCI layout, gzip layers, tag "1".
const std::filesystem::path& busybox_layout();
// skopeo copy to docker-archive: (uncompressed layers).
const std::filesystem::path& busybox_docker_archive();
// skopeo copy to oci-archive: (gzip layers).
const std::filesystem::path& busybox_oci_archive();
// skopeo copy --dest-compress-format zstd to an OCI layout, tag "1".
const std::filesystem::path& busybox_zstd_layout();

// A hand-made layer (tar stream) holding the same busybox root filesystem, with or
// without /etc/passwd and /etc/group.
const std::string& busybox_layer(bool with_passwd = true);

}  // namespace rootless::fixtures
