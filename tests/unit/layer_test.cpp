#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <locale.h>
#include <openssl/evp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fmt/format.h>

#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "image/layer.hpp"

using roost::Error;
using roost::UniqueFd;
using roost::image::unpack_layer;
using roost::image::UnpackedLayer;
namespace stdfs = std::filesystem;

namespace {

struct EntrySpec {
  std::string path{};
  mode_t type = AE_IFREG;
  mode_t mode = 0644;
  std::string content{};
  std::string link{};  // symlink or hardlink target
  bool hardlink = false;
  int64_t uid = 0;
  int64_t gid = 0;
  dev_t rdev = 0;
  time_t mtime = 1600000000;
  std::vector<std::pair<std::string, std::string>> xattrs{};
};

la_ssize_t append_to_string(archive*, void* out, const void* data, size_t length) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(data), length);
  return static_cast<la_ssize_t>(length);
}

void check(archive* a, int status) {
  if (status < ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
}

// Builds a pax tar in memory the way image tools do, with libarchive's default
// 10240-byte blocking, so the stream ends in zero padding after the end marker.
class LayerBuilder {
 public:
  LayerBuilder& add(EntrySpec spec) {
    specs_.push_back(std::move(spec));
    return *this;
  }
  LayerBuilder& file(std::string path, std::string content = "data", mode_t mode = 0644) {
    return add({.path = std::move(path), .mode = mode, .content = std::move(content)});
  }
  LayerBuilder& dir(std::string path, mode_t mode = 0755) {
    return add({.path = std::move(path), .type = AE_IFDIR, .mode = mode});
  }
  LayerBuilder& symlink(std::string path, std::string target) {
    return add({.path = std::move(path), .type = AE_IFLNK, .mode = 0777, .link = target});
  }
  LayerBuilder& hardlink(std::string path, std::string target) {
    return add({.path = std::move(path), .link = std::move(target), .hardlink = true});
  }

  // Written in a UTF-8 locale as image tools run; the unpacking under test keeps the
  // process's C locale.
  std::string tar() const {
    locale_t utf8 = ::newlocale(LC_ALL_MASK, "C.UTF-8", nullptr);
    locale_t previous = ::uselocale(utf8);
    std::string out = write_tar();
    ::uselocale(previous);
    ::freelocale(utf8);
    return out;
  }

 private:
  std::string write_tar() const {
    std::string out;
    archive* a = archive_write_new();
    check(a, archive_write_set_format_pax_restricted(a));
    check(a, archive_write_open(a, &out, nullptr, append_to_string, nullptr));
    for (const auto& spec : specs_) write_entry(a, spec);
    check(a, archive_write_close(a));
    archive_write_free(a);
    return out;
  }

  static void write_entry(archive* a, const EntrySpec& spec) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, spec.path.c_str());
    archive_entry_set_filetype(entry, spec.type);
    archive_entry_set_perm(entry, spec.mode);
    archive_entry_set_uid(entry, spec.uid);
    archive_entry_set_gid(entry, spec.gid);
    archive_entry_set_mtime(entry, spec.mtime, 0);
    archive_entry_set_rdev(entry, spec.rdev);
    if (spec.hardlink) archive_entry_set_hardlink(entry, spec.link.c_str());
    if (spec.type == AE_IFLNK) archive_entry_set_symlink(entry, spec.link.c_str());
    for (const auto& [name, value] : spec.xattrs)
      archive_entry_xattr_add_entry(entry, name.c_str(), value.data(), value.size());
    bool has_data = spec.type == AE_IFREG && !spec.hardlink;
    archive_entry_set_size(entry, has_data ? static_cast<la_int64_t>(spec.content.size()) : 0);
    check(a, archive_write_header(a, entry));
    if (has_data) archive_write_data(a, spec.content.data(), spec.content.size());
    archive_entry_free(entry);
  }

  std::vector<EntrySpec> specs_;
};

