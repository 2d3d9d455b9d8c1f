#pragma once

#include "image/store.hpp"
#include "launcher/context.hpp"
#include "userns/namespace.hpp"

namespace roost::cli {

// The id maps this user gets for `mode` (--userns value or the configured default).
userns::Maps caller_maps(const Context& context, const std::string& mode);

// The maps under which layers are unpacked and containers' files removed: those of the
// configured --userns mode, keep-id taken as auto. A keep-id container thus finds its
// image stored as under the default map and sees the image's owners through fuse-overlayfs.
userns::Maps storage_maps(const Context& context);

// The user's image store; when its directory cannot be made, the error says it is the
// store and how to put it elsewhere.
image::Store open_image_store(const Context& context);

// Runs `work` as root of a fresh user namespace with the storage maps, where
// layer files can be created and deleted with their owners; returns its status.
int in_user_namespace(const Context& context, const std::function<int()>& work);

struct LoadedImage {
  std::string id;
  std::vector<std::string> names;  // those the archive gave, not others the image had
};

// Loads every image of an archive or layout in the user namespace.
std::vector<LoadedImage> load_into_store(const Context& context, const image::Reference& reference,
                                         const image::ImageCheck& check = {});

struct PullOptions {
  std::string credentials;         // --creds USER:PASS
  std::optional<bool> tls_verify;  // --tls-verify; unset: as image::RegistryOptions says
  bool quiet = false;              // no progress lines on stderr
};

// Pulls IMAGE (docker://HOST[:PORT]/NAME[:TAG|@DIGEST], or HOST[:PORT]/NAME[:TAG]) from its
// registry into the store, in the user namespace; returns the image's id. `check` sees the
// config before anything is stored.
std::string pull_into_store(const Context& context, const std::string& text,
                            const PullOptions& options, const image::ImageCheck& check = {});

// When run and create pull IMAGE, as podman's --pull: if it is not in the store yet, each
// time, or never.
enum class PullPolicy { Missing, Always, Never };

struct ImagePull {
  PullPolicy policy = PullPolicy::Missing;
  PullOptions options;
};

// --pull, --creds and --tls-verify of run and create.
ImagePull image_pull(const std::string& policy, const std::string& credentials,
                     const std::string& tls_verify);

// Finds IMAGE in the store; a transport reference (oci:, docker-archive:, ...) not yet
// loaded is loaded first, and a registry's image pulled as `policy` says. Throws Error
// naming the image and how to get it. `check` sees the image's config first, before a load
// or pull stores anything.
image::ImageRecord resolve_image(const Context& context, const std::string& reference,
                                 const image::ImageCheck& check = {}, const ImagePull& pull = {});

}  // namespace roost::cli
