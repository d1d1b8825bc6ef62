"""``stylize``: one style transfer, from arrays to an array; ``transfer`` says how it went.

This is the one layer that turns the optimiser's steps into the public progress record,
``Iterate`` (epochs and seconds counted over all scales, the picture as the result would be).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mxnet as mx
import numpy as np

from nstyle import devices, memory
from nstyle.config import (
    INITS,
    NStyleTypeError,
    Options,
    ScalePlan,
    blend_weights,
    check_layers,
    check_options,
    flag,
    scale_plan,
)
from nstyle.errors import Diverged, NStyleError, TooLarge
from nstyle.losses import LossExecutor, Network, TemporalTerm, TVExecutor, image_terms
from nstyle.media import images
from nstyle.media.flow import previous_frame_target
from nstyle.optimize import Outcome, Step, optimize
from nstyle.tiles import TiledLoss, tiled_targets
from nstyle.weights import Weights, resolve

log = logging.getLogger(__name__)
GIB = 2.0**30


@dataclass
class Iterate:
    """What a callback receives after each epoch (epochs count from 1 over all scales).

    ``losses`` and ``rel_change`` stay on the device until read: a callback that does not
    read them costs the loop no host synchronisation.
    """

    epoch: int
    lr: float  # the rate this epoch's update used; nan for L-BFGS
    elapsed: float  # seconds since the run started (work queued, not always finished)
    image: mx.nd.NDArray  # the current image, (1, 3, H, W); read it, don't keep it
    scale: tuple[int, int]  # (this scale, number of scales), coarse to fine
    _step: Step = field(repr=False)
    _render: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    def picture(self) -> np.ndarray:
        """The current image as the run's result would be: RGB uint8 (H, W, 3)."""
        return self._render(self.image.asnumpy())

    @property
    def losses(self) -> dict[str, float]:
        """Each loss times its weight."""
        return self._step.read_losses()

    @property
    def rel_change(self) -> float:
        """``||x_t - x_(t-1)|| / ||x_t||``."""
        return self._step.read_change()

    @property
    def style_loss(self) -> float:
        return sum(v for k, v in self.losses.items() if k.startswith("style_"))

    @property
    def content_loss(self) -> float:
        return sum(v for k, v in self.losses.items() if k.startswith("content_"))


@dataclass(frozen=True)
class Result:
    """A finished transfer: the picture and how the optimisation ended."""

    image: np.ndarray  # RGB uint8 (H, W, 3), before any denoising
    epochs: int  # over all scales
    seconds: float
    reason: str  # why the last scale stopped


def load_weights(options: Options, fallback: str | None = None) -> Weights:
    """The weights ``options`` ask for (see ``nstyle.weights.resolve``)."""
    return resolve(options.model, options.weights, fallback)


# ------------------------------------------------------------ the arguments, at the entry
def checked_context(ctx) -> mx.Context:
    """``ctx`` (None: the CPU), or one line naming it: not a context, or a GPU this MXNet
    build or machine cannot use (``devices.select_context``'s checks)."""
    if ctx is None:
        return mx.cpu()
    if not isinstance(ctx, mx.Context):
        raise NStyleTypeError(
            f"ctx: expected an mxnet.Context such as mx.cpu() or mx.gpu(0), got "
            f"{type(ctx).__name__} {ctx!r:.60}"
        )
    if ctx.device_type == "gpu":
        try:
            devices.select_context(ctx.device_id)
        except NStyleError as exc:
            said = str(exc).replace("--gpu -1", "mx.cpu()").replace(f"--gpu {ctx.device_id}: ", "")
            raise NStyleError(f"ctx={ctx}: {said}") from None
    elif ctx.device_type != "cpu":
        raise NStyleError(f"ctx={ctx}: nstyle runs on mx.cpu() or mx.gpu(N)")
    return ctx


