"""Image work over the network: the Debian minbase image served by Debian's
docker-registry on 127.0.0.1, pulled by roost and by podman, first into empty stores and
then again into the store that already has it, alternating; skopeo's copy of the same
image into an OCI layout directory for context."""

import os
import socket
import subprocess
import time

from common import alternate, commands_block, load_average, summary, table
from image import FreshStore, check_runs_debian, figures, remove_stores, rows, settle

FIRST_ROUNDS = 5
WARM_ROUNDS = 5
IMAGE = "minbase:1"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Registry:
    """docker-registry serve with its config, storage and log under `base`; ended by its
    pid when the section is done."""

    def __init__(self, base):
        self.base = base
        self.host = f"127.0.0.1:{free_port()}"
        os.makedirs(base, exist_ok=True)
        config = os.path.join(base, "config.yml")
        with open(config, "w") as stream:
            stream.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                         f"storage:\n  filesystem:\n    rootdirectory: {base}/storage\n"
                         f"http:\n  addr: {self.host}\n")
        self.log = open(os.path.join(base, "registry.log"), "w")
        self.process = subprocess.Popen(["docker-registry", "serve", config],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_until_listening()

    def wait_until_listening(self):
        host, port = self.host.split(":")
        for _ in range(200):
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not listen on {self.host}")

    def reference(self, name):
        return f"docker://{self.host}/{name}"

    def stop(self):
        self.process.kill()
        self.process.wait()
        self.log.close()


def first_pull_commands(tools, base, registry):
    reference = registry.reference(IMAGE)

    def roost_pull(store):
        return tools.roost("pull", "-q", reference, store=store)

    def podman_pull(store):
        return tools.podman("pull", "-q", "--tls-verify=false", reference, root=store,
                            runroot=store + "-run")

    def skopeo_copy(directory):
        return ["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false",
                reference, f"oci:{directory}:1"]

    def initialised(argv, command):
        return argv[:argv.index(command)] + ["images"]

    return {
        "roost pull": FreshStore(base, "roost", roost_pull,
                                 lambda argv: initialised(argv, "pull")),
        "podman pull": FreshStore(base, "podman", podman_pull,
                                  lambda argv: initialised(argv, "pull")),
        "skopeo copy to oci:": FreshStore(base, "skopeo", skopeo_copy, None),
    }


def measure(tools, report):
    base = os.path.join(tools.runs, "pull")
    registry = Registry(os.path.join(base, "registry"))
    try:
        subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet",
                        "--dest-tls-verify=false", f"docker-archive:{tools.image_file('minbase')}",
                        registry.reference(IMAGE)], check=True, capture_output=True)
        measure_pulls(tools, report, base, registry)
    finally:
        registry.stop()
    remove_stores(tools, base)


def measure_pulls(tools, report, base, registry):
    first_commands = first_pull_commands(tools, base, registry)
    load_before = load_average()

    def fresh_store(name):
        first_commands[name].renew()
        settle(name)

    first = alternate(first_commands, FIRST_ROUNDS, warmup=0, before_each=fresh_store)
    warm_commands = {name: list(argv) for name, argv in first_commands.items()
                     if name != "skopeo copy to oci:"}
    warm = alternate(warm_commands, WARM_ROUNDS, warmup=0, before_each=settle)
    check_pulled(tools, first_commands, registry)
    served = served_sizes(registry)
    commands = {name: list(argv) for name, argv in first_commands.items()}
    report.add("Image work: pull of the Debian minbase image from a local registry",
               describe(first, warm, served, load_before) + "\n\n" + commands_block(commands),
               {"first": figures(first), "warm": figures(warm), "served": served,
                "commands": commands})


def served_sizes(registry):
    """The compressed layer's size as the registry serves it (skopeo gzips on push)."""
    blobs = os.path.join(registry.base, "storage", "docker", "registry", "v2", "blobs")
    sizes = [os.path.getsize(os.path.join(root, name))
             for root, _, names in os.walk(blobs) for name in names if name == "data"]
    return {"largest_blob_bytes": max(sizes)}


def verdict(value):
    return "met" if value >= 1.5 else ("at least as fast" if value >= 1 else "MISSED")


def describe(first, warm, served, load_before):
    header = ["command", "median s", "min s", "max s", "/ roost pull", "peak RSS MiB"]

    def podman_ratio(runs):
        return (summary([r.seconds for r in runs["podman pull"]])["median"]
                / summary([r.seconds for r in runs["roost pull"]])["median"])

    first_ratio, warm_ratio = podman_ratio(first), podman_ratio(warm)
    return "\n".join([
        f"The minbase docker-archive pushed once with skopeo to docker-registry on "
        f"127.0.0.1 (plain http), which serves its layer gzipped "
        f"({served['largest_blob_bytes'] / 1e6:.1f} MB). Each first pull gets a new store, "
        "initialised untimed by `images`; `sync` before each timed command; load average "
        f"{load_before} at the start, {load_average()} at the end. Peak RSS is the largest "
        "process of the command's tree (wait4 ru_maxrss).", "",
        f"First pull into an empty store, {len(first['roost pull'])} rounds:", "",
        table(header, rows(first, "roost pull")), "",
        f"Warm: the same image again into the store that holds it (manifest and config "
        f"only), {len(warm['roost pull'])} rounds:", "",
        table(header, rows(warm, "roost pull")), "",
        f"- podman pull / roost pull, first pull = {first_ratio:.2f} (target 1.5): "
        f"{verdict(first_ratio)}",
        f"- podman pull / roost pull, warm pull = {warm_ratio:.2f} (target 1.5): "
        f"{verdict(warm_ratio)}"])


def check_pulled(tools, first_commands, registry):
    check_runs_debian(tools, f"{registry.host}/{IMAGE}", first_commands["roost pull"][2],
                      first_commands["podman pull"][2])

