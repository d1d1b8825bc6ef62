"""Plan, then paint: the run's whole plan, made once before anything of the picture's size
exists. The coarse-to-fine schedule (``nstyle.config.schedule``) is merged with each
scale's memory plan (``nstyle.engine.memory``) under the run's cap; a picture or painting
that cannot fit is refused here, in one line naming a value that would work.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from nstyle import devices
from nstyle.config import (
    Options,
    ScalePlan,
    flag,
    scale_plan,
)
from nstyle.engine import memory
from nstyle.engine.footprint import Footprint
from nstyle.errors import TooLarge
from nstyle.media import images

log = logging.getLogger(__name__)
GIB = 2.0**30


@dataclass(frozen=True)
class MemoryCap:
    """What a run may use at its peak: ``cap`` bytes (``--max-memory``, asked in GiB, or
    90% of the ``available`` bytes free on ``where``)."""

    cap: int
    available: int
    where: str
    asked: float | None


def memory_cap(options: Options, ctx, available: int | None = None) -> MemoryCap:
    """The run's cap on ``ctx``: ``--max-memory``, or 90% of what is free (or of
    ``available`` bytes, when given)."""
    available = devices.free_memory(ctx) if available is None else available
    if options.max_memory is None:
        return MemoryCap(int(0.9 * available), available, str(ctx), None)
    return MemoryCap(int(options.max_memory * GIB), available, str(ctx), options.max_memory)


@dataclass(frozen=True)
class RunPlan:
    """Every scale's plan, coarse to fine, made before anything of the picture's size
    exists: the painter only carries it out."""

    scales: tuple[ScalePlan, ...]
    cap: MemoryCap
    post_process: str = "none"  # after the last scale (``nstyle.engine.smoothing.smooth``)

    def describe(self) -> str:
        """The memory plan in one line."""
        peak = max(p.peak for p in self.scales)
        smoothing = "" if self.post_process == "none" else f"; then {self.post_process} smoothing"
        return f"memory plan (cap {self.cap.cap / GIB:.1f} GiB, peak about {peak / GIB:.1f}): " + (
            "; ".join(plan.describe() for plan in self.scales) + smoothing
        )


def style_edge(options: Options, edge: int | None = None) -> int:
    """The style images' long edge at a scale of long ``edge`` (default: the output's)."""
    return max(1, round((edge or options.max_long_edge) * options.style_scale))


def plan_pictures(
    net: Footprint,
    options: Options,
    content_shape: Sequence[int],
    style_shapes: Sequence[Sequence[int]],
    ctx,
    *,
    warm_start: bool = False,
    regions: int = 0,
    available: int | None = None,
) -> RunPlan:
    """The run's plan for a photo and style images of these shapes as read (any size: each
    taken to the size the run gives it), under the cap on ``ctx`` (``memory_cap``, of
    ``available`` bytes when given): the painter's plan, and the web app's check at upload
    (from the model's ``Footprint``, with no network built). One line, before any work,
    when the run cannot fit."""
    edge = style_edge(options)
    styles = [images.long_edge_shape(shape, edge) for shape in style_shapes]
    cap = memory_cap(options, ctx, available)
    return plan_run(
        net, options, content_shape, styles, cap, warm_start=warm_start, regions=regions
    )


def post_process(options: Options, shape: tuple[int, int], cap: MemoryCap) -> str:
    """The post-process of a picture of ``shape`` (H, W): ``--post-process``, or by default
    closed with ``--photo`` (guided where the closed form would not fit the cap) and none
    otherwise. An explicit closed that does not fit is one line."""
    kind = options.post_process or ("closed" if options.photo else "none")
    if kind == "closed" and not memory.closed_form_fits(*shape, cap.cap):
        if options.post_process == "closed":
            need = memory.need_gib(memory.closed_form_bytes(*shape))
            raise TooLarge(
                f"{flag('post_process')} closed needs about {need:.1f} GiB for a "
                f"{shape[1]}x{shape[0]} picture, over the cap of {cap.cap / GIB:.1f} GiB: "
                f"{flag('post_process')} guided works at any size"
            )
        kind = "guided"
    return kind


def plan_run(
    net: Footprint,
    options: Options,
    content_shape: Sequence[int],
    style_shapes: Sequence[tuple[int, int]],
    cap: MemoryCap,
    *,
    warm_start: bool = False,
    regions: int = 0,
) -> RunPlan:
    """The run's plan for a photo of ``content_shape`` and style images of ``style_shapes``
    (H, W, at the finest scale): the schedule (``scale_plan``; with ``warm_start``, one
    scale at the output's size with the finest scale's budget, its stop rule from its first
    window) merged with each scale's memory plan (``plan_memory``)."""
    schedule = scale_plan(options)
    if warm_start:
        schedule = [ScalePlan(options.max_long_edge, schedule[-1].epochs, options.stop_window)]
    shapes = [images.long_edge_shape(content_shape, scale.edge) for scale in schedule]
    fits = plan_memory(
        net, shapes, style_shapes, options, cap.cap, cap.available, cap.where, regions
    )
    scales = tuple(
        dataclasses.replace(fit, edge=s.edge, epochs=s.epochs, first_check=s.first_check)
        for s, fit in zip(schedule, fits)
    )
    return RunPlan(scales, cap, post_process(options, shapes[-1], cap))


def plan_memory(
    net: Footprint,
    shapes: Sequence[tuple[int, int]],
    style_shapes: Sequence[tuple[int, int]],
    options: Options,
    cap: int,
    available: int,
    ctx,
    regions: int = 0,
) -> list[ScalePlan]:
    """Each scale's memory plan (``nstyle.engine.memory.plan_scale``) for the content ``shapes``
    (H, W), coarse to fine; fails before any work when even the smallest tiles do not fit,
    naming the smallest ``--max-memory`` that works, or, without one, a
    ``--max-long-edge``; or when a style image (``style_shapes``, at the finest scale) does
    not, naming a ``--style-scale``."""
    plans = []
    for height, width in reversed(shapes):  # the finest first: it needs the most
        try:
            plans.append(
                memory.plan_scale(
                    net, height, width, options.optimizer, cap, regions, options.matting > 0
                )
            )
            if not memory.within_mxnet(height, width):  # a cap that takes it: name an edge
                edge = memory.largest_edge_that_fits(
                    net, height, width, options.max_long_edge, cap, options.optimizer, regions
                )
                raise TooLarge(
                    f"a {width}x{height} picture is beyond MXNet's arrays (3 x {width} x "
                    f"{height} numbers, at most 2^31); {flag('max_long_edge')} {edge} would fit",
                    suggested={"max_long_edge": edge},
                )
        except memory.NoFit as exc:
            error = memory.cap_error(exc, options.max_memory, available, str(ctx))
            if options.max_memory is None:
                edge = memory.largest_edge_that_fits(
                    net, height, width, options.max_long_edge, cap, options.optimizer, regions
                )
                error = TooLarge(
                    f"{error}; {flag('max_long_edge')} {edge} would fit",
                    suggested={"max_long_edge": edge},
                )
            raise error from None
    plans.reverse()
    check_styles_fit(net, style_shapes, options, cap)
    if options.max_memory is not None and cap > available:
        log.warning(
            "%s %g is more than the %.1f GiB free on %s",
            flag("max_memory"),
            options.max_memory,
            available / GIB,
            ctx,
        )
    return plans


def check_styles_fit(
    net: Footprint, style_shapes: Sequence[tuple[int, int]], options: Options, cap: int
) -> None:
    """Each style image (at the finest scale) has its targets computed within ``cap``, tile
    by tile if need be, and MXNet can hold it; else one line naming a ``--style-scale``."""
    for height, width in style_shapes:  # their targets, tile by tile if need be
        fits, least = memory.fits_at_least(net, height, width, cap)
        if not fits:
            scale = memory.largest_style_scale_that_fits(
                net, height, width, options.style_scale, options.max_long_edge, cap
            )
            need = (
                f"needs at least {least.peak / GIB:.1f} GiB but the cap is {cap / GIB:.1f} GiB"
                if least is not None
                else f"is beyond MXNet's arrays (3 x {width} x {height} numbers, at most 2^31)"
            )
            raise TooLarge(
                f"the style image at {flag('style_scale')} {options.style_scale:g} is "
                f"{width}x{height} and {need}; {flag('style_scale')} {scale:g} would fit",
                suggested={"style_scale": scale},
            )
