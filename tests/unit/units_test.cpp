#include <gtest/gtest.h>

#include "common/error.hpp"
#include "units/container_file.hpp"
#include "units/escape.hpp"
#include "units/service.hpp"

using roost::UsageError;
using namespace roost::units;

namespace {

std::string error_of(std::string_view text, const char* file = "/home/u/units/web.toml") {
  try {
    parse_container_text(text, file);
  } catch (const UsageError& error) {
    return error.what();
  }
  return "";
}

std::string service_text(const ContainerSpec& spec) {
  return render_units(spec, {"/usr/bin/roost"}).front().text;
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST(Escape, PlainWordIsQuoted) {
  EXPECT_EQ(exec_word("hello"), "\"hello\"");
  EXPECT_EQ(exec_word(""), "\"\"");
}

TEST(Escape, SpecifiersVariablesQuotesAndBackslashes) {
  EXPECT_EQ(exec_word("100%"), "\"100%%\"");
  EXPECT_EQ(exec_word("$HOME ${X}"), "\"$$HOME $${X}\"");
  EXPECT_EQ(exec_word("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(exec_word("it's"), "\"it's\"");
  EXPECT_EQ(exec_word("C:\\dir\\"), "\"C:\\\\dir\\\\\"");
}

TEST(Escape, ControlCharactersBecomeCEscapes) {
  EXPECT_EQ(exec_word("a\nb\tc\x01"), "\"a\\nb\\tc\\x01\"");
}

TEST(Escape, LoneSemicolonIsQuotedSoItIsNoSeparator) {
  EXPECT_EQ(exec_line({"/bin/echo", ";", "a b"}), "\"/bin/echo\" \";\" \"a b\"");
}

TEST(Escape, DescriptionDoublesPercentAndRefusesNewlines) {
  EXPECT_EQ(specifier_escaped("50% of %n"), "50%% of %%n");
  EXPECT_THROW(specifier_escaped("a\nb"), UsageError);
}

TEST(ContainerFile, ReadsEveryKey) {
  auto spec = parse_container_text(R"(
image = "app:1"
command = ["./serve", "--port", "8080"]
entrypoint = "/bin/sh"
env = { GREETING = "hello world", COST = "$5 100%" }
env-file = ["/etc/app.env"]
volumes = ["/srv/data:/data:ro"]
tmpfs = ["/tmp"]
workdir = "/app"
user = "1000:1000"
hostname = "web"
network = "none"
userns = "keep-id"
sdnotify = "container"
stop-signal = "SIGINT"
stop-timeout = 30
read-only = true
init = true
restart = "always"
[limits]
memory = "256m"
cpus = 0.5
pids-limit = 100
[unit]
After = ["a.service", "b.service"]
[service]
Environment = "X=1"
[install]
WantedBy = "multi-user.target"
[socket]
ListenStream = "127.0.0.1:8080"
)",
                                   "/cfg/web.toml");
  EXPECT_EQ(spec.name, "web");
  EXPECT_EQ(spec.image, "app:1");
  EXPECT_EQ(*spec.command, (std::vector<std::string>{"./serve", "--port", "8080"}));
  EXPECT_EQ(*spec.entrypoint, "/bin/sh");
  ASSERT_EQ(spec.env.size(), 2u);
  // A TOML table has no order; the variables come sorted by name.
  EXPECT_EQ(spec.env[0], (std::pair<std::string, std::string>{"COST", "$5 100%"}));
  EXPECT_EQ(spec.env[1], (std::pair<std::string, std::string>{"GREETING", "hello world"}));
  EXPECT_EQ(spec.volumes, std::vector<std::string>{"/srv/data:/data:ro"});
  EXPECT_EQ(spec.stop_timeout, 30);
  EXPECT_TRUE(spec.read_only);
  EXPECT_TRUE(spec.init);
  EXPECT_EQ(spec.limits.at("cpus"), "0.5");
  EXPECT_EQ(spec.limits.at("pids-limit"), "100");
  EXPECT_EQ(spec.unit_extra, (UnitLines{{"After", "a.service"}, {"After", "b.service"}}));
  EXPECT_EQ(spec.socket, (UnitLines{{"ListenStream", "127.0.0.1:8080"}}));
}

TEST(ContainerFile, DuplicateKeyNamesFileLineAndKey) {
  EXPECT_EQ(error_of("image = \"a\"\nimage = \"b\"\n"),
            "/home/u/units/web.toml:2:9: image: duplicate key");
  EXPECT_EQ(error_of("image = \"a\"\n[limits]\nmemory = \"1g\"\n[limits]\n"),
            "/home/u/units/web.toml:4:1: limits: duplicate key");
}

TEST(ContainerFile, UnknownKeyNamesFileLineAndKey) {
  auto message = error_of("image = \"a\"\n\nimgae = \"b\"\n");
  EXPECT_TRUE(message.starts_with("/home/u/units/web.toml:3:9: imgae: unknown key; the keys are "))
      << message;
  EXPECT_EQ(error_of("image = \"a\"\n[limits]\nmemroy = \"1g\"\n").substr(0, 48),
            "/home/u/units/web.toml:3:10: limits.memroy: unkn");
  EXPECT_EQ(error_of("image = \"a\"\n[sevrice]\nX = 1\n").substr(0, 43),
            "/home/u/units/web.toml:2:1: sevrice: unknow");
}

TEST(ContainerFile, WrongTypesAndValuesAreNamed) {
  EXPECT_EQ(error_of("image = \"a\"\ncommand = \"ls -l\"\n"),
            "/home/u/units/web.toml:2:11: command: must be an array of strings ([\"a\", \"b\"])");
  EXPECT_EQ(error_of("image = \"a\"\nread-only = \"yes\"\n"),
            "/home/u/units/web.toml:2:13: read-only: must be true or false");
  EXPECT_EQ(error_of("image = \"a\"\nrestart = \"sometimes\"\n"),
            "/home/u/units/web.toml:2:11: restart: restart policy sometimes: not a valid value; "
            "use one of no, on-success, on-failure, on-abnormal, on-watchdog, on-abort, always");
  EXPECT_EQ(error_of("image = \"a\"\nenv = { A = 1 }\n"),
            "/home/u/units/web.toml:2:13: env.A: must be a string");
  auto limit = error_of("image = \"a\"\n[limits]\nmemory = \"lots\"\n");
  EXPECT_TRUE(limit.starts_with("/home/u/units/web.toml:3:10: limits.memory: ")) << limit;
  EXPECT_TRUE(error_of("image = \"a\"\n[service]\nX = \"a\\nb\"\n").find("cannot span lines") !=
              std::string::npos);
}

TEST(ContainerFile, PortsAreRefusedWithTheReason) {
  auto message = error_of("image = \"a\"\nports = [\"8080:80\"]\n");
  EXPECT_TRUE(
      message.starts_with("/home/u/units/web.toml:2:9: ports: roost has no port forwarding"))
      << message;
}

TEST(ContainerFile, MissingImageAndBadNameAreErrors) {
  EXPECT_EQ(error_of("command = [\"ls\"]\n").substr(0, 38),
            "/home/u/units/web.toml:1:1: image: mis");
  auto message = error_of("image = \"a\"\n", "/u/-bad.toml");
  EXPECT_TRUE(message.starts_with("/u/-bad.toml:1:1: container name \"-bad\"")) << message;
}

TEST(ContainerFile, SyntaxErrorNamesFileAndLine) {
  EXPECT_EQ(error_of("image = \n").substr(0, 28), "/home/u/units/web.toml:1:9: ");
}

TEST(Service, RunsRoostInTheForegroundWithEveryArgumentEscaped) {
  ContainerSpec spec;
  spec.name = "web";
  spec.image = "app:1";
  spec.command = std::vector<std::string>{"echo", "100% $HOME \"q\""};
  spec.env = {{"A", "x y"}};
  auto text = service_text(spec);
  EXPECT_TRUE(has_line(text,
                       "ExecStart=\"/usr/bin/roost\" \"run\" \"--rm\" \"--name=web\" "
                       "\"--cgroups=split\" \"--sdnotify=conmon\" \"--env=A=x y\" \"app:1\" "
                       "\"echo\" \"100%% $$HOME \\\"q\\\"\""))
      << text;
  EXPECT_TRUE(has_line(text, "Type=notify"));
  EXPECT_TRUE(has_line(text, "NotifyAccess=all"));
  EXPECT_TRUE(has_line(text, "Delegate=yes"));
  EXPECT_TRUE(has_line(text, "KillMode=mixed"));
  EXPECT_TRUE(has_line(text, "Restart=on-failure"));
  EXPECT_TRUE(has_line(text, "WantedBy=default.target"));
}

TEST(Service, StopSignalAndTimeoutLeaveRoomForRoostsOwnStop) {
  ContainerSpec spec;
  spec.name = "web";
  spec.image = "app:1";
  spec.stop_signal = "sigint";
  spec.stop_timeout = 20;
  auto text = service_text(spec);
  EXPECT_TRUE(has_line(text, "KillSignal=SIGINT")) << text;
  EXPECT_TRUE(has_line(text, "SuccessExitStatus=130"));
  EXPECT_TRUE(has_line(text, "TimeoutStopSec=35"));
  EXPECT_TRUE(has_line(text, "ExecStop=-\"/usr/bin/roost\" \"stop\" \"--time=20\" \"web\""));
}

TEST(Service, LimitsBecomeUnitProperties) {
  ContainerSpec spec;
  spec.name = "web";
  spec.image = "app:1";
  spec.limits = {{"memory", "64m"}, {"cpus", "0.25"}, {"pids-limit", "50"}, {"io-weight", "200"}};
  auto text = service_text(spec);
  EXPECT_TRUE(has_line(text, "MemoryMax=67108864")) << text;
  EXPECT_TRUE(has_line(text, "CPUQuota=25.00%"));
  EXPECT_TRUE(has_line(text, "TasksMax=50"));
  EXPECT_TRUE(has_line(text, "IOWeight=200"));
}

TEST(Service, ExtrasComeAfterAndSocketGetsItsOwnUnit) {
  auto spec = parse_container_text(
      "image = \"a\"\n[service]\nRestart = \"always\"\n[socket]\nListenStream = \"/run/x.sock\"\n",
      "/cfg/echo.toml");
  auto units = render_units(spec, {"/usr/bin/roost", "roost-generator"});
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0].name, "roost-echo.service");
  EXPECT_LT(units[0].text.find("Restart=on-failure"), units[0].text.find("Restart=always"));
  EXPECT_EQ(units[0].text.find("[Install]"), std::string::npos);
  EXPECT_TRUE(has_line(units[0].text, "SourcePath=/cfg/echo.toml"));
  EXPECT_EQ(units[1].name, "roost-echo.socket");
  EXPECT_TRUE(has_line(units[1].text, "ListenStream=/run/x.sock"));
  EXPECT_EQ(install_directories(units[1]), std::vector<std::string>{"sockets.target.wants"});
  EXPECT_TRUE(units[0].text.starts_with("# Generated by roost-generator from /cfg/echo.toml"));
}

