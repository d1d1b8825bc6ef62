"""Tiled loss and gradient against the untiled executor; the tile plan on pure numbers."""

import gc
import weakref

import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose

from nstyle.engine.layout import TilePlan, layer_margins, layer_strides
from nstyle.engine.objective import LossExecutor
from nstyle.engine.terms import Network
from nstyle.engine.tiles import TiledLoss, tiled_targets
from nstyle.spec import layer_plan, relu_names
from tests.conftest import TINY_CHANNELS, random_vgg

CONFIGS = {
    "style": (("relu1_1", "relu2_1", "relu3_1"), ()),
    "content": ((), ("relu2_2",)),
    "both": (("relu1_1", "relu2_1", "relu3_1"), ("relu2_2",)),
    "shared": (("relu1_2", "relu2_2"), ("relu2_2",)),  # one layer read by both losses
}
# (image H, W, tile): one tile, 2x2, uneven at the border, tiles smaller than the margin.
LAYOUTS = {
    "one": (24, 28, (24, 28)),
    "2x2": (24, 32, (12, 16)),
    "uneven": (22, 30, (12, 8)),
    "small": (16, 20, 4),
}


def untiled_and_tiled(config, layout, pooling="avg"):
    style, content = CONFIGS[config]
    h, w, tile = LAYOUTS[layout]
    net = Network.build(
        random_vgg(16, TINY_CHANNELS), 16, style, content, pooling, mx.cpu(), TINY_CHANNELS,
        "float64",
    )  # fmt: skip
    rng = np.random.default_rng(4)
    shape = (1, 3, h, w)
    targets = {
        **{k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "gram" in k},
        **{k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k},
    }
    x = rng.uniform(-100, 100, shape)
    weights = {n: 1.0 + i for i, n in enumerate(style)}
    loss = LossExecutor(net, targets, mx.nd.array(x, dtype="float64"), 3.0, 0.5, weights)
    loss.step()
    expected = (sum(loss.weighted_losses().values()), loss.grad.asnumpy())
    tiled = TiledLoss(net, targets, mx.nd.array(x, dtype="float64"), tile, 3.0, 0.5, weights)
    tiled.step()
    value = sum(tiled.weighted_losses().values())
    return expected, (value, tiled.grad.asnumpy()), tiled.plan


@pytest.mark.parametrize(
    "config, layout",
    [(c, layout) for c in ("style", "content", "both") for layout in sorted(LAYOUTS)]
    + [("shared", "small")],
)
def test_tiled_value_and_gradient_equal_the_untiled(config, layout):
    (value, grad), (tiled_value, tiled_grad), plan = untiled_and_tiled(config, layout)
    if layout == "small":
        assert plan.tile[0] < plan.margin and len(plan.tiles) == 20
    elif layout == "one":
        assert len(plan.tiles) == 1
    assert_allclose(tiled_value, value, rtol=1e-10)
    assert_allclose(tiled_grad, grad, rtol=1e-9, atol=1e-12 * np.abs(grad).max())


@pytest.mark.parametrize("kind", ["whole", "tiled"])
def test_kept_losses_do_not_keep_the_executors(kind):
    """A caller keeps the last epoch's losses (the CLI's progress, for an interrupted run):
    they must not keep that scale's executors alive into the next scale (at 2048 px in
    tiles they are 2 GiB)."""
    net = Network.build(
        random_vgg(16, TINY_CHANNELS), 16, ("relu1_1",), ("relu2_2",), "avg", mx.cpu(),
        TINY_CHANNELS, "float64",
    )  # fmt: skip
    x = mx.nd.array(np.random.default_rng(0).uniform(-100, 100, (1, 3, 16, 20)), dtype="float64")
    targets = net.targets(x.asnumpy() + 1)
    if kind == "whole":
        loss = LossExecutor(net, targets, x, 3.0, 0.5)
    else:
        loss = TiledLoss(net, targets, x, 8, 3.0, 0.5)
    loss.step()
    expected = loss.weighted_losses()
    kept, gone = loss.snapshot(), weakref.ref(loss)
    del loss
    gc.collect()
    assert gone() is None
    assert kept() == expected


def test_tiled_max_pooling_equals_the_untiled():
    (value, grad), (tiled_value, tiled_grad), _ = untiled_and_tiled("both", "uneven", "max")
    assert_allclose(tiled_value, value, rtol=1e-10)
    assert_allclose(tiled_grad, grad, rtol=1e-9, atol=1e-12 * np.abs(grad).max())


