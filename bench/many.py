"""Many pictures (issue 14): pictures per minute for a folder, in this process against a
local Ray cluster of ``--workers`` workers, each a real command-line run.

    .venv/bin/python -m bench.many [--count 8] [--edge 256] [--workers 2]

The folder holds ``--count`` different crops of the bundled photo; each run paints them
all at ``--edge`` px on VGG-16 into a fresh output folder (nothing to resume). The wall
time includes everything a user waits for: the start, Ray's start for ``--workers``, the
weights, the pictures. Markdown goes to standard output.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nstyle.media import images

ROOT = Path(__file__).resolve().parents[1]


def folder_of_photos(folder: Path, count: int) -> None:
    """``count`` different square crops of the bundled photo, flipped every other one."""
    photo = images.read_image(ROOT / "input/content.jpg")
    h, w = photo.shape[:2]
    side = min(h, w) * 3 // 4
    for i in range(count):
        y, x = (i * 37) % (h - side + 1), (i * 53) % (w - side + 1)
        crop = photo[y : y + side, x : x + side]
        images.write_image(folder / f"photo_{i:02d}.png", crop[:, ::-1] if i % 2 else crop)


def run(photos: Path, out: Path, edge: int, extra: list[str]) -> float:
    command = [sys.executable, "run.py", "--model", "vgg16", "--content-image", str(photos)]
    command += ["--style-image", "input/style.jpg", "--max-long-edge", str(edge)]
    command += ["--output", str(out), "--quiet", *extra]
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--edge", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "photos"
        photos.mkdir()
        folder_of_photos(photos, args.count)
        rows = []
        for name, extra in (
            ("in this process", []),
            (f"--workers {args.workers}", ["--workers", str(args.workers)]),
        ):
            seconds = run(photos, Path(scratch) / f"out_{len(rows)}", args.edge, extra)
            rows.append((name, seconds))
            print(f"{name}: {seconds:.1f} s", file=sys.stderr, flush=True)
    head = f"| {args.count} pictures at {args.edge} px | wall | pictures per minute "
    print(head + "| vs in-process |")
    print("|---|---|---|---|")
    for name, seconds in rows:
        rate = 60 * args.count / seconds
        print(f"| {name} | {seconds:.0f} s | {rate:.2f} | {rows[0][1] / seconds:.2f}x |")


if __name__ == "__main__":
    main()
