#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "launcher/container_log.hpp"
#include "launcher/containers.hpp"
#include "launcher/logs.hpp"
#include "launcher/monitor.hpp"

namespace roost::cli {

// The driver a container gets when --log-driver is not given: journald where the
// caller can read its own entries back (journald's socket is there and the journal is
// kept on disk, where journald gives each user a file of their own), else k8s-file.
std::string default_log_driver();

// Whether roost's stdout is a stream journald reads (JOURNAL_STREAM names its device
// and inode, as systemd sets it for a service): the output is in the journal already.
bool stdout_is_journal();

// The log of a container as its settings ask.
ContainerLog container_log(const ContainerStore& store, const ContainerRecord& record);

// As print_log, from the journal entries whose CONTAINER_ID_FULL is `container_id`.
// Throws Error when no journal file can be read.
void print_journal(const std::string& container_id, const LogQuery& query,
                   const std::function<bool()>& still_running);

}  // namespace roost::cli
