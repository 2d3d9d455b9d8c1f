#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/log.hpp"
#include "launcher/context.hpp"
#include "launcher/parse.hpp"

namespace {

constexpr int kRoostFailed = 125;

// Help asked for goes to stdout; help instead of a missing command is a usage error.
int show_help(const roost::cli::Invocation& invocation) {
  bool asked = invocation.command.spec != nullptr || invocation.globals.has("help");
  std::fputs(roost::cli::render_help(invocation.command.spec).c_str(), asked ? stdout : stderr);
  return asked ? 0 : kRoostFailed;
}

int dispatch(const std::vector<std::string>& args) {
  using namespace roost::cli;
  Invocation invocation = parse_arguments(args);
  roost::log::setup(roost::log::parse_level(invocation.globals.value("log-level", "warn")));
  if (invocation.help) return show_help(invocation);
  Context context = make_context(invocation.globals);
  return invocation.command.spec->handler(invocation.command, context);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return dispatch(args);
  } catch (const roost::Error& error) {
    bool debug = spdlog::default_logger_raw()->should_log(spdlog::level::debug);
    std::fputs(roost::error_line(debug ? error.chain() : error.what(), error.errno_value()).c_str(),
               stderr);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "Error: %s\n", error.what());
  }
  return kRoostFailed;
}
