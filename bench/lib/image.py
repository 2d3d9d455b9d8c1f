"""Image work: loading the Debian minbase docker-archive with roost and with podman,
first into empty stores and then again into the store that already has it, alternating;
skopeo's copy of the same archive into an OCI layout directory for context."""

import os
import subprocess

from common import (alternate, commands_block, load_average, mib, ratio, seconds_text, summary,
                    table)
from tools import MINBASE

FIRST_ROUNDS = int(os.environ.get("BENCH_IMAGE_ROUNDS", "3"))
WARM_ROUNDS = 3


class FreshStore(list):
    """An argv that points at a new, empty store each time renew() is called, so that no
    first load finds another's layers. The store is initialised (untimed) by `init`, so
    the timed load pays for the load and not for a first use of the tool."""

    def __init__(self, base, name, make, init):
        super().__init__()
        self.base, self.name, self.make, self.init = base, name, make, init
        self.count = 0

    def renew(self):
        self.count += 1
        self[:] = self.make(os.path.join(self.base, f"{self.name}-{self.count}"))
        if self.init:
            subprocess.run(self.init(self), check=True, capture_output=True)


def first_load_commands(tools, base):
    archive = tools.image_file("minbase")

    def roost_load(store):
        return tools.roost("load", "-q", "-i", archive, store=store)

    def podman_load(store):
        return tools.podman("load", "-q", "-i", archive, root=store, runroot=store + "-run")

    def skopeo_copy(directory):
        return ["skopeo", "--insecure-policy", "copy", "--quiet",
                f"docker-archive:{archive}", f"oci:{directory}:1"]

    def initialised(argv, command):
        return argv[:argv.index(command)] + ["images"]

    return {
        "roost load": FreshStore(base, "roost", roost_load,
                                 lambda argv: initialised(argv, "load")),
        "podman load": FreshStore(base, "podman", podman_load,
                                  lambda argv: initialised(argv, "load")),
        "skopeo copy to oci:": FreshStore(base, "skopeo", skopeo_copy, None),
    }


def settle(_name):
    """Earlier loads' dirty pages are written back before each timed load, so no load
    pays for the one before it."""
    subprocess.run(["sync"], check=True)


def measure(tools, report):
    base = os.path.join(tools.runs, "image")
    os.makedirs(base, exist_ok=True)
    first_commands = first_load_commands(tools, base)
    load_before = load_average()

    def fresh_store(name):
        first_commands[name].renew()
        settle(name)

    first = alternate(first_commands, FIRST_ROUNDS, warmup=0, before_each=fresh_store)
    # The warm loads go into the stores of the last first round, which hold the image.
    warm_commands = {name: list(argv) for name, argv in first_commands.items()
                     if name != "skopeo copy to oci:"}
    warm = alternate(warm_commands, WARM_ROUNDS, warmup=0, before_each=settle)
    check_loaded(tools, first_commands)
    sizes = archive_sizes(tools)
    report.add("Image work: load of a Debian minbase docker-archive",
               describe(first, warm, sizes, load_before) + "\n\n" + commands_block(
                   {name: list(argv) for name, argv in first_commands.items()}),
               {"first": figures(first), "warm": figures(warm), "sizes": sizes,
                "commands": {name: list(argv) for name, argv in first_commands.items()}})
    remove_stores(tools, base)


def figures(runs):
    return {name: {"seconds": summary([run.seconds for run in values]),
                   "max_rss_kib": summary([run.max_rss_kib for run in values])}
            for name, values in runs.items()}


def archive_sizes(tools):
    archive = tools.image_file("minbase")
    layer_bytes = int(subprocess.run(
        ["tar", "-tvf", archive], check=True, capture_output=True, text=True
    ).stdout.split("\n")[0].split()[2])
    return {"archive_bytes": os.path.getsize(archive), "layer_bytes": layer_bytes}


def rows(runs, reference):
    base = summary([run.seconds for run in runs[reference]])["median"]
    out = []
    for name, values in runs.items():
        seconds = summary([run.seconds for run in values])
        rss = summary([run.max_rss_kib for run in values])
        out.append([name, seconds_text(seconds["median"]), seconds_text(seconds["min"]),
                    seconds_text(seconds["max"]), ratio(seconds["median"], base),
                    mib(rss["median"])])
    return out


def describe(first, warm, sizes, load_before):
    header = ["command", "median s", "min s", "max s", "/ roost load", "peak RSS MiB"]
    first_ratio = (summary([r.seconds for r in first["podman load"]])["median"]
                   / summary([r.seconds for r in first["roost load"]])["median"])
    verdict = "met" if first_ratio >= 1.5 else ("at least as fast" if first_ratio >= 1
                                                 else "MISSED")
    return "\n".join([
        f"Archive {sizes['archive_bytes'] / 1e6:.1f} MB, one uncompressed layer of "
        f"{sizes['layer_bytes'] / 1e6:.1f} MB (debootstrap --variant=minbase bookworm). "
        "Each first load gets a new store, initialised untimed by `images`; "
        f"`sync` before each timed command; load average {load_before} at the start, "
        f"{load_average()} at the end. Peak RSS is the largest process of the command's "
        "tree (wait4 ru_maxrss).", "",
        f"First load into an empty store, {len(first['roost load'])} rounds:", "",
        table(header, rows(first, "roost load")), "",
        f"Warm: the same archive again into the store that holds it, "
        f"{len(warm['roost load'])} rounds:", "",
        table(header, rows(warm, "roost load")), "",
        f"- podman load / roost load, first load = {first_ratio:.2f} (target: at least "
        f"1.0 for the run requirement, 1.5 for the benchmark requirement): {verdict}"])


def check_runs_debian(tools, name, roost_store, podman_root):
    """Both stored images must run; a fast load or pull of something broken proves nothing."""
    for argv in (tools.roost("run", "--rm", name, "cat", "/etc/debian_version",
                             store=roost_store),
                 tools.podman("run", "--rm", "--cgroups", "disabled", "--network", "host",
                              name, "cat", "/etc/debian_version", root=podman_root,
                              runroot=podman_root + "-run")):
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0 or not result.stdout.strip().startswith("12"):
            raise RuntimeError(f"{' '.join(argv)} did not show Debian 12: "
                               f"{result.stdout}{result.stderr}")


def check_loaded(tools, first_commands):
    check_runs_debian(tools, MINBASE, first_commands["roost load"][2],
                      first_commands["podman load"][2])


def remove_stores(tools, base):
    """Layers hold files owned by subordinate ids; only the user namespace can delete
    them, and podman unshare enters one with the same map roost uses."""
    subprocess.run(["podman", "unshare", "rm", "-rf", base], check=True)
