#include "image/layer_stream.hpp"

#include <archive.h>
#include <openssl/evp.h>

#include <fmt/format.h>

#include "common/error.hpp"

namespace roost::image {

namespace {

// Large reads keep the number of read(2) calls low for multi-gigabyte layers.
constexpr size_t kReadBlockBytes = size_t{1} << 20;

std::string hex_of(const unsigned char* bytes, unsigned int length) {
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", bytes[i]);
  return hex;
}

std::string archive_message(archive* a) {
  const char* text = archive_error_string(a);
  return text != nullptr ? text : "unknown libarchive error";
}

}  // namespace

void LayerStream::ArchiveFree::operator()(archive* a) const {
  archive_read_free(a);
}

void LayerStream::DigestFree::operator()(evp_md_ctx_st* context) const {
  EVP_MD_CTX_free(context);
}

LayerStream::LayerStream(int source_fd) : digest_(EVP_MD_CTX_new()) {
  if (!digest_ || EVP_DigestInit_ex(digest_.get(), EVP_sha256(), nullptr) != 1)
    throw Error("read layer stream: cannot set up sha256");
  open_decompressor(source_fd);
  open_tar();
}

LayerStream::~LayerStream() = default;

void LayerStream::open_decompressor(int source_fd) {
  decompressed_.reset(archive_read_new());
  archive* a = decompressed_.get();
  if (a == nullptr) throw Error("read layer stream: cannot allocate a libarchive reader");
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_xz(a);
  archive_read_support_filter_bzip2(a);
  archive_read_support_format_raw(a);
  archive_entry* whole_stream = nullptr;
  if (archive_read_open_fd(a, source_fd, kReadBlockBytes) != ARCHIVE_OK ||
      archive_read_next_header(a, &whole_stream) != ARCHIVE_OK)
    throw Error("read layer stream: " + archive_message(a));
}

void LayerStream::open_tar() {
  tar_.reset(archive_read_new());
  archive* a = tar_.get();
  if (a == nullptr) throw Error("read layer stream: cannot allocate a libarchive reader");
  archive_read_support_format_tar(a);
  if (archive_read_open(a, this, nullptr, &LayerStream::read_callback, nullptr) != ARCHIVE_OK)
    throw Error("read layer stream as tar: " + archive_message(a));
}

ssize_t LayerStream::read_callback(archive*, void* self, const void** block) {
  return static_cast<LayerStream*>(self)->next_block(block);
}

// The block stays valid until the next call, which is exactly how long libarchive's
// read callback contract asks the tar reader's input to live.
ssize_t LayerStream::next_block(const void** block) {
  if (decompressed_done_) return 0;
  size_t length = 0;
  la_int64_t offset = 0;
  int status = archive_read_data_block(decompressed_.get(), block, &length, &offset);
  if (status == ARCHIVE_EOF) {
    decompressed_done_ = true;
    return 0;
  }
  if (status < ARCHIVE_WARN) {
    archive_set_error(tar_.get(), archive_errno(decompressed_.get()), "%s",
                      archive_message(decompressed_.get()).c_str());
    return ARCHIVE_FATAL;
  }
  EVP_DigestUpdate(digest_.get(), *block, length);
  size_ += length;
  return static_cast<ssize_t>(length);
}

std::string LayerStream::finish() {
  const void* block = nullptr;
  while (next_block(&block) > 0) {
  }
  if (!decompressed_done_)
    throw Error("read layer stream after the end of the tar archive: " +
                archive_message(tar_.get()));
  unsigned char sum[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(digest_.get(), sum, &length) != 1)
    throw Error("read layer stream: cannot finish sha256");
  return "sha256:" + hex_of(sum, length);
}

}  // namespace roost::image
