"""A batch's check before painting (issue 31): each photo's writability from its header
(``read_source``) against decoding every pixel (``read_photo``), each followed by
``writing.check_encodable``, on ``--count`` photos of 4000 x 3000 (the bundled photo
enlarged, an ICC profile and EXIF embedded) in a temporary folder.

    .venv/bin/python -m bench.header_check [--count 20]

The best of 3 passes for each; Markdown goes to standard output.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from PIL import Image

from nstyle.media import colour, images, writing

ROOT = Path(__file__).resolve().parents[1]


def photos(folder: Path, count: int) -> list[Path]:
    """``count`` 12 MP JPEGs with the sRGB profile, a camera and a date."""
    base = Image.open(ROOT / "input/content.jpg").convert("RGB").resize((4000, 3000))
    exif = Image.Exif()
    exif[0x0110], exif[0x0132] = "Camera", "2024:01:01 12:00:00"
    paths = [folder / f"IMG_{i:02d}.jpg" for i in range(count)]
    for path in paths:
        base.save(path, quality=92, icc_profile=colour.srgb_profile(), exif=exif)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=20)
    count = parser.parse_args().count
    finish = writing.Finish("photo", False)
    readers = {
        "from the header (`read_source`)": images.read_source,
        "decoding every pixel (`read_photo`)": lambda path: images.read_photo(path)[1],
    }
    with tempfile.TemporaryDirectory() as temp:
        paths = photos(Path(temp), count)
        print(f"| {count} photos of 12 MP | seconds |\n|---|---|")
        for name, read in readers.items():
            best = float("inf")
            for _ in range(3):
                began = time.perf_counter()
                for path in paths:
                    writing.check_encodable(path, read(path), finish)
                best = min(best, time.perf_counter() - began)
            print(f"| {name} | {best:.2f} |")


if __name__ == "__main__":
    main()
