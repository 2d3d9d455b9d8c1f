#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <thread>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "image/reference.hpp"
#include "image/store.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/runtime.hpp"
#include "units/container_file.hpp"
#include "units/service.hpp"

namespace roost::cli {

namespace {

std::filesystem::path own_binary() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error)
    throw Error(fmt::format("find roost's own path (/proc/self/exe): {}", error.message()));
  return path;
}

// "registry.example/team/app:1.2" -> "app": a container name from an image's last part.
std::string name_from_image(const std::string& image) {
  auto slash = image.rfind('/');
  std::string base = slash == std::string::npos ? image : image.substr(slash + 1);
  base = base.substr(0, base.find_first_of(":@"));
  std::string name;
  for (char c : base) {
    bool allowed = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    name += allowed ? c : '-';
  }
  return name;
}

void add_volumes(const ContainerPlan& plan, units::ContainerSpec& spec) {
  for (const auto& bind : plan.binds)
    spec.volumes.push_back(
        fmt::format("{}:{}{}", bind.source, bind.destination, bind.read_only ? ":ro" : ""));
  for (const auto& tmpfs : plan.tmpfs)
    spec.tmpfs.push_back(tmpfs.options.empty() ? tmpfs.destination
                                               : tmpfs.destination + ":" + tmpfs.options);
}

// The environment as the container got it, less what roost sets at every start.
void add_environment(const ContainerPlan& plan, units::ContainerSpec& spec) {
  for (const auto& entry : plan.env) {
    auto equals = entry.find('=');
    std::string key = entry.substr(0, equals);
    if (key == "HOSTNAME" || key == "TERM" || equals == std::string::npos) continue;
    spec.env.emplace_back(key, entry.substr(equals + 1));
  }
}

// A saved container's configuration, for a unit that starts that container or, with
// --new, makes it anew at every start.
units::ContainerSpec spec_from_container(const ContainerRecord& record) {
  units::ContainerSpec spec;
  const auto& plan = record.plan;
  spec.name = record.name;
  spec.image = record.image_name;
  spec.sdnotify = record.settings.sdnotify;
  if (!plan.argv.empty()) {
    spec.entrypoint = plan.argv.front();
    spec.command = std::vector<std::string>(plan.argv.begin() + 1, plan.argv.end());
  }
  add_environment(plan, spec);
  add_volumes(plan, spec);
  spec.workdir = plan.working_dir == "/" ? "" : plan.working_dir;
  spec.user = plan.user;
  if (plan.hostname != record.id.substr(0, 12)) spec.hostname = plan.hostname;
  if (plan.new_network) spec.network = "none";
  spec.read_only = plan.read_only;
  spec.init = plan.init;
  spec.limits = record.settings.limits;
  spec.stop_signal = record.settings.stop_signal;
  spec.stop_timeout = record.settings.stop_timeout;
  return spec;
}

units::ContainerSpec spec_from_image(const Context& context, const std::string& image,
                                     const std::string& name) {
  units::ContainerSpec spec;
  spec.image = image;
  spec.name = name.empty() ? name_from_image(image) : name;
  auto reference = image::parse_reference(image);
  if (reference.transport != image::Transport::Store) return spec;
  auto record = open_image_store(context).find(image);
  if (!record)
    throw UsageError(fmt::format(
        "image {} is not in your store; load it first with 'roost load -i FILE', or give the "
        "archive itself (docker-archive:FILE)",
        image));
  spec.stop_signal = record->config.stop_signal;
  return spec;
}

units::ContainerSpec requested_spec(const ParsedCommand& command, const Context& context) {
  const std::string& target = command.positionals.front();
  ContainerStore containers(context.settings.data_root, context.settings.runtime_root);
  auto container = command.has("name") ? std::nullopt : containers.find(target);
  auto spec = container ? spec_from_container(*container)
                        : spec_from_image(context, target, command.value("name"));
  spec.existing = container && !command.has("new");
  if (spec.existing && container->remove_on_exit)
    throw UsageError(fmt::format(
        "container {} was made with --rm: it is removed when it stops, so a unit cannot start "
        "it again; give --new for a unit that makes it anew from its configuration at every "
        "start",
        container->name));
  spec.restart = command.value("restart-policy", spec.restart);
  units::check_spec(spec);
  return spec;
}

// Tells systemd, while an archive loads before the first start, to wait longer, so that
// a large archive is not killed midway by the start timeout and loaded again.
class StartTimeoutExtender {
 public:
  StartTimeoutExtender() {
    if (std::getenv("NOTIFY_SOCKET") == nullptr) return;
    thread_ = std::thread([this] { extend_until_done(); });
  }
  ~StartTimeoutExtender() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }
  StartTimeoutExtender(const StartTimeoutExtender&) = delete;
  StartTimeoutExtender& operator=(const StartTimeoutExtender&) = delete;

 private:
  static constexpr auto kStep = std::chrono::milliseconds(200);
  static constexpr int kStepsPerMessage = 25;  // every 5 s, each asking for 30 s more

  void extend_until_done() {
    for (int step = 0; !done_; ++step) {
      if (step % kStepsPerMessage == 0) sd_notify(0, "EXTEND_TIMEOUT_USEC=30000000");
      std::this_thread::sleep_for(kStep);
    }
  }

  std::atomic<bool> done_ = false;
  std::thread thread_;
};

int check_file(const std::string& file) {
  auto spec = units::read_container_file(file);
  auto rendered = units::render_units(spec, {own_binary()});
  fmt::print("{}: ok, makes {}\n", file, rendered.front().name);
  return 0;
}

}  // namespace

int cmd_unit_image(const ParsedCommand& command, Context& context) {
  const std::string& name = command.positionals.at(0);
  const std::string& archive = command.positionals.at(1);
  auto local = units::archive_image_name(name);
  image::Store store = open_image_store(context);
  if (store.find(local)) {
    spdlog::debug("{} is in the store already; {} is not loaded again", local, archive);
    return 0;
  }
  image::ImageRecord loaded;
  {
    StartTimeoutExtender extender;
    loaded = resolve_image(context, archive);
  }
  store.tag(loaded.id, local);
  fmt::print("loaded {} as {}\n", archive, local);
  return 0;
}

int cmd_generate_unit(const ParsedCommand& command, Context& context) {
  if (command.has("check")) return check_file(command.value("check"));
  if (command.positionals.empty())
    throw UsageError("roost generate unit: missing NAME_OR_IMAGE (or --check FILE)");
  auto spec = requested_spec(command, context);
  auto units = units::render_units(spec, {own_binary()});
  if (!command.has("files")) {
    fmt::print("{}", units.front().text);
    return 0;
  }
  for (const auto& unit : units) {
    auto path = std::filesystem::current_path() / unit.name;
    fs::write_file_atomic(path, unit.text);
    fmt::print("{}\n", path.string());
  }
  return 0;
}

}  // namespace roost::cli
