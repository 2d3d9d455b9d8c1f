"""Writes an OCI image layout whose only layer is an existing rootfs tarball.

usage: oci_from_rootfs.py ROOTFS_TAR LAYOUT_DIR TAG CMD
"""

import hashlib
import json
import os
import platform
import shutil
import sys

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def sha256_of_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def add_blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as out:
        out.write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def add_layer(layout, rootfs_tar):
    digest = sha256_of_file(rootfs_tar)
    shutil.copyfile(rootfs_tar, os.path.join(layout, "blobs", "sha256", digest))
    size = os.path.getsize(rootfs_tar)
    return {"mediaType": MEDIA_LAYER, "digest": f"sha256:{digest}", "size": size}


def image_config(layer_digest, command):
    return {
        "architecture": ARCHITECTURES.get(platform.machine(), platform.machine()),
        "os": "linux",
        "created": "2025-01-01T00:00:00Z",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": [command],
        },
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }


def main(rootfs_tar, layout, tag, command):
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    with open(os.path.join(layout, "oci-layout"), "w") as out:
        json.dump({"imageLayoutVersion": "1.0.0"}, out)
    layer = add_layer(layout, rootfs_tar)
    config = add_blob(layout, json.dumps(image_config(layer["digest"], command)).encode())
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                "config": dict(config, mediaType=MEDIA_CONFIG), "layers": [layer]}
    entry = add_blob(layout, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [
        dict(entry, mediaType=MEDIA_MANIFEST,
             annotations={"org.opencontainers.image.ref.name": tag})]}
    with open(os.path.join(layout, "index.json"), "w") as out:
        json.dump(index, out)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
