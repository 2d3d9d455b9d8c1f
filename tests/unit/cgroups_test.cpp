#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pwd.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "cgroups/bus.hpp"
#include "cgroups/host.hpp"
#include "cgroups/limits.hpp"
#include "cgroups/properties.hpp"
#include "cgroups/scope.hpp"
#include "cgroups/stats.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "tests/unit/error_of.hpp"

using namespace roost::cgroups;
using roost::Error;
using roost::UniqueFd;
namespace stdfs = std::filesystem;

namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uid_t kNobody = 65534;

using roost::testing::error_of;

LimitRequest request(std::initializer_list<std::pair<std::string, std::string>> options) {
  LimitRequest result;
  for (const auto& [key, value] : options) result.set(key, value);
  return result;
}

Limits parsed(std::initializer_list<std::pair<std::string, std::string>> options) {
  return parse_limits(request(options));
}

std::string parse_error(std::initializer_list<std::pair<std::string, std::string>> options) {
  return error_of([&] { parse_limits(request(options)); });
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/roost-cgroups-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() { roost::fs::remove_tree(path_); }
  const stdfs::path& path() const { return path_; }
  stdfs::path operator/(const std::string& name) const { return path_ / name; }

  // Writes `content` to the relative path, making its directories.
  void write(const std::string& name, const std::string& content) const {
    roost::fs::make_dirs((path_ / name).parent_path());
    roost::fs::write_file_atomic(path_ / name, content);
  }

 private:
  stdfs::path path_;
};

// A unix socket bound at `path`; listening unless told otherwise.
UniqueFd socket_at(const stdfs::path& path, bool listening = true) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, path.c_str());
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) < 0)
    throw std::runtime_error("bind " + path.string() + ": " + std::strerror(errno));
  if (listening && ::listen(fd.get(), 4) < 0) throw std::runtime_error("listen failed");
  return fd;
}

std::string name_of(uid_t uid) {
  struct passwd* entry = ::getpwuid(uid);
  return entry ? entry->pw_name : std::to_string(uid);
}

// Sets an environment variable while it lives, then puts back what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value->c_str(), 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// Collects what spdlog prints while it lives.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_);
    sink->set_pattern("%l: %v");
    auto logger = std::make_shared<spdlog::logger>("captured", sink);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return stream_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream stream_;
};

}  // namespace

// ---- parsing ----

TEST(ParseLimits, MemoryInEveryDockerUnit) {
  const std::pair<std::string, uint64_t> cases[] = {
      {"64m", 64 * kMiB},  {"64M", 64 * kMiB},   {"64mb", 64 * kMiB},  {"64MB", 64 * kMiB},
      {"64Mb", 64 * kMiB}, {"64mi", 64 * kMiB},  {"64MiB", 64 * kMiB}, {"2048k", 2 * kMiB},
      {"2048K", 2 * kMiB}, {"2048kb", 2 * kMiB}, {"2048KB", 2 * kMiB}, {"1g", kGiB},
      {"1G", kGiB},        {"1gb", kGiB},        {"1GB", kGiB},        {"1.5g", 3 * kGiB / 2},
      {"1t", 1024 * kGiB}, {"1048576b", kMiB},   {"1048576B", kMiB},   {"1048576", kMiB},
      {"0.5k", 512},
  };
  for (const auto& [text, bytes] : cases)
    EXPECT_EQ(parsed({{"memory", text}}).memory_max, bytes) << text;
}

TEST(ParseLimits, BadSizesNameTheOptionTheValueAndTheForm) {
  for (std::string bad : {"", "abc", "12q", "-5m", "1.2.3m", "m", ".5m", "5.m", "64 m", "64mm",
                          "64kbb", "0x10", "9999999999t"}) {
    EXPECT_EQ(parse_error({{"memory", bad}}),
              "--memory " + bad +
                  ": not a size; use a number of bytes with an optional unit b, k, m, g or t "
                  "(also kb, mb, gb, tb; any case), such as 64m or 1.5g")
        << bad;
  }
}

TEST(ParseLimits, ZeroMemoryIsRefused) {
  EXPECT_EQ(parse_error({{"memory", "0"}}),
            "--memory 0: a memory limit of 0 leaves no memory; use a number of bytes with an "
            "optional unit b, k, m, g or t (also kb, mb, gb, tb; any case), such as 64m or 1.5g, "
            "or leave the option out for no limit");
}

TEST(ParseLimits, MemoryAloneAllowsAsMuchSwapAsDockerDoes) {
  auto limits = parsed({{"memory", "64m"}});
  EXPECT_EQ(limits.memory_max, 64 * kMiB);
  EXPECT_EQ(limits.memory_swap_max, 64 * kMiB);
  EXPECT_TRUE(limits.swap_from_memory_alone);
  EXPECT_EQ(parsed({{"memory", "64m"}, {"memory-swap", "0"}}), limits);
}

TEST(ParseLimits, MemorySwapIsMemoryPlusSwap) {
  auto equal = parsed({{"memory", "64m"}, {"memory-swap", "64m"}});
  EXPECT_EQ(equal.memory_swap_max, 0u);
  EXPECT_FALSE(equal.swap_from_memory_alone);
  EXPECT_EQ(parsed({{"memory", "64m"}, {"memory-swap", "1g"}}).memory_swap_max, kGiB - 64 * kMiB);
  EXPECT_EQ(parsed({{"memory", "64m"}, {"memory-swap", "-1"}}).memory_swap_max, kUnlimited);
  EXPECT_EQ(parsed({{"memory-swap", "-1"}}).memory_swap_max, kUnlimited);
  EXPECT_FALSE(parsed({{"memory-swap", "-1"}}).memory_max.has_value());
}

