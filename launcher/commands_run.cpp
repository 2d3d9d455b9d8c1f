#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <optional>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "image/config.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/identity.hpp"
#include "launcher/journal.hpp"
#include "launcher/launch.hpp"
#include "launcher/lifecycle.hpp"
#include "launcher/limit_defaults.hpp"
#include "launcher/monitor.hpp"
#include "launcher/parse.hpp"
#include "launcher/plan.hpp"
#include "launcher/runtime.hpp"
#include "launcher/signals.hpp"

namespace roost::cli {

namespace {

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

std::optional<std::vector<std::string>> entrypoint_option(const ParsedCommand& command) {
  if (!command.has("entrypoint")) return std::nullopt;
  return parse_entrypoint(command.value("entrypoint"));
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
  if (command.has("user")) check_user_option("-u", command.value("user"));
  plan.user = command.value("user", image.config.user);
  plan.working_dir = command.value("workdir", image.config.working_dir);
  if (plan.working_dir.empty()) plan.working_dir = "/";
  if (plan.working_dir[0] != '/')
    throw UsageError(
        fmt::format("working directory {} must be an absolute path", plan.working_dir));
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

std::string userns_mode(const ParsedCommand& command, const Context& context) {
  return command.value("userns", context.settings.userns);
}

// "uid 70000 lies beyond the 65538 uids your image store maps" when the caller's own id, as the
// container's map names it, has no id under the storage map.
std::optional<std::string> unstorable_own_id(const userns::IdMap& map,
                                             const userns::IdMap& storage_map, uint32_t own_id,
                                             const char* kind) {
  auto inside = userns::to_inside(map, own_id);
  if (!inside || userns::to_outside(storage_map, *inside)) return std::nullopt;
  return fmt::format("{} {} lies beyond the {} {}s your image store maps", kind, *inside,
                     userns::inside_span(storage_map), kind);
}

// A caller whose own id is larger than its subordinate ranges' size keeps that id under
// keep-id, but the storage map has none such: fuse-overlayfs has no stored owner for what
// that id creates and stores it under the overflow id instead.
void warn_if_caller_cannot_own_files(const ContainerPlan& plan, const std::string& mode) {
  std::vector<std::string> unstorable;
  for (auto id : {unstorable_own_id(plan.maps.uids, plan.storage_maps.uids, ::getuid(), "uid"),
                  unstorable_own_id(plan.maps.gids, plan.storage_maps.gids, ::getgid(), "gid")})
    if (id) unstorable.push_back(*id);
  if (unstorable.empty()) return;
  spdlog::warn(
      "--userns {}: your {}; files you create in the container's own filesystem get another "
      "owner there and may then not be writable to you; keep them in a volume (-v)",
      mode, fmt::join(unstorable, " and "));
}

// Decided before the image is resolved, so that a map the storage driver cannot serve is
// refused before an archive is loaded.
ContainerPlan plan_storage(const ParsedCommand& command, const Context& context) {
  ContainerPlan plan;
  plan.storage_driver = context.settings.storage_driver;
  auto mode = userns_mode(command, context);
  plan.maps = caller_maps(context, mode);
  // Every other map is the storage map or agrees with it on the ids both map, and needs
  // none planned: --userns single works without subordinate ids.
  plan.storage_maps = mode == "keep-id" ? storage_maps(context) : plan.maps;
  check_storage_driver(plan, mode);
  if (stored_owners_shift(plan)) warn_if_caller_cannot_own_files(plan, mode);
  return plan;
}

ContainerPlan make_plan(const ParsedCommand& command, const Context& context,
                        const image::ImageRecord& image, ContainerPlan plan) {
  plan.image_name = command.positionals[0];
  plan.image_id = image.id;
  describe_process(command, image, plan);
  plan.hostname = command.value("hostname");
  if (!plan.hostname.empty()) check_hostname(plan.hostname);
  add_mounts(command, plan);
  if (plan.read_only) add_read_only_tmpfs(plan);
  plan.lower_dirs = lower_dirs(open_image_store(context), image.layers);
  if (userns_mode(command, context) == "keep-id" && !command.has("user"))
    plan.user = fmt::format("{}:{}", ::getuid(), ::getgid());
  return plan;
}

// The environment depends on the host name, which defaults to the id; it is resolved
// once before the container is made, so that a bad -e or --env-file changes nothing,
// and again once the id is known.
struct EnvironmentInput {
  std::vector<std::string> file_lines;
  std::vector<std::string> options;
};

EnvironmentInput environment_input(const ParsedCommand& command) {
  return {env_file_lines(command), command.all("env")};
}

std::vector<std::string> environment(const EnvironmentInput& input, const image::ImageRecord& image,
                                     const ContainerPlan& plan) {
  return resolve_environment(image.config, input.file_lines, input.options, plan.tty,
                             plan.hostname);
}

void place_container(ContainerPlan& plan, const ContainerStore& containers,
                     const ContainerRecord& record, const EnvironmentInput& env,
                     const image::ImageRecord& image) {
  plan.id = record.id;
  plan.name = record.name;
  if (plan.hostname.empty()) plan.hostname = record.id.substr(0, 12);
  auto data = containers.data_dir(record.id);
  plan.upper_dir = data / "upper";
  plan.work_dir = data / "work";
  plan.rootfs = data / "rootfs";
  plan.etc_dir = containers.runtime_dir(record.id);
  plan.env = environment(env, image, plan);
}

// 10m, 512k, 1g, 1048576 (bytes); b and ib suffixes are accepted.
uint64_t parse_byte_size(const std::string& text, const std::string& what) {
  uint64_t number = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
  std::string unit(end, text.data() + text.size());
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.ends_with("ib")) unit.erase(unit.size() - 2, 1);
  if (unit.size() == 2 && unit[1] == 'b') unit.pop_back();
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1}, {"b", 1}, {"k", 1024}, {"m", 1024 * 1024}, {"g", 1024 * 1024 * 1024}};
  auto found = kUnits.find(unit);
  if (error != std::errc() || found == kUnits.end() || number == 0)
    throw UsageError(
        fmt::format("{} {}: not a size; use a number with k, m or g (10m)", what, text));
  return number * found->second;
}

