#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

namespace rootless {

// One tar entry, written exactly as given: names may be hostile (`..`, absolute, through
// a symlink), owners may lie outside any id map. Build with the factories, then adjust.
struct TarEntry {
  enum class Type { File, Directory, Symlink, Hardlink, CharDevice };

  Type type = Type::File;
  std::string path;
  std::string content;  // file data, or the target of a link
  mode_t mode = 0644;
  uid_t uid = 0;
  gid_t gid = 0;
  unsigned major = 0;
  unsigned minor = 0;

  static TarEntry file(std::string path, std::string content, mode_t mode = 0644);
  static TarEntry directory(std::string path, mode_t mode = 0755);
  static TarEntry symlink(std::string path, std::string target);
  static TarEntry hardlink(std::string path, std::string target);
  static TarEntry char_device(std::string path, unsigned major, unsigned minor);
  // An AUFS-style whiteout of `path` (".wh.NAME" beside it), as docker writes it.
  static TarEntry whiteout(std::string_view path);
  // Marks directory `path` opaque (".wh..wh..opq" inside it).
  static TarEntry opaque(std::string_view path);

  TarEntry& owned_by(uid_t user, gid_t group);
};

enum class Compression { None, Gzip, Zstd };

// A pax tar stream of `entries`, in order.
std::string make_tar(const std::vector<TarEntry>& entries,
                     Compression compression = Compression::None);

// `data` run through the compressor alone (no tar framing added).
std::string compress(const std::string& data, Compression compression);

// Lowercase hex sha256 of `data`.
std::string sha256_hex(std::string_view data);

// A root filesystem with Debian's busybox-static at /bin/busybox, a symlink per applet
// in /bin, /tmp and /root, and (when `with_passwd`) /etc/passwd and /etc/group naming
// root, nobody and app (1000:1000).
std::vector<TarEntry> busybox_rootfs(bool with_passwd = true);

}  // namespace rootless