TEST(ParseLimits, BadMemorySwap) {
  EXPECT_EQ(parse_error({{"memory", "64m"}, {"memory-swap", "32m"}}),
            "--memory-swap 32m is less than --memory 64m: memory-swap counts memory plus swap, "
            "so use at least the memory limit, or -1 for unlimited swap");
  EXPECT_EQ(parse_error({{"memory-swap", "1g"}}),
            "--memory-swap 1g: memory-swap is memory plus swap, so it needs a memory limit "
            "(--memory) as well");
  EXPECT_EQ(parse_error({{"memory", "64m"}, {"memory-swap", "-2"}}),
            "--memory-swap -2: not a size; use a number of bytes with an optional unit b, k, m, "
            "g or t (also kb, mb, gb, tb; any case), such as 64m or 1.5g, or -1 for unlimited "
            "swap");
}

TEST(ParseLimits, MemoryReservation) {
  EXPECT_EQ(parsed({{"memory-reservation", "32m"}}).memory_low, 32 * kMiB);
  EXPECT_EQ(parsed({{"memory-reservation", "0"}}).memory_low, 0u);
  EXPECT_EQ(parsed({{"memory", "64m"}, {"memory-reservation", "64m"}}).memory_low, 64 * kMiB);
  EXPECT_EQ(parse_error({{"memory", "64m"}, {"memory-reservation", "65m"}}),
            "--memory-reservation 65m is more than --memory 64m: the reservation must not exceed "
            "the memory limit");
  EXPECT_EQ(parse_error({{"memory-reservation", "lots"}}),
            "--memory-reservation lots: not a size; use a number of bytes with an optional unit "
            "b, k, m, g or t (also kb, mb, gb, tb; any case), such as 64m or 1.5g");
}

TEST(ParseLimits, CpusBecomeMicrosecondsPerSecond) {
  const std::pair<std::string, uint64_t> cases[] = {{"0.5", 500000},   {"2", 2000000},
                                                    {"1.25", 1250000}, {"0.01", 10000},
                                                    {"0.1", 100000},   {"1e1", 10000000}};
  for (const auto& [text, usec] : cases)
    EXPECT_EQ(parsed({{"cpus", text}}).cpu_quota_per_sec_usec, usec) << text;
  for (std::string bad : {"0", "-1", "abc", "0.001", "inf", "nan", "", "1.5x", "+1", "1e10"})
    EXPECT_EQ(parse_error({{"cpus", bad}}),
              "--cpus " + bad +
                  ": not a number of CPUs; use a decimal number from 0.01 up, such as 0.5 or 2")
        << bad;
}

TEST(ParseLimits, Weights) {
  EXPECT_EQ(parsed({{"cpu-weight", "1"}}).cpu_weight, 1u);
  EXPECT_EQ(parsed({{"cpu-weight", "10000"}}).cpu_weight, 10000u);
  EXPECT_EQ(parsed({{"io-weight", "1"}}).io_weight, 1u);
  EXPECT_EQ(parsed({{"io-weight", "500"}}).io_weight, 500u);
  for (std::string key : {"cpu-weight", "io-weight"})
    for (std::string bad : {"0", "10001", "1.5", "x", "", "-3"})
      EXPECT_EQ(parse_error({{key, bad}}),
                "--" + key + " " + bad +
                    ": not a weight; use a whole number from 1 to 10000 (100 is the default)")
          << key << " " << bad;
}

TEST(ParseLimits, CpuSharesMapToWeightsAsCrunDoes) {
  EXPECT_EQ(parsed({{"cpu-shares", "2"}}).cpu_weight, 1u);
  EXPECT_EQ(parsed({{"cpu-shares", "1024"}}).cpu_weight, 39u);
  EXPECT_EQ(parsed({{"cpu-shares", "512"}}).cpu_weight, 20u);
  EXPECT_EQ(parsed({{"cpu-shares", "262144"}}).cpu_weight, 10000u);
  for (std::string bad : {"1", "262145", "x", "0"})
    EXPECT_EQ(parse_error({{"cpu-shares", bad}}),
              "--cpu-shares " + bad +
                  ": not a CPU share; use a whole number from 2 to 262144 (1024 is the default), "
                  "or --cpu-weight from 1 to 10000")
        << bad;
  EXPECT_EQ(parse_error({{"cpu-weight", "100"}, {"cpu-shares", "1024"}}),
            "--cpu-weight 100 and --cpu-shares 1024: both set the CPU weight; give only one of "
            "them");
}

TEST(ParseLimits, PidsLimit) {
  EXPECT_EQ(parsed({{"pids-limit", "50"}}).tasks_max, 50u);
  EXPECT_EQ(parsed({{"pids-limit", "0"}}).tasks_max, kUnlimited);
  EXPECT_EQ(parsed({{"pids-limit", "-1"}}).tasks_max, kUnlimited);
  for (std::string bad : {"-2", "x", "1.5", ""})
    EXPECT_EQ(parse_error({{"pids-limit", bad}}),
              "--pids-limit " + bad +
                  ": not a process limit; use a whole number above 0, or 0 or -1 for no limit")
        << bad;
}

TEST(ParseLimits, NothingAskedIsEmpty) {
  EXPECT_TRUE(parse_limits(LimitRequest{}).empty());
  EXPECT_FALSE(parsed({{"pids-limit", "-1"}}).empty());
}

TEST(ParseLimits, ConfigValuesNameTheKeyAndTheirPlace) {
  auto defaults = config_limits({{"memory_swap", "12q", "/home/u/.config/roost/config.toml:4:15"},
                                 {"memory", "1g", "/home/u/.config/roost/config.toml:3:10"}});
  EXPECT_EQ(error_of([&] { parse_limits(defaults); }),
            "/home/u/.config/roost/config.toml:4:15: memory_swap = \"12q\": not a size; use a "
            "number of bytes with an optional unit b, k, m, g or t (also kb, mb, gb, tb; any "
            "case), such as 64m or 1.5g, or -1 for unlimited swap");
  EXPECT_EQ(error_of([] {
              config_limits({{"memroy", "1g", "/etc/roost/config.toml:2:10"}});
            }),
            "/etc/roost/config.toml:2:10: unknown key limits.memroy; the keys of [limits] are "
            "memory, memory_swap, memory_reservation, cpus, cpu_weight, cpu_shares, pids_limit "
            "and io_weight");
  EXPECT_EQ(error_of([] {
              config_limits({{"pids-limit", "5", "/etc/roost/config.toml:2:14"}});
            }),
            "/etc/roost/config.toml:2:14: unknown key limits.pids-limit; the keys of [limits] are "
            "memory, memory_swap, memory_reservation, cpus, cpu_weight, cpu_shares, pids_limit "
            "and io_weight");
  EXPECT_EQ(error_of([] { LimitRequest().set("cpu", "1"); }),
            "cpu is not a resource limit; the limits are memory, memory-swap, "
            "memory-reservation, cpus, cpu-weight, cpu-shares, pids-limit and io-weight");
}

