#!/usr/bin/env python3
"""Make the bundled sample images, so that every picture the project ships is its own.

* ``content.jpg``: scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain).
* ``style.jpg``: a painting made here: short, thick brush strokes that follow a swirling
  flow field, in a night-sky palette with glowing yellow stars.
* ``mosaic.jpg``: a warm stained-glass mosaic made here.

    python input/make_samples.py        # rewrites the three images
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
SIZE = (640, 480)  # width, height of the painting


def flow(x: np.ndarray, y: np.ndarray, vortices) -> tuple[np.ndarray, np.ndarray]:
    """A wind blowing right, plus swirls around each (cx, cy, strength, radius)."""
    u, v = np.ones_like(x) * 0.6, 0.15 * np.sin(x / 60.0)
    for cx, cy, strength, radius in vortices:
        dx, dy = x - cx, y - cy
        fall = strength * np.exp(-(dx**2 + dy**2) / (2 * radius**2))
        u, v = u - dy / radius * fall, v + dx / radius * fall
    norm = np.hypot(u, v) + 1e-9
    return u / norm, v / norm


def paint_style(seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = SIZE
    canvas = Image.new("RGB", SIZE, (20, 40, 90))
    draw = ImageDraw.Draw(canvas)
    vortices = [
        (200, 170, 2.5, 70),
        (420, 120, -2.0, 60),
        (520, 300, 1.8, 80),
        (120, 360, -1.5, 60),
        (330, 380, 2.2, 70),
    ]
    stars = [(cx, cy) for cx, cy, *_ in vortices] + [(600, 60), (60, 80), (300, 60)]
    sky = np.array(
        [
            [14, 32, 96],
            [32, 72, 160],
            [60, 110, 190],
            [90, 150, 200],
            [20, 50, 120],
            [150, 190, 210],
        ],
        float,
    )
    glow = np.array([[250, 220, 90], [240, 190, 60], [255, 240, 150], [230, 150, 40]], float)
    for layer, (count, width, length) in enumerate([(9000, 7, 16), (9000, 4, 10)]):
        for _ in range(count):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            star = min(np.hypot(x - sx, y - sy) for sx, sy in stars)
            if star < 35 + 10 * layer and rng.random() < 0.85:
                colour = glow[rng.integers(len(glow))]
            else:
                colour = sky[rng.integers(len(sky))] * (0.8 + 0.3 * (1 - y / h))
            colour = np.clip(colour * rng.uniform(0.8, 1.2), 0, 255).astype(int)
            points = [(x, y)]
            for _ in range(int(length)):
                u, v = flow(np.array(x), np.array(y), vortices)
                x, y = x + 2.0 * float(u), y + 2.0 * float(v)
                points.append((x, y))
            draw.line(points, fill=tuple(colour), width=width, joint="curve")
            # a dark edge on one side of the stroke, as thick paint casts
            draw.line(
                [(px + 1.5, py + 1.5) for px, py in points[::2]],
                fill=tuple((colour * 0.55).astype(int)),
                width=1,
            )
    return canvas.filter(ImageFilter.SMOOTH)


def paint_mosaic(seed: int = 11, cells: int = 900) -> Image.Image:
    """A second style: a warm stained-glass mosaic, cells of flat colour with dark leading."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    w, h = SIZE
    seeds = rng.uniform((0, 0), (w, h), (cells, 2))
    y, x = np.mgrid[0:h, 0:w]
    distances, labels = cKDTree(seeds).query(np.stack([x.ravel(), y.ravel()], 1), k=2)
    palette = np.array(
        [
            [200, 40, 30],
            [240, 140, 20],
            [250, 210, 60],
            [120, 20, 60],
            [30, 110, 90],
            [240, 230, 200],
            [170, 70, 20],
        ],
        float,
    )
    colours = palette[rng.integers(len(palette), size=cells)] * rng.uniform(0.8, 1.1, (cells, 1))
    image = colours[labels[:, 0]].reshape(h, w, 3)
    edge = (distances[:, 1] - distances[:, 0]).reshape(h, w) < 2.5  # near a cell border
    image[edge] = (25, 15, 10)
    image += rng.normal(0, 6, image.shape)  # the glass is not flat
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH)


def main() -> None:
    from skimage import data

    Image.fromarray(data.astronaut()).save(HERE / "content.jpg", quality=92)
    paint_style().save(HERE / "style.jpg", quality=92)
    paint_mosaic().save(HERE / "mosaic.jpg", quality=92)
    print(f"wrote content.jpg, style.jpg and mosaic.jpg in {HERE}")


if __name__ == "__main__":
    main()
