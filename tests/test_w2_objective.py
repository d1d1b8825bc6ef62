"""The Wasserstein-2 style term on the executors (issue 25): its value against scipy from the
network's features, its gradient against finite differences, tiled equal to untiled, regions,
blended paintings, and a covariance from fewer positions than channels."""

import warnings

import mxnet as mx
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import sqrtm

from nstyle.engine import guides, objective
from nstyle.engine.objective import LossExecutor, w2_terms
from nstyle.engine.scale import style_targets
from nstyle.engine.terms import W2_SCALE, Network
from nstyle.engine.tiles import TiledLoss, tiled_targets
from nstyle.engine.wasserstein import RIDGE
from nstyle.errors import NStyleError
from tests.conftest import TINY_CHANNELS, random_vgg
from tests.test_wasserstein import regularised_w2

STYLE = ("relu1_1", "relu2_1", "relu3_1")
CONTENT = ("relu2_2",)
LAYER_WEIGHTS = {"relu1_1": 1.0, "relu2_1": 2.0, "relu3_1": 0.5}


def tiny_network():
    return Network.build(
        random_vgg(16, TINY_CHANNELS), 16, STYLE, CONTENT, "avg", mx.cpu(), TINY_CHANNELS,
        "float64",
    )  # fmt: skip


def features(net, x):
    """Each style and content layer's features of ``x``, as numpy (C, h*w) / (1, C, h, w)."""
    names = STYLE + CONTENT
    data = mx.nd.array(x, dtype="float64")
    executor = mx.sym.Group([net.features[n] for n in names]).bind(
        mx.cpu(), dict(net.params, data=data)
    )
    return dict(zip(names, (o.asnumpy() for o in executor.forward())))


def weighted_statistics(feature, weight=None):
    """(mean, covariance) of the columns of ``feature`` (C, n), each weighted by ``weight``."""
    weight = np.ones(feature.shape[1]) if weight is None else weight
    mean = feature @ weight / weight.sum()
    centred = feature - mean[:, None]
    return mean, (centred * weight) @ centred.T / weight.sum()


def scipy_w2(mean, cov, mean_s, cov_s):
    """The regularised distance (``tests.test_wasserstein.regularised_w2``)."""
    return regularised_w2(mean, cov, mean_s, cov_s)


def written_objective(net, x, painting_stats, photo, style_weight, content_weight, guide=None):
    """sum_l sw * lw_l * W2_SCALE / C_l * N_l W2(stats_l(x), painting's) + cw ||F - P||^2, from
    the features in numpy and scipy; ``guide``: per layer, the positions' weights (the
    squared guide), else all 1; N_l: their sum."""
    found = features(net, x)
    total = 0.0
    for name in STYLE if style_weight else ():
        c = net.channels[name]
        weight = None if guide is None else guide[name]
        mean, cov = weighted_statistics(found[name].reshape(c, -1), weight)
        count = found[name][0, 0].size if weight is None else weight.sum()
        value = count * scipy_w2(mean, cov, *painting_stats[name])
        total += style_weight * LAYER_WEIGHTS[name] * W2_SCALE / c * value
    for name in CONTENT if content_weight else ():
        total += content_weight * np.sum((found[name] - photo[name]) ** 2)
    return total


def setting(shape, painting_shape, seed):
    """(network, targets of a painting and a photo, the painting's statistics, the photo's
    features, the image x)."""
    net = tiny_network()
    rng = np.random.default_rng(seed)
    painting = rng.uniform(-100, 100, painting_shape)
    photo = rng.uniform(-100, 100, shape)
    targets = style_targets(net, [painting], [1.0], shape)
    targets.update({k: v for k, v in net.targets(photo).items() if "content" in k})
    found = features(net, painting)
    stats = {n: weighted_statistics(found[n].reshape(net.channels[n], -1)) for n in STYLE}
    photo_features = features(net, photo)
    return net, targets, stats, photo_features, rng.uniform(-100, 100, shape)


