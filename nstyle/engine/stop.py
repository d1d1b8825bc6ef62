"""When a scale's loop stops, and what it reports: the windowed stop rule on the picture's net
change (read from the device in batches), each epoch's ``Step`` and the loop's ``Outcome``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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


class StopRule:
    """When to stop: the picture's net change over a window of epochs.

    The change per epoch ``||x_t - x_(t-1)|| / ||x_t||`` is measured every epoch (reported,
    and the NaN check); the rule compares the window's net change per epoch,
    ``||x_t - x_(t-k)|| / (k ||x_t||)`` with k = ``stop_window``, with ``stop_eps`` at the end
    of each window from ``first_check`` on. A net change ignores the back and forth of single
    steps (L-BFGS's line search, SGD's momentum) that leaves the picture as it was.

    Changes are computed on the device and read in batches (``read``): one host
    synchronisation per check, not per epoch.
    """

    def __init__(self, image: mx.nd.NDArray, stop: Stop, first_check: int):
        self.previous = image.copy()  # x_(t-1)
        self.anchor = image.copy()  # x at the start of the current window
        self.anchor_epoch = 0
        self.good = image.copy()  # the last image checked to be finite
        self.good_epoch = 0
        self.window, self.eps = stop.stop_window, stop.stop_eps
        self.first_check = first_check
        self.pending: list[tuple[int, mx.nd.NDArray, mx.nd.NDArray | None]] = []

    def measure(self, epoch: int, image: mx.nd.NDArray):
        """(this epoch's change, the window's change per epoch or None), as 1-element arrays
        (not read)."""
        size = mx.nd.norm(image)
        change = mx.nd.norm(image - self.previous) / size
        self.previous[:] = image
        window = None
        if epoch - self.anchor_epoch >= self.window:
            window = mx.nd.norm(image - self.anchor) / (size * (epoch - self.anchor_epoch))
            self.anchor[:] = image
            self.anchor_epoch = epoch
        return change, window

    def record(self, epoch: int, image: mx.nd.NDArray) -> mx.nd.NDArray:
        """Measure this epoch's changes and queue them for the next ``read``."""
        change, window = self.measure(epoch, image)
        self.pending.append((epoch, change, window))
        return change

    def read(self, image: mx.nd.NDArray) -> tuple[bool, bool]:
        """Read the queued changes (one synchronisation): (finite, stop). A non-finite
        change means ``image`` is NaN or inf: it is rolled back to the last finite image."""
        arrays = [c for _, c, _ in self.pending] + [w for _, _, w in self.pending if w is not None]
        values = mx.nd.concat(*arrays, dim=0).asnumpy()
        windows = [e for e, _, w in self.pending if w is not None]
        last = self.pending[-1][0]
        self.pending = []
        if not np.all(np.isfinite(values)):
            self.roll_back(image)
            return False, False
        self.keep(image, last)
        ends = values[len(values) - len(windows) :]
        return True, any(self.stop(epoch, value) for epoch, value in zip(windows, ends))

    def keep(self, image: mx.nd.NDArray, epoch: int) -> None:
        self.good[:] = image
        self.good_epoch = epoch

    def roll_back(self, image: mx.nd.NDArray) -> None:
        image[:] = self.good
        self.previous[:] = self.good
        self.anchor[:] = self.good
        self.anchor_epoch = self.good_epoch

    def stop(self, epoch: int, window_change: float | None) -> bool:
        """At the end of a window from ``first_check`` on: is the change below ``eps``?"""
        return window_change is not None and epoch >= self.first_check and window_change < self.eps


def stop_reason(stop: Stop, stopped: bool, budget: int) -> str:
    if stopped:
        return (
            f"the image changed by less than {flag('stop_eps')} {stop.stop_eps:g} per epoch "
            f"over {stop.stop_window} epoch(s)"
        )
    return f"the budget of {budget} epochs reached"