std::string compress(const std::string& data, const std::string& compression) {
  if (compression == "none") return data;
  std::string out;
  archive* a = archive_write_new();
  check(a, archive_write_set_format_raw(a));
  // A compressor's output is not padded to tar blocks: zeros after a zstd frame are no
  // valid frame.
  check(a, archive_write_set_bytes_in_last_block(a, 1));
  check(a, compression == "gzip" ? archive_write_add_filter_gzip(a)
                                 : archive_write_add_filter_zstd(a));
  check(a, archive_write_open(a, &out, nullptr, append_to_string, nullptr));
  archive_entry* entry = archive_entry_new();
  archive_entry_set_filetype(entry, AE_IFREG);
  archive_entry_set_size(entry, static_cast<la_int64_t>(data.size()));
  check(a, archive_write_header(a, entry));
  archive_write_data(a, data.data(), data.size());
  archive_entry_free(entry);
  check(a, archive_write_close(a));
  archive_write_free(a);
  return out;
}

std::string sha256_of(const std::string& data) {
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), sum, &length, EVP_sha256(), nullptr);
  std::string hex = "sha256:";
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", sum[i]);
  return hex;
}

UniqueFd stream_of(const std::string& bytes) {
  UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  if (!fd || ::write(fd.get(), bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size()))
    throw std::runtime_error("memfd");
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

UnpackedLayer unpack(const std::string& bytes, const stdfs::path& destination) {
  return unpack_layer(stream_of(bytes).get(), destination);
}

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (stdfs::temp_directory_path() / "roost-layer-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~ScratchDir() { roost::fs::remove_tree(path_); }
  const stdfs::path& path() const { return path_; }
  stdfs::path operator/(const std::string& name) const { return path_ / name; }
  std::vector<std::string> names() const {
    std::vector<std::string> found;
    for (const auto& entry : stdfs::directory_iterator(path_))
      found.push_back(entry.path().filename());
    return found;
  }

 private:
  stdfs::path path_;
};

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

struct stat lstat_of(const stdfs::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0) throw std::runtime_error("lstat " + path.string());
  return st;
}

std::string xattr_of(const stdfs::path& path, const char* name) {
  char value[64];
  ssize_t length = ::lgetxattr(path.c_str(), name, value, sizeof value);
  return length < 0 ? "(none)" : std::string(value, static_cast<size_t>(length));
}

std::string read_text(const stdfs::path& path) {
  return roost::fs::read_file(path);
}

bool is_whiteout(const stdfs::path& path) {
  struct stat st = lstat_of(path);
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

// Runs `action` in a child process inside a new user namespace where only the caller's
// own uid and gid are mapped (to 0); returns what the action returned.
std::string in_single_id_namespace(const std::function<std::string()>& action) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) < 0) throw std::runtime_error("pipe");
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string result;
    auto write_map = [](const char* file, std::string text) {
      UniqueFd fd(::open(file, O_WRONLY | O_CLOEXEC));
      return fd && ::write(fd.get(), text.data(), text.size()) == ssize_t(text.size());
    };
    if (::unshare(CLONE_NEWUSER) < 0 || !write_map("/proc/self/setgroups", "deny") ||
        !write_map("/proc/self/uid_map", fmt::format("0 {} 1\n", uid)) ||
        !write_map("/proc/self/gid_map", fmt::format("0 {} 1\n", gid))) {
      result = "(could not set up the user namespace)";
    } else {
      try {
        result = action();
      } catch (const std::exception& error) {
        result = error.what();
      }
    }
    (void)!::write(pipe_fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;)
    result.append(buffer, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return result;
}

}  // namespace

class LayerCompression : public ::testing::TestWithParam<std::string> {};

TEST_P(LayerCompression, DiffIdIsTheSha256OfTheUncompressedStream) {
  ScratchDir scratch;
  std::string tar = LayerBuilder().dir("etc").file("etc/hostname", "box\n").tar();
  std::string stream = compress(tar, GetParam());
  if (GetParam() != "none") {
    ASSERT_NE(stream, tar);
  }

  UnpackedLayer layer = unpack(stream, scratch / "layer");

  EXPECT_EQ(layer.diff_id, sha256_of(tar));
  EXPECT_EQ(layer.size, tar.size());
  EXPECT_EQ(tar.size() % 10240, 0u) << "the stream should end in block padding";
  EXPECT_EQ(read_text(scratch / "layer/etc/hostname"), "box\n");
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"layer"});
}

