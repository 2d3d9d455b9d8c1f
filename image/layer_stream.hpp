#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

struct archive;
struct evp_md_ctx_st;

namespace roost::image {

// A layer stream read once: a first libarchive reader undoes any compression (detected
// from the content), every uncompressed block is hashed and counted, then handed
// without a copy to a second reader that parses it as tar.
class LayerStream {
 public:
  explicit LayerStream(int source_fd);
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;
  ~LayerStream();

  archive* tar() const { return tar_.get(); }

  // Reads what the tar reader left (end-of-archive padding, trailing bytes) so the
  // digest covers the whole uncompressed stream, and returns "sha256:HEX".
  std::string finish();
  uint64_t size() const { return size_; }

 private:
  struct ArchiveFree {
    void operator()(archive* a) const;
  };
  struct DigestFree {
    void operator()(evp_md_ctx_st* context) const;
  };

  static ssize_t read_callback(archive* tar, void* self, const void** block);
  ssize_t next_block(const void** block);
  void open_decompressor(int source_fd);
  void open_tar();

  std::unique_ptr<archive, ArchiveFree> decompressed_;
  std::unique_ptr<archive, ArchiveFree> tar_;
  std::unique_ptr<evp_md_ctx_st, DigestFree> digest_;
  uint64_t size_ = 0;
  bool decompressed_done_ = false;
};

}  // namespace roost::image
