"""The painter: the weights loaded and the network built once, for many pictures with one set
of styles and options (a batch, a video's frames, a Ray actor's items, the web app's
jobs). It checks its arguments, plans the run (``nstyle.engine.plan``) and paints its scales
(``nstyle.engine.scale``); its progress reaches callers as the public ``Iterate``, epochs
and seconds counted over all scales.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mxnet as mx
import numpy as np

from nstyle.config import (
    INITS,
    Options,
    blend_weights,
    check_layers,
    check_options,
)
from nstyle.engine import autoregions, memory, network, smoothing
from nstyle.engine.arguments import (  # noqa: F401  (load_weights: the API's, from here)
    check_callback,
    check_given,
    checked_context,
    checked_temporal,
    checked_weights,
    load_weights,
)
from nstyle.engine.guides import checked_masks, regions
from nstyle.engine.plan import RunPlan, memory_cap, plan_pictures
from nstyle.engine.scale import ScaleJob, ScaleResult, Setup, Temporal, paint_scale, style_edge
from nstyle.engine.solvers import Step
from nstyle.engine.terms import Network
from nstyle.errors import NStyleError, named_failures
from nstyle.media import images, segmentation
from nstyle.media.flow import previous_frame_target
from nstyle.weights import Weights

log = logging.getLogger(__name__)


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
    _render: Callable[..., np.ndarray] = field(repr=False)

    def picture(self) -> np.ndarray:
        """The current image as the run's result would be: RGB uint8 (H, W, 3)."""
        return self._render(self.image.asnumpy())

    def pixels(self) -> np.ndarray:
        """``picture`` before rounding, as ``Result.pixels``: float32 (H, W, 3) in 0..1,
        what an interrupted run writes (16 bits in a PNG or TIFF)."""
        return self._render(self.image.asnumpy(), floats=True)

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
    pixels: np.ndarray | None = None  # ``image`` before rounding: float32 in 0..1 (16-bit files)


