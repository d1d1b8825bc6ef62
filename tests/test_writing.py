"""One writer for every path (issue 31): what ``nstyle.media.writing`` refuses in one line
(a type without a profile for the photo's, an unknown profile, a float picture in 0..255,
a profile with no inverse, metadata too large for a JPEG), each before any work on the
command line; and an interrupted or diverged run written from its float picture."""

from __future__ import annotations

import signal

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from nstyle import cli
from nstyle.errors import Diverged, NStyleError
from nstyle.media import colour, images
from nstyle.media.metadata import Source
from tests import photos
from tests.test_files_photo import STYLE, patches, wide_jpeg

P3 = photos.icc_profile("Display P3")


def singular_profile() -> bytes:
    """A matrix/TRC profile whose green and blue colorants are its red one: no inverse."""
    red = photos.colorants(photos.SPACES["Display P3"][0])[:, 0]
    trc = photos._curve(2.2)
    tags = [
        (b"desc", photos._text("flat")),
        (b"wtpt", photos._tag(b"XYZ ", photos._s15(photos.D50))),
    ]
    tags += [(c + b"XYZ", photos._tag(b"XYZ ", photos._s15(red))) for c in (b"r", b"g", b"b")]
    tags += [(c + b"TRC", trc) for c in (b"r", b"g", b"b")]
    return photos._profile(tags, b"mntr", b"RGB ", b"XYZ ")


def no_paint(monkeypatch) -> None:
    from nstyle.cli import single

    def paint(self):
        raise AssertionError("painted")

    monkeypatch.setattr(single.Run, "paint", paint)


# ------------------------------------------------------------------ the library
@pytest.mark.parametrize("name", ["out.bmp", "out.gif", "out.ppm"])
def test_the_photos_profile_into_a_type_without_profiles_is_one_line(tmp_path, name):
    picture = patches().astype(np.float32) / 255
    with pytest.raises(NStyleError, match=r"carries no colour profile.*\.jpg, \.png, \.tif"):
        images.write_image(tmp_path / name, picture, Source(P3), profile="photo")
    assert list(tmp_path.iterdir()) == []
    images.write_image(tmp_path / name, picture, Source(P3))  # sRGB: what such a file means
    images.write_image(tmp_path / "plain.bmp", picture, Source(), profile="photo")  # sRGB photo


def test_an_unknown_profile_name_is_one_line(tmp_path):
    with pytest.raises(NStyleError, match="profile='P3': expected one of srgb, photo"):
        images.write_image(tmp_path / "o.png", patches(), Source(P3), profile="P3")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scale", [255.0, -1.0])
def test_a_float_picture_outside_0_1_is_refused_not_clipped(tmp_path, scale):
    picture = patches().astype(np.float32) / 255 * scale
    with pytest.raises(NStyleError, match="a float picture must be in 0..1"):
        images.write_image(tmp_path / "o.png", picture)
    nan = np.full((4, 4, 3), np.nan, np.float32)
    with pytest.raises(NStyleError, match="NaN or inf"):
        images.encode(nan, "PNG")
    assert list(tmp_path.iterdir()) == []


def test_a_singular_profile_says_it_cannot_be_inverted(tmp_path):
    flat = singular_profile()
    with pytest.raises(NStyleError, match=r"cannot be inverted: its matrix to XYZ is singular"):
        colour.matrix_shaper(flat)
    with pytest.raises(NStyleError, match="cannot be inverted"):  # was LinAlgError
        images.write_image(tmp_path / "o.tif", patches(), Source(flat), profile="photo")
    assert list(tmp_path.iterdir()) == []


def test_metadata_too_large_for_a_jpeg_says_so_and_what_works(tmp_path):
    source = Source(main={0x013B: "x" * 70_000})  # a 70 KB Artist
    with pytest.raises(NStyleError, match=r"more than a JPEG's 64 KiB segment.*\.png or \.tif"):
        images.write_image(tmp_path / "o.jpg", patches(), source)
    for name in ("o.png", "o.tif"):  # they take it
        with Image.open(images.write_image(tmp_path / name, patches(), source)) as written:
            assert written.getexif()[0x013B] == "x" * 70_000


