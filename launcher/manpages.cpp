#include "launcher/manpages.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::cli {

namespace {

// What a page says beyond the table's one-line summary; paragraphs are separated by a
// blank line. A command without prose gets its summary.
const std::map<std::string_view, std::string_view> kProse = {
    {"run",
     "Creates a container from IMAGE and runs COMMAND in it (the image's entrypoint and "
     "command when none is given), in new user, mount, pid, uts and ipc namespaces. The "
     "container's root is the caller; its other ids are the caller's subordinate ids from "
     "/etc/subuid and /etc/subgid, mapped with newuidmap and newgidmap.\n\n"
     "The image's layers are mounted with the kernel's overlayfs where the kernel allows it "
     "in a user namespace, and with fuse-overlayfs otherwise (see --storage-driver in "
     "roost(1)). Options stop at IMAGE: what follows is the container's command.\n\n"
     "roost stays in the foreground as the container's monitor: it forwards signals, relays "
     "the terminal with -t, and exits with the container's status (128+N when the process "
     "was killed by signal N). Limits such as --memory and --cpus need a systemd user "
     "instance that delegates the controllers; roost refuses them, with the reason, where "
     "it cannot apply them."},
    {"load",
     "Reads a docker-archive or oci-archive file (as written by docker save, podman save "
     "or skopeo) and adds its images to the store, verifying the digest of every blob. The "
     "format is detected from the archive's content."},
    {"import",
     "Makes a one-layer image named NAME from a tarball of a root filesystem. The tarball "
     "may be compressed with gzip, xz or zstd."},
    {"images", "Lists the images in the store, newest first, with their names, ids and sizes."},
    {"image inspect", "Prints the record roost keeps for each IMAGE as JSON."},
    {"rmi",
     "Removes an image's name; the image, and the layers no other image uses, go with its "
     "last name, or at once when the image is given by id."},
    {"tag", "Gives the image IMAGE the additional name NAME (NAME:TAG; :latest when no tag)."},
    {"rm",
     "Removes stopped containers with their writable layers. A running container must be "
     "stopped first."},
    {"ps", "Lists running containers, or all containers with --all."},
    {"completion",
     "Prints the completion script for SHELL on standard output. Installed packages "
     "place the scripts where each shell finds them; to load one by hand:\n\n"
     "  source <(roost completion bash)\n"
     "  roost completion zsh > ~/.zfunc/_roost\n"
     "  roost completion fish > ~/.config/fish/completions/roost.fish\n\n"
     "The scripts are made from the same table as the options and --help, and ask roost "
     "itself for the names of images and containers."},
    {"info",
     "Shows what roost would use on this machine: its version, the storage paths and "
     "driver, the id maps a container would get, the cgroup layout and the controllers "
     "the user's systemd instance delegates, the user bus, the state of newuidmap, "
     "newgidmap and fuse-overlayfs, and the number of images and containers."},
    {"generate unit",
     "Prints a systemd user service that runs a container: roost run in the foreground "
     "with Type=notify, in the service's own delegated cgroup, with the limits as the "
     "unit's properties. NAME_OR_IMAGE is an image (the container is named after it, or "
     "--name) or an existing container, whose configuration the unit repeats; the unit "
     "always makes the container anew at each start. --files writes roost-NAME.service "
     "into the current directory instead:\n\n"
     "  cd ~/.config/systemd/user && roost generate unit --files --name web app:1\n"
     "  systemctl --user daemon-reload && systemctl --user enable --now roost-web\n\n"
     "--check FILE reads a declarative container file and exits non-zero, naming the "
     "file, line and key, when it is wrong. See roost-units(5)."},
    {"doctor",
     "Checks each thing a rootless container launcher needs from the machine and prints, "
     "for each one that fails, what is wrong and the command or file that fixes it: "
     "subordinate id ranges, the newuidmap and newgidmap helpers, user namespaces, "
     "/dev/fuse and fuse-overlayfs, overlayfs in a user namespace, the runtime directory, "
     "the user bus and lingering, delegated cgroup controllers, and the storage "
     "filesystem. The exit status is 0 when every check passes, 2 when roost works but "
     "without something a check warns about (limits, linger, the kernel's overlayfs), and "
     "1 when a check fails."},
};

std::string page_name(std::string_view command_name) {
  std::string name = "roost-" + std::string(command_name);
  std::replace(name.begin(), name.end(), ' ', '-');
  return name;
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string title(std::string_view name, std::string_view section) {
  return fmt::format(".TH {} {} \"\" \"roost {}\" \"roost manual\"\n",
                     roff_escaped(upper(std::string(name))), section, ROOST_VERSION);
}

// Paragraphs of prose; lines indented by two spaces are shown as typed.
std::string paragraphs(std::string_view prose) {
  std::string out;
  bool example = false;
  for (size_t start = 0; start <= prose.size();) {
    size_t end = std::min(prose.find('\n', start), prose.size());
    std::string_view line = prose.substr(start, end - start);
    start = end + 1;
    bool indented = line.starts_with("  ");
    if (indented != example) out += indented ? ".PP\n.RS\n.nf\n" : ".fi\n.RE\n";
    example = indented;
    if (line.empty() && !example)
      out += ".PP\n";
    else
      out += roff_escaped(indented ? line.substr(2) : line) + "\n";
  }
  return out + (example ? ".fi\n.RE\n" : "");
}

std::string option_heading(const OptionSpec& option) {
  std::string heading;
  if (option.short_name != 0) heading = fmt::format("\\fB\\-{}\\fR, ", option.short_name);
  heading += fmt::format("\\fB\\-\\-{}\\fR", roff_escaped(option.long_name));
  if (option.kind != ValueKind::None)
    heading += fmt::format(" \\fI{}\\fR", roff_escaped(option.value_name));
  return heading;
}

std::string option_entries(const std::vector<OptionSpec>& options) {
  std::string out;
  for (const auto& option : options) {
    out += ".TP\n" + option_heading(option) + "\n" + roff_escaped(option.help) + ".";
    if (option.kind == ValueKind::Choice)
      out += roff_escaped(fmt::format(" One of: {}.", fmt::join(option.choices, ", ")));
    if (option.repeatable) out += " May be given more than once.";
    out += "\n";
  }
  return out;
}

std::string synopsis(const CommandSpec& command) {
  std::string out = fmt::format(".SH SYNOPSIS\n.B roost {}\n", roff_escaped(command.name));
  if (!command.options.empty()) out += ".RI [ OPTIONS ]\n";
  for (const auto& positional : command.positionals) {
    std::string word = roff_escaped(positional.name) + (positional.variadic ? " ..." : "");
    out +=
        positional.required ? fmt::format(".I {}\n", word) : fmt::format(".RI [ \"{}\" ]\n", word);
  }
  return out;
}

ManPage command_page(const CommandSpec& command) {
  std::string name = page_name(command.name);
  std::string out = title(name, "1");
  out += fmt::format(".SH NAME\n{} \\- {}\n", roff_escaped(name), roff_escaped(command.summary));
  out += synopsis(command);
  auto prose = kProse.find(command.name);
  out += ".SH DESCRIPTION\n" +
         paragraphs(prose != kProse.end() ? prose->second : std::string(command.summary) + ".");
  if (!command.options.empty()) out += ".SH OPTIONS\n" + option_entries(command.options);
  out += ".PP\nThe global options of \\fBroost\\fR(1) are accepted as well.\n";
  out += ".SH SEE ALSO\n\\fBroost\\fR(1)\n";
  return {name + ".1", out};
}

constexpr std::string_view kMainDescription =
    "roost runs OCI and Docker container images as an ordinary user, without a daemon and "
    "without root. It maps the user's subordinate ids (from /etc/subuid and /etc/subgid) "
    "into a user namespace with newuidmap and newgidmap, mounts the image's layers with "
    "overlayfs or fuse-overlayfs, and runs the container's command as a process that can "
    "be piped to, signalled and given a terminal. Its flags are podman's wherever podman "
    "has the same thing.";

constexpr std::string_view kMainSections = R"(.SH FILES
.TP
\fI$XDG_CONFIG_HOME/roost/config.toml\fR, \fI/etc/roost/config.toml\fR
Configuration, the user's over the system's. Tables and keys: \fB[storage]\fR driver, root,
runroot; \fB[containers]\fR userns; \fB[userns]\fR subuid_file, subgid_file.
.TP
\fI$XDG_DATA_HOME/roost\fR (\fI~/.local/share/roost\fR)
Images, unpacked layers and containers (\-\-root).
.TP
\fI$XDG_RUNTIME_DIR/roost\fR
Live state of containers (\-\-runroot). A runtime directory that is not the caller's is
never used.
.TP
\fI/etc/subuid\fR, \fI/etc/subgid\fR
The subordinate id ranges of each user; see \fBsubuid\fR(5).
.SH EXIT STATUS
The container's own exit status; 128+N when its process was killed by signal N; 125 when
roost itself failed; 126 when the command cannot be executed; 127 when it is not found.
.SH SEE ALSO
\fBpodman\fR(1), \fBnewuidmap\fR(1), \fBnewgidmap\fR(1), \fBsubuid\fR(5),
\fBfuse\-overlayfs\fR(1)
)";

ManPage main_page(const CompletionTable& table) {
  std::string out = title("roost", "1");
  out += ".SH NAME\nroost \\- rootless containers for one user\n";
  out += ".SH SYNOPSIS\n.B roost\n.RI [ \"GLOBAL OPTIONS\" ]\n.I COMMAND\n.RI [ ARGUMENTS ]\n";
  out += ".SH DESCRIPTION\n" + paragraphs(kMainDescription) + ".SH COMMANDS\n";
  for (const auto& command : table.commands)
    if (!command.hidden)
      out += fmt::format(".TP\n\\fB{}\\fR(1)\n{}\n", roff_escaped(page_name(command.name)),
                         roff_escaped(command.summary));
  out += ".SH GLOBAL OPTIONS\n" + option_entries(table.globals);
  return {"roost.1", out + std::string(kMainSections)};
}

}  // namespace

std::string roff_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\')
      out += "\\e";
    else if (c == '-')
      out += "\\-";
    else
      out += c;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

std::vector<ManPage> man_pages(const CompletionTable& table) {
  std::vector<ManPage> pages = {main_page(table)};
  for (const auto& command : table.commands)
    if (!command.hidden) pages.push_back(command_page(command));
  return pages;
}

int cmd_manpages(const ParsedCommand& command, Context&) {
  std::filesystem::path directory = command.positionals.at(0);
  fs::make_dirs(directory);
  auto pages = man_pages(roost_completion_table());
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    std::string name = entry.path().filename().string();
    bool current = std::any_of(pages.begin(), pages.end(),
                               [&](const ManPage& page) { return page.file_name == name; });
    if (!current && name.starts_with("roost") && name.ends_with(".1"))
      std::filesystem::remove(entry.path());
  }
  for (const auto& page : pages) fs::write_file_atomic(directory / page.file_name, page.text);
  return 0;
}

}  // namespace roost::cli