void apply_log_options(const ParsedCommand& command, ContainerSettings& settings) {
  settings.log_driver =
      command.has("log-driver") ? command.value("log-driver") : default_log_driver();
  for (const auto& option : command.all("log-opt")) {
    auto equals = option.find('=');
    std::string key = option.substr(0, equals);
    if (settings.log_driver != "k8s-file")
      throw UsageError(fmt::format("--log-opt {}: the {} log driver takes no options", option,
                                   settings.log_driver));
    if (key != "max-size" || equals == std::string::npos)
      throw UsageError(fmt::format(
          "--log-opt {}: unknown log option; the k8s-file driver takes max-size=SIZE", option));
    settings.log_max_size = parse_byte_size(option.substr(equals + 1), "--log-opt max-size");
  }
}

ContainerSettings container_settings(const ParsedCommand& command,
                                     const image::ImageConfig& config) {
  ContainerSettings settings;
  settings.cgroups_disabled = command.value("cgroups") == "disabled";
  settings.cgroups_split = command.value("cgroups") == "split";
  settings.sdnotify = command.value("sdnotify");
  settings.cgroup_parent = command.value("cgroup-parent");
  settings.stop_signal = command.value("stop-signal", config.stop_signal);
  if (!settings.stop_signal.empty())
    settings.stop_signal = signal_name(parse_signal(settings.stop_signal, "--stop-signal"));
  if (command.has("stop-timeout"))
    settings.stop_timeout = parse_timeout_seconds(command.value("stop-timeout"), "--stop-timeout");
  apply_log_options(command, settings);
  return settings;
}