class Painter:
    """The weights loaded and the network built once, for many pictures with one set of
    styles and options: a batch, the frames of a video, a Ray actor's items. ``init``: the
    start picture when ``options.init`` names a file, already read (the command line reads
    it under its own --max-image-pixels; a Ray worker has no such file); default: read from
    that file here. ``style_masks``: one per style image (or None), the part of each
    painting its statistics come from. ``verbose``: the plan and each scale's line at INFO
    (else DEBUG: a batch shows one line per picture instead)."""

    def __init__(
        self,
        styles,
        options: Options = Options(),
        *,
        ctx: mx.Context | None = None,
        weights: Weights | str | os.PathLike | None = None,
        init: np.ndarray | None = None,
        style_masks: Sequence[np.ndarray | None] | None = None,
        verbose: bool = True,
    ):
        self.level = logging.INFO if verbose else logging.DEBUG
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
        finest = [images.scaled_shape(s.shape, style_edge(options)) for s in self.styles]
        self.style_masks = checked_masks(style_masks, len(self.styles), "style_masks", True, finest)
        loaded = checked_weights(weights, options)
        check_layers(options, loaded.num_layers)
        self.net = Network.build(
            loaded.network_params,
            loaded.num_layers,
            options.style_layers,
            options.content_layers,
            options.pooling,
            self.ctx,
            loaded.channels,
        )
        # the network holds the arrays now: no host copy kept beside it (a caller's own
        # ``Weights`` keep theirs, for other painters)
        self.weights = loaded.described()

    @named_failures(settle=lambda: drained())
    def paint(
        self,
        content: np.ndarray,
        *,
        callback: Callable[[Iterate], None] | None = None,
        start: np.ndarray | None = None,
        temporal: Temporal | None = None,
        masks: Sequence[np.ndarray] | None = None,
    ) -> Result:
        """Paint ``content`` (as ``stylize`` takes it). ``start``: a first image, RGB at the
        output's size, optimised at that one scale (a warm start: the stop rule from its
        first window on, the finest scale's budget); ``temporal``: a temporal term;
        ``masks``: one per style image, where on the photo it goes (``engine.guides``)."""
        content = images.as_rgb(content, "content")
        check_callback(callback)
        start = None if start is None else images.as_rgb(start, "start")
        temporal = None if temporal is None else checked_temporal(temporal)
        final = images.long_edge_shape(content.shape, self.options.max_long_edge)
        check_given(final, start, temporal)
        styles, blend, style_masks, guides = self._guides(content, final, masks, start is not None)
        found = () if guides is None else regions(guides, blend)
        run = self.plan(content.shape, warm_start=start is not None, regions=len(found))
        self._log_start(run, final)
        setup = Setup(
            self.net,
            styles,
            blend,
            self.options,
            self.weights,
            self.init,
            run.cap.cap,
            self.level,
            found,
            style_masks,
        )
        previous, done, begin = None, 0, time.perf_counter()
        for index, plan in enumerate(run.scales, start=1):
            job = ScaleJob(plan, index, len(run.scales), content, start, temporal, previous)
            began = time.perf_counter()
            scaled = paint_scale(setup, job, _iterate_callback(callback, done, begin, job))
            network.release_freed()  # the scale's executors, before the next's or the post-process
            previous, done = (scaled.x, scaled.content_x), done + scaled.outcome.epochs
            if len(run.scales) > 1:
                log.log(
                    self.level,
                    "scale %d/%d, %d px: %d of %d epochs in %.1f s; %s",
                    index,
                    len(run.scales),
                    plan.edge,
                    scaled.outcome.epochs,
                    plan.epochs,
                    time.perf_counter() - began,
                    scaled.outcome.reason,
                )
        return self._result(run, scaled, content, done, begin)

    @property
    def finds_regions(self) -> bool:
        """Whether a photo without masks gets automatic regions: photo to photo with one
        reference, no style mask, and more than one region asked (``--photo-regions``)."""
        return (
            self.options.photo
            and self.options.photo_regions > 1
            and len(self.styles) == 1
            and self.style_masks is None
        )

    def _guides(self, content: np.ndarray, final: tuple[int, int], masks, warm_start: bool):
        """(styles, blend, style masks, masks as guides) of a picture: the painter's own with
        ``masks``; ones where only style masks are given (the whole photo, each painting's
        part); or photo to photo's automatic regions (``finds_regions``), refused by the
        plan before the clustering if that many regions cannot fit."""
        guides = checked_masks(masks, len(self.styles), "masks", shapes=[final] * len(self.styles))
        if guides is None and self.style_masks is not None:
            guides = [np.ones(final, np.float32)] * len(self.styles)
        if guides is None and self.finds_regions:
            self.plan(content.shape, warm_start=warm_start, regions=self.options.photo_regions)
            return self._auto_regions(content, final)
        return self.styles, self.blend, self.style_masks, guides

    def _auto_regions(self, content: np.ndarray, final: tuple[int, int]):
        """(styles, blend, style masks, masks) of the photo's automatic regions
        (``engine.autoregions``, made regions as segmentations are by
        ``segmentation.index_regions``), or the painter's own and no masks when one region
        is found."""
        began, reference = time.process_time(), self.styles[0]
        seed = 0 if self.options.seed is None else self.options.seed
        mean = self.weights.convention.mean_pixel
        labels = autoregions.find(
            self.net, mean, content, reference, self.options.photo_regions, seed
        )
        made = segmentation.index_regions(*labels, reference)
        count = len(made.styles)
        log.log(
            self.level,
            "photo to photo: %d region(s) found in the photo and the reference (%d the "
            "reference lacks: its whole look) in %.1f CPU s",
            count,
            len(made.orphans),
            time.process_time() - began,
        )
        if count == 1:
            return self.styles, self.blend, self.style_masks, None
        finest = images.scaled_shape(reference.shape, style_edge(self.options))
        style_masks = checked_masks(made.style_masks, count, "style_masks", True, [finest] * count)
        guides = checked_masks(made.masks, count, "masks", shapes=[final] * count)
        return made.styles, [1.0] * count, style_masks, guides

    def _result(
        self, run: RunPlan, scaled: ScaleResult, content: np.ndarray, done: int, begin: float
    ) -> Result:
        """The last scale's picture as the ``Result``: with the photo's colours if asked,
        then post-processed on the float picture as the plan says (before any writer)."""
        shape = scaled.x.shape[2:]
        colours = images.resize_to(content, shape) if self.options.preserve_colors else None
        pixels = images.unrounded(scaled.x, self.weights.convention.mean_pixel, colours)
        picture = scaled.picture
        if run.post_process != "none":  # on the float picture, before any writer
            began = time.perf_counter()
            pixels = smoothing.smooth(run.post_process, images.resize_to(content, shape), pixels)
            picture = np.clip(np.round(pixels * 255), 0, 255).astype(np.uint8)
            log.log(
                self.level, "%s smoothing in %.1f s", run.post_process, time.perf_counter() - began
            )
        seconds = time.perf_counter() - begin
        return Result(picture, done, seconds, scaled.outcome.reason, pixels)

    def _log_start(self, run: RunPlan, final: tuple[int, int]) -> None:
        edges = [plan.edge for plan in run.scales]
        log.log(self.level, run.describe())
        log.log(
            self.level,
            "network: %s; content %dx%d, %s%s",
            self.weights.description,
            final[1],
            final[0],
            self.ctx,
            f"; scales {', '.join(map(str, edges))} px" if len(edges) > 1 else "",
        )

    def plan(self, shape, *, warm_start: bool = False, regions: int = 0) -> RunPlan:
        """The run's plan for a picture of ``shape`` (``plan_run``), with ``regions`` masked
        regions: one line, before anything of that size is made, when it cannot fit."""
        shapes = [style.shape for style in self.styles]
        return plan_pictures(
            self.net.footprint,
            self.options,
            shape,
            shapes,
            self.ctx,
            warm_start=warm_start,
            regions=regions,
        )

    def check_fits_at_all(self) -> None:
        """Fail before any picture when none fits the cap (``memory.check_fits_at_all``)."""
        cap = memory_cap(self.options, self.ctx)
        memory.check_fits_at_all(self.net.footprint, cap.asked, cap.cap, cap.available, cap.where)

    def paint_frame(
        self,
        frame: np.ndarray,
        previous: np.ndarray | None = None,
        previous_styled: np.ndarray | None = None,
        *,
        callback: Callable[[Iterate], None] | None = None,
        masks: Sequence[np.ndarray] | None = None,
    ) -> Result:
        """One frame of a video (RGB uint8), ``masks`` as ``paint`` takes them. Given the
        previous input frame and its styled result, and a temporal weight above 0: the
        styled frame carried along the optical flow is the start and, outside occlusions,
        the temporal term's target (Ruder et al. 2016; ``nstyle.media.flow``). Otherwise
        ``paint(frame)``: styled on its own."""
        weight = self.options.temporal_weight
        if previous is None or previous_styled is None or weight == 0:
            return self.paint(frame, callback=callback, masks=masks)
        frame = images.as_rgb(frame, "frame")
        self.plan(frame.shape, warm_start=True)  # before the frames are resized
        shape = images.long_edge_shape(frame.shape, self.options.max_long_edge)
        current = images.resize_to(frame, shape)
        before = images.resize_to(images.as_rgb(previous, "previous"), shape)
        styled = images.resize_to(images.as_rgb(previous_styled, "previous_styled"), shape)
        warped, mask = previous_frame_target(before, current, styled)
        temporal = Temporal(warped, mask, weight)
        return self.paint(frame, callback=callback, start=warped, temporal=temporal, masks=masks)


def drained() -> None:
    """MXNet's queued work waited for after a failure, its errors dropped (the failure is
    reported): an allocation that failed in the engine raised again in MXNet's exit hook."""
    try:
        mx.nd.waitall()
    except Exception:  # noqa: S110  (the same failure, already reported)
        pass


def _iterate_callback(
    callback: Callable[[Iterate], None] | None, done: int, begin: float, job: ScaleJob
) -> Callable[[Step, Callable], None]:
    """The optimiser's steps at this scale as the public ``Iterate``: epochs and seconds
    count on across scales."""

    def report(step: Step, render: Callable[..., np.ndarray]) -> None:
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
