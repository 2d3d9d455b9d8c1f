#include "launcher/monitor_handoff.hpp"

#include <charconv>
#include <functional>

#include "common/error.hpp"

namespace roost::cli {

namespace {

constexpr std::string_view kFinishSeparator = "--";

template <typename Number>
Number parse_number(std::string_view name, std::string_view text) {
  Number value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size())
    throw UsageError("--" + std::string(name) + "=" + std::string(text) +
                     ": not a number; roost-monitor is started by 'roost run -d', not by hand");
  return value;
}

struct Field {
  std::string_view name;
  std::function<std::string(const MonitorHandoff&)> write;
  std::function<void(MonitorHandoff&, std::string_view name, std::string_view)> read;
};

template <typename Number>
Field number_field(std::string_view name, Number MonitorHandoff::*member) {
  return {name, [member](const MonitorHandoff& h) { return std::to_string(h.*member); },
          [member](MonitorHandoff& h, std::string_view field, std::string_view text) {
            h.*member = parse_number<Number>(field, text);
          }};
}

Field text_field(std::string_view name, std::string MonitorHandoff::*member) {
  return {name, [member](const MonitorHandoff& h) { return h.*member; },
          [member](MonitorHandoff& h, std::string_view, std::string_view text) {
            h.*member = std::string(text);
          }};
}

Field journal_field(std::string_view name, std::string JournalFields::*member) {
  return {name, [member](const MonitorHandoff& h) { return h.journal.*member; },
          [member](MonitorHandoff& h, std::string_view, std::string_view text) {
            h.journal.*member = std::string(text);
          }};
}

const std::vector<Field>& fields() {
  static const std::vector<Field> table = {
      number_field("pid", &MonitorHandoff::pid),
      number_field("pidfd", &MonitorHandoff::pidfd),
      number_field("terminal", &MonitorHandoff::terminal),
      number_field("out", &MonitorHandoff::out),
      number_field("err", &MonitorHandoff::err),
      number_field("input", &MonitorHandoff::input),
      number_field("attach-listener", &MonitorHandoff::attach_listener),
      text_field("attach-path", &MonitorHandoff::attach_path),
      number_field("notify-relay", &MonitorHandoff::notify_relay),
      number_field("oom-inotify", &MonitorHandoff::oom_inotify),
      text_field("cgroup", &MonitorHandoff::cgroup),
      number_field("oom-kills", &MonitorHandoff::oom_kills),
      text_field("log-driver", &MonitorHandoff::log_driver),
      text_field("log-path", &MonitorHandoff::log_path),
      number_field("log-max-size", &MonitorHandoff::log_max_size),
      journal_field("container-name", &JournalFields::container_name),
      journal_field("container-id", &JournalFields::container_id),
      journal_field("image-name", &JournalFields::image_name),
      number_field("roost-executable", &MonitorHandoff::roost_executable),
  };
  return table;
}

}  // namespace

std::vector<std::string> handoff_arguments(const MonitorHandoff& handoff) {
  std::vector<std::string> arguments;
  for (const auto& field : fields())
    arguments.push_back("--" + std::string(field.name) + "=" + field.write(handoff));
  if (handoff.debug) arguments.emplace_back("--debug");
  arguments.emplace_back(kFinishSeparator);
  arguments.insert(arguments.end(), handoff.finish_command.begin(), handoff.finish_command.end());
  return arguments;
}

MonitorHandoff parse_handoff(const std::vector<std::string_view>& arguments) {
  MonitorHandoff handoff;
  size_t next = 0;
  for (; next < arguments.size() && arguments[next] != kFinishSeparator; ++next) {
    auto argument = arguments[next];
    if (argument == "--debug") {
      handoff.debug = true;
      continue;
    }
    auto equals = argument.find('=');
    auto name = argument.starts_with("--") ? argument.substr(2, equals - 2) : std::string_view();
    const Field* known = nullptr;
    for (const auto& field : fields())
      if (equals != std::string_view::npos && field.name == name) known = &field;
    if (known == nullptr)
      throw UsageError(std::string(argument) +
                       ": not an option of roost-monitor; it is started by 'roost run -d', "
                       "not by hand");
    known->read(handoff, name, argument.substr(equals + 1));
  }
  for (++next; next < arguments.size(); ++next)
    handoff.finish_command.emplace_back(arguments[next]);
  if (handoff.pid <= 0 || handoff.pidfd < 0 || handoff.finish_command.empty())
    throw UsageError(
        "--pid, --pidfd and the command after -- are needed; roost-monitor is started by "
        "'roost run -d', not by hand");
  return handoff;
}

}  // namespace roost::cli