@pytest.mark.parametrize("height, shapes", [(32, 1), (34, 2)])
def test_one_executor_per_tile_shape(height, shapes):
    """Extents are shifted inward at the borders: one shape when the image's sides are on
    the pooling grid, otherwise at most two per axis."""
    style, content = CONFIGS["both"]
    net = Network.build(
        random_vgg(16, TINY_CHANNELS), 16, style, content, "avg", mx.cpu(), TINY_CHANNELS
    )
    targets = net.targets(np.zeros((1, 3, height, 32), np.float32))
    tiled = TiledLoss(net, targets, mx.nd.zeros((1, 3, height, 32)), 8, 1.0, 1.0)
    tiled.step()
    assert len(tiled.plan.tiles) == 4 * (height // 8 + (height % 8 > 0))
    assert set(tiled.graphs.executors) == tiled.plan.shapes()
    assert len(tiled.plan.shapes()) == shapes


def exact_positions(num_layers, deepest, size, start, end):
    """1-D: which positions of each layer a tile reading image pixels [start, end) computes
    exactly as the whole network does (an independent simulation of the padding)."""
    exact = np.zeros(size, bool)
    exact[start:end] = True  # the tile's pixels are the image's
    offset, found = start, {}
    for kind, name in layer_plan(num_layers):
        n = len(exact)
        if kind == "conv":
            inside = np.zeros(n + 2, bool)  # outside the image: the same zero padding
            inside[0], inside[-1] = True, True
            inside[1:-1] = exact
            exact = exact & inside[:-2] & inside[2:]
            found[name] = exact
        else:  # a pooling: both inputs exact, and the tile's grid is the image's
            assert offset % 2 == 0
            exact = exact[0 : n // 2 * 2 : 2] & exact[1 : n // 2 * 2 : 2]
            offset //= 2
        if name == deepest:
            return found


@pytest.mark.parametrize("num_layers", [16, 19])
@pytest.mark.parametrize("size, tile", [(64, 16), (100, 32), (37, 8), (300, 100), (16, 16)])
def test_plan_partitions_aligns_and_covers_the_receptive_field(num_layers, size, tile):
    strides, margins = layer_strides(num_layers), layer_margins(num_layers)
    for deepest in relu_names(num_layers):
        if size < strides[deepest]:
            continue
        plan = TilePlan.build(size, size + 7, tile, num_layers, deepest)
        s = plan.stride
        assert s == strides[deepest] and plan.margin % s == 0
        assert plan.margin >= margins[deepest] and plan.tile[0] % s == 0
        covered = np.zeros((size, size + 7), int)
        for t in plan.tiles:
            iy0, iy1, ix0, ix1 = t.interior
            ey0, ey1, ex0, ex1 = t.extent
            covered[iy0:iy1, ix0:ix1] += 1
            assert 0 <= ey0 <= iy0 < iy1 <= ey1 <= size and 0 <= ex0 <= ix0 < ix1 <= ex1 <= size + 7
            assert ey0 % s == ex0 % s == iy0 % s == ix0 % s == 0
            assert iy0 - ey0 >= min(iy0, plan.margin) and ey1 - iy1 >= min(size - iy1, plan.margin)
            # Every used layer's interior is computed exactly by the tile (each axis).
            for lo, hi, elo, ehi, n in ((iy0, iy1, ey0, ey1, size), (ix0, ix1, ex0, ex1, size + 7)):
                exact = exact_positions(num_layers, deepest, n, elo, ehi)
                for name, mask in exact.items():
                    k = strides[name]
                    assert mask[lo // k : hi // k].all(), (name, lo, hi, elo, ehi)
        assert np.all(covered == 1)


def test_margins_of_vgg16():
    margins = layer_margins(16)
    assert (margins["relu1_1"], margins["relu1_2"], margins["relu2_1"]) == (1, 2, 4)
    assert margins["relu4_2"] == 40 and margins["relu5_1"] == 64
    assert layer_strides(16)["relu5_1"] == 16
    plan = TilePlan.build(100, 50, 30, 16, "relu3_1")  # tiles rounded down to the stride
    assert plan.tile == (28, 28) and plan.stride == 4 and plan.margin == 12


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 2e-4)])
def test_tiled_targets_equal_the_untiled(dtype, rtol):
    """Gram matrices summed over interiors and content features assembled from them are
    the whole image's (float32 runs oneDNN's layouts, which slices of outputs must handle)."""
    style, content = CONFIGS["both"]
    net = Network.build(
        random_vgg(16, TINY_CHANNELS), 16, style, content, "avg", mx.cpu(), TINY_CHANNELS, dtype
    )
    x = np.random.default_rng(5).uniform(-100, 100, (1, 3, 22, 30))
    expected, tiled = net.targets(x), tiled_targets(net, x, 8)
    assert set(tiled) == set(expected)
    for key, value in expected.items():
        got = tiled[key].asnumpy()
        assert_allclose(got, value.asnumpy(), rtol=rtol, atol=rtol * np.abs(got).max())


