#!/usr/bin/env python3
"""nstyle on several Pythons side by side: the SGD iteration at 512 px and the default run's
written picture on the bundled pair, each Python in turn (ABCABC), since a shared machine's
load drifts.

    .venv/bin/python -m bench.pythons PYTHON311 PYTHON312 PYTHON313 [--rounds 3] [--no-pictures]

Each PYTHON is the interpreter of an environment with nstyle's pins (the first is the
reference). Each round is a fresh process per Python (two warm-up iterations, then
``--iters``); the table gives the median and the best round, since other processes on a
shared machine only ever add time. The pictures are judged by this Python
(bench/quality.py), all by the same judge. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nstyle  # noqa: F401  (restores what MXNet needs before it loads)
from bench import compare, exchange, project, quality
from nstyle.media import images

ROOT = Path(__file__).resolve().parents[1]
CONTENT, STYLE = ROOT / "input" / "content.jpg", ROOT / "input" / "style.jpg"


def iteration(data: Path, iters: int) -> dict:
    """Seconds per SGD iteration on the exported 512 px data, in this Python."""
    arrays, weights, settings = exchange.read(data)
    image, loss, tv = project.bind(weights, arrays["content"], arrays["style"], settings)
    return project.iterations(image, loss, tv, "sgd", iters)


def versions(python: str) -> str:
    code = "import sys, numpy; print(sys.version.split()[0], numpy.__version__)"
    return subprocess.check_output([python, "-c", code], text=True).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pythons", nargs="*")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--pictures", action=argparse.BooleanOptionalAction, default=True, help="default runs"
    )
    parser.add_argument("--iteration", type=Path, help="(one measurement: the exported data)")
    args = parser.parse_args()
    if args.iteration:
        print(json.dumps(iteration(args.iteration, args.iters)))
        return
    work = Path(tempfile.mkdtemp(prefix="nstyle-pythons-"))
    data = compare.export(work, args.size, CONTENT, STYLE)
    seconds: dict[str, list[float]] = {p: [] for p in args.pythons}
    for turn in range(args.rounds):
        for python in args.pythons:
            argv = [python, "-m", "bench.pythons", "--iteration", str(data)]
            done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=True)
            seconds[python].append(json.loads(done.stdout.splitlines()[-1])["seconds"])
            print(f"round {turn + 1}: {python}: {seconds[python][-1]:.3f} s", file=sys.stderr)
    reference = statistics.median(seconds[args.pythons[0]])
    fastest = min(seconds[args.pythons[0]])
    head = "| Python, numpy | SGD s/iteration, 512 px: median (rounds) | ratio | best | ratio |"
    print(head + (" style distance | content distance |" if args.pictures else ""))
    print("|---" * (7 if args.pictures else 5) + "|")
    judge = quality.Judge() if args.pictures else None
    painting = images.resize_long_edge(images.read_image(STYLE), 512)
    for index, python in enumerate(args.pythons):
        median, best = statistics.median(seconds[python]), min(seconds[python])
        rounds = ", ".join(f"{s:.2f}" for s in seconds[python])
        row = f"| {versions(python)} | {median:.2f} ({rounds}) | {median / reference:.3f} | "
        row += f"{best:.2f} | {best / fastest:.3f} |"
        if judge is not None:
            out = work / f"default_{index}.jpg"
            argv = [python, "run.py", "--model", "vgg16", "--gpu", "-1", "--quiet"]
            argv += ["--save-epochs", "0", "--output", str(out)]
            subprocess.run(argv, cwd=ROOT, check=True)
            photo = images.read_image(CONTENT)
            measured = judge.measure(images.read_image(out), photo, painting)
            row += f" {measured['style_distance']:.4f} | {measured['content_distance']:.4f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