def check_gradient(objective, x, grad, indices, rtol=2e-6):
    h = 0.3  # x is in +-100; scipy's square roots are too rough for smaller steps
    for index in indices:
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric = (objective(plus) - objective(minus)) / (2 * h)
        assert_allclose(grad[index], numeric, rtol=rtol, atol=1e-7 * np.abs(grad).max())


def w2_loss(net, targets, stats, photo, x):
    """(the W2 loss executor on ``x`` after a step, its gradient, the written objective)."""
    loss = LossExecutor(
        net, targets, mx.nd.array(x, dtype="float64"), 3.0, 0.5, LAYER_WEIGHTS, style_loss="w2"
    )
    loss.step()
    return loss, loss.grad.asnumpy(), lambda y: written_objective(net, y, stats, photo, 3.0, 0.5)


def test_the_value_and_gradient_are_the_written_objective_s():
    shape = (1, 3, 16, 20)
    net, targets, stats, photo, x = setting(shape, (1, 3, 20, 14), 1)
    loss, grad, objective = w2_loss(net, targets, stats, photo, x)

    assert_allclose(sum(loss.weighted_losses().values()), objective(x), rtol=1e-8)
    assert loss.names == [f"style_{n}" for n in STYLE] + [f"content_{n}" for n in CONTENT]
    check_gradient(objective, x, grad, [(0, 0, 0, 0), (0, 1, 7, 9), (0, 2, 15, 19), (0, 0, 8, 3)])
    norms = loss.term_gradient_norms()  # each flag's terms alone
    assert norms["style_weight"] > 0 and norms["content_weight"] > 0
    loss.step()
    assert_allclose(loss.grad.asnumpy(), grad, rtol=1e-12)  # back to both terms


def test_fewer_positions_than_channels_give_the_value_and_a_descent_direction():
    """An 8 x 12 image: relu3_1 has 2 x 3 = 6 positions for 8 channels, a singular
    covariance, where the square root has no derivative across its null space: the value is
    still scipy's, the gradient finite, and a small step against it lowers the objective."""
    shape = (1, 3, 8, 12)
    net, targets, stats, photo, x = setting(shape, (1, 3, 16, 16), 2)
    assert net.positions(shape)["relu3_1"] < net.channels["relu3_1"]
    loss, grad, objective = w2_loss(net, targets, stats, photo, x)

    value = objective(x)
    assert_allclose(sum(loss.weighted_losses().values()), value, rtol=1e-6)
    assert np.all(np.isfinite(grad))
    step = 1e-3 * np.abs(x).max() / np.abs(grad).max()
    assert objective(x - step * grad) < value


@pytest.mark.parametrize("tile", [(12, 16), (12, 8), 4])
@pytest.mark.parametrize("regions", [0, 2])
def test_tiled_equals_untiled(tile, regions):
    """Means and covariances are sums over positions: tile by tile, the value and gradient
    are the whole image's, with regions too."""
    net = tiny_network()
    rng = np.random.default_rng(3)
    shape = (1, 3, 22, 30)
    paintings = [rng.uniform(-100, 100, shape), rng.uniform(-100, 100, (1, 3, 20, 16))]
    if regions:
        soft = np.clip(np.linspace(-0.5, 1.5, 30)[None].repeat(22, 0), 0, 1).astype(np.float32)
        found = guides.regions([soft, 1 - soft], [1.0, 1.0])
        targets = guides.region_targets(net, paintings, found, shape)
    else:
        targets = style_targets(net, paintings, [0.3, 0.7], shape)
    targets.update(
        {k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k}
    )
    x = rng.uniform(-100, 100, shape)
    settings = {"regions": regions, "style_loss": "w2"}
    whole = LossExecutor(net, targets, mx.nd.array(x, dtype="float64"), 3.0, 0.5, **settings)
    whole.step()
    tiled = TiledLoss(net, targets, mx.nd.array(x, dtype="float64"), tile, 3.0, 0.5, **settings)
    tiled.step()
    assert len(tiled.plan.tiles) > 1 and tiled.names == whole.names
    assert_allclose(
        sum(tiled.weighted_losses().values()), sum(whole.weighted_losses().values()), rtol=1e-9
    )
    grad = whole.grad.asnumpy()
    assert_allclose(tiled.grad.asnumpy(), grad, rtol=1e-8, atol=1e-11 * np.abs(grad).max())


