#include <csignal>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/format_template.hpp"
#include "launcher/launch.hpp"
#include "launcher/lifecycle.hpp"
#include "launcher/runtime.hpp"

namespace roost::cli {

namespace {

// The containers named, or all of them for --all; missing names fail unless --force.
// Every one is checked before any is removed, so that bad input changes nothing.
std::vector<ContainerRecord> containers_to_remove(const ParsedCommand& command,
                                                  const ContainerStore& store) {
  bool force = command.has("force");
  if (command.has("all") && !command.positionals.empty())
    throw UsageError("roost rm: give container names or --all, not both");
  if (!command.has("all") && command.positionals.empty())
    throw UsageError("roost rm: missing CONTAINER; see 'roost rm --help'");
  std::vector<ContainerRecord> doomed;
  if (command.has("all")) doomed = store.list();
  for (const auto& name : command.positionals) {
    auto record = store.find(name);
    if (record)
      doomed.push_back(*record);
    else if (!force)
      throw UsageError(fmt::format("no container named {}; see 'roost ps -a'", name));
  }
  for (const auto& record : doomed) {
    if (force) continue;
    if (is_active(record))
      throw wrong_state(record, fmt::format("stop it first or use 'roost rm -f {}'", record.name));
    if (record.status == kCorrupt)
      throw wrong_state(record, fmt::format("remove it with 'roost rm -f {}'", record.id));
  }
  return doomed;
}

// Under the container's lock: kills what still runs, then removes it. A container
// removed meanwhile by another command counts as removed.
bool remove_one(const Context& context, const ContainerStore& store, const ContainerRecord& found,
                bool force) {
  ContainerLock lock;
  try {
    lock = store.lock(found);
  } catch (const UsageError&) {
    return force;
  }
  auto record = store.reload(found);
  if (is_active(record) && !force)
    throw wrong_state(record, fmt::format("stop it first or use 'roost rm -f {}'", record.name));
  if (record.status == kRunning) stop_process(record, SIGKILL, 0);
  if (record.status == kCorrupt) kill_processes_of_corrupt(store, record);
  remove_container(context, store, record);
  return true;
}

std::string joined_command(const ContainerRecord& record, size_t width) {
  std::string joined;
  for (const auto& arg : record.command) joined += (joined.empty() ? "" : " ") + arg;
  if (width > 3 && joined.size() > width) joined = joined.substr(0, width - 3) + "...";
  return joined;
}

nlohmann::json ps_entry(const ContainerRecord& record) {
  nlohmann::json entry = {{"Id", record.id},
                          {"Names", {record.name}},
                          {"Image", record.image_name},
                          {"ImageID", record.image_id},
                          {"Command", record.command},
                          {"Created", record.created},
                          {"State", record.status},
                          {"Status", describe_status(record)},
                          {"Pid", record.status == kRunning ? record.process.pid : 0},
                          {"StartedAt", record.started_at},
                          {"FinishedAt", record.finished_at},
                          {"AutoRemove", record.remove_on_exit}};
  entry["ExitCode"] = record.exit_code ? nlohmann::json(*record.exit_code) : nullptr;
  if (!record.error.empty()) entry["Error"] = record.error;
  return entry;
}

// ps_entry with the names a --format template uses: ID as the table shows it, one Name.
nlohmann::json ps_template_row(const ContainerRecord& record, bool no_trunc) {
  auto row = ps_entry(record);
  row["ID"] = no_trunc ? record.id : record.id.substr(0, 12);
  row["Names"] = row["Name"] = record.name;
  row["Command"] = joined_command(record, 0);
  return row;
}

// Columns as wide as their longest entry, as in 'roost images'; the names come last.
void print_ps_table(const std::vector<ContainerRecord>& records, bool no_trunc) {
  using Row = std::array<std::string, 6>;
  std::vector<Row> rows = {{"CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"}};
  for (const auto& record : records)
    rows.push_back({no_trunc ? record.id : record.id.substr(0, 12), record.image_name,
                    joined_command(record, no_trunc ? 0 : 22), record.created.substr(0, 19) + "Z",
                    describe_status(record), record.name.empty() ? "-" : record.name});
  Row::size_type last = rows.front().size() - 1;
  std::array<size_t, 6> widths = {};
  for (const auto& row : rows)
    for (Row::size_type column = 0; column < last; ++column)
      widths[column] = std::max(widths[column], row[column].size());
  for (const auto& row : rows) {
    std::string line;
    for (Row::size_type column = 0; column < last; ++column)
      line += fmt::format("{:<{}}   ", row[column], widths[column]);
    fmt::print("{}{}\n", line, row[last]);
  }
}

// An ended --rm container whose roost or monitor was killed before removing it is
// removed by listing it; one whose monitor lives is being removed by it. True when it
// is not to be listed.
bool removed_after_its_end(const Context& context, const ContainerStore& store,
                           const ContainerRecord& record) {
  if (!awaits_removal(record)) return false;
  if (is_running(record.monitor)) return true;
  try {
    finish_removal(context, store, record);
    return true;
  } catch (const Error& error) {
    spdlog::warn("container {} ended and was not removed (--rm): {}; remove it with 'roost rm {}'",
                 record.name, error.what(), record.name);
    return false;
  }
}

}  // namespace

int cmd_rm(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  for (const auto& record : containers_to_remove(command, store))
    if (remove_one(context, store, record, command.has("force"))) fmt::print("{}\n", record.id);
  return 0;
}

int cmd_ps(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  std::vector<ContainerRecord> shown;
  for (auto& record : store.list()) {
    if (removed_after_its_end(context, store, record)) continue;
    if (command.has("all") || record.status == kRunning) shown.push_back(std::move(record));
  }
  if (command.has("quiet")) {
    for (const auto& record : shown)
      fmt::print("{}\n", command.has("no-trunc") ? record.id : record.id.substr(0, 12));
  } else if (is_format_template(command.value("format"))) {
    auto rows = nlohmann::json::array();
    for (const auto& record : shown)
      rows.push_back(ps_template_row(record, command.has("no-trunc")));
    print_with_template(command.value("format"), kPsTemplateFields, rows);
  } else if (command.value("format", "table") == "json") {
    auto entries = nlohmann::json::array();
    for (const auto& record : shown) entries.push_back(ps_entry(record));
    fmt::print("{}\n", entries.dump(2));
  } else {
    print_ps_table(shown, command.has("no-trunc"));
  }
  return 0;
}

int cmd_container_prune(const ParsedCommand&, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  for (const auto& record : store.list()) {
    if (is_active(record)) continue;
    try {
      ContainerLock lock = store.lock(record);
      auto current = store.reload(record);
      if (is_active(current)) continue;
      remove_container(context, store, current);
      fmt::print("{}\n", record.id);
    } catch (const UsageError&) {
      spdlog::debug("container {} was removed meanwhile", record.id);
    }
  }
  auto leftovers = store.retired_dirs();
  if (!leftovers.empty())
    in_user_namespace(context, [&] {
      for (const auto& dir : leftovers) fs::remove_tree(dir);
      return 0;
    });
  return 0;
}

}  // namespace roost::cli
