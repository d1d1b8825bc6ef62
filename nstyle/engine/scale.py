"""One scale of a run, as its plan says: the photo and paintings at its size, their targets,
the first image (the start image, a given start, or the coarser scale's result carried
up), the objective (whole or tile by tile, with TV and a video frame's temporal term),
then the solver. ``paint_scale`` takes what every scale shares (``Setup``) and what this one
needs (``ScaleJob``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from nstyle.config import (
    Options,
    ScalePlan,
)
from nstyle.engine import memory, network
from nstyle.engine.guides import Region, region_targets
from nstyle.engine.objective import LossExecutor
from nstyle.engine.pixels import MattingTerm, TemporalTerm, TVExecutor, image_terms
from nstyle.engine.plan import style_edge
from nstyle.engine.solvers import Outcome, optimize
from nstyle.engine.terms import Network
from nstyle.engine.tiles import TiledLoss, tiled_targets
from nstyle.errors import Diverged
from nstyle.media import images
from nstyle.weights import Weights


def prepare_images(content: np.ndarray, styles: list[np.ndarray], options: Options, edge: int):
    """Resize: the content to the long ``edge``, each style to ``style_scale`` times that,
    each keeping its aspect (a departure: the original squeezed the style to the content's
    shape; Gram matrices only need equal channel counts)."""
    content = images.resize_long_edge(content, edge)
    return content, [images.resize_long_edge(s, style_edge(options, edge)) for s in styles]


def start_image(
    options: Options, content_x: np.ndarray, mean: np.ndarray, init: np.ndarray | None
) -> np.ndarray:
    """The first image of the optimisation, (1, 3, H, W), as ``options.init`` says
    (``init``: the picture of ``options.init``'s file, already read)."""
    if options.init == "content":
        return content_x
    if options.init == "noise":  # the original: uniform noise around the mean pixel
        rng = np.random.default_rng(options.seed)
        return rng.uniform(-0.1, 0.1, content_x.shape).astype(np.float32)
    assert init is not None
    picture = images.resize_to(init, content_x.shape[2:])
    if options.preserve_colors:
        picture = images.grey(images.luminance(picture))
    return images.preprocess(picture, mean)


def finer_start(content_x: np.ndarray, coarse_x: np.ndarray, coarse_content: np.ndarray):
    """A finer scale's start: its photo plus what the coarser scale changed, upsampled."""
    return content_x + images.resize_array(coarse_x - coarse_content, content_x.shape[2:])


def image_targets(
    net: Network,
    image: np.ndarray,
    kind: str,
    cap: int | None = None,
    tile: int | None = None,
) -> dict[str, mx.nd.NDArray]:
    """The ``kind`` ("gram": the Gram matrices and feature sums; or "content") entries of
    ``Network.targets`` of ``image``: tile
    by tile (``tile`` px, or the largest that fits ``cap`` bytes) when the whole does not
    fit ``cap`` (None: no cap)."""
    if tile is None and cap is not None:
        tile = memory.target_tile(net.footprint, image.shape[2], image.shape[3], cap)
    if tile is not None:
        return tiled_targets(net, image, tile, (kind,))
    prefixes = ("target_gram_", "target_sum_") if kind == "gram" else (f"target_{kind}_",)
    return {k: v for k, v in net.targets(image).items() if k.startswith(prefixes)}


def style_targets(
    net: Network,
    styles_x: list[np.ndarray],
    blend: Sequence[float],
    shape,
    cap: int | None = None,
    tile: int | None = None,
) -> dict[str, mx.nd.NDArray]:
    """The blended Gram (and feature sum) targets of the style images, at the output's size.

    Gram sums grow with the number of positions, so each style's are brought to the output's
    (a departure needed once styles keep their own shapes): the blend averages the
    paintings' second moments (and means) per position.
    """
    positions = net.positions(shape)
    blended: dict[str, mx.nd.NDArray] = {}
    for weight, style_x in zip(blend, styles_x):
        grams = image_targets(net, style_x, "gram", cap, tile)
        style_positions = net.positions(style_x.shape)
        for name in net.style_layers:
            for key in (f"target_gram_{name}", f"target_sum_{name}"):
                term = grams[key] * (weight * positions[name] / style_positions[name])
                blended[key] = term if key not in blended else blended[key] + term
    return blended


@dataclass(frozen=True)
class Temporal:
    """Ruder et al.'s short-term temporal term for one video frame."""

    warped: np.ndarray  # the previous styled frame carried into this one: RGB (H, W, 3)
    mask: np.ndarray  # (H, W) float32 in {0, 1}: where ``warped`` is trusted
    weight: float


@dataclass(frozen=True)
class Setup:
    """What every scale of a run shares: the network, the styles and their blend, the
    options, the weights, the start picture (``--init``'s), the memory cap in bytes, and the
    level of the solver's log lines."""

    net: Network
    styles: list[np.ndarray]
    blend: list[float]
    options: Options
    weights: Weights
    init: np.ndarray | None
    cap: int
    level: int = logging.INFO
    regions: tuple[Region, ...] = ()  # where each painting goes (none: everywhere)
    style_masks: list[np.ndarray | None] | None = None


@dataclass(frozen=True)
class ScaleJob:
    """One scale to paint: its plan, its place among the scales (from 1), the photo, and
    where it starts: a given image (a warm start), or the coarser scale's (image, photo) as
    the optimiser saw them; and a video frame's temporal term."""

    plan: ScalePlan
    index: int
    count: int
    content: np.ndarray
    start: np.ndarray | None = None
    temporal: Temporal | None = None
    previous: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class ScaleResult:
    """A painted scale: the image and photo as the optimiser saw them (the next scale's
    start), the picture as the result would be, and how the loop ended."""

    x: np.ndarray
    content_x: np.ndarray
    picture: np.ndarray
    outcome: Outcome


def paint_scale(setup: Setup, job: ScaleJob, report) -> ScaleResult:
    """One scale, as its plan says: the inputs at its size and their targets, the first
    image, the objective (whole or in tiles), then the optimiser.

    A finer scale starts from the photo at its size plus what the coarser scale changed
    (the difference of its image and its photo, upsampled): the photo's fine detail is kept
    where plain upsampling would blur it, and the painted structure carries over (coarse to
    fine, as jcjohnson's multires scripts and crowsonkb's scales do; docs/BENCHMARKS.md).
    """
    options, mean = setup.options, setup.weights.convention.mean_pixel
    network.map_large_blocks(job.plan.height * job.plan.width)  # where the peak is
    photo, content_x, targets = _inputs(setup, job)
    network.release_freed()  # the targets' executors, before the loss's is bound
    as_x = functools.partial(_as_x, options, mean)
    image = mx.nd.array(_first_image(setup, job, content_x, as_x), ctx=setup.net.ctx)
    loss, tv = _objective(setup, job, targets, image, as_x, photo)
    del targets
    render = functools.partial(_render, options, mean, photo)
    try:
        outcome = optimize(
            loss,
            tv,
            image,
            options,
            lambda step: report(step, render),
            job.plan,
            probe=job.previous is None,
            level=setup.level,
        )
    except Diverged as exc:  # rolled back: the last good image goes with the error
        last = image.asnumpy()
        raise Diverged(
            exc.message, picture=render(last), pixels=render(last, floats=True)
        ) from None
    x = image.asnumpy()
    return ScaleResult(x, content_x, render(x), outcome)


def _inputs(setup: Setup, job: ScaleJob):
    """(the photo at this scale, it as the optimiser sees it, the targets): the style
    images' blended Gram matrices and the photo's features; with ``preserve_colors``, of
    the luminance only (Gatys et al. 2016b: style the luminance, keep the colours)."""
    options, plan = setup.options, job.plan
    content, styles = prepare_images(job.content, setup.styles, options, plan.edge)
    photo = content
    if options.preserve_colors:
        content_y = images.luminance(content)
        styles = [
            images.grey(
                images.match_luminance(images.luminance(s), content_y)
                if options.match_luminance
                else images.luminance(s)
            )
            for s in styles
        ]
        content = images.grey(content_y)
    mean = setup.weights.convention.mean_pixel
    content_x = images.preprocess(content, mean)  # (1, 3, H, W)
    styles_x = [images.preprocess(style, mean) for style in styles]
    # Tiled scales compute targets with the plan's tiles: the same executor size, so the
    # plan's peak bounds this phase too.
    net, cap = setup.net, setup.cap
    if setup.regions:
        targets = region_targets(net, styles_x, setup.regions, content_x.shape, setup.style_masks)
    else:
        targets = style_targets(net, styles_x, setup.blend, content_x.shape, cap, plan.tile)
    del styles_x
    targets.update(image_targets(net, content_x, "content", cap, plan.tile))
    return photo, content_x, targets


def _as_x(options: Options, mean: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """An RGB picture as the optimiser sees it."""
    if options.preserve_colors:
        picture = images.grey(images.luminance(picture))
    return images.preprocess(picture, mean)


def _render(
    options: Options, mean: np.ndarray, photo: np.ndarray, x: np.ndarray, floats: bool = False
) -> np.ndarray:
    """The optimiser's image as the result's picture (the photo's colours kept if asked):
    RGB uint8, or with ``floats`` before rounding (float32 in 0..1, what files are written
    from)."""
    if floats:
        return images.unrounded(x, mean, photo if options.preserve_colors else None)
    picture = images.postprocess(x, mean)
    return images.with_colours_of(picture, photo) if options.preserve_colors else picture


def _first_image(setup: Setup, job: ScaleJob, content_x: np.ndarray, as_x) -> np.ndarray:
    """Where this scale starts: the given start, the start image (the first scale), or the
    photo plus the coarser scale's change."""
    if job.start is not None:
        return as_x(job.start)
    if job.previous is None:
        mean = setup.weights.convention.mean_pixel
        return start_image(setup.options, content_x, mean, setup.init)
    return finer_start(content_x, *job.previous)


def _objective(setup: Setup, job: ScaleJob, targets, image: mx.nd.NDArray, as_x, photo):
    """(the loss bound to ``image``, whole or tile by tile as the plan says; the image
    terms: TV smoothing, a video frame's temporal term, and photo to photo's photorealism
    term on the matting Laplacian of ``photo``, the photo at this scale's size)."""
    options, net = setup.options, setup.net
    layer_weights = dict(
        zip(options.style_layers, options.style_layer_weights or [1.0] * len(options.style_layers))
    )
    weighting = (options.style_weight, options.content_weight, layer_weights)
    regions, kind = len(setup.regions), options.statistics
    if job.plan.tile is None:
        loss: LossExecutor | TiledLoss = LossExecutor(
            net, targets, image, *weighting, regions, kind
        )
    else:
        loss = TiledLoss(net, targets, image, job.plan.tile, *weighting, regions, kind)
    temporal = job.temporal
    tv = image_terms(
        [
            TVExecutor(image, options.tv_weight) if options.tv_weight > 0 else None,
            TemporalTerm(image, as_x(temporal.warped), temporal.mask, temporal.weight)
            if temporal is not None and temporal.weight > 0
            else None,
            MattingTerm(image, photo, options.matting) if options.matting > 0 else None,
        ]
    )
    return loss, tv
