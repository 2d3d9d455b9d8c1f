#include "launcher/options.hpp"

#include <memory>

#include "launcher/commands.hpp"
#include "launcher/commands_info.hpp"
#include "launcher/completion.hpp"
#include "launcher/format_template.hpp"
#include "launcher/manpages.hpp"

namespace roost::cli {

const std::vector<std::string_view> kStorageDrivers = {"auto", "overlay", "fuse-overlayfs"};
const std::vector<std::string_view> kUsernsModes = {"auto", "single", "keep-id", "host"};

namespace {

using K = ValueKind;

const std::vector<std::string_view> kNetworkModes = {"host", "none"};
const std::vector<std::string_view> kCgroupsModes = {"enabled", "disabled", "split"};
const std::vector<std::string_view> kSdnotifyModes = {"conmon", "container", "ignore"};
const std::vector<std::string_view> kLogDrivers = {"journald", "k8s-file", "none"};
const std::vector<std::string_view> kPullPolicies = {"missing", "always", "never"};
const std::vector<std::string_view> kBooleans = {"true", "false"};

OptionSpec creds_option() {
  return {"creds", 0, K::Text, "USER:PASS", "Credentials for the registry"};
}

OptionSpec tls_verify_option() {
  return {"tls-verify",
          0,
          K::Choice,
          "BOOL",
          "Require https and a valid certificate from the registry (default true, but false "
          "for loopback hosts); false skips the check and falls back to http",
          kBooleans};
}

std::vector<OptionSpec> run_options() {
  return {
      {"name", 0, K::Text, "NAME", "Name the container"},
      {"rm", 0, K::None, "", "Remove the container when it exits"},
      {"interactive", 'i', K::None, "", "Keep standard input open and pass it to the container"},
      {"tty", 't', K::None, "", "Give the container a terminal"},
      {"env",
       'e',
       K::KeyValue,
       "KEY=VALUE",
       "Set an environment variable (KEY alone copies it)",
       {},
       true},
      {"env-file", 0, K::Path, "FILE", "Read KEY=VALUE lines from a file", {}, true},
      {"workdir", 'w', K::Text, "DIR", "Working directory inside the container"},
      {"user", 'u', K::Text, "USER[:GROUP]", "Run as this user (name or id) inside"},
      {"entrypoint", 0, K::Text, "CMD", "Replace the image's entrypoint (\"\" clears it)"},
      {"hostname", 0, K::Text, "NAME", "Host name inside the container"},
      {"volume", 'v', K::Text, "SRC:DST[:ro]", "Bind-mount a host path", {}, true},
      {"tmpfs", 0, K::Text, "DST[:OPTIONS]", "Mount a tmpfs", {}, true},
      {"read-only", 0, K::None, "", "Mount the root filesystem read-only"},
      {"network", 0, K::Choice, "MODE", "Network: host (share the host's) or none", kNetworkModes},
      {"memory", 'm', K::Size, "SIZE", "Memory limit (k, m, g)"},
      {"memory-swap", 0, K::Size, "SIZE", "Memory plus swap limit"},
      {"cpus", 0, K::Number, "N", "CPU limit in CPUs (0.5 is half of one)"},
      {"memory-reservation", 0, K::Size, "SIZE", "Memory the container is protected down to"},
      {"cpu-weight", 0, K::Number, "N", "CPU weight, 1 to 10000"},
      {"cpu-shares", 0, K::Number, "N", "CPU shares as docker counts them (2 to 262144)"},
      {"pids-limit", 0, K::Number, "N", "Most processes the container may have"},
      {"io-weight", 0, K::Number, "N", "IO weight, 1 to 10000"},
      {"cgroup-parent", 0, K::Text, "SLICE", "Slice for the container's scope (app.slice)"},
      {"cgroups", 0, K::Choice, "MODE",
       "Put the container in a scope (enabled), in a leaf of roost's own delegated cgroup "
       "(split, for a systemd service), or in no cgroup (disabled)",
       kCgroupsModes},
      {"sdnotify", 0, K::Choice, "MODE",
       "Under a systemd service: READY=1 once the command runs (conmon), the container's own "
       "notifications (container), or none (ignore)",
       kSdnotifyModes},
      {"userns", 0, K::Choice, "MODE", "User namespace: auto, single, keep-id, host", kUsernsModes},
      {"init", 0, K::None, "", "Run a small init as PID 1 that reaps and forwards signals"},
      {"log-driver", 0, K::Choice, "DRIVER",
       "Where the container's output is kept for 'roost logs': journald, k8s-file or none "
       "(default: journald when the journal is kept on disk, else k8s-file)",
       kLogDrivers},
      {"log-opt",
       0,
       K::KeyValue,
       "max-size=SIZE",
       "Rotate the log file when it would grow past SIZE (default 10m); 4 rotated files are kept",
       {},
       true},
      {"stop-signal", 0, K::Signal, "SIGNAL",
       "Signal that stops the container (default: the image's StopSignal, else SIGTERM)"},
      {"stop-timeout", 0, K::Number, "SECONDS", "Seconds stop waits before SIGKILL (default 10)"},
      {"pull", 0, K::Choice, "POLICY",
       "Pull a registry's image (docker://HOST:PORT/NAME:TAG) if it is missing (default), "
       "always, or never",
       kPullPolicies},
      creds_option(),
      tls_verify_option(),
  };
}

std::vector<OptionSpec> rmi_options() {
  return {{"force", 'f', K::None, "",
           "Remove an image given by id even when that removes several names; an image a "
           "container uses is still refused (remove the container first)"},
          {"all", 'a', K::None, "",
           "Remove every image; nothing is removed while a container uses one"}};
}

std::vector<OptionSpec> detachable(std::vector<OptionSpec> options) {
  options.insert(options.begin(), {"detach", 'd', K::None, "",
                                   "Run in the background and print the container's id"});
  return options;
}

const std::vector<PositionalSpec> kContainers = {{"CONTAINER", K::Container, true, true}};
const std::vector<PositionalSpec> kRunningContainers = {
    {"CONTAINER", K::RunningContainer, true, true}};

OptionSpec stop_time_option() {
  return {"time", 't', K::Number, "SECONDS",
          "Seconds to wait after the stop signal before SIGKILL (default: the container's "
          "--stop-timeout)"};
}

OptionSpec format_option(std::vector<std::string_view> named,
                         const std::vector<std::string_view>& fields) {
  // The option table holds views; the help texts live as long as the program.
  static std::vector<std::unique_ptr<std::string>> help_texts;
  std::string names;
  for (auto name : named) names += (names.empty() ? "" : ", ") + std::string(name);
  help_texts.push_back(std::make_unique<std::string>(format_option_help(names, fields)));
  return {.long_name = "format",
          .kind = K::Choice,
          .value_name = "FORMAT",
          .help = *help_texts.back(),
          .choices = std::move(named),
          .template_fields = &fields};
}

}  // namespace

const std::vector<OptionSpec>& global_options() {
  static const std::vector<OptionSpec> options = {
      {"log-level", 0, K::Choice, "LEVEL", "Log level", {"debug", "info", "warn", "error"}},
      {"config", 0, K::Path, "FILE", "Configuration file instead of the user's"},
      {"root", 0, K::Directory, "DIR", "Storage root (images, layers, containers)"},
      {"runroot", 0, K::Directory, "DIR", "Runtime state directory"},
      {"storage-driver", 0, K::Choice, "DRIVER", "How to mount image layers", kStorageDrivers},
      {"help", 'h', K::None, "", "Show help"},
  };
  return options;
}

const std::vector<CommandSpec>& command_table() {
  static const std::vector<CommandSpec> commands = {
      {"run",
       "Run a command in a new container",
       detachable(run_options()),
       {{"IMAGE", K::Image}, {"COMMAND", K::Text, false, true}},
       cmd_run,
       true},
      {"load",
       "Load images from a docker-archive or oci-archive file",
       {{"input", 'i', K::Path, "FILE", "Archive to read", {}, false, {"tar"}},
        {"quiet", 'q', K::None, "", "Print only the image names"}},
       {},
       cmd_load},
      {"pull",
       "Pull an image from a registry and print its id",
       {creds_option(),
        tls_verify_option(),
        {"quiet", 'q', K::None, "", "Print only the image id"}},
       {{"IMAGE", K::Image}},
       cmd_pull},
      {"import",
       "Make an image from a root filesystem tarball",
       {},
       {{"FILE", K::Path, true, false, {}, {"tar", "tar.gz", "tgz", "tar.xz", "tar.zst"}},
        {"NAME", K::Text}},
       cmd_import},
      {"images",
       "List images",
       {{"quiet", 'q', K::None, "", "Print only image ids"},
        format_option({"table", "json"}, kImagesTemplateFields)},
       {},
       cmd_images},
      {"image ls",
       "List images (the same as images)",
       {{"quiet", 'q', K::None, "", "Print only image ids"},
        format_option({"table", "json"}, kImagesTemplateFields)},
       {},
       cmd_images},
      {"image list",
       "List images (the same as images)",
       {{"quiet", 'q', K::None, "", "Print only image ids"},
        format_option({"table", "json"}, kImagesTemplateFields)},
       {},
       cmd_images},
      {"image inspect",
       "Show an image's record as JSON",
       {format_option({"json"}, kImageInspectTemplateFields)},
       {{"IMAGE", K::Image, true, true}},
       cmd_image_inspect},
      {"rmi", "Remove images", rmi_options(), {{"IMAGE", K::Image, false, true}}, cmd_rmi},
      {"image rm",
       "Remove images (the same as rmi)",
       rmi_options(),
       {{"IMAGE", K::Image, false, true}},
       cmd_rmi},
      {"image prune",
       "Remove images that have no name and that no container uses; print their ids",
       {{"all", 'a', K::None, "", "Remove every image that no container uses, named or not"},
        {"force", 'f', K::None, "", "Do not ask (roost never asks; kept for podman's scripts)"}},
       {},
       cmd_image_prune},
      {"tag", "Give an image another name", {}, {{"IMAGE", K::Image}, {"NAME", K::Text}}, cmd_tag},
      {"rm",
       "Remove containers",
       {{"force", 'f', K::None, "",
         "Kill running containers first; a container that does not exist is no error"},
        {"all", 'a', K::None, "", "Remove every container"}},
       {{"CONTAINER", K::Container, false, true}},
       cmd_rm},
      {"ps",
       "List containers",
       {{"all", 'a', K::None, "", "Also show containers that are not running"},
        {"quiet", 'q', K::None, "", "Print only container ids"},
        {"no-trunc", 0, K::None, "", "Print whole ids and commands"},
        format_option({"table", "json"}, kPsTemplateFields)},
       {},
       cmd_ps},
      {"create",
       "Create a container without starting it",
       run_options(),
       {{"IMAGE", K::Image}, {"COMMAND", K::Text, false, true}},
       cmd_create,
       true},
      {"start",
       "Start created or stopped containers in the background",
       {{"attach", 'a', K::None, "", "Stay attached: the container's streams and exit status"}},
       kContainers,
       cmd_start},
      {"stop",
       "Stop running containers: their stop signal, then SIGKILL after a timeout",
       {stop_time_option()},
       kRunningContainers,
       cmd_stop},
      {"kill",
       "Send a signal to running containers",
       {{"signal", 's', K::Signal, "SIGNAL", "Signal to send (default SIGKILL)"}},
       kRunningContainers,
       cmd_kill},
      {"restart",
       "Stop containers if running, then start them",
       {stop_time_option()},
       kContainers,
       cmd_restart},
      {"wait", "Wait for containers to end and print their exit codes", {}, kContainers, cmd_wait},
      {"inspect",
       "Show containers' configuration and state as JSON",
       {format_option({"json"}, kInspectTemplateFields)},
       kContainers,
       cmd_inspect},
      {"logs",
       "Show what a container wrote",
       {{"follow", 'f', K::None, "", "Keep printing output until the container ends"},
        {"since", 0, K::Text, "TIME",
         "Only output since TIME (RFC 3339, Unix seconds, or a duration such as 10m)"},
        {"until", 0, K::Text, "TIME", "Only output until TIME (same forms as --since)"},
        {"tail", 'n', K::WholeNumber, "N", "Only the last N lines (-1: all)"},
        {"timestamps", 't', K::None, "", "Start each line with the time it was written"}},
       {{"CONTAINER", K::Container}},
       cmd_logs},
      {"stats",
       "Show containers' use of CPU, memory, processes and block I/O, from their cgroups",
       {{"no-stream", 0, K::None, "", "Print once instead of every second"},
        {"format", 0, K::Choice, "FORMAT", "Output format", {"table", "json"}}},
       {{"CONTAINER", K::RunningContainer, false, true}},
       cmd_stats},
      {"exec",
       "Run a command in a running container",
       {{"interactive", 'i', K::None, "", "Keep standard input open and pass it to the command"},
        {"tty", 't', K::None, "", "Give the command a terminal"},
        {"user", 'u', K::Text, "USER[:GROUP]", "Run as this user (default: the container's)"},
        {"workdir", 'w', K::Text, "DIR", "Working directory (default: the container's)"},
        {"env", 'e', K::KeyValue, "KEY=VALUE", "Set an environment variable", {}, true}},
       {{"CONTAINER", K::RunningContainer}, {"COMMAND", K::Text, true, true}},
       cmd_exec,
       true},
      {"attach",
       "Connect to a detached container: its terminal with -t (ctrl-p ctrl-q leaves), else "
       "its stdin with -i, and its output",
       {},
       {{"CONTAINER", K::RunningContainer}},
       cmd_attach},
      {"container prune",
       "Remove every container that is not running",
       {{"force", 'f', K::None, "", "Do not ask (roost never asks; kept for podman's scripts)"}},
       {},
       cmd_container_prune},
      {"generate unit",
       "Print a systemd user service that runs a container (or check a declarative file)",
       {{"new", 0, K::None, "",
         "For an existing container: make it anew from its configuration at every start "
         "instead of starting that container (a unit for an image always does)"},
        {"restart-policy",
         0,
         K::Choice,
         "POLICY",
         "The unit's Restart= (default on-failure)",
         {"no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"}},
        {"files", 0, K::None, "", "Write roost-NAME.service into the current directory"},
        {"name", 0, K::Text, "NAME", "The container's name (default: from the image)"},
        {"check",
         0,
         K::Path,
         "FILE",
         "Check a declarative container file and exit",
         {},
         false,
         {"toml"}}},
       {{"NAME_OR_IMAGE", K::Image, false}},
       cmd_generate_unit},
      {"__unit-image",
       "Load a unit's archive once, under the name its roost run uses",
       {},
       {{"NAME", K::Text}, {"ARCHIVE", K::Image}},
       cmd_unit_image,
       false,
       true},
      {"__container-ended",
       "Record the end of a detached container and remove it for --rm (run by its monitor)",
       {{"user-namespace-fd", 0, K::Number, "FD", "The container's user namespace, open"}},
       {{"ID", K::Container}, {"STATUS", K::Number}, {"OOM_KILLS", K::Number}},
       cmd_container_ended,
       false,
       true},
      {"version", "Show roost's version", {}, {}, cmd_version},
      {"completion",
       "Print the completion script for bash, zsh or fish",
       {},
       {{"SHELL", K::Choice, true, false, {"bash", "zsh", "fish"}}},
       cmd_completion},
      {"__complete",
       "Print store names for completion scripts",
       {},
       {{"KIND", K::Choice, true, false, {"images", "containers", "running"}}},
       cmd_complete_names,
       false,
       true},
      {"info",
       "Show what roost uses on this machine: versions, storage, id maps, cgroups",
       {{"format", 0, K::Choice, "FORMAT", "Output format", {"text", "json"}}},
       {},
       cmd_info},
      {"doctor",
       "Check what rootless containers need here and say how to fix what is missing",
       {{"format", 0, K::Choice, "FORMAT", "Output format", {"text", "json"}}},
       {},
       cmd_doctor},
      {"__manpages",
       "Write the manual pages into a directory",
       {},
       {{"DIRECTORY", K::Directory}},
       cmd_manpages,
       false,
       true},
  };
  return commands;
}

std::string ParsedCommand::value(std::string_view option, std::string fallback) const {
  auto it = values.find(option);
  if (it == values.end() || it->second.empty()) return fallback;
  return it->second.back();
}

const std::vector<std::string>& ParsedCommand::all(std::string_view option) const {
  static const std::vector<std::string> none;
  auto it = values.find(option);
  return it == values.end() ? none : it->second;
}

}  // namespace roost::cli