def test_tiles_sum_the_gram_matrices_own_masked_features():
    """Tile by tile, each style term's feature sum takes the masked features its Gram
    matrix takes: W2's graph masks no more than Gram's (it masked each layer twice, a
    broadcast product and its backward more per layer and tile)."""
    net = tiny_network()
    rng = np.random.default_rng(13)
    shape = (1, 3, 16, 20)
    targets = style_targets(net, [rng.uniform(-100, 100, shape)], [1.0], shape)
    photo = net.targets(rng.uniform(-100, 100, shape))
    targets.update({k: v for k, v in photo.items() if "content" in k})
    x = mx.nd.array(rng.uniform(-100, 100, shape), dtype="float64")

    def products(style_loss):
        loss = TiledLoss(net, targets, x, 8, 3.0, 0.5, style_loss=style_loss)
        return [
            n for n in loss.graphs.symbol.get_internals().list_outputs() if "broadcast_mul" in n
        ]

    assert len(products("w2")) == len(products("gram")) == len(STYLE) + len(CONTENT)


def test_a_guided_term_weighs_each_position_by_its_squared_guide():
    """Two regions: each one's statistics are the features' weighted by the squared guide,
    matched to its own painting's; value and gradient against the written objective."""
    net = tiny_network()
    rng = np.random.default_rng(5)
    shape = (1, 3, 16, 20)
    left = np.zeros(shape[2:], np.float32)
    left[:, :10], left[:, 10] = 1, 0.5
    paintings = [rng.uniform(-100, 100, shape), rng.uniform(-100, 100, (1, 3, 20, 14))]
    regions = guides.regions([left, 1 - left], [1.0, 1.0])
    targets = guides.region_targets(net, paintings, regions, shape)
    photo = rng.uniform(-100, 100, shape)
    targets.update({k: v for k, v in net.targets(photo).items() if "content" in k})
    photo_features = features(net, photo)
    x = rng.uniform(-100, 100, shape)
    loss = LossExecutor(
        net, targets, mx.nd.array(x, dtype="float64"), 3.0, 0.5, LAYER_WEIGHTS, 2, "w2"
    )
    loss.step()

    def objective(y):
        total = written_objective(net, y, {}, photo_features, 0.0, 0.5)  # the content term
        for k, painting in enumerate(paintings):
            found = features(net, painting)
            stats = {n: weighted_statistics(found[n].reshape(net.channels[n], -1)) for n in STYLE}
            weight = {n: targets[f"guide_r{k}_{n}"].asnumpy().reshape(-1) ** 2 for n in STYLE}
            total += written_objective(net, y, stats, photo_features, 3.0, 0.0, weight)
        return total

    assert_allclose(sum(loss.weighted_losses().values()), objective(x), rtol=1e-8)
    check_gradient(objective, x, loss.grad.asnumpy(), [(0, 0, 2, 3), (0, 1, 9, 10), (0, 2, 8, 17)])


