#include "launcher/journal.hpp"

#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/error.hpp"

namespace roost::cli {

namespace {

constexpr const char* kPersistentJournal = "/var/log/journal";
constexpr auto kFollowInterval = std::chrono::milliseconds(100);

bool is_socket(const char* path) {
  struct stat st;
  return ::stat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

struct JournalCloser {
  void operator()(sd_journal* journal) const { sd_journal_close(journal); }
};
using JournalHandle = std::unique_ptr<sd_journal, JournalCloser>;

JournalHandle open_journal() {
  sd_journal* journal = nullptr;
  if (int r = sd_journal_open(&journal, SD_JOURNAL_LOCAL_ONLY); r < 0)
    throw_errno("open the journal", -r);
  JournalHandle handle(journal);
  if (!sd_journal_has_runtime_files(journal) && !sd_journal_has_persistent_files(journal))
    throw Error(fmt::format(
        "read the journal: no journal file is readable by uid {}; journald keeps a file per "
        "user only when the journal is stored on disk ({} exists), otherwise create the "
        "container with --log-driver k8s-file",
        ::getuid(), kPersistentJournal));
  sd_journal_set_data_threshold(journal, 0);
  return handle;
}

// The value of FIELD in the current entry, if it has one.
std::optional<std::string_view> field(sd_journal* journal, const char* name) {
  const void* data = nullptr;
  size_t length = 0;
  if (sd_journal_get_data(journal, name, &data, &length) < 0) return std::nullopt;
  std::string_view entry(static_cast<const char*>(data), length);
  size_t prefix = std::strlen(name) + 1;  // "NAME="
  return entry.size() >= prefix ? entry.substr(prefix) : std::string_view();
}

void add_entry(sd_journal* journal, LineAssembler& lines) {
  auto message_data = field(journal, "MESSAGE");
  if (!message_data) return;
  // The data of a field is valid only until the next field is read: a long message
  // (a piece of 16 KiB) would otherwise come back with other fields' bytes in it.
  std::string message(*message_data);
  uint64_t usec = 0;
  sd_journal_get_realtime_usec(journal, &usec);
  LogRecord record;
  record.time = static_cast<UnixNanos>(usec) * 1000;
  record.stream = field(journal, "PRIORITY") == "3" ? Stream::Stderr : Stream::Stdout;
  record.partial = field(journal, kJournalPartialField) == "true";
  record.text = message;
  lines.add(record);
}

// Feeds the entries after the current position; returns whether there were any.
bool read_entries(sd_journal* journal, LineAssembler& lines) {
  bool any = false;
  for (int r; (r = sd_journal_next(journal)) != 0;) {
    if (r < 0) throw_errno("read the journal", -r);
    add_entry(journal, lines);
    any = true;
  }
  return any;
}

void follow(sd_journal* journal, LineAssembler& lines, const std::function<bool()>& still_running) {
  auto timeout = std::chrono::duration_cast<std::chrono::microseconds>(kFollowInterval).count();
  for (;;) {
    bool running = still_running();
    bool grew = read_entries(journal, lines);
    if (!running && !grew) return;
    if (!grew) sd_journal_wait(journal, static_cast<uint64_t>(timeout));
  }
}

}  // namespace

bool stdout_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st;
  if (stream == nullptr || ::fstat(STDOUT_FILENO, &st) < 0) return false;
  return fmt::format("{}:{}", st.st_dev, st.st_ino) == stream;
}

std::string default_log_driver() {
  if (!is_socket(kJournalSocket)) {
    spdlog::debug("log driver k8s-file: journald does not listen at {}", kJournalSocket);
    return "k8s-file";
  }
  if (::access(kPersistentJournal, F_OK) != 0) {
    spdlog::debug(
        "log driver k8s-file: the journal is not kept on disk ({} is missing), so journald "
        "keeps no file of your own to read containers' output back from",
        kPersistentJournal);
    return "k8s-file";
  }
  return "journald";
}

ContainerLog container_log(const ContainerStore& store, const ContainerRecord& record) {
  return ContainerLog(record.settings.log_driver, store.log_path(record.id).string(),
                      record.settings.log_max_size,
                      JournalFields{record.name, record.id, record.image_name});
}

void print_journal(const std::string& container_id, const LogQuery& query,
                   const std::function<bool()>& still_running) {
  auto handle = open_journal();
  sd_journal* journal = handle.get();
  auto match = "CONTAINER_ID_FULL=" + container_id;
  if (int r = sd_journal_add_match(journal, match.data(), match.size()); r < 0)
    throw_errno(fmt::format("match {} in the journal", match), -r);
  int r = query.since ? sd_journal_seek_realtime_usec(journal, *query.since / 1000)
                      : sd_journal_seek_head(journal);
  if (r < 0) throw_errno("seek in the journal", -r);
  LineAssembler lines(query);
  read_entries(journal, lines);
  if (query.follow) {
    lines.release_tail();
    follow(journal, lines, still_running);
  }
  lines.finish();
  lines.release_tail();
}

}  // namespace roost::cli
