"""exec latency: `exec CONTAINER true` into a running container, roost against podman,
alternating; each tool runs one detached container that sleeps through the section."""

import os
import subprocess

from common import alternate, commands_block, load_average, ms, ratio, summary, table
from tools import BUSYBOX

TARGET = 5  # podman exec / roost exec, at least
NAME = "bench-exec"


def start_containers(tools):
    subprocess.run(tools.roost("run", "-d", "--name", NAME, BUSYBOX, "sleep",
                               "3600", driver="overlay"),
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(tools.podman("run", "-d", "--cgroups", "disabled", "--network", "host",
                                "--name", NAME, BUSYBOX, "sleep", "3600"),
                   check=True, stdout=subprocess.DEVNULL)


def remove_containers(tools):
    subprocess.run(tools.roost("rm", "-f", NAME), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    subprocess.run(tools.podman("rm", "-f", "-t", "0", NAME), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def measure(tools, report):
    rounds = int(os.environ.get("BENCH_RUNS", "40"))
    named = {"roost exec": tools.roost("exec", NAME, "true"),
             "podman exec": tools.podman("exec", NAME, "true")}
    load_before = load_average()
    start_containers(tools)
    try:
        runs = alternate(named, rounds)
    finally:
        remove_containers(tools)
    figures = {name: summary([run.seconds for run in values]) for name, values in runs.items()}
    report.add("Exec latency: exec CONTAINER true",
               describe(named, figures, rounds, load_before),
               {"rounds": rounds, "figures": figures, "commands": named})


def describe(named, figures, rounds, load_before):
    roost = figures["roost exec"]["median"]
    rows = [[name, ms(f["median"]), ms(f["min"]), ms(f["max"]), ratio(f["median"], roost)]
            for name, f in figures.items()]
    value = figures["podman exec"]["median"] / roost
    return "\n".join([
        f"{rounds} rounds, each command once per round in rotating order, after 2 warm-up "
        f"rounds, into a detached `sleep 3600` of the busybox image (kernel overlay); times "
        f"in ms; load average {load_before} at the start, {load_average()} at the end.", "",
        table(["command", "median", "min", "max", "/ roost exec"], rows), "",
        f"- podman exec / roost exec = {value:.2f} (target: at least {TARGET}): "
        f"{'met' if value >= TARGET else 'MISSED'}", "", commands_block(named)])
