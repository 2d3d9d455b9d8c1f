#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rootless {

// PlainBash is bash without the bash-completion package loaded.
enum class Shell { Bash, PlainBash, Zsh, Fish };
inline constexpr Shell kShells[] = {Shell::Bash, Shell::PlainBash, Shell::Zsh, Shell::Fish};
inline bool is_bash(Shell shell) {
  return shell == Shell::Bash || shell == Shell::PlainBash;
}
const char* shell_name(Shell shell);

// The completion scripts under test, one per shell.
struct CompletionScripts {
  std::string bash;
  std::string zsh;
  std::string fish;
};

// Asks the real shells what they offer for a command line, through each shell's own
// completion machinery with roost's script loaded: the function `complete -p roost`
// names, with bash-completion loaded (Bash) or proven absent (PlainBash), run with
// COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT as readline sets them; zsh's compsys in an
// interactive zsh on a pty (zpty), where TAB is complete-word and compadd is wrapped to
// record its matches; fish's `complete -C`. The cursor is at the end of the line.
// Throws std::runtime_error, with the shell's output, when a shell fails or hangs.
class Completer {
 public:
  // Writes the scripts into `dir`; `env` (KEY=VALUE) is the shells' whole environment
  // and its PATH must lead to the roost under test.
  Completer(std::filesystem::path dir, const CompletionScripts& scripts,
            std::vector<std::string> env);

  // Sorted, without duplicates and empty entries.
  std::vector<std::string> complete(Shell shell, const std::string& line) const;
  // The same for many lines in one run of the shell.
  std::vector<std::vector<std::string>> complete_all(Shell shell,
                                                     const std::vector<std::string>& lines) const;
  // fish's answers with their descriptions, as "MATCH\tDESCRIPTION".
  std::vector<std::string> fish_descriptions(const std::string& line) const;

 private:
  using Answers = std::vector<std::vector<std::string>>;
  Answers bash(const std::vector<std::string>& lines, bool with_bash_completion) const;
  Answers zsh(const std::vector<std::string>& lines) const;
  Answers fish(const std::vector<std::string>& lines, bool descriptions = false) const;

  std::filesystem::path dir_;
  std::vector<std::string> env_;
};

// The words bash hands a completion function for `line`: split at blanks and at the
// characters of the default COMP_WORDBREAKS, each run of those becoming a word of its
// own ("--network=ho" is "--network" "=" "ho"); a trailing blank starts an empty word.
std::vector<std::string> readline_words(const std::string& line);

}  // namespace rootless
