#include "launcher/container_log.hpp"

namespace roost::cli {

ContainerLog::ContainerLog(const std::string& driver, const std::string& file, uint64_t max_size,
                           JournalFields fields) {
  if (driver == "k8s-file") file_.emplace(file, max_size);
  if (driver == "journald") journal_.emplace(std::move(fields));
}

void ContainerLog::write(Stream stream, std::string_view data) {
  if (file_) file_->write(stream, data);
  if (journal_) journal_->write(stream, data);
}

}  // namespace roost::cli
