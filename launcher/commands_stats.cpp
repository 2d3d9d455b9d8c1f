// roost stats: what a container uses, read from its own cgroup (the leaf in its scope).

#include <sys/sysinfo.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cgroups/host.hpp"
#include "cgroups/limits.hpp"
#include "cgroups/stats.hpp"
#include "common/error.hpp"
#include "launcher/commands.hpp"
#include "launcher/containers.hpp"
#include "launcher/times.hpp"

namespace roost::cli {

namespace {

constexpr auto kStreamInterval = std::chrono::seconds(1);

// One container's use at one moment, as stats shows it.
struct Sample {
  std::string id;
  std::string name;
  cgroups::Stats stats;
  UnixNanos taken = 0;
  double cpu_percent = 0;  // of one CPU, so above 100 when it uses several
  uint64_t memory_limit = 0;
};

uint64_t host_memory() {
  struct sysinfo info;
  if (::sysinfo(&info) < 0) return 0;
  return static_cast<uint64_t>(info.totalram) * info.mem_unit;
}

std::string why_no_cgroup(const ContainerRecord& record) {
  if (record.settings.cgroups_disabled) return "it was started with --cgroups=disabled";
  auto host = cgroups::detect_host_support();
  if (!host.can_limit) return "this host cannot give containers a cgroup: " + host.reason;
  return "it was started when the host could not give it one (no systemd user session)";
}

void check_has_cgroup(const ContainerRecord& record) {
  if (record.status != kRunning)
    throw UsageError(fmt::format("container {} is {}, not running: it has no statistics",
                                 record.name, record.status));
  if (record.cgroup.empty())
    throw UsageError(
        fmt::format("container {} has no cgroup of its own to read statistics from: {}",
                    record.name, why_no_cgroup(record)));
}

// The containers to show: those named, else every running one that has a cgroup.
std::vector<ContainerRecord> chosen_containers(const ParsedCommand& command,
                                               const ContainerStore& store) {
  std::vector<ContainerRecord> chosen;
  for (const auto& name : command.positionals) {
    chosen.push_back(store.get(name));
    check_has_cgroup(chosen.back());
  }
  if (!command.positionals.empty()) return chosen;
  for (auto& record : store.list()) {
    if (record.status != kRunning) continue;
    if (record.cgroup.empty())
      spdlog::warn("container {} is left out: it has no cgroup of its own ({})", record.name,
                   why_no_cgroup(record));
    else
      chosen.push_back(std::move(record));
  }
  return chosen;
}

// CPU use since the sample before, or since the container started for the first one.
double cpu_percent(const Sample& now, const Sample* before, const ContainerRecord& record) {
  uint64_t used = now.stats.cpu_usage_usec.value_or(0);
  UnixNanos since = parse_rfc3339(record.started_at).value_or(now.taken);
  if (before != nullptr) {
    used -= std::min(used, before->stats.cpu_usage_usec.value_or(0));
    since = before->taken;
  }
  auto elapsed_usec = static_cast<double>(now.taken - since) / 1000;
  return elapsed_usec > 0 ? 100.0 * static_cast<double>(used) / elapsed_usec : 0;
}

// Nothing when the cgroup is gone: the container ended.
std::optional<Sample> take_sample(const ContainerRecord& record, const Sample* before) {
  if (!std::filesystem::is_directory(record.cgroup)) return std::nullopt;
  Sample sample{record.id, record.name, cgroups::read_stats(record.cgroup), now_nanos()};
  sample.cpu_percent = cpu_percent(sample, before, record);
  auto limit = sample.stats.memory_max.value_or(cgroups::kUnlimited);
  sample.memory_limit = limit == cgroups::kUnlimited ? host_memory() : limit;
  return sample;
}

double memory_percent(const Sample& sample) {
  if (sample.memory_limit == 0) return 0;
  return 100.0 * static_cast<double>(sample.stats.memory_current.value_or(0)) /
         static_cast<double>(sample.memory_limit);
}

std::string optional_number(const std::optional<uint64_t>& value) {
  return value ? std::to_string(*value) : "--";
}

void print_table(const std::vector<Sample>& samples) {
  std::string out = fmt::format("{:<12}  {:<20}  {:>8}  {:>23}  {:>7}  {:>23}  {:>6}\n", "ID",
                                "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "BLOCK I/O", "PIDS");
  for (const auto& sample : samples) {
    auto memory =
        fmt::format("{} / {}", cgroups::format_size(sample.stats.memory_current.value_or(0)),
                    cgroups::format_size(sample.memory_limit));
    auto io = fmt::format("{} / {}", cgroups::format_size(sample.stats.io_read_bytes),
                          cgroups::format_size(sample.stats.io_write_bytes));
    out += fmt::format("{:<12}  {:<20}  {:>7.2f}%  {:>23}  {:>6.2f}%  {:>23}  {:>6}\n",
                       sample.id.substr(0, 12), sample.name, sample.cpu_percent, memory,
                       memory_percent(sample), io, optional_number(sample.stats.pids_current));
  }
  std::fputs(out.c_str(), stdout);
}

nlohmann::json json_entry(const Sample& sample) {
  auto number = [](const std::optional<uint64_t>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  return {{"id", sample.id},
          {"name", sample.name},
          {"cpu_percent", sample.cpu_percent},
          {"cpu_usage_usec", number(sample.stats.cpu_usage_usec)},
          {"mem_usage", number(sample.stats.memory_current)},
          {"mem_limit", sample.memory_limit},
          {"mem_percent", memory_percent(sample)},
          {"block_read", sample.stats.io_read_bytes},
          {"block_write", sample.stats.io_write_bytes},
          {"pids", number(sample.stats.pids_current)}};
}

void print_json(const std::vector<Sample>& samples) {
  auto entries = nlohmann::json::array();
  for (const auto& sample : samples) entries.push_back(json_entry(sample));
  std::fputs((entries.dump(2) + "\n").c_str(), stdout);
}

// Samples every chosen container; those that ended are dropped from `containers`.
std::vector<Sample> sample_all(std::vector<ContainerRecord>& containers,
                               std::map<std::string, Sample>& before) {
  std::vector<Sample> samples;
  std::vector<ContainerRecord> still_running;
  for (auto& record : containers) {
    auto found = before.find(record.id);
    auto sample = take_sample(record, found == before.end() ? nullptr : &found->second);
    if (!sample) continue;
    samples.push_back(*sample);
    before.insert_or_assign(record.id, *sample);
    still_running.push_back(std::move(record));
  }
  containers = std::move(still_running);
  return samples;
}

}  // namespace

int cmd_stats(const ParsedCommand& command, Context& context) {
  ContainerStore store(context.settings.data_root, context.settings.runtime_root);
  auto containers = chosen_containers(command, store);
  bool json = command.value("format", "table") == "json";
  bool clear_screen = ::isatty(STDOUT_FILENO) && !json;
  std::map<std::string, Sample> before;
  for (bool first = true;; first = false) {
    if (!first && !command.positionals.empty() && containers.empty()) return 0;
    if (!first && command.positionals.empty()) containers = chosen_containers(command, store);
    auto samples = sample_all(containers, before);
    if (clear_screen && !command.has("no-stream")) std::fputs("\033[H\033[2J", stdout);
    json ? print_json(samples) : print_table(samples);
    std::fflush(stdout);
    if (command.has("no-stream")) return 0;
    std::this_thread::sleep_for(kStreamInterval);
  }
}

}  // namespace roost::cli