TEST_P(LayerCompression, LargeFileContentSurvives) {
  ScratchDir scratch;
  std::string content(5 * 1024 * 1024 + 123, '\0');
  std::mt19937 generator(7);
  for (auto& c : content) c = static_cast<char>(generator() % 16);
  std::string tar = LayerBuilder().file("big.bin", content).file("after", "x").tar();

  UnpackedLayer layer = unpack(compress(tar, GetParam()), scratch / "layer");

  EXPECT_EQ(layer.diff_id, sha256_of(tar));
  EXPECT_TRUE(read_text(scratch / "layer/big.bin") == content);
  EXPECT_EQ(read_text(scratch / "layer/after"), "x");
}

INSTANTIATE_TEST_SUITE_P(Compressions, LayerCompression, ::testing::Values("none", "gzip", "zstd"));

TEST(Layer, NormalisesEntryPaths) {
  ScratchDir scratch;
  std::string tar = LayerBuilder().dir("./").file("./a/b", "1").file("a//c", "2").tar();
  unpack(tar, scratch / "layer");
  EXPECT_EQ(read_text(scratch / "layer/a/b"), "1");
  EXPECT_EQ(read_text(scratch / "layer/a/c"), "2");
}

TEST(Layer, MissingParentsAndRootAreSearchableDirectories) {
  ScratchDir scratch;
  unpack(LayerBuilder().file("a/b/c", "deep").tar(), scratch / "layer");
  EXPECT_EQ(lstat_of(scratch / "layer").st_mode & 07777, 0755u);
  EXPECT_EQ(lstat_of(scratch / "layer/a").st_mode & 07777, 0755u);
  EXPECT_EQ(lstat_of(scratch / "layer/a/b").st_mode & 07777, 0755u);
  EXPECT_EQ(read_text(scratch / "layer/a/b/c"), "deep");
}

TEST(Layer, RootEntryGivesTheRootItsMode) {
  ScratchDir scratch;
  unpack(LayerBuilder().dir("./", 0751).file("f").tar(), scratch / "layer");
  EXPECT_EQ(lstat_of(scratch / "layer").st_mode & 07777, 0751u);
}

TEST(Layer, EmptyLayerIsAnEmptyDirectory) {
  ScratchDir scratch;
  std::string tar = LayerBuilder().tar();
  UnpackedLayer layer = unpack(tar, scratch / "layer");
  EXPECT_EQ(layer.diff_id, sha256_of(tar));
  EXPECT_TRUE(stdfs::is_empty(scratch / "layer"));
}

TEST(Layer, WhiteoutBecomesACharacterDeviceAtItsOwnLevelOnly) {
  ScratchDir scratch;
  std::string tar = LayerBuilder()
                        .dir("d")
                        .file("d/test", "kept")
                        .file(".wh.test", "")
                        .file("d/.wh.other", "")
                        .file("e/.wh.gone", "")
                        .tar();
  unpack(tar, scratch / "layer");
  EXPECT_TRUE(is_whiteout(scratch / "layer/test"));
  EXPECT_TRUE(is_whiteout(scratch / "layer/d/other"));
  EXPECT_TRUE(is_whiteout(scratch / "layer/e/gone"));
  EXPECT_EQ(read_text(scratch / "layer/d/test"), "kept");
  EXPECT_FALSE(stdfs::exists(stdfs::symlink_status(scratch / "layer/.wh.test")));
  EXPECT_FALSE(stdfs::exists(stdfs::symlink_status(scratch / "layer/d/.wh.other")));
}

