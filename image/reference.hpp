#pragma once

#include <string>
#include <string_view>

namespace roost::image {

// Where an image comes from, in skopeo's transport syntax.
enum class Transport {
  Store,          // a bare name, tag or id: NAME[:TAG][@DIGEST] or a (prefix of an) image id
  Docker,         // docker://HOST[:PORT]/NAME[:TAG][@DIGEST], a registry's image
  DockerArchive,  // docker-archive:PATH[:NAME[:TAG]]
  OciArchive,     // oci-archive:PATH[:TAG]
  OciDir,         // oci:PATH[:TAG]
};

struct Reference {
  Transport transport = Transport::Store;
  std::string path;  // archive file or layout directory, for the file transports
  std::string name;  // repository as written, e.g. "busybox", "localhost/busybox"
  std::string tag;   // empty when none was written
  std::string digest;

  // NAME:TAG as the store keeps it: a name without a registry part gets "localhost/"
  // (docker:// names, and docker.io ones, get Docker Hub's docker.io/library/ form); a
  // missing tag becomes "latest", or NAME@DIGEST when only a digest was written. Empty
  // when no name was written (oci: and oci-archive: keep their ref name in `tag`).
  std::string canonical_name() const;
};

// Throws UsageError naming the text and what is wrong with it.
Reference parse_reference(std::string_view text);

}  // namespace roost::image
