#include <sys/ioctl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>

#include "cgroups/host.hpp"
#include "cgroups/limits.hpp"
#include "cgroups/stats.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "image/config.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/monitor.hpp"
#include "launcher/plan.hpp"
#include "launcher/runtime.hpp"
#include "launcher/signals.hpp"

namespace roost::cli {

namespace {

cgroups::LimitRequest limit_request(const ParsedCommand& command) {
  cgroups::LimitRequest request;
  for (auto key : cgroups::kLimitKeys)
    if (command.has(key)) request.set(key, command.value(key));
  return request;
}

// A scope wherever the host can make one (as podman does with systemd), so the
// container's processes are accounted and stoppable as a unit; limits on a host that
// cannot are refused before anything starts.
std::optional<cgroups::ScopeRequest> plan_scope(const ParsedCommand& command) {
  auto request = limit_request(command);
  auto limits = cgroups::parse_limits(request);
  if (command.value("cgroups") == "disabled") {
    if (!request.empty())
      throw UsageError(
          fmt::format("--{} needs a cgroup, but --cgroups=disabled was given; drop "
                      "one of them",
                      request.values.begin()->first));
    return std::nullopt;
  }
  auto host = cgroups::detect_host_support();
  if (!host.can_limit && request.empty()) {
    spdlog::debug("no cgroup is created for this container: {}", host.reason);
    return std::nullopt;
  }
  cgroups::ScopeRequest scope;
  scope.limits = cgroups::applicable_limits(limits, host);
  scope.bus_address = host.bus.address;
  if (command.has("cgroup-parent")) scope.slice = command.value("cgroup-parent");
  return scope;
}

std::string resolv_conf_content(bool new_network) {
  if (new_network) return "";
  std::error_code error;
  auto resolved = std::filesystem::canonical("/etc/resolv.conf", error);
  if (error) {
    spdlog::warn("/etc/resolv.conf cannot be resolved ({}); the container gets an empty one",
                 error.message());
    return "";
  }
  return fs::read_file(resolved);
}

void write_etc_files(const ContainerPlan& plan, const std::string& name) {
  fs::write_file_atomic(plan.etc_dir / "hostname", plan.hostname + "\n");
  fs::write_file_atomic(plan.etc_dir / "hosts",
                        fmt::format("127.0.0.1\tlocalhost localhost.localdomain\n"
                                    "::1\tlocalhost localhost.localdomain ip6-localhost "
                                    "ip6-loopback\n127.0.1.1\t{} {}\n",
                                    plan.hostname, name));
  fs::write_file_atomic(plan.etc_dir / "resolv.conf", resolv_conf_content(plan.new_network));
}

std::vector<std::string> env_file_lines(const ParsedCommand& command) {
  std::vector<std::string> lines;
  for (const auto& file : command.all("env-file")) {
    std::string content;
    try {
      content = fs::read_file(file);
    } catch (const Error& error) {
      throw UsageError(fmt::format("--env-file {}: {}", file, error.what()));
    }
    auto parsed = parse_env_file(content, file);
    lines.insert(lines.end(), parsed.begin(), parsed.end());
  }
  return lines;
}

std::optional<std::string> entrypoint_option(const ParsedCommand& command) {
  if (!command.has("entrypoint")) return std::nullopt;
  return command.value("entrypoint");
}

void add_mounts(const ParsedCommand& command, ContainerPlan& plan) {
  auto cwd = std::filesystem::current_path();
  for (const auto& value : command.all("volume")) {
    auto bind = parse_volume(value, cwd);
    if (::access(bind.source.c_str(), F_OK) < 0)
      throw UsageError(
          fmt::format("-v {}: the source {} does not exist; create it first", value, bind.source));
    plan.binds.push_back(bind);
  }
  for (const auto& value : command.all("tmpfs")) plan.tmpfs.push_back(parse_tmpfs(value));
}

void describe_process(const ParsedCommand& command, const image::ImageRecord& image,
                      ContainerPlan& plan) {
  std::vector<std::string> arguments(command.positionals.begin() + 1, command.positionals.end());
  plan.argv = resolve_command(image.config, entrypoint_option(command), arguments);
  plan.tty = command.has("tty");
  plan.interactive = command.has("interactive");
  plan.init = command.has("init");
  plan.read_only = command.has("read-only");
  plan.new_network = command.value("network", "host") == "none";
  plan.user = command.value("user", image.config.user);
  plan.working_dir = command.value("workdir", image.config.working_dir);
  if (plan.working_dir.empty()) plan.working_dir = "/";
  if (plan.working_dir[0] != '/')
    throw UsageError(
        fmt::format("working directory {} must be an absolute path", plan.working_dir));
  if (plan.tty) ::ioctl(STDIN_FILENO, TIOCGWINSZ, &plan.terminal_size);
}

// Top layer first. A layer that appears again higher up adds nothing below that copy,
// and overlayfs refuses the same directory twice, so only the topmost copy is kept.
std::vector<std::filesystem::path> lower_dirs(const image::Store& store,
                                              const std::vector<std::string>& layers) {
  std::vector<std::filesystem::path> dirs;
  for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
    auto dir = store.layer_path(*it);
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  }
  return dirs;
}

ContainerPlan make_plan(const ParsedCommand& command, const Context& context,
                        const image::ImageRecord& image) {
  ContainerPlan plan;
  plan.image_name = command.positionals[0];
  plan.image_id = image.id;
  describe_process(command, image, plan);
  plan.hostname = command.value("hostname");
  add_mounts(command, plan);
  plan.lower_dirs = lower_dirs(image::Store(context.settings.data_root), image.layers);
  plan.storage_driver = context.settings.storage_driver;
  auto userns_mode = command.value("userns", context.settings.userns);
  plan.maps = caller_maps(context, userns_mode);
  if (userns_mode == "keep-id" && !command.has("user"))
    plan.user = fmt::format("{}:{}", ::getuid(), ::getgid());
  return plan;
}

void place_container(ContainerPlan& plan, const ContainerStore& containers,
                     const ContainerRecord& record, const ParsedCommand& command,
                     const image::ImageRecord& image) {
  plan.id = record.id;
  plan.name = record.name;
  if (plan.hostname.empty()) plan.hostname = record.id.substr(0, 12);
  auto data = containers.data_dir(record.id);
  plan.upper_dir = data / "upper";
  plan.work_dir = data / "work";
  plan.rootfs = data / "rootfs";
  plan.etc_dir = containers.runtime_dir(record.id);
  if (plan.scope) plan.scope->name = record.name;
  plan.env = resolve_environment(image.config, env_file_lines(command), command.all("env"),
                                 plan.tty, plan.hostname);
  write_etc_files(plan, record.name);
}

void remove_container(ContainerStore& containers, const ContainerRecord& record,
                      const ContainerExit& exit) {
  try {
    if (exit.user_namespace)
      remove_in_namespace(exit.user_namespace, {containers.data_dir(record.id)});
    containers.forget(record);
  } catch (const Error& error) {
    spdlog::warn("container {} was not removed completely: {}; remove it with 'roost rm {}'",
                 record.name, error.what(), record.name);
  }
}

}  // namespace

