#include "launcher/runtime.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "image/digest.hpp"
#include "image/registry.hpp"

namespace roost::cli {

namespace {

userns::MapMode map_mode(const std::string& mode) {
  if (mode == "single") return userns::MapMode::Single;
  if (mode == "keep-id") return userns::MapMode::KeepId;
  if (mode == "host") {
    if (::getuid() != 0)
      throw UsageError("--userns host: only root can map the whole id space; use auto or keep-id");
    return userns::MapMode::Host;
  }
  return userns::MapMode::Full;
}

}  // namespace

namespace {

// One image a line: its id, then its names, separated by tabs (names hold none).
std::string loaded_lines(const std::vector<image::ImageRecord>& records) {
  std::string text;
  for (const auto& record : records) {
    text += record.id;
    for (const auto& name : record.names) text += "\t" + name;
    text += "\n";
  }
  return text;
}

std::vector<LoadedImage> parse_loaded_lines(const std::string& text) {
  std::vector<LoadedImage> loaded;
  for (size_t start = 0, end; (end = text.find('\n', start)) != std::string::npos;
       start = end + 1) {
    std::string line = text.substr(start, end - start);
    auto tab = line.find('\t');
    loaded.push_back({line.substr(0, tab), {}});
    while (tab != std::string::npos) {
      auto next = line.find('\t', tab + 1);
      loaded.back().names.push_back(line.substr(tab + 1, next - tab - 1));
      tab = next;
    }
  }
  return loaded;
}

// Runs `work` in the user namespace and brings back the images it stored.
std::vector<LoadedImage> store_in_namespace(
    const Context& context, const std::function<std::vector<image::ImageRecord>()>& work) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("create a pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  in_user_namespace(context, [&] {
    read_end.reset();
    std::string text = loaded_lines(work());
    if (::write(write_end.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      throw_errno("report the loaded images");
    return 0;
  });
  write_end.reset();
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(read_end.get(), buffer, sizeof buffer)) > 0)
    text.append(buffer, static_cast<size_t>(n));
  return parse_loaded_lines(text);
}

std::string short_digest(const std::string& digest) {
  return image::digest_hex(digest).substr(0, 12);
}

// Progress on stderr, in podman's words, so that the id alone goes to stdout.
void say(const PullOptions& options, const std::string& line) {
  if (options.quiet) return;
  std::fputs((line + "\n").c_str(), stderr);
}

// NAME@DIGEST for the index (when there was one) and the manifest, whatever the
// reference named, so that either digest finds the image later.
std::vector<std::string> repo_digests(const image::Reference& reference,
                                      const image::RegistryImage& manifest) {
  std::vector<std::string> digests;
  image::Reference by_digest = reference;
  by_digest.tag.clear();
  for (const auto& digest : {manifest.index_digest, manifest.manifest_digest}) {
    if (digest.empty()) continue;
    by_digest.digest = digest;
    digests.push_back(by_digest.canonical_name());
  }
  return digests;
}

image::ImageRecord pull_image(const Context& context, const std::string& text,
                              const image::RegistryLocation& location, const PullOptions& options,
                              const image::ImageCheck& check) {
  image::RegistryClient client(location, {options.credentials, options.tls_verify}, text);
  say(options, fmt::format("Trying to pull {}...", text));
  image::RegistryImage manifest = client.resolve();
  image::RemoteImage remote;
  remote.label = text;
  remote.config_digest = manifest.config_digest;
  for (const auto& layer : manifest.layers) remote.layer_digests.push_back(layer.digest);
  image::Reference reference = image::parse_reference(text);
  // A digest alone names no tag to give the image, as in podman.
  if (!reference.tag.empty() || reference.digest.empty())
    remote.names.push_back(reference.canonical_name());
  remote.repo_digests = repo_digests(reference, manifest);
  remote.manifest_digest = manifest.manifest_digest;
  auto fetch = [&](const std::string& digest, const std::filesystem::path& destination) {
    bool config = digest == manifest.config_digest;
    say(options, fmt::format("Copying {} {}", config ? "config" : "blob", short_digest(digest)));
    uint64_t size = manifest.config_size;
    for (const auto& layer : manifest.layers)
      if (layer.digest == digest) size = layer.size;
    client.fetch_blob(digest, size, destination);
  };
  return open_image_store(context).pull(remote, fetch, check);
}

}  // namespace

std::vector<LoadedImage> load_into_store(const Context& context, const image::Reference& reference,
                                         const image::ImageCheck& check) {
  return store_in_namespace(context,
                            [&] { return open_image_store(context).load(reference, check); });
}

