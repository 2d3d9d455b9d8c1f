#include "common/error.hpp"
#include "launcher/commands.hpp"

namespace roost::cli {

#define ROOST_PENDING(handler)                                        \
  int handler(const ParsedCommand& command, Context&) {               \
    throw Error(std::string(command.spec->name) + ": not built yet"); \
  }
ROOST_PENDING(cmd_load)
ROOST_PENDING(cmd_import)
ROOST_PENDING(cmd_images)
ROOST_PENDING(cmd_image_inspect)
ROOST_PENDING(cmd_rmi)
ROOST_PENDING(cmd_tag)
ROOST_PENDING(cmd_run)
ROOST_PENDING(cmd_rm)
ROOST_PENDING(cmd_ps)

}  // namespace roost::cli
