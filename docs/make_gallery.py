#!/usr/bin/env python3
"""The gallery: the bundled photo through several styles and options, at 512 px, on the
real Keras VGG-16, each run through the project's own CLI with a CSV log.

    .venv/bin/python docs/make_gallery.py [--work DIR]

Writes docs/gallery.jpg and docs/GALLERY.md (a table of epochs, wall time and the final
objective per run). A run whose result is already in DIR (default /tmp/nstyle-gallery) is
not run again.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "input"
# name: (caption, extra flags); every run also gets --max-num-epochs 150.
RUNS = {
    "sgd": ("swirls, --optimizer sgd (the original loop)", ["--optimizer", "sgd"]),
    "adam": ("swirls, --optimizer adam", ["--optimizer", "adam"]),
    "lbfgs": ("swirls, defaults (lbfgs)", ["--optimizer", "lbfgs"]),
    "mosaic": (
        "mosaic, --optimizer sgd",
        ["--style-image", str(INPUT / "mosaic.jpg"), "--optimizer", "sgd"],
    ),
    "blend": (
        "swirls + mosaic, blend 1 1",
        ["--style-image", str(INPUT / "style.jpg"), str(INPUT / "mosaic.jpg")],
    ),
    "colors": (
        "swirls, --preserve-colors --match-luminance",
        ["--preserve-colors", "--match-luminance"],
    ),
    "scale": ("swirls, --style-scale 2", ["--style-scale", "2"]),
}


def run(name: str, work: Path) -> dict:
    folder = work / name
    out, log = folder / "out.jpg", folder / "losses.csv"
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            str(ROOT / "run.py"),
            "--model",
            "vgg16",
            "--gpu",
            "-1",
            "--max-long-edge",
            "512",
            "--max-num-epochs",
            "150",
            "--output",
            str(out),
            "--log",
            str(log),
            "--save-epochs",
            "0",
            *RUNS[name][1],
        ]
        start = time.perf_counter()
        with open(folder / "log.txt", "w") as text:
            subprocess.run(cmd, check=True, stderr=subprocess.STDOUT, stdout=text)
        (folder / "wall.txt").write_text(f"{time.perf_counter() - start:.1f}\n")
    rows = list(csv.DictReader(open(log)))
    return {
        "name": name,
        "out": out,
        "epochs": int(rows[-1]["epoch"]),
        "seconds": float(rows[-1]["seconds"]),
        "wall": float((folder / "wall.txt").read_text()),
        "total": float(rows[-1]["total"]),
        "rows": rows,
    }


def grid(results, columns=4, size=300) -> Image.Image:
    tiles = [(INPUT / "content.jpg", "photo")] + [(r["out"], RUNS[r["name"]][0]) for r in results]
    rows = -(-len(tiles) // columns)
    canvas = Image.new("RGB", (columns * (size + 6), rows * (size + 28)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (path, caption) in enumerate(tiles):
        picture = Image.open(path).convert("RGB")
        picture.thumbnail((size, size), Image.LANCZOS)
        x, y = (i % columns) * (size + 6), (i // columns) * (size + 28)
        canvas.paste(picture, (x, y))
        draw.text((x + 2, y + size + 6), caption, fill="black")
    return canvas


def seconds_to_reach(rows, target: float) -> float | None:
    for row in rows:
        if float(row["total"]) <= target:
            return float(row["seconds"])
    return None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/nstyle-gallery"))
    work = parser.parse_args().work
    results = [run(name, work) for name in RUNS]
    grid(results).save(ROOT / "docs" / "gallery.jpg", quality=90)
    sgd = next(r for r in results if r["name"] == "sgd")
    lines = [
        "| run | epochs | optimisation (s) | whole command (s) | final objective | "
        "seconds to reach sgd's final objective |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:  # only the optimisers share one objective
        reach = (
            seconds_to_reach(r["rows"], sgd["total"])
            if r["name"] in ("sgd", "adam", "lbfgs")
            else None
        )
        lines.append(
            f"| {RUNS[r['name']][0]} | {r['epochs']} | {r['seconds']:.0f} | "
            f"{r['wall']:.0f} | {r['total']:.3g} | "
            f"{'-' if reach is None else f'{reach:.0f}'} |"
        )
    table = "\n".join(lines)
    (ROOT / "docs" / "GALLERY.md").write_text(
        "# Gallery\n\n![gallery](gallery.jpg)\n\nThe bundled photo at 512 px on the real Keras "
        "VGG-16, 2-core CPU, made by `.venv/bin/python docs/make_gallery.py` (each run: "
        "`run.py --model vgg16 --max-long-edge 512 --max-num-epochs 150` plus its flags). "
        "The objective is the weighted style plus content loss of the last epoch (lower is "
        "closer to both targets; it is comparable between the three optimisers, which share "
        "the swirl style, not between styles). The last column is when a run's objective "
        "first fell to the value the SGD run ended with. The machine is shared and noisy: "
        "treat differences under 20% as noise.\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
