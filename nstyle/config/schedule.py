"""The coarse-to-fine schedule: the scales, each one's epoch budget and when its stop rule
starts, as ``ScalePlan``s that the memory search then completes. No framework."""

from __future__ import annotations

import math
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING

from nstyle.config.limits import (
    COARSEST_EDGE,
    FIRST_SCALE_PIXEL_EPOCHS,
    FULL_FLOOR_EDGE,
    MAX_NUM_EPOCHS,
    MIN_SCALE_EPOCHS,
    PHOTO_COARSEST_EDGE,
    shown,
)
from nstyle.errors import NStyleError
from nstyle.spec import MIN_EDGE

if TYPE_CHECKING:
    from nstyle.config.options import Options


@dataclass(frozen=True)
class ScalePlan:
    """One scale's plan: its long edge, at most ``epochs`` epochs, the stop rule applied from
    epoch ``first_check`` on (``scale_plan``); then what the memory search fills in
    (``nstyle.engine.memory.plan_scale``): the picture's shape, whole or in tiles, the solver and
    L-BFGS's history, and the predicted peak."""

    edge: int
    epochs: int
    first_check: int
    _: KW_ONLY
    height: int = 0
    width: int = 0
    tile: int | None = None  # the tiles' interior edge; None: the whole image at once
    tiles: int = 1
    margin: int = 0
    extent: tuple[int, int] = (0, 0)  # the largest executor's input (height, width)
    optimizer: str | None = None  # None: the options' own
    history: int = 0  # L-BFGS's correction pairs (0: the others, or the default)
    peak: int = 0  # predicted bytes

    @classmethod
    def budget(cls, epochs: int, first_check: int) -> ScalePlan:
        """Only a budget: the optimiser's own settings for the rest."""
        return cls(0, epochs, first_check)

    def describe(self) -> str:
        """One line of the run's memory plan."""
        size = f"{self.width}x{self.height}"
        if self.tile is None:
            how = "whole"
        else:
            how = f"{self.tiles} tiles of {self.tile} px + {self.margin} px margin"
        opt = f"lbfgs ({self.history} pairs)" if self.optimizer == "lbfgs" else self.optimizer
        return f"{size} {how}, {opt}, about {self.peak / 2**30:.1f} GiB"


def scale_count(options: Options) -> int:
    """``num_scales``, or the default: halvings from ``max_long_edge`` while the coarsest
    long edge stays at ``COARSEST_EDGE`` or more (``PHOTO_COARSEST_EDGE`` for photo to
    photo)."""
    if options.num_scales is not None:
        return options.num_scales
    coarsest = PHOTO_COARSEST_EDGE if options.photo else COARSEST_EDGE
    count = 1
    while options.max_long_edge / 2**count >= coarsest:
        count += 1
    return count


def scale_plan(options: Options) -> list[ScalePlan]:
    """The scales, coarse to fine, and each one's budget.

    The first scale starts from the start image and gets ``max_num_epochs`` epochs, or
    by default fewer where its pixels would cost more than ``FIRST_SCALE_PIXEL_EPOCHS`` (not
    below the floor; not for photo to photo), the stop rule waiting ``min_num_epochs``. Each
    finer scale starts from the previous result and needs fewer epochs (its large structures
    are in place): its budget is the first's times the ratio of their pixels, so that each
    scale costs about the same time, and at least ``MIN_SCALE_EPOCHS``; its stop rule applies
    from its first window on.
    """
    count, edge = scale_count(options), options.max_long_edge
    if count < 1:
        raise NStyleError(f"--num-scales must be >= 1, got {count}")
    if count > 1:  # before listing them: a count beyond the edge's bits has no pixel left
        coarsest = round(edge / 2 ** (count - 1)) if count <= edge.bit_length() else 0
        if coarsest < 4 * MIN_EDGE:
            raise NStyleError(
                f"{shown(count)} scales from {edge} px start at {coarsest} px; the "
                f"coarsest scale needs {4 * MIN_EDGE} px"
            )
    edges = [round(edge / 2**k) for k in range(count)][::-1]
    first = options.max_num_epochs
    # the default budget only (an explicit one is as given); photo to photo keeps the
    # schedule it was measured with
    if first == MAX_NUM_EPOCHS and not options.photo:
        capped = math.ceil(FIRST_SCALE_PIXEL_EPOCHS / edges[0] ** 2)
        first = min(first, max(scale_floor(edges[0]), capped))
    plan = [ScalePlan(edges[0], first, options.min_num_epochs)]
    for edge in edges[1:]:
        share = math.ceil(first * (edges[0] / edge) ** 2)
        epochs = min(first, max(scale_floor(edge), share))
        plan.append(ScalePlan(edge, epochs, options.stop_window))
    return plan


def scale_floor(edge: int) -> int:
    """The fewest epochs a finer scale gets: ``MIN_SCALE_EPOCHS``, and above
    ``FULL_FLOOR_EDGE`` fewer in proportion to the edge (an epoch at 4096 px costs minutes:
    docs/BENCHMARKS.md, "Big pictures")."""
    return math.ceil(MIN_SCALE_EPOCHS * min(1.0, FULL_FLOOR_EDGE / edge))


def total_epochs(options: Options) -> int:
    """The most epochs a run can take, over all scales."""
    return sum(scale.epochs for scale in scale_plan(options))
