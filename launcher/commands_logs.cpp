#include <fmt/format.h>

#include <charconv>

#include "common/error.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/journal.hpp"

namespace roost::cli {

namespace {

size_t tail_option(const std::string& text) {
  size_t lines = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), lines);
  if (error != std::errc() || end != text.data() + text.size())
    throw UsageError(fmt::format("--tail {}: use a number of lines (0 or more)", text));
  return lines;
}

LogQuery log_query(const ParsedCommand& command) {
  LogQuery query;
  auto now = now_nanos();
  if (command.has("since")) query.since = parse_point_in_time(command.value("since"), "since", now);
  if (command.has("until")) query.until = parse_point_in_time(command.value("until"), "until", now);
  if (command.has("tail") && command.value("tail") != "-1")
    query.tail = tail_option(command.value("tail"));
  query.timestamps = command.has("timestamps");
  query.follow = command.has("follow");
  return query;
}

}  // namespace

int cmd_logs(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  auto query = log_query(command);
  auto record = store.get(command.positionals[0]);
  if (record.settings.log_driver == "none")
    throw UsageError(fmt::format("container {} keeps no log: it was created with --log-driver none",
                                 record.name));
  auto still_running = [&] {
    auto now = store.find(record.id);
    return now && is_active(*now);
  };
  if (record.settings.log_driver == "journald")
    print_journal(record.id, query, still_running);
  else
    print_log(store.log_path(record.id), query, still_running);
  return 0;
}

}  // namespace roost::cli