TEST(ParseLimits, CommandLineOverConfiguredDefaults) {
  auto defaults = config_limits({{"memory", "1g", "/etc/roost/config.toml:2:10"},
                                 {"memory_swap", "2g", "/etc/roost/config.toml:3:15"},
                                 {"cpu_shares", "512", "/etc/roost/config.toml:4:14"},
                                 {"pids_limit", "100", "/etc/roost/config.toml:5:14"}});
  auto alone = parse_limits(with_defaults({}, defaults));
  EXPECT_EQ(alone.memory_max, kGiB);
  EXPECT_EQ(alone.memory_swap_max, kGiB);
  EXPECT_EQ(alone.cpu_weight, 20u);
  EXPECT_EQ(alone.tasks_max, 100u);

  auto merged = with_defaults(request({{"memory", "64m"}, {"cpu-weight", "300"}}), defaults);
  EXPECT_FALSE(merged.values.contains("memory-swap"));
  EXPECT_FALSE(merged.values.contains("cpu-shares"));
  auto limits = parse_limits(merged);
  EXPECT_EQ(limits.memory_max, 64 * kMiB);
  EXPECT_EQ(limits.memory_swap_max, 64 * kMiB);
  EXPECT_EQ(limits.cpu_weight, 300u);
  EXPECT_EQ(limits.tasks_max, 100u);

  auto swap_only = parse_limits(with_defaults(request({{"memory-swap", "3g"}}), defaults));
  EXPECT_EQ(swap_only.memory_max, kGiB);
  EXPECT_EQ(swap_only.memory_swap_max, 2 * kGiB);
}

TEST(FormatSize, ReadsLikeAPerson) {
  EXPECT_EQ(format_size(512), "512 B");
  EXPECT_EQ(format_size(64 * kMiB), "64 MiB");
  EXPECT_EQ(format_size(3 * kGiB / 2), "1.5 GiB");
  EXPECT_EQ(format_size(4 * kMiB), "4 MiB");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
}

// ---- the property table ----

TEST(Properties, EachLimitHasItsSystemdProperty) {
  Limits limits;
  limits.memory_max = 64 * kMiB;
  limits.memory_swap_max = 0;
  limits.memory_low = 32 * kMiB;
  limits.cpu_quota_per_sec_usec = 500000;
  limits.cpu_weight = 39;
  limits.tasks_max = 50;
  limits.io_weight = 200;
  std::vector<Property> expected = {
      {"MemoryMax", "t", uint64_t{64 * kMiB}}, {"MemorySwapMax", "t", uint64_t{0}},
      {"MemoryLow", "t", uint64_t{32 * kMiB}}, {"CPUQuotaPerSecUSec", "t", uint64_t{500000}},
      {"CPUWeight", "t", uint64_t{39}},        {"TasksMax", "t", uint64_t{50}},
      {"IOWeight", "t", uint64_t{200}},
  };
  EXPECT_EQ(limit_property_values(limits), expected);
  EXPECT_TRUE(limit_property_values(Limits{}).empty());
}

TEST(Properties, TableNamesControllersAndFiles) {
  std::vector<std::string> rows;
  for (const auto& row : limit_properties()) {
    EXPECT_EQ(row.signature, signature_of(uint64_t{0})) << row.property;
    rows.push_back(
        fmt::format("{} {} {} {}", row.options, row.property, row.controller, row.cgroup_file));
  }
  std::vector<std::string> expected = {
      "--memory MemoryMax memory memory.max",
      "--memory-swap MemorySwapMax memory memory.swap.max",
      "--memory-reservation MemoryLow memory memory.low",
      "--cpus CPUQuotaPerSecUSec cpu cpu.max",
      "--cpu-weight/--cpu-shares CPUWeight cpu cpu.weight",
      "--pids-limit TasksMax pids pids.max",
      "--io-weight IOWeight io io.weight",
  };
  EXPECT_EQ(rows, expected);
}

TEST(Properties, ScopeAsksForDelegationCollectionAndTheProcess) {
  ScopeRequest scope;
  scope.name = "web";
  scope.pid = 4242;
  scope.limits = parsed({{"pids-limit", "50"}});
  std::vector<Property> expected = {
      {"Description", "s", std::string("roost container web")},
      {"Slice", "s", std::string("app.slice")},
      {"PIDs", "au", std::vector<uint32_t>{4242}},
      {"Delegate", "b", true},
      {"CollectMode", "s", std::string("inactive-or-failed")},
      {"TasksMax", "t", uint64_t{50}},
  };
  auto properties = scope_properties(scope);
  EXPECT_EQ(properties, expected);
  for (const auto& property : properties)
    EXPECT_EQ(property.signature, signature_of(property.value)) << property.name;
  scope.slice = "batch.slice";
  EXPECT_EQ(std::get<std::string>(scope_properties(scope)[1].value), "batch.slice");
}

TEST(Properties, UnitAndSliceNames) {
  EXPECT_EQ(scope_unit_name("web"), "roost-web.scope");
  EXPECT_EQ(scope_unit_name("0a1b2c3d"), "roost-0a1b2c3d.scope");
  EXPECT_EQ(error_of([] { scope_unit_name("a/b"); }),
            "container name \"a/b\" cannot name a systemd scope: use up to 243 letters, digits "
            "and the characters _ . - :");
  EXPECT_NO_THROW(scope_unit_name(std::string(243, 'a')));
  EXPECT_THROW(scope_unit_name(std::string(244, 'a')), roost::UsageError);
  ScopeRequest scope{"web", 1, "user/app", {}, ""};
  EXPECT_EQ(error_of([&] { scope_properties(scope); }),
            "--cgroup-parent user/app: not a systemd slice; use a slice unit name such as "
            "app.slice or roost.slice");
}

