#include "tests/rootless/support/tarball.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "tests/rootless/support/process.hpp"

namespace rootless {

namespace {

constexpr const char* kBusybox = "/bin/busybox";

using ArchivePtr = std::unique_ptr<archive, decltype(&archive_write_free)>;
using EntryPtr = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

void check(archive* writer, int status, const std::string& what) {
  if (status < ARCHIVE_WARN)
    throw std::runtime_error("libarchive: " + what + ": " + archive_error_string(writer));
}

mode_t type_bits(TarEntry::Type type) {
  switch (type) {
    case TarEntry::Type::Directory:
      return AE_IFDIR;
    case TarEntry::Type::Symlink:
      return AE_IFLNK;
    case TarEntry::Type::CharDevice:
      return AE_IFCHR;
    default:
      return AE_IFREG;
  }
}

EntryPtr to_archive_entry(const TarEntry& entry) {
  EntryPtr out(archive_entry_new(), &archive_entry_free);
  archive_entry_set_pathname(out.get(), entry.path.c_str());
  archive_entry_set_filetype(out.get(), type_bits(entry.type));
  archive_entry_set_perm(out.get(), entry.mode);
  archive_entry_set_uid(out.get(), entry.uid);
  archive_entry_set_gid(out.get(), entry.gid);
  archive_entry_set_mtime(out.get(), 1700000000, 0);
  if (entry.type == TarEntry::Type::File)
    archive_entry_set_size(out.get(), static_cast<la_int64_t>(entry.content.size()));
  if (entry.type == TarEntry::Type::Symlink)
    archive_entry_set_symlink(out.get(), entry.content.c_str());
  if (entry.type == TarEntry::Type::Hardlink)
    archive_entry_set_hardlink(out.get(), entry.content.c_str());
  if (entry.type == TarEntry::Type::CharDevice)
    archive_entry_set_rdev(out.get(), makedev(entry.major, entry.minor));
  return out;
}

void add_filter(archive* writer, Compression compression) {
  if (compression == Compression::Gzip)
    check(writer, archive_write_add_filter_gzip(writer), "gzip filter");
  if (compression == Compression::Zstd)
    check(writer, archive_write_add_filter_zstd(writer), "zstd filter");
}

la_ssize_t append_to_string(archive*, void* target, const void* data, size_t length) {
  static_cast<std::string*>(target)->append(static_cast<const char*>(data), length);
  return static_cast<la_ssize_t>(length);
}

std::string read_whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

std::vector<std::string> busybox_applets() {
  Outcome listed = run(Spawn({kBusybox, "--list"}, {"PATH=/usr/bin:/bin"}));
  if (listed.exit_code != 0)
    throw std::runtime_error(std::string(kBusybox) + " --list failed: " + listed.describe());
  std::vector<std::string> applets;
  std::istringstream lines(listed.out);
  for (std::string applet; std::getline(lines, applet);)
    if (!applet.empty() && applet != "busybox") applets.push_back(applet);
  return applets;
}

std::vector<TarEntry> passwd_and_group() {
  return {
      TarEntry::file("etc/passwd",
                     "root:x:0:0:root:/root:/bin/sh\n"
                     "app:x:1000:1000:app:/home/app:/bin/sh\n"
                     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
      TarEntry::file("etc/group", "root:x:0:\napp:x:1000:\nnogroup:x:65534:\n"),
  };
}

}  // namespace

TarEntry TarEntry::file(std::string path, std::string content, mode_t mode) {
  return {Type::File, std::move(path), std::move(content), mode};
}

TarEntry TarEntry::directory(std::string path, mode_t mode) {
  return {Type::Directory, std::move(path), {}, mode};
}

TarEntry TarEntry::symlink(std::string path, std::string target) {
  return {Type::Symlink, std::move(path), std::move(target), 0777};
}

TarEntry TarEntry::hardlink(std::string path, std::string target) {
  return {Type::Hardlink, std::move(path), std::move(target), 0644};
}

TarEntry TarEntry::char_device(std::string path, unsigned major, unsigned minor) {
  TarEntry entry{Type::CharDevice, std::move(path), {}, 0666};
  entry.major = major;
  entry.minor = minor;
  return entry;
}

TarEntry TarEntry::whiteout(std::string_view path) {
  auto slash = path.rfind('/');
  std::string dir = slash == std::string_view::npos ? "" : std::string(path.substr(0, slash + 1));
  std::string name(slash == std::string_view::npos ? path : path.substr(slash + 1));
  return file(dir + ".wh." + name, "", 0644);
}

TarEntry TarEntry::opaque(std::string_view path) {
  return file(std::string(path) + "/.wh..wh..opq", "", 0644);
}

TarEntry& TarEntry::owned_by(uid_t user, gid_t group) {
  uid = user;
  gid = group;
  return *this;
}

std::string make_tar(const std::vector<TarEntry>& entries, Compression compression) {
  ArchivePtr writer(archive_write_new(), &archive_write_free);
  check(writer.get(), archive_write_set_format_pax_restricted(writer.get()), "pax format");
  add_filter(writer.get(), compression);
  check(writer.get(), archive_write_set_bytes_in_last_block(writer.get(), 1), "block size");
  std::string data;
  check(writer.get(),
        archive_write_open2(writer.get(), &data, nullptr, append_to_string, nullptr, nullptr),
        "open");
  for (const auto& entry : entries) {
    EntryPtr header = to_archive_entry(entry);
    check(writer.get(), archive_write_header(writer.get(), header.get()), "header " + entry.path);
    if (entry.type == TarEntry::Type::File && !entry.content.empty())
      archive_write_data(writer.get(), entry.content.data(), entry.content.size());
  }
  check(writer.get(), archive_write_close(writer.get()), "close");
  return data;
}

std::string compress(const std::string& data, Compression compression) {
  if (compression == Compression::None) return data;
  ArchivePtr writer(archive_write_new(), &archive_write_free);
  check(writer.get(), archive_write_set_format_raw(writer.get()), "raw format");
  add_filter(writer.get(), compression);
  check(writer.get(), archive_write_set_bytes_in_last_block(writer.get(), 1), "block size");
  std::string out;
  check(writer.get(),
        archive_write_open2(writer.get(), &out, nullptr, append_to_string, nullptr, nullptr),
        "open");
  EntryPtr header(archive_entry_new(), &archive_entry_free);
  archive_entry_set_filetype(header.get(), AE_IFREG);
  archive_entry_set_size(header.get(), static_cast<la_int64_t>(data.size()));
  check(writer.get(), archive_write_header(writer.get(), header.get()), "raw header");
  archive_write_data(writer.get(), data.data(), data.size());
  check(writer.get(), archive_write_close(writer.get()), "close");
  return out;
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("EVP_Digest sha256 failed");
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof byte, "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

std::vector<TarEntry> busybox_rootfs(bool with_passwd) {
  static const std::string binary = read_whole_file(kBusybox);
  static const std::vector<std::string> applets = busybox_applets();
  std::vector<TarEntry> entries = {
      TarEntry::directory("bin"),
      TarEntry::directory("etc"),
      TarEntry::directory("root", 0700),
      TarEntry::directory("tmp", 01777),
      TarEntry::file("bin/busybox", binary, 0755),
  };
  for (const auto& applet : applets)
    entries.push_back(TarEntry::symlink("bin/" + applet, "busybox"));
  if (with_passwd)
    for (auto& entry : passwd_and_group()) entries.push_back(std::move(entry));
  return entries;
}

}  // namespace rootless