def checked_weights(weights, options: Options) -> Weights:
    """``weights`` as loaded weights: given (a ``Weights``), read from a path (as
    ``Options.weights`` would be), or by default ``load_weights(options)``."""
    if weights is None:
        return load_weights(options)
    if isinstance(weights, Weights):
        return weights
    if isinstance(weights, (str, os.PathLike)):
        return resolve(options.model, os.fspath(weights))
    raise NStyleTypeError(
        f"weights: expected nstyle's Weights (load_weights) or a weights file's path, got "
        f"{type(weights).__name__} {weights!r:.60}"
    )


def check_callback(callback) -> None:
    if callback is not None and not callable(callback):
        raise NStyleTypeError(
            f"callback: expected a function taking an Iterate, got "
            f"{type(callback).__name__} {callback!r:.60}"
        )


def checked_temporal(temporal) -> Temporal:
    """``temporal`` with its picture as RGB uint8, its mask (H, W) of 0..1 float32 beside
    it, and a finite weight >= 0; else one line naming the part."""
    if not isinstance(temporal, Temporal):
        raise NStyleTypeError(
            f"temporal: expected nstyle.api.Temporal, got {type(temporal).__name__}"
        )
    warped = images.as_rgb(temporal.warped, "temporal.warped")
    mask = temporal.mask
    if not isinstance(mask, np.ndarray) or mask.shape != warped.shape[:2]:
        raise NStyleError(
            f"temporal.mask: expected an array of shape {warped.shape[:2]}, got "
            f"{getattr(mask, 'shape', type(mask).__name__)}"
        )
    if not np.issubdtype(mask.dtype, np.number) and mask.dtype != bool:
        raise NStyleError(f"temporal.mask: expected numbers, got dtype {mask.dtype}")
    mask = mask.astype(np.float32)
    if not (np.all(np.isfinite(mask)) and mask.min() >= 0 and mask.max() <= 1):
        raise NStyleError("temporal.mask: values must be in 0..1")
    weight = temporal.weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
        raise NStyleTypeError(f"temporal.weight: expected a number, got {type(weight).__name__}")
    if not 0 <= float(weight) < float("inf"):
        raise NStyleError(f"temporal.weight must be a finite number >= 0, got {weight}")
    return Temporal(warped, mask, float(weight))


@dataclass(frozen=True)
class MemoryCap:
    """What a run may use at its peak: ``cap`` bytes (``--max-memory``, asked in GiB, or
    90% of the ``available`` bytes free on ``where``)."""

    cap: int
    available: int
    where: str
    asked: float | None


def memory_cap(options: Options, ctx) -> MemoryCap:
    """The run's cap on ``ctx``: ``--max-memory``, or 90% of what is free."""
    available = devices.free_memory(ctx)
    if options.max_memory is None:
        return MemoryCap(int(0.9 * available), available, str(ctx), None)
    return MemoryCap(int(options.max_memory * GIB), available, str(ctx), options.max_memory)


@dataclass(frozen=True)
class RunPlan:
    """Every scale's plan, coarse to fine, made before anything of the picture's size
    exists: the painter only carries it out."""

    scales: tuple[ScalePlan, ...]
    cap: MemoryCap

    def describe(self) -> str:
        """The memory plan in one line."""
        peak = max(p.peak for p in self.scales)
        return f"memory plan (cap {self.cap.cap / GIB:.1f} GiB, peak about {peak / GIB:.1f}): " + (
            "; ".join(plan.describe() for plan in self.scales)
        )


def plan_run(
    net: Network,
    options: Options,
    content_shape: Sequence[int],
    style_shapes: Sequence[tuple[int, int]],
    cap: MemoryCap,
    *,
    warm_start: bool = False,
) -> RunPlan:
    """The run's plan for a photo of ``content_shape`` and style images of ``style_shapes``
    (H, W, at the finest scale): the schedule (``scale_plan``; with ``warm_start``, one
    scale at the output's size with the finest scale's budget, its stop rule from its first
    window) merged with each scale's memory plan (``plan_memory``)."""
    schedule = scale_plan(options)
    if warm_start:
        schedule = [ScalePlan(options.max_long_edge, schedule[-1].epochs, options.stop_window)]
    shapes = [images.long_edge_shape(content_shape, scale.edge) for scale in schedule]
    fits = plan_memory(net, shapes, style_shapes, options, cap.cap, cap.available, cap.where)
    scales = tuple(
        dataclasses.replace(fit, edge=s.edge, epochs=s.epochs, first_check=s.first_check)
        for s, fit in zip(schedule, fits)
    )
    return RunPlan(scales, cap)


