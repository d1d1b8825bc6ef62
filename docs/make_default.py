#!/usr/bin/env python3
"""The gallery's figure of issue 32's judging at equal time: Gram (the default) beside
``--style-loss mixed`` given Gram's processor seconds, on the judging pairs the project may
ship (scikit-image's chelsea and rocket, public domain; the bundled mosaic and swirls).

    .venv/bin/python docs/make_default.py [--work DIR]      # docs/default.jpg

The pictures are made by ``bench.equaltime`` (512 px; a pair already in DIR, default
/tmp/nstyle-default, is not made again); the figure uses ``make_w2``'s layout.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_w2 import figure  # noqa: E402  (the same layout as the W2 figure)

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "default.jpg"
PAIRS = [("chelsea", "mosaic.jpg", "chelsea, mosaic"), ("rocket", "style.jpg", "rocket, swirls")]
LOSSES = {"gram": "Gram (default)", "mixed": "mixed, same seconds"}


def photo(name: str, work: Path) -> Path:
    """scikit-image's photo ``name`` written to ``work``."""
    from skimage import data

    path = work / f"{name}.png"
    if not path.exists():
        Image.fromarray(getattr(data, name)()).save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/nstyle-default"))
    work = parser.parse_args().work
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, painting_name, caption in PAIRS:
        content, painting = photo(name, work), ROOT / "input" / painting_name
        folder = work / f"{content.stem}-{painting.stem}"
        if not all((folder / f"{loss}.png").exists() for loss in LOSSES):
            command = [sys.executable, "-m", "bench.equaltime", "--work", str(work), "--size",
                       "512", "--losses", *LOSSES, "--pairs", f"{content}:{painting}"]  # fmt: skip
            subprocess.run(command, check=True, cwd=ROOT)
        row = [(content, "photo"), (painting, "painting")]
        row += [(folder / f"{loss}.png", f"{caption}: {label}") for loss, label in LOSSES.items()]
        rows.append(row)
    figure(rows).save(FIGURE, quality=90)


if __name__ == "__main__":
    main()
