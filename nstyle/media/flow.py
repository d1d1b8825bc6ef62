"""Temporal consistency for video, after Ruder, Dosovitskiy & Brox, *Artistic style transfer
for videos* (GCPR 2016): optical flow, backward warping, the occlusion mask and the
temporal loss's reference, in numpy and OpenCV (no MXNet).

Conventions, used throughout:

* A flow ``F`` from ``source`` to ``target`` is (H, W, 2) float32 on ``source``'s grid,
  (dx, dy) in pixels: ``source(p) ~ target(p + F(p))``.
* ``warp(image, F)`` samples ``image`` at ``p + F(p)``: ``warp(target, F) ~ source``.
  For frame i, the previous styled frame warped into frame i is
  ``warp(styled[i-1], optical_flow(frame[i], frame[i-1]))``, the paper's backward flow.
* A mask ``c`` is (H, W) float32 in {0, 1}: 1 where the warped previous frame is to be
  trusted, 0 at disocclusions and motion boundaries.

Departures from the paper: the flow is OpenCV's DIS (Kroeger et al. 2016), fast on a CPU,
instead of DeepFlow or EpicFlow; and pixels whose backward flow leaves the previous frame
are masked too (there is nothing there to warp; the paper's consistency check alone misses
them under a uniform pan, where both flows agree).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The paper's thresholds (section 3.2), in pixels squared.
CONSISTENCY_RELATIVE = 0.01
CONSISTENCY_ABSOLUTE = 0.5
BOUNDARY_RELATIVE = 0.01
BOUNDARY_ABSOLUTE = 0.002


def grey(image: np.ndarray) -> np.ndarray:
    """An RGB uint8 (H, W, 3) image (or grey (H, W)) as grey uint8 (H, W), as DIS takes it."""
    import cv2

    if image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def optical_flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Dense flow from ``source`` to ``target`` (RGB uint8 frames of one size), (H, W, 2)
    float32 with ``source(p) ~ target(p + flow(p))``: OpenCV's DIS at its "medium" preset."""
    import cv2

    if source.shape[:2] != target.shape[:2]:
        raise ValueError(f"frames of different sizes: {source.shape} and {target.shape}")
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flow = np.zeros(source.shape[:2] + (2,), np.float32)  # written over (no initial flow)
    return np.asarray(dis.calc(grey(source), grey(target), flow), np.float32)


