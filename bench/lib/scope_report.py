"""Turns the guest's scope-samples.txt (lines "CASE MILLISECONDS", one round after
another) into the scope section's Markdown table and a JSON summary.

The scope's cost is what a run with a scope (and limits) takes beyond the same run
without one (--cgroups disabled), taken round by round, since the cases of one round
ran back to back; it is compared with systemd-run --user --scope true, the round trip
of a bare transient scope. Target: no more than that round trip plus 20 %.
"""

import json
import statistics
import sys

CASES = ("no-scope", "scope", "limits", "systemd-run")
COMMANDS = {
    "no-scope": "roost run --rm --cgroups disabled IMAGE true",
    "scope": "roost run --rm IMAGE true",
    "limits": "roost run --rm --memory 64m --pids-limit 50 --cpus 1 IMAGE true",
    "systemd-run": "systemd-run --user --scope --quiet true",
}
TARGET = 1.2


def read_samples(path):
    samples = {case: [] for case in CASES}
    with open(path) as lines:
        for line in lines:
            case, ms = line.split()
            samples[case].append(float(ms))
    rounds = {len(values) for values in samples.values()}
    if len(rounds) != 1 or 0 in rounds:
        raise SystemExit(f"{path}: every case needs the same, non-zero number of samples")
    return samples


def summary(samples):
    medians = {case: statistics.median(values) for case, values in samples.items()}
    differences = {
        case: [a - b for a, b in zip(samples[case], samples["no-scope"])]
        for case in ("scope", "limits")
    }
    costs = {case: statistics.median(values) for case, values in differences.items()}
    return {
        "rounds": len(samples["no-scope"]),
        "median_ms": medians,
        "min_ms": {case: min(values) for case, values in samples.items()},
        "max_ms": {case: max(values) for case, values in samples.items()},
        "scope_cost_ms": costs,
        "scope_cost_quartiles_ms": {
            case: statistics.quantiles(values, n=4) for case, values in differences.items()
        },
        "cost_over_systemd_run": {
            case: cost / medians["systemd-run"] for case, cost in costs.items()
        },
    }


def markdown(result):
    rows = [
        "| command | median ms | min ms | max ms | / no scope |",
        "|---|---|---|---|---|",
    ]
    base = result["median_ms"]["no-scope"]
    for case in CASES:
        rows.append(
            f"| `{COMMANDS[case]}` | {result['median_ms'][case]:.1f} | "
            f"{result['min_ms'][case]:.1f} | {result['max_ms'][case]:.1f} | "
            f"{result['median_ms'][case] / base:.2f}x |"
        )
    rows.append("")
    rows.append("| scope's cost, per round | median ms | quartiles ms | / systemd-run | target |")
    rows.append("|---|---|---|---|---|")
    for case in ("scope", "limits"):
        ratio = result["cost_over_systemd_run"][case]
        verdict = "met" if ratio <= TARGET else "MISSED"
        low, _, high = result["scope_cost_quartiles_ms"][case]
        cost = result["scope_cost_ms"][case]
        rows.append(
            f"| {case} − no scope | {cost:.1f} | {low:.0f}–{high:.0f} | {ratio:.2f} | "
            f"≤ {TARGET:.1f}: {verdict} |"
        )
    return "\n".join(rows) + "\n"


def main():
    samples_path, markdown_path, json_path = sys.argv[1:4]
    result = summary(read_samples(samples_path))
    with open(markdown_path, "w") as out:
        out.write(f"{result['rounds']} rounds, alternating, in the guest\n\n")
        out.write(markdown(result))
    with open(json_path, "w") as out:
        json.dump(result, out, indent=2)
    sys.stdout.write(markdown(result))


if __name__ == "__main__":
    main()
