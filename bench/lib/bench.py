"""Runs the chosen benchmark sections as the bench user and writes results.md and
results.json into the output directory. bench/run calls it inside the private mount
namespace it prepares; see bench/run for how to start it.

usage: bench.py --work WORK --out OUT SECTION...
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import execlat  # noqa: E402
import fscost  # noqa: E402
import image  # noqa: E402
import memory  # noqa: E402
import pscost  # noqa: E402
import pull  # noqa: E402
import scale  # noqa: E402
import start  # noqa: E402
from common import Report  # noqa: E402
from tools import Tools  # noqa: E402

SECTIONS = {
    "start": start,
    "exec": execlat,
    "image": image,
    "pull": pull,
    "memory": memory,
    "scale": scale,
    "fs": fscost,
    "ps": pscost,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("sections", nargs="+", choices=sorted(SECTIONS))
    args = parser.parse_args()
    os.chdir(args.work)
    tools = Tools(args.work)
    report = Report(args.out)
    try:
        tools.prepare()
        report.raw["versions"] = tools.versions()
        for name in args.sections:
            began = time.monotonic()
            print(f"==> section {name}", file=sys.stderr, flush=True)
            SECTIONS[name].measure(tools, report)
            print(f"==> section {name} took {time.monotonic() - began:.0f} s",
                  file=sys.stderr, flush=True)
    finally:
        tools.finish()


if __name__ == "__main__":
    main()
