#!/usr/bin/env python3
"""The gallery's figure of issue 32's judging at equal time: Gram (the default) beside
``--style-loss mixed`` (and ``w2``) given Gram's processor seconds, on the judging pairs the
project may ship (scikit-image's chelsea and rocket, public domain, with the bundled mosaic
and swirls; round four's Pont du Gard, a public-domain photo by Mimova, with Van Gogh's The
Langlois Bridge at Arles, both in docs/pairs from Debian's gcompris-qt-data 3.1-2).

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
PAIRS_DIR = ROOT / "docs" / "pairs"
# (photo: scikit-image's name or a file, painting, caption, the losses judged)
PAIRS = [
    ("chelsea", ROOT / "input" / "mosaic.jpg", "chelsea, mosaic", ("gram", "mixed")),
    ("rocket", ROOT / "input" / "style.jpg", "rocket, swirls", ("gram", "mixed")),
    (PAIRS_DIR / "pont_du_gard.jpg", PAIRS_DIR / "langlois_bridge.jpg", "Pont du Gard, Langlois",
     ("gram", "w2", "mixed")),
]  # fmt: skip
LABELS = {"gram": "Gram (default)", "mixed": "mixed, same seconds", "w2": "W2, same seconds"}


def photo(name: str | Path, work: Path) -> Path:
    """The photo file, or scikit-image's photo ``name`` written to ``work``."""
    from skimage import data

    if isinstance(name, Path):
        return name
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
    for name, painting, caption, losses in PAIRS:
        content = photo(name, work)
        folder = work / f"{content.stem}-{painting.stem}"
        if not all((folder / f"{loss}.png").exists() for loss in losses):
            command = [sys.executable, "-m", "bench.equaltime", "--work", str(work), "--size",
                       "512", "--losses", *losses, "--pairs", f"{content}:{painting}"]  # fmt: skip
            subprocess.run(command, check=True, cwd=ROOT)
        row = [(content, "photo"), (painting, "painting")]
        row += [(folder / f"{loss}.png", f"{caption}: {LABELS[loss]}") for loss in losses]
        rows.append(row)
    figure(rows).save(FIGURE, quality=90)


if __name__ == "__main__":
    main()
