#!/usr/bin/env python3
"""nstyle beside a PyTorch peer, on the same weights, images and objective: one command.

    make bench                      # makes .venv-bench (PyTorch) and runs this
    .venv/bin/python -m bench.compare --peer-python .venv-bench/bin/python [--quick]

Each measurement runs in a process of its own, the project's and the peer's alternating, so
both see the same machine; peak resident memory is each process's own. Reports, as Markdown:

1. agreement: the objective's value and gradient at the start image, both sides;
2. seconds per iteration of the first-order loop (forward, backward, clip, TV, update) at
   each long edge, and of L-BFGS at the default size; ratio project / PyTorch;
3. time to picture: nstyle's default run and its original SGD loop, each picture measured as
   written (``bench.quality``), against the time PyTorch's L-BFGS takes to a picture at least
   as good, on the project's sample pair and any ``--pair PHOTO PAINTING`` given.
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
from nstyle.config import Options
from nstyle.engine.memory import LBFGS_HISTORY, lbfgs_bytes
from nstyle.media import images
from nstyle.spec import conv_names
from nstyle.weights import obtain

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

GIB = 2.0**30
DEFAULTS = Options()


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


# The runs whose written pictures are timed against PyTorch's L-BFGS: nstyle's defaults and
# the original loop (Options fields as JSON).
PICTURE_RUNS = {"nstyle defaults": {}, "nstyle --optimizer sgd": {"optimizer": "sgd"}}


def pictures(sides: Sides, workdir: Path, pair: tuple[Path, Path], size: int, factor: float):
    """Time to picture on one pair: each nstyle run writes its picture (timed from the images
    in memory); PyTorch's L-BFGS runs for ``factor`` times the first (the defaults), at
    least 1.25 times the longest, keeping the
    image of every evaluation; every picture is measured as written (JPEG) by
    ``bench.quality``. Returns the numbers and the pictures for the figure."""
    from bench.quality import Judge, as_written, at_least_as_good

    folder = workdir / f"pair_{pair[0].stem}_{pair[1].stem}"
    folder.mkdir(exist_ok=True)
    data = export(folder, size, *pair)
    runs = {}
    for label, settings in PICTURE_RUNS.items():
        out = folder / f"{len(runs)}.jpg"
        runs[label] = sides.run(
            "nstyle", data, "picture", "--options", json.dumps(settings), "--out", str(out)
        )
        print(f"bench: {pair[0].name}: {label} {runs[label]['seconds']:.0f} s", file=sys.stderr)
    seconds = [r["seconds"] for r in runs.values()]
    budget = max(factor * seconds[0], 1.25 * max(seconds))
    frames = folder / "frames"
    frames.mkdir(exist_ok=True)
    trace = sides.run(
        "pytorch", data, "trace", "--seconds", f"{budget:.1f}", "--frames", str(frames)
    )["trace"]
    judge = Judge()
    reference = judge.against(
        images.read_image(pair[0]), images.resize_long_edge(images.read_image(pair[1]), size)
    )
    mean = judge.mean
    peer = []  # (seconds, quality, picture as written)
    for seconds, path in trace:
        picture = as_written(images.postprocess(np.load(path), mean))
        peer.append((seconds, reference.measure(picture), picture))
    result = {"pair": [pair[0].name, pair[1].name], "peer_seconds": budget, "runs": {}}
    shown = {}
    for label, run in runs.items():
        picture = images.read_image(run["path"])
        quality = reference.measure(picture)
        reached = next(((t, q, pic) for t, q, pic in peer if at_least_as_good(q, quality)), None)
        same_time, twice = (
            max((f for f in peer if f[0] <= t), key=lambda f: f[0], default=peer[0])
            for t in (run["seconds"], 2 * run["seconds"])
        )
        result["runs"][label] = {
            "seconds": run["seconds"],
            "epochs": run["epochs"],
            "quality": quality,
            "peer_reached": None if reached is None else reached[0],
            "peer_quality_reached": None if reached is None else reached[1],
            "peer_at_same_time": same_time[1],
            "peer_at_twice": twice[1] if twice[0] >= 1.9 * run["seconds"] else None,
        }
        shown[label] = (picture, same_time, reached, peer[-1])
    return result, shown


def figure(path: Path, label: str, seconds: float, shown) -> None:
    """nstyle's picture, PyTorch's at the same time, PyTorch's when it first matched it (or
    at the end of its run, when it never did)."""
    from PIL import Image, ImageDraw

    picture, same_time, reached, last = shown
    panels = [
        (picture, f"{label}: {seconds:.0f} s"),
        (same_time[2], f"PyTorch L-BFGS at {same_time[0]:.0f} s"),
    ]
    if reached is not None:
        panels.append((reached[2], f"PyTorch L-BFGS at {reached[0]:.0f} s: as good"))
    else:
        panels.append((last[2], f"PyTorch L-BFGS at {last[0]:.0f} s (its end): not as good"))
    h, w = picture.shape[:2]
    sheet = Image.new("RGB", (len(panels) * w + (len(panels) - 1) * 8, h + 28), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (image, caption) in enumerate(panels):
        sheet.paste(Image.fromarray(images.resize_to(image, (h, w))), (i * (w + 8), 28))
        draw.text((i * (w + 8) + 4, 8), caption, fill="black")
    images.write_image(path, np.asarray(sheet))


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
    if not results["sizes"]:
        return "\n".join([*lines, *picture_table(results["pictures"], results["picture_size"])])
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
    if results.get("pictures"):
        lines += ["", *picture_table(results["pictures"], results["picture_size"])]
    return "\n".join(lines)


def picture_table(pairs: list[dict], size: int) -> list[str]:
    """Per pair and run: nstyle's time and written picture's distances, PyTorch's time to
    a picture at least as good, and the ratio."""
    lines = [
        f"Time to picture at {size} px (distances of the written JPEG, lower is better; "
        "PyTorch: torch.optim.LBFGS with strong Wolfe, from the content image):",
        "",
        "| pair | run | nstyle time | style distance | content distance | "
        "PyTorch at that time (style, content) | PyTorch at twice that time | "
        "PyTorch time to as good | nstyle / PyTorch |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for pair in pairs:
        for label, r in pair["runs"].items():
            q, same, twice = r["quality"], r["peer_at_same_time"], r["peer_at_twice"]
            reached = r["peer_reached"]
            ratio = (
                f"**{r['seconds'] / reached:.2f}**"
                if reached
                else f"**< {r['seconds'] / pair['peer_seconds']:.2f}**"
            )
            lines.append(
                f"| {' / '.join(pair['pair'])} | {label} | {r['seconds']:.0f} s ({r['epochs']} "
                f"epochs) | {q['style_distance']:.3f} | {q['content_distance']:.3f} | "
                f"{same['style_distance']:.3f}, {same['content_distance']:.3f} | "
                + (
                    f"{twice['style_distance']:.3f}, {twice['content_distance']:.3f} | "
                    if twice
                    else "- | "
                )
                + (f"{reached:.0f} s" if reached else f"not in {pair['peer_seconds']:.0f} s")
                + f" | {ratio} |"
            )
    return lines


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
        lbfgs = slope + lbfgs_bytes(LBFGS_HISTORY, 3)  # L-BFGS's float64 history per pixel
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer-python", default=str(ROOT / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--sizes", type=int, nargs="*", default=[256, 512, 1024])
    parser.add_argument("--lbfgs-sizes", type=int, nargs="*", default=[512])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--picture-size", type=int, default=512, help="time to picture at this size (0: skip)"
    )
    parser.add_argument(
        "--pair",
        nargs=2,
        type=Path,
        action="append",
        metavar=("PHOTO", "PAINTING"),
        help="another pair for the time to picture (besides the project's samples)",
    )
    parser.add_argument(
        "--peer-factor",
        type=float,
        default=3.0,
        help="PyTorch's L-BFGS runs this many times nstyle's default run (at least 1.25"
        " times the longest run)",
    )
    parser.add_argument("--figures", type=Path, help="write the side-by-side pictures here")
    parser.add_argument(
        "--only-pictures", action="store_true", help="time to picture only (no per-size timing)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="256 and 512 px, 2 rounds, no time to picture"
    )
    parser.add_argument("--json", type=Path, help="also write every number here")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.rounds, args.picture_size = [256, 512], 2, 0
    if args.only_pictures:
        args.sizes = []
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
        if args.picture_size:
            results["picture_size"] = args.picture_size
            results["pictures"] = []
            for pair in [(content, style), *(args.pair or [])]:
                numbers, shown = pictures(sides, workdir, pair, args.picture_size, args.peer_factor)
                results["pictures"].append(numbers)
                for i, (label, panels) in enumerate(shown.items()):
                    if args.figures:
                        args.figures.mkdir(parents=True, exist_ok=True)
                        name = f"time_to_picture_{pair[0].stem}_{pair[1].stem}_{i}.jpg"
                        seconds = numbers["runs"][label]["seconds"]
                        figure(args.figures / name, label, seconds, panels)
    results["seconds"] = time.perf_counter() - begin
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(markdown(results))
    print(f"\n(bench took {results['seconds'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
