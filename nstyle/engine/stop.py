"""When a scale's loop stops, and what it reports: the windowed stop rule on the picture's net
change and the objective's fall (read from the device in batches), each epoch's ``Step``
and the loop's ``Outcome``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias, TypeGuard

import mxnet as mx
import numpy as np

from nstyle.config import Stop, flag


@dataclass
class Step:
    """What the loop knows after an epoch (``nstyle.api`` makes the public ``Iterate``).

    The losses and the change stay on the device until read: a callback that does not read
    them costs the loop no host synchronisation.
    """

    epoch: int  # from 1, within this loop
    read_losses: Callable[[], dict[str, float]]  # each loss times its weight
    read_change: Callable[[], float]  # ||x_t - x_(t-1)|| / ||x_t||
    lr: float  # nan for L-BFGS
    image: mx.nd.NDArray  # the current image, (1, 3, H, W)


@dataclass(frozen=True)
class Outcome:
    """How a loop ended: epochs run and why it stopped, in words for the run's report."""

    epochs: int
    reason: str


# A scale has also converged when, over a window, the objective fell by less than this
# share of ``stop_eps`` per epoch (relative to its value at the window's start): 0.4% per
# epoch by default, 4% over a window of 10. The picture can keep drifting by more than
# ``stop_eps`` while the objective hardly falls (W2 on the shallow layers); a larger share
# (1) ended Gram's 128-px scale earlier and left more to do at 256 px, at 4 times the cost
# per epoch (docs/BENCHMARKS.md, "The stop rule on the objective's fall"). A share of
# ``stop_eps``, not a flag: one knob says how little is little, and ``--stop-eps 0`` still
# runs every scale to its budget.
FALL_SHARE = 0.5

Objective: TypeAlias = "mx.nd.NDArray | float"  # on the device (SGD, Adam) or already read (L-BFGS)
# Windows overlap: one ends every ``stop_window / HOPS`` epochs (5 by default), so a scale
# stops within 5 epochs of the rule's being met, not 10 (an epoch at 256 px costs 4 at
# 128 px: docs/BENCHMARKS.md, "The stop rule on the objective's fall"); one image copy more.
HOPS = 2
# Photo to photo (``--photo``) keeps the rule on the change alone over windows that do not
# overlap: with the fall and the overlap its coarse scales ended 5 to 15 epochs sooner and
# the look's W2 rose (example 40 of docs/BENCHMARKS.md "Photo to photo": 3.32 -> 4.30, 29:
# 6.42 -> 7.07) at the same matting energy; its objective is mostly the photorealism term,
# which falls little while the look still comes.


@dataclass
class Anchor:
    """A window's start: its epoch, the picture then and the objective (None: not known)."""

    epoch: int
    image: mx.nd.NDArray
    objective: Objective | None