# ------------------------------------------------------------------ the command line
@pytest.mark.parametrize(
    "name, photo, message",
    [
        ("out.bmp", "p3", "a BMP file carries no colour profile"),
        ("out.ppm", "p3", "a PPM file carries no colour profile"),
        ("out.tif", "flat", "cannot be inverted: its matrix to XYZ is singular"),
    ],
)
def test_the_command_line_refuses_each_before_any_work(
    tmp_path, capsys, monkeypatch, name, photo, message
):
    no_paint(monkeypatch)
    # (a photo's own EXIF too large for a JPEG is not refused: reading leaves the large tags
    # out with a warning line, tests/test_files_photo.py)
    if photo == "p3":
        content = wide_jpeg(tmp_path / "p.jpg", "Display P3")
    else:
        content = tmp_path / "p.png"
        Image.fromarray(patches()).save(content, icc_profile=singular_profile())
    argv = ["--content-image", str(content), "--gpu", "-1", "--output", str(tmp_path / name)]
    assert cli.main([*argv, "--output-profile", "photo"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("nstyle: error: "), err
    assert "use .jpg, .png or .tif" not in err  # the type was not the problem
    assert sorted(tmp_path.iterdir()) == [content]


# ------------------------------------------------------------------ interrupted, diverged
def test_an_interrupted_run_writes_its_float_picture_at_16_bits(tmp_path, capsys, vgg16):
    from nstyle.cli import report

    output = tmp_path / "out.png"
    argv = ["--model", "vgg16", "--content-image", str(wide_jpeg(tmp_path / "p.jpg", "Display P3"))]
    argv += ["--style-image", str(STYLE), "--gpu", "-1", "--output", str(output)]
    argv += ["--max-long-edge", "64", "--num-scales", "1", "--max-num-epochs", "50"]
    argv += ["--save-epochs", "0"]  # sRGB: with the photo's profile, 8 bits became floats
    seen = []
    original = report.Reporter.__call__

    def interrupt_at_3(self, it):
        original(self, it)
        seen.append(it.epoch)
        if it.epoch == 3:
            signal.raise_signal(signal.SIGINT)

    report.Reporter.__call__ = interrupt_at_3  # type: ignore[method-assign]
    try:
        code = cli.main(argv)
    finally:
        report.Reporter.__call__ = original  # type: ignore[method-assign]
    err = capsys.readouterr().err
    assert code == 130 and "interrupted at epoch 3" in err, err
    written = cv2.imread(str(output), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16  # was 8 bits: the rounded picture
    assert len(np.unique(written)) > 256 and np.any(written % 257)
    with Image.open(output) as result:
        assert result.info["icc_profile"] == colour.srgb_profile()


def test_a_divergence_carries_its_float_picture_and_the_cli_writes_it(tmp_path, monkeypatch):
    from nstyle.cli import single

    pixels = np.linspace(0, 1, 64 * 48 * 3, dtype=np.float32).reshape(64, 48, 3)
    diverged = Diverged("diverged", picture=(pixels * 255).round().astype(np.uint8), pixels=pixels)
    assert diverged.finest is pixels and Diverged("x").finest is None
    run = single.Run(["--output", str(tmp_path / "out.tif")], "nstyle")
    run.source = Source()
    said = run.keep_last_good(diverged)
    assert "the last good image is in" in said
    written = tifffile.imread(tmp_path / "out.tif")
    assert np.abs(written / 65535.0 - pixels).max() <= 0.5 / 65535 + 1e-7


def test_the_painter_gives_a_float_picture_each_epoch(vgg16):
    from nstyle import api
    from nstyle.config import Options

    seen: list = []
    options = Options(model="vgg16", max_long_edge=64, num_scales=1, max_num_epochs=2)
    style = images.read_image(STYLE)

    def keep(it):
        seen.append((it.picture(), it.pixels()))

    api.transfer(patches(), [style], options, weights=vgg16, callback=keep)
    picture, pixels = seen[-1]
    assert pixels.dtype == np.float32 and pixels.shape == picture.shape
    assert 0 <= pixels.min() and pixels.max() <= 1
    assert np.abs(pixels * 255 - picture).max() <= 0.5 + 1e-3