TEST(Properties, ControllersTheLimitsUse) {
  EXPECT_EQ(controllers_for(parsed({{"memory", "1g"}, {"cpus", "1"}})),
            (std::set<std::string>{"cpu", "memory"}));
  EXPECT_EQ(controllers_for(parsed({{"io-weight", "10"}, {"pids-limit", "5"}})),
            (std::set<std::string>{"io", "pids"}));
  EXPECT_TRUE(controllers_for(Limits{}).empty());
}

// ---- bus selection ----

class BusChoiceTest : public ::testing::Test {
 protected:
  BusEnvironment environment(std::optional<std::string> address, std::optional<std::string> xdg) {
    BusEnvironment result;
    result.session_bus_address = std::move(address);
    result.xdg_runtime_dir = std::move(xdg);
    result.uid = ::getuid();
    result.run_user = dir_ / "run-user";
    return result;
  }
  stdfs::path own_bus() const { return dir_ / "run-user" / std::to_string(::getuid()) / "bus"; }

  TempDir dir_;
};

TEST_F(BusChoiceTest, FromProcessReadsTheEnvironment) {
  {
    ScopedEnv address("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus");
    ScopedEnv runtime("XDG_RUNTIME_DIR", "");
    auto read = BusEnvironment::from_process();
    EXPECT_EQ(read.session_bus_address, "unix:path=/run/user/1000/bus");
    EXPECT_EQ(read.xdg_runtime_dir, std::nullopt);
    EXPECT_EQ(read.uid, ::getuid());
    EXPECT_EQ(read.run_user, "/run/user");
  }
  ScopedEnv address("DBUS_SESSION_BUS_ADDRESS", std::nullopt);
  ScopedEnv runtime("XDG_RUNTIME_DIR", "/run/user/7");
  auto read = BusEnvironment::from_process();
  EXPECT_EQ(read.session_bus_address, std::nullopt);
  EXPECT_EQ(read.xdg_runtime_dir, "/run/user/7");
}

TEST_F(BusChoiceTest, OrderIsSessionAddressThenRuntimeDirThenRunUser) {
  roost::fs::make_dirs(dir_ / "xdg");
  auto session = socket_at(dir_ / "session");
  auto xdg = socket_at(dir_ / "xdg" / "bus");
  auto first = choose_user_bus(
      environment("unix:path=" + (dir_ / "session").string(), (dir_ / "xdg").string()));
  EXPECT_EQ(first.address, "unix:path=" + (dir_ / "session").string());
  EXPECT_EQ(first.socket, dir_ / "session");
  EXPECT_EQ(first.source, "$DBUS_SESSION_BUS_ADDRESS");
  auto second = choose_user_bus(environment(std::nullopt, (dir_ / "xdg").string()));
  EXPECT_EQ(second.address, "unix:path=" + (dir_ / "xdg" / "bus").string());
  EXPECT_EQ(second.source, "$XDG_RUNTIME_DIR");
  auto third = choose_user_bus(environment(std::nullopt, std::nullopt));
  EXPECT_EQ(third.address, "unix:path=" + own_bus().string());
  EXPECT_EQ(third.socket, own_bus());
  EXPECT_EQ(third.source, own_bus().parent_path().string());
}

TEST_F(BusChoiceTest, AddressesWithoutASocketFileAreUsedAsGiven) {
  auto choice = choose_user_bus(environment("unix:abstract=/tmp/dbus-x1,guid=0123", std::nullopt));
  EXPECT_EQ(choice.address, "unix:abstract=/tmp/dbus-x1,guid=0123");
  EXPECT_TRUE(choice.socket.empty());
  EXPECT_TRUE(bus_listening(choice));
}

TEST_F(BusChoiceTest, EscapedPathsAndGuidsAreUnderstood) {
  roost::fs::make_dirs(dir_ / "a dir");
  auto listener = socket_at(dir_ / "a dir" / "bus");
  std::string address =
      "unix:path=" + escape_address_value((dir_ / "a dir" / "bus").string()) + ",guid=12ab";
  EXPECT_NE(address.find("a%20dir"), std::string::npos);
  auto choice = choose_user_bus(environment(address, std::nullopt));
  EXPECT_EQ(choice.socket, dir_ / "a dir" / "bus");
  EXPECT_TRUE(bus_listening(choice));
  EXPECT_EQ(escape_address_value("/run/user/1000/bus"), "/run/user/1000/bus");
  EXPECT_EQ(unescape_address_value("%2frun%2Fx%zz%4"), "/run/x%zz%4");
}

TEST_F(BusChoiceTest, ASocketOfAnotherUidIsRefusedForTheCallersOwn) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to give a socket to another uid (CI runs unit tests "
                                "as root)";
  auto foreign = dir_ / "foreign-bus";
  auto listener = socket_at(foreign);
  ASSERT_EQ(::chown(foreign.c_str(), kNobody, kNobody), 0);
  roost::fs::make_dirs(dir_ / "xdg");
  CapturedLog log;
  auto choice =
      choose_user_bus(environment("unix:path=" + foreign.string(), (dir_ / "xdg").string()));
  EXPECT_EQ(choice.address, "unix:path=" + (dir_ / "xdg" / "bus").string());
  EXPECT_EQ(log.text(), fmt::format("warning: the D-Bus address from $DBUS_SESSION_BUS_ADDRESS "
                                    "(unix:path={}) is not used: {} belongs to uid 65534, and "
                                    "roost runs as uid 0 (an environment kept through su or sudo "
                                    "does this)\n",
                                    foreign.string(), foreign.string()));
}