TEST(Layer, OpaqueMarkerSetsTheXattrOnItsDirectory) {
  ScratchDir scratch;
  std::string tar = LayerBuilder()
                        .dir("d", 0750)
                        .file("d/.wh..wh..opq", "")
                        .file("d/new", "n")
                        .file("unlisted/.wh..wh..opq", "")
                        .tar();
  unpack(tar, scratch / "layer");
  EXPECT_EQ(xattr_of(scratch / "layer/d", "user.overlay.opaque"), "y");
  EXPECT_EQ(xattr_of(scratch / "layer/unlisted", "user.overlay.opaque"), "y");
  EXPECT_EQ(xattr_of(scratch / "layer", "user.overlay.opaque"), "(none)");
  EXPECT_EQ(lstat_of(scratch / "layer/d").st_mode & 07777, 0750u);
  EXPECT_TRUE(S_ISDIR(lstat_of(scratch / "layer/unlisted").st_mode));
  EXPECT_TRUE(stdfs::is_empty(scratch / "layer/unlisted"));
  EXPECT_EQ(read_text(scratch / "layer/d/new"), "n");
}

TEST(Layer, HardlinksShareTheInode) {
  ScratchDir scratch;
  unpack(LayerBuilder().file("bin/busybox", "bb").hardlink("bin/sh", "./bin/busybox").tar(),
         scratch / "layer");
  struct stat original = lstat_of(scratch / "layer/bin/busybox");
  struct stat link = lstat_of(scratch / "layer/bin/sh");
  EXPECT_EQ(original.st_ino, link.st_ino);
  EXPECT_EQ(original.st_nlink, 2u);
}

TEST(Layer, SymlinkTargetsAreStoredAsIs) {
  ScratchDir scratch;
  unpack(LayerBuilder().symlink("abs", "/etc/passwd").symlink("rel", "../../up").tar(),
         scratch / "layer");
  EXPECT_EQ(stdfs::read_symlink(scratch / "layer/abs"), "/etc/passwd");
  EXPECT_EQ(stdfs::read_symlink(scratch / "layer/rel"), "../../up");
}

TEST(Layer, FifoIsCreated) {
  ScratchDir scratch;
  unpack(LayerBuilder().add({.path = "run/pipe", .type = AE_IFIFO, .mode = 0620}).tar(),
         scratch / "layer");
  struct stat st = lstat_of(scratch / "layer/run/pipe");
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0620u);
}

TEST(Layer, OwnersModesAndSetuidBitsAreKept) {
  ScratchDir scratch;
  std::string tar =
      LayerBuilder()
          .add({.path = "home/app", .type = AE_IFDIR, .mode = 02770, .uid = 1000, .gid = 1001})
          .add({.path = "bin/su", .mode = 04755, .content = "su", .uid = 0, .gid = 0})
          .add({.path = "bin/tool", .mode = 06711, .content = "t", .uid = 1234, .gid = 5678})
          .add({.path = "home/app/link", .type = AE_IFLNK, .link = "x", .uid = 1000, .gid = 7})
          .tar();
  unpack(tar, scratch / "layer");
  struct stat app = lstat_of(scratch / "layer/home/app");
  EXPECT_EQ(app.st_mode & 07777, 02770u);
  EXPECT_EQ(app.st_uid, 1000u);
  EXPECT_EQ(app.st_gid, 1001u);
  EXPECT_EQ(lstat_of(scratch / "layer/bin/su").st_mode & 07777, 04755u);
  struct stat tool = lstat_of(scratch / "layer/bin/tool");
  EXPECT_EQ(tool.st_mode & 07777, 06711u);
  EXPECT_EQ(tool.st_uid, 1234u);
  EXPECT_EQ(tool.st_gid, 5678u);
  struct stat link = lstat_of(scratch / "layer/home/app/link");
  EXPECT_EQ(link.st_uid, 1000u);
  EXPECT_EQ(link.st_gid, 7u);
}

TEST(Layer, ModificationTimesAreKeptForFilesAndFilledDirectories) {
  ScratchDir scratch;
  std::string tar = LayerBuilder()
                        .add({.path = "d", .type = AE_IFDIR, .mode = 0755, .mtime = 1000})
                        .add({.path = "d/f", .content = "f", .mtime = 2000})
                        .add({.path = "d/l", .type = AE_IFLNK, .link = "f", .mtime = 3000})
                        .tar();
  unpack(tar, scratch / "layer");
  EXPECT_EQ(lstat_of(scratch / "layer/d").st_mtime, 1000);
  EXPECT_EQ(lstat_of(scratch / "layer/d/f").st_mtime, 2000);
  EXPECT_EQ(lstat_of(scratch / "layer/d/l").st_mtime, 3000);
}

