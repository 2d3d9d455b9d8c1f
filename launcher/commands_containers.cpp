#include <fmt/format.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/runtime.hpp"

namespace roost::cli {

int cmd_rm(const ParsedCommand& command, Context& context) {
  ContainerStore containers(context.settings.data_root, context.settings.runtime_root);
  std::vector<ContainerRecord> doomed;
  for (const auto& name : command.positionals) {
    auto record = containers.find(name);
    if (!record) {
      if (command.has("force")) continue;
      throw UsageError(fmt::format("no container named {}; see 'roost ps -a'", name));
    }
    if (record->status == "running")
      throw UsageError(fmt::format("container {} is running; stop it first", record->name));
    doomed.push_back(*record);
  }
  if (doomed.empty()) return 0;
  in_user_namespace(context, [&] {
    for (const auto& record : doomed) fs::remove_tree(containers.data_dir(record.id));
    return 0;
  });
  for (const auto& record : doomed) {
    containers.forget(record);
    fmt::print("{}\n", record.id);
  }
  return 0;
}

int cmd_ps(const ParsedCommand& command, Context& context) {
  ContainerStore containers(context.settings.data_root, context.settings.runtime_root);
  fmt::print("{:<14} {:<28} {:<24} {:<22} {:<16} {}\n", "CONTAINER ID", "IMAGE", "COMMAND",
             "CREATED", "STATUS", "NAMES");
  for (const auto& record : containers.list()) {
    if (record.status != "running" && !command.has("all")) continue;
    std::string joined;
    for (const auto& arg : record.command) joined += (joined.empty() ? "" : " ") + arg;
    if (joined.size() > 22) joined = joined.substr(0, 19) + "...";
    std::string status =
        record.status == "exited" ? fmt::format("Exited ({})", record.exit_code) : record.status;
    fmt::print("{:<14} {:<28} {:<24} {:<22} {:<16} {}\n", record.id.substr(0, 12),
               record.image_name, joined, record.created, status, record.name);
  }
  return 0;
}

}  // namespace roost::cli
