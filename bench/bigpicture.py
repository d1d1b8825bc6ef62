"""Big pictures (issue 13): tiled against untiled on the real VGG-16, and time and peak
memory against size, with and without a cap, beside the memory model's prediction.

    .venv/bin/python -m bench.bigpicture agree            # value and gradient, tiled vs not
    .venv/bin/python -m bench.bigpicture table [SIZES]    # one command-line run per row

Each table row is a real ``run.py`` at one scale (``--num-scales 1``, Adam: one evaluation
per epoch), its resident memory polled every 0.1 s by pid (psutil); the prediction is the
plan line the run printed before its work. Markdown goes to standard output.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import mxnet as mx
import numpy as np
import psutil

from nstyle.engine.objective import LossExecutor
from nstyle.engine.terms import Network
from nstyle.engine.tiles import TiledLoss
from nstyle.media import images
from nstyle.spec import CONTENT_LAYERS, STYLE_LAYERS
from nstyle.weights import obtain

ROOT = Path(__file__).resolve().parents[1]
GIB = 2.0**30
ROWS = [
    (512, None),
    (1024, None),
    (1024, 4),
    (2048, None),
    (2048, 8),
    (2048, 4),
    (4096, None),
    (4096, 8),
]


def agree(edge: int = 512, tile: int = 128) -> list[str]:
    """Relative differences of the objective and its gradient, tiled vs whole, float32 and
    float64, at ``edge`` px on the bundled photo and painting."""
    weights = obtain("vgg16")
    mean = weights.convention.mean_pixel
    photo = images.preprocess(
        images.resize_long_edge(images.read_image(ROOT / "input/content.jpg"), edge), mean
    )
    painting = images.preprocess(
        images.resize_long_edge(images.read_image(ROOT / "input/style.jpg"), edge), mean
    )
    lines = [
        "| precision | tiles | objective, relative difference | gradient, relative L2 "
        "difference | largest element difference / largest element |",
        "|---|---|---|---|---|",
    ]
    for dtype in ("float32", "float64"):
        net = Network.build(
            weights.network_params,
            16,
            STYLE_LAYERS,
            CONTENT_LAYERS,
            "avg",
            mx.cpu(),
            weights.channels,
            dtype,
        )
        targets = {k: v for k, v in net.targets(painting).items() if "gram" in k}
        targets.update({k: v for k, v in net.targets(photo).items() if "content" in k})
        x = photo + np.random.default_rng(0).normal(0, 20, photo.shape)  # away from the photo
        whole = LossExecutor(net, targets, mx.nd.array(x, dtype=dtype), 1.0, 20.0)
        whole.step()
        tiled = TiledLoss(net, targets, mx.nd.array(x, dtype=dtype), tile, 1.0, 20.0)
        tiled.step()
        v0, v1 = sum(whole.weighted_losses().values()), sum(tiled.weighted_losses().values())
        g0, g1 = whole.grad.asnumpy().astype(np.float64), tiled.grad.asnumpy().astype(np.float64)
        lines.append(
            f"| {dtype} | {len(tiled.plan.tiles)} of {tile} px + {tiled.plan.margin} px | "
            f"{abs(v1 - v0) / abs(v0):.1e} | {np.linalg.norm(g1 - g0) / np.linalg.norm(g0):.1e} | "
            f"{np.abs(g1 - g0).max() / np.abs(g0).max():.1e} |"
        )
    return lines


def run(edge: int, cap: float | None, epochs: int, folder: Path) -> dict:
    """One command-line run at ``edge`` px: its plan line, seconds per epoch after the first,
    wall time and the peak resident memory of its process."""
    log = folder / f"log_{edge}_{cap}.csv"
    command = [sys.executable, "run.py", "--model", "vgg16", "--num-scales", "1"]
    command += ["--max-long-edge", str(edge), "--optimizer", "adam"]
    command += ["--max-num-epochs", str(epochs), "--min-num-epochs", str(epochs)]
    command += ["--save-epochs", "0", "--print-every", "1", "--log", str(log)]
    command += ["--output", str(folder / f"out_{edge}.jpg")]
    command += [] if cap is None else ["--max-memory", str(cap)]
    began = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    stderr = process.stderr.read() if process.stderr else ""
    wall = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{stderr}")
    plan = re.search(r"memory plan \(cap ([\d.]+) GiB.*?\): (.*)", stderr)
    with open(log) as f:
        seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
    return {
        "edge": edge,
        "cap": cap,
        "cap_used": float(plan.group(1)) if plan else float("nan"),
        "plan": plan.group(2) if plan else "",
        "per_epoch": (seconds[-1] - seconds[0]) / (len(seconds) - 1),
        "first": seconds[0],
        "wall": wall,
        "peak": peak,
    }


def table(rows, epochs: int) -> list[str]:
    lines = [
        "| long edge | --max-memory | plan (the run's own line) | s/epoch | first epoch at "
        "| wall | peak RSS | predicted |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as folder:
        for edge, cap in rows:
            r = run(edge, cap, epochs, Path(folder))
            predicted = re.search(r"about ([\d.]+) GiB$", r["plan"])
            how = re.sub(r", about [\d.]+ GiB$", "", r["plan"])
            given = cap if cap is not None else f"none ({r['cap_used']:.1f})"
            lines.append(
                f"| {edge} | {given} | {how} | {r['per_epoch']:.1f} | {r['first']:.0f} s | "
                f"{r['wall']:.0f} s | {r['peak'] / GIB:.2f} GiB | "
                f"{predicted.group(1) if predicted else '?'} GiB |"
            )
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=("agree", "table"))
    parser.add_argument("--rows", nargs="*", default=None, help="EDGE or EDGE:CAP, e.g. 2048:8")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if args.task == "agree":
        print("\n".join(agree()))
        return
    rows = ROWS
    if args.rows:
        rows = [
            (int(r.split(":")[0]), float(r.split(":")[1]) if ":" in r else None) for r in args.rows
        ]
    print("\n".join(table(rows, args.epochs)))


if __name__ == "__main__":
    main()
