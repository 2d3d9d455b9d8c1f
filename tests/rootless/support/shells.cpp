#include "tests/rootless/support/shells.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "tests/rootless/support/process.hpp"

namespace rootless {

namespace fs = std::filesystem;

namespace {

// Runs the completion function that `complete -p roost` names, as readline would, for
// each line given as: LINE WORD_COUNT WORDS...; each answer ends with a line "\x1e".
// The first argument is "with" or "without" bash-completion.
constexpr const char* kBashDriver = R"sh(
if [[ $1 == with ]]; then
  source /usr/share/bash-completion/bash_completion || exit 3
else
  for helper in _init_completion _filedir __ltrim_colon_completions; do
    ! declare -F "$helper" >/dev/null || exit 6
  done
fi
source "$2" || exit 3
shift 2
spec=$(complete -p roost) || exit 4
function=${spec#*-F }
function=${function%% *}
while (($#)); do
  COMP_LINE=$1
  COMP_POINT=${#COMP_LINE}
  COMP_WORDS=("${@:3:$2}")
  shift $((2 + $2))
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  "$function" roost "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  printf '%s\n' "${COMPREPLY[@]}" $'\x1e'
done
)sh";

// An interactive zsh on a pty loads compsys with roost's _roost in fpath, records what
// compadd is given, and completes each line with TAB bound to complete-word (the default
// expand-or-complete would expand the line itself before roost's function sees it).
// The matches for line N go to OUT.N.
constexpr const char* kZshDriver = R"sh(
zmodload zsh/zpty || exit 3
local dir=$1 out=$2 text n=0 line
shift 2
zpty roost_zsh zsh -f -i
zpty -w roost_zsh "PS1='<ready>'; setopt no_auto_list no_beep no_list_ambiguous; )sh"
                                   R"sh(bindkey '^I' complete-word"
zpty -w roost_zsh "fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w roost_zsh "compadd() { if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then )sh"
                                   R"sh(builtin compadd \"\$@\"; return; fi; local -a hits; )sh"
                                   R"sh(builtin compadd -A hits \"\$@\"; print -rl -- \$hits >> )sh"
                                   R"sh(\$ROOST_MATCHES; builtin compadd \"\$@\"; }"
zpty -w roost_zsh "print -r -- READY\$((1+1))"
zpty -r roost_zsh text '*READY2*<ready>*' || exit 4
for line in "$@"; do
  (( n++ ))
  zpty -w roost_zsh "ROOST_MATCHES=${(q)out}.$n; : > \$ROOST_MATCHES"
  zpty -r roost_zsh text "*<ready>*" || exit 4
  zpty -w -n roost_zsh "$line"$'\t'
  zpty -w -n roost_zsh $'\C-u'
  zpty -w roost_zsh "print -r -- DONE\$(($n*2))"
  zpty -r roost_zsh text "*DONE$(($n*2))*<ready>*" || exit 5
  print -r -- "$text"
done
zpty -d roost_zsh
)sh";

constexpr const char* kFishDriver =
    "source $argv[1]; or exit 3; for line in $argv[2..-1]; complete -C $line; echo \x1e; end";

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> sorted_lines(const std::string& text, char cut_at = '\n') {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    line = line.substr(0, line.find(cut_at));
    if (!line.empty()) lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  return lines;
}

// Output of a driver: each line's answers end with a line holding only "\x1e".
std::vector<std::vector<std::string>> answers(const std::string& text, size_t expected,
                                              char cut_at) {
  std::vector<std::vector<std::string>> all;
  size_t start = 0;
  for (size_t end; (end = text.find("\x1e\n", start)) != std::string::npos; start = end + 2)
    all.push_back(sorted_lines(text.substr(start, end - start), cut_at));
  if (all.size() != expected)
    throw std::runtime_error("the shell answered " + std::to_string(all.size()) + " of " +
                             std::to_string(expected) + " lines: " + text);
  return all;
}

Outcome run_shell(std::vector<std::string> argv, const std::vector<std::string>& env,
                  const fs::path& dir) {
  Spawn spawn(std::move(argv), env);
  spawn.cwd = dir.string();
  spawn.timeout = Seconds(30);
  Outcome outcome = run(spawn);
  // A completion script that misbehaves usually says so on stderr and goes on.
  if (outcome.exit_code != 0 || outcome.timed_out || !outcome.err.empty())
    throw std::runtime_error("completion in " + spawn.argv[0] + " failed: " + outcome.describe());
  return outcome;
}

}  // namespace

const char* shell_name(Shell shell) {
  switch (shell) {
    case Shell::Bash:
      return "bash";
    case Shell::PlainBash:
      return "bash_without_bash_completion";
    case Shell::Zsh:
      return "zsh";
    case Shell::Fish:
      return "fish";
  }
  return "?";
}

std::vector<std::string> readline_words(const std::string& line) {
  const std::string breaks = "\"'><=;|&(:";
  std::vector<std::string> words;
  std::string word;
  for (size_t i = 0; i < line.size();) {
    if (line[i] == ' ' || breaks.find(line[i]) != std::string::npos) {
      if (!word.empty()) words.push_back(word);
      word.clear();
      if (line[i] == ' ') {
        ++i;
        continue;
      }
      size_t end = line.find_first_not_of(breaks, i);
      end = end == std::string::npos ? line.size() : end;
      words.push_back(line.substr(i, end - i));
      i = end;
      continue;
    }
    word += line[i++];
  }
  if (!word.empty() || line.empty() || line.back() == ' ') words.push_back(word);
  return words;
}

Completer::Completer(fs::path dir, const CompletionScripts& scripts, std::vector<std::string> env)
    : dir_(std::move(dir)), env_(std::move(env)) {
  fs::create_directories(dir_ / "zsh");
  write_file(dir_ / "roost.bash", scripts.bash);
  write_file(dir_ / "zsh" / "_roost", scripts.zsh);
  write_file(dir_ / "roost.fish", scripts.fish);
  write_file(dir_ / "bash-driver", kBashDriver);
  write_file(dir_ / "zsh-driver", kZshDriver);
}

std::vector<std::string> Completer::complete(Shell shell, const std::string& line) const {
  return complete_all(shell, {line}).front();
}

Completer::Answers Completer::complete_all(Shell shell,
                                           const std::vector<std::string>& lines) const {
  switch (shell) {
    case Shell::Bash:
      return bash(lines, true);
    case Shell::PlainBash:
      return bash(lines, false);
    case Shell::Zsh:
      return zsh(lines);
    case Shell::Fish:
      return fish(lines);
  }
  return {};
}

Completer::Answers Completer::bash(const std::vector<std::string>& lines,
                                   bool with_bash_completion) const {
  std::vector<std::string> argv = {"bash",
                                   "--norc",
                                   "--noprofile",
                                   (dir_ / "bash-driver").string(),
                                   with_bash_completion ? "with" : "without",
                                   (dir_ / "roost.bash").string()};
  for (const auto& line : lines) {
    auto words = readline_words(line);
    argv.push_back(line);
    argv.push_back(std::to_string(words.size()));
    argv.insert(argv.end(), words.begin(), words.end());
  }
  return answers(run_shell(argv, env_, dir_).out, lines.size(), '\t');
}

Completer::Answers Completer::zsh(const std::vector<std::string>& lines) const {
  fs::path matches = dir_ / "zsh-matches";
  std::vector<std::string> argv = {"zsh", "-f", (dir_ / "zsh-driver").string(),
                                   (dir_ / "zsh").string(), matches.string()};
  argv.insert(argv.end(), lines.begin(), lines.end());
  Outcome outcome = run_shell(argv, env_, dir_);
  // compsys reports errors of completion functions on the terminal ("_roost_names:3: bad
  // substitution") and goes on.
  static const std::regex function_error("(^|[\r\n])[_A-Za-z][-_A-Za-z0-9]*:[0-9]+: ");
  if (std::regex_search(outcome.out, function_error))
    throw std::runtime_error("zsh reported an error: " + outcome.out);
  Answers all;
  for (size_t n = 1; n <= lines.size(); ++n) {
    fs::path file = matches.string() + "." + std::to_string(n);
    all.push_back(sorted_lines(read_file(file)));
    fs::remove(file);
  }
  return all;
}

std::vector<std::string> Completer::fish_descriptions(const std::string& line) const {
  return fish({line}, true).front();
}

Completer::Answers Completer::fish(const std::vector<std::string>& lines, bool descriptions) const {
  std::vector<std::string> argv = {"fish", "--no-config", "-c", kFishDriver,
                                   (dir_ / "roost.fish").string()};
  argv.insert(argv.end(), lines.begin(), lines.end());
  return answers(run_shell(argv, env_, dir_).out, lines.size(), descriptions ? '\n' : '\t');
}

}  // namespace rootless