TEST_F(BusChoiceTest, ARuntimeDirOfAnotherUidFallsBackToRunUser) {
  ASSERT_EQ(::geteuid(), 0u) << "needs root to give a directory to another uid";
  roost::fs::make_dirs(dir_ / "other");
  ASSERT_EQ(::chown((dir_ / "other").c_str(), kNobody, kNobody), 0);
  CapturedLog log;
  auto choice = choose_user_bus(environment(std::nullopt, (dir_ / "other").string()));
  EXPECT_EQ(choice.address, "unix:path=" + own_bus().string());
  EXPECT_NE(log.text().find((dir_ / "other").string() + " belongs to uid 65534"), std::string::npos)
      << log.text();
}

TEST_F(BusChoiceTest, AnotherUidsRuntimeDirIsRefusedEvenWhenItDoesNotExist) {
  // As after su from root: root without a session has no /run/user/0 at all.
  auto others = dir_ / "run-user" / "4242" / "bus";
  roost::fs::make_dirs(dir_ / "xdg");
  CapturedLog log;
  auto choice =
      choose_user_bus(environment("unix:path=" + others.string(), (dir_ / "xdg").string()));
  EXPECT_EQ(choice.source, "$XDG_RUNTIME_DIR");
  EXPECT_EQ(log.text(),
            fmt::format("warning: the D-Bus address from $DBUS_SESSION_BUS_ADDRESS "
                        "(unix:path={}) is not used: {} is the runtime directory of uid 4242, "
                        "and roost runs as uid {} (an environment kept through su or sudo does "
                        "this)\n",
                        others.string(), others.parent_path().string(), ::getuid()));
  CapturedLog quiet;
  EXPECT_EQ(choose_user_bus(environment(std::nullopt, std::nullopt)).socket, own_bus());
  EXPECT_EQ(quiet.text(), "");
}

TEST_F(BusChoiceTest, RefusalIsDecidedByTheCallersUid) {
  // The same files, seen by a caller of another uid: the test's own sockets are foreign.
  auto listener = socket_at(dir_ / "session");
  auto as_other = environment("unix:path=" + (dir_ / "session").string(), std::nullopt);
  as_other.uid = ::getuid() + 1;
  CapturedLog log;
  auto choice = choose_user_bus(as_other);
  EXPECT_EQ(choice.socket,
            dir_ / "run-user" / std::to_string(::getuid() + 1) / "bus");  // not even present
  EXPECT_NE(log.text().find("belongs to uid " + std::to_string(::getuid())), std::string::npos);
}

TEST_F(BusChoiceTest, ListeningMeansSomethingAcceptsConnections) {
  auto live = socket_at(dir_ / "live");
  auto stale = socket_at(dir_ / "stale", false);
  BusChoice choice{"unix:path=x", dir_ / "live", "test"};
  EXPECT_TRUE(bus_listening(choice));
  choice.socket = dir_ / "stale";
  EXPECT_FALSE(bus_listening(choice));
  choice.socket = dir_ / "missing";
  EXPECT_FALSE(bus_listening(choice));
  EXPECT_FALSE(bus_listening(BusChoice{}));
}

// ---- host detection ----

// The build machine: cgroup v1 controllers with a v2 tree beside them, and no systemd.
TEST(HostSupport, ThisBuildMachineIsHybridWithoutSystemd) {
  auto host = detect_host_support();
  EXPECT_EQ(host.layout, CgroupLayout::Hybrid);
  EXPECT_FALSE(host.systemd_running);
  EXPECT_FALSE(host.can_limit);
  EXPECT_EQ(host.reason,
            "cgroups on this host use the hybrid layout (cgroup v1 controllers under "
            "/sys/fs/cgroup, cgroup v2 only at /sys/fs/cgroup/unified), so systemd cannot "
            "delegate a controller to a user; booting with systemd.unified_cgroup_hierarchy=1 "
            "gives cgroup v2 alone; also, systemd is not running on this host "
            "(/run/systemd/system is missing), and limits are applied by the user's systemd "
            "instance");
  EXPECT_EQ(error_of([&] {
              applicable_limits(parsed({{"memory", "64m"}, {"cpus", "1"}}), host);
            }),
            "--memory, --cpus: resource limits cannot be applied on this host: " + host.reason);
  EXPECT_TRUE(applicable_limits(Limits{}, host).empty());
}

// A tree laid out like a systemd host with cgroup v2, for detection to look at.
class FakeHost : public ::testing::Test {
 protected:
  FakeHost() {
    uid_ = ::getuid();
    manager_ = fmt::format("user.slice/user-{0}.slice/user@{0}.service", uid_);
    probe_.cgroup_root = dir_ / "cgroup";
    probe_.mountinfo = dir_ / "mountinfo";
    probe_.own_cgroup = dir_ / "self-cgroup";
    probe_.systemd_marker = dir_ / "run-systemd-system";
    probe_.bus = BusEnvironment{std::nullopt, std::nullopt, uid_, dir_ / "run-user"};
    mount("cgroup2");
    roost::fs::make_dirs(probe_.systemd_marker);
    dir_.write("self-cgroup", fmt::format("0::/{}/app.slice/roost-tests.service\n", manager_));
    dir_.write("cgroup/" + manager_ + "/cgroup.controllers", "cpu memory pids\n");
    dir_.write("cgroup/" + manager_ + "/memory.swap.max", "max\n");
    roost::fs::make_dirs(dir_ / "run-user" / std::to_string(uid_));
    bus_ = socket_at(dir_ / "run-user" / std::to_string(uid_) / "bus");
  }

  void mount(const std::string& type, const std::string& extra = "") {
    dir_.write("mountinfo", fmt::format("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
                                        "30 22 0:26 / {} rw,nosuid - {} {} rw\n{}",
                                        probe_.cgroup_root.string(), type, type, extra));
  }
  stdfs::path manager_dir() const { return probe_.cgroup_root / manager_; }

  TempDir dir_;
  uid_t uid_;
  std::string manager_;
  HostProbe probe_;
  UniqueFd bus_;
};

