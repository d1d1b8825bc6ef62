"""Every path writes the same file (issue 31): a batch of HEIC photos comes out as 16-bit
TIFFs in their own profiles with their metadata, in this process and on a local Ray
cluster, as one photo painted alone would; the manifest tells a rerun with another type or
profile from one already done. The real VGG-16 at 64 px, one scale, 3 epochs."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from nstyle import cli
from nstyle.errors import NStyleError
from nstyle.many import inputs, manifest
from tests import photos
from tests.test_files_photo import patches
from tests.test_many import ROOT, TINY, mtimes, run_cli, run_workers
from tests.test_writing import singular_profile

P3 = photos.icc_profile("Display P3")


def heic(path: Path, turn: int) -> Path:
    """A phone's HEIC in Display P3 with its date, camera, lens and location; ``turn``
    makes each different."""
    path.parent.mkdir(parents=True, exist_ok=True)
    numbers = photos.in_profile(np.ascontiguousarray(np.rot90(patches(), turn)), "Display P3")
    photos.save(path, numbers, "HEIF", P3, exif=photos.exif(), quality=95)
    return path


def check_print(path: Path) -> np.ndarray:
    """A 16-bit TIFF in Display P3 with the photo's metadata but its location: its pixels."""
    written = tifffile.imread(path)
    assert written.dtype == np.uint16 and written.shape == (64, 64, 3)
    assert len(np.unique(written)) > 256  # the optimiser's floats, not 8 bits
    with Image.open(path) as result:
        assert result.info["icc_profile"] == P3
        exif = result.getexif()
        assert exif[0x0110] == "iPhone 15 Pro" and exif[0x0132] == "2024:05:01 10:11:12"
        assert exif.get_ifd(0x8769)[0x9003] == "2024:05:01 10:11:12"
        assert not exif.get_ifd(0x8825)  # the location only when asked
    return written


def test_output_paths_take_the_output_type():
    items = [inputs.Item(Path("a/x.heic"), inputs.IMAGE), inputs.Item(Path("v.mp4"), inputs.VIDEO)]
    assert [p.name for p in inputs.output_paths(items, "out", ".tif")] == ["x.tif", "v.mp4"]


def test_the_written_settings_leave_defaults_out():
    assert manifest.written("srgb", False, inputs.IMAGE) == {}  # earlier manifests stay valid
    assert manifest.written("photo", True, inputs.IMAGE) == {
        "output_profile": "photo",
        "keep_location": True,
    }
    assert manifest.written("photo", True, inputs.VIDEO) == {}


