"""Video (issue 14): flicker with and without the temporal term, and the time per frame.

    .venv/bin/python -m bench.video [--edge 256] [--frames 6] [--gif docs/video.gif]
        [--style-loss gram] [--clips pan]

Two clips made from the bundled photo, painted in the bundled painting's style frame by
frame (``api.Painter.paint_frame``), once with ``--temporal-weight 0`` (each frame on its
own) and once with each weight given:

* a *pan*: a window sliding 2% of the edge a frame, whose motion is known exactly; the
  flicker is the warping error (``nstyle.media.flow.warping_error``) under that motion;
* a *zoom*: the photo zooming in about a point while a square cut from elsewhere in it
  slides across (things appear and disappear: occlusions); its motion is measured by DIS
  flow on the input frames, and the warping error of the painted frames uses those flows.

A consistent sequence scores 0; the input clips' own scores are printed as the floor.
Markdown goes to standard output; ``--gif`` writes the pan, input | weight 0 | default.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import numpy as np

from nstyle.api import Painter, load_weights
from nstyle.config import Options
from nstyle.media import flow as temporal
from nstyle.media import images

ROOT = Path(__file__).resolve().parents[1]


def pan(photo: np.ndarray, edge: int, count: int):
    """Frames of a camera panning left (the scene moves right by ``step`` px a frame) and
    the pan's exact (forward, backward) flows."""
    step = max(1, round(0.02 * edge))
    y0, x0 = (photo.shape[0] - edge) // 2, (photo.shape[1] - edge) // 2 + step * count // 2
    frames = [
        np.ascontiguousarray(photo[y0 : y0 + edge, x0 - step * t : x0 - step * t + edge])
        for t in range(count)
    ]
    forward = np.zeros((edge, edge, 2), np.float32)
    forward[..., 0] = step
    return frames, [(forward, -forward)] * (count - 1)


def zoom(photo: np.ndarray, edge: int, count: int):
    """Frames zooming in 3% a frame about a point off centre, with a square patch of the
    photo's other side sliding across; flows from DIS on these frames."""
    import cv2

    h, w = photo.shape[:2]
    centre = (0.45 * w, 0.4 * h)
    side = edge // 4
    patch = photo[h - side - 4 : h - 4, 4 : 4 + side]
    frames = []
    for t in range(count):
        matrix = cv2.getRotationMatrix2D(centre, 0.0, 1.0 + 0.03 * t)
        matrix[:, 2] += (edge / 2 - centre[0], edge / 2 - centre[1])
        frame = cv2.warpAffine(photo, matrix, (edge, edge), flags=cv2.INTER_LINEAR)
        x = round(edge * 0.1 + t * edge * 0.05)
        frame[edge - side - edge // 8 : edge - edge // 8, x : x + side] = patch
        frames.append(np.ascontiguousarray(frame))
    return frames, temporal.flows_between(frames)


def paint(painter: Painter, frames: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    """The painted frames, each from the previous one's result, and seconds per frame."""
    styled: list[np.ndarray] = []
    began = time.perf_counter()
    for i, frame in enumerate(frames):
        previous = (frames[i - 1], styled[-1]) if i else (None, None)
        styled.append(painter.paint_frame(frame, *previous).image)
    return styled, (time.perf_counter() - began) / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edge", type=int, default=256)
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--weights", type=float, nargs="+", default=[Options().temporal_weight])
    parser.add_argument("--gif", default=None, help="write the pan here (input | 0 | default)")
    parser.add_argument("--style-loss", default=Options().style_loss)
    parser.add_argument("--clips", nargs="+", default=["pan", "zoom"], choices=("pan", "zoom"))
    args = parser.parse_args()
    options = Options(model="vgg16", max_long_edge=args.edge, style_loss=args.style_loss)
    weights = load_weights(options)
    photo = images.resize_long_edge(images.read_image(ROOT / "input/content.jpg"), 2 * args.edge)
    style = images.read_image(ROOT / "input/style.jpg")
    print(
        f"| clip ({args.frames} frames of {args.edge} px) | --temporal-weight | warping error "
        "| vs weight 0 | s/frame | vs weight 0 |"
    )
    print("|---|---|---|---|---|---|")
    kept = {}
    clips = {"pan": ("pan (exact motion)", pan), "zoom": ("zoom + sliding patch (DIS)", zoom)}
    for name, make in (clips[c] for c in args.clips):
        frames, flows = make(photo, args.edge, args.frames)
        floor = temporal.warping_error(frames, flows)
        print(f"| {name}: the input frames | | {floor:.1f} | | | |", flush=True)
        base = None
        for weight in [0.0, *args.weights]:
            painter = Painter([style], options.replace(temporal_weight=weight), weights=weights)
            styled, seconds = paint(painter, frames)
            error = temporal.warping_error(styled, flows)
            base = base or (error, seconds)
            print(
                f"| {name} | {weight:g} | {error:.1f} | {error / base[0]:.2f}x | {seconds:.1f} "
                f"| {seconds / base[1]:.2f}x |",
                flush=True,
            )
            if name.startswith("pan"):
                kept[weight] = (frames, styled)
    if args.gif:
        frames, alone = kept[0.0]
        tied = kept[args.weights[0]][1]
        strips = [np.concatenate(row, axis=1) for row in zip(frames, alone, tied)]
        from PIL import Image

        pictures = [Image.fromarray(s) for s in strips]
        pictures[0].save(args.gif, save_all=True, append_images=pictures[1:], duration=250, loop=0)


if __name__ == "__main__":
    main()
