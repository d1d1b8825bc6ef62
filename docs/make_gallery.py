#!/usr/bin/env python3
"""The gallery: the bundled photo through several styles and options, with the default
settings (512 px) on the real Keras VGG-16, each run through the project's own CLI with a
CSV log.

    .venv/bin/python docs/make_gallery.py [--work DIR]

Writes docs/gallery.jpg and docs/GALLERY.md (epochs, wall time and the written picture's
style and content distances, measured by ``bench.quality``, per run). A run whose result is
already in DIR (default /tmp/nstyle-gallery) is not run again.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "input"
# name: (caption, extra flags); every run otherwise has the default settings.
RUNS = {
    "sgd": ("swirls, --optimizer sgd (the original loop)", ["--optimizer", "sgd"]),
    "adam": ("swirls, --optimizer adam", ["--optimizer", "adam"]),
    "lbfgs": ("swirls, defaults (lbfgs)", ["--optimizer", "lbfgs"]),
    "mosaic": ("mosaic", ["--style-image", str(INPUT / "mosaic.jpg")]),
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
            "--output",
            str(out),
            "--log",
            str(log),
            "--save-epochs",
            "0",
            "--style-loss",  # made before W2 became the default: the gallery of the Gram loss
            "gram",
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


def quality(result: dict) -> dict:
    """The written picture's distances (``bench.quality``) to the photo and to the run's
    first painting at the picture's size."""
    flags = RUNS[result["name"]][1]
    painting = next((a for a in flags if a.endswith(".jpg")), str(INPUT / "style.jpg"))
    command = [sys.executable, "-m", "bench.quality", str(result["out"])]
    command += ["--content", str(INPUT / "content.jpg"), "--style", painting]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/nstyle-gallery"))
    work = parser.parse_args().work
    results = [run(name, work) for name in RUNS]
    grid(results).save(ROOT / "docs" / "gallery.jpg", quality=90)
    lines = [
        "| run | epochs | optimisation (s) | whole command (s) | style distance | "
        "content distance |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        q = quality(r)
        lines.append(
            f"| {RUNS[r['name']][0]} | {r['epochs']} | {r['seconds']:.0f} | "
            f"{r['wall']:.0f} | {q['style_distance']:.3f} | {q['content_distance']:.3f} |"
        )
    table = "\n".join(lines)
    (ROOT / "docs" / "GALLERY.md").write_text(
        "# Gallery\n\n![gallery](gallery.jpg)\n\nThe bundled photo with the default settings "
        "but the Gram loss (`--style-loss gram`, the original's; 512 px, coarse to fine from "
        "128 px) on the real Keras VGG-16, 2-core CPU, made by "
        "`.venv/bin/python docs/make_gallery.py` (each run: `run.py --model vgg16` plus its "
        "flags). The distances are those of the written picture (`bench.quality`, "
        "docs/BENCHMARKS.md): the style distance to the run's first painting at the "
        "picture's size, the content distance to the photo; lower is closer. It measures "
        "the objective of the first four runs; the last three optimise another one (a "
        "blend of two paintings, the luminance only, the painting at twice the size), so "
        "their style distance to the swirls at 512 px is higher by design. The machine is "
        "shared and noisy: treat time differences under 20% as noise.\n\n" + table + "\n"
    )
    print(table)


if __name__ == "__main__":
    main()
