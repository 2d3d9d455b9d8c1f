#include <fmt/format.h>

#include "launcher/commands.hpp"

namespace roost::cli {

int cmd_version(const ParsedCommand&, Context&) {
  fmt::print("roost version {}\n", ROOST_VERSION);
  return 0;
}

}  // namespace roost::cli
