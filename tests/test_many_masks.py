"""Masks for many pictures (issue 24): one mask set for every photo of a folder and every
frame of a video, resized to each; the masks in the manifest's settings (a changed mask
paints again, a run without masks keys as before); and on Ray, the masks carried to the
worker with the styles. The runs paint with a tiny random VGG-16 at 48 px: seconds each."""

from __future__ import annotations

import re
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstyle import cli
from nstyle.config import Options
from nstyle.many import inputs, manifest
from nstyle.media import images, video
from tests.test_many import ROOT, STYLE, mtimes, pan, run_cli, run_workers

EDGE = 48


def tiny(weights: Path, epochs: int = 20) -> list[str]:
    """The flags of a short run on the tiny network."""
    return [
        "--weights", str(weights), "--gpu", "-1", "--max-long-edge", str(EDGE),
        "--num-scales", "1", "--max-num-epochs", str(epochs), "--style-image", str(STYLE),
    ]  # fmt: skip


def scene(turn: int) -> np.ndarray:
    """A smooth 60x80 photo (little for JPEG to lose), different for each ``turn``."""
    y, x = np.mgrid[0:60, 0:80]
    u = x + 17 * turn
    rgb = [128 + 90 * np.sin(u / 9), 60 + 2.5 * y, 200 - 1.5 * u + 20 * np.cos(y / 7)]
    return np.clip(np.stack(rgb, axis=-1), 0, 255).astype(np.uint8)


def half_mask(path: Path, right: bool) -> Path:
    """A mask of another size than the photos (resized to each): white on one half."""
    mask = np.zeros((30, 50), np.uint8)
    mask[:, 25:] = 255
    Image.fromarray(mask if right else 255 - mask).save(path)
    return path


def halves(styled: np.ndarray, original: np.ndarray, margin: int = 6) -> tuple[float, float]:
    """Mean absolute difference to the original on the left and on the right half, more
    than ``margin`` px from the seam."""
    styled, original = styled.astype(float), original.astype(float)
    middle = styled.shape[1] // 2
    left = np.abs(styled[:, : middle - margin] - original[:, : middle - margin]).mean()
    right = np.abs(styled[:, middle + margin :] - original[:, middle + margin :]).mean()
    return left, right


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for turn in range(2):
        images.write_image(folder / f"p{turn}.png", scene(turn))
    return folder


def check_kept_and_painted(out: Path, kept_right: bool) -> None:
    """Each output is the photo, resized, where the mask is black, and painted elsewhere."""
    for turn in range(2):
        styled = images.read_image(out / f"p{turn}.jpg")
        left, right = halves(styled, images.resize_long_edge(scene(turn), EDGE))
        kept, painted = (right, left) if kept_right else (left, right)
        assert kept < 4 and painted > 6 and painted > 3 * kept, (turn, kept, painted)


# ------------------------------------------------------------ the settings
def test_settings_without_masks_hash_as_before_and_each_mask_changes_them():
    """The hashes of runs without masks are those of nstyle before masks (values computed
    then): the manifests of earlier runs stay valid. Each mask file's content is a key."""
    styles = ["ab" * 32]
    before = Options(style_loss="gram")  # the objective of every run before issue 25
    image = manifest.settings(before, styles, 0.0, inputs.IMAGE)
    clip = manifest.settings(before, styles, 0.0, inputs.VIDEO)
    assert "masks" not in image and "style_masks" not in image
    key = manifest.settings_hash
    assert key(image) == "83e8517ab353bdb9ac2c4c87e297acd3f4c576ff2dc12ff729542850ccc6cc50"
    assert key(clip) == "dac56e04d8a5aa40d7311dbb7f057ea8155a8966475957612c05adf0d8bcea3f"
    masked = [
        manifest.settings(before, styles, 0.0, inputs.IMAGE, mask_hashes=["m"]),
        manifest.settings(before, styles, 0.0, inputs.IMAGE, mask_hashes=["n"]),
        manifest.settings(
            before, styles, 0.0, inputs.IMAGE, mask_hashes=["m"], style_mask_hashes=["s"]
        ),
    ]
    assert len({key(image), *(key(values) for values in masked)}) == 4
    # An option added later (issue 25's --style-loss) keys only away from its old meaning:
    # the default (Gram again since issue 32) keys as before it; W2 paints another picture.
    assert key(manifest.settings(Options(), styles, 0.0, inputs.IMAGE)) == key(image)
    w2 = manifest.settings(Options(style_loss="w2"), styles, 0.0, inputs.IMAGE)
    assert "style_loss" not in image and w2["style_loss"] == "w2" and key(w2) != key(image)


