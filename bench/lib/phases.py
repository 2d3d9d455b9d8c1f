"""Splits each `roost run --rm IMAGE true` in a perf trace into phases by the syscalls
that bound them, and prints the median of each phase over all runs as markdown.

usage: phases.py TRACE_FILE
"""

import re
import statistics
import sys

EVENT = re.compile(r"\s*([\d.]+) \(\s*([\d.]*)(?: ms)?\s*\): (\S+)/(\d+) (.*)")

PHASES = [
    ("start-up and preparation: exec, libraries, config, image lookup, container "
     "record, etc files", "exec", "clone"),
    ("id maps: newuidmap and newgidmap, until the child is released", "clone", "released"),
    ("in the child: rootfs and system mounts, pivot_root, security, exec", "released",
     "command"),
    ("the command itself (true)", "command", "exited"),
    ("from the command's exit until roost reaps it (namespace teardown)", "exited",
     "reaped"),
    ("after the exit: state, --rm removal, roost's own exit", "reaped", "end"),
]


class Event:
    def __init__(self, match):
        self.time = float(match.group(1))
        self.duration = float(match.group(2)) if match.group(2) else 0.0
        self.comm = match.group(3)
        self.pid = int(match.group(4))
        self.text = match.group(5)


def parse(path):
    events = []
    with open(path) as stream:
        for line in stream:
            match = EVENT.match(line)
            if match:
                events.append(Event(match))
    return events


def runs(events):
    """Each run's main process: a pid first seen as bash (the loop's fork) that becomes
    roost."""
    last_comm, mains = {}, []
    for event in events:
        if last_comm.get(event.pid) == "bash" and event.comm == "roost":
            mains.append(event.pid)
        last_comm[event.pid] = event.comm
    return mains


def marks(events, main):
    own = [e for e in events if e.pid == main]
    marks = {"exec": own[0].time}
    clone = next(e for e in own if "clone3(" in e.text and re.search(r"= \d+", e.text))
    marks["clone"] = clone.time
    child = int(re.search(r"= (\d+)", clone.text).group(1))
    theirs = [e for e in events if e.pid == child]
    marks["released"] = next(e.time for e in theirs if e.text.startswith("mount("))
    marks["command"] = next(e.time for e in theirs
                            if e.text.startswith("execve(") and e.text.endswith("= 0"))
    marks["exited"] = next(e.time for e in theirs if e.text.startswith("exit_group("))
    marks["reaped"] = next(e.time + e.duration for e in own
                           if e.time >= marks["exited"] and "wait4(" in e.text
                           and re.search(rf"= {child}\b", e.text))
    marks["end"] = next(e.time for e in own if e.text.startswith("exit_group("))
    marks["fsync"] = sum(e.duration for e in own if e.text.startswith("fsync("))
    marks["fsyncs"] = sum(1 for e in own if e.text.startswith("fsync("))
    marks["details"] = details(events, own, theirs, marks)
    return marks


def returned_pid(event):
    found = re.search(r"= (\d+)", event.text)
    return int(found.group(1)) if found else None


def details(events, own, theirs, marks):
    """Steps inside the phases that the profile showed to matter."""
    found = {}
    helpers = [e for e in own if "clone3(" in e.text and returned_pid(e)][1:3]
    for name, clone in zip(("newuidmap", "newgidmap"), helpers):
        reaped = next(e for e in own if e.time > clone.time and "wait4(" in e.text
                      and returned_pid(e) == returned_pid(clone))
        found[f"{name}: spawn, setuid exec and run, until reaped"] = (
            reaped.time + reaped.duration - clone.time)
    pivot = next(e for e in theirs if "pivot_root(" in e.text)
    found["child: first mount to pivot_root (rootfs, /proc, /dev, /sys, etc files)"] = (
        pivot.time - marks["released"])
    found["child: detaching the old root (umount2 after pivot_root)"] = sum(
        e.duration for e in theirs if "umount2(" in e.text)
    found["child: pivot_root to exec (old root, passwd, capabilities, seccomp)"] = (
        marks["command"] - pivot.time)
    removal = next((e for e in own if e.time > marks["reaped"] and "clone(" in e.text
                    and returned_pid(e)), None)
    if removal:
        pid = returned_pid(removal)
        done = next(e for e in own if e.time > removal.time and "wait4(" in e.text
                    and returned_pid(e) == pid)
        found["--rm: forking a child that enters the user namespace to delete the "
              "container's files, until reaped"] = done.time + done.duration - removal.time
    return found


def main(path):
    events = parse(path)
    measured = []
    for main_pid in runs(events):
        try:
            measured.append(marks(events, main_pid))
        except StopIteration:
            continue  # the load before the loop, or a run the trace cut short
    if not measured:
        sys.exit(f"no complete roost run found in {path}")

    def median(values):
        return f"{statistics.median(values):.1f}"

    print(f"Wall time of `roost run --rm IMAGE true` by phase, median of {len(measured)} "
          "runs under perf trace (which slows every syscall a little), ms:\n")
    print("| phase | median ms | share |")
    print("|---|---|---|")
    total = statistics.median(m["end"] - m["exec"] for m in measured)
    for title, begin, end in PHASES:
        value = statistics.median(m[end] - m[begin] for m in measured)
        print(f"| {title} | {value:.1f} | {value / total:.0%} |")
    print(f"| whole run, exec to exit | {total:.1f} | 100% |")
    print(f"\nfsync in the roost process: {median([m['fsyncs'] for m in measured])} calls, "
          f"{median([m['fsync'] for m in measured])} ms in all (median per run).")
    print("\nSteps within those phases (median ms):\n")
    print("| step | median ms | min | max |")
    print("|---|---|---|---|")
    for step in measured[0]["details"]:
        values = [m["details"][step] for m in measured if step in m["details"]]
        print(f"| {step} | {median(values)} | {min(values):.1f} | {max(values):.1f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