std::string pull_into_store(const Context& context, const std::string& text,
                            const PullOptions& options, const image::ImageCheck& check) {
  image::RegistryLocation location = image::registry_location(image::parse_reference(text), text);
  auto pulled = store_in_namespace(
      context, [&] { return std::vector{pull_image(context, text, location, options, check)}; });
  if (pulled.empty()) throw Error(fmt::format("pull {}: no image was stored", text));
  return pulled.front().id;
}

ImagePull image_pull(const std::string& policy, const std::string& credentials,
                     const std::string& tls_verify) {
  ImagePull pull;
  if (policy == "always") pull.policy = PullPolicy::Always;
  if (policy == "never") pull.policy = PullPolicy::Never;
  if (!credentials.empty() && credentials.find(':') == std::string::npos)
    throw UsageError(
        fmt::format("--creds {}: expected USER:PASS; a password may be empty (USER:), not left out",
                    credentials));
  if (credentials.starts_with(":"))
    throw UsageError(
        fmt::format("--creds {}: the user name is empty; expected USER:PASS", credentials));
  pull.options.credentials = credentials;
  if (!tls_verify.empty()) pull.options.tls_verify = tls_verify != "false";
  return pull;
}
namespace {

image::ImageRecord load_and_report(const Context& context, const image::Reference& reference,
                                   const std::string& text, const image::ImageCheck& check) {
  auto loaded = load_into_store(context, reference, check);
  image::Store store = open_image_store(context);
  if (!loaded.empty())
    if (auto record = store.find(loaded.front().id)) return *record;
  throw Error(fmt::format("image {}: the archive holds no image", text));
}

}  // namespace

userns::Maps caller_maps(const Context& context, const std::string& mode) {
  userns::MapRequest request;
  request.mode = map_mode(mode);
  request.subuid_file = context.settings.subuid_file;
  request.subgid_file = context.settings.subgid_file;
  return userns::plan_caller_maps(request);
}

userns::Maps storage_maps(const Context& context) {
  const auto& mode = context.settings.userns;
  return caller_maps(context, mode == "keep-id" ? "auto" : mode);
}

int in_user_namespace(const Context& context, const std::function<int()>& work) {
  return userns::run_as_mapped_root(storage_maps(context), work);
}

namespace {

image::ImageRecord pulled_record(const Context& context, const std::string& text,
                                 const image::ImageCheck& check, const PullOptions& options) {
  std::string id = pull_into_store(context, text, options, check);
  if (auto record = open_image_store(context).find("sha256:" + id)) return *record;
  throw Error(fmt::format("image {} was removed right after it was pulled; pull it again", text));
}

std::optional<image::ImageRecord> stored(const image::Store& store, const std::string& name,
                                         const image::ImageCheck& check) {
  auto record = store.find(name);
  if (record && check) check(record->config);
  return record;
}

}  // namespace

image::ImageRecord resolve_image(const Context& context, const std::string& text,
                                 const image::ImageCheck& check, const ImagePull& pull) {
  PullPolicy policy = pull.policy;
  auto reference = image::parse_reference(text);
  bool from_registry = image::names_registry(reference);
  image::Store store = open_image_store(context);
  if (reference.transport == image::Transport::Store) {
    if (policy == PullPolicy::Always && from_registry)
      return pulled_record(context, text, check, pull.options);
    if (auto record = stored(store, text, check)) return *record;
    if (policy != PullPolicy::Never && from_registry)
      return pulled_record(context, text, check, pull.options);
    throw UsageError(fmt::format(
        "image {} is not in your store; {}", text,
        from_registry && policy == PullPolicy::Never
            ? "--pull=never keeps it from being pulled; pull it with 'roost pull " + text + "'"
            : "load it with 'roost load -i FILE', name an archive (docker-archive:FILE, "
              "oci:DIR) or pull it from a registry (docker://HOST:PORT/NAME:TAG)"));
  }
  if (reference.transport == image::Transport::Docker) {
    if (policy != PullPolicy::Always && from_registry)
      if (auto record = stored(store, reference.canonical_name(), check)) return *record;
    if (policy == PullPolicy::Never)
      throw UsageError(fmt::format(
          "image {} is not in your store, and --pull=never keeps it from being pulled", text));
    return pulled_record(context, text, check, pull.options);
  }
  return load_and_report(context, reference, text, check);
}

image::Store open_image_store(const Context& context) {
  try {
    return image::Store(context.settings.data_root);
  } catch (const Error& error) {
    throw Error(
        fmt::format("image store {}: {}; choose a directory you can write with --root, "
                    "or set XDG_DATA_HOME",
                    context.settings.data_root.string(), error.what()));
  }
}

}  // namespace roost::cli
