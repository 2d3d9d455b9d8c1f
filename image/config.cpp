#include "image/config.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "image/digest.hpp"

namespace roost::image {

namespace {

using nlohmann::json;

[[noreturn]] void malformed(std::string_view origin, std::string_view problem) {
  throw Error(fmt::format("image config {}: {}", origin, problem));
}

const json* member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_member(const json& object, const char* key, std::string_view origin) {
  const json* value = member(object, key);
  if (value == nullptr) return "";
  if (!value->is_string()) malformed(origin, fmt::format("\"{}\" is not a string", key));
  return value->get<std::string>();
}

// Docker writes a lone string where a list of one is meant in some old configs.
std::optional<std::vector<std::string>> string_list_member(const json& object, const char* key,
                                                           std::string_view origin) {
  const json* value = member(object, key);
  if (value == nullptr) return std::nullopt;
  if (value->is_string()) return std::vector<std::string>{value->get<std::string>()};
  if (!value->is_array()) malformed(origin, fmt::format("\"{}\" is not a list of strings", key));
  std::vector<std::string> items;
  for (const json& item : *value) {
    if (!item.is_string()) malformed(origin, fmt::format("\"{}\" holds a non-string", key));
    items.push_back(item.get<std::string>());
  }
  return items;
}

void read_run_config(const json& top, ImageConfig& config, std::string_view origin) {
  const json* run = member(top, "config");
  if (run == nullptr) return;
  if (!run->is_object()) malformed(origin, "\"config\" is not an object");
  config.entrypoint = string_list_member(*run, "Entrypoint", origin);
  config.cmd = string_list_member(*run, "Cmd", origin);
  config.env = string_list_member(*run, "Env", origin).value_or(std::vector<std::string>{});
  config.working_dir = string_member(*run, "WorkingDir", origin);
  config.user = string_member(*run, "User", origin);
  config.stop_signal = string_member(*run, "StopSignal", origin);
}

void read_diff_ids(const json& top, ImageConfig& config, std::string_view origin) {
  const json* rootfs = member(top, "rootfs");
  if (rootfs == nullptr) return;
  if (!rootfs->is_object()) malformed(origin, "\"rootfs\" is not an object");
  auto diff_ids = string_list_member(*rootfs, "diff_ids", origin);
  if (!diff_ids) return;
  for (const auto& diff_id : *diff_ids) {
    if (!is_sha256_digest(diff_id))
      malformed(origin, fmt::format("diff id \"{}\" is not sha256: and 64 hex digits", diff_id));
  }
  config.diff_ids = std::move(*diff_ids);
}

std::string platform_of(const ImageConfig& config) {
  std::string text = (config.os.empty() ? "linux" : config.os) + "/" + config.architecture;
  if (!config.variant.empty()) text += "/" + config.variant;
  return text;
}

}  // namespace

ImageConfig parse_image_config(std::string_view text, std::string_view origin) {
  json top = json::parse(text, nullptr, false);
  if (top.is_discarded()) malformed(origin, "not valid JSON");
  if (!top.is_object()) malformed(origin, "not a JSON object");
  ImageConfig config;
  config.architecture = string_member(top, "architecture", origin);
  config.os = string_member(top, "os", origin);
  config.variant = string_member(top, "variant", origin);
  config.created = string_member(top, "created", origin);
  read_run_config(top, config, origin);
  read_diff_ids(top, config, origin);
  return config;
}

std::string host_architecture() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
#error "roost does not know the GOARCH name of this architecture"
#endif
}

void check_platform(const ImageConfig& config, std::string_view image_name) {
  std::string host = host_architecture();
  if (config.architecture.empty()) {
    spdlog::warn("image {} does not say which architecture it is for; assuming linux/{}",
                 image_name, host);
    return;
  }
  bool os_matches = config.os.empty() || config.os == "linux";
  if (os_matches && config.architecture == host) return;
  throw Error(
      fmt::format("image {} is for {} but this host is linux/{}; use an image built for "
                  "linux/{}",
                  image_name, platform_of(config), host, host));
}

}  // namespace roost::image
