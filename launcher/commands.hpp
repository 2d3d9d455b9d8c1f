#pragma once

#include "launcher/context.hpp"
#include "launcher/options.hpp"

namespace roost::cli {

int cmd_version(const ParsedCommand& command, Context& context);
int cmd_load(const ParsedCommand& command, Context& context);
int cmd_pull(const ParsedCommand& command, Context& context);
int cmd_import(const ParsedCommand& command, Context& context);
int cmd_images(const ParsedCommand& command, Context& context);
int cmd_image_inspect(const ParsedCommand& command, Context& context);
int cmd_rmi(const ParsedCommand& command, Context& context);
int cmd_image_prune(const ParsedCommand& command, Context& context);
int cmd_tag(const ParsedCommand& command, Context& context);
int cmd_run(const ParsedCommand& command, Context& context);
int cmd_rm(const ParsedCommand& command, Context& context);
int cmd_ps(const ParsedCommand& command, Context& context);
int cmd_create(const ParsedCommand& command, Context& context);
int cmd_start(const ParsedCommand& command, Context& context);
int cmd_stop(const ParsedCommand& command, Context& context);
int cmd_kill(const ParsedCommand& command, Context& context);
int cmd_restart(const ParsedCommand& command, Context& context);
int cmd_wait(const ParsedCommand& command, Context& context);
int cmd_inspect(const ParsedCommand& command, Context& context);
int cmd_logs(const ParsedCommand& command, Context& context);
int cmd_stats(const ParsedCommand& command, Context& context);
int cmd_exec(const ParsedCommand& command, Context& context);
int cmd_container_prune(const ParsedCommand& command, Context& context);
int cmd_attach(const ParsedCommand& command, Context& context);
int cmd_generate_unit(const ParsedCommand& command, Context& context);
int cmd_unit_image(const ParsedCommand& command, Context& context);
int cmd_container_ended(const ParsedCommand& command, Context& context);

}  // namespace roost::cli
