#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "launcher/completion.hpp"

namespace roost::cli {

struct ManPage {
  std::string file_name;  // roost.1, roost-image-inspect.1
  std::string text;       // roff with the man macros
};

// roost(1) and one page per command of the table (hidden ones aside): synopsis and
// options from the table, descriptions from prose kept beside it in manpages.cpp.
std::vector<ManPage> man_pages(const CompletionTable& table);

// Text for roff: backslashes escaped, hyphens as \- (so that flags copy and paste), and
// a line that would start with a control character made safe.
std::string roff_escaped(std::string_view text);

// Writes the pages into DIRECTORY (made if missing); pages of commands that no longer
// exist are removed.
int cmd_manpages(const ParsedCommand& command, Context& context);

}  // namespace roost::cli