def test_a_batch_of_heic_photos_comes_out_as_16_bit_tiffs_in_their_profiles(tmp_path, capsys):
    folder = tmp_path / "phone"
    for turn, name in enumerate(["IMG_1.HEIC", "IMG_2.HEIC"]):
        heic(folder / name, turn)
    out = tmp_path / "prints"
    argv = ["--content-image", str(folder), "--output", str(out), *TINY]
    tif = [*argv, "--output-type", "tif", "--output-profile", "photo"]
    code, err = run_cli(tif, capsys)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [manifest.MANIFEST, "IMG_1.tif", "IMG_2.tif"]
    first = [check_print(out / f"IMG_{n}.tif") for n in (1, 2)]
    assert not np.array_equal(*first)

    # the same picture as one painted alone
    alone = tmp_path / "alone.tif"
    single = ["--content-image", str(folder / "IMG_1.HEIC"), "--output", str(alone), *TINY]
    assert cli.main([*single, "--output-profile", "photo", "--save-epochs", "0"]) == 0
    assert np.array_equal(check_print(alone), first[0])

    # another type is another file: painted, the TIFFs kept and still vouched for
    before = mtimes(out)
    code, err = run_cli([*argv, "--output-type", "png", "--output-profile", "photo"], capsys)
    assert code == 0 and "done: 2 painted, 0 already done" in err, err
    assert {n: t for n, t in mtimes(out).items() if n.endswith(".tif")} == {
        n: t for n, t in before.items() if n.endswith(".tif")
    }
    with Image.open(out / "IMG_1.png") as png:
        assert png.info["icc_profile"] == P3
    assert cv2.imread(str(out / "IMG_1.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    code, err = run_cli(tif, capsys)
    assert code == 0 and "2 of 2 already done and unchanged" in err, err
    # another profile is another picture of the same name: painted again, in sRGB
    code, err = run_cli([*argv, "--output-type", "tif"], capsys)
    assert code == 0 and "done: 2 painted, 0 already done" in err, err
    with Image.open(out / "IMG_1.tif") as written:
        assert written.info["icc_profile"] != P3


def test_an_output_type_and_a_named_output_of_another_type_is_one_line(tmp_path, capsys):
    photo = heic(tmp_path / "IMG_1.HEIC", 0)
    argv = ["--content-image", str(photo), "--output", str(tmp_path / "o.jpg"), *TINY]
    code, err = run_cli([*argv, "--output-type", "tif"], capsys)
    assert code == 2 and err.count("\n") == 1, err
    assert "is not a .tif file, as --output-type tif asks" in err
    assert sorted(tmp_path.iterdir()) == [photo]


@pytest.mark.platform
def test_on_a_local_ray_cluster_the_same_prints(tmp_path):
    folder = tmp_path / "phone"
    for turn, name in enumerate(["IMG_1.HEIC", "IMG_2.HEIC"]):
        heic(folder / name, turn)
    argv = [sys.executable, str(ROOT / "run.py"), "--content-image", str(folder), *TINY]
    argv += ["--output-type", "tif", "--output-profile", "photo"]
    ray = tmp_path / "ray"
    done = run_workers([*argv, "--output", str(ray), "--workers", "1"])
    assert done.returncode == 0, done.stderr
    assert "on a local Ray cluster: 1 worker(s)" in done.stderr
    here = tmp_path / "here"
    assert cli.main([*argv[2:], "--output", str(here)]) == 0
    for name in ("IMG_1.tif", "IMG_2.tif"):  # to float rounding (threads sum in other orders)
        there, local = check_print(ray / name), check_print(here / name)
        assert np.abs(there.astype(float) - local).mean() < 2 * 257
    # in sRGB too the worker's float picture is written: 16 bits, not 8 bits times 257
    srgb = tmp_path / "srgb"
    one = [a if a != str(folder) else str(folder / "IMG_1.HEIC") for a in argv[:-2]]
    done = run_workers([*one, "--output", str(srgb), "--workers", "1"])
    assert done.returncode == 0, done.stderr
    written = tifffile.imread(srgb / "IMG_1.tif")
    assert written.dtype == np.uint16 and np.any(written % 257)


def test_a_photo_a_batch_cannot_write_fails_before_it_is_painted(tmp_path, capsys):
    """Found from the photo's header before the runner starts (its line before the
    "painting" line), the other photo painted; when it is the only one, nothing starts."""
    folder = tmp_path / "photos"
    heic(folder / "a.heic", 0)
    # a profile whose matrix is singular cannot take the picture back into it
    Image.fromarray(patches()).save(folder / "b.png", icc_profile=singular_profile())
    out = tmp_path / "out"
    argv = ["--content-image", str(folder), "--output", str(out), "--output-profile", "photo"]
    code, err = run_cli([*argv, *TINY], capsys)
    assert code == 2, err
    failed = [line for line in err.splitlines() if line.startswith("nstyle: error: ")]
    assert failed[0].startswith(f"nstyle: error: {folder / 'b.png'}"), failed
    assert "cannot be inverted" in failed[0] and "1 of 2 inputs failed" in failed[1]
    assert err.index(failed[0]) < err.index("painting "), err  # before the runner starts
    assert "wrote" in err and "b.jpg" not in err  # a.jpg painted, b.png never
    assert sorted(p.name for p in out.iterdir()) == [manifest.MANIFEST, "a.jpg"]
    (folder / "a.heic").unlink()
    code, err = run_cli([*argv, *TINY], capsys)
    assert code == 2 and "1 of 1 inputs failed" in err, err
    assert "painting " not in err and "network:" not in err, err  # no runner, no weights


def test_a_photos_header_gives_what_reading_it_gives(tmp_path, caplog):
    """``read_source`` (the batch's check before painting) gives the profile and metadata
    ``read_photo`` gives, a profile it ignores included, with no warning (the reading that
    paints says it), and decodes no pixel: a file cut short in its pixels passes."""
    from nstyle.media import images
    from tests.test_files_photo import careless_exif_photo, long_exif_photo, wide_jpeg

    grey = tmp_path / "grey.png"  # an RGB profile on grey pixels: ignored, read as sRGB
    Image.fromarray(patches()[..., 0]).save(grey, icc_profile=photos.icc_profile("Display P3"))
    palette = tmp_path / "palette.png"
    Image.fromarray(patches()).convert("P").save(palette, icc_profile=P3)
    files = [
        heic(tmp_path / "phone.heic", 1),
        wide_jpeg(tmp_path / "wide.jpg", "Adobe RGB (1998)", exif=photos.exif(orientation=6)),
        careless_exif_photo(tmp_path / "careless.jpg"),
        long_exif_photo(tmp_path / "long.png"),
        grey,
        palette,
    ]
    for path in files:
        caplog.clear()
        source = images.read_source(path)
        assert not caplog.records, (path, caplog.text)
        assert source == images.read_photo(path)[1], path
    assert images.read_source(grey).icc is None and images.read_source(files[0]).icc == P3
    data = files[1].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:-64])  # its last pixels
    assert images.read_source(cut) == images.read_source(files[1])
    with pytest.raises(NStyleError):
        images.read_photo(cut)


def test_output_type_names_the_default_output_of_one_picture():
    from nstyle.cli.inputs import output_file
    from nstyle.config import Outputs

    assert output_file("output/out.jpg", Outputs(output_type="tif")) == Path("output/out.tif")
    assert output_file("output/out.jpg", Outputs()) == Path("output/out.jpg")
    assert output_file("print.png", Outputs(output_type="png")) == Path("print.png")


def test_a_video_among_the_inputs_says_the_picture_flags_are_the_pictures(
    tmp_path, capsys, monkeypatch
):
    from fractions import Fraction

    from nstyle.cli import batch
    from nstyle.media import video
    from tests.test_many import pan

    monkeypatch.setattr(batch.Many, "paint", lambda self: 0)  # the checks' lines only
    clip = video.write_video(tmp_path / "clip.mp4", pan(3), Fraction(10))
    argv = ["--content-image", str(clip), "--output", str(tmp_path / "out"), *TINY]
    code, err = run_cli([*argv, "--output-type", "tif", "--output-profile", "photo"], capsys)
    assert code == 0 and err.count("warning") == 1, err
    assert (
        "nstyle: warning: --output-type and --output-profile photo concern the pictures: "
        "videos are written as video files in sRGB"
    ) in err
    code, err = run_cli(argv, capsys)
    assert code == 0 and "warning" not in err, err