def plan_memory(
    net: Network,
    shapes: Sequence[tuple[int, int]],
    style_shapes: Sequence[tuple[int, int]],
    options: Options,
    cap: int,
    available: int,
    ctx,
) -> list[ScalePlan]:
    """Each scale's memory plan (``nstyle.memory.plan_scale``) for the content ``shapes``
    (H, W), coarse to fine; fails before any work when even the smallest tiles do not fit,
    naming the smallest ``--max-memory`` that works, or, without one, a
    ``--max-long-edge``; or when a style image (``style_shapes``, at the finest scale) does
    not, naming a ``--style-scale``."""
    plans = []
    for height, width in reversed(shapes):  # the finest first: it needs the most
        try:
            plans.append(memory.plan_scale(net, height, width, options.optimizer, cap))
        except memory.NoFit as exc:
            error = memory.cap_error(exc, options.max_memory, available, str(ctx))
            if options.max_memory is None:
                edge = memory.largest_edge_that_fits(net, height, width, options.max_long_edge, cap)
                error = TooLarge(
                    f"{error}; {flag('max_long_edge')} {edge} would fit",
                    suggested={"max_long_edge": edge},
                )
            raise error from None
    plans.reverse()
    for height, width in style_shapes:  # their targets, tile by tile if need be
        fits, least = memory.fits_at_least(net, height, width, cap)
        if not fits:
            scale = memory.largest_style_scale_that_fits(
                net, height, width, options.style_scale, options.max_long_edge, cap
            )
            raise TooLarge(
                f"the style image at {flag('style_scale')} {options.style_scale:g} is "
                f"{width}x{height} and needs at least "
                f"{(least.peak if least else float('inf')) / GIB:.1f} GiB but the cap is "
                f"{cap / GIB:.1f} GiB; {flag('style_scale')} {scale:.2g} would fit",
                suggested={"style_scale": float(f"{scale:.2g}")},
            )
    if options.max_memory is not None and cap > available:
        log.warning(
            "%s %g is more than the %.1f GiB free on %s",
            flag("max_memory"),
            options.max_memory,
            available / GIB,
            ctx,
        )
    return plans


def prepare_images(content: np.ndarray, styles: list[np.ndarray], options: Options, edge: int):
    """Resize: the content to the long ``edge``, each style to ``style_scale`` times that,
    each keeping its aspect (a departure: the original squeezed the style to the content's
    shape; Gram matrices only need equal channel counts)."""
    content = images.resize_long_edge(content, edge)
    return content, [images.resize_long_edge(s, style_edge(options, edge)) for s in styles]


def style_edge(options: Options, edge: int | None = None) -> int:
    """The style images' long edge at a scale of long ``edge`` (default: the output's)."""
    return max(1, round((edge or options.max_long_edge) * options.style_scale))


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
    """The ``kind`` ("gram" or "content") entries of ``Network.targets`` of ``image``: tile
    by tile (``tile`` px, or the largest that fits ``cap`` bytes) when the whole does not
    fit ``cap`` (None: no cap)."""
    if tile is None and cap is not None:
        tile = memory.target_tile(net, image.shape[2], image.shape[3], cap)
    if tile is not None:
        return tiled_targets(net, image, tile, (kind,))
    return {k: v for k, v in net.targets(image).items() if k.startswith(f"target_{kind}_")}


