"""How photographic a photo-to-photo result is, and how much of the reference's look it took:
four measures that need no network, for a folder of examples.

    .venv/bin/python -m bench.photo FOLDER [--result 'result{n}.png' ...]

FOLDER holds, for each example n, photo{n}.png, reference{n}.png, their label images
photo{n}_segmentation.png and reference{n}_segmentation.png (optional: without them the
whole picture is one label), and the results to measure (``--result``, a pattern of n; more
than one compares methods). One JSON line per example and result:

- ``matting``: the result's matting energy per pixel, ``sum_c V_c^T L V_c / N`` (V the
  picture in 0..1, L the matting Laplacian of the photo at the picture's size, eps 1e-7,
  3x3 windows; ``engine.matting``): ~0 for a local affine recolouring of the photo, high
  for new edges or texture. Lower is more photographic.
- ``w2``: per label, the Wasserstein-2 distance between Gaussians fitted to the CIELAB
  colours of the result and of the reference's same label (the photo's label missing in the
  reference: the whole reference), averaged weighted by the labels' areas in the result; in
  CIELAB units (a distance, not its square). Lower has more of the reference's look.
- ``edges``: the correlation of the Sobel gradient magnitudes (on grey) of the result and
  the photo. Higher keeps more of the photo's structure.
- ``flat``: of the 3x3 windows where the photo is flat (its colours' spread, the square root
  of the summed channel variances, under 3 levels of 255), the share where the result's
  spread is more than 3 times the photo's: the photo's noise amplified into blotches in
  skies and ceilings. Lower is cleaner.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from nstyle.engine import matting
from nstyle.media import images, segmentation

FLAT_LEVELS, FLAT_FACTOR = 3.0, 3.0  # ``flat``: a window under 3 levels, spread 3 times


def unit(picture: np.ndarray) -> np.ndarray:
    """An RGB uint8 picture as float64 in 0..1."""
    return np.asarray(picture, np.float64) / 255


def matting_energy(picture: np.ndarray, photo: np.ndarray) -> float:
    """See the module: ``picture`` and ``photo`` RGB uint8, the photo resized to the picture."""
    photo = images.resize_to(photo, picture.shape[:2])
    windows = matting.Windows.of(unit(photo))
    return matting.energy(windows, unit(picture))[0] / (picture.shape[0] * picture.shape[1])


def gaussian_w2(a: np.ndarray, b: np.ndarray) -> float:
    """The Wasserstein-2 distance between Gaussians fitted to two sets of points (N, D)."""
    from scipy.linalg import sqrtm

    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_b = np.real(sqrtm(cov_b))
    cross = np.real(sqrtm(root_b @ cov_a @ root_b))
    squared = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
    return float(np.sqrt(max(squared, 0.0)))


def lab(picture: np.ndarray) -> np.ndarray:
    """An RGB uint8 picture's CIELAB colours (H, W, 3) (scikit-image's, D65)."""
    from skimage.color import rgb2lab

    return rgb2lab(unit(picture))


def label_w2(
    picture: np.ndarray,
    reference: np.ndarray,
    labels: tuple[segmentation.Label, ...] | None = None,
) -> float:
    """See the module; ``labels``: ``segmentation.labels`` of the photo's and reference's
    label images (None: the whole pictures). Masks are resized to each picture (nearest)."""
    if labels is None:
        return gaussian_w2(lab(picture).reshape(-1, 3), lab(reference).reshape(-1, 3))
    mine, theirs = lab(picture), lab(reference)
    total, weighted = 0.0, 0.0
    for label in labels:
        here = resized_mask(label.content, picture.shape[:2])
        there = resized_mask(label.style, reference.shape[:2])
        if here.sum() < 2 or there.sum() < 2:
            continue
        weighted += here.sum() * gaussian_w2(mine[here], theirs[there])
        total += here.sum()
    return weighted / total


def resized_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A 0..1 mask as bool at ``shape`` (H, W), nearest neighbour."""
    rows = (np.arange(shape[0]) + 0.5) * mask.shape[0] // shape[0]
    cols = (np.arange(shape[1]) + 0.5) * mask.shape[1] // shape[1]
    return mask[rows.astype(int)[:, None], cols.astype(int)[None]] > 0.5


def edge_correlation(picture: np.ndarray, photo: np.ndarray) -> float:
    """See the module: the photo resized to the picture."""
    from skimage.color import rgb2gray
    from skimage.filters import sobel

    photo = images.resize_to(photo, picture.shape[:2])
    a, b = sobel(rgb2gray(picture)).ravel(), sobel(rgb2gray(photo)).ravel()
    return float(np.corrcoef(a, b)[0, 1])


def spread(picture: np.ndarray) -> np.ndarray:
    """Each 3x3 window's colour spread in levels: (H-2, W-2) for RGB uint8, from integer
    sums (81 times the variance is ``9 sum x^2 - (sum x)^2``), so that an even window's is
    exactly 0 (in floating point a few of them came out 1e-8, and counted as spread)."""
    x = np.asarray(picture, np.int64)
    total, squares = matting.window_sums(x), matting.window_sums(x * x)
    return np.sqrt(np.sum(9 * squares - total * total, axis=-1)) / 9


def flat_noise(picture: np.ndarray, photo: np.ndarray) -> float:
    """See the module (``flat``): the photo resized to the picture."""
    photo = images.resize_to(photo, picture.shape[:2])
    theirs, mine = spread(photo), spread(picture)
    flat = theirs < FLAT_LEVELS
    return float((mine[flat] > FLAT_FACTOR * theirs[flat]).mean()) if flat.any() else 0.0


def measure(
    picture: np.ndarray,
    photo: np.ndarray,
    reference: np.ndarray,
    labels: tuple[segmentation.Label, ...] | None = None,
) -> dict[str, float]:
    """The four measures of one result (RGB uint8) against its photo and reference."""
    return {
        "matting": matting_energy(picture, photo),
        "w2": label_w2(picture, reference, labels),
        "edges": edge_correlation(picture, photo),
        "flat": flat_noise(picture, photo),
    }


def examples(folder: Path) -> list[str]:
    """The examples' numbers (or names) n for which FOLDER has photo{n}.png, in order."""
    names = (re.fullmatch(r"photo(.+)\.png", p.name) for p in folder.glob("photo*.png"))
    found = [m.group(1) for m in names if m and not m.group(1).endswith("_segmentation")]
    return sorted(found, key=lambda n: (len(n), n))


def example_labels(folder: Path, n: str) -> tuple[segmentation.Label, ...] | None:
    """An example's labels, or None without both label images."""
    paths = [folder / f"{side}{n}_segmentation.png" for side in ("photo", "reference")]
    if not all(p.exists() for p in paths):
        return None
    content, style = (segmentation.read_segmentation(p) for p in paths)
    return segmentation.labels(content, style)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--result", action="append", help="a pattern of n (default result{n}.png)")
    parser.add_argument("--whole", action="store_true", help="w2 over the whole pictures")
    args = parser.parse_args(argv)
    for n in examples(args.folder):
        photo = images.read_image(args.folder / f"photo{n}.png")
        reference = images.read_image(args.folder / f"reference{n}.png")
        labels = None if args.whole else example_labels(args.folder, n)
        for pattern in args.result or ["result{n}.png"]:
            path = args.folder / pattern.format(n=n)
            if path.exists():
                found = measure(images.read_image(path), photo, reference, labels)
                print(json.dumps({"example": n, "result": path.name, **found}), flush=True)


if __name__ == "__main__":
    main()
