"""The loss executors against numpy: Gram, finite-difference gradient, TV Laplacian, the
temporal term."""

import mxnet as mx
import numpy as np
from numpy.testing import assert_allclose
from scipy.signal import convolve2d

import model_vgg19
from nstyle.engine.objective import LossExecutor
from nstyle.engine.pixels import LAPLACIAN, TemporalTerm, TVExecutor, image_terms
from nstyle.engine.terms import Network, gram
from nstyle.media.flow import temporal_loss
from tests.conftest import TINY_CHANNELS, random_vgg

STYLE = ("relu1_1", "relu2_1", "relu3_1")
CONTENT = ("relu2_2",)


def test_gram_by_fully_connected_equals_numpy():
    rng = np.random.default_rng(1)
    feature = rng.normal(size=(1, 5, 3, 4))
    ex = gram(mx.sym.var("f"), 5).bind(mx.cpu(), {"f": mx.nd.array(feature, dtype="float64")})
    x = feature.reshape(5, 12)  # (C, H*W)
    assert_allclose(ex.forward()[0].asnumpy(), x @ x.T, rtol=1e-12)


def tiny_network(dtype="float64"):
    return Network.build(
        random_vgg(16, TINY_CHANNELS), 16, STYLE, CONTENT, "avg", mx.cpu(), TINY_CHANNELS, dtype
    )


def written_objective(net, x, targets, style_weight, content_weight):
    """sum_l sw/(C_l^2 H_l W_l) ||G_l - A_l||^2 + cw ||F - P||^2, in numpy from the features."""
    features = net.targets(x)  # the Gram matrices and content features of x
    positions = net.positions(x.shape)
    total = 0.0
    for name in STYLE:
        c = net.channels[name]
        diff = features[f"target_gram_{name}"].asnumpy() - targets[f"target_gram_{name}"].asnumpy()
        total += style_weight / (c**2 * positions[name]) * np.sum(diff**2)
    for name in CONTENT:
        diff = (
            features[f"target_content_{name}"].asnumpy()
            - targets[f"target_content_{name}"].asnumpy()
        )
        total += content_weight * np.sum(diff**2)
    return total


def test_data_gradient_equals_finite_differences_of_the_objective():
    net = tiny_network()
    rng = np.random.default_rng(2)
    shape = (1, 3, 16, 20)
    style_targets = net.targets(rng.uniform(-100, 100, shape))
    content_targets = net.targets(rng.uniform(-100, 100, shape))
    targets = {
        **{k: v for k, v in style_targets.items() if "gram" in k},
        **{k: v for k, v in content_targets.items() if "content" in k},
    }
    x = rng.uniform(-100, 100, shape)
    image = mx.nd.array(x, dtype="float64")
    loss = LossExecutor(net, targets, image, style_weight=3.0, content_weight=0.5)
    loss.step()
    grad = loss.grad.asnumpy()
    # The executor's weighted outputs are the objective too.
    assert_allclose(
        sum(loss.weighted_losses().values()),
        written_objective(net, x, targets, 3.0, 0.5),
        rtol=1e-10,
    )
    h = 1e-3
    for index in [(0, 0, 0, 0), (0, 1, 7, 9), (0, 2, 15, 19), (0, 0, 8, 3), (0, 2, 3, 12)]:
        plus, minus = x.copy(), x.copy()
        plus[index] += h
        minus[index] -= h
        numeric = (
            written_objective(net, plus, targets, 3.0, 0.5)
            - written_objective(net, minus, targets, 3.0, 0.5)
        ) / (2 * h)
        assert_allclose(grad[index], numeric, rtol=1e-5, atol=1e-8 * np.abs(grad).max())


def test_tv_executor_equals_numpy_laplacian():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 3, 7, 9)).astype(np.float32)
    out = TVExecutor(mx.nd.array(x), tv_weight=0.3).forward().asnumpy()
    for c in range(3):  # zero padding, as the executor's pad=1 does
        expected = 0.3 * convolve2d(x[0, c], LAPLACIAN, mode="same", boundary="fill")
        assert_allclose(out[0, c], expected, rtol=1e-5, atol=1e-6)


def test_tv_executor_reads_the_image_array_in_place():
    image = mx.nd.zeros((1, 3, 5, 5))
    tv = TVExecutor(image, tv_weight=1.0)
    assert np.all(tv.forward().asnumpy() == 0)
    image[0, 0, 2, 2] = 8.0
    assert tv.forward().asnumpy()[0, 0, 2, 2] == 4.0  # 8 * 4/8, no rebinding needed


def test_temporal_term_equals_the_numpy_reference_and_follows_the_image():
    rng = np.random.default_rng(5)
    x, warped = rng.normal(0, 30, (1, 3, 6, 7)), rng.normal(0, 30, (1, 3, 6, 7))
    mask = rng.integers(0, 2, (6, 7)).astype(np.float32)
    image = mx.nd.array(x, dtype="float64")
    term = TemporalTerm(image, warped, mask, 0.25)
    value, grad = temporal_loss(x, warped, mask, 0.25)
    out = term.forward()
    assert_allclose(out.asnumpy(), grad, rtol=1e-12)
    assert_allclose(term.energy(out).asscalar(), value, rtol=1e-12)
    image[:] = warped  # bound to the image array: at the target, nothing pulls
    assert np.all(term.forward().asnumpy() == 0)


def test_image_terms_add_gradients_and_energies():
    rng = np.random.default_rng(6)
    x, warped = rng.normal(0, 30, (1, 3, 6, 7)), rng.normal(0, 30, (1, 3, 6, 7))
    mask = np.ones((6, 7), np.float32)
    image = mx.nd.array(x, dtype="float64")
    tv, term = TVExecutor(image, 0.5), TemporalTerm(image, warped, mask, 0.25)
    both = image_terms([tv, None, term])
    total = both.forward()
    expected = tv.forward().asnumpy() + term.forward().asnumpy()
    assert_allclose(total.asnumpy(), expected, rtol=1e-12)
    energy = 0.5 * np.sum(x * tv.forward().asnumpy()) + temporal_loss(x, warped, mask, 0.25)[0]
    assert_allclose(both.energy(total).asscalar(), energy, rtol=1e-12)
    assert set(both.norms()) == {"tv_weight", "temporal_weight"}
    assert image_terms([None, tv]) is tv and image_terms([None]) is None


def test_style_head_gradient_scale_and_layer_channels():
    net = tiny_network("float32")
    targets = net.targets(np.zeros((1, 3, 16, 16), np.float32))
    loss = LossExecutor(net, targets, mx.nd.zeros((1, 3, 16, 16)), 2.0, 7.0)
    # relu1_1: 4 channels at 16x16; relu2_1: 6 at 8x8; relu3_1: 8 at 4x4
    assert_allclose(loss.head_weights, [2 / (16 * 256), 2 / (36 * 64), 2 / (64 * 16), 7.0])
    assert loss.names == ["style_relu1_1", "style_relu2_1", "style_relu3_1", "content_relu2_2"]
    assert model_vgg19.layer_channels(16, TINY_CHANNELS)["relu5_3"] == 8