def style_targets(
    net: Network,
    styles_x: list[np.ndarray],
    blend: Sequence[float],
    shape,
    cap: int | None = None,
    tile: int | None = None,
) -> dict[str, mx.nd.NDArray]:
    """The blended Gram targets of the style images, at the output's size.

    Gram sums grow with the number of positions, so each style's are brought to the output's
    (a departure needed once styles keep their own shapes).
    """
    positions = net.positions(shape)
    blended: dict[str, mx.nd.NDArray] = {}
    for weight, style_x in zip(blend, styles_x):
        grams = image_targets(net, style_x, "gram", cap, tile)
        style_positions = net.positions(style_x.shape)
        for name in net.style_layers:
            key = f"target_gram_{name}"
            term = grams[key] * (weight * positions[name] / style_positions[name])
            blended[key] = term if key not in blended else blended[key] + term
    return blended


def stylize(
    content: np.ndarray,
    styles,
    options: Options = Options(),
    *,
    ctx: mx.Context | None = None,
    weights: Weights | str | os.PathLike | None = None,
    callback: Callable[[Iterate], None] | None = None,
) -> np.ndarray:
    """Paint ``content`` in the style of ``styles``.

    Parameters
    ----------
    content : ndarray
        The photo, any size, as scikit-image users pass images: uint8 (0..255), uint16,
        float (0..1) or bool; RGB (H, W, 3), grey (H, W) or RGBA (H, W, 4, flattened onto
        white). Resized as ``options`` say.
    styles : ndarray or list of ndarray
        One painting or several (as ``content``), blended by ``options.style_blend_weights``.
    options : Options
        Every setting; see ``nstyle.config.Options``.
    ctx : mxnet.Context, optional
        Where to run; default the CPU (a GPU is checked as ``--gpu N`` is).
    weights : Weights, str or path, optional
        Loaded weights (``load_weights``) or a weights file to read; default
        ``load_weights(options)``.
    callback : callable, optional
        Called after every epoch with an ``Iterate``.

    Returns
    -------
    ndarray
        The stylised image, RGB uint8 (H, W, 3) at the content's resized shape, before any
        denoising (``images.denoise`` is applied to what is written).

    Raises
    ------
    NStyleError
        For any argument that cannot work, naming it, before any work.
    """
    return transfer(content, styles, options, ctx=ctx, weights=weights, callback=callback).image


def transfer(
    content: np.ndarray,
    styles,
    options: Options = Options(),
    *,
    ctx: mx.Context | None = None,
    weights: Weights | str | os.PathLike | None = None,
    callback: Callable[[Iterate], None] | None = None,
    init: np.ndarray | None = None,
) -> Result:
    """``stylize``, returning the picture with the number of epochs and why they ended;
    ``init``, as ``Painter`` takes it."""
    check_callback(callback)
    painter = Painter(styles, options, ctx=ctx, weights=weights, init=init)
    return painter.paint(content, callback=callback)


@dataclass(frozen=True)
class Temporal:
    """Ruder et al.'s short-term temporal term for one video frame."""

    warped: np.ndarray  # the previous styled frame carried into this one: RGB (H, W, 3)
    mask: np.ndarray  # (H, W) float32 in {0, 1}: where ``warped`` is trusted
    weight: float