TEST(Layer, ReadOnlyDirectoryHoldingAnUnreadableFileUnpacksAndCanBeRemoved) {
  ScratchDir scratch;
  std::string tar = LayerBuilder()
                        .dir("ro", 0555)
                        .file("ro/secret", "s", 0000)
                        .dir("ro/sub", 0500)
                        .file("ro/sub/more", "m", 0000)
                        .tar();
  unpack(tar, scratch / "layer");
  EXPECT_EQ(lstat_of(scratch / "layer/ro").st_mode & 07777, 0555u);
  EXPECT_EQ(lstat_of(scratch / "layer/ro/sub").st_mode & 07777, 0500u);
  EXPECT_EQ(lstat_of(scratch / "layer/ro/secret").st_mode & 07777, 0000u);
  EXPECT_EQ(read_text(scratch / "layer/ro/sub/more"), "m");
  roost::fs::remove_tree(scratch / "layer");
  EXPECT_TRUE(scratch.names().empty());
}

TEST(Layer, DeviceBecomesAnEmptyFileWithItsMode) {
  ScratchDir scratch;
  std::string tar =
      LayerBuilder()
          .add({.path = "dev/tty0", .type = AE_IFCHR, .mode = 0620, .rdev = makedev(4, 0)})
          .add({.path = "dev/sda", .type = AE_IFBLK, .mode = 0660, .rdev = makedev(8, 0)})
          .tar();
  unpack(tar, scratch / "layer");
  for (const char* name : {"layer/dev/tty0", "layer/dev/sda"}) {
    struct stat st = lstat_of(scratch / name);
    EXPECT_TRUE(S_ISREG(st.st_mode)) << name;
    EXPECT_EQ(st.st_size, 0) << name;
  }
  EXPECT_EQ(lstat_of(scratch / "layer/dev/tty0").st_mode & 07777, 0620u);
}

TEST(Layer, LaterEntriesReplaceEarlierOnes) {
  ScratchDir scratch;
  std::string tar = LayerBuilder()
                        .file("a", "file first")
                        .symlink("a", "target")
                        .dir("d", 0700)
                        .file("d/kept", "k")
                        .dir("d", 0750)
                        .dir("x")
                        .file("x/inner", "i")
                        .file("x", "now a file")
                        .symlink("s", "elsewhere")
                        .dir("s", 0711)
                        .tar();
  unpack(tar, scratch / "layer");
  EXPECT_EQ(stdfs::read_symlink(scratch / "layer/a"), "target");
  EXPECT_EQ(read_text(scratch / "layer/d/kept"), "k");
  EXPECT_EQ(lstat_of(scratch / "layer/d").st_mode & 07777, 0750u);
  EXPECT_EQ(read_text(scratch / "layer/x"), "now a file");
  struct stat s = lstat_of(scratch / "layer/s");
  EXPECT_TRUE(S_ISDIR(s.st_mode));
  EXPECT_EQ(s.st_mode & 07777, 0711u);
}

TEST(Layer, UserXattrsAreKeptAndMountDriverXattrsAreNot) {
  ScratchDir scratch;
  std::string tar =
      LayerBuilder()
          .add({.path = "f",
                .content = "x",
                .xattrs = {{"user.note", "hello"}, {"user.overlay.redirect", "/etc"}}})
          .tar();
  unpack(tar, scratch / "layer");
  EXPECT_EQ(xattr_of(scratch / "layer/f", "user.note"), "hello");
  EXPECT_EQ(xattr_of(scratch / "layer/f", "user.overlay.redirect"), "(none)");
}

TEST(Layer, NonAsciiNamesSurvive) {
  ScratchDir scratch;
  const std::string path = "usr/share/zoneinfo/Amérique/Cancún";
  unpack(LayerBuilder().file(path, "tz").tar(), scratch / "layer");
  EXPECT_EQ(read_text(scratch / "layer" / path), "tz");
}

