#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roost::image {

// The parts of an OCI/Docker image configuration that running needs.
struct ImageConfig {
  std::string architecture;  // GOARCH names: amd64, arm64, ...
  std::string os;
  std::string variant;
  std::optional<std::vector<std::string>> entrypoint;  // null and absent are nullopt
  std::optional<std::vector<std::string>> cmd;
  std::vector<std::string> env;  // "Env": null gives an empty list
  std::string working_dir;
  std::string user;
  std::string stop_signal;
  std::vector<std::string> diff_ids;  // "sha256:...", bottom layer first
  std::string created;                // RFC 3339 as written; empty when absent
};

// Throws Error naming `origin` (a file or digest) when the JSON is malformed.
ImageConfig parse_image_config(std::string_view json, std::string_view origin);

// The host's platform in GOARCH/GOOS terms (amd64/linux on x86_64).
std::string host_architecture();

// Throws Error naming the image, its platform and the host's when they differ.
void check_platform(const ImageConfig& config, std::string_view image_name);

}  // namespace roost::image
