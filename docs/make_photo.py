#!/usr/bin/env python3
"""The README's photo-to-photo figure: a photo, the photograph whose look it takes, and
``--photo``'s result, all from pictures the project may ship (the bundled photo and
scikit-image's coffee).

    .venv/bin/python docs/make_photo.py        # docs/photo.jpg

The result is made by the command line (``run.py --photo --model vgg16``), no segmentation:
the whole picture is one region.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "input" / "content.jpg"
FIGURE = ROOT / "docs" / "photo.jpg"
EDGE = 400  # px, the result's long edge
PANEL = 300  # px, each panel's height in the figure


def main() -> None:
    from skimage import data

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        reference, result = work / "coffee.png", work / "result.png"
        Image.fromarray(data.coffee()).save(reference)
        command = [sys.executable, str(ROOT / "run.py"), "--photo", "--model", "vgg16"]
        command += ["--gpu", "-1", "--content-image", str(PHOTO), "--style-image", str(reference)]
        command += ["--max-long-edge", str(EDGE), "--save-epochs", "0", "--quiet"]
        subprocess.run([*command, "--output", str(result)], check=True)
        panels = [Image.open(p).convert("RGB") for p in (PHOTO, reference, result)]
        panels = [p.resize((round(p.width * PANEL / p.height), PANEL)) for p in panels]
    gap = 8
    width = sum(p.width for p in panels) + gap * (len(panels) - 1)
    figure = Image.new("RGB", (width, PANEL), "white")
    x = 0
    for panel in panels:
        figure.paste(panel, (x, 0))
        x += panel.width + gap
    figure.save(FIGURE, quality=90)
    print(FIGURE, np.asarray(figure).shape)


if __name__ == "__main__":
    main()
