#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "image/store.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/format_template.hpp"
#include "launcher/monitor.hpp"
#include "launcher/runtime.hpp"

namespace roost::cli {

namespace {

using ArchivePtr = std::unique_ptr<struct archive, decltype(&archive_read_free)>;

// docker-archive has manifest.json at its top; an oci-archive has oci-layout and no
// manifest.json (docker 25 writes both, and reads as a docker-archive).
image::Transport detect_archive(const std::string& file, const std::string& shown) {
  struct stat st;
  if (::stat(file.c_str(), &st) < 0)
    throw UsageError(fmt::format("load {}: {}", shown, std::strerror(errno)));
  if (S_ISDIR(st.st_mode)) return image::Transport::OciDir;
  ArchivePtr reader(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(reader.get());
  archive_read_support_filter_all(reader.get());
  if (archive_read_open_filename(reader.get(), file.c_str(), 1 << 16) != ARCHIVE_OK)
    throw UsageError(fmt::format("load {}: not a readable archive: {}", shown,
                                 archive_error_string(reader.get())));
  bool oci_layout = false;
  struct archive_entry* entry;
  int status;
  while ((status = archive_read_next_header(reader.get(), &entry)) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(entry);
    if (name.rfind("./", 0) == 0) name = name.substr(2);
    if (name == "manifest.json") return image::Transport::DockerArchive;
    oci_layout = oci_layout || name == "oci-layout";
  }
  if (oci_layout) return image::Transport::OciArchive;
  if (status != ARCHIVE_EOF)
    throw UsageError(
        fmt::format("load {}: the archive is damaged or cut short ({}); save or copy "
                    "it again",
                    shown, archive_error_string(reader.get())));
  throw UsageError(
      fmt::format("load {}: neither a docker-archive (no manifest.json) nor an "
                  "oci-archive (no oci-layout); for a root filesystem tarball use "
                  "'roost import'",
                  shown));
}

// The archive is read twice (its kind, then its content), so what arrives on stdin is
// first copied into a file that has no name and goes away with roost.
UniqueFd copy_stdin_to_unnamed_file(const std::filesystem::path& dir) {
  fs::make_dirs(dir, 0700);
  std::string name = (dir / ".load-stdin-XXXXXX").string();
  UniqueFd file(::mkostemp(name.data(), O_CLOEXEC));
  if (!file) throw_errno(fmt::format("create a file in {} for the archive on stdin", dir.string()));
  ::unlink(name.c_str());
  char buffer[1 << 16];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read the archive from standard input");
    if (n == 0) return file;
    if (!write_fully(file.get(), std::string_view(buffer, static_cast<size_t>(n))))
      throw_errno(fmt::format("copy the archive from standard input into {}", dir.string()));
  }
}

std::string display_names(const LoadedImage& image) {
  if (image.names.empty()) return "sha256:" + image.id;
  std::string names;
  for (const auto& name : image.names) names += (names.empty() ? "" : ", ") + name;
  return names;
}

std::string human_size(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 4) {
    value /= 1000;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.3g} {}", value, units[unit]);
}

struct ImageRow {
  std::string repository, tag, id, created, size;
};

std::vector<ImageRow> image_rows(const std::vector<image::ImageRecord>& records) {
  std::vector<ImageRow> rows;
  for (const auto& record : records) {
    std::vector<std::string> names = record.names;
    if (names.empty()) names.push_back("<none>:<none>");
    for (const auto& name : names) {
      auto colon = name.rfind(':');
      rows.push_back({name.substr(0, colon), name.substr(colon + 1), record.id.substr(0, 12),
                      record.created.substr(0, 19), human_size(record.size)});
    }
  }
  return rows;
}

// Columns as wide as their longest entry, so that long names and tags keep rows aligned.
void print_image_table(const std::vector<ImageRow>& rows) {
  ImageRow header = {"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"};
  size_t repository = header.repository.size(), tag = header.tag.size();
  size_t created = header.created.size();
  for (const auto& row : rows) {
    repository = std::max(repository, row.repository.size());
    tag = std::max(tag, row.tag.size());
    created = std::max(created, row.created.size());
  }
  auto print = [&](const ImageRow& row) {
    fmt::print("{:<{}}   {:<{}}   {:<12}   {:<{}}   {}\n", row.repository, repository, row.tag, tag,
               row.id, row.created, created, row.size);
  };
  print(header);
  for (const auto& row : rows) print(row);
}

nlohmann::json image_json(const image::ImageRecord& record) {
  const auto& config = record.config;
  nlohmann::json json = {{"Id", record.id},
                         {"Names", record.names},
                         {"Created", record.created},
                         {"Size", record.size},
                         {"Layers", record.layers},
                         {"Architecture", config.architecture},
                         {"Os", config.os},
                         {"Env", config.env},
                         {"WorkingDir", config.working_dir},
                         {"User", config.user},
                         {"RepoDigests", record.repo_digests},
                         {"Digest", record.manifest_digest}};
  json["Entrypoint"] = config.entrypoint ? nlohmann::json(*config.entrypoint) : nullptr;
  json["Cmd"] = config.cmd ? nlohmann::json(*config.cmd) : nullptr;
  return json;
}

// One row per name, as the table prints them; Size as the table shows it, Bytes exact.
void add_template_rows(const image::ImageRecord& record, nlohmann::json& rows) {
  std::vector<std::string> names = record.names;
  if (names.empty()) names.push_back("<none>:<none>");
  for (const auto& name : names) {
    auto row = image_json(record);
    auto colon = name.rfind(':');
    row["ID"] = record.id.substr(0, 12);
    row["Repository"] = name.substr(0, colon);
    row["Tag"] = name.substr(colon + 1);
    row["Size"] = human_size(record.size);
    row["Bytes"] = record.size;
    rows.push_back(std::move(row));
  }
}

// Removing by id or digest, or the last name, deletes the image; another name only
// untags it.
bool removal_deletes_image(const image::ImageRecord& record, const std::string& matched_name) {
  return record.names.size() <= 1 || matched_name.empty() ||
         std::find(record.names.begin(), record.names.end(), matched_name) == record.names.end();
}

void refuse_if_used_by_container(const ContainerStore& containers, const image::ImageRecord& record,
                                 const std::string& name) {
  for (const auto& container : containers.list()) {
    if (container.image_id != record.id) continue;
    if (is_active(container))
      throw UsageError(
          fmt::format("image {} is used by container {}, which is running; stop and remove "
                      "it first ('roost rm -f {}')",
                      name, container.name, container.name));
    throw UsageError(
        fmt::format("image {} is used by container {}; remove the container first "
                    "('roost rm {}')",
                    name, container.name, container.name));
  }
}

// As podman: an id stands for every name of its image, which -f must confirm.
void refuse_id_of_several_names(const image::ImageRecord& record, const std::string& name) {
  throw UsageError(fmt::format(
      "rmi {}: the image has {} names ({}), and removing it by id removes them all; give -f "
      "(--force) to do that, or remove the names one by one",
      name, record.names.size(), fmt::join(record.names, ", ")));
}

std::vector<std::string> images_to_remove(const ParsedCommand& command, const image::Store& store) {
  bool all = command.has("all");
  if (all && !command.positionals.empty())
    throw UsageError("roost rmi: give image names or --all, not both");
  if (!all && command.positionals.empty())
    throw UsageError("roost rmi: name the images to remove, or give --all to remove every image");
  if (!all) return command.positionals;
  std::vector<std::string> ids;
  for (const auto& record : store.list()) ids.push_back("sha256:" + record.id);
  return ids;
}

}  // namespace

