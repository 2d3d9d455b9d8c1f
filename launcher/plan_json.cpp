#include "launcher/plan_json.hpp"

#include <fmt/format.h>

#include "common/error.hpp"

namespace roost::cli {

namespace {

using nlohmann::json;

json map_to_json(const userns::IdMap& map) {
  json entries = json::array();
  for (const auto& entry : map) entries.push_back({entry.inside, entry.outside, entry.count});
  return entries;
}

userns::IdMap map_from_json(const json& entries) {
  userns::IdMap map;
  for (const auto& entry : entries)
    map.push_back(
        {entry.at(0).get<uint32_t>(), entry.at(1).get<uint32_t>(), entry.at(2).get<uint32_t>()});
  return map;
}

json mounts_to_json(const ContainerPlan& plan) {
  json binds = json::array();
  for (const auto& bind : plan.binds)
    binds.push_back(
        {{"source", bind.source}, {"destination", bind.destination}, {"ro", bind.read_only}});
  json tmpfs = json::array();
  for (const auto& mount : plan.tmpfs)
    tmpfs.push_back(
        {{"destination", mount.destination}, {"options", mount.options}, {"flags", mount.flags}});
  return {{"binds", binds}, {"tmpfs", tmpfs}};
}

void mounts_from_json(const json& saved, ContainerPlan& plan) {
  for (const auto& bind : saved.at("binds"))
    plan.binds.push_back({bind.at("source").get<std::string>(),
                          bind.at("destination").get<std::string>(), bind.at("ro").get<bool>()});
  for (const auto& mount : saved.at("tmpfs"))
    plan.tmpfs.push_back({mount.at("destination").get<std::string>(),
                          mount.at("options").get<std::string>(),
                          mount.at("flags").get<unsigned long>()});
}

std::vector<std::filesystem::path> paths_from_json(const json& saved) {
  std::vector<std::filesystem::path> paths;
  for (const auto& path : saved) paths.emplace_back(path.get<std::string>());
  return paths;
}

// A plan saved without the store's maps shows stored owners as its own maps read them.
void storage_maps_from_json(const json& saved, ContainerPlan& plan) {
  if (!saved.contains("storage_uid_map")) {
    plan.storage_maps = plan.maps;
    return;
  }
  plan.storage_maps.uids = map_from_json(saved.at("storage_uid_map"));
  plan.storage_maps.gids = map_from_json(saved.at("storage_gid_map"));
}

}  // namespace

json plan_to_json(const ContainerPlan& plan) {
  json lower = json::array();
  for (const auto& dir : plan.lower_dirs) lower.push_back(dir.string());
  return {
      {"image_name", plan.image_name},
      {"image_id", plan.image_id},
      {"argv", plan.argv},
      {"env", plan.env},
      {"working_dir", plan.working_dir},
      {"user", plan.user},
      {"hostname", plan.hostname},
      {"lower_dirs", lower},
      {"upper_dir", plan.upper_dir.string()},
      {"work_dir", plan.work_dir.string()},
      {"rootfs", plan.rootfs.string()},
      {"storage_driver", plan.storage_driver},
      {"etc_dir", plan.etc_dir.string()},
      {"mounts", mounts_to_json(plan)},
      {"read_only", plan.read_only},
      {"tty", plan.tty},
      {"interactive", plan.interactive},
      {"init", plan.init},
      {"new_network", plan.new_network},
      {"uid_map", map_to_json(plan.maps.uids)},
      {"gid_map", map_to_json(plan.maps.gids)},
      {"storage_uid_map", map_to_json(plan.storage_maps.uids)},
      {"storage_gid_map", map_to_json(plan.storage_maps.gids)},
  };
}

ContainerPlan plan_from_json(const json& saved) {
  try {
    ContainerPlan plan;
    plan.image_name = saved.at("image_name").get<std::string>();
    plan.image_id = saved.at("image_id").get<std::string>();
    plan.argv = saved.at("argv").get<std::vector<std::string>>();
    plan.env = saved.at("env").get<std::vector<std::string>>();
    plan.working_dir = saved.at("working_dir").get<std::string>();
    plan.user = saved.at("user").get<std::string>();
    plan.hostname = saved.at("hostname").get<std::string>();
    plan.lower_dirs = paths_from_json(saved.at("lower_dirs"));
    plan.upper_dir = saved.at("upper_dir").get<std::string>();
    plan.work_dir = saved.at("work_dir").get<std::string>();
    plan.rootfs = saved.at("rootfs").get<std::string>();
    plan.storage_driver = saved.at("storage_driver").get<std::string>();
    plan.etc_dir = saved.at("etc_dir").get<std::string>();
    mounts_from_json(saved.at("mounts"), plan);
    plan.read_only = saved.at("read_only").get<bool>();
    plan.tty = saved.at("tty").get<bool>();
    plan.interactive = saved.at("interactive").get<bool>();
    plan.init = saved.at("init").get<bool>();
    plan.new_network = saved.at("new_network").get<bool>();
    plan.maps.uids = map_from_json(saved.at("uid_map"));
    plan.maps.gids = map_from_json(saved.at("gid_map"));
    storage_maps_from_json(saved, plan);
    return plan;
  } catch (const json::exception& error) {
    throw Error(fmt::format("read the saved plan: {}", error.what()));
  }
}

}  // namespace roost::cli
