"""A photographer's files (issue 26): wide-gamut photos read in their colours, HEIC and AVIF,
16-bit PNG and TIFF results, the photo's metadata carried (its location only when asked), a
HEIC decompression bomb refused from its header; and a phone-style HEIC photo in Display P3
through the command line on the real VGG-16.

The profiles and files are made here (tests/photos.py); the 16-bit files are read back by
OpenCV (libpng, libtiff) and tifffile, decoders other than the writer's.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from nstyle import cli
from nstyle.errors import NStyleError, TooLarge
from nstyle.media import colour, images
from nstyle.media.metadata import Source
from tests import photos
from tests.conftest import make_rgb

ROOT = Path(__file__).resolve().parents[1]
STYLE = ROOT / "input" / "style.jpg"
# Saturated colours inside sRGB whose numbers in 8-bit Display P3 and Adobe RGB pin them
# within a level (one more saturated in a channel near 0 moves by several per wide level).
PATCHES = ((220, 50, 40), (90, 180, 60), (50, 70, 210), (240, 190, 40))
WIDE = ["Display P3", "Adobe RGB (1998)"]


def patches(size: int = 32) -> np.ndarray:
    """The four patches in a 2x2 grid, sRGB uint8."""
    picture = np.zeros((2 * size, 2 * size, 3), np.uint8)
    for index, value in enumerate(PATCHES):
        row, column = divmod(index, 2)
        picture[row * size : (row + 1) * size, column * size : (column + 1) * size] = value
    return picture


def centres(picture: np.ndarray) -> np.ndarray:
    """The mean colour of each patch's middle (a quarter of its side from each edge)."""
    h, w = picture.shape[0] // 2, picture.shape[1] // 2
    found = []
    for index in range(4):
        row, column = divmod(index, 2)
        block = picture[row * h : (row + 1) * h, column * w : (column + 1) * w].astype(float)
        found.append(block[h // 4 : -h // 4, w // 4 : -w // 4].mean(axis=(0, 1)))
    return np.array(found)


def wide_jpeg(path: Path, space: str, **options) -> Path:
    """The patches as a camera writes them in ``space``: that space's numbers, its profile
    embedded, JPEG at full quality without chroma subsampling."""
    numbers = photos.in_profile(patches(), space)
    photos.save(
        path, numbers, "JPEG", photos.icc_profile(space), quality=100, subsampling=0, **options
    )
    return path


# ------------------------------------------------------------------ colour
def test_the_built_profiles_give_littlecmss_numbers():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(photos.in_profile(pixels, "sRGB (test)"), pixels)  # the builder
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    # sRGB's primaries in each space, as published (e.g. Apple's and Adobe's converters)
    p3 = photos.in_profile(primaries, "Display P3").astype(int)
    assert np.abs(p3 - [[234, 51, 35], [117, 251, 76], [0, 0, 245]]).max() <= 1
    adobe = photos.in_profile(primaries, "Adobe RGB (1998)").astype(int)
    assert np.abs(adobe - [[219, 0, 0], [144, 255, 60], [0, 0, 250]]).max() <= 1


@pytest.mark.parametrize("space", WIDE)
def test_a_wide_gamut_photo_is_read_in_its_colours(tmp_path, space):
    path = wide_jpeg(tmp_path / "photo.jpg", space)
    read = centres(images.read_image(path))
    assert np.abs(read - PATCHES).max() <= 2, read
    with Image.open(path) as raw:  # the same numbers taken as sRGB: far off
        assert np.abs(centres(np.asarray(raw.convert("RGB"))) - PATCHES).max() > 10


def test_a_painting_a_mask_and_grey_are_colour_managed(tmp_path):
    path = wide_jpeg(tmp_path / "painting.jpg", "Display P3")
    mask = images.read_mask(path)
    expected = np.asarray(Image.fromarray(patches()).convert("L"), float)
    assert np.abs(centres(np.repeat(mask[..., None], 3, 2)) - centres(
        np.repeat(expected[..., None], 3, 2))).max() <= 2  # fmt: skip
    bad = tmp_path / "bad.png"
    Image.fromarray(patches()).save(bad, icc_profile=b"not a profile")
    assert np.array_equal(images.read_image(bad), patches())  # ignored, with a warning


def test_a_cmyk_file_goes_through_its_profile(tmp_path):
    inks = np.zeros((16, 64, 4), np.uint8)  # no ink; cyan; cyan and magenta; black
    inks[:, 16:32, 0] = 255
    inks[:, 32:48, :2] = 255
    inks[:, 48:, 3] = 255
    path = tmp_path / "press.tif"
    Image.fromarray(inks, "CMYK").save(path, icc_profile=photos.cmyk_profile())
    read = images.read_image(path)[8, 8::16].astype(int)
    # the profile's rotated inks: white, cyan as yellow, cyan and magenta as green, black
    # (near, not exact: the table's corners are skimage's Lab, unadapted, in 2 points)
    expected = [[255, 255, 255], [255, 255, 0], [0, 255, 0], [0, 0, 0]]
    assert np.abs(read - expected).max() <= 60, read
    plain = tmp_path / "plain.tif"
    Image.fromarray(inks, "CMYK").save(plain)  # no profile: Pillow's conversion, as before
    assert images.read_image(plain)[8, 24].tolist() == [0, 255, 255]


@pytest.mark.parametrize("space", WIDE)
def test_the_photos_own_profile_takes_the_picture_back(tmp_path, space):
    icc = photos.icc_profile(space)
    picture = patches().astype(np.float32) / 255
    path = images.write_image(tmp_path / "back.tif", picture, Source(icc), profile="photo")
    written = tifffile.imread(path).astype(float) / 257  # 16 bits
    expected = photos.in_profile(patches(), space).astype(float)
    assert np.abs(written - expected).max() <= 1.0  # LittleCMS's numbers, within its rounding
    with Image.open(path) as back:
        assert back.info["icc_profile"] == icc
    assert np.abs(centres(images.read_image(path)) - PATCHES).max() <= 2


def test_only_an_rgb_matrix_profile_can_take_the_picture_back():
    with pytest.raises(NStyleError, match="not an RGB profile of a matrix"):
        colour.matrix_shaper(b"\0" * 128 + b"\0\0\0\0")


# ------------------------------------------------------------------ HEIC and AVIF
@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heic_and_avif_read_back_within_jpeg_like_error(tmp_path, fmt):
    known = images.resize_to(make_rgb(), (80, 112))
    path = tmp_path / f"photo.{fmt.lower()}"
    photos.save(path, known, fmt, quality=90)
    jpeg = tmp_path / "photo.jpg"
    photos.save(jpeg, known, "JPEG", quality=90)
    error = np.abs(images.read_image(path).astype(int) - known).mean()
    assert error < max(4.0, 2 * np.abs(images.read_image(jpeg).astype(int) - known).mean())


def heic_bytes(pixels: np.ndarray, **options) -> bytes:
    out = io.BytesIO()
    images.plugins()
    Image.fromarray(pixels).save(out, format="HEIF", **options)
    return out.getvalue()


def test_a_heic_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    import pillow_heif

    data = heic_bytes(np.full((64, 64, 3), 128, np.uint8))
    at = data.index(b"ispe") + 8  # the image's spatial extent: claim 20000 x 20000
    bomb = tmp_path / "bomb.heic"
    bomb.write_bytes(data[:at] + (20000).to_bytes(4, "big") * 2 + data[at + 8 :])

    def decode(*args):
        raise AssertionError("decoded")

    monkeypatch.setattr(pillow_heif.HeifImageFile, "load", decode)
    with pytest.raises(TooLarge, match="20000x20000 is 400 megapixels"):
        images.read_image(bomb)


def test_a_rotated_heic_is_turned(tmp_path):
    path = tmp_path / "turned.heic"
    photos.save(path, patches(), "HEIF", exif=photos.exif(orientation=6), quality=95)
    picture, source = images.read_photo(path)
    assert picture.shape == (64, 64, 3)  # square: the patches show the turn
    assert np.abs(centres(picture) - [PATCHES[2], PATCHES[0], PATCHES[3], PATCHES[1]]).max() < 4
    assert source.main[0x0110] == "iPhone 15 Pro" and source.gps


def test_a_folder_of_phone_photos_finds_the_heic_ones(tmp_path):
    from nstyle.many.inputs import IMAGE, expand

    photos.save(tmp_path / "IMG_0001.HEIC", patches(), "HEIF")
    photos.save(tmp_path / "IMG_0002.avif", patches(), "AVIF")
    found = expand([tmp_path])
    assert [(i.path.name, i.kind) for i in found.items] == [
        ("IMG_0001.HEIC", IMAGE),
        ("IMG_0002.avif", IMAGE),
    ]


# ------------------------------------------------------------------ 16 bits
@pytest.mark.parametrize("name", ["out.png", "out.tif", "out.tiff"])
def test_16_bit_files_keep_a_smooth_gradient(tmp_path, name):
    ramp = np.linspace(0.0, 1.0, 2048, dtype=np.float32)
    picture = np.stack([ramp, ramp[::-1], np.full_like(ramp, 0.5)], axis=-1)[None].repeat(8, 0)
    path = images.write_image(tmp_path / name, picture)
    read = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[..., ::-1]  # BGR
    assert read.dtype == np.uint16 and read.shape == picture.shape
    assert len(np.unique(read[..., 0])) > 256 and len(np.unique(read[..., 1])) > 256
    assert np.abs(read / 65535.0 - picture).max() <= 0.5 / 65535 + 1e-7
    with Image.open(path) as written:
        assert written.info["icc_profile"] == colour.srgb_profile()
    assert images.read_image(path).shape == picture.shape  # and nstyle reads it, in 8 bits


def test_an_8_bit_png_stays_8_bit_a_tiff_is_16_and_a_jpeg_rounds(tmp_path):
    picture = patches()
    png = images.write_image(tmp_path / "eight.png", picture)
    assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    jpeg = images.write_image(tmp_path / "float.jpg", picture.astype(np.float32) / 255)
    assert np.abs(centres(images.read_image(jpeg)) - PATCHES).max() <= 2
    source = Source(main={0x0110: "iPhone 15 Pro"})  # a TIFF is 16-bit, from 8 bits too
    tiff = images.write_image(tmp_path / "eight.tif", picture, source)
    assert np.array_equal(tifffile.imread(tiff), picture.astype(np.uint16) * 257)
    with Image.open(tiff) as written:
        assert written.getexif()[0x0110] == "iPhone 15 Pro"


# ------------------------------------------------------------------ metadata
@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.tif", "out.webp"])
def test_the_date_camera_and_lens_go_along_and_the_location_only_when_asked(tmp_path, name):
    photo = tmp_path / "phone.jpg"
    photos.save(photo, patches(), "JPEG", exif=photos.exif(orientation=3), quality=95)
    before = photo.read_bytes()
    picture, source = images.read_photo(photo)
    picture = picture.astype(np.float32) / 255
    for location in (False, True):
        path = images.write_image(tmp_path / name, picture, source, location=location)
        with Image.open(path) as written:
            exif = written.getexif()
            capture = exif.get_ifd(0x8769)
            gps = exif.get_ifd(0x8825)
        assert (exif[0x010F], exif[0x0110], exif[0x0112]) == ("Apple", "iPhone 15 Pro", 1)
        assert capture[0x9003] == "2024:05:01 10:11:12" and capture[0x9011] == "+02:00"
        assert capture[0xA434] == "iPhone 15 Pro back camera 6.765mm f/1.78"
        assert bool(gps) == location and (not location or gps[1] == "N")
    assert photo.read_bytes() == before  # the photo itself is never changed


# ------------------------------------------------------------------ the command line
def phone_photo(path: Path) -> Path:
    """An iPhone-style HEIC: Display P3, stored on its side (EXIF orientation 6), with the
    date, camera, lens and location."""
    numbers = photos.in_profile(images.resize_to(patches(), (96, 128)), "Display P3")
    icc = photos.icc_profile("Display P3")
    photos.save(path, numbers, "HEIF", icc, exif=photos.exif(orientation=6), quality=95)
    return path


@pytest.mark.platform
def test_a_phone_heic_in_display_p3_runs_end_to_end_in_the_cli(tmp_path, vgg16):
    photo = phone_photo(tmp_path / "IMG_0001.HEIC")
    output = tmp_path / "out" / "print.tif"
    argv = ["--model", "vgg16", "--content-image", str(photo), "--style-image", str(STYLE)]
    argv += ["--gpu", "-1", "--output", str(output), "--max-long-edge", "64"]
    assert cli.main([*argv, "--max-num-epochs", "4", "--save-epochs", "2"]) == 0
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "print.tif",
        "tmp_2.jpg",
        "tmp_4.jpg",
    ]
    written = tifffile.imread(output)
    assert written.dtype == np.uint16 and written.shape == (64, 48, 3)  # stood up
    assert len(np.unique(written)) > 256  # the optimiser's floats, not 8 bits
    with Image.open(output) as result:
        exif = result.getexif()
        assert colour.name_of(result.info["icc_profile"]) == colour.name_of(colour.srgb_profile())
        assert exif[0x0110] == "iPhone 15 Pro" and exif[0x0112] == 1
        assert exif.get_ifd(0x8769)[0x9003] == "2024:05:01 10:11:12"
        assert not exif.get_ifd(0x8825)  # no location


@pytest.mark.parametrize("space", WIDE)
def test_a_content_only_run_keeps_a_wide_gamut_photos_colours(tmp_path, vgg16, space):
    photo = wide_jpeg(tmp_path / "photo.jpg", space)
    output = tmp_path / "out.png"
    argv = ["--model", "vgg16", "--content-image", str(photo), "--style-image", str(STYLE)]
    argv += ["--gpu", "-1", "--output", str(output), "--max-long-edge", "64", "--num-scales", "1"]
    argv += ["--style-weight", "0", "--tv-weight", "0", "--max-num-epochs", "5"]
    assert cli.main([*argv, "--save-epochs", "0"]) == 0
    assert np.abs(centres(images.read_image(output)) - PATCHES).max() <= 2
    back = tmp_path / "back.png"  # and in the photo's own profile: the camera's numbers
    assert (
        cli.main([*argv, "--save-epochs", "0", "--output", str(back), "--output-profile", "photo"])
        == 0
    )
    with Image.open(back) as result:
        assert result.info["icc_profile"] == photos.icc_profile(space)
    numbers = cv2.imread(str(back), cv2.IMREAD_UNCHANGED)[..., ::-1] / 257.0
    assert np.abs(centres(numbers) - centres(photos.in_profile(patches(), space))).max() <= 2


def test_a_photo_whose_profile_cannot_take_the_picture_back_is_refused_at_once(tmp_path, capsys):
    photo = tmp_path / "press.tif"  # a CMYK profile: applied on reading, no way back
    inks = np.zeros((64, 64, 4), np.uint8)
    inks[:, 32:, 0] = 255
    Image.fromarray(inks, "CMYK").save(photo, icc_profile=photos.cmyk_profile())
    argv = ["--content-image", str(photo), "--output", str(tmp_path / "o.tif")]
    assert cli.main([*argv, "--output-profile", "photo", "--gpu", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--output-profile photo" in err and "not an RGB profile of a matrix" in err


# ------------------------------------------------------------------ review: hostile files
def test_a_profile_cut_short_is_one_line_and_one_ignored_on_reading_is_srgb(tmp_path):
    icc = photos.icc_profile("Display P3")
    for cut in (icc[:300], icc[:150]):  # the tags' data gone; the tag table gone
        with pytest.raises(NStyleError, match="is cut short"):
            colour.matrix_shaper(cut)  # was struct.error: a traceback from the CLI
    photo = tmp_path / "cut.jpg"
    Image.fromarray(patches()).save(photo, icc_profile=icc[:300], quality=100, subsampling=0)
    picture, source = images.read_photo(photo)  # LittleCMS refuses it: read as sRGB ...
    assert np.abs(centres(picture) - PATCHES).max() <= 2
    assert source.icc is None  # ... so the photo's own profile is sRGB, not the broken one
    whole = wide_jpeg(tmp_path / "p3.jpg", "Display P3")
    assert images.read_photo(whole)[1].icc == icc  # a profile applied is kept


def test_a_truncated_heic_is_one_line(tmp_path):
    data = heic_bytes(patches())
    cut = tmp_path / "cut.heic"
    cut.write_bytes(data[:-10])  # the pixels' extent beyond the end: libheif's two lines
    with pytest.raises(NStyleError, match="not a readable image") as refused:
        images.read_image(cut)
    assert "\n" not in str(refused.value) and "\\n" not in str(refused.value)


@pytest.mark.parametrize("name", ["out.msp", "out.xbm", "out.h5"])
def test_an_output_type_pillow_cannot_write_is_refused_before_any_work(
    tmp_path, capsys, monkeypatch, name
):
    from nstyle.cli import single

    def paint(self):
        raise AssertionError("painted")

    monkeypatch.setattr(single.Run, "paint", paint)
    output = tmp_path / name
    argv = ["--content-image", str(wide_jpeg(tmp_path / "p.jpg", "Display P3")), "--gpu", "-1"]
    assert cli.main([*argv, "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert "nstyle cannot write a picture as" in err and "use .jpg, .png or .tif" in err
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == [tmp_path / "p.jpg"]


# ------------------------------------------------------------------ review: careless EXIF
def careless_exif_photo(path: Path) -> Path:
    """A photo whose EXIF stores Model and DateTime as RATIONALs (text in the standard), as
    some editors and cameras do; its Make is right."""
    import struct

    rational = struct.pack("<II", 1, 2)
    block = photos.raw_exif(
        [
            (0x010F, *photos.text("Canon")),
            (0x0110, photos.RATIONAL, 1, struct.pack("<II", 3, 1)),
            (0x0112, photos.SHORT, 1, struct.pack("<H", 1)),
            (0x0132, photos.RATIONAL, 1, rational),
        ]
    )
    photos.save(path, patches(), "JPEG", exif=block, quality=95)
    return path


def long_exif_photo(path: Path) -> Path:
    """A PNG whose EXIF holds 70 KB of Artist: more than a JPEG's EXIF segment holds."""
    tags = Image.Exif()
    tags[0x010F], tags[0x013B] = "Canon", "A" * 70_000
    photos.save(path, patches(), "PNG", exif=tags.tobytes())
    return path


def paint_cli(tmp_path: Path, tiny_weights_file, photo: Path, output: Path):
    import subprocess
    import sys

    argv = [sys.executable, str(ROOT / "run.py"), "--content-image", str(photo)]
    argv += ["--style-image", str(STYLE), "--weights", str(tiny_weights_file), "--gpu", "-1"]
    argv += ["--max-long-edge", "32", "--max-num-epochs", "1", "--save-epochs", "0"]
    return subprocess.run(
        [*argv, "--quiet", "--output", str(output)], capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize("name", ["out.jpg", "out.png", "out.tif", "out.webp"])
def test_a_text_tag_stored_as_a_number_is_left_out_with_one_line(tmp_path, name):
    """Issue 31: such a photo could not be painted at all ("cannot write a picture as JPEG
    ('IFDRational' object has no attribute 'encode')"): now what can be kept is kept."""
    photo = careless_exif_photo(tmp_path / "careless.jpg")
    picture, source = images.read_photo(photo)
    assert source.main == {0x010F: "Canon"}
    images.write_image(tmp_path / name, picture, source)
    with Image.open(tmp_path / name) as written:
        exif = written.getexif()
    assert exif[0x010F] == "Canon" and 0x0132 not in exif


def test_careless_exif_paints_on_the_command_line_with_one_warning(tmp_path, tiny_weights_file):
    """A RATIONAL DateTime, 70 KB of EXIF, a truncated EXIF block: each photo is painted,
    what of its metadata can be kept is, and each says so in one nstyle line; none prints
    Pillow's own warning (its UserWarning, with Pillow's source path)."""
    truncated = tmp_path / "truncated.jpg"
    block = photos.raw_exif([(0x010F, *photos.text("Canon")), (0x0131, *photos.text("x" * 40))])
    photos.save(truncated, patches(), "JPEG", exif=block[:-20], quality=95)
    cases = [
        (careless_exif_photo(tmp_path / "careless.jpg"), "Model (stored as a number: not"),
        (long_exif_photo(tmp_path / "long.png"), "Artist (too long for a JPEG)"),
        (truncated, "part of the file is damaged (Truncated File Read)"),
    ]
    for photo, said in cases:
        output = tmp_path / f"painted-{photo.stem}.jpg"
        done = paint_cli(tmp_path, tiny_weights_file, photo, output)
        assert done.returncode == 0, done.stderr
        assert done.stderr.startswith(f"nstyle: warning: {photo}: ") and said in done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        with Image.open(output) as written:
            assert written.getexif().get(0x010F) == "Canon"
