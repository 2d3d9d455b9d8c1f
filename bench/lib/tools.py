"""The commands compared, each built from one place so every section runs the same ones.

roost, podman and crun keep their stores under WORK/runs, which bench/run empties before
each session, and their live state in the runtime directory (a fresh tmpfs), so every
session starts from empty stores.
"""

import json
import os
import signal
import subprocess

BUSYBOX = "localhost/busybox:1"
MINBASE = "localhost/minbase:1"


class Tools:
    def __init__(self, work):
        self.work = work
        self.images = os.path.join(work, "images")
        self.runs = os.path.join(work, "runs")
        self.store = os.path.join(self.runs, "roost")
        self.podman_root = os.path.join(self.runs, "podman")
        # Where podman and crun keep live state by default: the runtime directory.
        runtime = os.environ["XDG_RUNTIME_DIR"]
        self.podman_runroot = os.path.join(runtime, "bench-podman")
        self.crun_root = os.path.join(runtime, "bench-crun")
        self.bundle = os.path.join(self.runs, "crun-bundle")
        self.busybox_layer = None
        baseline = os.path.join(work, "bin", "roost-baseline")
        self.baseline = baseline if os.path.exists(baseline) else None

    # roost, with its store in the session's directory.
    def roost(self, *args, driver=None, store=None):
        argv = ["roost", "--root", store or self.store]
        if driver:
            argv += ["--storage-driver", driver]
        return argv + list(args)

    def roost_run(self, *command, driver="overlay", options=()):
        return self.roost("run", "--rm", *options, BUSYBOX, *command, driver=driver)

    # podman as the machine allows it: cgroupfs manager, no cgroups, file events (no
    # journald), the kernel overlay driver (its fastest), and the host network like
    # roost's default unless a section asks otherwise.
    def podman(self, *args, root=None, runroot=None):
        return ["podman", "--root", root or self.podman_root,
                "--runroot", runroot or self.podman_runroot, "--storage-driver", "overlay",
                "--cgroup-manager", "cgroupfs", "--events-backend", "file"] + list(args)

    def podman_run(self, *command, options=("--network", "host")):
        return self.podman("run", "--rm", "--cgroups", "disabled", *options, BUSYBOX, *command)

    # The namespaces roost creates by default: user, mount, pid, uts, ipc.
    def bwrap(self, *command, options=()):
        return ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-uts", "--unshare-ipc",
                *options, "--ro-bind", self.busybox_layer, "/", "--proc", "/proc",
                "--dev", "/dev", *command]

    def crun_run(self, name):
        return ["crun", "--root", self.crun_root, "--cgroup-manager", "disabled", "run",
                "--bundle", self.bundle, name]

    def prepare(self):
        """Loads the busybox image into both stores and writes the crun bundle."""
        os.makedirs(self.runs, exist_ok=True)
        subprocess.run(["podman", "system", "migrate"], check=True, capture_output=True)
        subprocess.run(self.roost("load", "-q", "-i", self.image_file("busybox")),
                       check=True, capture_output=True)
        subprocess.run(self.podman("load", "-q", "-i", self.image_file("busybox")),
                       check=True, capture_output=True)
        self.busybox_layer = self.layer_of(BUSYBOX)
        self.write_crun_bundle()

    def finish(self):
        """Ends podman's pause process: the runtime directory that names it is this
        session's tmpfs, so no later podman would find it again."""
        pid_file = os.path.join(os.environ["XDG_RUNTIME_DIR"], "libpod", "tmp", "pause.pid")
        try:
            with open(pid_file) as stream:
                os.kill(int(stream.read().strip()), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass

    def image_file(self, name):
        return os.path.join(self.images, f"{name}.tar")

    def layer_of(self, image):
        record = json.loads(subprocess.run(self.roost("image", "inspect", image), check=True,
                                           capture_output=True, text=True).stdout)
        if isinstance(record, list):
            record = record[0]
        (diff_id,) = record["Layers"]
        return os.path.join(self.store, "layers", diff_id.removeprefix("sha256:"))

    # crun's rootless spec, on the very layer directory roost unpacked, with the same
    # namespaces as roost's default (the host network, no cgroup namespace).
    def write_crun_bundle(self):
        os.makedirs(self.bundle, exist_ok=True)
        subprocess.run(["crun", "spec", "--rootless"], cwd=self.bundle, check=True)
        path = os.path.join(self.bundle, "config.json")
        with open(path) as stream:
            spec = json.load(stream)
        spec["root"] = {"path": self.busybox_layer, "readonly": True}
        spec["process"]["args"] = ["/bin/true"]
        spec["process"]["terminal"] = False
        spec["linux"]["namespaces"] = [
            entry for entry in spec["linux"]["namespaces"]
            if entry["type"] not in ("network", "cgroup")]
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
        with open(path, "w") as stream:
            json.dump(spec, stream, indent=1)

    def versions(self):
        podman_info = subprocess.run(
            self.podman("info", "--format",
                        "{{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}}"),
            capture_output=True, text=True).stdout.strip()
        return {"podman storage driver and runtime": podman_info}