def test_blended_paintings_average_means_and_second_moments():
    """Several paintings: the target's mean and second moment per position are the blend's
    average of theirs (crowsonkb's blend), whatever each painting's size; in tiles too."""
    net = tiny_network()
    rng = np.random.default_rng(7)
    shape = (1, 3, 16, 20)
    paintings = [rng.uniform(-100, 100, (1, 3, 24, 24)), rng.uniform(-100, 100, (1, 3, 12, 28))]
    blend = [0.25, 0.75]
    terms = w2_terms(
        net, style_targets(net, paintings, blend, shape), [(n, n) for n in STYLE], shape
    )
    for i, name in enumerate(STYLE):
        c = net.channels[name]
        moments = []
        for painting in paintings:
            f = features(net, painting)[name].reshape(c, -1)
            moments.append((f.mean(axis=1), f @ f.T / f.shape[1]))
        mean = sum(w * m for w, (m, _) in zip(blend, moments))
        second = sum(w * s for w, (_, s) in zip(blend, moments))
        assert_allclose(terms.targets[i].mean, mean, rtol=1e-10)
        cov = second - np.outer(mean, mean)
        eps = RIDGE * (np.trace(cov) / c) ** 2  # T = (S + (S^2 + 4 eps I)^1/2) / 2
        cov = (cov + np.real(sqrtm(cov @ cov + 4 * eps * np.eye(c)))) / 2
        root = terms.targets[i].root  # T's root: the covariance itself is not kept for w2
        assert_allclose(root @ root, cov, atol=1e-8 * np.abs(second).max())
    whole = net.targets(paintings[0])
    tiled = tiled_targets(net, paintings[0], 8, ("gram",))
    for name in STYLE:
        key = f"target_sum_{name}"
        assert_allclose(tiled[key].asnumpy(), whole[key].asnumpy(), rtol=1e-10)


@pytest.mark.parametrize("style_loss", ["gram", "w2"])
def test_a_region_with_no_position_on_a_layer_has_no_term_there(style_loss):
    """A content mask only in the last two rows of a 22-row photo: relu3_1 (stride 4) has
    5 rows, over rows 0..19, so the region has no position there. That term is 0 (an
    MXNet error, for W2 a LAPACK one on 0/0 statistics, before), the others as ever,
    whole and in tiles."""
    net = tiny_network()
    rng = np.random.default_rng(11)
    shape = (1, 3, 22, 30)
    edge = np.zeros(shape[2:], np.float32)
    edge[20:] = 1
    paintings = [rng.uniform(-100, 100, shape), rng.uniform(-100, 100, (1, 3, 20, 16))]
    targets = guides.region_targets(net, paintings, guides.regions([edge, 1 - edge], [1, 1]), shape)
    assert float(targets["guide_r0_relu3_1"].asnumpy().sum()) == 0
    targets.update(
        {k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k}
    )
    x = rng.uniform(-100, 100, shape)
    settings = {"regions": 2, "style_loss": style_loss}
    whole = LossExecutor(net, targets, mx.nd.array(x, dtype="float64"), 3.0, 0.5, **settings)
    whole.step()
    values = whole.weighted_losses()
    assert values["style_r0_relu3_1"] == 0 and values["style_r0_relu2_1"] > 0
    assert all(np.isfinite(list(values.values()))) and np.all(np.isfinite(whole.grad.asnumpy()))
    tiled = TiledLoss(net, targets, mx.nd.array(x, dtype="float64"), 8, 3.0, 0.5, **settings)
    tiled.step()
    assert_allclose(sum(tiled.weighted_losses().values()), sum(values.values()), rtol=1e-9)
    grad = whole.grad.asnumpy()
    assert_allclose(tiled.grad.asnumpy(), grad, rtol=1e-8, atol=1e-11 * np.abs(grad).max())


def test_a_style_mask_with_no_position_on_a_layer_is_named():
    """A style mask only in the painting's last two rows has no position at relu3_1: one
    line naming it (a ZeroDivisionError before)."""
    net = tiny_network()
    rng = np.random.default_rng(12)
    shape = (1, 3, 16, 20)
    painting = rng.uniform(-100, 100, (1, 3, 22, 16))
    strip = np.zeros((22, 16), np.float32)
    strip[20:] = 1
    half = np.zeros(shape[2:], np.float32)
    half[:, :10] = 1
    regions = guides.regions([half, 1 - half], [1, 1])
    with pytest.raises(NStyleError, match=r"style_masks\[0\] covers no position .* relu3_1"):
        guides.region_targets(net, [painting, painting], regions, shape, [strip, None])