TEST_F(FakeHost, AUserManagerThatDelegatesCanLimit) {
  auto host = detect_host_support(probe_);
  EXPECT_TRUE(host.can_limit) << host.reason;
  EXPECT_EQ(host.reason, "");
  EXPECT_EQ(host.layout, CgroupLayout::Unified);
  EXPECT_TRUE(host.bus_reachable);
  EXPECT_EQ(host.bus.address,
            "unix:path=" + (dir_ / "run-user" / std::to_string(uid_) / "bus").string());
  EXPECT_EQ(host.manager_cgroup, manager_dir());
  EXPECT_EQ(host.delegated_controllers, (std::set<std::string>{"cpu", "memory", "pids"}));
  EXPECT_TRUE(host.swap_accounting);
}

TEST_F(FakeHost, OutsideTheUserManagerItsCgroupIsFoundWhereSystemdPutsIt) {
  dir_.write("self-cgroup", "0::/user.slice/user-1.slice/session-3.scope\n");
  auto host = detect_host_support(probe_);
  EXPECT_EQ(host.manager_cgroup, manager_dir());
  EXPECT_TRUE(host.can_limit) << host.reason;
  dir_.write("self-cgroup", fmt::format("0::/{}0/app.slice/x.service\n", manager_));
  EXPECT_EQ(detect_host_support(probe_).manager_cgroup, manager_dir());
}

TEST_F(FakeHost, CgroupVersionOneOnly) {
  mount("tmpfs", fmt::format("31 30 0:27 / {}/memory rw - cgroup cgroup rw,memory\n",
                             probe_.cgroup_root.string()));
  auto host = detect_host_support(probe_);
  EXPECT_EQ(host.layout, CgroupLayout::Legacy);
  EXPECT_EQ(host.reason, fmt::format("cgroups on this host are version 1 only (under {}), and "
                                     "systemd delegates controllers to a user only on cgroup v2; "
                                     "booting with systemd.unified_cgroup_hierarchy=1 switches "
                                     "to it",
                                     probe_.cgroup_root.string()));
}

TEST_F(FakeHost, HybridWithSystemd) {
  mount("tmpfs", fmt::format("31 30 0:27 / {}/unified rw - cgroup2 cgroup2 rw\n",
                             probe_.cgroup_root.string()));
  auto host = detect_host_support(probe_);
  EXPECT_EQ(host.layout, CgroupLayout::Hybrid);
  EXPECT_TRUE(host.systemd_running);
  EXPECT_FALSE(host.can_limit);
  EXPECT_TRUE(host.reason.starts_with("cgroups on this host use the hybrid layout")) << host.reason;
  EXPECT_EQ(host.reason.find("also"), std::string::npos) << host.reason;
}

TEST_F(FakeHost, TheLastMountOnTheRootIsTheOneSeen) {
  mount("tmpfs",
        fmt::format("40 30 0:28 / {} rw - cgroup2 cgroup2 rw\n", probe_.cgroup_root.string()));
  EXPECT_EQ(detect_host_support(probe_).layout, CgroupLayout::Unified);
  dir_.write("mountinfo", fmt::format("30 22 0:26 / {} rw - cgroup2 cgroup2 rw\n"
                                      "40 30 0:28 / {} rw - tmpfs tmpfs rw\n",
                                      probe_.cgroup_root.string(), probe_.cgroup_root.string()));
  EXPECT_EQ(detect_host_support(probe_).layout, CgroupLayout::Missing);
}

TEST_F(FakeHost, MountPointsWithSpacesAreUnescaped) {
  probe_.cgroup_root = dir_ / "cgroup root";
  dir_.write("mountinfo", fmt::format("30 22 0:26 / {}/cgroup\\040root rw - cgroup2 cgroup2 rw\n",
                                      dir_.path().string()));
  EXPECT_EQ(detect_host_support(probe_).layout, CgroupLayout::Unified);
}

