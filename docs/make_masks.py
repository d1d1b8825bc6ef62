#!/usr/bin/env python3
"""The README's spatial-control figure: the bundled photo's subject mask, then the
background painted with the person kept, and two paintings, one per region.

    .venv/bin/python docs/make_masks.py        # docs/mask_subject.png, docs/masks.jpg

The subject mask is OpenCV's GrabCut from a rectangle around the astronaut, feathered by a
Gaussian blur so that no seam shows where the regions meet; the background's mask is its
complement. Each picture is made by the command line (``run.py --model vgg16``).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
PHOTO, SWIRLS, MOSAIC = (ROOT / "input" / n for n in ("content.jpg", "style.jpg", "mosaic.jpg"))
SUBJECT = ROOT / "docs" / "mask_subject.png"
FIGURE = ROOT / "docs" / "masks.jpg"
FEATHER = 6.0  # px, the Gaussian's sigma at the photo's 512 px


def subject_mask(photo: np.ndarray) -> np.ndarray:
    """The person, white on black (uint8), feathered."""
    import cv2

    h, w = photo.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    rect = (int(0.02 * w), 0, int(0.62 * w), h - 1)  # the astronaut, not the shuttle
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(
        np.ascontiguousarray(photo[..., ::-1]), mask, rect, background, foreground, 8,
        cv2.GC_INIT_WITH_RECT,
    )  # fmt: skip
    person = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    return np.round(cv2.GaussianBlur(person, (0, 0), FEATHER) * 255).astype(np.uint8)


def paint(out: Path, *flags: str) -> None:
    command = [sys.executable, str(ROOT / "run.py"), "--model", "vgg16", "--gpu", "-1"]
    command += ["--content-image", str(PHOTO), "--save-epochs", "0", "--quiet", "--seed", "0"]
    subprocess.run([*command, *flags, "--output", str(out)], check=True)


def main() -> None:
    photo = np.asarray(Image.open(PHOTO).convert("RGB"))
    subject = subject_mask(photo)
    Image.fromarray(subject).save(SUBJECT)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        background = work / "background.png"
        Image.fromarray(255 - subject).save(background)
        kept, two = work / "kept.png", work / "two.png"
        paint(kept, "--style-image", str(SWIRLS), "--content-mask", str(background))
        paint(
            two, "--style-image", str(SWIRLS), str(MOSAIC),
            "--content-mask", str(background), str(SUBJECT),
        )  # fmt: skip
        panels = [
            Image.open(PHOTO).convert("RGB"),
            Image.fromarray(subject).convert("RGB"),
            Image.open(kept).convert("RGB"),
            Image.open(two).convert("RGB"),
        ]
    labels = [
        "photo",
        "--content-mask (person)",
        "background swirls, person kept",
        "swirls + mosaic",
    ]
    size = 384
    figure = Image.new("RGB", (size * len(panels), size + 28), "white")
    draw = ImageDraw.Draw(figure)
    for i, (panel, label) in enumerate(zip(panels, labels)):
        figure.paste(panel.resize((size, size), Image.LANCZOS), (i * size, 28))
        draw.text((i * size + 8, 8), label, fill="black")
    figure.save(FIGURE, quality=90)


if __name__ == "__main__":
    main()
