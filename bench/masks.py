#!/usr/bin/env python3
"""Spatial control measured (issue 24): two paintings on two halves, a protected half, and
what masks cost per epoch.

    .venv/bin/python -m bench.masks --photo PHOTO --paintings A B [--size 512] [--figures DIR]

- Two halves: the left half painted after A, the right after B (masks feathered over
  ``--feather`` px). Each half's style distance (``bench.quality``, on that half) to its own
  painting and to the other: the own one should be at least 30% smaller.
- A protected half: only the right half painted after A. The left half, more than 32 px
  from the seam and the border, against the photo (mean absolute difference, grey levels);
  the right half's style distance against an unmasked run's on the same area.
- Cost: seconds per evaluation of the loss and gradient at ``--size``, unmasked and with
  two regions, alternating, the median of ``--rounds``.

The runs use nstyle's defaults (L-BFGS, coarse to fine) at ``--size`` and the real VGG-16.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import nstyle

# isort: split
import mxnet as mx
import numpy as np

from bench.quality import Judge
from nstyle.engine import guides
from nstyle.engine.objective import LossExecutor
from nstyle.engine.scale import style_targets
from nstyle.engine.terms import Network
from nstyle.media import images
from nstyle.spec import CONTENT_LAYERS, STYLE_LAYERS
from nstyle.weights import obtain

INSIDE = 32  # px from the seam and the border where "kept" is measured


def halves(shape, feather: int) -> tuple[np.ndarray, np.ndarray]:
    """Left and right masks (H, W) in 0..1, a linear ramp of ``feather`` px at the seam."""
    w = shape[1]
    ramp = np.clip((np.arange(w) - (w / 2 - feather / 2)) / max(feather, 1), 0, 1)
    right = np.broadcast_to(ramp.astype(np.float32), shape[:2]).copy()
    return 1 - right, right


def style_distance(judge: Judge, picture: np.ndarray, painting: np.ndarray) -> float:
    return judge.measure(picture, picture, painting)["style_distance"]


def pictures(args, weights) -> dict:
    """The four runs: two halves, protected, unmasked; and their measures."""
    photo = images.resize_long_edge(images.read_image(args.photo), args.size)
    a, b = (images.read_image(p) for p in args.paintings)
    left, right = halves(photo.shape, args.feather)
    run = dict(weights=weights, max_long_edge=args.size, seed=0)
    found = {
        "two halves": nstyle.stylize(photo, [a, b], masks=[left, right], **run),
        "protected": nstyle.stylize(photo, a, masks=[right], **run),
        "unmasked": nstyle.stylize(photo, a, **run),
    }
    judge, w = Judge(weights), photo.shape[1]
    side = (w - args.feather) // 2  # each half without the ramp
    a_m, b_m = (images.resize_long_edge(p, args.size) for p in (a, b))
    two = found["two halves"]
    left_half, right_half = two[:, :side], two[:, w - side :]
    measures = {
        "left to A (own)": style_distance(judge, left_half, a_m),
        "left to B": style_distance(judge, left_half, b_m),
        "right to B (own)": style_distance(judge, right_half, b_m),
        "right to A": style_distance(judge, right_half, a_m),
    }
    kept = found["protected"][INSIDE:-INSIDE, INSIDE : side - INSIDE].astype(float)
    measures["protected: kept, grey levels"] = float(
        np.abs(kept - photo[INSIDE:-INSIDE, INSIDE : side - INSIDE]).mean()
    )
    measures["protected: painted half's style distance"] = style_distance(
        judge, found["protected"][:, w - side :], a_m
    )
    measures["unmasked: that half's style distance"] = style_distance(
        judge, found["unmasked"][:, w - side :], a_m
    )
    if args.figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        for name, picture in found.items():
            images.write_image(args.figures / f"masks_{name.replace(' ', '_')}.jpg", picture)
        for name, mask in (("left", left), ("right", right)):
            images.write_image(args.figures / f"masks_{name}.png", (mask * 255).astype(np.uint8))
    return measures


def cost(args, weights) -> dict:
    """Seconds per loss-and-gradient evaluation, unmasked and with two regions."""
    net = Network.build(
        weights.network_params, 16, STYLE_LAYERS, CONTENT_LAYERS, "avg", mx.cpu(),
        weights.channels,
    )  # fmt: skip
    mean = weights.convention.mean_pixel
    photo = images.preprocess(
        images.resize_long_edge(images.read_image(args.photo), args.size), mean
    )
    painting = images.preprocess(
        images.resize_long_edge(images.read_image(args.paintings[0]), args.size), mean
    )
    content = {k: v for k, v in net.targets(photo).items() if "content" in k}
    left, right = halves(photo.shape[2:], args.feather)
    regions = guides.regions([left, right], [0.5, 0.5])
    variants = {
        "unmasked": ({**style_targets(net, [painting], [1.0], photo.shape), **content}, 0),
        "two regions": (
            {**guides.region_targets(net, [painting] * 2, regions, photo.shape), **content},
            2,
        ),
    }
    losses = {
        name: LossExecutor(net, targets, mx.nd.array(photo), 1.0, 20.0, regions=count)
        for name, (targets, count) in variants.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in losses}
    for round_ in range(args.rounds):
        order = list(losses) if round_ % 2 == 0 else list(losses)[::-1]
        for name in order:
            loss = losses[name]
            loss.step()
            loss.grad.wait_to_read()
            start = time.perf_counter()
            for _ in range(args.iters):
                loss.step()
            loss.grad.wait_to_read()
            seconds[name].append((time.perf_counter() - start) / args.iters)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        **{f"{name}: s per evaluation": m for name, m in medians.items()},
        "ratio": medians["two regions"] / medians["unmasked"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", type=Path, default=Path("input/content.jpg"))
    parser.add_argument("--paintings", type=Path, nargs=2, required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--feather", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--figures", type=Path, help="write the pictures and masks here")
    parser.add_argument("--only", choices=("pictures", "cost"))
    args = parser.parse_args()
    weights = obtain("vgg16")
    if args.only != "cost":
        print(json.dumps(pictures(args, weights)))
    if args.only != "pictures":
        print(json.dumps(cost(args, weights)))


if __name__ == "__main__":
    main()
