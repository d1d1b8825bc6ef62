#!/usr/bin/env python3
"""The gallery's figure of issue 32's judging at equal time, on the judging pairs the project
may ship: Gram coarse to fine (the default then) beside ``--style-loss mixed`` (and ``w2``)
given its processor seconds (scikit-image's chelsea and rocket, public domain, with the
bundled mosaic and swirls; round four's Pont du Gard, a public-domain photo by Mimova, with
Van Gogh's The Langlois Bridge at Arles), and beside Gram at one scale, the default now
(round five's lemurs, a CC0 photo by Mathias Appel, with Van Gogh's The Painter on the Road
to Tarascon; Canyon de Chelly, a public-domain photo by Nikater, with his Harvest at La
Crau); the files in docs/pairs are from Debian's gcompris-qt-data 3.1-2.

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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.equaltime import file_name  # noqa: E402  (the pictures' names)

ROOT = Path(__file__).resolve().parents[1]
FIGURE = ROOT / "docs" / "default.jpg"
PAIRS_DIR = ROOT / "docs" / "pairs"
EARLIER = "gram:num_scales=3"  # the default before round five: coarse to fine from 128 px
# (photo: scikit-image's name or a file, painting, caption, the candidates judged)
PAIRS = [
    ("chelsea", ROOT / "input" / "mosaic.jpg", "chelsea, mosaic", (EARLIER, "mixed")),
    ("rocket", ROOT / "input" / "style.jpg", "rocket, swirls", (EARLIER, "mixed")),
    (PAIRS_DIR / "pont_du_gard.jpg", PAIRS_DIR / "langlois_bridge.jpg", "Pont du Gard, Langlois",
     (EARLIER, "w2", "mixed")),
    (PAIRS_DIR / "lemur.jpg", PAIRS_DIR / "painter_tarascon.jpg", "lemurs, Tarascon",
     (EARLIER, "gram")),
    (PAIRS_DIR / "canyon_de_chelly.jpg", PAIRS_DIR / "harvest_la_crau.jpg", "canyon, La Crau",
     (EARLIER, "gram")),
]  # fmt: skip
LABELS = {EARLIER: "Gram, 3 scales", "mixed": "mixed, same seconds", "w2": "W2, same seconds",
          "gram": "one scale (default), same s"}  # fmt: skip


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
        if not all((folder / f"{file_name(loss)}.png").exists() for loss in losses):
            command = [sys.executable, "-m", "bench.equaltime", "--work", str(work), "--size",
                       "512", "--losses", *losses, "--pairs", f"{content}:{painting}"]  # fmt: skip
            subprocess.run(command, check=True, cwd=ROOT)
        row = [(content, "photo"), (painting, "painting")]
        row += [(folder / f"{file_name(c)}.png", f"{caption}: {LABELS[c]}") for c in losses]
        rows.append(row)
    figure(rows).save(FIGURE, quality=90)


if __name__ == "__main__":
    main()
