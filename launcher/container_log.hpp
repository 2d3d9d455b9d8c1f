#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "launcher/journal_writer.hpp"
#include "launcher/log_file.hpp"
#include "launcher/relay.hpp"

namespace roost::cli {

// A container's log as its driver keeps it: k8s-file, journald, or none (nothing kept).
class ContainerLog {
 public:
  ContainerLog(const std::string& driver, const std::string& file, uint64_t max_size,
               JournalFields fields);

  void write(Stream stream, std::string_view data);

 private:
  std::optional<LogWriter> file_;
  std::optional<JournalWriter> journal_;
};

}  // namespace roost::cli
