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
from nstyle.engine.terms import Network
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
    post_process: str = "none"  # after the last scale (``nstyle.engine.smoothing.smooth``)

    def describe(self) -> str:
        """The memory plan in one line."""
        peak = max(p.peak for p in self.scales)
        smoothing = "" if self.post_process == "none" else f"; then {self.post_process} smoothing"
        return f"memory plan (cap {self.cap.cap / GIB:.1f} GiB, peak about {peak / GIB:.1f}): " + (
            "; ".join(plan.describe() for plan in self.scales) + smoothing
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
    net: Network,
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
    net: Network,
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
