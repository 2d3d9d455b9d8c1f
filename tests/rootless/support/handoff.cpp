#include "tests/rootless/support/handoff.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

extern char** environ;

namespace rootless {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDefaultTestUser = "roost-test";
constexpr const char* kOutputFlag = "--gtest_output=xml:";

struct TestUser {
  std::string name;
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

// What the copy needs: where it lives, how it is called, where its report goes.
struct Plan {
  fs::path dir;
  fs::path program;
  fs::path roost;
  fs::path work;
  fs::path report_inside;
  std::optional<fs::path> report_outside;
  std::vector<std::string> args;
  std::vector<std::string> env;
};

std::vector<gid_t> supplementary_groups(const std::string& name, gid_t gid) {
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  while (::getgrouplist(name.c_str(), gid, groups.data(), &count) < 0)
    groups.resize(static_cast<size_t>(count));
  groups.resize(static_cast<size_t>(count));
  return groups;
}

TestUser find_test_user() {
  const char* chosen = std::getenv("ROOST_TEST_USER");
  std::string name = chosen != nullptr && *chosen ? chosen : kDefaultTestUser;
  const passwd* entry = ::getpwnam(name.c_str());
  if (entry == nullptr)
    throw std::runtime_error("the rootless tests run as the user " + name +
                             " when started as root, and there is no such user; "
                             "`sudo scripts/setup test` creates it with subordinate ids");
  if (entry->pw_uid == 0) throw std::runtime_error("the test user " + name + " has uid 0");
  return {name, entry->pw_uid, entry->pw_gid, supplementary_groups(name, entry->pw_gid)};
}

fs::path make_reachable_dir() {
  std::string pattern = "/tmp/roost-rootless-handoff-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  if (::chmod(pattern.c_str(), 0755) < 0)
    throw std::runtime_error("chmod 0755 " + pattern + ": " + std::strerror(errno));
  return pattern;
}

void copy_program(const fs::path& from, const fs::path& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
  fs::permissions(to, fs::perms(0755), fs::perm_options::replace);
}

fs::path roost_to_copy() {
  const char* path = std::getenv("ROOST_BINARY");
  if (path == nullptr || *path == '\0')
    throw std::runtime_error("ROOST_BINARY is not set; meson sets it to the built roost");
  return path;
}

// The copy writes its report inside the work directory; the original path is kept
// to copy the report back.
void redirect_report(Plan& plan) {
  for (auto& arg : plan.args) {
    if (arg.rfind(kOutputFlag, 0) != 0) continue;
    plan.report_outside = fs::absolute(arg.substr(std::strlen(kOutputFlag)));
    arg = kOutputFlag + plan.report_inside.string();
  }
}

std::vector<std::string> child_env(const TestUser& user, const Plan& plan) {
  std::vector<std::string> env = {
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=" + plan.work.string(),
      "USER=" + user.name,
      "LOGNAME=" + user.name,
      "TMPDIR=" + plan.work.string(),
      "ROOST_BINARY=" + plan.roost.string(),
  };
  for (char** entry = environ; *entry != nullptr; ++entry)
    if (std::strncmp(*entry, "GTEST_", 6) == 0) env.emplace_back(*entry);
  return env;
}

void make_plan(const TestUser& user, const std::vector<std::string>& args, Plan& plan) {
  plan.dir = make_reachable_dir();
  plan.program = plan.dir / "rootless-tests";
  plan.roost = plan.dir / "roost";
  plan.work = plan.dir / "work";
  plan.report_inside = plan.work / "report.xml";
  copy_program("/proc/self/exe", plan.program);
  copy_program(roost_to_copy(), plan.roost);
  // A detached container's monitor becomes the roost-monitor beside roost.
  copy_program(roost_to_copy().parent_path() / "roost-monitor", plan.dir / "roost-monitor");
  fs::create_directory(plan.work);
  if (::chown(plan.work.c_str(), user.uid, user.gid) < 0 || ::chmod(plan.work.c_str(), 0700) < 0)
    throw std::runtime_error("chown " + plan.work.string() + ": " + std::strerror(errno));
  plan.args = args;
  redirect_report(plan);
  plan.env = child_env(user, plan);
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

[[noreturn]] void child_failed(int report_fd, const char* step) {
  std::string message = std::string(step) + ": " + std::strerror(errno);
  if (::write(report_fd, message.data(), message.size()) < 0) _exit(127);
  _exit(127);
}

// In the child: drop to the user for good, then exec the copy. Any failure is written
// to `report_fd` (closed on a successful exec).
[[noreturn]] void become_user_and_exec(const TestUser& user, Plan& plan, int report_fd) {
  std::vector<std::string> argv = plan.args;
  argv.insert(argv.begin(), plan.program.string());
  auto args = c_strings(argv);
  auto env = c_strings(plan.env);
  if (::setgroups(user.groups.size(), user.groups.data()) < 0) child_failed(report_fd, "setgroups");
  if (::setresgid(user.gid, user.gid, user.gid) < 0) child_failed(report_fd, "setresgid");
  if (::setresuid(user.uid, user.uid, user.uid) < 0) child_failed(report_fd, "setresuid");
  // Credentials changes clear the parent-death signal, so it is set afterwards.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::chdir(plan.work.c_str()) < 0) child_failed(report_fd, "chdir to the work directory");
  ::execve(plan.program.c_str(), args.data(), env.data());
  child_failed(report_fd, ("execve " + plan.program.string()).c_str());
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw std::runtime_error("waitpid: " + std::string(std::strerror(errno)));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string read_all(int fd) {
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

int run_copy(const TestUser& user, Plan& plan) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) throw std::runtime_error("pipe2 failed");
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
  if (pid == 0) become_user_and_exec(user, plan, fds[1]);
  ::close(fds[1]);
  std::string exec_error = read_all(fds[0]);
  ::close(fds[0]);
  int code = wait_for(pid);
  if (!exec_error.empty())
    throw std::runtime_error("could not start the tests as " + user.name + ": " + exec_error);
  return code;
}

void bring_report_back(const Plan& plan) {
  if (!plan.report_outside || !fs::exists(plan.report_inside)) return;
  fs::copy_file(plan.report_inside, *plan.report_outside, fs::copy_options::overwrite_existing);
}

}  // namespace

Handoff run_as_test_user(const std::vector<std::string>& args) {
  Plan plan;
  Handoff result;
  try {
    TestUser user = find_test_user();
    make_plan(user, args, plan);
    result.exit_code = run_copy(user, plan);
    bring_report_back(plan);
  } catch (const std::exception& error) {
    result.failure = error.what();
  }
  std::error_code ignored;
  if (!plan.dir.empty()) fs::remove_all(plan.dir, ignored);
  return result;
}

}  // namespace rootless