# ------------------------------------------------------------ in this process
def test_a_folder_with_one_mask_set_keeps_each_photo_there_and_a_changed_mask_repaints(
    tmp_path, photos, tiny_weights_file, capsys
):
    mask = half_mask(tmp_path / "mask.png", right=True)  # the right half painted
    out = tmp_path / "out"
    argv = ["--content-image", str(photos), "--content-mask", str(mask), "--output", str(out)]
    argv += tiny(tiny_weights_file)
    code, err = run_cli(argv, capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [manifest.MANIFEST, "p0.jpg", "p1.jpg"]
    check_kept_and_painted(out, kept_right=False)
    first = mtimes(out)

    code, err = run_cli(argv, capsys)  # the same command: nothing to paint
    assert code == 0, err
    assert "2 of 2 already done and unchanged" in err and "wrote" not in err
    assert mtimes(out) == first

    half_mask(mask, right=False)  # the same file name, the other half: all painted again
    code, err = run_cli(argv, capsys)
    assert code == 0, err
    assert len(re.findall(r"^wrote ", err, re.M)) == 2 and "already done and" not in err
    check_kept_and_painted(out, kept_right=True)


@pytest.mark.parametrize(
    "masks, message",
    [
        (["--content-mask", "{d}/right.png", "{d}/right.png"], "--content-mask: 2 mask(s) for 1"),
        (["--content-mask", "{d}/black.png"], "--content-mask {d}/black.png is black everywhere"),
        (["--style-mask", "{d}/right.png"], "--style-mask works with --content-mask"),
    ],
)
def test_masks_that_cannot_work_on_a_folder_are_one_line_before_any_work(
    tmp_path, photos, tiny_weights_file, capsys, masks, message
):
    half_mask(tmp_path / "right.png", right=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "black.png")
    masks = [a.replace("{d}", str(tmp_path)) for a in masks]
    argv = ["--content-image", str(photos), *masks, "--output", str(tmp_path / "out")]
    code, err = run_cli(argv + tiny(tiny_weights_file), capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"nstyle: error: {message.replace('{d}', str(tmp_path))}"), err
    assert not (tmp_path / "out").exists()


def test_a_mask_where_an_output_would_go_is_refused_before_any_work(
    tmp_path, photos, tiny_weights_file, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    mask = half_mask(out / "p1.jpg", right=True)  # p1.png's output would replace it
    before = mtimes(out)
    argv = ["--content-image", str(photos), "--content-mask", str(mask), "--output", str(out)]
    code, err = run_cli(argv + tiny(tiny_weights_file), capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"nstyle: error: --output {mask} is the input {mask}"), err
    assert mtimes(out) == before


def test_a_video_with_masks_keeps_every_frame_there(tmp_path, tiny_weights_file, capsys):
    frames = pan(3, h=36, w=48)
    clip = video.write_video(tmp_path / "clip.mp4", frames, Fraction(12))
    mask = half_mask(tmp_path / "mask.png", right=True)
    out = tmp_path / "out" / "styled.mp4"
    argv = ["--content-image", str(clip), "--content-mask", str(mask), "--output", str(out)]
    code, err = run_cli(argv + tiny(tiny_weights_file), capsys)
    assert code == 0, err
    styled = list(video.read_frames(out))
    assert len(styled) == 3
    for number, (picture, original) in enumerate(zip(styled, video.read_frames(clip)), 1):
        kept, painted = halves(picture, original)  # the frames after the first: temporal
        assert kept < 6 and painted > 2 * kept, (number, kept, painted)


# ------------------------------------------------------------ Ray
@pytest.mark.platform
def test_masks_reach_a_ray_worker_with_the_styles(tmp_path, photos, tiny_weights_file):
    """--workers 1: the masks travel through Ray's object store with the styles, and the
    worker paints as this process does."""
    mask = half_mask(tmp_path / "mask.png", right=True)
    out = tmp_path / "out"
    argv = [sys.executable, str(ROOT / "run.py"), "--content-image", str(photos)]
    argv += ["--content-mask", str(mask), "--style-mask", str(mask), "--output", str(out)]
    argv += ["--workers", "1", *tiny(tiny_weights_file)]
    done = run_workers(argv, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "on a local Ray cluster: 1 worker(s) on 1 machine(s)" in done.stderr
    check_kept_and_painted(out, kept_right=False)
    here = tmp_path / "here"
    local = argv[: argv.index("--workers")] + argv[argv.index("--workers") + 2 :]
    local[local.index(str(out))] = str(here)
    assert cli.main(local[2:]) == 0
    for name in ("p0.jpg", "p1.jpg"):  # to float rounding (threads sum in other orders)
        there = images.read_image(out / name).astype(int)
        assert np.abs(there - images.read_image(here / name)).mean() < 2