class StopRule:
    """When to stop: the picture's net change, or the objective's fall, over a window.

    The change per epoch ``||x_t - x_(t-1)|| / ||x_t||`` is measured every epoch (reported,
    and the NaN check). At the end of each window of k = ``stop_window`` epochs (windows
    overlap: one ends every k / ``HOPS`` epochs), from ``first_check`` on, the scale stops
    when the window's net change per epoch ``||x_t - x_(t-k)|| / (k ||x_t||)`` is below
    ``stop_eps``, or when the objective fell over the window by less than ``FALL_SHARE *
    stop_eps`` per epoch, ``(f_(t-k) - f_t) / (k f_(t-k))`` (a rise does not stop: that is
    no convergence). A net change ignores the back and forth of single steps (L-BFGS's line
    search, SGD's momentum) that leaves the picture as it was; so the fall counts only over
    windows of more than one epoch (a single step's is that back and forth; ``stop_window``
    1 is the original's per-epoch rule on the change alone).

    Changes and falls are computed on the device and read in batches (``read``): one host
    synchronisation per check, not per epoch. SGD's and Adam's objective is the one their
    step computed, the image's before the update: their windows of the objective lag the
    picture's by an epoch.
    """

    def __init__(self, image: mx.nd.NDArray, stop: Stop, first_check: int, photo=False):
        """``photo``: photo to photo's form of the rule (the change alone, whole windows)."""
        self.previous = image.copy()  # x_(t-1)
        self.good = image.copy()  # the last image checked to be finite
        self.good_epoch = 0
        self.window, self.eps = stop.stop_window, stop.stop_eps
        self.fall_share = 0.0 if photo else FALL_SHARE  # 0: the change alone
        hops = 1 if photo else HOPS
        self.hop = max(1, self.window // hops)  # a window ends every this many epochs
        # the starts of the windows not yet ended, oldest first (two of 10 epochs by default)
        self.anchors = [Anchor(0, image.copy(), None)]
        self.first_check = first_check
        self.pending: list[tuple[int, mx.nd.NDArray, mx.nd.NDArray | None, Objective | None]] = []
        self.why = ""  # which test stopped the scale: "change" or "fall"

    def begin(self, objective: float) -> None:
        """The objective at the start image, when the solver knows it (L-BFGS's first
        evaluation); otherwise the first window's starts at the first epoch's."""
        if self.anchors[0].epoch == 0:
            self.anchors[0].objective = objective

    def measure(self, epoch: int, image: mx.nd.NDArray, objective: Objective | None = None):
        """(this epoch's change, the window's change per epoch or None, the objective's
        relative fall per epoch over the window or None): arrays not read, or floats."""
        size = mx.nd.norm(image)
        change = mx.nd.norm(image - self.previous) / size
        self.previous[:] = image
        window = fall = None
        first, spare = self.anchors[0], None
        if epoch - first.epoch >= self.window:
            epochs = epoch - first.epoch
            window = mx.nd.norm(image - first.image) / (size * epochs)
            if objective is not None and first.objective is not None:
                fall = _fall(first.objective, objective, epochs)
            spare = self.anchors.pop(0)  # its array becomes the newest window's start
        elif first.objective is None:
            first.objective = objective
        if not self.anchors or epoch - self.anchors[-1].epoch >= self.hop:
            if spare is None:
                spare = Anchor(epoch, image.copy(), objective)
            spare.epoch, spare.objective = epoch, objective
            spare.image[:] = image
            self.anchors.append(spare)
        return change, window, fall

    def record(self, epoch: int, image: mx.nd.NDArray, objective: Objective) -> mx.nd.NDArray:
        """Measure this epoch's changes and queue them for the next ``read``."""
        change, window, fall = self.measure(epoch, image, objective)
        self.pending.append((epoch, change, window, fall))
        return change

    def read(self, image: mx.nd.NDArray) -> tuple[bool, bool]:
        """Read the queued changes (one synchronisation): (finite, stop). A non-finite
        change means ``image`` is NaN or inf: it is rolled back to the last finite image.
        (A non-finite fall only stops nothing: a weight beyond float64 is named elsewhere.)"""
        ends = [(e, w, f) for e, _, w, f in self.pending if w is not None]
        arrays = [c for _, c, _, _ in self.pending] + [w for _, w, _ in ends]
        arrays += [f for _, _, f in ends if _on_device(f)]
        values = mx.nd.concat(*[a.astype(np.float64) for a in arrays], dim=0).asnumpy()
        count, last = len(self.pending), self.pending[-1][0]
        self.pending = []
        if not np.all(np.isfinite(values[: count + len(ends)])):
            self.roll_back(image)
            return False, False
        self.keep(image, last)
        falls = iter(values[count + len(ends) :])
        stops = [
            self.stop(epoch, float(value), float(next(falls)) if _on_device(f) else f)
            for (epoch, _, f), value in zip(ends, values[count:])
        ]
        return True, any(stops)

    def keep(self, image: mx.nd.NDArray, epoch: int) -> None:
        self.good[:] = image
        self.good_epoch = epoch

    def roll_back(self, image: mx.nd.NDArray) -> None:
        """Back to the last finite image: one window starts there (its objective is not
        known: the next epoch's stands in)."""
        image[:] = self.good
        self.previous[:] = self.good
        self.anchors = self.anchors[:1]
        first = self.anchors[0]
        first.image[:] = self.good
        first.epoch, first.objective = self.good_epoch, None

    def stop(self, epoch: int, window_change: float | None, fall: float | None = None) -> bool:
        """At the end of a window from ``first_check`` on: is the change below ``eps``, or
        the objective's fall per epoch in [0, ``FALL_SHARE * eps``)?"""
        if window_change is None or epoch < self.first_check:
            return False
        if window_change < self.eps:
            self.why = "change"
        elif self.window > 1 and fall is not None and 0 <= fall < self.fall_share * self.eps:
            self.why = "fall"
        else:
            return False
        return True


def _on_device(value: object) -> TypeGuard[mx.nd.NDArray]:
    return isinstance(value, mx.nd.NDArray)


def _fall(start: Objective, end: Objective, epochs: int) -> Objective | None:
    """The objective's relative fall per epoch from ``start`` to ``end``: a device array
    (NaN or inf when ``start`` is 0: stops nothing) or a float (None when ``start`` is 0)."""
    if _on_device(start) or _on_device(end):
        return (start - end) / (start * epochs)
    return (start - end) / (start * epochs) if start > 0 else None


def stop_reason(stop: Stop, rule: StopRule | None, budget: int) -> str:
    """Why a scale ended: ``rule`` stopped it (its ``why``), or None: the budget."""
    if rule is not None and rule.why == "fall":
        return (
            f"the objective fell by less than {FALL_SHARE * stop.stop_eps:g} per epoch "
            f"({FALL_SHARE:g} x {flag('stop_eps')}) over {stop.stop_window} epoch(s)"
        )
    if rule is not None and rule.why:
        return (
            f"the image changed by less than {flag('stop_eps')} {stop.stop_eps:g} per epoch "
            f"over {stop.stop_window} epoch(s)"
        )
    return f"the budget of {budget} epochs reached"