class Painter:
    """The weights loaded and the network built once, for many pictures with one set of
    styles and options: a batch, the frames of a video, a Ray actor's items. ``init``: the
    start picture when ``options.init`` names a file, already read (the command line reads
    it under its own --max-image-pixels; a Ray worker has no such file); default: read from
    that file here."""

    def __init__(
        self,
        styles,
        options: Options = Options(),
        *,
        ctx: mx.Context | None = None,
        weights: Weights | str | os.PathLike | None = None,
        init: np.ndarray | None = None,
    ):
        check_options(options, init_read=init is not None)
        ctx = checked_context(ctx)
        if isinstance(styles, np.ndarray):
            styles = [styles]
        if not isinstance(styles, (list, tuple)):
            raise NStyleError(
                f"styles: expected an array or a list of arrays, got {type(styles).__name__}"
            )
        if not styles:
            raise NStyleError("styles: at least one style image is needed")
        self.styles = [images.as_rgb(style, f"styles[{i}]") for i, style in enumerate(styles)]
        self.init = None
        if options.init not in INITS:  # a file: read once, for every picture
            picture = images.read_image(options.init) if init is None else init
            self.init = images.as_rgb(picture, "init")
        self.options, self.ctx = options, ctx
        self.blend = blend_weights(options, len(self.styles))  # before the weights load
        self.weights = checked_weights(weights, options)
        check_layers(options, self.weights.num_layers)
        self.net = Network.build(
            self.weights.network_params,
            self.weights.num_layers,
            options.style_layers,
            options.content_layers,
            options.pooling,
            self.ctx,
            self.weights.channels,
        )

    def paint(
        self,
        content: np.ndarray,
        *,
        callback: Callable[[Iterate], None] | None = None,
        start: np.ndarray | None = None,
        temporal: Temporal | None = None,
    ) -> Result:
        """Paint ``content`` (as ``stylize`` takes it). ``start``: a first image, RGB at the
        output's size, optimised at that one scale (a warm start: the stop rule from its
        first window on, the finest scale's budget); ``temporal``: a temporal term."""
        content = images.as_rgb(content, "content")
        check_callback(callback)
        start = None if start is None else images.as_rgb(start, "start")
        temporal = None if temporal is None else checked_temporal(temporal)
        final = images.long_edge_shape(content.shape, self.options.max_long_edge)
        given_pictures = [(start, "start")]
        if temporal is not None:
            given_pictures.append((temporal.warped, "temporal.warped"))
        for given, what in given_pictures:
            if given is not None and tuple(given.shape[:2]) != final:
                raise NStyleError(
                    f"{what}: {given.shape[1]}x{given.shape[0]}, the output is "
                    f"{final[1]}x{final[0]}"
                )
        run = self.plan(content.shape, warm_start=start is not None)
        self._log_start(run, final)
        setup = Setup(
            self.net, self.styles, self.blend, self.options, self.weights, self.init, run.cap.cap
        )
        previous, done, begin = None, 0, time.perf_counter()
        for index, plan in enumerate(run.scales, start=1):
            job = ScaleJob(plan, index, len(run.scales), content, start, temporal, previous)
            began = time.perf_counter()
            scaled = paint_scale(setup, job, _iterate_callback(callback, done, begin, job))
            previous, done = (scaled.x, scaled.content_x), done + scaled.outcome.epochs
            if len(run.scales) > 1:
                log.info(
                    "scale %d/%d, %d px: %d of %d epochs in %.1f s; %s",
                    index,
                    len(run.scales),
                    plan.edge,
                    scaled.outcome.epochs,
                    plan.epochs,
                    time.perf_counter() - began,
                    scaled.outcome.reason,
                )
        return Result(scaled.picture, done, time.perf_counter() - begin, scaled.outcome.reason)

    def _log_start(self, run: RunPlan, final: tuple[int, int]) -> None:
        edges = [plan.edge for plan in run.scales]
        log.info(run.describe())
        log.info(
            "network: %s; content %dx%d, %s%s",
            self.weights.description,
            final[1],
            final[0],
            self.ctx,
            f"; scales {', '.join(map(str, edges))} px" if len(edges) > 1 else "",
        )

    def plan(self, shape, *, warm_start: bool = False) -> RunPlan:
        """The run's plan for a picture of ``shape`` (``plan_run``): one line, before
        anything of that size is made, when it cannot fit."""
        styles = [images.long_edge_shape(s.shape, style_edge(self.options)) for s in self.styles]
        cap = memory_cap(self.options, self.ctx)
        return plan_run(self.net, self.options, shape, styles, cap, warm_start=warm_start)

    def check_fits_at_all(self) -> None:
        """Fail before any picture when none fits the cap (``memory.check_fits_at_all``)."""
        cap = memory_cap(self.options, self.ctx)
        memory.check_fits_at_all(self.net, cap.asked, cap.cap, cap.available, cap.where)

    def paint_frame(
        self,
        frame: np.ndarray,
        previous: np.ndarray | None = None,
        previous_styled: np.ndarray | None = None,
        *,
        callback: Callable[[Iterate], None] | None = None,
    ) -> Result:
        """One frame of a video (RGB uint8). Given the previous input frame and its styled
        result, and a temporal weight above 0: the styled frame carried along the optical
        flow is the start and, outside occlusions, the temporal term's target (Ruder et
        al. 2016; ``nstyle.media.flow``). Otherwise ``paint(frame)``: styled on its own."""
        weight = self.options.temporal_weight
        if previous is None or previous_styled is None or weight == 0:
            return self.paint(frame, callback=callback)
        frame = images.as_rgb(frame, "frame")
        self.plan(frame.shape, warm_start=True)  # before the frames are resized
        shape = images.long_edge_shape(frame.shape, self.options.max_long_edge)
        current = images.resize_to(frame, shape)
        before = images.resize_to(images.as_rgb(previous, "previous"), shape)
        styled = images.resize_to(images.as_rgb(previous_styled, "previous_styled"), shape)
        warped, mask = previous_frame_target(before, current, styled)
        return self.paint(
            frame, callback=callback, start=warped, temporal=Temporal(warped, mask, weight)
        )


