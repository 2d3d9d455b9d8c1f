"""Scale: 50 containers started at once and 200 in sequence, the time each took, and
what is left afterwards (processes, mounts, files in the store and runtime directory,
containers roost or podman still list)."""

import os
import statistics
import subprocess
import time

from common import (commands_block, exit_status, load_average, ms, seconds_text, spawn, table,
                    timed)
from memory import children, comm, wait_for

AT_ONCE = 50
IN_SEQUENCE = 200
BLOCK = 20  # sequence runs are compared in blocks of this many


def burst(argvs):
    """Starts every argv at once; returns the wall time until the last exits and each
    one's own time and exit status."""
    started = time.perf_counter()
    pending = {}
    for argv in argvs:
        pending[spawn(argv)] = time.perf_counter()
    own, statuses = [], []
    while pending:
        pid, wait_status = os.wait()
        own.append(time.perf_counter() - pending.pop(pid))
        statuses.append(exit_status(wait_status))
    return time.perf_counter() - started, own, statuses


def coexisting(tools):
    """50 containers that sleep: are all 50 running at the same moment?"""
    seconds = "4"
    pids = [spawn(tools.roost_run("sleep", seconds)) for _ in range(AT_ONCE)]

    def sleeping():
        return sum(1 for pid in pids if any(comm(c) == "sleep" for c in children(pid)))

    most = 0
    try:
        wait_for(lambda: sleeping() == AT_ONCE, f"{AT_ONCE} sleeping containers", timeout=20)
        most = AT_ONCE
    except RuntimeError:
        most = sleeping()
    statuses = [exit_status(os.waitpid(pid, 0)[1]) for pid in pids]
    return most, statuses


def sequence(argv, count):
    return [timed(argv).seconds for _ in range(count)]


def snapshot(tools):
    """What a container could leave behind, counted from outside."""
    uid = os.getuid()
    processes = sorted(comm(pid) or "?" for pid in os.listdir("/proc")
                       if pid.isdigit() and owner(pid) == uid and int(pid) != os.getpid()
                       and comm(pid) not in ("catatonit", "python3", "ps"))
    with open("/proc/self/mountinfo") as stream:
        mounts = len(stream.readlines())
    runtime = os.path.join(os.environ["XDG_RUNTIME_DIR"], "roost")
    return {
        "processes": processes,
        "mounts in the bench namespace": mounts,
        "roost containers/ entries": entries(os.path.join(tools.store, "containers")),
        "roost tmp/ entries": entries(os.path.join(tools.store, "tmp")),
        "roost runtime entries": entries(os.path.join(runtime, "containers")),
        "roost ps -a lines": len(subprocess.run(
            tools.roost("ps", "-a"), capture_output=True, text=True,
            check=True).stdout.splitlines()) - 1,
        "podman ps -a lines": len(subprocess.run(
            tools.podman("ps", "-a", "-q"), capture_output=True, text=True,
            check=True).stdout.splitlines()),
    }


def owner(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except FileNotFoundError:
        return None


def entries(path):
    try:
        return len(os.listdir(path))
    except FileNotFoundError:
        return 0


def measure(tools, report):
    load_before = load_average()
    before = snapshot(tools)
    bursts = {}
    for name, argv in (("roost overlay", tools.roost_run("true", driver="overlay")),
                       ("roost fuse-overlayfs", tools.roost_run("true",
                                                                driver="fuse-overlayfs")),
                       ("podman run --rm", tools.podman_run("true"))):
        bursts[name] = burst([argv] * AT_ONCE)
    most, sleep_statuses = coexisting(tools)
    sequences = {
        "roost overlay": sequence(tools.roost_run("true", driver="overlay"), IN_SEQUENCE),
        "roost fuse-overlayfs": sequence(tools.roost_run("true", driver="fuse-overlayfs"),
                                         IN_SEQUENCE),
    }
    time.sleep(1)  # let fuse-overlayfs daemons that are on their way out finish
    after = snapshot(tools)
    named = {"roost": tools.roost_run("true", driver="DRIVER"),
             "podman": tools.podman_run("true"),
             "roost, at once": tools.roost_run("sleep", "4")}
    report.add("Scale: 50 at once, 200 in sequence",
               describe(bursts, most, sleep_statuses, sequences, before, after, load_before)
               + "\n\n" + commands_block(named),
               {"bursts": {name: {"wall": wall, "own": own, "statuses": statuses}
                           for name, (wall, own, statuses) in bursts.items()},
                "coexisting": most, "sequences": sequences,
                "before": before, "after": after})


def describe(bursts, most, sleep_statuses, sequences, before, after, load_before):
    burst_rows = [[name, seconds_text(wall), ms(wall / len(own)), ms(statistics.median(own)),
                   ms(max(own)), sum(1 for status in statuses if status != 0)]
                  for name, (wall, own, statuses) in bursts.items()]
    sequence_rows = []
    for name, times in sequences.items():
        blocks = [statistics.median(times[i:i + BLOCK]) for i in range(0, len(times), BLOCK)]
        sequence_rows.append([name, ms(statistics.median(times)), ms(blocks[0]),
                              ms(blocks[-1]), f"{blocks[-1] / blocks[0]:.2f}",
                              " ".join(ms(b) for b in blocks)])
    leftover_rows = [[key, show(before[key]), show(after[key])] for key in before]
    return "\n".join([
        f"Load average {load_before} at the start, {load_average()} at the end.", "",
        f"{AT_ONCE} `run --rm IMAGE true` started at once (times in ms, the whole burst in s):",
        "", table(["command", "burst s", "burst / container", "median own", "max own",
                   "failed"], burst_rows), "",
        f"{AT_ONCE} `roost run --rm IMAGE sleep 4` at once: {most} of {AT_ONCE} were "
        f"running at the same moment; {sum(1 for s in sleep_statuses if s != 0)} failed.", "",
        f"{IN_SEQUENCE} `run --rm IMAGE true` one after another (ms; medians of blocks of "
        f"{BLOCK}):", "",
        table(["command", "median", f"first {BLOCK}", f"last {BLOCK}", "last / first",
               "each block"], sequence_rows), "",
        "Left behind (before the section, after it):", "",
        table(["what", "before", "after"], leftover_rows)])


def show(value):
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    return str(value)
