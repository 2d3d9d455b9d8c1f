#include "cgroups/scope.hpp"

#include <sys/stat.h>
#include <systemd/sd-bus.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include "cgroups/files.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"

namespace roost::cgroups {

namespace {

namespace stdfs = std::filesystem;

constexpr const char* kService = "org.freedesktop.systemd1";
constexpr const char* kObject = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";

struct BusUnref {
  void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
struct MessageUnref {
  void operator()(sd_bus_message* message) const { sd_bus_message_unref(message); }
};
struct SlotUnref {
  void operator()(sd_bus_slot* slot) const { sd_bus_slot_unref(slot); }
};
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;

class BusError {
 public:
  BusError() = default;
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  ~BusError() { sd_bus_error_free(&error_); }

  sd_bus_error* get() { return &error_; }
  // systemd's own words when it sent an error, else the errno text.
  std::string text(int result) const {
    if (sd_bus_error_is_set(&error_))
      return fmt::format("{} ({})", error_.message ? error_.message : "", error_.name);
    return std::strerror(-result);
  }

 private:
  sd_bus_error error_ = SD_BUS_ERROR_NULL;
};

// sd-bus returns negative errno values.
void check(int result, const std::string& what) {
  if (result < 0) throw_errno(what, -result);
}

BusPtr connect_user_bus(const std::string& address) {
  if (address.empty())
    throw Error("connect to the user's systemd: no D-Bus address of the user's own is known");
  sd_bus* raw = nullptr;
  check(sd_bus_new(&raw), "sd_bus_new");
  BusPtr bus(raw);
  check(sd_bus_set_address(raw, address.c_str()), fmt::format("use D-Bus address {}", address));
  check(sd_bus_set_bus_client(raw, 1), "sd_bus_set_bus_client");
  check(sd_bus_start(raw), fmt::format("connect to the user's D-Bus at {}", address));
  return bus;
}

using JobResults = std::map<std::string, std::string>;  // job object path -> result

int on_job_removed(sd_bus_message* message, void* userdata, sd_bus_error*) {
  uint32_t id = 0;
  const char* job = nullptr;
  const char* unit = nullptr;
  const char* result = nullptr;
  if (sd_bus_message_read(message, "uoss", &id, &job, &unit, &result) < 0) return 0;
  (*static_cast<JobResults*>(userdata))[job] = result;
  return 0;
}

// Subscribing before StartTransientUnit: a scope's job can finish before the call's
// reply arrives, and a signal sent before the match exists is never seen.
SlotPtr watch_jobs(sd_bus* bus, JobResults& results) {
  sd_bus_slot* slot = nullptr;
  check(sd_bus_match_signal(bus, &slot, kService, kObject, kManager, "JobRemoved", on_job_removed,
                            &results),
        "subscribe to systemd's JobRemoved signal");
  return SlotPtr(slot);
}

struct ValueAppender {
  sd_bus_message* message;
  int operator()(uint64_t value) const { return sd_bus_message_append_basic(message, 't', &value); }
  int operator()(bool value) const {
    int as_int = value;
    return sd_bus_message_append_basic(message, 'b', &as_int);
  }
  int operator()(const std::string& value) const {
    return sd_bus_message_append_basic(message, 's', value.c_str());
  }
  int operator()(const std::vector<uint32_t>& value) const {
    return sd_bus_message_append_array(message, 'u', value.data(), value.size() * sizeof(uint32_t));
  }
};

void append_property(sd_bus_message* message, const Property& property) {
  if (signature_of(property.value) != property.signature)
    throw Error(fmt::format("property {}: a value of D-Bus type {} does not fit its signature {}",
                            property.name, signature_of(property.value), property.signature));
  std::string what = fmt::format("add property {} to StartTransientUnit", property.name);
  check(sd_bus_message_open_container(message, 'r', "sv"), what);
  check(sd_bus_message_append_basic(message, 's', property.name.c_str()), what);
  check(sd_bus_message_open_container(message, 'v', property.signature.c_str()), what);
  check(std::visit(ValueAppender{message}, property.value), what);
  check(sd_bus_message_close_container(message), what);
  check(sd_bus_message_close_container(message), what);
}

MessagePtr transient_unit_call(sd_bus* bus, const std::string& unit,
                               const std::vector<Property>& properties) {
  std::string what = fmt::format("build the StartTransientUnit call for {}", unit);
  sd_bus_message* raw = nullptr;
  check(
      sd_bus_message_new_method_call(bus, &raw, kService, kObject, kManager, "StartTransientUnit"),
      what);
  MessagePtr call(raw);
  check(sd_bus_message_append(raw, "ss", unit.c_str(), "fail"), what);
  check(sd_bus_message_open_container(raw, 'a', "(sv)"), what);
  for (const auto& property : properties) append_property(raw, property);
  check(sd_bus_message_close_container(raw), what);
  check(sd_bus_message_append(raw, "a(sa(sv))", 0), what);
  return call;
}

// Returns the job's object path.
std::string start_transient_unit(sd_bus* bus, const std::string& unit,
                                 const std::vector<Property>& properties) {
  auto call = transient_unit_call(bus, unit, properties);
  BusError error;
  sd_bus_message* raw_reply = nullptr;
  int result = sd_bus_call(bus, call.get(), 0, error.get(), &raw_reply);
  MessagePtr reply(raw_reply);
  if (result < 0)
    throw Error(fmt::format("systemd refused to start {}: {}", unit, error.text(result)));
  const char* job = nullptr;
  check(sd_bus_message_read(raw_reply, "o", &job),
        fmt::format("read the job of {} from systemd's reply", unit));
  return job;
}

std::string wait_for_job(sd_bus* bus, const JobResults& results, const std::string& job,
                         const std::string& unit, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string what = fmt::format("wait for systemd's job {} starting {}", job, unit);
  while (!results.contains(job)) {
    int processed = sd_bus_process(bus, nullptr);
    check(processed, what);
    if (processed > 0) continue;
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      throw Error(fmt::format("{}: it did not finish within {} s", what, timeout.count()));
    check(sd_bus_wait(bus, static_cast<uint64_t>(left.count())), what);
  }
  return results.at(job);
}

void check_job_result(const std::string& result, const std::string& unit) {
  if (result == "done") return;
  throw Error(
      fmt::format("systemd's job to start {} ended with result \"{}\"; see "
                  "`journalctl --user -u {}` for systemd's account",
                  unit, result, unit));
}

stdfs::path scope_cgroup_of(pid_t pid, const std::string& unit) {
  auto path = files::unified_path(fs::read_file(fmt::format("/proc/{}/cgroup", pid)));
  if (!path || !path->ends_with("/" + unit))
    throw Error(fmt::format("systemd started {}, but process {} is in cgroup {} instead", unit, pid,
                            path.value_or("(none)")));
  return stdfs::path("/sys/fs/cgroup") / path->substr(1);
}

void enable_one(const stdfs::path& subtree_control, const std::string& controller, bool required) {
  try {
    files::write_value(subtree_control, "+" + controller);
  } catch (Error& error) {
    if (required) {
      error.add_context(fmt::format("enable the {} controller the limits need", controller));
      throw;
    }
    spdlog::debug("{}; the container's cgroup goes without the {} controller, ignoring",
                  error.what(), controller);
  }
}

// cgroup v2 lets a cgroup enable controllers for its children only while it holds no
// processes itself, so this comes after the move into the leaf.
void enable_controllers(const stdfs::path& scope_cgroup, const std::set<std::string>& required) {
  auto available =
      files::words(files::read_if_present(scope_cgroup / "cgroup.controllers").value_or(""));
  for (const auto& controller : required)
    if (std::find(available.begin(), available.end(), controller) == available.end())
      throw Error(fmt::format(
          "{} lacks the {} controller that its limits need (it has: {})", scope_cgroup.string(),
          controller, available.empty() ? "none" : fmt::format("{}", fmt::join(available, " "))));
  if (available.empty()) return;
  std::string all;
  for (const auto& controller : available) all += (all.empty() ? "+" : " +") + controller;
  try {
    files::write_value(scope_cgroup / "cgroup.subtree_control", all);
  } catch (const Error& error) {
    spdlog::debug("{}; enabling the controllers one by one", error.what());
    for (const auto& controller : available)
      enable_one(scope_cgroup / "cgroup.subtree_control", controller,
                 required.contains(controller));
  }
}

void write_limits(const stdfs::path& leaf, const Limits& limits) {
  for (const auto& row : limit_properties())
    if (auto value = limits.*row.field)
      files::write_value(leaf / row.cgroup_file, cgroup_file_value(row, *value));
}

}  // namespace

std::set<std::string> controllers_for(const Limits& limits) {
  std::set<std::string> controllers;
  for (const auto& row : limit_properties())
    if (limits.*row.field) controllers.emplace(row.controller);
  return controllers;
}

stdfs::path make_container_leaf(const stdfs::path& scope_cgroup, pid_t pid, const Limits& limits) {
  auto leaf = scope_cgroup / "container";
  if (::mkdir(leaf.c_str(), 0755) < 0 && errno != EEXIST)
    throw_errno(fmt::format("create the container's cgroup {}", leaf.string()));
  files::write_value(leaf / "cgroup.procs", std::to_string(pid));
  enable_controllers(scope_cgroup, controllers_for(limits));
  write_limits(leaf, limits);
  return leaf;
}

void start_plain_scope(const std::string& unit, pid_t pid, const std::string& slice,
                       const std::string& bus_address, std::chrono::seconds job_timeout) {
  std::vector<Property> properties = {
      {"Description", "s", "roost " + unit},
      {"Slice", "s", slice},
      {"PIDs", "au", std::vector<uint32_t>{static_cast<uint32_t>(pid)}},
      {"CollectMode", "s", "inactive-or-failed"},
  };
  auto bus = connect_user_bus(bus_address);
  JobResults results;
  auto slot = watch_jobs(bus.get(), results);
  auto job = start_transient_unit(bus.get(), unit, properties);
  check_job_result(wait_for_job(bus.get(), results, job, unit, job_timeout), unit);
  spdlog::debug("process {} is in {}", pid, unit);
}

Scope start_scope(const ScopeRequest& request, std::chrono::seconds job_timeout) {
  Scope scope;
  scope.unit = scope_unit_name(request.name);
  auto properties = scope_properties(request);
  auto bus = connect_user_bus(request.bus_address);
  JobResults results;
  auto slot = watch_jobs(bus.get(), results);
  auto job = start_transient_unit(bus.get(), scope.unit, properties);
  spdlog::debug("systemd queued job {} to start {} for process {}", job, scope.unit, request.pid);
  check_job_result(wait_for_job(bus.get(), results, job, scope.unit, job_timeout), scope.unit);
  scope.cgroup = scope_cgroup_of(request.pid, scope.unit);
  scope.leaf = make_container_leaf(scope.cgroup, request.pid, request.limits);
  spdlog::debug("process {} is in {}, under {}", request.pid, scope.leaf.string(), scope.unit);
  return scope;
}

}  // namespace roost::cgroups