bool is_letter_or_digit(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_valid_name(const std::string& name) {
  if (!is_letter_or_digit(name.front())) return false;
  return std::all_of(name.begin() + 1, name.end(), [](char c) {
    return is_letter_or_digit(c) || c == '_' || c == '.' || c == '-';
  });
}

void check_name(const std::string& name) {
  if (!name.empty() && !is_valid_name(name))
    throw UsageError(fmt::format(
        "--name {}: a container name starts with a letter or digit and holds only letters, "
        "digits, '_', '.' and '-'",
        name));
}

// Checked under the lock that rmi holds from its in-use check to the removal: the image
// resolved before may have been removed since.
void require_image_kept(const Context& context, const image::ImageRecord& image,
                        const std::string& name) {
  if (!open_image_store(context).find("sha256:" + image.id))
    throw UsageError(fmt::format(
        "image {} was removed while the container was being created; load it again", name));
}

// Plans everything first, so that bad input changes nothing, then saves the container.
ContainerRecord create_container(const ParsedCommand& command, Context& context,
                                 const ContainerStore& store) {
  check_name(command.value("name"));
  auto storage = plan_storage(command, context);
  auto image = resolve_image(
      context, command.positionals[0],
      [&](const image::ImageConfig& config) {
        image::check_platform(config, command.positionals[0]);
      },
      image_pull(command.value("pull"), command.value("creds"), command.value("tls-verify")));
  ContainerRecord record;
  record.settings = container_settings(command, image.config);
  auto limits = container_limits(command, context.settings.limit_defaults);
  record.settings.limits = limits.values;
  naming_configured_limits(limits, [&] { plan_scope(record.settings); });
  auto plan = make_plan(command, context, image, std::move(storage));
  auto env = environment_input(command);
  plan.env = environment(env, image, plan);
  record.name = command.value("name");
  record.image_name = command.positionals[0];
  record.image_id = image.id;
  record.command = plan.argv;
  record.remove_on_exit = command.has("rm");
  free_name_of_ended_rm(context, store, record.name);
  return store.create(record, [&](ContainerRecord& created) {
    require_image_kept(context, image, record.image_name);
    place_container(plan, store, created, env, image);
    created.plan = plan;
  });
}

void discard(const Context& context, const ContainerStore& store, const ContainerRecord& record) {
  try {
    remove_container(context, store, record);
  } catch (const Error& error) {
    spdlog::warn("container {} was not removed: {}; remove it with 'roost rm -f {}'", record.name,
                 error.what(), record.name);
  }
}

int run_in_background(const Context& context, const ContainerStore& store,
                      const ContainerRecord& record) {
  int status = run_detached(context, store, record);
  if (status == 0) {
    fmt::print("{}\n", record.id);
    return 0;
  }
  // Setup failed before the command ran: nothing of this run is kept.
  if (auto now = store.find(record.id); now && now->status == kCreated)
    discard(context, store, *now);
  return status;
}

// systemd takes a MAINPID, and a notification, only from a process of the service
// itself when its manager is the user's; a detached monitor leaves for a scope of its
// own unless the container shares the service's cgroup. The unit would fail while the
// container ran on outside it.
void check_detached_readiness(const ParsedCommand& command) {
  if (!command.has("detach") || std::getenv("NOTIFY_SOCKET") == nullptr) return;
  if (command.value("sdnotify") == "ignore" || command.value("cgroups") == "split") return;
  throw UsageError(
      "run -d under a systemd service that waits for readiness (NOTIFY_SOCKET is set): the "
      "detached monitor would run in a scope of its own, from where systemd takes neither its "
      "MAINPID nor READY=1; add --cgroups=split (with Delegate=yes in the unit), or run without "
      "-d as the units of 'roost generate unit' do");
}

}  // namespace

int cmd_run(const ParsedCommand& given, Context& context) {
  ParsedCommand command = given;
  if (!command.has("detach") && !terminal_for_input(command.has("tty"), command.has("interactive")))
    command.values.erase("tty");
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  // Before anything is created: a detached container cannot run without it.
  if (command.has("detach")) monitor_program();
  check_detached_readiness(command);
  auto record = create_container(command, context, store);
  ContainerLock lock = store.lock(record);
  if (command.has("detach")) return run_in_background(context, store, record);
  try {
    return run_attached(context, store, record, lock);
  } catch (const Error&) {
    lock.release();
    discard(context, store, record);
    throw;
  }
}

int cmd_create(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  auto record = create_container(command, context, store);
  fmt::print("{}\n", record.id);
  return 0;
}

}  // namespace roost::cli
