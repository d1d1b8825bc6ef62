#!/usr/bin/env python3
"""The loop's speed of this checkout against another one, side by side on this machine.

    git worktree add /tmp/before <commit>
    .venv/bin/python -m bench.versions --before /tmp/before [--size 512] [--rounds 5]

Each round runs ``bench.project`` (nstyle's side of ``make bench``: the same VGG-16 weights
and images, a fresh process) in the other checkout and in this one, alternating which goes
first, for the SGD iteration and the L-BFGS evaluation; the medians and their ratio come
out. A restructure that changes no arithmetic should give ratios within the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.compare import export

ROOT = Path(__file__).resolve().parents[1]


def seconds(tree: Path, data: Path, task: str, iters: int) -> float:
    """Seconds per iteration (SGD) or evaluation (L-BFGS) of ``tree``'s nstyle."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "bench.project", "--data", str(data), "--task", task]
    done = subprocess.run(
        [*command, "--iters", str(iters)], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"bench: {tree} {task} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=10)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "this": ROOT}
    with tempfile.TemporaryDirectory() as work:
        data = export(Path(work), args.size, ROOT / "input/content.jpg", ROOT / "input/style.jpg")
        for task in ("sgd", "lbfgs"):
            times: dict[str, list[float]] = {name: [] for name in trees}
            for round_ in range(args.rounds):
                order = list(trees) if round_ % 2 == 0 else list(trees)[::-1]
                for name in order:
                    times[name].append(seconds(trees[name], data, task, args.iters))
            medians = {name: statistics.median(values) for name, values in times.items()}
            shown = ", ".join(f"{n} {m:.3f} s (all: {times[n]})" for n, m in medians.items())
            ratio = medians["this"] / medians["before"]
            print(f"{task} at {args.size} px: {shown}; this/before {ratio:.3f}")


if __name__ == "__main__":
    main()
