"""Style losses at equal time (issue 32): each candidate's picture at the seconds the first
took, and its own time to a finished picture, from one run per loss.

    .venv/bin/python -m bench.equaltime --work DIR --pairs PHOTO:PAINTING ... \
        [--losses gram mixed w2] [--size 512] [--free]

Per pair, in one process (the network loaded once): the first loss paints with the default
schedule and its time T is taken; each other loss then paints with the same defaults, its
picture snapshotted at the first epoch that ends after T seconds (what a user given T
seconds would have: brought to the output's size if it was still at a coarser scale), and
keeps painting to its own end, so the same run also gives its time to picture and the
ratio to the first's (the issue's 1.1x), with the epochs and seconds of each scale (where
a stop rule lets a loss run longer). ``--free``: no T, each loss only to its end.
The seconds are the process's processor seconds: the machine is shared, and its other loads
would otherwise decide which loss got more; wall seconds are recorded beside them. The
library has no time budget: a callback that copies the picture after T is the honest
stand-in.
Each picture at T is written as DIR/<photo>-<painting>/<loss>.png, a finished one that
differs from it as <loss>_end.png, each measured (``bench.quality``: style, content and W2
distances); one JSON line per loss, also appended to DIR/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import numpy as np

from bench.quality import Judge
from bench.styleloss import pair
from nstyle.api import Painter, load_weights
from nstyle.config import Options
from nstyle.engine import objective
from nstyle.engine.painter import Iterate
from nstyle.media import images


class Watch:
    """The callback of one run: each scale's epochs and processor seconds so far (from the
    previous scale's last epoch: its setup counts), and the picture, epoch and scale at the
    first epoch that ends after ``budget`` processor seconds (None: no snapshot)."""

    def __init__(self, budget: float | None):
        self.budget = budget
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        self.scales: list[dict] = []
        self.snapshot: dict | None = None
        self.last = 0.0  # the processor seconds at the last epoch's end

    def seconds(self) -> tuple[float, float]:
        """(processor, wall) seconds since the run began."""
        return time.process_time() - self.cpu, time.perf_counter() - self.wall

    def __call__(self, it: Iterate) -> None:
        cpu, wall = self.seconds()
        if len(self.scales) < it.scale[0]:
            self.scales.append({"scale": it.scale[0], "epochs": 0, "began_cpu": self.last})
        scale = self.scales[-1]
        scale["epochs"] += 1
        scale["cpu_seconds"] = round(cpu - scale["began_cpu"], 1)
        self.last = cpu
        if self.snapshot is None and self.budget is not None and cpu >= self.budget:
            self.snapshot = {"picture": it.picture(), "cpu_seconds": round(cpu, 1),
                             "seconds": round(wall, 1), "epochs": it.epoch,
                             "finished": False, "stopped_at_scale": it.scale}  # fmt: skip


def paint_within(painter: Painter, photo: np.ndarray, budget: float | None) -> dict:
    """Paint ``photo`` to the end. "picture" and its seconds and epochs are the picture at
    the first epoch ending after ``budget`` seconds of the process's processor time (the
    finished one when none does: "finished"); "end" is the run to its end: its picture,
    processor and wall seconds, epochs, and each scale's epochs and processor seconds."""
    watch = Watch(budget)
    result = painter.paint(photo, callback=watch)
    cpu, wall = watch.seconds()
    scales = [{k: v for k, v in s.items() if k != "began_cpu"} for s in watch.scales]
    end = {"picture": result.image, "cpu_seconds": round(cpu, 1), "seconds": round(wall, 1),
           "epochs": result.epochs, "scales": scales}  # fmt: skip
    at = watch.snapshot or {
        "picture": result.image, "cpu_seconds": end["cpu_seconds"], "seconds": end["seconds"],
        "epochs": result.epochs, "finished": True, "stopped_at_scale": None,
    }  # fmt: skip
    return {**at, "end": end}


