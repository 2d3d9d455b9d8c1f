#pragma once

#include "launcher/plan.hpp"

namespace roost::cli {

// Child-side steps, run as root of the container's user namespace, in its own mount
// namespace, in this order.
// Returns whether fuse-overlayfs serves the rootfs (false: the kernel's overlayfs).
bool mount_rootfs(const ContainerPlan& plan);
// With `own_cgroup` the container's cgroup namespace is mounted at /sys/fs/cgroup.
void mount_system_filesystems(const ContainerPlan& plan, bool own_cgroup);
void mount_user_volumes(const ContainerPlan& plan);
void leave_fuse_overlayfs_behind();
void pivot_into_rootfs(const ContainerPlan& plan);
void make_root_read_only();

}  // namespace roost::cli