# ------------------------------------------------------------ on the real VGG-16
def test_a_w2_picture_on_vgg16_moves_to_the_painting_s_statistics(vgg16):
    """The library with style_loss="w2" (128 px, two scales): the picture's Wasserstein-2
    distance to the painting falls well below the photo's and the Gram picture's, while it
    keeps about as much of the photo (the default weights balance the two alike)."""
    import nstyle
    from bench.quality import Judge
    from nstyle.media import images

    photo = images.resize_long_edge(images.read_image("input/content.jpg"), 128)
    painting = images.resize_long_edge(images.read_image("input/style.jpg"), 128)
    run = dict(max_long_edge=128, num_scales=2, max_num_epochs=40, seed=0, style_loss="w2")
    picture = nstyle.stylize(photo, painting, weights=vgg16, **run)
    reference = Judge(vgg16).against(photo, painting)
    before, after = reference.measure(photo), reference.measure(picture)
    assert after["w2_distance"] < 0.5 * before["w2_distance"], (before, after)
    gram = reference.measure(
        nstyle.stylize(photo, painting, weights=vgg16, **{**run, "style_loss": "gram"})
    )
    # closer to the painting's statistics than the Gram picture, about as close to the photo
    assert after["w2_distance"] < gram["w2_distance"], (after, gram)
    assert after["content_distance"] < 1.2 * gram["content_distance"], (after, gram)


@pytest.mark.parametrize("tiled", [False, True])
@pytest.mark.parametrize("style_loss", ["w2", "gram"])
@pytest.mark.parametrize("style_weight", [1e35, 1e308])
def test_an_overflowing_weight_is_inf_without_numpy_s_warnings(tiled, style_loss, style_weight):
    """W2 with --style-weight 1e35 printed numpy's RuntimeWarnings (its float64 heads cast
    to float32) before the one line naming the weight; at 1e308 a term switched off
    (inf * 0) was NaN, and the content weight was named too (issue 31). Float32, as runs
    are: the style term overflows, alone, silently (its gradient's norm not finite); the
    content term stays finite."""
    net = Network.build(
        random_vgg(16, TINY_CHANNELS), 16, STYLE, CONTENT, "avg", mx.cpu(), TINY_CHANNELS,
        "float32",
    )  # fmt: skip
    rng = np.random.default_rng(5)
    shape = (1, 3, 16, 20)
    targets = style_targets(net, [rng.uniform(-100, 100, shape)], [1.0], shape)
    targets.update(
        {k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k}
    )
    image = mx.nd.array(rng.uniform(-100, 100, shape), dtype="float32")
    settings = {"style_loss": style_loss}
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's
        if tiled:
            loss = TiledLoss(net, targets, image, 8, style_weight, 0.5, **settings)
        else:
            loss = LossExecutor(net, targets, image, style_weight, 0.5, **settings)
        loss.step()
        loss.weighted_losses()
        norms = loss.term_gradient_norms()
    assert not np.isfinite(norms["style_weight"]) and np.isfinite(norms["content_weight"]), norms