int cmd_run(const ParsedCommand& command, Context& context) {
  auto scope = plan_scope(command);
  auto image = resolve_image(context, command.positionals[0]);
  image::check_platform(image.config, command.positionals[0]);
  auto plan = make_plan(command, context, image);
  plan.scope = scope;
  ContainerStore containers(context.settings.data_root, context.settings.runtime_root);
  ContainerRecord record;
  record.name = command.value("name");
  record.image_name = command.positionals[0];
  record.image_id = image.id;
  record.command = plan.argv;
  record.remove_on_exit = command.has("rm");
  record = containers.create(record);
  place_container(plan, containers, record, command, image);
  ContainerExit exit;
  try {
    exit = run_and_monitor(plan, [&](pid_t pid) {
      record.status = "running";
      record.pid = pid;
      containers.save_state(record);
    });
  } catch (const Error&) {
    containers.forget(record);
    throw;
  }
  if (!exit.failure.empty()) std::fprintf(stderr, "Error: %s\n", exit.failure.c_str());
  if (exit.out_of_memory)
    spdlog::error("{}: {}", record.name, cgroups::out_of_memory_message(exit.memory_max));
  record.status = "exited";
  record.exit_code = exit.status;
  containers.save_state(record);
  if (record.remove_on_exit) remove_container(containers, record, exit);
  return exit.status;
}

}  // namespace roost::cli
