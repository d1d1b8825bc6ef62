"""Spatial control (issue 24): guides on the features' grid, guided Gram matrices against
numpy and finite differences, a guide of ones equal to no guide, regions and masks."""

import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from nstyle.engine import guides
from nstyle.engine.objective import LossExecutor
from nstyle.engine.scale import style_targets
from nstyle.engine.terms import Network
from nstyle.errors import NStyleError, NStyleTypeError
from tests.test_losses import CONTENT, STYLE, tiny_network


def test_a_guide_lies_on_each_layer_s_grid_at_odd_sizes():
    net = tiny_network()
    shape = (1, 3, 37, 53)
    guide = np.random.default_rng(0).uniform(0, 1, (1, 1, 37, 53))
    on_layers = guides.layer_guides(guide, 16, STYLE, mx.cpu(), "float64")
    _, feature_shapes, _ = mx.sym.Group([net.features[n] for n in STYLE]).infer_shape(data=shape)
    for name, feature_shape in zip(STYLE, feature_shapes):
        assert on_layers[name].shape == (1, 1, *feature_shape[2:]), name
    # relu1_1 sees the guide itself; relu2_1 its 2x2 means (the floor drops the odd row)
    assert_allclose(on_layers["relu1_1"].asnumpy(), guide)
    means = guide[0, 0, :36, :52].reshape(18, 2, 26, 2).mean(axis=(1, 3))
    assert_allclose(on_layers["relu2_1"].asnumpy()[0, 0], means)


def written_guided_objective(net, x, targets, regions, style_weight, content_weight):
    """sum_k sum_l sw/(C_l^2 H_l W_l) ||gram(F_l * g_kl) - A_kl||^2 + cw ||F - P||^2, in
    numpy from the network's features."""
    symbols = [net.features[n] for n in STYLE + CONTENT]
    data = mx.nd.array(x, dtype="float64")
    executor = mx.sym.Group(symbols).bind(mx.cpu(), dict(net.params, data=data))
    features = dict(zip(STYLE + CONTENT, (o.asnumpy() for o in executor.forward())))
    positions = net.positions(x.shape)
    total = 0.0
    for k in range(regions):
        for name in STYLE:
            c = net.channels[name]
            guided = (features[name] * targets[f"guide_r{k}_{name}"].asnumpy()).reshape(c, -1)
            diff = guided @ guided.T - targets[f"target_gram_r{k}_{name}"].asnumpy()
            total += style_weight / (c**2 * positions[name]) * np.sum(diff**2)
    for name in CONTENT:
        diff = features[name] - targets[f"target_content_{name}"].asnumpy()
        total += content_weight * np.sum(diff**2)
    return total