def test_tiled_loss_in_float32_matches_the_untiled():
    """The run's own precision: float32 through oneDNN, tiled against untiled."""
    style, content = CONFIGS["both"]
    net = Network.build(
        random_vgg(16, TINY_CHANNELS), 16, style, content, "avg", mx.cpu(), TINY_CHANNELS
    )
    rng = np.random.default_rng(6)
    shape = (1, 3, 40, 36)
    targets = net.targets(rng.uniform(-100, 100, shape))
    x = rng.uniform(-100, 100, shape).astype(np.float32)
    loss = LossExecutor(net, targets, mx.nd.array(x), 2.0, 0.5)
    loss.step()
    tiled = TiledLoss(net, targets, mx.nd.array(x), 16, 2.0, 0.5)
    tiled.step()
    assert len(tiled.plan.tiles) == 9
    expected, got = loss.weighted_losses(), tiled.weighted_losses()
    for name in expected:
        assert_allclose(got[name], expected[name], rtol=1e-4)
    grad = loss.grad.asnumpy()
    assert_allclose(tiled.grad.asnumpy(), grad, rtol=1e-3, atol=1e-4 * np.abs(grad).max())


def test_tiled_and_untiled_runs_paint_the_same_picture(vgg16):
    """The real VGG-16 in float32, a few epochs of the original SGD loop: the picture
    computed tile by tile (4 tiles, 64-px margins) is the whole image's."""
    from nstyle.config import Options, ScalePlan
    from nstyle.engine.solvers import optimize
    from nstyle.media import images
    from nstyle.spec import CONTENT_LAYERS, STYLE_LAYERS

    net = Network.build(
        vgg16.network_params, 16, STYLE_LAYERS, CONTENT_LAYERS, "avg", mx.cpu(), vgg16.channels
    )
    mean = vgg16.convention.mean_pixel
    rng = np.random.default_rng(7)
    photo = images.preprocess(rng.integers(0, 256, (96, 128, 3), np.uint8), mean)
    painting = images.preprocess(rng.integers(0, 256, (96, 128, 3), np.uint8), mean)
    targets = {k: v for k, v in net.targets(painting).items() if "gram" in k}
    targets.update({k: v for k, v in net.targets(photo).items() if "content" in k})
    options = Options(optimizer="sgd", lr=1e-3, stop_window=1, check_every=1)
    pictures = []
    for tiled in (False, True):
        image = mx.nd.array(photo)
        if tiled:
            loss = TiledLoss(net, targets, image, 64, 1.0, 20.0)
            assert len(loss.plan.tiles) == 4
        else:
            loss = LossExecutor(net, targets, image, 1.0, 20.0)
        optimize(loss, None, image, options, plan=ScalePlan.budget(5, 5), probe=False)
        pictures.append(images.postprocess(image.asnumpy(), mean).astype(int))
    whole, tiled = pictures
    assert np.abs(whole - images.postprocess(photo, mean)).mean() > 0.5  # it did paint
    assert np.abs(tiled - whole).max() <= 1 and np.mean(tiled != whole) < 0.01


@pytest.mark.parametrize("layout", ["2x2", "uneven", "small"])
def test_tiled_regions_equal_the_untiled(layout):
    """Masks (issue 24): two regions' guided Gram matrices and their gradient, tile by tile,
    equal the whole image's: each tile's guide is the whole guide on its interior."""
    from nstyle.engine import guides

    style, content = CONFIGS["both"]
    h, w, tile = LAYOUTS[layout]
    net = Network.build(
        random_vgg(16, TINY_CHANNELS), 16, style, content, "avg", mx.cpu(), TINY_CHANNELS,
        "float64",
    )  # fmt: skip
    rng = np.random.default_rng(6)
    shape = (1, 3, h, w)
    soft = np.clip(np.linspace(-0.5, 1.5, w)[None].repeat(h, 0), 0, 1).astype(np.float32)
    paintings = [rng.uniform(-100, 100, shape), rng.uniform(-100, 100, (1, 3, 20, 16))]
    found = guides.regions([soft, 1 - soft], [1.0, 1.0])
    targets = guides.region_targets(net, paintings, found, shape)
    targets.update(
        {k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k}
    )
    x = rng.uniform(-100, 100, shape)
    whole = LossExecutor(net, targets, mx.nd.array(x, dtype="float64"), 3.0, 0.5, regions=2)
    whole.step()
    tiled = TiledLoss(net, targets, mx.nd.array(x, dtype="float64"), tile, 3.0, 0.5, regions=2)
    tiled.step()
    assert len(tiled.plan.tiles) > 1 and tiled.names == whole.names
    value = sum(whole.weighted_losses().values())
    assert_allclose(sum(tiled.weighted_losses().values()), value, rtol=1e-10)
    grad = whole.grad.asnumpy()
    assert_allclose(tiled.grad.asnumpy(), grad, rtol=1e-9, atol=1e-12 * np.abs(grad).max())