TEST_F(FakeHost, NothingMounted) {
  dir_.write("mountinfo", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
  auto host = detect_host_support(probe_);
  EXPECT_EQ(host.layout, CgroupLayout::Missing);
  EXPECT_EQ(host.reason,
            fmt::format("no cgroup file system is mounted at {}", probe_.cgroup_root.string()));
}

TEST_F(FakeHost, NoUserInstanceSaysHowToGetOne) {
  bus_.reset();
  stdfs::remove(dir_ / "run-user" / std::to_string(uid_) / "bus");
  auto host = detect_host_support(probe_);
  EXPECT_FALSE(host.can_limit);
  EXPECT_EQ(host.reason,
            fmt::format("no systemd user instance is reachable for uid {0}: nothing accepts "
                        "connections at unix:path={1} (the bus from {2}); limits need a systemd "
                        "user session: log in on a console, over ssh or to a desktop (su, sudo "
                        "and cron do not start one), or run `loginctl enable-linger {3}` once",
                        uid_, (dir_ / "run-user" / std::to_string(uid_) / "bus").string(),
                        (dir_ / "run-user" / std::to_string(uid_)).string(), name_of(uid_)));
}

TEST_F(FakeHost, UserManagerWithoutACgroup) {
  roost::fs::remove_tree(probe_.cgroup_root / "user.slice");
  auto host = detect_host_support(probe_);
  EXPECT_FALSE(host.can_limit);
  EXPECT_EQ(host.reason, fmt::format("the systemd user instance of uid {} has no cgroup at {}, so "
                                     "what it may delegate is unknown",
                                     uid_, manager_dir().string()));
}

TEST_F(FakeHost, ALimitWhoseControllerIsNotDelegatedIsRefusedWithTheDropIn) {
  dir_.write("cgroup/" + manager_ + "/cgroup.controllers", "memory pids\n");
  auto host = detect_host_support(probe_);
  ASSERT_TRUE(host.can_limit) << host.reason;
  EXPECT_EQ(error_of([&] {
              applicable_limits(parsed({{"cpus", "1"}}), host);
            }),
            fmt::format("--cpus needs the cpu controller, which systemd does not delegate to uid "
                        "{0} (it delegates: memory pids); as root, create "
                        "/etc/systemd/system/user@.service.d/delegate.conf with the lines "
                        "\"[Service]\" and \"Delegate=cpu cpuset io memory pids\", run systemctl "
                        "daemon-reload, then log out and in again (or reboot) so that "
                        "user@{0}.service starts with it",
                        uid_));
  auto memory = parsed({{"memory", "64m"}});
  EXPECT_EQ(applicable_limits(memory, host), memory);
}

TEST_F(FakeHost, DebiansDefaultDelegationLacksIo) {
  auto host = detect_host_support(probe_);
  auto message = error_of([&] {
    applicable_limits(parsed({{"io-weight", "10"}, {"cpu-shares", "100"}}), host);
  });
  EXPECT_TRUE(
      message.starts_with("--io-weight needs the io controller, which systemd does not "
                          "delegate to uid"))
      << message;
  EXPECT_NE(message.find("(it delegates: cpu memory pids)"), std::string::npos) << message;
  dir_.write("cgroup/" + manager_ + "/cgroup.controllers", "\n");
  host = detect_host_support(probe_);
  message = error_of([&] {
    applicable_limits(parsed({{"io-weight", "10"}, {"cpus", "1"}}), host);
  });
  EXPECT_TRUE(
      message.starts_with("--cpus needs the cpu controller and --io-weight needs the io "
                          "controller, which systemd does not delegate to uid"))
      << message;
  EXPECT_NE(message.find("(it delegates: none)"), std::string::npos) << message;
}

TEST_F(FakeHost, WithoutSwapAccountingTheMemoryLimitStaysAndSwapIsSkippedWithAWarning) {
  stdfs::remove(manager_dir() / "memory.swap.max");
  auto host = detect_host_support(probe_);
  ASSERT_TRUE(host.can_limit) << host.reason;
  EXPECT_FALSE(host.swap_accounting);
  for (auto asked :
       {parsed({{"memory", "4m"}}), parsed({{"memory", "4m"}, {"memory-swap", "8m"}})}) {
    CapturedLog log;
    auto applied = applicable_limits(asked, host);
    EXPECT_EQ(applied.memory_max, 4 * kMiB);
    EXPECT_FALSE(applied.memory_swap_max.has_value());
    EXPECT_EQ(log.text(), fmt::format("warning: swap is not limited: this host does not account "
                                      "swap ({}/memory.swap.max is missing), so the memory limit "
                                      "of 4 MiB applies alone\n",
                                      manager_dir().string()));
  }
  CapturedLog log;
  auto unlimited = applicable_limits(parsed({{"memory", "4m"}, {"memory-swap", "-1"}}), host);
  EXPECT_FALSE(unlimited.memory_swap_max.has_value());
  EXPECT_TRUE(log.text().starts_with("debug: ")) << log.text();
}

TEST_F(FakeHost, WithSwapAccountingTheSwapLimitIsKept) {
  auto host = detect_host_support(probe_);
  auto asked = parsed({{"memory", "4m"}, {"memory-swap", "8m"}});
  EXPECT_EQ(applicable_limits(asked, host), asked);
}

// ---- the container's leaf cgroup ----

// A scope's cgroup as cgroupfs shows it once systemd has started it, with the leaf's
// files already there (cgroupfs makes them when the directory is made).
class ContainerLeaf : public ::testing::Test {
 protected:
  ContainerLeaf() {
    scope_.write("cgroup.controllers", "cpu memory pids\n");
    scope_.write("cgroup.subtree_control", "");
    for (auto name : {"cgroup.procs", "memory.max", "memory.swap.max", "memory.low", "cpu.max",
                      "cpu.weight", "pids.max", "io.weight"})
      scope_.write(std::string("container/") + name, "");
  }
  std::string leaf_file(const std::string& name) const {
    return roost::fs::read_file(scope_ / "container" / name);
  }
  TempDir scope_;
};

TEST_F(ContainerLeaf, MovesThePidAndEnablesTheScopesControllers) {
  auto leaf = make_container_leaf(scope_.path(), 4242, parsed({{"memory", "64m"}}));
  EXPECT_EQ(leaf, scope_ / "container");
  EXPECT_EQ(leaf_file("cgroup.procs"), "4242");
  EXPECT_EQ(roost::fs::read_file(scope_ / "cgroup.subtree_control"), "+cpu +memory +pids");
}

TEST_F(ContainerLeaf, TheLimitsAreWrittenWhereTheContainerSeesThem) {
  make_container_leaf(scope_.path(), 1,
                      parsed({{"memory", "64m"},
                              {"memory-swap", "-1"},
                              {"memory-reservation", "32m"},
                              {"cpus", "0.5"},
                              {"cpu-shares", "1024"},
                              {"pids-limit", "50"}}));
  EXPECT_EQ(leaf_file("memory.max"), "67108864");
  EXPECT_EQ(leaf_file("memory.swap.max"), "max");
  EXPECT_EQ(leaf_file("memory.low"), "33554432");
  EXPECT_EQ(leaf_file("cpu.max"), "50000 100000");
  EXPECT_EQ(leaf_file("cpu.weight"), "39");
  EXPECT_EQ(leaf_file("pids.max"), "50");
  EXPECT_EQ(leaf_file("io.weight"), "");
}

TEST_F(ContainerLeaf, AControllerTheLimitsNeedMustBeThere) {
  scope_.write("cgroup.controllers", "memory pids\n");
  EXPECT_EQ(error_of([&] {
              make_container_leaf(scope_.path(), 7, parsed({{"memory", "1g"}, {"cpus", "1"}}));
            }),
            fmt::format("{} lacks the cpu controller that its limits need (it has: memory pids)",
                        scope_.path().string()));
}

TEST_F(ContainerLeaf, AMissingScopeIsAnErrorNamingThePath) {
  EXPECT_EQ(error_of([&] { make_container_leaf(scope_ / "gone", 7, {}); }),
            fmt::format("create the container's cgroup {}: No such file or directory",
                        (scope_ / "gone" / "container").string()));
}

TEST(CgroupFileValues, AsSystemdWritesThem) {
  const auto& rows = limit_properties();
  auto value = [&](std::string_view file, uint64_t number) {
    for (const auto& row : rows)
      if (row.cgroup_file == file) return cgroup_file_value(row, number);
    return std::string("no such row");
  };
  EXPECT_EQ(value("memory.max", 4 * kMiB), "4194304");
  EXPECT_EQ(value("memory.max", kUnlimited), "max");
  EXPECT_EQ(value("pids.max", kUnlimited), "max");
  EXPECT_EQ(value("cpu.max", 2000000), "200000 100000");
  EXPECT_EQ(value("cpu.max", 10000), "1000 100000");
  EXPECT_EQ(value("cpu.max", 1234567), "123456 100000");
  EXPECT_EQ(value("io.weight", 100), "default 100");
  EXPECT_EQ(value("cpu.weight", 39), "39");
}

// ---- stats and out-of-memory events ----

class CgroupFiles : public ::testing::Test {
 protected:
  CgroupFiles() {
    dir_.write("memory.current", "1212416\n");
    dir_.write("memory.max", "67108864\n");
    dir_.write("memory.swap.current", "0\n");
    dir_.write("cpu.stat",
               "usage_usec 52344\nuser_usec 30000\nsystem_usec 22344\nnr_periods 10\n"
               "nr_throttled 2\nthrottled_usec 1500\n");
    dir_.write("pids.current", "3\n");
    dir_.write("pids.max", "max\n");
    dir_.write("io.stat",
               "8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n"
               "254:0 rbytes=800 wbytes=200 rios=2 wios=1 dbytes=0 dios=0\n");
    dir_.write("memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
  }
  TempDir dir_;
};

TEST_F(CgroupFiles, StatsAreReadFromTheirFiles) {
  auto stats = read_stats(dir_.path());
  EXPECT_EQ(stats.memory_current, 1212416u);
  EXPECT_EQ(stats.memory_max, 64 * kMiB);
  EXPECT_EQ(stats.memory_swap_current, 0u);
  EXPECT_EQ(stats.cpu_usage_usec, 52344u);
  EXPECT_EQ(stats.cpu_user_usec, 30000u);
  EXPECT_EQ(stats.cpu_system_usec, 22344u);
  EXPECT_EQ(stats.cpu_throttled_usec, 1500u);
  EXPECT_EQ(stats.pids_current, 3u);
  EXPECT_EQ(stats.pids_max, kUnlimited);
  EXPECT_EQ(stats.io_read_bytes, 1460000u);
  EXPECT_EQ(stats.io_write_bytes, 314773704u);
  EXPECT_EQ(stats.io_reads, 194u);
  EXPECT_EQ(stats.io_writes, 354u);
}

TEST_F(CgroupFiles, AbsentControllersLeaveTheirStatsEmpty) {
  for (auto name :
       {"memory.current", "memory.max", "memory.swap.current", "cpu.stat", "io.stat", "pids.max"})
    stdfs::remove(dir_ / name);
  auto stats = read_stats(dir_.path());
  EXPECT_FALSE(stats.memory_current || stats.memory_max || stats.memory_swap_current ||
               stats.cpu_usage_usec || stats.pids_max);
  EXPECT_EQ(stats.pids_current, 3u);
  EXPECT_EQ(stats.io_read_bytes, 0u);
}

TEST_F(CgroupFiles, MalformedFilesAreErrorsNamingThem) {
  dir_.write("memory.current", "lots\n");
  EXPECT_EQ(error_of([&] { read_stats(dir_.path()); }),
            fmt::format("read {}: \"lots\" is not a number", (dir_ / "memory.current").string()));
  dir_.write("memory.current", "1\n");
  dir_.write("cpu.stat", "usage_usec\n");
  EXPECT_EQ(error_of([&] { read_stats(dir_.path()); }),
            fmt::format("read {}: malformed line \"usage_usec\"", (dir_ / "cpu.stat").string()));
}

TEST_F(CgroupFiles, OutOfMemoryKillsAreCounted) {
  auto events = read_memory_events(dir_.path());
  ASSERT_TRUE(events);
  EXPECT_EQ(events->max, 12u);
  EXPECT_EQ(events->oom, 1u);
  EXPECT_EQ(events->oom_kill, 1u);
  EXPECT_TRUE(oom_killed(dir_.path()));
  dir_.write("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
  EXPECT_FALSE(oom_killed(dir_.path()));
  stdfs::remove(dir_ / "memory.events");
  EXPECT_FALSE(read_memory_events(dir_.path()));
  EXPECT_EQ(oom_kill_count(dir_.path()), 0u);
}

TEST(OutOfMemory, MessageNamesTheLimit) {
  EXPECT_EQ(out_of_memory_message(64 * kMiB), "container ran out of memory (limit 64 MiB)");
  EXPECT_EQ(out_of_memory_message(kUnlimited), "container ran out of memory");
  EXPECT_EQ(out_of_memory_message(std::nullopt), "container ran out of memory");
}

TEST_F(CgroupFiles, OomWatchKeepsTheLastCountAfterTheCgroupIsGone) {
  dir_.write("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
  OomWatch watch(dir_.path());
  EXPECT_EQ(watch.oom_kills(), 0u);
  EXPECT_EQ(watch.memory_max(), 64 * kMiB);
  {
    // cgroupfs changes the file in place, which is what the watch is told about.
    UniqueFd fd(::open((dir_ / "memory.events").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    std::string text = "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n";
    ASSERT_EQ(::write(fd.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  pollfd ready{watch.fd(), POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 1000), 1);
  watch.update();
  EXPECT_EQ(watch.oom_kills(), 2u);
  roost::fs::remove_tree(dir_.path());
  watch.update();
  EXPECT_EQ(watch.oom_kills(), 2u);
  EXPECT_EQ(watch.memory_max(), 64 * kMiB);
}