int cmd_load(const ParsedCommand& command, Context& context) {
  bool from_stdin = !command.has("input");
  if (from_stdin && ::isatty(STDIN_FILENO))
    throw UsageError(
        "roost load: standard input is a terminal; name the archive with -i FILE or pipe it in "
        "(roost load < FILE)");
  UniqueFd piped = from_stdin ? copy_stdin_to_unnamed_file(context.settings.data_root) : UniqueFd();
  image::Reference reference;
  reference.path =
      from_stdin ? fmt::format("/proc/self/fd/{}", piped.get()) : command.value("input");
  reference.transport =
      detect_archive(reference.path, from_stdin ? "from standard input" : "-i " + reference.path);
  for (const auto& image : load_into_store(context, reference))
    fmt::print("Loaded image: {}\n", display_names(image));
  return 0;
}

int cmd_pull(const ParsedCommand& command, Context& context) {
  PullOptions options = image_pull("", command.value("creds"), command.value("tls-verify")).options;
  options.quiet = command.has("quiet");
  fmt::print("{}\n", pull_into_store(context, command.positionals[0], options));
  return 0;
}

int cmd_import(const ParsedCommand& command, Context& context) {
  const auto& file = command.positionals[0];
  if (::access(file.c_str(), R_OK) < 0)
    throw UsageError(fmt::format("import {}: {}", file, std::strerror(errno)));
  auto name = image::parse_reference(command.positionals[1]).canonical_name();
  in_user_namespace(context, [&] {
    open_image_store(context).import_rootfs(file, name);
    return 0;
  });
  auto record = open_image_store(context).find(name);
  fmt::print("{}\n", record ? record->id : name);
  return 0;
}

