"""Timing, statistics and report helpers shared by the benchmark sections.

Every timed command is spawned directly (no shell) with posix_spawn and reaped with
wait4, so the figure is start-to-exit as a caller sees it and the rusage is that
command's own (ru_maxrss: the largest process of its tree that it waited for).
"""

import json
import os
import statistics
import subprocess
import tempfile
import time


class CommandFailed(Exception):
    pass


class Run:
    """One finished command: wall seconds, exit status and peak RSS in KiB."""

    def __init__(self, seconds, status, max_rss_kib):
        self.seconds = seconds
        self.status = status
        self.max_rss_kib = max_rss_kib


def spawn(argv, stdout=None, stderr=None, env=None):
    actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
    for fd, target in ((1, stdout), (2, stderr)):
        if target is None:
            actions.append((os.POSIX_SPAWN_OPEN, fd, "/dev/null", os.O_WRONLY, 0))
        else:
            actions.append((os.POSIX_SPAWN_DUP2, target, fd))
    return os.posix_spawnp(argv[0], argv, env or os.environ, file_actions=actions)


def exit_status(wait_status):
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def timed(argv, check=True, env=None):
    """Runs argv once; raises CommandFailed with its stderr when it fails and check."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        pid = spawn(argv, stderr=errors.fileno(), env=env)
        _, wait_status, usage = os.wait4(pid, 0)
        seconds = time.perf_counter() - started
        status = exit_status(wait_status)
        if status != 0 and check:
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip()
            raise CommandFailed(f"{' '.join(argv)} exited {status}: {text}")
    return Run(seconds, status, usage.ru_maxrss)


def alternate(commands, rounds, warmup=2, before_each=None):
    """Runs each named command once per round, rotating the order every round so that
    no command always follows the same neighbour. Returns {name: [Run, ...]}."""
    names = list(commands)
    for _ in range(warmup):
        for name in names:
            if before_each:
                before_each(name)
            timed(commands[name])
    runs = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            if before_each:
                before_each(name)
            runs[name].append(timed(commands[name]))
    return runs


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def output(argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout.strip()


def ms(seconds):
    return f"{seconds * 1000:.1f}"


def seconds_text(seconds):
    return f"{seconds:.2f}"


def mib(kib):
    return f"{kib / 1024:.1f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def commands_block(named):
    """The exact command lines, indented as a markdown code block."""
    lines = ["Commands:", ""]
    lines += [f"    {name}: {' '.join(argv)}" for name, argv in named.items()]
    return "\n".join(lines)


def ratio(numerator, denominator):
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


class Report:
    """Collects markdown sections and raw figures; written once at the end."""

    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.sections = []
        self.raw = {}

    def add(self, title, text, raw=None):
        self.sections.append(f"## {title}\n\n{text}\n")
        if raw is not None:
            self.raw[title] = raw
        self.write()

    def write(self):
        with open(os.path.join(self.out_dir, "results.md"), "w") as out:
            out.write("\n".join(self.sections))
        with open(os.path.join(self.out_dir, "results.json"), "w") as out:
            json.dump(self.raw, out, indent=1)


def load_average():
    with open("/proc/loadavg") as stream:
        return " ".join(stream.read().split()[:3])
