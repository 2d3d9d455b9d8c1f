#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"
#include "launcher/context.hpp"
#include "launcher/monitor_handoff.hpp"
#include "launcher/parse.hpp"
#include "launcher/service_notify.hpp"

using roost::UsageError;
using roost::cli::parse_arguments;

namespace {

std::string usage_error_of(const std::vector<std::string>& args) {
  try {
    parse_arguments(args);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

}  // namespace

TEST(Parse, RunStopsOptionsAtTheImage) {
  auto invocation =
      parse_arguments({"run", "--rm", "-it", "-e", "A=1", "-eB=2", "img", "ls", "-l"});
  const auto& command = invocation.command;
  EXPECT_EQ(command.spec->name, "run");
  EXPECT_TRUE(command.has("rm"));
  EXPECT_TRUE(command.has("interactive"));
  EXPECT_TRUE(command.has("tty"));
  EXPECT_EQ(command.all("env"), (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(command.positionals, (std::vector<std::string>{"img", "ls", "-l"}));
}

TEST(Parse, ShortOptionWithEqualsDropsTheEquals) {
  auto invocation = parse_arguments({"run", "-m=64m", "-e=A=1", "-eB=2", "-w=", "img"});
  const auto& command = invocation.command;
  EXPECT_EQ(command.value("memory"), "64m");
  EXPECT_EQ(command.all("env"), (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(command.value("workdir", "unset"), "");
}

TEST(Parse, LongOptionWithEqualsAndGlobalsAfterCommand) {
  auto invocation = parse_arguments({"run", "--name=web", "--log-level", "debug", "img"});
  EXPECT_EQ(invocation.command.value("name"), "web");
  EXPECT_EQ(invocation.globals.value("log-level"), "debug");
}

TEST(Parse, TwoWordCommand) {
  auto invocation = parse_arguments({"image", "inspect", "busybox"});
  EXPECT_EQ(invocation.command.spec->name, "image inspect");
}

TEST(Parse, TypoInCommandSuggestsTheNearest) {
  EXPECT_EQ(usage_error_of({"rnu", "img"}), "unknown command 'rnu'; did you mean 'run'?");
}

TEST(Parse, ImageCommandsArePodmans) {
  EXPECT_EQ(parse_arguments({"image", "prune", "-a"}).command.spec->name, "image prune");
  EXPECT_EQ(parse_arguments({"image", "ls", "-q"}).command.spec->handler,
            parse_arguments({"images"}).command.spec->handler);
  EXPECT_EQ(parse_arguments({"image", "list"}).command.spec->handler,
            parse_arguments({"images"}).command.spec->handler);
  EXPECT_EQ(parse_arguments({"image", "rm", "-f", "x"}).command.spec->handler,
            parse_arguments({"rmi", "x"}).command.spec->handler);
}

TEST(Parse, TypoInASubcommandSuggestsOneOfItsGroup) {
  EXPECT_EQ(usage_error_of({"image", "prnue"}),
            "unknown command 'image prnue'; did you mean 'image prune'?");
  EXPECT_EQ(usage_error_of({"image", "frobnicate"}),
            "unknown command 'image frobnicate'; the image commands are ls, list, inspect, rm, "
            "prune");
  EXPECT_EQ(usage_error_of({"image"}),
            "unknown command 'image'; the image commands are ls, list, inspect, rm, prune");
}

TEST(Parse, TypoInOptionSuggestsTheNearest) {
  EXPECT_EQ(usage_error_of({"run", "--nmae", "x", "img"}),
            "roost run: unknown option --nmae; did you mean --name?");
}

TEST(Parse, MissingImageIsNamed) {
  EXPECT_EQ(usage_error_of({"run", "--rm"}), "roost run: missing IMAGE; see 'roost run --help'");
}

TEST(Parse, ChoiceIsChecked) {
  EXPECT_EQ(usage_error_of({"--storage-driver", "zfs", "images"}),
            "roost: --storage-driver zfs: not a valid value; use one of auto, overlay, "
            "fuse-overlayfs");
}

TEST(Parse, NumberIsCheckedNamingTheFlagTheValueAndTheForm) {
  EXPECT_EQ(usage_error_of({"run", "--cpus", "abc", "img"}),
            "roost run: --cpus abc: not a number; expected N: CPU limit in CPUs (0.5 is half of "
            "one)");
  EXPECT_EQ(usage_error_of({"logs", "--tail", "x", "c"}),
            "roost logs: -n/--tail x: not a whole number; expected N: Only the last N lines (-1: "
            "all)");
  EXPECT_EQ(usage_error_of({"stop", "-t", "abc", "c"}),
            "roost stop: -t/--time abc: not a number; expected SECONDS: Seconds to wait after the "
            "stop signal before SIGKILL (default: the container's --stop-timeout)");
  EXPECT_NE(usage_error_of({"run", "--cpus=nan", "img"}).find("--cpus nan: not a number"),
            std::string::npos);
  EXPECT_EQ(usage_error_of({"run", "--cpus", "1.5", "img"}), "");
}

TEST(Parse, WholeNumberRefusesFractions) {
  EXPECT_EQ(usage_error_of({"logs", "--tail", "1.5", "c"}),
            "roost logs: -n/--tail 1.5: not a whole number; expected N: Only the last N lines (-1: "
            "all)");
  EXPECT_NE(usage_error_of({"logs", "-n=1e3", "c"}).find("-n/--tail 1e3: not a whole number"),
            std::string::npos);
  EXPECT_EQ(usage_error_of({"logs", "--tail", "-1", "c"}), "");
  EXPECT_EQ(usage_error_of({"logs", "--tail=20", "c"}), "");
}

TEST(Parse, TimeoutSecondsAreARangeWithFractionsDropped) {
  using roost::cli::parse_timeout_seconds;
  EXPECT_EQ(parse_timeout_seconds("0", "--time"), 0);
  EXPECT_EQ(parse_timeout_seconds("2.9", "--time"), 2);
  EXPECT_EQ(parse_timeout_seconds("86400", "--time"), 86400);
  for (const char* bad : {"86400.5", "1e300", "-1", "nan", "inf", "", "1x"}) {
    try {
      parse_timeout_seconds(bad, "--stop-timeout");
      ADD_FAILURE() << bad << " accepted";
    } catch (const UsageError& error) {
      EXPECT_EQ(std::string(error.what()),
                fmt::format("--stop-timeout {}: use seconds from 0 to 86400", bad));
    }
  }
}

TEST(Parse, FlagWithoutValueRefusesOne) {
  EXPECT_EQ(usage_error_of({"run", "--rm=yes", "img"}), "roost run: --rm takes no value");
}

TEST(Parse, HelpAnywhere) {
  EXPECT_TRUE(parse_arguments({"run", "--help"}).help);
  EXPECT_TRUE(parse_arguments({}).help);
  auto text = roost::cli::render_help(parse_arguments({"run", "--help"}).command.spec);
  EXPECT_NE(text.find("--memory SIZE"), std::string::npos);
}

TEST(Config, ErrorNamesFileLineAndColumn) {
  auto file = std::filesystem::temp_directory_path() / "roost-config-test.toml";
  std::ofstream(file) << "[storage]\ndriver = \"overlay\"\nbogus = 1\n";
  roost::cli::Settings settings;
  try {
    roost::cli::apply_config_file(file, settings);
    FAIL() << "unknown key accepted";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()), file.string() + ":3:9: unknown key storage.bogus");
  }
  std::ofstream(file) << "[storage]\ndriver = \n";
  try {
    roost::cli::apply_config_file(file, settings);
    FAIL() << "syntax error accepted";
  } catch (const UsageError& error) {
    EXPECT_EQ(std::string(error.what()).rfind(file.string() + ":2:", 0), 0u) << error.what();
  }
  std::filesystem::remove(file);
}

TEST(Config, ValuesApply) {
  auto file = std::filesystem::temp_directory_path() / "roost-config-values.toml";
  std::ofstream(file) << "[storage]\ndriver = \"fuse-overlayfs\"\nroot = \"/x\"\n";
  roost::cli::Settings settings;
  roost::cli::apply_config_file(file, settings);
  EXPECT_EQ(settings.storage_driver, "fuse-overlayfs");
  EXPECT_EQ(settings.data_root, "/x");
  std::filesystem::remove(file);
}

TEST(Config, BadValueNamesFileLineAndColumn) {
  auto file = std::filesystem::temp_directory_path() / "roost-config-bad-values.toml";
  struct Case {
    std::string text, message;
  } cases[] = {
      {"[storage]\ndriver = \"zfs\"\n",
       ":2:10: storage.driver zfs: not a valid value; use one of auto, overlay, fuse-overlayfs"},
      {"\n[containers]\nuserns = \"bogus\"\n",
       ":3:10: containers.userns bogus: not a valid value; use one of auto, single, keep-id, "
       "host"},
      {"[storage]\nroot = \"store\"\n",
       ":2:8: storage.root store: a relative path; give an absolute one such as " +
           (std::filesystem::current_path() / "store").string()},
      {"[storage]\nrunroot = \"run/roost\"\n", ":2:11: storage.runroot run/roost: a relative path"},
  };
  for (const auto& [text, message] : cases) {
    std::ofstream(file) << text;
    roost::cli::Settings settings;
    try {
      roost::cli::apply_config_file(file, settings);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const UsageError& error) {
      EXPECT_EQ(std::string(error.what()).rfind(file.string() + message, 0), 0u) << error.what();
    }
  }
  std::filesystem::remove(file);
}

// config.toml takes every value the flag does, and nothing else.
TEST(Config, ChoicesAreTheFlagsChoices) {
  auto file = std::filesystem::temp_directory_path() / "roost-config-choices.toml";
  const auto& globals = roost::cli::global_options();
  auto storage_flag = std::find_if(globals.begin(), globals.end(), [](const auto& option) {
    return option.long_name == "storage-driver";
  });
  ASSERT_NE(storage_flag, globals.end());
  EXPECT_EQ(storage_flag->choices, roost::cli::kStorageDrivers);
  const auto& run_options = parse_arguments({"run", "img"}).command.spec->options;
  auto userns_flag = std::find_if(run_options.begin(), run_options.end(),
                                  [](const auto& option) { return option.long_name == "userns"; });
  ASSERT_NE(userns_flag, run_options.end());
  EXPECT_EQ(userns_flag->choices, roost::cli::kUsernsModes);
  for (auto driver : roost::cli::kStorageDrivers) {
    std::ofstream(file) << "[storage]\ndriver = \"" << driver << "\"\n";
    roost::cli::Settings settings;
    roost::cli::apply_config_file(file, settings);
    EXPECT_EQ(settings.storage_driver, driver);
  }
  for (auto mode : roost::cli::kUsernsModes) {
    std::ofstream(file) << "[containers]\nuserns = \"" << mode << "\"\n";
    roost::cli::Settings settings;
    roost::cli::apply_config_file(file, settings);
    EXPECT_EQ(settings.userns, mode);
  }
  std::filesystem::remove(file);
}

TEST(Config, RelativeRootOnTheCommandLineIsRefused) {
  for (const char* option : {"--root", "--runroot"}) {
    auto invocation = parse_arguments({option, "here/store", "images"});
    try {
      roost::cli::make_context(invocation.globals);
      ADD_FAILURE() << option << " accepted a relative path";
    } catch (const UsageError& error) {
      EXPECT_EQ(std::string(error.what()),
                std::string(option) +
                    " here/store: a relative path; give an absolute one such as " +
                    (std::filesystem::current_path() / "here/store").string());
    }
  }
}

TEST(Config, LimitsTableGivesDefaultsWithTheirPlace) {
  auto file = std::filesystem::temp_directory_path() / "roost-config-limits.toml";
  std::ofstream(file) << "[limits]\nmemory = \"1g\"\ncpus = 0.5\npids_limit = 100\n";
  roost::cli::Settings settings;
  roost::cli::apply_config_file(file, settings);
  const auto& values = settings.limit_defaults.values;
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values.at("memory").value, "1g");
  EXPECT_EQ(values.at("memory").source, file.string() + ":2:10");
  EXPECT_EQ(values.at("cpus").value, "0.5");
  EXPECT_EQ(values.at("pids-limit").value, "100");
  EXPECT_EQ(values.at("pids-limit").source, file.string() + ":4:14");
  std::filesystem::remove(file);
}

TEST(Config, LaterFileLimitsReplaceEarlierOnes) {
  auto system = std::filesystem::temp_directory_path() / "roost-config-limits-system.toml";
  auto user = std::filesystem::temp_directory_path() / "roost-config-limits-user.toml";
  std::ofstream(system) << "[limits]\nmemory = \"1g\"\nmemory_swap = \"2g\"\npids_limit = 50\n";
  std::ofstream(user) << "[limits]\nmemory = \"4g\"\n";
  roost::cli::Settings settings;
  roost::cli::apply_config_file(system, settings);
  roost::cli::apply_config_file(user, settings);
  const auto& values = settings.limit_defaults.values;
  EXPECT_EQ(values.at("memory").value, "4g");
  EXPECT_FALSE(values.contains("memory-swap")) << "a swap total meant for another memory kept";
  EXPECT_EQ(values.at("pids-limit").value, "50");
  std::filesystem::remove(system);
  std::filesystem::remove(user);
}

TEST(Config, LimitsErrorsNameFileLineAndColumn) {
  auto file = std::filesystem::temp_directory_path() / "roost-config-limits-bad.toml";
  auto error_for = [&](const std::string& content) {
    std::ofstream(file) << content;
    roost::cli::Settings settings;
    try {
      roost::cli::apply_config_file(file, settings);
    } catch (const UsageError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error_for("[limits]\nmemroy = \"1g\"\n"),
            file.string() +
                ":2:10: unknown key limits.memroy; the keys of [limits] are memory, memory_swap, "
                "memory_reservation, cpus, cpu_weight, cpu_shares, pids_limit and io_weight");
  EXPECT_EQ(error_for("[limits]\n\ncpus = true\n"),
            file.string() + ":3:8: limits.cpus must be a string or a number");
  std::filesystem::remove(file);
}

TEST(MonitorHandoff, ArgumentsComeBackAsTheyWereGiven) {
  roost::cli::MonitorHandoff handoff;
  handoff.pid = 4242;
  handoff.pidfd = 5;
  handoff.terminal = 6;
  handoff.input = 10;
  handoff.attach_listener = 7;
  handoff.attach_path = "/run/user/1000/roost/containers/a b=c/attach.sock";
  handoff.oom_inotify = 8;
  handoff.cgroup = "/sys/fs/cgroup/app.slice/roost-web.scope";
  handoff.oom_kills = 3;
  handoff.log_driver = "k8s-file";
  handoff.log_path = "/home/u/.local/share/roost/containers/id/ctr.log";
  handoff.log_max_size = 1 << 20;
  handoff.journal = {"web", std::string(64, 'a'), "localhost/app:1"};
  handoff.roost_executable = 9;
  handoff.finish_command = {"--root=/r", "__container-ended", "--", "id"};
  handoff.debug = true;
  auto arguments = roost::cli::handoff_arguments(handoff);
  auto parsed = roost::cli::parse_handoff({arguments.begin(), arguments.end()});
  EXPECT_EQ(roost::cli::handoff_arguments(parsed), arguments);
  EXPECT_EQ(parsed.pid, 4242);
  EXPECT_EQ(parsed.out, -1);
  EXPECT_EQ(parsed.input, 10);
  EXPECT_EQ(parsed.notify_relay, -1);
  EXPECT_EQ(parsed.attach_path, handoff.attach_path);
  EXPECT_EQ(parsed.oom_kills, 3u);
  EXPECT_EQ(parsed.journal.container_id, handoff.journal.container_id);
  EXPECT_EQ(parsed.finish_command, handoff.finish_command);
  EXPECT_TRUE(parsed.debug);
}

TEST(ServiceNotify, OnlyTheVariablesAContainerMaySayAreRelayed) {
  EXPECT_EQ(roost::cli::relayable_notification("READY=1\nMAINPID=1\nSTATUS=serving\nBOGUS=2\n"),
            "READY=1\nSTATUS=serving");
  EXPECT_EQ(roost::cli::relayable_notification("WATCHDOG=1"), "WATCHDOG=1");
  EXPECT_EQ(roost::cli::relayable_notification("READY\nSTATUS"), "");
}
