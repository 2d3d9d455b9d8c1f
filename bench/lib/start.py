"""Start-to-exit latency of `true`: roost against bwrap, crun and podman, alternating."""

import os

from common import alternate, commands_block, load_average, ms, ratio, summary, table

# Targets from the requirements: ratio of medians, roost overlay against each peer.
TARGETS = [
    ("roost overlay", "bwrap", "at most 5x bwrap", lambda r: r <= 5),
    ("roost overlay", "crun run", "at most 1.5x crun run", lambda r: r <= 1.5),
    ("podman run --rm", "roost overlay", "podman at least 10x roost", lambda r: r >= 10),
]

# An earlier roost binary timed beside the one measured (bench/run BASELINE=PATH).
BASELINE = "roost overlay, baseline binary"


def commands(tools):
    named = {
        "fork+exec true": ["/bin/true"],
        "roost version (start-up alone)": tools.roost("version"),
        "bwrap": tools.bwrap("/bin/true"),
        "crun run": tools.crun_run("bench"),
        "roost overlay": tools.roost_run("true", driver="overlay"),
        "roost fuse-overlayfs": tools.roost_run("true", driver="fuse-overlayfs"),
        "roost overlay --network none": tools.roost_run(
            "true", driver="overlay", options=("--network", "none")),
        "bwrap --unshare-net": tools.bwrap("/bin/true", options=("--unshare-net",)),
        "podman run --rm": tools.podman_run("true"),
    }
    if tools.baseline:
        named[BASELINE] = [tools.baseline, *tools.roost_run("true", driver="overlay")[1:]]
    return named


def measure(tools, report):
    rounds = int(os.environ.get("BENCH_RUNS", "40"))
    named = commands(tools)
    load_before = load_average()
    runs = alternate(named, rounds)
    figures = {name: summary([run.seconds for run in values]) for name, values in runs.items()}
    report.add("Start latency: run --rm IMAGE true",
               describe(named, figures, rounds, load_before),
               {"rounds": rounds, "figures": figures,
                "commands": named})


def describe(named, figures, rounds, load_before):
    rows = [[name, ms(f["median"]), ms(f["min"]), ms(f["max"]),
             ratio(f["median"], figures["bwrap"]["median"]),
             ratio(f["median"], figures["crun run"]["median"])]
            for name, f in figures.items()]
    verdicts = []
    for name, peer, target, holds in TARGETS:
        value = figures[name]["median"] / figures[peer]["median"]
        verdicts.append(f"- {name} / {peer} = {value:.2f} ({target}): "
                        f"{'met' if holds(value) else 'MISSED'}")
    if BASELINE in figures:
        value = figures["roost overlay"]["median"] / figures[BASELINE]["median"]
        verdicts.append(f"- roost overlay / the baseline binary = {value:.2f} (before and "
                        "after, from this run)")
    return "\n".join([
        f"{rounds} rounds, each command once per round in rotating order, after 2 warm-up "
        f"rounds; times in ms; load average {load_before} at the start, "
        f"{load_average()} at the end.", "",
        table(["command", "median", "min", "max", "/ bwrap", "/ crun"], rows), "",
        *verdicts, "", commands_block(named)])