def sample_points(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions ``p + flow(p)``: x and y, each (H, W) float32."""
    h, w = flow.shape[:2]
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    return x + flow[..., 0], y + flow[..., 1]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warping: ``out(p) = image(p + flow(p))``, bilinear, the border replicated
    outside. ``image`` is (H, W) or (H, W, C) of any of OpenCV's types (uint8, float32,
    float64; flows warp as float32); the result has its shape and type."""
    import cv2

    if image.shape[:2] != flow.shape[:2]:
        raise ValueError(f"image {image.shape} and flow {flow.shape} differ in size")
    map_x, map_y = sample_points(flow.astype(np.float32))
    channels = image.shape[2] if image.ndim == 3 else 0
    if channels > 4:  # remap takes up to 4 channels at once
        return np.stack([warp(image[..., k], flow) for k in range(channels)], axis=-1)
    out = cv2.remap(
        np.ascontiguousarray(image),
        map_x,
        map_y,
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return out.reshape(image.shape)


def occlusion_mask(forward_flow: np.ndarray, backward_flow: np.ndarray) -> np.ndarray:
    """Where the previous frame, warped into the current one, can be trusted (paper, 3.2).

    ``forward_flow`` w goes from the previous frame to the current one, ``backward_flow``
    w' from the current one to the previous one; the mask is on the current frame's grid.
    With w~ = w warped by w' (w~(p) = w(p + w'(p))), a pixel is 0 where

    * the flows disagree (a disocclusion): ``|w~ + w'|^2 > 0.01 (|w~|^2 + |w'|^2) + 0.5``;
    * it is on a motion boundary: ``|grad u'|^2 + |grad v'|^2 > 0.01 |w'|^2 + 0.002``,
      with central differences (one-sided at the border);
    * ``p + w'(p)`` is more than half a pixel outside the previous frame (our addition,
      see the module's notes);

    and 1 elsewhere. (H, W) float32.
    """
    if forward_flow.shape != backward_flow.shape:
        raise ValueError(
            f"forward {forward_flow.shape} and backward {backward_flow.shape} flows differ"
        )
    h, w = backward_flow.shape[:2]
    back = backward_flow.astype(np.float64)
    fore = warp(forward_flow.astype(np.float32), backward_flow).astype(np.float64)  # w~
    disagree = (
        np.sum((fore + back) ** 2, axis=-1)
        > CONSISTENCY_RELATIVE * (np.sum(fore**2, axis=-1) + np.sum(back**2, axis=-1))
        + CONSISTENCY_ABSOLUTE
    )
    du_dy, du_dx = np.gradient(back[..., 0]) if min(h, w) > 1 else (0.0, 0.0)
    dv_dy, dv_dx = np.gradient(back[..., 1]) if min(h, w) > 1 else (0.0, 0.0)
    boundary = (
        du_dx**2 + du_dy**2 + dv_dx**2 + dv_dy**2
        > BOUNDARY_RELATIVE * np.sum(back**2, axis=-1) + BOUNDARY_ABSOLUTE
    )
    x, y = sample_points(backward_flow.astype(np.float32))
    outside = (x < -0.5) | (x > w - 0.5) | (y < -0.5) | (y > h - 0.5)  # off by over half a pixel
    return (~(disagree | boundary | outside)).astype(np.float32)


def previous_frame_target(
    previous: np.ndarray, current: np.ndarray, styled_previous: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What the paper gives frame i from frame i-1: the previous styled frame warped into
    the current one (its start image and the temporal loss's target) and the mask.

    ``previous`` and ``current`` are the input frames, ``styled_previous`` the previous
    result, all at the size being optimised. Returns (warped, c): warped has
    ``styled_previous``'s shape and type, c is (H, W) float32.
    """
    forward = optical_flow(previous, current)
    backward = optical_flow(current, previous)
    return warp(styled_previous, backward), occlusion_mask(forward, backward)


def temporal_loss(
    x: np.ndarray, warped: np.ndarray, mask: np.ndarray, weight: float = 1.0
) -> tuple[float, np.ndarray]:
    """The short-term temporal loss and its gradient with respect to ``x``: the numpy
    reference of ``nstyle.engine.terms.TemporalTerm``.

    ``L = w sum c (x - warped)^2`` and ``dL/dx = 2 w c (x - warped)``: a sum over the
    elements where the paper takes their mean, as the content and style terms here are
    sums (the weight then holds at any frame size). ``mask`` c broadcasts against ``x`` by
    numpy's rules: (H, W) for channels-first arrays such as the optimiser's (1, 3, H, W),
    (H, W, 1) for (H, W, 3). Summed in float64; the gradient has ``x``'s type.
    """
    if x.shape != warped.shape:
        raise ValueError(f"x {x.shape} and warped {warped.shape} differ in shape")
    c = np.broadcast_to(np.asarray(mask, np.float64), x.shape)
    diff = x.astype(np.float64) - warped.astype(np.float64)
    loss = float(weight * np.sum(c * diff**2))
    grad = (2.0 * weight) * c * diff
    return loss, grad.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64)


def flows_between(frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(forward, backward) DIS flows of each consecutive pair of frames: for pair t,
    forward from frame t to t+1 and backward from t+1 to t."""
    return [
        (optical_flow(frames[t], frames[t + 1]), optical_flow(frames[t + 1], frames[t]))
        for t in range(len(frames) - 1)
    ]


def warping_error(
    frames: Sequence[np.ndarray],
    flows: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> float:
    """Flicker: how far each frame is from its predecessor carried along the motion.

    For each consecutive pair (t, t+1): frame t warped into frame t+1 by the backward flow,
    the squared difference with frame t+1 averaged over the pixels the occlusion mask keeps
    and over the channels; the result is the mean over the pairs (pairs whose mask keeps
    nothing are left out). In the frames' own units squared (0..255 for uint8 frames).

    ``flows`` gives each pair's (forward, backward) flows, e.g. the known motion of a
    synthetic pan, or ``flows_between`` of the input frames, so that the styled frames are
    judged against the motion of what was filmed; None computes them from ``frames``.
    A perfectly consistent sequence scores 0; independent noise scores high.
    """
    if len(frames) < 2:
        raise ValueError("the warping error needs at least two frames")
    if flows is None:
        flows = flows_between(frames)
    if len(flows) != len(frames) - 1:
        raise ValueError(
            f"{len(frames)} frames need {len(frames) - 1} flow pairs, got {len(flows)}"
        )
    errors = []
    for t, (forward, backward) in enumerate(flows):
        current = np.asarray(frames[t + 1], np.float64)
        carried = warp(np.asarray(frames[t], np.float64), backward)
        keep = occlusion_mask(forward, backward) > 0
        if not keep.any():
            continue
        squared = (current - carried) ** 2
        squared = squared.reshape(keep.shape + (-1,))  # (H, W, C), C = 1 for grey
        errors.append(float(squared[keep].mean()))
    if not errors:
        raise ValueError("the occlusion masks keep no pixel in any pair of frames")
    return float(np.mean(errors))
