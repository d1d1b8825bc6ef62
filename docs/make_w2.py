#!/usr/bin/env python3
"""The gallery's Gram against Wasserstein-2 figure (issue 25): bundled photos, each painted
with the default settings and each ``--style-loss``, side by side.

    .venv/bin/python docs/make_w2.py [--work DIR]       # docs/w2.jpg

The photos are the bundled astronaut and scikit-image's coffee cup (public domain, shipped
with scikit-image); the paintings the bundled swirls and mosaic. Each picture is made by
the command line (``run.py --model vgg16``, 512 px); a picture already in DIR (default
/tmp/nstyle-w2) is not made again.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "input"
FIGURE = ROOT / "docs" / "w2.jpg"
# (photo, painting, caption)
PAIRS = [
    ("content.jpg", "style.jpg", "astronaut, swirls"),
    ("content.jpg", "mosaic.jpg", "astronaut, mosaic"),
    ("coffee.png", "style.jpg", "coffee, swirls"),
]
LOSSES = {"gram": "Gram (the original)", "w2": "Wasserstein-2"}


def photo(name: str, work: Path) -> Path:
    """A bundled photo, or scikit-image's coffee written to ``work``."""
    if (INPUT / name).exists():
        return INPUT / name
    from skimage import data

    path = work / name
    if not path.exists():
        Image.fromarray(data.coffee()).save(path)
    return path


def paint(content: Path, painting: Path, loss: str, out: Path) -> None:
    if out.exists():
        return
    command = [sys.executable, str(ROOT / "run.py"), "--model", "vgg16", "--gpu", "-1",
               "--content-image", str(content), "--style-image", str(painting),
               "--style-loss", loss, "--save-epochs", "0", "--quiet", "--seed", "0",
               "--output", str(out)]  # fmt: skip
    subprocess.run(command, check=True)


def figure(rows: list[list[tuple[Path, str]]], size: int = 300) -> Image.Image:
    columns = max(len(row) for row in rows)
    canvas = Image.new("RGB", (columns * (size + 6), len(rows) * (size + 28)), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row in enumerate(rows):
        for c, (path, caption) in enumerate(row):
            picture = Image.open(path).convert("RGB")
            picture.thumbnail((size, size), Image.LANCZOS)
            x, y = c * (size + 6), r * (size + 28)
            canvas.paste(picture, (x, y))
            draw.text((x + 2, y + size + 6), caption, fill="black")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/nstyle-w2"))
    work = parser.parse_args().work
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for photo_name, painting_name, caption in PAIRS:
        content, painting = photo(photo_name, work), INPUT / painting_name
        row = [(content, "photo"), (painting, "painting")]
        for loss, label in LOSSES.items():
            out = work / f"{content.stem}-{painting.stem}-{loss}.png"
            paint(content, painting, loss, out)
            row.append((out, f"{caption}: {label}"))
        rows.append(row)
    figure(rows).save(FIGURE, quality=90)


if __name__ == "__main__":
    main()