TEST(Layer, ExistingDestinationIsKept) {
  ScratchDir scratch;
  stdfs::create_directory(scratch / "layer");
  roost::fs::write_file_atomic(scratch / "layer/theirs", "t");
  std::string tar = LayerBuilder().file("ours", "o").tar();
  UnpackedLayer layer = unpack(tar, scratch / "layer");
  EXPECT_EQ(layer.diff_id, sha256_of(tar));
  EXPECT_TRUE(stdfs::exists(scratch / "layer/theirs"));
  EXPECT_FALSE(stdfs::exists(scratch / "layer/ours"));
  EXPECT_EQ(scratch.names(), std::vector<std::string>{"layer"});
}

struct RefusedCase {
  std::string name;
  std::function<LayerBuilder(const stdfs::path& outside)> layer;
  std::string message;
};

void PrintTo(const RefusedCase& refused, std::ostream* out) {
  *out << refused.name;
}

class RefusedEntry : public ::testing::TestWithParam<RefusedCase> {};

TEST_P(RefusedEntry, FailsNamingTheEntryAndLeavesNothing) {
  ScratchDir scratch;
  ScratchDir outside;
  roost::fs::write_file_atomic(outside / "passwd", "root");
  std::string tar = GetParam().layer(outside.path()).file("after", "x").tar();

  std::string message = error_of([&] { unpack(compress(tar, "gzip"), scratch / "layer"); });

  EXPECT_EQ(message, GetParam().message);
  EXPECT_TRUE(scratch.names().empty());
  EXPECT_EQ(outside.names(), std::vector<std::string>{"passwd"});
  EXPECT_EQ(read_text(outside / "passwd"), "root");
}

INSTANTIATE_TEST_SUITE_P(
    Escapes, RefusedEntry,
    ::testing::Values(
        RefusedCase{"Absolute", [](auto) { return LayerBuilder().file("/etc/passwd", "x"); },
                    "layer entry \"/etc/passwd\": path leaves the layer"},
        RefusedCase{"DotDot", [](auto) { return LayerBuilder().file("../etc/passwd", "x"); },
                    "layer entry \"../etc/passwd\": path leaves the layer"},
        RefusedCase{"DotDotInside",
                    [](auto) { return LayerBuilder().dir("a").file("a/../../x", "x"); },
                    "layer entry \"a/../../x\": path leaves the layer"},
        RefusedCase{"SymlinkOutside",
                    [](const stdfs::path& outside) {
                      return LayerBuilder().symlink("ln", outside).file("ln/passwd", "x");
                    },
                    "layer entry \"ln/passwd\": path goes through a symlink"},
        RefusedCase{
            "SymlinkInside",
            [](auto) { return LayerBuilder().dir("d").symlink("ln", "d").file("ln/f", "x"); },
            "layer entry \"ln/f\": path goes through a symlink"},
        RefusedCase{"WhiteoutThroughSymlink",
                    [](const stdfs::path& outside) {
                      return LayerBuilder().symlink("ln", outside).file("ln/.wh.passwd", "");
                    },
                    "layer entry \"ln/.wh.passwd\": path goes through a symlink"},
        RefusedCase{"OpaqueThroughSymlink",
                    [](const stdfs::path& outside) {
                      return LayerBuilder().symlink("ln", outside).file("ln/.wh..wh..opq", "");
                    },
                    "layer entry \"ln/.wh..wh..opq\": path goes through a symlink"},
        RefusedCase{"HardlinkDotDot",
                    [](auto) { return LayerBuilder().hardlink("h", "../../etc/passwd"); },
                    "layer entry \"h\": hardlink target \"../../etc/passwd\": path leaves the "
                    "layer"},
        RefusedCase{"HardlinkThroughSymlink",
                    [](const stdfs::path& outside) {
                      return LayerBuilder().symlink("ln", outside).hardlink("h", "ln/passwd");
                    },
                    "layer entry \"h\": hardlink target \"ln/passwd\": path goes through a "
                    "symlink"},
        RefusedCase{"HardlinkToMissing", [](auto) { return LayerBuilder().hardlink("h", "nope"); },
                    "layer entry \"h\": hardlink target \"nope\": not found in this layer"},
        RefusedCase{"ThroughAFile",
                    [](auto) { return LayerBuilder().file("f", "x").file("f/g", "y"); },
                    "layer entry \"f/g\": a parent in the path is not a directory"}),
    [](const auto& info) { return info.param.name; });

