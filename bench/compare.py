#!/usr/bin/env python3
"""nstyle beside a PyTorch peer, on the same weights, images and objective: one command.

    make bench                      # makes .venv-bench (PyTorch) and runs this
    .venv/bin/python -m bench.compare --peer-python .venv-bench/bin/python [--quick]

Each measurement runs in a process of its own, the project's and the peer's alternating, so
both see the same machine; peak resident memory is each process's own. Reports, as Markdown:

1. agreement: the objective's value and gradient at the start image, both sides;
2. seconds per iteration of the first-order loop (forward, backward, clip, TV, update) at
   each long edge, and of L-BFGS at the default size; ratio project / PyTorch;
3. time to reach fixed quality levels: nstyle's defaults (L-BFGS) against torch.optim.LBFGS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import numpy as np

from bench import exchange
from nstyle import images
from nstyle.config import Options
from nstyle.optimize import host_bytes
from nstyle.spec import conv_names
from nstyle.weights import obtain

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

GIB = 2.0**30
DEFAULTS = Options()
# Style + content loss as a fraction of its value at the start (the content image): the
# quality levels whose first arrival is timed.
LEVELS = (0.1, 0.03, 0.01, 0.005)
# The peer's L-BFGS: PyTorch's default (no line search), and with its strong-Wolfe search.
PEER_LBFGS = {
    "torch.optim.LBFGS": [],
    "torch.optim.LBFGS, strong Wolfe": ["--line-search", "strong_wolfe"],
}


def export(workdir: Path, size: int, content_path: Path, style_path: Path) -> Path:
    """The folded VGG-16 weights and the preprocessed images at ``size``, for both sides
    (written once per size and work folder)."""
    path = workdir / f"data_{size}.npz"
    if path.exists():
        return path
    weights = obtain("vgg16")
    names = [f"{conv}_{kind}" for conv in conv_names(16) for kind in ("weight", "bias")]
    mean = weights.convention.mean_pixel
    content = images.resize_long_edge(images.read_image(content_path), size)
    style = images.resize_long_edge(images.read_image(style_path), size)
    settings = {
        "size": size,
        "style_weight": DEFAULTS.style_weight,
        "content_weight": DEFAULTS.content_weight,
        "tv_weight": DEFAULTS.tv_weight,
    }
    exchange.write(
        path,
        images.preprocess(content, mean),
        images.preprocess(style, mean),
        content,
        style,
        settings,
        weights.network_params(names),
    )
    return path


class Sides:
    """Runs a task on either side, each in a fresh process; returns its JSON."""

    def __init__(self, peer_python: str, threads: int):
        self.commands = {
            "nstyle": [sys.executable, "-m", "bench.project"],
            "pytorch": [peer_python, "-m", "bench.peer_torch", "--threads", str(threads)],
        }

    def run(self, side: str, data: Path, task: str, *extra: str) -> dict:
        command = self.commands[side] + ["--data", str(data), "--task", task, *extra]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.exit(f"bench: {side} {task} failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(sides: Sides, data: Path, workdir: Path) -> dict:
    grads, values = {}, {}
    for side in sides.commands:
        out = workdir / f"grad_{side}.npy"
        values[side] = sides.run(side, data, "check", "--grad-out", str(out))["value"]
        grads[side] = np.load(out).astype(np.float64)
    a, b = grads["nstyle"], grads["pytorch"]
    return {
        "value_nstyle": values["nstyle"],
        "value_pytorch": values["pytorch"],
        "value_rel": abs(values["nstyle"] - values["pytorch"]) / abs(values["pytorch"]),
        "grad_rel": float(np.linalg.norm(a - b) / np.linalg.norm(b)),
    }


def timed(sides: Sides, data: Path, task: str, iters: int, rounds: int) -> dict:
    """Median seconds per iteration over ``rounds`` runs of each side, alternating which
    side goes first; the largest peak RSS of each side's runs."""
    seconds = {side: [] for side in sides.commands}
    rss = {side: 0 for side in sides.commands}
    evaluations = {side: [] for side in sides.commands}
    order = list(sides.commands)
    for round_ in range(rounds):
        for side in order if round_ % 2 == 0 else order[::-1]:
            result = sides.run(side, data, task, "--iters", str(iters))
            seconds[side].append(result["seconds"])
            evaluations[side].append(result["evaluations"] / iters)
            rss[side] = max(rss[side], result["peak_rss"])
    return {
        "seconds": seconds,
        "median": {s: statistics.median(v) for s, v in seconds.items()},
        "peak_rss": rss,
        "evaluations": {s: max(v) for s, v in evaluations.items()},
    }


