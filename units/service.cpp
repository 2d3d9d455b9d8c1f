#include "units/service.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstring>
#include <sstream>

#include "cgroups/limits.hpp"
#include "units/escape.hpp"

namespace roost::units {

namespace {

// Room for roost itself after its own stop timeout: the SIGKILL grace, recording the
// exit and removing the container's files.
constexpr int kStopSlackSeconds = 15;
constexpr int kDefaultStopTimeout = 10;

void add_option(std::vector<std::string>& args, std::string_view option, const std::string& value) {
  if (!value.empty()) args.push_back(fmt::format("--{}={}", option, value));
}

void add_repeated(std::vector<std::string>& args, std::string_view option,
                  const std::vector<std::string>& values) {
  for (const auto& value : values) args.push_back(fmt::format("--{}={}", option, value));
}

void add_process_options(const ContainerSpec& spec, std::vector<std::string>& args) {
  for (const auto& [key, value] : spec.env) args.push_back(fmt::format("--env={}={}", key, value));
  add_repeated(args, "env-file", spec.env_files);
  add_repeated(args, "volume", spec.volumes);
  add_repeated(args, "tmpfs", spec.tmpfs);
  add_option(args, "workdir", spec.workdir);
  add_option(args, "user", spec.user);
  add_option(args, "hostname", spec.hostname);
  add_option(args, "network", spec.network);
  add_option(args, "userns", spec.userns);
  add_option(args, "stop-signal", spec.stop_signal);
  if (spec.stop_timeout) add_option(args, "stop-timeout", std::to_string(*spec.stop_timeout));
  if (spec.read_only) args.push_back("--read-only");
  if (spec.init) args.push_back("--init");
  if (spec.entrypoint) args.push_back("--entrypoint=" + *spec.entrypoint);
}

std::string section(std::string_view name, const UnitLines& lines) {
  std::string text = fmt::format("[{}]\n", name);
  for (const auto& [key, value] : lines) text += fmt::format("{}={}\n", key, value);
  return text;
}

std::string infinity_or(uint64_t value) {
  return value == cgroups::kUnlimited ? "infinity" : std::to_string(value);
}

// systemd's CPUQuota= is a percentage of one CPU with at most two decimals.
std::string cpu_quota(uint64_t usec_per_second) {
  uint64_t permyriad = usec_per_second / 100;
  return fmt::format("{}.{:02}%", permyriad / 100, permyriad % 100);
}

UnitLines limit_lines(const ContainerSpec& spec) {
  cgroups::LimitRequest request;
  for (const auto& [key, value] : spec.limits) request.set(key, value);
  auto limits = cgroups::parse_limits(request);
  UnitLines lines;
  if (limits.memory_max) lines.emplace_back("MemoryMax", infinity_or(*limits.memory_max));
  if (limits.memory_swap_max)
    lines.emplace_back("MemorySwapMax", infinity_or(*limits.memory_swap_max));
  if (limits.memory_low) lines.emplace_back("MemoryLow", infinity_or(*limits.memory_low));
  if (limits.cpu_quota_per_sec_usec)
    lines.emplace_back("CPUQuota", cpu_quota(*limits.cpu_quota_per_sec_usec));
  if (limits.cpu_weight) lines.emplace_back("CPUWeight", std::to_string(*limits.cpu_weight));
  if (limits.tasks_max) lines.emplace_back("TasksMax", infinity_or(*limits.tasks_max));
  if (limits.io_weight) lines.emplace_back("IOWeight", std::to_string(*limits.io_weight));
  return lines;
}

std::string roost_command(const RenderOptions& options, std::vector<std::string> args) {
  args.insert(args.begin(), options.roost.string());
  return exec_line(args);
}

UnitLines unit_lines(const ContainerSpec& spec) {
  UnitLines lines = {
      {"Description",
       specifier_escaped(fmt::format("roost container {} ({})", spec.name, spec.image))},
      {"Documentation", "man:roost-units(5)"},
  };
  if (!spec.source.empty()) lines.emplace_back("SourcePath", spec.source.string());
  lines.insert(lines.end(), spec.unit_extra.begin(), spec.unit_extra.end());
  return lines;
}

UnitLines start_lines(const ContainerSpec& spec, const RenderOptions& options) {
  if (spec.existing)
    return {{"ExecStart", roost_command(options, {"start", "--attach", spec.name})}};
  UnitLines lines = {{"ExecStartPre", "-" + roost_command(options, {"rm", "--force", spec.name})}};
  if (names_archive(spec.image))
    lines.emplace_back("ExecStartPre",
                       roost_command(options, {"__unit-image", spec.name, spec.image}));
  lines.emplace_back("ExecStart", roost_command(options, run_arguments(spec)));
  return lines;
}

UnitLines service_lines(const ContainerSpec& spec, const RenderOptions& options) {
  int stop_signal = effective_stop_signal(spec);
  int stop_timeout = spec.stop_timeout.value_or(kDefaultStopTimeout);
  std::string signal_name = fmt::format("SIG{}", ::sigabbrev_np(stop_signal));
  UnitLines lines = {
      {"Type", spec.sdnotify == "ignore" ? "exec" : "notify"},
      // The monitor is the main process and sends MAINPID itself; a detached monitor
      // (run -d) is not, so it needs more than NotifyAccess=main.
      {"NotifyAccess", "all"},
      {"Delegate", "yes"},
  };
  auto starting = start_lines(spec, options);
  lines.insert(lines.end(), starting.begin(), starting.end());
  UnitLines running = {
      {"ExecStop",
       "-" + roost_command(options, {"stop", fmt::format("--time={}", stop_timeout), spec.name})},
      {"KillMode", "mixed"},
      {"KillSignal", signal_name},
      {"TimeoutStopSec", std::to_string(stop_timeout + kStopSlackSeconds)},
      // roost reports a container ended by its stop signal as 128 + the signal.
      {"SuccessExitStatus", std::to_string(128 + stop_signal)},
      // 125: roost could not set the container up (a missing image, a bad option);
      // 126/127: its command cannot run. Restarting repeats the same error.
      {"RestartPreventExitStatus", "125 126 127"},
      {"Restart", spec.restart},
  };
  lines.insert(lines.end(), running.begin(), running.end());
  // A saved container keeps the limits it was made with, on its leaf of the unit's cgroup.
  auto limits = spec.existing ? UnitLines{} : limit_lines(spec);
  lines.insert(lines.end(), limits.begin(), limits.end());
  lines.insert(lines.end(), spec.service_extra.begin(), spec.service_extra.end());
  return lines;
}

bool has_install_target(const UnitLines& lines) {
  for (const auto& [key, value] : lines)
    if (key == "WantedBy" || key == "RequiredBy") return true;
  return false;
}

UnitLines install_lines(const UnitLines& extra, std::string_view default_target) {
  UnitLines lines;
  if (!has_install_target(extra)) lines.emplace_back("WantedBy", default_target);
  lines.insert(lines.end(), extra.begin(), extra.end());
  return lines;
}

std::string header(const ContainerSpec& spec, const RenderOptions& options) {
  if (spec.source.empty()) return fmt::format("# Generated by {}.\n", options.generated_by);
  return fmt::format("# Generated by {} from {}; edit that file instead.\n", options.generated_by,
                     spec.source.string());
}

UnitFile render_socket(const ContainerSpec& spec, const RenderOptions& options) {
  UnitLines unit = {
      {"Description", specifier_escaped(fmt::format("Socket of roost container {}", spec.name))}};
  return {socket_name(spec), header(spec, options) + section("Unit", unit) + "\n" +
                                 section("Socket", spec.socket) + "\n" +
                                 section("Install", install_lines({}, "sockets.target"))};
}

}  // namespace

std::string service_name(const ContainerSpec& spec) {
  return fmt::format("roost-{}.service", spec.name);
}

std::string socket_name(const ContainerSpec& spec) {
  return fmt::format("roost-{}.socket", spec.name);
}

bool names_archive(const std::string& image) {
  for (std::string_view transport : {"docker-archive:", "oci-archive:", "oci:"})
    if (image.starts_with(transport)) return true;
  return false;
}

std::string archive_image_name(const std::string& container_name) {
  return fmt::format("localhost/roost-unit-{}:latest", container_name);
}

int effective_stop_signal(const ContainerSpec& spec) {
  return spec.stop_signal.empty() ? SIGTERM : signal_number(spec.stop_signal);
}

std::vector<std::string> run_arguments(const ContainerSpec& spec) {
  std::vector<std::string> args = {
      "run", "--rm", "--name=" + spec.name, "--cgroups=split",
      "--sdnotify=" + (spec.sdnotify.empty() ? "conmon" : spec.sdnotify)};
  add_process_options(spec, args);
  args.push_back(names_archive(spec.image) ? archive_image_name(spec.name) : spec.image);
  if (spec.command) args.insert(args.end(), spec.command->begin(), spec.command->end());
  return args;
}

std::vector<UnitFile> render_units(const ContainerSpec& spec, const RenderOptions& options) {
  // A socket-activated service is started by its socket, not at login.
  UnitLines install = spec.install_extra;
  bool activated = !spec.socket.empty();
  std::string text = header(spec, options) + section("Unit", unit_lines(spec)) + "\n" +
                     section("Service", service_lines(spec, options));
  if (!activated || has_install_target(install))
    text += "\n" + section("Install", install_lines(install, "default.target"));
  std::vector<UnitFile> units = {{service_name(spec), text}};
  if (activated) units.push_back(render_socket(spec, options));
  return units;
}

std::vector<std::string> install_directories(const UnitFile& unit) {
  std::vector<std::string> directories;
  std::istringstream lines(unit.text);
  bool in_install = false;
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("[")) in_install = line == "[Install]";
    if (!in_install) continue;
    for (auto [key, suffix] : {std::pair{"WantedBy=", ".wants"}, {"RequiredBy=", ".requires"}}) {
      if (!line.starts_with(key)) continue;
      std::istringstream targets(line.substr(std::strlen(key)));
      for (std::string target; targets >> target;) directories.push_back(target + suffix);
    }
  }
  return directories;
}

}  // namespace roost::units
