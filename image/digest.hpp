#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace roost::image {

// Incremental sha256 of a byte stream.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  // "sha256:" followed by 64 lowercase hex digits; the hasher is spent afterwards.
  std::string digest();

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> context_;
};

std::string sha256_digest(std::string_view data);

// Hashes the whole file behind `fd` from offset 0; `name` is for error messages.
std::string sha256_digest_of_file(int fd, const std::string& name);

// "sha256:" and 64 lowercase hex digits.
bool is_sha256_digest(std::string_view text);
bool is_hex_id(std::string_view text);

// The hex part of a "sha256:HEX" digest.
inline std::string digest_hex(std::string_view digest) {
  return std::string(digest.substr(digest.find(':') + 1));
}

}  // namespace roost::image
