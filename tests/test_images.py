"""Image I/O and the preprocess/postprocess pair of each weight convention."""

import os

import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from nstyle.errors import NStyleError
from nstyle.media import images
from nstyle.weights import CONVENTIONS


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_round_trip_of_each_convention(name, rgb):
    mean = CONVENTIONS[name].mean_pixel
    x = images.preprocess(rgb, mean)
    assert x.shape == (1, 3) + rgb.shape[:2] and x.dtype == np.float32
    assert_array_equal(images.postprocess(x, mean), rgb)


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_folded_first_conv_sees_what_the_weights_were_trained_on(name, rgb):
    """conv(folded W, our input) == conv(W, the convention's own input)."""
    convention = CONVENTIONS[name]
    w = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    ours = images.preprocess(rgb, convention.mean_pixel)
    theirs = convention.network_input(rgb.astype(np.float32).transpose(2, 0, 1)[None])

    def conv(x, weight):
        return mx.nd.Convolution(
            mx.nd.array(x), mx.nd.array(weight), kernel=(3, 3), num_filter=4, no_bias=True
        ).asnumpy()

    assert_allclose(
        conv(ours, convention.fold_first_conv(w)), conv(theirs, w), rtol=1e-4, atol=1e-3
    )


def test_convention_formulas_by_hand():
    pixel = np.array([255.0, 128.0, 0.0], np.float32).reshape(1, 3, 1, 1)
    torch = CONVENTIONS["torch-rgb"].network_input(pixel).ravel()
    assert_allclose(
        torch, [(1 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, -0.406 / 0.225], rtol=1e-5
    )
    bgr = CONVENTIONS["caffe-bgr"].network_input(pixel).ravel()
    assert_allclose(bgr, [0 - 103.939, 128 - 116.779, 255 - 123.68], rtol=1e-5)


def test_postprocess_clips_and_survives_nan():
    x = np.full((1, 3, 2, 2), 1e4, np.float32)
    x[0, 0, 0, 0] = -1e4
    x[0, 1, 1, 1] = np.nan
    out = images.postprocess(x, np.zeros(3))
    assert out.dtype == np.uint8 and out[0, 0, 0] == 0 and out[1, 1, 0] == 255


def test_resize_long_edge_keeps_aspect(rgb):
    out = images.resize_long_edge(rgb, 28)
    assert out.shape == (20, 28, 3) and out.dtype == np.uint8
    assert images.resize_long_edge(rgb, 56) is rgb
    with pytest.raises(NStyleError, match="at least 16 px"):
        images.resize_long_edge(rgb, 20)  # 14x20


def test_a_big_shrink_goes_by_blocks_first_and_looks_the_same():
    """36 MP to 512 px: block means in uint8, then scikit-image's anti-aliased shrink, within
    a grey level of scikit-image alone on a smooth picture (which took 13 s and 1.1 GiB of
    float64 here; the two steps 0.5 s and nothing beyond the result)."""
    from skimage.transform import resize

    h, w = 1800, 3200
    y, x = np.mgrid[0:h, 0:w]
    big = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (h + w)], -1).astype(np.uint8)
    direct = resize(big, (144, 256), order=1, anti_aliasing=True, preserve_range=True)
    assert np.abs(images.resize_to(big, (144, 256)).astype(float) - direct).max() <= 1.0


def test_a_big_shrink_takes_little_memory():
    """A 48 MB picture to 512 px within 160 MB of Python's and numpy's allocations (as
    tracemalloc counts them: the copies handed to Pillow; scikit-image alone took 738 MB,
    float64 values and their anti-aliasing filter's)."""
    import tracemalloc

    big = np.zeros((4000, 4000, 3), np.uint8)
    big[::3] = 200
    tracemalloc.start()
    try:
        images.resize_to(big, (512, 512))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 160 * 2**20, peak


def test_write_is_atomic_and_creates_folders(tmp_path, rgb):
    path = images.write_image(tmp_path / "a" / "b" / "out.png", rgb)
    assert_array_equal(images.read_image(path), rgb)
    assert os.listdir(path.parent) == ["out.png"]  # no temporary left
    with pytest.raises(NStyleError, match="unknown image type"):
        images.write_image(tmp_path / "out.xyz", rgb)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK"])
