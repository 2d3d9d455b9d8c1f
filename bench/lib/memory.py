"""Memory: the peak RSS (VmHWM) of what stays alive beside a running container, read
from /proc while the container sleeps: roost's monitor (the monitor process of run -d,
and the roost process itself of an attached run, plus fuse-overlayfs with that driver)
against podman's conmon (and podman's own client when
it stays attached, as `roost run` does); and the peak RSS of loading the minbase image."""

import os
import statistics
import subprocess
import time

from common import commands_block, load_average, mib, table, timed

ROUNDS = 3
SLEEP = "3"
FIELDS = ("VmHWM", "RssAnon", "Pss")


def field_kib(path, field):
    try:
        with open(path) as stream:
            for line in stream:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def status_kib(pid, field):
    return field_kib(f"/proc/{pid}/status", field)


def smaps_kib(pid, field):
    return field_kib(f"/proc/{pid}/smaps_rollup", field)


def footprint(pids):
    """Peak RSS, and at the moment of reading: private anonymous RSS and proportional
    set size (shared library pages divided among the processes that map them)."""
    return {"VmHWM": sum(status_kib(pid, "VmHWM") or 0 for pid in pids),
            "RssAnon": sum(status_kib(pid, "RssAnon") or 0 for pid in pids),
            "Pss": sum(smaps_kib(pid, "Pss") or 0 for pid in pids)}


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as stream:
            return stream.read().strip()
    except (FileNotFoundError, ProcessLookupError):
        return None


def pids_named(name):
    return {int(entry) for entry in os.listdir("/proc")
            if entry.isdigit() and comm(entry) == name}


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as stream:
            return [int(child) for child in stream.read().split()]
    except FileNotFoundError:
        return []


