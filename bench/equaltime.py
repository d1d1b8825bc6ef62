"""Style losses at equal time (issue 32): each candidate given the seconds the first took.

    .venv/bin/python -m bench.equaltime --work DIR --pairs PHOTO:PAINTING ... \
        [--losses gram mixed w2] [--size 512] [--free]

Per pair, in one process (the network loaded once): the first loss paints with the default
schedule and its time T is taken; each other loss then paints with the same defaults but is
stopped at the first epoch that ends after T seconds, or finishes sooner; stopped, its
picture is what it had, brought to the output's size if it was still at a coarser scale.
The seconds are the process's processor seconds: the machine is shared, and its other loads
would otherwise decide which loss got more. The library has no time budget: a callback that
raises after T is the honest stand-in.
Each picture is written as DIR/<photo>-<painting>/<loss>.png and measured
(``bench.quality``: style, content and W2 distances); one JSON line per picture, also
appended to DIR/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
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


class _TimeUp(Exception):
    """The budget's seconds passed: carries the picture the run had then."""

    def __init__(self, picture: np.ndarray, epoch: int, scale: tuple[int, int]):
        super().__init__()
        self.picture, self.epoch, self.scale = picture, epoch, scale


def paint_within(painter: Painter, photo: np.ndarray, budget: float | None) -> dict:
    """Paint ``photo``; stopped at the first epoch ending after ``budget`` seconds of the
    process's processor time."""

    def stop(it: Iterate) -> None:
        if budget is not None and time.process_time() - cpu >= budget:
            raise _TimeUp(it.picture(), it.epoch, it.scale)

    began, cpu = time.perf_counter(), time.process_time()
    try:
        result = painter.paint(photo, callback=stop)
        picture, epochs, finished, scale = result.image, result.epochs, True, None
    except _TimeUp as up:
        picture, epochs, finished, scale = up.picture, up.epoch, False, up.scale
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    return {"picture": picture, "cpu_seconds": round(cpu, 1), "seconds": round(seconds, 1),
            "epochs": epochs,
            "finished": finished, "stopped_at_scale": scale}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=pair, nargs="+", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--losses", nargs="+", default=["gram", "mixed"])
    parser.add_argument("--free", action="store_true", help="no budget: each runs to its end")
    parser.add_argument(
        "--budgets", type=Path, help="an earlier results.jsonl: each pair's budget from the last"
        " line of the pair there (then every loss given is stopped at it)",
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
        name = f"{photo_path.stem}-{painting_path.stem}"
        folder = args.work / name
        folder.mkdir(parents=True, exist_ok=True)
        photo, painting = images.read_image(photo_path), images.read_image(painting_path)
        reference = judge.against(photo, images.resize_long_edge(painting, args.size))
        budget = None
        if args.budgets:
            found = [json.loads(line) for line in args.budgets.read_text().splitlines()]
            budget = next(  # the last line of the pair: later runs win
                r["budget"] or r["cpu_seconds"] for r in reversed(found) if r["pair"] == name
            )
        for loss in args.losses:
            painter = Painter([painting], options.replace(style_loss=loss), weights=weights)
            found = paint_within(painter, photo, budget)
            budget = budget or (None if args.free else found["cpu_seconds"])
            picture = found.pop("picture")
            final = images.long_edge_shape(photo.shape, args.size)
            if picture.shape[:2] != tuple(final):
                picture = images.resize_to(picture, final)
            out = folder / f"{loss}.png"
            images.write_image(out, picture)
            record = {"pair": name, "loss": loss, "budget": budget, **found,
                      **reference.measure(images.read_image(out))}  # fmt: skip
            print(json.dumps(record), flush=True)
            with open(args.work / "results.jsonl", "a") as results:
                results.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