def _iterate_callback(
    callback: Callable[[Iterate], None] | None, done: int, begin: float, job: ScaleJob
) -> Callable[[Step, Callable], None]:
    """The optimiser's steps at this scale as the public ``Iterate``: epochs and seconds
    count on across scales."""

    def report(step: Step, render: Callable[[np.ndarray], np.ndarray]) -> None:
        if callback is not None:
            callback(
                Iterate(
                    step.epoch + done,
                    step.lr,
                    time.perf_counter() - begin,
                    step.image,
                    (job.index, job.count),
                    step,
                    render,
                )
            )

    return report


@dataclass(frozen=True)
class Setup:
    """What every scale of a run shares: the network, the styles and their blend, the
    options, the weights, the start picture (``--init``'s) and the memory cap in bytes."""

    net: Network
    styles: list[np.ndarray]
    blend: list[float]
    options: Options
    weights: Weights
    init: np.ndarray | None
    cap: int


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
    photo, content_x, targets = _inputs(setup, job)
    as_x = functools.partial(_as_x, options, mean)
    image = mx.nd.array(_first_image(setup, job, content_x, as_x), ctx=setup.net.ctx)
    loss, tv = _objective(setup, job, targets, image, as_x)
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
        )
    except Diverged as exc:  # rolled back: the last good image goes with the error
        raise Diverged(exc.message, picture=render(image.asnumpy())) from None
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
    targets = style_targets(net, styles_x, setup.blend, content_x.shape, cap, plan.tile)
    del styles_x
    targets.update(image_targets(net, content_x, "content", cap, plan.tile))
    return photo, content_x, targets


def _as_x(options: Options, mean: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """An RGB picture as the optimiser sees it."""
    if options.preserve_colors:
        picture = images.grey(images.luminance(picture))
    return images.preprocess(picture, mean)


def _render(options: Options, mean: np.ndarray, photo: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The optimiser's image as the result's picture (the photo's colours kept if asked)."""
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


def _objective(setup: Setup, job: ScaleJob, targets, image: mx.nd.NDArray, as_x):
    """(the loss bound to ``image``, whole or tile by tile as the plan says; the image
    terms: TV smoothing and a video frame's temporal term)."""
    options, net = setup.options, setup.net
    layer_weights = dict(
        zip(options.style_layers, options.style_layer_weights or [1.0] * len(options.style_layers))
    )
    weighting = (options.style_weight, options.content_weight, layer_weights)
    if job.plan.tile is None:
        loss: LossExecutor | TiledLoss = LossExecutor(net, targets, image, *weighting)
    else:
        loss = TiledLoss(net, targets, image, job.plan.tile, *weighting)
    temporal = job.temporal
    tv = image_terms(
        [
            TVExecutor(image, options.tv_weight) if options.tv_weight > 0 else None,
            TemporalTerm(image, as_x(temporal.warped), temporal.mask, temporal.weight)
            if temporal is not None and temporal.weight > 0
            else None,
        ]
    )
    return loss, tv