TEST(Layer, HardlinkToAnAbsolutePathIsRefused) {
  ScratchDir scratch;
  std::string tar = LayerBuilder().file("etc/passwd").hardlink("h", "/etc/passwd").tar();
  EXPECT_EQ(error_of([&] { unpack(tar, scratch / "layer"); }),
            "layer entry \"h\": hardlink target \"/etc/passwd\": path leaves the layer");
  EXPECT_TRUE(scratch.names().empty());
}

TEST(Layer, CorruptOrTruncatedStreamsFailAndLeaveNothing) {
  std::string tar = LayerBuilder().file("a", std::string(200000, 'a')).file("b", "b").tar();
  std::string gzip = compress(tar, "gzip");
  std::string zstd = compress(tar, "zstd");
  std::string garbage(4096, '\0');
  std::mt19937 generator(3);
  for (auto& c : garbage) c = static_cast<char>(generator());
  for (const std::string& stream :
       {gzip.substr(0, gzip.size() / 2), zstd.substr(0, zstd.size() - 10), tar.substr(0, 100000),
        garbage, std::string("\x1f\x8b") + garbage, std::string()}) {
    ScratchDir scratch;
    std::string message = error_of([&] { unpack(stream, scratch / "layer"); });
    EXPECT_NE(message, "(no error)") << stream.size();
    EXPECT_TRUE(scratch.names().empty()) << message;
  }
}

TEST(Layer, MissingParentDirectoryOfTheDestinationIsAnError) {
  ScratchDir scratch;
  std::string message =
      error_of([&] { unpack(LayerBuilder().file("a").tar(), scratch / "no/such/layer"); });
  EXPECT_NE(message.find("create directory " + (scratch / "no/such/layer").string()),
            std::string::npos)
      << message;
}

TEST(LayerInUserNamespace, UnmappedOwnerFailsNamingTheIdAndLeavesNothing) {
  ScratchDir scratch;
  std::string tar = LayerBuilder()
                        .file("ok", "x")
                        .add({.path = "home/app/x", .content = "x", .uid = 100000, .gid = 0})
                        .tar();
  std::string message = in_single_id_namespace(
      [&] { return error_of([&] { unpack(compress(tar, "zstd"), scratch / "layer"); }); });
  EXPECT_EQ(message,
            "layer entry \"home/app/x\": owner uid 100000 is not mapped in this user namespace "
            "(1 id mapped; the image needs at least 100001): add a larger range to /etc/subuid");
  EXPECT_TRUE(scratch.names().empty());
}

TEST(LayerInUserNamespace, UnmappedGroupIsNamedAsAGid) {
  ScratchDir scratch;
  std::string tar = LayerBuilder().dir("d").add({.path = "d", .type = AE_IFDIR, .gid = 42}).tar();
  std::string message =
      in_single_id_namespace([&] { return error_of([&] { unpack(tar, scratch / "layer"); }); });
  EXPECT_EQ(message,
            "layer entry \"d/\": owner gid 42 is not mapped in this user namespace (1 id mapped; "
            "the image needs at least 43): add a larger range to /etc/subgid");
  EXPECT_TRUE(scratch.names().empty());
}

TEST(LayerInUserNamespace, WhiteoutsAndOpaqueDirectoriesAreCreated) {
  ScratchDir scratch;
  std::string tar = LayerBuilder()
                        .dir("d")
                        .file("d/.wh..wh..opq", "")
                        .file(".wh.gone", "")
                        .add({.path = "bin/su", .mode = 04755, .content = "su"})
                        .tar();
  std::string message =
      in_single_id_namespace([&] { return error_of([&] { unpack(tar, scratch / "layer"); }); });
  EXPECT_EQ(message, "(no error)");
  EXPECT_TRUE(is_whiteout(scratch / "layer/gone"));
  EXPECT_EQ(xattr_of(scratch / "layer/d", "user.overlay.opaque"), "y");
  EXPECT_EQ(lstat_of(scratch / "layer/bin/su").st_mode & 07777, 04755u);
}
