"""Why one style loss runs more epochs than another (issue 32): at each stop-rule window's
end on the coarse scales, the picture's net change per epoch over the window (what
``nstyle.engine.stop`` compares with ``--stop-eps``) and the objective over its value at the
window's start.

    .venv/bin/python -m bench.stopwindows PHOTO PAINTING [--size 512] [--losses gram mixed]

Each loss paints at the default schedule (VGG-16, seed 0) and is stopped when the finest
scale begins; one line per window end: loss, scale, epoch within the scale, change, fall.
The windows here start at each scale's epoch 1 (the rule's first starts at epoch 0), and
the callback's reads add host synchronisations: for the epochs' story, not for timing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import numpy as np

from nstyle.api import Painter, load_weights
from nstyle.config import Options
from nstyle.engine.painter import Iterate
from nstyle.media import images


class _Finest(Exception):
    """The finest scale began: the coarse scales' windows are all measured."""


def windows(painter: Painter, photo: np.ndarray, window: int) -> list[tuple]:
    """(scale, epoch, change per epoch, objective / the window's first) at each window's end
    of each scale but the finest."""
    rows: list[tuple] = []
    state: dict = {}

    def watch(it: Iterate) -> None:
        if it.scale[0] == it.scale[1]:
            raise _Finest
        if state.get("scale") != it.scale[0]:
            state.update(scale=it.scale[0], k=0, anchor=None)
        state["k"] += 1
        if state["k"] == 1 or state["k"] % window == 0:
            x, objective = it.image.asnumpy(), sum(it.losses.values())
            if state["anchor"] is not None:
                epochs = state["k"] - state["at"]
                change = np.linalg.norm(x - state["anchor"]) / (np.linalg.norm(x) * epochs)
                rows.append((it.scale[0], state["k"], float(change), objective / state["f"]))
            state.update(anchor=x, at=state["k"], f=objective)

    try:
        painter.paint(photo, callback=watch)
    except _Finest:
        pass
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photo", type=Path)
    parser.add_argument("painting", type=Path)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--losses", nargs="+", default=["gram", "mixed"])
    args = parser.parse_args()
    options = Options(model="vgg16", max_long_edge=args.size, seed=0)
    weights = load_weights(options)
    photo, painting = images.read_image(args.photo), images.read_image(args.painting)
    for loss in args.losses:
        painter = Painter([painting], options.replace(style_loss=loss), weights=weights)
        for scale, epoch, change, fall in windows(painter, photo, options.stop_window):
            print(f"{loss} scale {scale} epoch {epoch:3d}: change per epoch {change:.4f}, "
                  f"objective / window start {fall:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
