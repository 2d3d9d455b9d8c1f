#include "image/digest.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/error.hpp"

namespace roost::image {

namespace {

constexpr size_t kHexIdLength = 64;
constexpr size_t kReadChunk = 1 << 20;

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

}  // namespace

Sha256::Sha256() : context_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
  if (!context_ || EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) != 1)
    throw Error("start a sha256 hash: OpenSSL failed");
}

void Sha256::update(const void* data, size_t size) {
  if (EVP_DigestUpdate(context_.get(), data, size) != 1)
    throw Error("update a sha256 hash: OpenSSL failed");
}

std::string Sha256::digest() {
  unsigned char raw[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context_.get(), raw, &length) != 1)
    throw Error("finish a sha256 hash: OpenSSL failed");
  std::string text = "sha256:";
  for (unsigned int i = 0; i < length; ++i) text += fmt::format("{:02x}", raw[i]);
  return text;
}

std::string sha256_digest(std::string_view data) {
  Sha256 hasher;
  hasher.update(data.data(), data.size());
  return hasher.digest();
}

std::string sha256_digest_of_file(int fd, const std::string& name) {
  Sha256 hasher;
  std::vector<char> buffer(kReadChunk);
  off_t offset = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno(fmt::format("read {}", name));
    if (n == 0) break;
    hasher.update(buffer.data(), static_cast<size_t>(n));
    offset += n;
  }
  return hasher.digest();
}

bool is_hex_id(std::string_view text) {
  return text.size() == kHexIdLength && std::all_of(text.begin(), text.end(), is_lower_hex);
}

bool is_sha256_digest(std::string_view text) {
  return text.starts_with("sha256:") && is_hex_id(text.substr(7));
}

}  // namespace roost::image