def wait_for(condition, what, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def roost_monitor(tools, driver):
    """Peak RSS of the roost process while its container sleeps."""
    before = pids_named("fuse-overlayfs")
    process = subprocess.Popen(tools.roost_run("sleep", SLEEP, driver=driver),
                               stdout=subprocess.DEVNULL)
    wait_for(lambda: any(comm(child) == "sleep" for child in children(process.pid)),
             "the container's sleep under roost")
    time.sleep(0.5)
    figures = {"monitor": footprint([process.pid])}
    fuse = pids_named("fuse-overlayfs") - before
    if fuse:
        figures["fuse-overlayfs"] = footprint(fuse)
    if process.wait() != 0:
        raise RuntimeError(f"roost run ({driver}) exited {process.returncode}")
    return figures


def roost_detached(tools):
    """Peak RSS of roost's monitor beside a detached container: the process that stays,
    as conmon does for podman run -d."""
    before = pids_named("roost-monitor")
    subprocess.run(tools.roost_run("sleep", SLEEP, options=("-d",)), check=True,
                   stdout=subprocess.DEVNULL)

    def running_monitor():
        return {pid for pid in pids_named("roost-monitor") - before
                if any(comm(child) == "sleep" for child in children(pid))}

    monitor = wait_for(running_monitor, "roost's monitor and the container's sleep")
    time.sleep(0.5)
    figures = {"monitor": footprint(monitor)}
    wait_for(lambda: all(comm(pid) is None for pid in monitor), "roost's monitor to exit")
    return figures


def podman_detached(tools):
    """Peak RSS of conmon, the only podman process left beside a detached container."""
    container = subprocess.run(
        tools.podman_run("sleep", SLEEP, options=("-d", "--network", "host")),
        check=True, capture_output=True, text=True).stdout.strip()
    conmon = int(subprocess.run(
        tools.podman("inspect", "--format", "{{.State.ConmonPid}}", container),
        check=True, capture_output=True, text=True).stdout.strip())
    time.sleep(0.5)
    figures = {"conmon": footprint([conmon])}
    wait_for(lambda: comm(conmon) is None, "conmon to exit")
    return figures


def podman_attached(tools):
    """podman run in the foreground, as roost run is: its client stays until the end."""
    before = pids_named("conmon")
    process = subprocess.Popen(tools.podman_run("sleep", SLEEP), stdout=subprocess.DEVNULL)

    # conmon forks itself away on start, so only the conmon whose child is the
    # container's process is the one that stays.
    def running_conmon():
        return {pid for pid in pids_named("conmon") - before
                if any(comm(child) == "sleep" for child in children(pid))}

    conmon = wait_for(running_conmon, "conmon and the container's sleep under podman")
    time.sleep(0.5)
    figures = {"client": footprint([process.pid]), "conmon": footprint(conmon)}
    if process.wait() != 0:
        raise RuntimeError(f"podman run exited {process.returncode}")
    wait_for(lambda: all(comm(pid) is None for pid in conmon), "conmon to exit")
    return figures


def load_peaks(tools, report):
    image = report.raw.get("Image work: load of a Debian minbase docker-archive")
    if image:
        return {name: values["max_rss_kib"]["median"]
                for name, values in image["first"].items() if "skopeo" not in name}
    archive = tools.image_file("minbase")
    store = os.path.join(tools.runs, "memory-load")
    peaks = {"roost load": timed(tools.roost("load", "-q", "-i", archive,
                                             store=store + "-roost")).max_rss_kib,
             "podman load": timed(tools.podman("load", "-q", "-i", archive,
                                               root=store + "-podman",
                                               runroot=store + "-podman-run")).max_rss_kib}
    subprocess.run(["podman", "unshare", "rm", "-rf", store + "-roost", store + "-podman"],
                   check=True)
    return peaks


def measure(tools, report):
    load_before = load_average()
    samples = {}
    for _ in range(ROUNDS):
        for name, probe in (("roost run, overlay", lambda: roost_monitor(tools, "overlay")),
                            ("roost run, fuse-overlayfs",
                             lambda: roost_monitor(tools, "fuse-overlayfs")),
                            ("roost run -d, overlay", lambda: roost_detached(tools)),
                            ("podman run -d", lambda: podman_detached(tools)),
                            ("podman run (attached)", lambda: podman_attached(tools))):
            for part, kib in probe().items():
                samples.setdefault((name, part), []).append(kib)
    medians = {f"{name}: {part}": {field: statistics.median(value[field] for value in values)
                                   for field in FIELDS}
               for (name, part), values in samples.items()}
    peaks = load_peaks(tools, report)
    named = {"roost": tools.roost_run("sleep", SLEEP, driver="DRIVER"),
             "roost -d": tools.roost_run("sleep", SLEEP, options=("-d",)),
             "podman -d": tools.podman_run("sleep", SLEEP, options=("-d", "--network", "host")),
             "podman attached": tools.podman_run("sleep", SLEEP)}
    report.add("Memory: peak RSS",
               describe(medians, samples, peaks, load_before) + "\n\n" + commands_block(named),
               {"monitors_kib": medians, "loads_kib": peaks})


def describe(medians, samples, peaks, load_before):
    rows = [[name, *(mib(figures[field]) for field in FIELDS),
             f"{mib(min(v['VmHWM'] for v in samples[tuple(name.split(': '))]))}"
             f"–{mib(max(v['VmHWM'] for v in samples[tuple(name.split(': '))]))}"]
            for name, figures in medians.items()]
    attached = medians["roost run, overlay: monitor"]["VmHWM"]
    monitor = medians["roost run -d, overlay: monitor"]["VmHWM"]
    conmon = medians["podman run -d: conmon"]["VmHWM"]
    verdict = "met" if monitor <= conmon else "MISSED"
    return "\n".join([
        f"Each process's figures from /proc while `sleep {SLEEP}` runs in the busybox image "
        f"(read 0.5 s after the container started), median of {ROUNDS} rounds, MiB. VmHWM is "
        "the peak RSS; RssAnon the private anonymous part; Pss counts shared pages "
        f"divided among the processes mapping them. Load average {load_before} at the "
        f"start, {load_average()} at the end.", "",
        table(["process", "VmHWM", "RssAnon", "Pss", "VmHWM min–max"], rows), "",
        f"- roost run -d monitor / conmon, VmHWM = {monitor / conmon:.2f} (target: at most 1): "
        f"{verdict}",
        f"- roost run (attached, the roost process) / conmon, VmHWM = {attached / conmon:.2f}",
        "",
        "Peak RSS while loading the minbase archive (largest process of the tree):", "",
        table(["command", "MiB"], [[name, mib(kib)] for name, kib in peaks.items()])])