def first_below(trace, level: float) -> float | None:
    return next((t for t, value in trace if value <= level), None)


def quality(sides: Sides, data: Path, iters: int) -> dict:
    """nstyle's default run to its stop rule; each PyTorch L-BFGS until it reaches the
    lowest level or has run ``iters`` iterations."""
    traces = {"nstyle": sides.run("nstyle", data, "quality")["trace"]}
    start = sides.run("nstyle", data, "check", "--grad-out", str(data.parent / "start.npy"))[
        "losses"
    ]  # style + content at the start
    for name, extra in PEER_LBFGS.items():
        traces[name] = sides.run(
            "pytorch",
            data,
            "quality",
            "--iters",
            str(iters),
            "--stop-below",
            str(min(LEVELS) * start),
            *extra,
        )["trace"]
    return {
        "start": start,
        "traces": traces,
        "times": {
            side: {level: first_below(trace, level * start) for level in LEVELS}
            for side, trace in traces.items()
        },
        "iterations": {side: len(trace) for side, trace in traces.items()},
    }


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return f"{model}, {len(os.sched_getaffinity(0))} cores, {memory:.0f} GiB, {platform.system()}"


def markdown(results: dict) -> str:
    lines = [
        f"Machine: {results['machine']}; MXNet {results['mxnet']}, PyTorch "
        f"{results['torch']}, {results['threads']} threads each.",
        "",
    ]
    lines += [
        "| long edge | image | check: value diff | check: gradient diff |",
        "|---|---|---|---|",
    ]
    for size, r in results["sizes"].items():
        a = r["agreement"]
        lines.append(f"| {size} | {r['shape']} | {a['value_rel']:.1e} | {a['grad_rel']:.1e} |")
    lines += [
        "",
        "| seconds per | long edge | nstyle | PyTorch | nstyle / PyTorch | "
        "nstyle peak RSS | PyTorch peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, r in results["sizes"].items():
        for task, t in r["timed"].items():
            m, rss, e = t["median"], t["peak_rss"], t["evaluations"]
            what = (
                "iteration, first-order loop"
                if task == "sgd"
                else f"evaluation, L-BFGS ({e['nstyle']:.2f} and {e['pytorch']:.2f} per iteration)"
            )
            lines.append(
                f"| {what} | {size} | {m['nstyle']:.3f} | {m['pytorch']:.3f} | "
                f"**{m['nstyle'] / m['pytorch']:.2f}** | {rss['nstyle'] / GIB:.2f} GiB | "
                f"{rss['pytorch'] / GIB:.2f} GiB |"
            )
    lines += ["", *growth(results)] if results["sizes"] else []
    q = results.get("quality")
    if q:
        peers = list(PEER_LBFGS)
        lines += [
            "",
            f"Time to quality at {q['size']} px: seconds until the style + content "
            "loss is at most a fraction of the content image's (nstyle: "
            f"{q['iterations']['nstyle']} iterations to its stop rule; PyTorch: "
            f"{q['iterations'][peers[0]]} and {q['iterations'][peers[1]]} evaluations):",
            "",
            "| level | nstyle defaults (L-BFGS) | "
            + " | ".join(peers)
            + " | nstyle / best PyTorch |",
            "|---|---|---|---|---|",
        ]
        for level in LEVELS:
            a = q["times"]["nstyle"][level]
            others = [q["times"][p][level] for p in peers]
            best = min((b for b in others if b), default=None)
            ratio = f"{a / best:.2f}" if a and best else "-"
            lines.append(
                f"| {level:g} | {fmt(a)} | " + " | ".join(map(fmt, others)) + f" | {ratio} |"
            )
    return "\n".join(lines)


def growth(results: dict) -> list[str]:
    """Seconds and peak memory per megapixel at each size (first-order loop), and the
    largest square image whose fitted memory fits the budget nstyle's own check allows."""
    rows, pixels, rss = [], [], []
    for size, r in results["sizes"].items():
        w, h = map(int, r["shape"].split("x"))
        t = r["timed"]["sgd"]
        mpx = w * h / 1e6
        pixels.append(w * h)
        rss.append(t["peak_rss"]["nstyle"])
        rows.append(
            f"| {size} | {mpx:.3f} | {t['median']['nstyle'] / mpx:.2f} | "
            f"{t['peak_rss']['nstyle'] / GIB:.2f} GiB | "
            f"{t['peak_rss']['nstyle'] / GIB / mpx:.2f} GiB |"
        )
    lines = [
        "Cost growth, nstyle's first-order loop:",
        "",
        "| long edge | megapixels | s/iter per megapixel | peak RSS | peak RSS per megapixel |",
        "|---|---|---|---|---|",
        *rows,
    ]
    if len(pixels) >= 2:
        slope, base = np.polyfit(pixels, rss, 1)  # bytes = base + slope * pixels
        budget = 0.9 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        lbfgs = slope + host_bytes("lbfgs", 3)  # L-BFGS's float64 history per pixel
        lines += [
            "",
            f"Fitted peak RSS: {base / GIB:.2f} GiB + {slope / 1024:.2f} KiB per pixel; "
            f"with L-BFGS's history {lbfgs / 1024:.2f} KiB per pixel. Largest square "
            f"image within {budget / GIB:.1f} GiB (90% of this machine's memory, the "
            f"budget nstyle's memory check allows): "
            f"{int(((budget - base) / slope) ** 0.5)} px with sgd or adam, "
            f"{int(((budget - base) / lbfgs) ** 0.5)} px with L-BFGS.",
        ]
    return lines


def fmt(seconds: float | None) -> str:
    return "not reached" if seconds is None else f"{seconds:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024])
    parser.add_argument("--lbfgs-sizes", type=int, nargs="*", default=[512])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quality-size", type=int, default=512, help="0: skip")
    parser.add_argument(
        "--quality-iters", type=int, default=80, help="iterations of the peer's L-BFGS"
    )
    parser.add_argument(
        "--quick", action="store_true", help="256 and 512 px, 2 rounds, no time-to-quality"
    )
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.rounds, args.quality_size = [256, 512], 2, 0
    threads = int(os.environ["OMP_NUM_THREADS"])  # set by nstyle.runtime unless given
    sides = Sides(args.peer_python, threads)
    content, style = ROOT / "input" / "content.jpg", ROOT / "input" / "style.jpg"
    import mxnet as mx

    results = {
        "machine": machine(),
        "mxnet": mx.__version__,
        "threads": threads,
        "sizes": {},
        "torch": subprocess.run(
            [args.peer_python, "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
    }
    begin = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nstyle-bench-") as tmp:
        workdir = Path(tmp)
        for size in args.sizes:
            data = export(workdir, size, content, style)
            shape = np.load(data)["content"].shape
            r = results["sizes"][size] = {"shape": f"{shape[3]}x{shape[2]}"}
            r["agreement"] = agreement(sides, data, workdir)
            iters = {256: 10, 512: 5}.get(size, 3)
            r["timed"] = {"sgd": timed(sides, data, "sgd", iters, args.rounds)}
            if size in args.lbfgs_sizes:
                r["timed"]["lbfgs"] = timed(sides, data, "lbfgs", iters, args.rounds)
            print(f"bench: {size} px done, {time.perf_counter() - begin:.0f} s", file=sys.stderr)
        if args.quality_size:
            data = export(workdir, args.quality_size, content, style)
            results["quality"] = dict(
                quality(sides, data, args.quality_iters), size=args.quality_size
            )
    results["seconds"] = time.perf_counter() - begin
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    print(f"\n(bench took {results['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
