#!/usr/bin/env python3
"""Make the pictures in docs/ from the bundled samples, with the project's own CLI.

    .venv/bin/python docs/make_figures.py [--work DIR] [--only result]

Runs (skipping a run whose result is already in DIR, default /tmp/nstyle-figures):
  default:  run.py --model vgg16                  (the defaults, 512 px)
  original: run.py --model vgg16 --style-loss gram --optimizer sgd --init noise
            --content-weight 10 --stop-eps 0.005 --stop-window 1 --min-num-epochs 1
            --max-num-epochs 1000 --num-scales 1 --remove-noise 0.02 --max-long-edge 512
                                                  (the original example's defaults)
and writes docs/result_512.jpg (content | style | default result) and docs/before_after.jpg
(original defaults | new defaults), each run's log beside its result in DIR; ``--only
result``: only docs/result_512.jpg (the default run alone; the original's 1000 SGD epochs
take a quarter of an hour).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "default": [],
    "original": [
        "--style-loss",
        "gram",
        "--optimizer",
        "sgd",
        "--init",
        "noise",
        "--content-weight",
        "10",
        "--stop-eps",
        "0.005",
        "--stop-window",
        "1",
        "--min-num-epochs",
        "1",
        "--max-num-epochs",
        "1000",
        "--num-scales",
        "1",
        "--remove-noise",
        "0.02",
    ],
}


def run(name: str, work: Path) -> Path:
    out = work / name / "out.jpg"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            str(ROOT / "run.py"),
            "--model",
            "vgg16",
            "--gpu",
            "-1",
            "--max-long-edge",
            "512",
            "--output",
            str(out),
            *RUNS[name],
        ]
        with open(work / name / "log.txt", "w") as log:
            subprocess.run(cmd, check=True, stderr=subprocess.STDOUT, stdout=log)
    return out


def strip(paths, height=384, gap=6) -> Image.Image:
    """Images side by side at one height, on white."""
    images = [Image.open(p).convert("RGB") for p in paths]
    images = [
        im.resize((round(im.width * height / im.height), height), Image.LANCZOS) for im in images
    ]
    canvas = Image.new(
        "RGB", (sum(im.width for im in images) + gap * (len(images) - 1), height), "white"
    )
    x = 0
    for im in images:
        canvas.paste(im, (x, 0))
        x += im.width + gap
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/nstyle-figures"))
    parser.add_argument("--only", choices=("result",), help="only docs/result_512.jpg")
    args = parser.parse_args()
    done = {name: run(name, args.work) for name in RUNS if not args.only or name == "default"}
    strip([ROOT / "input" / "content.jpg", ROOT / "input" / "style.jpg", done["default"]]).save(
        ROOT / "docs" / "result_512.jpg", quality=90
    )
    if args.only:
        print("wrote docs/result_512.jpg")
        return
    strip([done["original"], done["default"]]).save(ROOT / "docs" / "before_after.jpg", quality=90)
    print("wrote docs/result_512.jpg and docs/before_after.jpg")


if __name__ == "__main__":
    main()