@pytest.mark.parametrize("tile", [None, (12, 8)])
def test_mixed_is_w2_on_the_narrow_layers_and_gram_on_the_wide(monkeypatch, tile):
    """``style_loss="mixed"``: each layer's term, and the gradient, are W2's on the layers of
    at most ``MIXED_W2_CHANNELS`` channels and Gram's on the others (the gradient is linear in
    the layers' weights: W2's with the wide layers weighted 0 plus Gram's with the narrow
    ones weighted 0), whole and tile by tile."""
    monkeypatch.setattr(objective, "MIXED_W2_CHANNELS", 6)  # relu1_1, relu2_1: W2; relu3_1
    shape = (1, 3, 22, 30)
    net, targets, _, _, x = setting(shape, (1, 3, 20, 14), 4)
    narrow = [n for n in STYLE if net.channels[n] <= 6]
    assert 0 < len(narrow) < len(STYLE)

    def loss(kind, layer_weights, content_weight=0.5):
        image = mx.nd.array(x, dtype="float64")
        args = (3.0, content_weight, layer_weights)
        found = (
            LossExecutor(net, targets, image, *args, style_loss=kind)
            if tile is None
            else TiledLoss(net, targets, image, tile, *args, style_loss=kind)
        )
        found.step()
        return found

    mixed = loss("mixed", LAYER_WEIGHTS)
    only = {n: (w if n in narrow else 0.0) for n, w in LAYER_WEIGHTS.items()}
    w2 = loss("w2", only)
    gram = loss("gram", {n: w - only[n] for n, w in LAYER_WEIGHTS.items()}, 0.0)
    values, w2_values, gram_values = (f.weighted_losses() for f in (mixed, w2, gram))
    assert mixed.names[: len(narrow)] == [f"style_{n}" for n in narrow]  # the W2 terms first
    for name, value in values.items():
        layer = name[len("style_") :]
        expected = gram_values[name] if layer in STYLE and layer not in narrow else w2_values[name]
        assert_allclose(value, expected, rtol=1e-9)
    expected = w2.grad.asnumpy() + gram.grad.asnumpy()
    assert_allclose(mixed.grad.asnumpy(), expected, rtol=1e-8, atol=1e-11 * np.abs(expected).max())


def test_mixed_takes_w2_on_vgg_s_relu1_1_and_relu2_1_only():
    """``style_loss="mixed"`` on VGG-16's and VGG-19's style layers: W2 on relu1_1 (64
    channels) and relu2_1 (128), Gram on relu3_1 to relu5_1 (issue 32: W2 on relu3_1 painted
    over the photo's edges and copied the painting's objects)."""
    from nstyle.spec import STYLE_LAYERS, layer_channels

    for depth in (16, 19):
        channels = layer_channels(depth)
        w2 = [n for n in STYLE_LAYERS if objective.layer_loss("mixed", channels[n]) == "w2"]
        assert w2 == ["relu1_1", "relu2_1"]


@pytest.mark.parametrize("regions", [0, 2])
def test_a_layer_with_fewer_positions_than_channels_takes_its_features(regions):
    """On an 8 x 12 image relu3_1 has 6 positions for 8 channels (a region fewer): the whole
    image's executor takes that layer's features to the host and the W2 term through their
    factor (``w2_factor``), the tiles through the Gram matrix; value and gradient equal."""
    net = tiny_network()
    rng = np.random.default_rng(11)
    shape = (1, 3, 8, 12)
    paintings = [rng.uniform(-100, 100, (1, 3, 16, 16))]
    if regions:
        soft = np.clip(np.linspace(-0.5, 1.5, 12)[None].repeat(8, 0), 0, 1).astype(np.float32)
        targets = guides.region_targets(
            net, paintings * 2, guides.regions([soft, 1 - soft], [1.0, 1.0]), shape
        )
    else:
        targets = style_targets(net, paintings, [1.0], shape)
    targets.update(
        {k: v for k, v in net.targets(rng.uniform(-100, 100, shape)).items() if "content" in k}
    )
    x = rng.uniform(-100, 100, shape)
    settings = {"regions": regions, "style_loss": "w2"}
    whole = LossExecutor(net, targets, mx.nd.array(x, dtype="float64"), 3.0, 0.5, **settings)
    assert whole.factors >= 1 and sum(whole.w2.factored) == whole.factors
    whole.step()
    tiled = TiledLoss(net, targets, mx.nd.array(x, dtype="float64"), 4, 3.0, 0.5, **settings)
    tiled.step()
    assert_allclose(
        sum(tiled.weighted_losses().values()), sum(whole.weighted_losses().values()), rtol=1e-9
    )
    grad = whole.grad.asnumpy()
    assert_allclose(tiled.grad.asnumpy(), grad, rtol=1e-7, atol=1e-10 * np.abs(grad).max())