int cmd_images(const ParsedCommand& command, Context& context) {
  auto records = open_image_store(context).list();
  if (command.value("format") == "json") {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& record : records) list.push_back(image_json(record));
    fmt::print("{}\n", list.dump(2));
    return 0;
  }
  if (is_format_template(command.value("format"))) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& record : records) add_template_rows(record, rows);
    print_with_template(command.value("format"), kImagesTemplateFields, rows);
    return 0;
  }
  if (command.has("quiet")) {
    for (const auto& record : records) fmt::print("{}\n", record.id.substr(0, 12));
    return 0;
  }
  print_image_table(image_rows(records));
  return 0;
}

int cmd_image_inspect(const ParsedCommand& command, Context& context) {
  image::Store store = open_image_store(context);
  nlohmann::json list = nlohmann::json::array();
  for (const auto& name : command.positionals) {
    auto record = store.find(name);
    if (!record)
      throw UsageError(fmt::format("image {} is not in your store; see 'roost images'", name));
    list.push_back(image_json(*record));
  }
  if (is_format_template(command.value("format"))) {
    for (auto& entry : list) entry["ID"] = entry["Id"];
    print_with_template(command.value("format"), kImageInspectTemplateFields, list);
    return 0;
  }
  fmt::print("{}\n", list.dump(2));
  return 0;
}

int cmd_rmi(const ParsedCommand& command, Context& context) {
  image::Store store = open_image_store(context);
  ContainerStore containers(context.settings.data_root, context.settings.runtime_root);
  // Held until the images are gone, so that no container of them is created meanwhile.
  ContainerLock no_creations = containers.lock_creations();
  std::vector<std::string> targets = images_to_remove(command, store);
  bool confirmed = command.has("force") || command.has("all");
  // The names each image keeps once the names before it are gone: two of an image's names
  // in one command delete it as surely as its last name alone.
  std::map<std::string, image::ImageRecord> left;
  for (const auto& name : targets) {
    auto found = store.find_with_name(name);
    if (!found)
      throw UsageError(fmt::format("image {} is not in your store; see 'roost images'", name));
    const auto& [record, matched_name] = *found;
    image::ImageRecord& remaining = left.try_emplace(record.id, record).first->second;
    if (!removal_deletes_image(remaining, matched_name)) {
      std::erase(remaining.names, matched_name);
      continue;
    }
    refuse_if_used_by_container(containers, remaining, name);
    if (!confirmed && matched_name.empty() && remaining.names.size() > 1)
      refuse_id_of_several_names(remaining, name);
    remaining.names.clear();
  }
  return in_user_namespace(context, [&] {
    image::Store inside(context.settings.data_root);
    for (const auto& name : targets)
      for (const auto& line : inside.remove(name)) fmt::print("{}\n", line);
    std::fflush(stdout);
    return 0;
  });
}

// Unnamed images, or with --all every image, that no container uses.
std::vector<std::string> unused_images(const ParsedCommand& command, const image::Store& store,
                                       const ContainerStore& containers) {
  std::set<std::string> in_use;
  for (const auto& container : containers.list()) in_use.insert(container.image_id);
  std::vector<std::string> ids;
  for (const auto& record : store.list())
    if ((command.has("all") || record.names.empty()) && !in_use.contains(record.id))
      ids.push_back(record.id);
  return ids;
}

int cmd_image_prune(const ParsedCommand& command, Context& context) {
  image::Store store = open_image_store(context);
  ContainerStore containers(context.settings.data_root, context.settings.runtime_root);
  ContainerLock no_creations = containers.lock_creations();
  std::vector<std::string> ids = unused_images(command, store, containers);
  if (ids.empty()) return 0;
  return in_user_namespace(context, [&] {
    image::Store inside(context.settings.data_root);
    for (const auto& id : ids) {
      inside.remove("sha256:" + id);
      fmt::print("{}\n", id);
    }
    std::fflush(stdout);
    return 0;
  });
}

int cmd_tag(const ParsedCommand& command, Context& context) {
  auto name = image::parse_reference(command.positionals[1]).canonical_name();
  open_image_store(context).tag(command.positionals[0], name);
  return 0;
}

}  // namespace roost::cli
