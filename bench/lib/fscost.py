"""Filesystem cost: unpack a source tree, stat every file and delete it, with the same
busybox on the host and inside containers on kernel overlay and on fuse-overlayfs."""

import os
import statistics
import subprocess
import tarfile
import time

from common import commands_block, load_average, ratio, seconds_text, table

ROUNDS = 3
STEPS = ("untar", "stat", "remove")


def job(argv):
    """Runs the job and returns the seconds of each step, from the moments its lines
    reach us; the first step's clock starts at the job's own `begin` line. A failed job
    gives its exit status and the steps it finished, and the section goes on: a failure
    is a result to record too."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, bufsize=0)
    marks = {}
    for line in iter(process.stdout.readline, b""):
        marks[line.decode().strip()] = time.perf_counter()
    if process.wait() != 0 or set(marks) != {"begin", *STEPS}:
        return {"failed": process.returncode, "finished": sorted(marks)}
    order = ("begin",) + STEPS
    return {step: marks[step] - marks[order[i]] for i, step in enumerate(order[1:])}


def commands(tools):
    lib = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(lib, "fsjob.sh")
    tarball = os.path.join(tools.images, "src.tar")
    mounts = ("-v", f"{tarball}:/src.tar:ro", "-v", f"{script}:/fsjob.sh:ro")
    return {
        "host": ["busybox", "sh", script, os.path.join(tools.runs, "fs-host"), tarball],
        "roost overlay": tools.roost_run("sh", "/fsjob.sh", "/scratch", "/src.tar",
                                         driver="overlay", options=mounts),
        "roost fuse-overlayfs": tools.roost_run("sh", "/fsjob.sh", "/scratch", "/src.tar",
                                                driver="fuse-overlayfs", options=mounts),
    }


def remove_scratch(tools):
    """A job that died on the host leaves its tree; the next must start without it."""
    subprocess.run(["rm", "-rf", os.path.join(tools.runs, "fs-host")], check=True)


def tree_size(tools):
    with tarfile.open(os.path.join(tools.images, "src.tar")) as archive:
        members = archive.getmembers()
    return len(members), sum(member.size for member in members)


def measure(tools, report):
    load_before = load_average()
    named = commands(tools)
    results = {name: [] for name in named}
    for index in range(ROUNDS):
        names = list(named)
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            subprocess.run(["sync"], check=True)
            results[name].append(job(named[name]))
            if "failed" in results[name][-1]:
                remove_scratch(tools)
    count, size = tree_size(tools)
    report.add("Filesystem cost: unpack, stat and delete a source tree",
               describe(results, count, size, load_before) + "\n\n" + commands_block(named),
               {"results": results, "files": count, "bytes": size, "commands": named})


def describe(results, count, size, load_before):
    finished = {name: [run for run in runs if "failed" not in run]
                for name, runs in results.items()}
    medians = {name: {step: statistics.median(run[step] for run in runs) for step in STEPS}
               for name, runs in finished.items() if runs}
    failures = [f"- {name}: a run failed with exit status {run['failed']} after the steps "
                f"{', '.join(run['finished']) or 'none'}"
                for name, runs in results.items() for run in runs if "failed" in run]
    rows = []
    for name, steps in medians.items():
        row = [f"{name} ({len(finished[name])} of {len(results[name])} runs)"]
        for step in STEPS:
            row += [seconds_text(steps[step]), ratio(steps[step], medians["host"][step])]
        rows.append(row)
    header = ["where"] + [f"{step} {unit}" for step in STEPS for unit in ("s", "/ host")]
    return "\n".join([
        f"A source tree of {count} entries, {size / 1e6:.0f} MB (/usr/include of the bench "
        f"machine), unpacked with busybox tar, then `find | xargs stat` over every entry, "
        f"then `rm -rf`, by the same busybox on the host (on the same ext4 as the stores) "
        f"and inside the container's writable layer. Median of {ROUNDS} rounds in "
        f"rotating order, `sync` before each; load average {load_before} at the start, "
        f"{load_average()} at the end.", "",
        table(header, rows), "", *(failures or ["No run failed."])])
