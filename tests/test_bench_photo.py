"""The photo-to-photo measures (bench.photo) on small pictures made here."""

import json

import numpy as np
import pytest
from PIL import Image

from bench import photo as bench
from nstyle.media import segmentation


def scene(h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    """A photo-like RGB uint8 picture: gradients, a bright square, a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    picture = np.stack([40 + 3 * x, 60 + 2 * y, 90 + x + y], -1).astype(float)
    picture[10:25, 15:35] += 60
    return np.clip(picture + rng.normal(0, 3, picture.shape), 0, 255).astype(np.uint8)


def test_matting_energy_is_near_zero_for_a_recolouring_high_for_new_texture():
    photo = scene()
    recoloured = np.clip(0.8 * photo[..., [1, 2, 0]] + 20, 0, 255).astype(np.uint8)
    textured = np.clip(photo + np.random.default_rng(1).normal(0, 20, photo.shape), 0, 255)
    itself = bench.matting_energy(photo, photo)
    affine = bench.matting_energy(recoloured, photo)
    noisy = bench.matting_energy(textured.astype(np.uint8), photo)
    assert itself < 1e-5 and affine < 1e-4 and noisy > 100 * affine
    bigger = np.asarray(Image.fromarray(photo).resize((112, 80)))  # the photo at the picture's size
    assert bench.matting_energy(photo, bigger) < 1e-3


def test_gaussian_w2_against_its_closed_form():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, (500, 3)) @ np.array([[1, 0.3, 0], [0, 2, 0.1], [0, 0, 0.5]])
    assert bench.gaussian_w2(a, a) == pytest.approx(0, abs=1e-6)
    shift = np.array([3.0, -1.0, 2.0])
    assert bench.gaussian_w2(a, a + shift) == pytest.approx(np.linalg.norm(shift), rel=1e-6)
    b = 2 * a + shift  # covariance 4C: W2^2 = |mean difference|^2 + tr C
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(np.cov(a, rowvar=False))
    assert bench.gaussian_w2(a, b) == pytest.approx(np.sqrt(expected), rel=1e-6)


def halves(left, right, h=20, w=30) -> np.ndarray:
    picture = np.zeros((h, w, 3), np.uint8)
    picture[:, : w // 2], picture[:, w // 2 :] = left, right
    return picture


def test_label_w2_compares_each_label_with_the_references_same_label():
    rng = np.random.default_rng(3)
    noise = rng.normal(128, 20, (20, 30, 3))
    noise[:, :15] += (60, 0, -60)  # warm on the left, cool on the right
    noise[:, 15:] -= (60, 0, -60)
    reference = np.clip(noise, 0, 255).astype(np.uint8)
    labels = segmentation.labels(halves((255, 0, 0), (0, 0, 255)), halves((255, 0, 0), (0, 0, 255)))
    assert bench.label_w2(reference, reference, labels) == pytest.approx(0, abs=1e-6)
    swapped = np.concatenate([reference[:, 15:], reference[:, :15]], axis=1)
    assert bench.label_w2(swapped, reference, labels) > 10  # each half has the other's look
    assert bench.label_w2(swapped, reference, None) < 1  # the whole pictures: the same colours
    orphan = segmentation.labels(halves((255, 0, 0), (0, 255, 0)), halves((255, 0, 0), (0, 0, 255)))
    whole = bench.gaussian_w2(
        bench.lab(swapped[:, 15:]).reshape(-1, 3), bench.lab(reference).reshape(-1, 3)
    )
    red = bench.gaussian_w2(
        bench.lab(swapped[:, :15]).reshape(-1, 3), bench.lab(reference[:, :15]).reshape(-1, 3)
    )
    assert bench.label_w2(swapped, reference, orphan) == pytest.approx((whole + red) / 2)


def test_edge_correlation_keeps_a_recolouring_loses_a_blur():
    from skimage.filters import gaussian

    photo = scene()
    recoloured = np.clip(255 - photo, 0, 255).astype(np.uint8)
    blurred = (gaussian(photo, sigma=2, channel_axis=-1) * 255).astype(np.uint8)
    assert bench.edge_correlation(photo, photo) == pytest.approx(1)
    assert bench.edge_correlation(recoloured, photo) > 0.95
    assert bench.edge_correlation(blurred, photo) < 0.8


def test_the_command_measures_each_example_and_result(tmp_path, capsys):
    for n, seed in (("1", 0), ("2", 1)):
        Image.fromarray(scene(seed=seed)).save(tmp_path / f"photo{n}.png")
        Image.fromarray(scene(seed=seed + 5)[::-1]).save(tmp_path / f"reference{n}.png")
        Image.fromarray(scene(seed=seed)[:, ::-1]).save(tmp_path / f"result{n}.png")
    labels = halves((0, 0, 0), (255, 255, 255), 40, 56)
    for side in ("photo", "reference"):
        Image.fromarray(labels).save(tmp_path / f"{side}1_segmentation.png")
    bench.main([str(tmp_path), "--result", "result{n}.png", "--result", "photo{n}.png"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["example"], d["result"]) for d in lines] == [
        ("1", "result1.png"), ("1", "photo1.png"), ("2", "result2.png"), ("2", "photo2.png"),
    ]  # fmt: skip
    assert lines[1]["edges"] == pytest.approx(1) and lines[1]["matting"] < 1e-5
    assert lines[0]["matting"] > 100 * lines[1]["matting"]


def test_flat_noise_counts_the_photos_flat_windows_that_spread():
    """Of the photo's flat windows (a sky: 1 level of noise), none spread for the photo
    itself or a recolouring of it; its noise amplified ten times spreads in most of them;
    a window of real structure (the bright square's border) is not counted."""
    rng = np.random.default_rng(4)
    sky = np.clip(np.round(180 + rng.normal(0, 1, (30, 40, 3))), 0, 255).astype(np.uint8)
    sky[10:20, 10:20] = 40  # an edge: its windows are not flat
    assert bench.flat_noise(sky, sky) == 0.0
    shifted = np.clip(sky.astype(int) + (20, -10, 5), 0, 255).astype(np.uint8)
    assert bench.flat_noise(shifted, sky) == 0.0
    amplified = np.clip(128 + 10 * (sky.astype(float) - 180), 0, 255).astype(np.uint8)
    assert bench.flat_noise(amplified, sky) > 0.8