def write_measured(path: Path, picture: np.ndarray, size: int, photo_shape, reference) -> dict:
    """Write ``picture`` at the output's size (a run stopped at a coarser scale: upsampled)
    to ``path``; its three distances."""
    final = images.long_edge_shape(photo_shape, size)
    if picture.shape[:2] != tuple(final):
        picture = images.resize_to(picture, final)
    images.write_image(path, picture)
    return reference.measure(images.read_image(path))


def candidate(text: str) -> tuple[str, dict]:
    """A candidate's style loss and option changes: ``gram`` or ``gram:num_scales=1,...``
    (values read as JSON where they parse, else as text)."""
    loss, _, rest = text.partition(":")
    changes = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            changes[key] = json.loads(value)
        except json.JSONDecodeError:
            changes[key] = value
    return loss, changes


def file_name(text: str) -> str:
    """A candidate's pictures' file stem: ``gram:num_scales=1`` -> ``gram_num_scales1``."""
    return text.replace(":", "_").replace(",", "_").replace("=", "")


def paint_pair(args, options: Options, weights, judge: Judge, photo_path: Path,
               painting_path: Path) -> Iterator[dict]:  # fmt: skip
    """The record of each of one pair's losses as it ends (the first's processor seconds,
    or ``--budgets``', are the others' budget and the denominator of their time ratios)."""
    name = f"{photo_path.stem}-{painting_path.stem}"
    folder = args.work / name
    folder.mkdir(parents=True, exist_ok=True)
    photo, painting = images.read_image(photo_path), images.read_image(painting_path)
    reference = judge.against(photo, images.resize_long_edge(painting, args.size))
    budget, first = None, None
    if args.budgets:
        found = [json.loads(line) for line in args.budgets.read_text().splitlines()]
        budget = next(  # the last line of the pair: later runs win
            r["budget"] or r["cpu_seconds"] for r in reversed(found) if r["pair"] == name
        )
    for loss in args.losses:
        style_loss, changes = candidate(loss)
        painter = Painter([painting], options.replace(style_loss=style_loss, **changes),
                          weights=weights)  # fmt: skip
        found = paint_within(painter, photo, budget)
        end = found.pop("end")
        first = first or end
        budget = budget or (None if args.free else found["cpu_seconds"])
        stem = file_name(loss)
        at = write_measured(folder / f"{stem}.png", found.pop("picture"), args.size,
                            photo.shape, reference)  # fmt: skip
        final = end.pop("picture")
        end.update(at if found["finished"] else write_measured(
            folder / f"{stem}_end.png", final, args.size, photo.shape, reference))  # fmt: skip
        end["cpu_ratio"] = round(end["cpu_seconds"] / (budget or first["cpu_seconds"]), 3)
        end["wall_ratio"] = None if args.budgets else round(end["seconds"] / first["seconds"], 3)
        yield {"pair": name, "loss": loss, "budget": budget, **found, **at, "end": end}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=pair, nargs="+", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument(
        "--losses", nargs="+", default=["gram", "mixed"],
        help="candidates: a style loss, optionally with option changes (gram:num_scales=1)",
    )  # fmt: skip
    parser.add_argument("--free", action="store_true", help="no budget: each runs to its end")
    parser.add_argument(
        "--budgets", type=Path, help="an earlier results.jsonl: each pair's budget from the last"
        " line of the pair there (then every loss given is snapshotted at it)",
    )  # fmt: skip
    parser.add_argument("--content-weight", type=float, default=Options().content_weight)
    parser.add_argument(
        "--mixed-channels", type=int, default=objective.MIXED_W2_CHANNELS,
        help="mixed: W2 on layers of at most this many channels",
    )  # fmt: skip
    args = parser.parse_args()
    objective.MIXED_W2_CHANNELS = args.mixed_channels
    options = Options(
        model="vgg16", max_long_edge=args.size, seed=0, content_weight=args.content_weight
    )
    weights = load_weights(options)
    judge = Judge(weights)
    for photo_path, painting_path in args.pairs:
        for record in paint_pair(args, options, weights, judge, photo_path, painting_path):
            print(json.dumps(record), flush=True)
            with open(args.work / "results.jsonl", "a") as results:
                results.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
