"""ps and inspect with 100 containers: each tool keeps 100 detached `sleep` containers of
the busybox image, and `ps`, `ps -a --format json`, `inspect` of one and `inspect` of all
100 are timed alternately, roost against podman; afterwards everything is removed and
what is left is counted."""

import os
import subprocess
import time

from common import alternate, commands_block, load_average, ms, ratio, summary, table
from scale import snapshot
from tools import BUSYBOX

COUNT = 100
TARGET_MS = 100  # roost ps with COUNT containers, at most
PREFIX = "bench-ps-"
ROUNDS = 30
SETTLE_S = 10  # longest wait for processes to end after removal


def names():
    return [f"{PREFIX}{index:03d}" for index in range(COUNT)]


def start_roost(tools):
    for name in names():
        subprocess.run(tools.roost("run", "-d", "--name", name, BUSYBOX, "sleep", "3600",
                                   driver="overlay"),
                       check=True, stdout=subprocess.DEVNULL)


def start_podman(tools):
    """Starts as many of the COUNT as podman manages; returns the names that run and the
    first error, if any."""
    started, error = [], None
    for name in names():
        result = subprocess.run(
            tools.podman("run", "-d", "--cgroups", "disabled", "--network", "host", "--name",
                         name, BUSYBOX, "sleep", "3600"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            error = f"{name}: exit {result.returncode}: {result.stderr.strip()}"
            break
        started.append(name)
    return started, error


def running(argv):
    """Lines of a listing that has no header (ids only)."""
    return len(subprocess.run(argv, check=True, capture_output=True,
                              text=True).stdout.splitlines())


def remove_all(tools):
    subprocess.run(tools.roost("rm", "-f", *names()), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run(tools.podman("rm", "-f", "-t", "0", *names()), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def commands(tools, podman_names):
    """{what: (roost argv, podman argv or None)}; the argv of each `inspect` of all names."""
    every = f"(all {COUNT})"
    pairs = {
        "ps": (tools.roost("ps"), tools.podman("ps")),
        "ps -a --format json": (tools.roost("ps", "-a", "--format", "json"),
                                tools.podman("ps", "-a", "--format", "json")),
        "inspect NAME": (tools.roost("inspect", names()[0]),
                         tools.podman("inspect", podman_names[0]) if podman_names else None),
        f"inspect {every}": (tools.roost("inspect", *names()),
                             tools.podman("inspect", *podman_names) if podman_names else None),
    }
    if podman_names and len(podman_names) < COUNT:
        pairs[f"inspect {every}"] = (pairs[f"inspect {every}"][0], None)
        pairs[f"inspect (all {len(podman_names)})"] = (
            tools.roost("inspect", *podman_names), tools.podman("inspect", *podman_names))
    return pairs


def settled(tools, before):
    """What is left once the processes that removal ends have gone, or after SETTLE_S;
    and how long that took."""
    began = time.perf_counter()
    while True:
        after = snapshot(tools)
        waited = time.perf_counter() - began
        if after["processes"] == before["processes"] or waited > SETTLE_S:
            return after, waited
        time.sleep(0.1)


def measure(tools, report):
    rounds = int(os.environ.get("BENCH_PS_RUNS", str(ROUNDS)))
    load_before = load_average()
    before = snapshot(tools)
    try:
        began = time.perf_counter()
        start_roost(tools)
        roost_start = time.perf_counter() - began
        began = time.perf_counter()
        podman_names, podman_error = start_podman(tools)
        podman_start = time.perf_counter() - began
        counted = {"roost": running(tools.roost("ps", "-q")),
                   "podman": running(tools.podman("ps", "-q"))}
        pairs = commands(tools, podman_names)
        timed_commands = {}
        for what, (roost_argv, podman_argv) in pairs.items():
            timed_commands[f"roost {what}"] = roost_argv
            if podman_argv:
                timed_commands[f"podman {what}"] = podman_argv
        runs = alternate(timed_commands, rounds)
    finally:
        remove_all(tools)
    after, settling = settled(tools, before)
    figures = {name: summary([run.seconds for run in values]) for name, values in runs.items()}
    report.add(f"ps and inspect with {COUNT} containers",
               describe(pairs, figures, rounds, counted, podman_error, roost_start,
                        podman_start, before, after, settling, load_before)
               + "\n\n" + commands_block(shortened(timed_commands)),
               {"rounds": rounds, "figures": figures, "running": counted,
                "podman error": podman_error,
                "start all s": {"roost": roost_start, "podman": podman_start},
                "before": before, "after": after, "settling s": settling})


def shortened(timed_commands):
    """Command lines with the run of container names written as a range."""
    shown = {}
    for name, argv in timed_commands.items():
        listed = [arg for arg in argv if arg.startswith(PREFIX)]
        if len(listed) > 1:
            argv = argv[:-len(listed)] + [f"{listed[0]} ... {listed[-1]}"]
        shown[name] = argv
    return shown


def describe(pairs, figures, rounds, counted, podman_error, roost_start, podman_start, before,
             after, settling, load_before):
    rows = []
    for what in pairs:
        roost = figures[f"roost {what}"]
        podman = figures.get(f"podman {what}")
        rows.append([f"roost {what}", ms(roost["median"]), ms(roost["min"]), ms(roost["max"]),
                     ratio(podman["median"], roost["median"]) if podman else ""])
        if podman:
            rows.append([f"podman {what}", ms(podman["median"]), ms(podman["min"]),
                         ms(podman["max"]), ""])
    ps = figures["roost ps"]["median"] * 1000
    podman_text = (f"podman kept {counted['podman']} running" if not podman_error else
                   f"podman stopped starting containers after {counted['podman']}: "
                   f"{podman_error}")
    leftover_rows = [[key, show(before[key]), show(after[key])] for key in before]
    return "\n".join([
        f"{COUNT} detached `sleep 3600` containers of the busybox image for each tool "
        f"(roost: kernel overlay; podman: `--cgroups disabled --network host`); roost ps "
        f"listed {counted['roost']} running, {podman_text}. Starting them one after another "
        f"took {roost_start:.1f} s for roost and {podman_start:.1f} s for podman.", "",
        f"{rounds} rounds, each command once per round in rotating order, after 2 warm-up "
        f"rounds; times in ms; load average {load_before} at the start, {load_average()} at "
        f"the end.", "",
        table(["command", "median", "min", "max", "podman / roost"], rows), "",
        f"- roost ps with {COUNT} containers: {ps:.1f} ms (target: at most {TARGET_MS} ms): "
        f"{'met' if ps <= TARGET_MS else 'MISSED'}", "",
        f"Left behind (before the section; after `roost rm -f` and `podman rm -f -t 0` of "
        f"all of them, once no process was left or after {SETTLE_S} s: here "
        f"{settling:.1f} s):", "",
        table(["what", "before", "after"], leftover_rows)])


def show(value):
    if isinstance(value, list):
        return ", ".join(value) if value else "none"
    return str(value)
