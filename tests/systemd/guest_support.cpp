#include "tests/systemd/guest_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/fs.hpp"
#include "common/process.hpp"

namespace guest {

namespace fs = std::filesystem;

Ran run(const std::vector<std::string>& argv) {
  std::string out_file = fmt::format("out-{}.txt", ::getpid());
  std::vector<std::string> shell = {"/bin/sh", "-c", "exec \"$@\" > " + out_file, "sh"};
  shell.insert(shell.end(), argv.begin(), argv.end());
  auto result = roost::process::run(shell);
  Ran ran;
  ran.status = WIFEXITED(result.exit_status) ? WEXITSTATUS(result.exit_status)
                                             : 128 + WTERMSIG(result.exit_status);
  ran.out = roost::fs::read_file(out_file);
  ran.err = result.error_output;
  return ran;
}

std::string environment_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value ? value : fallback;
}

std::string roost_bin() {
  return environment_or("ROOST_BIN", "roost");
}

Ran run_roost(std::vector<std::string> args) {
  args.insert(args.begin(), roost_bin());
  return run(args);
}

Ran systemctl(std::vector<std::string> args) {
  args.insert(args.begin(), {"systemctl", "--user", "--no-pager"});
  return run(args);
}

std::string chomp(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string show(const std::string& unit, const std::string& property) {
  return chomp(systemctl({"show", "-P", property, unit}).out);
}

std::string unit_cgroup_file(const std::string& unit, const std::string& file) {
  return roost::fs::read_file("/sys/fs/cgroup" + show(unit, "ControlGroup") + "/" + file);
}

std::string describe(const Ran& ran) {
  return fmt::format("status {}\n--- stdout\n{}--- stderr\n{}", ran.status, ran.out, ran.err);
}

std::string journal_of(const std::string& unit) {
  return run({"journalctl", "--user", "--no-pager", "-o", "cat", "-u", unit}).out;
}

std::string diagnose(const std::string& unit) {
  return systemctl({"status", unit}).out + "\n--- journal\n" + journal_of(unit);
}

void wait_until(const std::function<bool()>& done, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
}

std::string cgroup_of(pid_t pid) {
  std::istringstream lines(roost::fs::read_file(fmt::format("/proc/{}/cgroup", pid)));
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("0::")) return line.substr(3);
  throw std::runtime_error(fmt::format("no 0:: line in /proc/{}/cgroup", pid));
}

const std::string& busybox_image() {
  static const std::string name = [] {
    fs::path root = fs::absolute("busybox-root");
    fs::create_directories(root / "bin");
    fs::copy_file("/bin/busybox", root / "bin/busybox", fs::copy_options::overwrite_existing);
    for (const char* applet : {"sh", "cat", "sleep", "dd", "seq", "echo", "head", "true", "test"})
      if (!fs::exists(root / "bin" / applet)) fs::create_symlink("busybox", root / "bin" / applet);
    auto tar =
        roost::process::run({"/usr/bin/tar", "-C", root.string(), "-cf", "busybox.tar", "."});
    if (tar.exit_status != 0) throw std::runtime_error("tar: " + tar.error_output);
    auto imported = run_roost({"import", "busybox.tar", "guest/busybox:1"});
    if (imported.status != 0) throw std::runtime_error("import: " + describe(imported));
    return std::string("guest/busybox:1");
  }();
  return name;
}

size_t occurrences(const std::string& text, const std::string& part) {
  size_t count = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++count;
  return count;
}

pid_t container_pid(const std::string& name) {
  auto inspected = run_roost({"inspect", "--format", "{{.State.Pid}}", name});
  return inspected.status == 0 ? std::atoi(inspected.out.c_str()) : 0;
}

Removing::Removing(std::vector<std::string> names) : names_(std::move(names)) {
  for (const auto& name : names_) run_roost({"rm", "-f", name});
}

Removing::~Removing() {
  for (const auto& name : names_) run_roost({"rm", "-f", name});
}

}  // namespace guest