def two_regions(net, shape, rng):
    """Targets of two paintings, one per half (soft at the seam), and the photo's features."""
    left = np.zeros(shape[2:], np.float32)
    left[:, : shape[3] // 2] = 1
    left[:, shape[3] // 2] = 0.5
    paintings = [rng.uniform(-100, 100, shape), rng.uniform(-100, 100, (1, 3, 20, 14))]
    regions = guides.regions([left, 1 - left], [1.0, 1.0])
    targets = guides.region_targets(net, paintings, regions, shape)
    photo = net.targets(rng.uniform(-100, 100, shape))
    targets.update({k: v for k, v in photo.items() if "content" in k})
    return targets, len(regions)


def test_the_guided_gradient_equals_finite_differences_of_the_objective():
    net = tiny_network()
    rng = np.random.default_rng(2)
    shape = (1, 3, 16, 20)
    targets, regions = two_regions(net, shape, rng)
    x = rng.uniform(-100, 100, shape)
    image = mx.nd.array(x, dtype="float64")
    loss = LossExecutor(net, targets, image, 3.0, 0.5, regions=regions)
    loss.step()
    grad = loss.grad.asnumpy()
    assert len([n for n in loss.names if n.startswith("style_r")]) == 2 * len(STYLE)

    def objective(y):
        return written_guided_objective(net, y, targets, regions, 3.0, 0.5)

    assert_allclose(sum(loss.weighted_losses().values()), objective(x), rtol=1e-10)
    h = 1e-3
    for index in [(0, 0, 0, 0), (0, 1, 7, 9), (0, 2, 15, 19), (0, 0, 8, 10), (0, 2, 3, 12)]:
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric = (objective(plus) - objective(minus)) / (2 * h)
        assert_allclose(grad[index], numeric, rtol=1e-5, atol=1e-8 * np.abs(grad).max())


def test_a_region_covering_everything_is_the_unguided_objective():
    """One mask of ones for two blended paintings: the same targets, loss and gradient as
    without masks (the coverage of ones is the positions)."""
    net = tiny_network()
    rng = np.random.default_rng(4)
    shape = (1, 3, 24, 18)
    paintings = [rng.uniform(-100, 100, shape), rng.uniform(-100, 100, (1, 3, 16, 30))]
    blend = [0.25, 0.75]
    ones = np.ones(shape[2:], np.float32)
    regions = guides.regions([ones, ones], blend)
    assert len(regions) == 1 and regions[0].weights == (0.25, 0.75)
    guided = guides.region_targets(net, paintings, regions, shape)
    plain = style_targets(net, paintings, blend, shape)
    for name in STYLE:
        assert_allclose(
            guided[f"target_gram_r0_{name}"].asnumpy(),
            plain[f"target_gram_{name}"].asnumpy(),
            rtol=1e-12,
        )
    content = {
        k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k
    }
    x = rng.uniform(-100, 100, shape)
    results = []
    for targets, regions_count in (({**guided, **content}, 1), ({**plain, **content}, 0)):
        loss = LossExecutor(
            net, targets, mx.nd.array(x, dtype="float64"), 2.0, 1.0, regions=regions_count
        )
        loss.step()
        results.append((sum(loss.weighted_losses().values()), loss.grad.asnumpy()))
    assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    assert_allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-12)


def test_a_style_mask_takes_the_painting_s_statistics_from_its_part_only():
    """A painting whose left half is one texture and right half another: masked to its left
    half, its target is the left half's Gram alone (brought to the photo's coverage)."""
    net = tiny_network()
    rng = np.random.default_rng(5)
    painting = rng.uniform(-100, 100, (1, 3, 16, 32))
    left_mask = np.zeros((16, 32), np.float32)
    left_mask[:, :16] = 1
    shape = (1, 3, 16, 16)
    regions = guides.regions([np.ones((16, 16), np.float32)], [1.0])
    masked = guides.region_targets(net, [painting], regions, shape, [left_mask])
    left_only = style_targets(net, [np.ascontiguousarray(painting[..., :16])], [1.0], shape)
    for name in ("relu1_1", "relu2_1"):  # shallow layers: the seam's margin is small
        got, want = masked[f"target_gram_r0_{name}"].asnumpy(), left_only[f"target_gram_{name}"]
        assert np.linalg.norm(got - want.asnumpy()) < 0.1 * np.linalg.norm(want.asnumpy())


def test_styles_with_the_same_mask_share_a_region_blended_there():
    a, b = np.zeros((4, 6), np.float32), np.ones((4, 6), np.float32)
    a[0, 0] = 1
    found = guides.regions([a, b, a.copy()], [1.0, 2.0, 3.0])
    assert [r.styles for r in found] == [(0, 2), (1,)]
    assert found[0].weights == (0.25, 0.75) and found[1].weights == (1.0,)
    with pytest.raises(NStyleError, match="all weigh 0"):
        guides.regions([a, a], [0.0, 0.0])


@pytest.mark.parametrize(
    "mask, error, message",
    [
        ([[1, 0]], NStyleTypeError, "masks[0]: expected a numpy array, got list"),
        (np.ones((4, 4, 3), np.uint8), NStyleError, "masks[0]: expected a greyscale mask"),
        (np.zeros((4, 4), np.uint8), NStyleError, "masks[0] is empty everywhere"),
        (np.full((4, 4), 2.0), NStyleError, "masks[0]: a float mask's values must be in 0..1"),
        (np.ones((4, 4), np.int64), NStyleError, "masks[0]: expected uint8, bool or float"),
        # issue 31: these raised ValueError (empty) and MXNetError (np.matrix) from inside
        (np.zeros((0, 5), np.float32), NStyleError, "masks[0]: the mask is empty, shape (0, 5)"),
        (np.zeros((5, 0), bool), NStyleError, "masks[0]: the mask is empty, shape (5, 0)"),
        (
            np.matrix(np.ones((4, 4))),
            NStyleTypeError,
            "masks[0]: expected a numpy array, got matrix",
        ),
        (np.ma.masked_array(np.ones((4, 4))), NStyleTypeError, "masks[0]: expected a numpy array"),
        (np.ones(4), NStyleError, "masks[0]: expected a greyscale mask (H, W), got an array of"),
        (np.ones((1, 1, 4, 4)), NStyleError, "masks[0]: expected a greyscale mask (H, W)"),
        (np.full((4, 4), np.nan), NStyleError, "masks[0]: the mask holds NaN or inf values"),
        (np.full((4, 4), np.inf), NStyleError, "masks[0]: the mask holds NaN or inf values"),
        (np.full((4, 4), -0.5), NStyleError, "masks[0]: a float mask's values must be in 0..1"),
        (np.ones((4, 4), complex), NStyleError, "masks[0]: expected uint8, bool or float"),
        (np.ones((4, 4), object), NStyleError, "masks[0]: expected uint8, bool or float"),
    ],
)
def test_a_mask_that_cannot_work_is_named(mask, error, message):
    with pytest.raises(error) as raised:
        guides.as_mask(mask, "masks[0]")
    assert str(raised.value).startswith(message)


def test_a_style_mask_that_cannot_work_is_one_line_before_any_work(tiny_weights_file):
    """The painter's ``style_masks`` are checked as ``masks`` are (issue 31)."""
    import nstyle
    from tests.test_hostile_library import RGB, STYLE, raised_by_a_check

    for mask, error in (
        (np.matrix(np.ones((8, 8))), NStyleTypeError),
        (np.ones((0, 3)), NStyleError),
    ):
        with pytest.raises(error, match=r"^style_masks\[0\]: ") as raised:
            nstyle.stylize(RGB, STYLE, weights=str(tiny_weights_file), masks=[np.ones((8, 8))],
                           style_masks=[mask], max_long_edge=32)  # fmt: skip
        raised_by_a_check(raised)


def test_a_memory_mapped_mask_is_taken(tmp_path):
    mapped = np.lib.format.open_memmap(tmp_path / "m.npy", "w+", np.uint8, (6, 6))
    mapped[:, 3:] = 255
    assert guides.as_mask(mapped, "m")[:, 3:].min() == 1.0


def test_masks_of_each_kind_become_guides_in_0_to_1():
    assert guides.as_mask(np.array([[0, 255]], np.uint8), "m").tolist() == [[0.0, 1.0]]
    assert guides.as_mask(np.array([[False, True]]), "m").tolist() == [[0.0, 1.0]]
    assert guides.as_mask(np.array([[0.0, 0.5]]), "m").dtype == np.float32


# ------------------------------------------------------------------ real runs, real VGG-16
def stripes(colour, size=96, period=8):
    """A painting of ``colour`` stripes on white: strong colour statistics."""
    picture = np.full((size, size, 3), 255, np.uint8)
    for start in range(0, size, period):
        picture[:, start : start + period // 2] = colour
    return picture


@pytest.fixture(scope="module")
def photo():
    from nstyle.media import images

    return images.resize_long_edge(images.read_image("input/content.jpg"), 128)


RUN = dict(max_long_edge=128, num_scales=1, max_num_epochs=40, min_num_epochs=40, seed=0)


def test_a_protected_region_keeps_the_photo_and_the_rest_is_painted(vgg16, photo):
    """A mask on the right half only: the left half (more than 16 px from the seam) stays
    within a few grey levels of the photo; the right half is painted."""
    import nstyle

    h, w = photo.shape[:2]
    right = np.zeros((h, w), np.float32)
    right[:, w // 2 :] = 1
    painting = stripes((200, 30, 30))
    masked = nstyle.stylize(photo, painting, weights=vgg16, masks=[right], **RUN).astype(float)
    kept = np.abs(masked[16:-16, 16 : w // 2 - 16] - photo[16:-16, 16 : w // 2 - 16]).mean()
    painted = np.abs(masked[:, w // 2 + 16 :] - photo[:, w // 2 + 16 :]).mean()
    assert kept <= 6, kept
    assert painted > 4 * kept and painted > 10, (painted, kept)


def test_two_halves_take_two_paintings(vgg16, photo):
    """Left half red stripes, right half blue: each half leans to its own painting's colour."""
    import nstyle

    h, w = photo.shape[:2]
    left = np.zeros((h, w), np.float32)
    left[:, : w // 2] = 1
    paintings = [stripes((220, 20, 20)), stripes((20, 20, 220))]
    picture = nstyle.stylize(photo, paintings, weights=vgg16, masks=[left, 1 - left], **RUN)
    redness = picture[..., 0].astype(float) - picture[..., 2]
    assert redness[:, : w // 2 - 16].mean() > redness[:, w // 2 + 16 :].mean() + 20


@pytest.mark.parametrize(
    "masks, error, message",
    [
        ("mask.png", NStyleTypeError, "masks: expected a list of arrays, one per style image"),
        ([np.ones((8, 8))] * 2, NStyleError, "masks: 2 mask(s) for 1 style image(s)"),
        ([np.zeros((8, 8), bool)], NStyleError, "masks[0] is empty everywhere"),
        ([np.ones((8, 8, 4), np.uint8)], NStyleError, "masks[0]: expected a greyscale mask"),
        ([np.zeros((0, 5))], NStyleError, "masks[0]: the mask is empty, shape (0, 5)"),
        ([np.matrix(np.ones((8, 8)))], NStyleTypeError, "masks[0]: expected a numpy array"),
    ],
)
def test_masks_that_cannot_work_are_one_line_before_any_work(
    tiny_weights_file, masks, error, message
):
    import nstyle
    from tests.test_hostile_library import RGB, STYLE, raised_by_a_check

    with pytest.raises(error) as raised:
        nstyle.stylize(RGB, STYLE, weights=str(tiny_weights_file), masks=masks, max_long_edge=32)
    assert str(raised.value).startswith(message), str(raised.value)
    raised_by_a_check(raised)


def test_a_big_mask_is_shrunk_once_as_a_photo_is(tiny_weights_file):
    """A 4000x4000 content mask and style mask on a 128-px run, two scales: the masks are
    shrunk once by block means (uint8, as photos are), never resized at full size in
    float64 at each scale (issue 31: a 9000x9000 mask took 57 s, the photo alone 4 s). The
    arrays numpy makes while painting stay under the masks' own bytes."""
    import tracemalloc

    from nstyle.engine.painter import Painter
    from nstyle.weights import read_weights
    from tests.test_hostile_library import RGB, STYLE

    big = np.zeros((4000, 4000), np.uint8)
    big[:, 2000:] = 255
    options = nstyle_options(max_long_edge=128, num_scales=2, max_num_epochs=1, optimizer="sgd")
    tracemalloc.start()
    try:
        painter = Painter(STYLE, options, weights=read_weights(tiny_weights_file),
                          style_masks=[big])  # fmt: skip
        result = painter.paint(RGB, masks=[big])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.image.shape[:2] == (91, 128)
    assert peak < 2 * big.nbytes, f"{peak / 1e6:.0f} MB for masks of {big.nbytes / 1e6:.0f} MB"


# ------------------------------------------------------------------ the command line
@pytest.fixture(scope="module")
def mask_files(tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("masks")
    half = np.zeros((60, 80), np.uint8)
    half[:, 40:] = 255
    Image.fromarray(half).save(folder / "right.png")
    Image.fromarray(255 - half).save(folder / "left.png")
    Image.fromarray(np.zeros((60, 80), np.uint8)).save(folder / "black.png")
    Image.fromarray(np.dstack([half, half, half, half])).save(folder / "alpha.png")
    Image.fromarray(half.astype(np.uint16) * 257).save(folder / "deep.png")
    (folder / "text.png").write_text("not an image")
    return folder


def run(tmp_path, weights, *argv):
    import subprocess
    import sys

    from tests.test_cli import ROOT

    command = [sys.executable, str(ROOT / "run.py"), "--weights", str(weights), "--gpu", "-1"]
    command += ["--max-long-edge", "48", "--max-num-epochs", "3", "--save-epochs", "0"]
    return subprocess.run(
        [*command, "--quiet", *argv], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_the_command_line_paints_with_masks(tmp_path, tiny_weights_file, mask_files):
    out = tmp_path / "out.png"
    done = run(
        tmp_path, tiny_weights_file, "--style-image", "input/style.jpg", "input/style.jpg",
        "--content-mask", mask_files / "left.png", mask_files / "right.png",
        "--style-mask", mask_files / "right.png", mask_files / "left.png", "--output", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_float_tiffs_are_read_in_0_to_1_on_the_command_line(tmp_path, tiny_weights_file):
    """Issue 31: a float TIFF photo (0..1) was painted black and a mask of 0.5 refused as
    black everywhere; now the photo is read as it looks and the mask paints."""
    from PIL import Image

    from nstyle.media import images
    from tests.conftest import make_rgb

    grey = make_rgb()[..., 1].astype(np.float32) / 255
    Image.fromarray(grey).save(tmp_path / "photo.tif")
    Image.fromarray(np.full(grey.shape, 0.5, np.float32)).save(tmp_path / "half.tif")
    out = tmp_path / "out.png"
    done = run(
        tmp_path, tiny_weights_file, "--content-image", tmp_path / "photo.tif",
        "--content-mask", tmp_path / "half.tif", "--output", out,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    picture = images.read_image(out).astype(float)
    assert abs(picture.mean() - 255 * grey.mean()) < 40, picture.mean()  # not black
    Image.fromarray(np.full(grey.shape, 3.0, np.float32)).save(tmp_path / "three.tif")
    done = run(tmp_path, tiny_weights_file, "--content-mask", tmp_path / "three.tif")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(
        f"nstyle: error: --content-mask {tmp_path / 'three.tif'}: a float image with values "
        "in 3..3: nstyle reads float images in 0..1"
    ), done.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--content-mask", "right.png", "left.png"], "--content-mask: 2 mask(s) for 1 style"),
        (["--content-mask", "black.png"], "--content-mask MASKS/black.png is black everywhere"),
        (["--content-mask", "alpha.png"], "--content-mask MASKS/alpha.png has an alpha channel"),
        (["--content-mask", "deep.png"], "--content-mask MASKS/deep.png has 16 bits per value"),
        (["--content-mask", "text.png"], "MASKS/text.png: not a readable image"),
        (["--style-mask", "right.png"], "--style-mask works with --content-mask"),
        (["--content-mask", "right.png", "--output", "right.png"], "--output MASKS/right.png"),
    ],
)
def test_masks_that_cannot_work_are_one_line_and_exit_2(
    tmp_path, tiny_weights_file, mask_files, argv, message
):
    in_folder = [str(mask_files / a) if a.endswith(".png") else a for a in argv]
    done = run(tmp_path, tiny_weights_file, *in_folder)
    message = message.replace("MASKS", str(mask_files))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"nstyle: error: {message}"), done.stderr
    assert done.stderr.count("\n") == 1


def test_the_memory_plan_counts_each_region_s_guided_features():
    from nstyle.engine import memory

    net = tiny_network("float32")
    plain = memory.predict(net, 96, 128, None, "lbfgs", 20)
    two = memory.predict(net, 96, 128, None, "lbfgs", 20, regions=2)
    styled = sum(net.channels[n] * net.positions((1, 3, 96, 128))[n] for n in STYLE)
    assert two.peak - plain.peak >= 2 * 2 * 4 * styled  # features and gradient, float32


def test_a_masked_picture_in_tiles_is_the_whole_picture(vgg16):
    """Beyond memory (a 1.2 GiB cap at 384 px: 4 tiles), masks paint as they do whole: the
    same picture after a few epochs of the original loop, within a grey level."""
    from nstyle.engine.painter import Painter
    from nstyle.media import images

    photo = images.resize_long_edge(images.read_image("input/content.jpg"), 384)
    h, w = photo.shape[:2]
    right = np.zeros((h, w), np.float32)
    right[:, w // 2 :] = 1
    painting = images.read_image("input/style.jpg")
    settings = dict(max_long_edge=384, num_scales=1, optimizer="sgd", lr=1e-2, max_num_epochs=2)
    pictures = []
    for cap in (None, 1.2):
        painter = Painter(painting, nstyle_options(**settings, max_memory=cap), weights=vgg16)
        [scale] = painter.plan(photo.shape, regions=1).scales
        assert (scale.tile is None) == (cap is None), scale
        pictures.append(painter.paint(photo, masks=[right]).image.astype(int))
    whole, tiled = pictures
    assert np.abs(whole - photo)[:, w // 2 :].mean() > 1  # it did paint
    assert np.abs(tiled - whole).max() <= 1 and np.mean(tiled != whole) < 0.01


def nstyle_options(**settings):
    import nstyle

    return nstyle.Options(**settings)


def thirds(width: int, soft: bool = True) -> list[np.ndarray]:
    """Three regions side by side, each mask soft over a sixth of the width on either side
    (they overlap there, at every layer), or each everywhere (``soft=False``: grey levels,
    every region on every position)."""
    x = np.linspace(-0.5, 2.5, width)
    if not soft:
        return [np.full((1, width), 0.3 + 0.2 * k, np.float32) for k in range(3)]
    return [np.clip(1.5 - 2 * np.abs(x - k), 0, 1)[None].astype(np.float32) for k in range(3)]


def test_regions_hold_no_extra_copy_of_a_layer():
    """Memory (docs/BENCHMARKS.md, "Photo to photo"): a region's guide is bound as one
    number per gathered position, not repeated over the channels (a copy of the region's
    features); three regions that overlap little are gathered once on each style layer
    (one ``take``: its backward one gradient of the layer, not one per region summed by
    ``add_n``), three that cover everything once each (there the split's copies cost more
    than the sum)."""
    net = tiny_network()
    shape = (1, 3, 16, 24)
    rng = np.random.default_rng(3)
    paintings = [rng.uniform(-100, 100, (1, 3, 20, 14)) for _ in range(3)]
    targets = {
        k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k
    }
    image = mx.nd.array(np.zeros(shape), dtype="float64")
    for soft, takes in ((True, len(STYLE)), (False, 3 * len(STYLE))):
        masks = [m.repeat(shape[2], 0) for m in thirds(shape[3], soft)]
        found = guides.regions(masks, [1.0] * 3)
        targets.update(guides.region_targets(net, paintings, found, shape))
        loss = LossExecutor(net, targets, image, 3.0, 0.5, regions=3, style_loss="w2")
        arrays = loss.executor.arg_dict
        for name in STYLE:
            widths = [arrays[f"guide_r{k}_{name}"].shape for k in range(3)]
            assert all(w[0] == 1 for w in widths)
            assert arrays[f"index_{name}"].shape == (sum(w[1] for w in widths),)
        ops = loss.executor._symbol.get_internals().list_outputs()
        assert len([n for n in ops if n.startswith("take")]) == takes, soft


def per_region_objective(net, targets, image, regions, heads):
    """The guided Gram terms as they were written before, one gather per region and
    layer, and the content terms: (each term's value, the data gradient of the terms
    times ``heads``)."""
    losses, arrays = [], {}
    for name in net.style_layers:
        c = net.channels[name]
        rows = mx.sym.Reshape(net.features[name], shape=(c, -1))
        for k in range(regions):
            values = targets[f"guide_r{k}_{name}"].asnumpy().reshape(-1)
            where = np.flatnonzero(values > 0)
            arrays[f"i{k}_{name}"] = mx.nd.array(where, dtype="int32")
            arrays[f"g{k}_{name}"] = mx.nd.array(np.square(values[where])[None])
            arrays[f"t{k}_{name}"] = targets[f"target_gram_r{k}_{name}"]
            gathered = mx.sym.take(rows, mx.sym.var(f"i{k}_{name}"), axis=1)
            weighted = mx.sym.BlockGrad(mx.sym.broadcast_mul(gathered, mx.sym.var(f"g{k}_{name}")))
            gram = mx.sym.FullyConnected(gathered, weighted, no_bias=True, num_hidden=c)
            losses.append(mx.sym.sum(mx.sym.square(mx.sym.var(f"t{k}_{name}") - gram)))
    for name in net.content_layers:
        arrays[f"c_{name}"] = targets[f"target_content_{name}"]
        losses.append(mx.sym.sum(mx.sym.square(mx.sym.var(f"c_{name}") - net.features[name])))
    grad = mx.nd.zeros(image.shape)
    executor = mx.sym.Group(losses).bind(
        mx.cpu(), {**net.params, **arrays, "data": image}, args_grad={"data": grad},
        grad_req={"data": "write"},
    )  # fmt: skip
    executor.forward(is_train=True)
    styled = len(losses) - len(net.content_layers)  # their gradient through one operand
    executor.backward([mx.nd.array([h * (2 if i < styled else 1)]) for i, h in enumerate(heads)])
    return np.concatenate([o.asnumpy() for o in executor.outputs]), grad.asnumpy()


@pytest.mark.parametrize("soft", [True, False])
def test_one_gather_per_layer_gives_the_per_region_terms(vgg16, soft):
    """The real VGG-16, three regions overlapping at their borders (one gather a layer) or
    everywhere (one gather a region): the guided terms' values and the image's gradient
    are the per-region gathers' as they were written before, within float32 rounding."""
    import model_vgg19

    net = Network.build(
        vgg16.network_params, 16, model_vgg19.STYLE_LAYERS, ("relu4_2",), "avg", mx.cpu(),
        vgg16.channels,
    )  # fmt: skip
    rng = np.random.default_rng(11)
    shape = (1, 3, 48, 64)
    masks = [m.repeat(shape[2], 0) for m in thirds(shape[3], soft)]
    paintings = [rng.uniform(-100, 100, (1, 3, 40, 56)) for _ in masks]
    found = guides.regions(masks, [1.0] * 3)
    targets = guides.region_targets(net, paintings, found, shape)
    photo = net.targets(rng.uniform(-100, 100, shape))
    targets.update({k: v for k, v in photo.items() if "content" in k})
    image = mx.nd.array(rng.uniform(-100, 100, shape))
    loss = LossExecutor(net, targets, image, 1.0, 20.0, regions=3)
    loss.step()
    order = [f"style_r{k}_{n}" for n in net.style_layers for k in range(3)]
    order += [f"content_{n}" for n in net.content_layers]
    assert sorted(loss.names) == sorted(order)
    heads = loss.head_weights[[loss.names.index(n) for n in order]]
    values, grad = per_region_objective(net, targets, image, 3, heads)
    mine = loss.weighted_losses()
    assert_allclose([mine[n] for n in order], values * heads, rtol=1e-5)
    assert np.abs(grad).max() > 0
    assert_allclose(loss.grad.asnumpy(), grad, rtol=0, atol=1e-5 * np.abs(grad).max())