TEST(Service, InstallDirectoriesFollowWantedByAndRequiredBy) {
  UnitFile unit{"x.service",
                "[Unit]\nWantedBy=no.target\n[Install]\nWantedBy=a.target "
                "b.target\nRequiredBy=c.target\n"};
  EXPECT_EQ(install_directories(unit),
            (std::vector<std::string>{"a.target.wants", "b.target.wants", "c.target.requires"}));
}

TEST(Service, ArchiveIsLoadedOnceBeforeStartAndRunByItsLocalName) {
  ContainerSpec spec;
  spec.name = "app";
  spec.image = "docker-archive:/srv/app 1.tar";
  auto text = service_text(spec);
  EXPECT_TRUE(has_line(text,
                       "ExecStartPre=\"/usr/bin/roost\" \"__unit-image\" \"app\" "
                       "\"docker-archive:/srv/app 1.tar\""))
      << text;
  EXPECT_NE(text.find("\"localhost/roost-unit-app:latest\"\n"), std::string::npos);
  EXPECT_LT(text.find("\"rm\" \"--force\""), text.find("__unit-image"));
}

TEST(Service, ExistingContainerIsStartedAsItIsWithItsOwnLimits) {
  ContainerSpec spec;
  spec.name = "db";
  spec.image = "app:1";
  spec.existing = true;
  spec.stop_timeout = 5;
  spec.limits = {{"memory", "64m"}};
  spec.command = std::vector<std::string>{"serve"};
  auto text = service_text(spec);
  EXPECT_TRUE(has_line(text, "ExecStart=\"/usr/bin/roost\" \"start\" \"--attach\" \"db\"")) << text;
  EXPECT_TRUE(has_line(text, "ExecStop=-\"/usr/bin/roost\" \"stop\" \"--time=5\" \"db\""));
  EXPECT_TRUE(has_line(text, "Type=notify"));
  EXPECT_EQ(text.find("ExecStartPre="), std::string::npos);
  EXPECT_EQ(text.find("MemoryMax="), std::string::npos);
  EXPECT_EQ(text.find("\"run\""), std::string::npos);
}
