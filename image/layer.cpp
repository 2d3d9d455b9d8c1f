#include "image/layer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstdio>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "image/layer_extract.hpp"
#include "image/layer_stream.hpp"

namespace roost::image {

namespace {

std::filesystem::path make_temporary_directory(const std::filesystem::path& destination) {
  auto temporary = destination;
  temporary += ".tmp-" + fs::random_hex(6);
  if (::mkdir(temporary.c_str(), 0700) < 0)
    throw_errno(fmt::format("create directory {}", temporary.string()));
  // A setgid parent passes its group and bit on; the layer's files must get our own.
  if (::chmod(temporary.c_str(), 0700) < 0)
    throw_errno(fmt::format("set mode of {}", temporary.string()));
  return temporary;
}

bool next_entry(archive* tar, archive_entry** entry, const std::string& previous) {
  int status = archive_read_next_header(tar, entry);
  if (status == ARCHIVE_EOF) return false;
  const char* text = archive_error_string(tar);
  std::string where = previous.empty() ? "at the start" : "after entry \"" + previous + "\"";
  if (status < ARCHIVE_WARN || status == ARCHIVE_RETRY)
    throw Error(fmt::format("read layer {}: {}", where, text ? text : "unknown libarchive error"));
  if (status == ARCHIVE_WARN) spdlog::debug("read layer {}: {}", where, text ? text : "");
  return true;
}

UnpackedLayer unpack_into(int source_fd, const std::filesystem::path& root) {
  LayerStream stream(source_fd);
  LayerExtractor extractor(root);
  archive_entry* entry = nullptr;
  std::string previous;
  size_t entries = 0;
  while (next_entry(stream.tar(), &entry, previous)) {
    extractor.extract(stream.tar(), entry);
    const char* name = archive_entry_pathname(entry);
    previous = name != nullptr ? name : "";
    ++entries;
  }
  UnpackedLayer layer{stream.finish(), stream.size()};
  extractor.finish();
  spdlog::debug("unpacked layer {} ({} bytes, {} entries)", layer.diff_id, layer.size, entries);
  return layer;
}

void move_into_place(const std::filesystem::path& temporary,
                     const std::filesystem::path& destination) {
  if (::rename(temporary.c_str(), destination.c_str()) == 0) return;
  if (errno != EEXIST && errno != ENOTEMPTY)
    throw_errno(fmt::format("rename {} to {}", temporary.string(), destination.string()));
  spdlog::debug("layer {} was unpacked by another process meanwhile; keeping that copy",
                destination.string());
  fs::remove_tree(temporary);
}

void discard(const std::filesystem::path& temporary) {
  try {
    fs::remove_tree(temporary);
  } catch (const Error& error) {
    spdlog::warn("remove the partly unpacked layer {}: {}", temporary.string(), error.what());
  }
}

}  // namespace

UnpackedLayer unpack_layer(int source_fd, const std::filesystem::path& destination) {
  auto target = destination.has_filename() ? destination : destination.parent_path();
  auto temporary = make_temporary_directory(target);
  try {
    UnpackedLayer layer = unpack_into(source_fd, temporary);
    move_into_place(temporary, target);
    return layer;
  } catch (...) {
    discard(temporary);
    throw;
  }
}

}  // namespace roost::image