def test_read_converts_modes_to_rgb(tmp_path, rgb, mode):
    img = Image.fromarray(rgb)
    if mode == "I;16":
        img = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.jpg" if mode == "CMYK" else "x.png")
    img.save(path)
    out = images.read_image(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    if mode == "I;16":
        assert_array_equal(out[..., 0], rgb[..., 0])


def float_tiff(path, values) -> None:
    """A 32-bit float grey TIFF (Pillow's mode "F"), as scientific and HDR tools save."""
    Image.fromarray(np.asarray(values, np.float32)).save(path)


def test_a_float_tiff_is_read_in_0_to_1(tmp_path, rgb):
    """Issue 31: a 32-bit float TIFF of 0..1 was read as the levels 0 and 1 of 255 (a photo
    painted black; a mask of 1.0 painting nothing, one of 0.5 refused as black)."""
    grey = rgb[..., 1]
    float_tiff(tmp_path / "photo.tif", grey / np.float32(255))
    picture = images.read_image(tmp_path / "photo.tif")
    assert picture.shape == rgb.shape and np.abs(picture[..., 0].astype(int) - grey).max() <= 1
    float_tiff(tmp_path / "half.tif", np.full((8, 8), 0.5))
    assert_array_equal(images.read_mask(tmp_path / "half.tif"), np.full((8, 8), 128))
    float_tiff(tmp_path / "ones.tif", np.full((8, 8), 1.0))
    assert_array_equal(images.read_mask(tmp_path / "ones.tif"), np.full((8, 8), 255))
    float_tiff(tmp_path / "over.tif", np.full((8, 8), 1.002))  # a rounding's overshoot
    assert images.read_image(tmp_path / "over.tif").min() == 255


@pytest.mark.parametrize(
    "values, said",
    [
        (np.full((8, 8), np.nan), "a float image holding NaN or inf values"),
        (np.full((8, 8), np.inf), "a float image holding NaN or inf values"),
        (np.full((8, 8), 200.0), "a float image with values in 200..200: nstyle reads float"),
        (np.full((8, 8), -0.5), "a float image with values in -0.5..-0.5"),
    ],
)
def test_a_float_tiff_beyond_0_to_1_is_one_line(tmp_path, values, said):
    path = tmp_path / "f.tif"
    float_tiff(path, values)
    with pytest.raises(NStyleError) as raised:
        images.read_image(path)
    assert str(raised.value).startswith(f"{path}: {said}"), raised.value
    with pytest.raises(NStyleError) as raised:
        images.read_mask(path, what="--content-mask")
    assert str(raised.value).startswith(f"--content-mask {path}: {said}"), raised.value


def test_read_honours_exif_orientation(tmp_path, rgb):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: display turns it 90 degrees clockwise
    Image.fromarray(rgb).save(tmp_path / "r.jpg", exif=exif)
    assert images.read_image(tmp_path / "r.jpg").shape == (56, 40, 3)


def test_truncated_jpeg_is_refused(tmp_path, rgb):
    path = images.write_image(tmp_path / "whole.jpg", rgb)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(NStyleError, match="cut.jpg: not a readable image"):
        images.read_image(cut)


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\n\0\0"])
def test_unreadable_files_give_one_clear_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(NStyleError, match="not a readable image"):
        images.read_image(path)
    with pytest.raises(NStyleError, match="does not exist"):
        images.read_image(tmp_path / "missing.jpg")


def test_denoise_smooths_and_zero_is_off(rgb):
    noisy = np.clip(rgb + np.random.default_rng(0).normal(0, 30, rgb.shape), 0, 255).astype(
        np.uint8
    )
    assert images.denoise(noisy, 0) is noisy
    smooth = images.denoise(noisy, 0.1)
    assert smooth.dtype == np.uint8
    assert (
        np.abs(np.diff(smooth.astype(float), axis=1)).mean()
        < np.abs(np.diff(noisy.astype(float), axis=1)).mean()
    )


def test_colour_transfer_round_trip(rgb):
    y = images.luminance(rgb)
    assert y.shape == rgb.shape[:2] and 0 <= y.min() and y.max() <= 255
    back = images.with_colours_of(images.grey(y), rgb)
    assert np.abs(back.astype(int) - rgb).max() <= 3  # only rounding and gamut clipping


def test_match_luminance_takes_the_reference_histogram():
    rng = np.random.default_rng(0)
    y, reference = rng.normal(50, 5, (32, 32)), rng.exponential(40, (24, 36))
    matched = images.match_luminance(y, reference)
    assert matched.shape == y.shape
    quantiles = np.linspace(0.05, 0.95, 10)
    assert_allclose(
        np.quantile(matched, quantiles), np.quantile(reference, quantiles), rtol=0.05, atol=1.0
    )  # the skewed shape too, not only mean and spread
    assert np.array_equal(np.argsort(matched, axis=None), np.argsort(y, axis=None))
