#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace roost::cli {

// What a value is; drives parsing checks, --help, completions and man pages.
enum class ValueKind {
  None,  // a flag without value
  Text,
  Number,
  WholeNumber,  // an integer, sign allowed: 10, -1
  Size,         // 64m, 1g
  Path,         // any file
  Directory,
  Signal,
  Image,             // an image reference
  Container,         // a container name or id
  RunningContainer,  // a container that is running (completion offers only those)
  Choice,            // one of `choices`
  KeyValue,          // KEY=VALUE
  Duration,
};

struct OptionSpec {
  std::string_view long_name;  // without dashes
  char short_name = 0;
  ValueKind kind = ValueKind::None;
  std::string_view value_name;  // shown in help: SIZE, FILE
  std::string_view help;
  std::vector<std::string_view> choices = {};
  bool repeatable = false;
  // File name endings a Path value is expected to have ("tar", "tar.gz"); completion
  // offers only those files (and directories to look into).
  std::vector<std::string_view> extensions = {};
  // A Choice that also takes a --format template ('{{.Names}}') over these fields, checked
  // while parsing so that a bad template is named before anything is looked up; completion
  // offers the choices.
  const std::vector<std::string_view>* template_fields = nullptr;
};

struct PositionalSpec {
  std::string_view name;  // IMAGE, COMMAND
  ValueKind kind = ValueKind::Text;
  bool required = true;
  bool variadic = false;                          // takes every remaining argument
  std::vector<std::string_view> choices = {};     // for ValueKind::Choice
  std::vector<std::string_view> extensions = {};  // as in OptionSpec
};

struct ParsedCommand;
struct Context;
using Handler = int (*)(const ParsedCommand&, Context&);

struct CommandSpec {
  std::string_view name;  // "run", "image inspect"
  std::string_view summary;
  std::vector<OptionSpec> options;
  std::vector<PositionalSpec> positionals;
  Handler handler = nullptr;
  // Options stop at the first positional (run IMAGE CMD --flag passes --flag on).
  bool options_end_at_positional = false;
  // Used by the completion scripts only: not in --help, completions or man pages.
  bool hidden = false;
};

// Values --storage-driver and --userns take; config.toml's storage.driver and
// containers.userns take the same.
extern const std::vector<std::string_view> kStorageDrivers;
extern const std::vector<std::string_view> kUsernsModes;

const std::vector<OptionSpec>& global_options();
const std::vector<CommandSpec>& command_table();

struct ParsedCommand {
  const CommandSpec* spec = nullptr;
  std::map<std::string, std::vector<std::string>, std::less<>> values;
  std::vector<std::string> positionals;

  bool has(std::string_view option) const { return values.find(option) != values.end(); }
  // The last value given, or `fallback`.
  std::string value(std::string_view option, std::string fallback = {}) const;
  const std::vector<std::string>& all(std::string_view option) const;
};

}  // namespace roost::cli
