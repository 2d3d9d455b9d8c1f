#include "launcher/runtime.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/fd.hpp"

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

}  // namespace

std::vector<LoadedImage> load_into_store(const Context& context, const image::Reference& reference,
                                         const image::ImageCheck& check) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw_errno("create a pipe");
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  in_user_namespace(context, [&] {
    read_end.reset();
    std::string text = loaded_lines(open_image_store(context).load(reference, check));
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

int in_user_namespace(const Context& context, const std::function<int()>& work) {
  return userns::run_as_mapped_root(caller_maps(context, context.settings.userns), work);
}

image::ImageRecord resolve_image(const Context& context, const std::string& text,
                                 const image::ImageCheck& check) {
  auto reference = image::parse_reference(text);
  image::Store store = open_image_store(context);
  if (reference.transport == image::Transport::Store) {
    if (auto record = store.find(text)) {
      if (check) check(record->config);
      return *record;
    }
    throw UsageError(
        fmt::format("image {} is not in your store; load it with 'roost load -i "
                    "FILE' or name an archive (docker-archive:FILE, oci:DIR)",
                    text));
  }
  if (reference.transport == image::Transport::Docker)
    throw UsageError(
        fmt::format("image {}: pulling from a registry is not available yet; load an "
                    "archive with 'roost load -i FILE'",
                    text));
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
