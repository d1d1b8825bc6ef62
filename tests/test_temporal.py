"""Optical flow, warping, the occlusion mask, the temporal loss and the flicker measure,
against numpy on small hand-made arrays (Ruder, Dosovitskiy & Brox 2016)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nstyle.media import flow as temporal

H, W, SHIFT = 48, 64, 3


def texture(h=80, w=100, seed=0) -> np.ndarray:
    """A smooth random RGB texture (blurred noise): structure for the optical flow."""
    import cv2

    noise = np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)
    blurred = cv2.GaussianBlur(noise, (0, 0), 1.5)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX)


def pan(count=2, shift=SHIFT) -> list[np.ndarray]:
    """Frames of a camera panning left: the content moves right by ``shift`` px a frame."""
    scene = texture()
    return [scene[10 : 10 + H, 30 - shift * t : 30 - shift * t + W] for t in range(count)]


def uniform(dx, dy=0.0, h=H, w=W) -> np.ndarray:
    flow = np.zeros((h, w, 2), np.float32)
    flow[..., 0], flow[..., 1] = dx, dy
    return flow


def test_warp_by_an_integer_shift_is_a_roll_in_the_interior():
    image = np.random.default_rng(1).random((20, 30, 3)).astype(np.float32)
    out = temporal.warp(image, uniform(2, -1, 20, 30))  # out(p) = image(p + (2, -1))
    rolled = np.roll(image, (1, -2), axis=(0, 1))
    assert_array_equal(out[1:, :-2], rolled[1:, :-2])
    assert out.shape == image.shape and out.dtype == image.dtype
    assert_array_equal(out[0], out[1])  # the border is replicated, not black


def test_warp_is_bilinear_between_pixels_and_keeps_shapes_and_types():
    ramp = np.tile(np.arange(10, dtype=np.float64), (4, 1))  # (4, 10), value = x
    assert_allclose(temporal.warp(ramp, uniform(0.25, 0, 4, 10))[:, :-1], ramp[:, :-1] + 0.25)
    grey = np.zeros((4, 10, 1), np.uint8)
    assert temporal.warp(grey, uniform(1, 0, 4, 10)).shape == (4, 10, 1)
    many = np.random.default_rng(2).random((4, 10, 6))
    assert_array_equal(temporal.warp(many, uniform(1, 0, 4, 10))[:, :-1], many[:, 1:])


def test_dis_flow_finds_the_pan_and_warping_undoes_it():
    first, second = pan()
    forward = temporal.optical_flow(first, second)  # first(p) ~ second(p + forward(p))
    assert forward.shape == (H, W, 2) and forward.dtype == np.float32
    assert_allclose(np.median(forward[..., 0]), SHIFT, atol=0.1)
    assert_allclose(np.median(forward[..., 1]), 0, atol=0.1)
    back = temporal.optical_flow(second, first)
    assert_allclose(np.median(back[..., 0]), -SHIFT, atol=0.1)
    carried = temporal.warp(first.astype(np.float32), back)
    interior = np.s_[:, SHIFT + 1 :]
    assert np.abs(carried[interior] - second[interior]).mean() < 2.0


def test_occlusion_mask_of_exact_pan_flows_is_the_disoccluded_border():
    mask = temporal.occlusion_mask(uniform(SHIFT), uniform(-SHIFT))
    assert mask.shape == (H, W) and mask.dtype == np.float32
    assert_array_equal(mask[:, :SHIFT], 0)  # new content entering from the left
    assert_array_equal(mask[:, SHIFT:], 1)


def test_occlusion_mask_of_dis_flows_on_a_pan_marks_only_the_border():
    first, second = pan()
    forward = temporal.optical_flow(first, second)
    backward = temporal.optical_flow(second, first)
    mask = temporal.occlusion_mask(forward, backward)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    zero_columns = np.flatnonzero((mask == 0).any(axis=0))
    assert zero_columns.size and zero_columns.max() < SHIFT + 2  # the left border only
    assert (mask[:, :SHIFT] == 0).mean() > 0.9


def test_occlusion_mask_marks_flow_disagreement_and_motion_boundaries():
    """The paper's two inequalities, each alone, on hand-made flows."""
    backward = uniform(0.0)
    forward = uniform(0.0)
    forward[10:14, 20:24] = (3.0, 0.0)  # forward says it moved, backward says it did not
    mask = temporal.occlusion_mask(forward, backward)
    assert_array_equal(mask[10:14, 20:24], 0)
    assert mask.sum() == H * W - 16

    # Two regions, one moving by half a pixel: the flows agree within the check's 0.5 px^2
    # everywhere, but the step in the backward flow is a motion boundary.
    backward = uniform(0.0)
    backward[:, W // 2 :] = (-0.5, 0.0)
    forward = uniform(0.0)
    forward[:, W // 2 :] = (0.5, 0.0)
    mask = temporal.occlusion_mask(forward, backward)
    assert_array_equal(mask[:, W // 2 - 1 : W // 2 + 1], 0)  # central differences: 2 columns
    assert_array_equal(mask[:, : W // 2 - 1], 1)
    assert_array_equal(mask[:, W // 2 + 1 :], 1)


def numeric_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


@pytest.mark.parametrize("layout", ["nchw", "hwc"])
def test_temporal_loss_and_gradient_against_numpy(layout):
    rng = np.random.default_rng(3)
    shape, mask = ((1, 3, 4, 5), rng.integers(0, 2, (4, 5)).astype(np.float32))
    if layout == "hwc":
        shape, mask = (4, 5, 3), mask[..., None]
    x, warped = rng.normal(size=shape), rng.normal(size=shape)
    loss, grad = temporal.temporal_loss(x, warped, mask, 0.7)
    c = np.broadcast_to(mask, shape)
    assert loss == pytest.approx(0.7 * np.sum(c * (x - warped) ** 2))
    assert_allclose(grad, 1.4 * c * (x - warped))
    numeric = numeric_gradient(lambda v: temporal.temporal_loss(v, warped, mask, 0.7)[0], x)
    assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    assert grad.shape == x.shape and grad.dtype == x.dtype
    masked = np.broadcast_to(mask, shape) == 0
    assert_array_equal(grad[masked], 0)  # occluded pixels pull nowhere
    _, grad32 = temporal.temporal_loss(x.astype(np.float32), warped.astype(np.float32), mask)
    assert grad32.dtype == np.float32


def test_previous_frame_target_carries_the_styled_frame_along_the_pan():
    first, second = pan()
    styled_first = 255 - first  # any picture that moves with the scene
    warped, mask = temporal.previous_frame_target(first, second, styled_first)
    assert warped.shape == styled_first.shape and mask.shape == (H, W)
    keep = mask > 0
    assert np.abs(warped[keep].astype(int) - (255 - second)[keep]).mean() < 2.0


def test_warping_error_is_zero_for_a_consistent_pan_and_high_for_noise():
    frames = pan(count=4)
    exact = [(uniform(SHIFT), uniform(-SHIFT))] * 3
    assert temporal.warping_error(frames, exact) == pytest.approx(0, abs=1e-12)
    assert temporal.warping_error(frames) < 1.0  # DIS's own flows: near zero
    rng = np.random.default_rng(4)
    noise = [rng.integers(0, 256, (H, W, 3)).astype(np.uint8) for _ in range(4)]
    assert temporal.warping_error(noise, exact) > 1000
    flicker = [np.clip(f.astype(int) + 20 * (t % 2), 0, 255) for t, f in enumerate(frames)]
    assert 100 < temporal.warping_error(flicker, exact) < 500  # (about 20)^2 a pixel


def test_warping_error_checks_its_arguments():
    frames = pan(count=3)
    with pytest.raises(ValueError, match="at least two frames"):
        temporal.warping_error(frames[:1])
    with pytest.raises(ValueError, match="need 2 flow pairs"):
        temporal.warping_error(frames, [(uniform(0), uniform(0))])
