#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cgroups/host.hpp"
#include "launcher/context.hpp"
#include "launcher/host_probe.hpp"
#include "launcher/options.hpp"
#include "userns/namespace.hpp"

namespace roost::cli {

// Everything `roost info` and `roost doctor` look at, probed once.
struct Machine {
  userns::Caller caller;
  std::string kernel;
  SubidFinding subuid;
  SubidFinding subgid;
  HelperFinding newuidmap;
  HelperFinding newgidmap;
  UsernsFinding user_namespaces;
  std::string overlay_problem;  // empty when overlayfs mounts in a user namespace
  FuseFinding fuse;
  StorageFinding storage;
  RuntimeDirFinding runtime_dir;
  cgroups::HostSupport cgroups;
  bool linger = false;
};
Machine probe_machine(const Settings& settings);

enum class Verdict { Pass, Warn, Fail };

// One finding of doctor: a failure keeps roost from working as configured; a warning
// leaves a fallback or an optional feature (limits, lingering) without what it needs.
struct Check {
  std::string name;
  Verdict verdict = Verdict::Pass;
  std::string finding;  // what was found; for a problem, what is wrong
  std::string fix;      // the command or file that fixes it
};
std::vector<Check> doctor_checks(const Machine& machine, const Settings& settings);

// roost info's document: versions, storage, id maps, cgroups, bus, helpers, counts.
nlohmann::ordered_json info_document(const Machine& machine, const Context& context);

int cmd_info(const ParsedCommand& command, Context& context);
int cmd_doctor(const ParsedCommand& command, Context& context);

}  // namespace roost::cli
