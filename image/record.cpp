#include "image/record.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "image/digest.hpp"

namespace roost::image {

namespace {

using nlohmann::json;

json optional_list(const std::optional<std::vector<std::string>>& list) {
  return list ? json(*list) : json(nullptr);
}

std::optional<std::vector<std::string>> optional_list_from(const json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<std::vector<std::string>>();
}

json config_to_json(const ImageConfig& config) {
  return {{"architecture", config.architecture},
          {"os", config.os},
          {"variant", config.variant},
          {"entrypoint", optional_list(config.entrypoint)},
          {"cmd", optional_list(config.cmd)},
          {"env", config.env},
          {"working_dir", config.working_dir},
          {"user", config.user},
          {"stop_signal", config.stop_signal},
          {"diff_ids", config.diff_ids},
          {"created", config.created}};
}

ImageConfig config_from_json(const json& value) {
  ImageConfig config;
  config.architecture = value.at("architecture").get<std::string>();
  config.os = value.at("os").get<std::string>();
  config.variant = value.at("variant").get<std::string>();
  config.entrypoint = optional_list_from(value.at("entrypoint"));
  config.cmd = optional_list_from(value.at("cmd"));
  config.env = value.at("env").get<std::vector<std::string>>();
  config.working_dir = value.at("working_dir").get<std::string>();
  config.user = value.at("user").get<std::string>();
  config.stop_signal = value.at("stop_signal").get<std::string>();
  config.diff_ids = value.at("diff_ids").get<std::vector<std::string>>();
  config.created = value.at("created").get<std::string>();
  return config;
}

void check_record(const ImageRecord& record, const std::string& origin) {
  if (!is_hex_id(record.id))
    throw Error(fmt::format("image record {}: \"{}\" is not an image id", origin, record.id));
  for (const auto& layer : record.layers) {
    if (!is_sha256_digest(layer))
      throw Error(fmt::format("image record {}: \"{}\" is not a layer digest", origin, layer));
  }
}

}  // namespace

std::string record_to_json(const ImageRecord& record) {
  json value = {{"id", record.id},         {"names", record.names},
                {"layers", record.layers}, {"created", record.created},
                {"size", record.size},     {"config", config_to_json(record.config)}};
  if (!record.repo_digests.empty()) {
    value["repo_digests"] = record.repo_digests;
    value["manifest_digest"] = record.manifest_digest;
  }
  return value.dump(2) + "\n";
}

ImageRecord record_from_json(const std::string& text, const std::string& origin) {
  try {
    json value = json::parse(text);
    ImageRecord record;
    record.id = value.at("id").get<std::string>();
    record.names = value.at("names").get<std::vector<std::string>>();
    record.layers = value.at("layers").get<std::vector<std::string>>();
    record.created = value.at("created").get<std::string>();
    record.size = value.at("size").get<uint64_t>();
    record.config = config_from_json(value.at("config"));
    // Records written before pulls kept digests have none.
    record.repo_digests = value.value("repo_digests", std::vector<std::string>());
    record.manifest_digest = value.value("manifest_digest", std::string());
    check_record(record, origin);
    return record;
  } catch (const json::exception& error) {
    throw Error(fmt::format("image record {}: {}", origin, error.what()));
  }
}

}  // namespace roost::image
