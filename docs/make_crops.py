#!/usr/bin/env python3
"""Crops of a big picture at full resolution, beside the whole picture scaled down.

    .venv/bin/python docs/make_crops.py BIG.jpg [--out docs/big_4096.jpg] [--crop 512]

Writes one figure: the whole picture scaled to the crops' height with the crop boxes drawn
in, then each crop at 100% (one pixel of the picture is one pixel of the figure). The
crops' centres are fractions of the picture (``CENTRES``): a face, an edge, a flat area.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CENTRES = [(0.36, 0.24), (0.80, 0.30), (0.50, 0.84)]  # (x, y): the face, the rocket, the suit
GAP = 8


def figure(picture: Image.Image, size: int) -> Image.Image:
    width, height = picture.size
    boxes = []
    for fx, fy in CENTRES:
        x0 = min(max(0, round(fx * width) - size // 2), width - size)
        y0 = min(max(0, round(fy * height) - size // 2), height - size)
        boxes.append((x0, y0, x0 + size, y0 + size))
    scale = size / height
    overview = picture.resize((round(width * scale), size), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(overview)
    for box in boxes:
        draw.rectangle([round(v * scale) for v in box], outline=(255, 255, 255), width=2)
    out = Image.new("RGB", (overview.width + len(boxes) * (size + GAP), size), (255, 255, 255))
    out.paste(overview, (0, 0))
    for i, box in enumerate(boxes):
        out.paste(picture.crop(box), (overview.width + GAP + i * (size + GAP), 0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("picture", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "big_4096.jpg")
    parser.add_argument("--crop", type=int, default=512)
    args = parser.parse_args()
    Image.MAX_IMAGE_PIXELS = None  # our own picture, up to 8192 px square
    with Image.open(args.picture) as picture:
        figure(picture.convert("RGB"), args.crop).save(args.out, quality=90)
    print(args.out)


if __name__ == "__main__":
    main()
