"""The optimisation loop of ALGORITHM.md section 3: SGD on the image itself."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import mxnet as mx
import numpy as np

from nstyle.images import postprocess

from nstyle.losses import LossExecutor, TVExecutor


@dataclass
class Iterate:
    """What the loop reports after each epoch (epochs count from 1)."""

    epoch: int
    losses: dict[str, float]  # each loss times its weight
    rel_change: float  # ||x_t - x_(t-1)|| / ||x_t||
    lr: float
    elapsed: float  # seconds since the loop started
    image: mx.nd.NDArray  # the current image, (1, 3, H, W); read it, don't keep it
    mean_pixel: np.ndarray | None = None  # set by nstyle.stylize, for picture()

    def picture(self) -> np.ndarray:
        """The current image as RGB uint8 (H, W, 3)."""
        return postprocess(self.image.asnumpy(), self.mean_pixel)

    @property
    def style_loss(self) -> float:
        return sum(v for k, v in self.losses.items() if k.startswith("style_"))

    @property
    def content_loss(self) -> float:
        return sum(v for k, v in self.losses.items() if k.startswith("content_"))


@dataclass(frozen=True)
class Schedule:
    """The optimiser's settings (see ``Options`` for their meaning)."""

    lr: float
    lr_sched_step: int
    lr_sched_factor: float
    momentum: float
    weight_decay: float
    clip_factor: float
    stop_eps: float
    min_num_epochs: int
    max_num_epochs: int


def optimize(loss: LossExecutor, tv: TVExecutor | None, image: mx.nd.NDArray,
             schedule: Schedule, callback: Callable[[Iterate], None] | None = None) -> int:
    """Update ``image`` in place until the relative change falls below ``stop_eps`` (from
    epoch ``min_num_epochs`` on) or ``max_num_epochs`` have run. ``loss`` and ``tv`` must be
    bound to ``image``.

    The gradient is almost always clipped (its norm is 10^3 to 10^4 times N at 512 px), so
    each step has the length lr * N and the relative change grows with the image's size:
    from the content image the first epoch changes a 64-px image by 0.15% and a 512-px one
    by 1.1%. Hence the stop rule waits ``min_num_epochs`` (a departure: the original
    checked from the first epoch, and started from noise).

    Returns the number of epochs run.
    """
    optimizer = mx.optimizer.SGD(
        momentum=schedule.momentum, wd=schedule.weight_decay,
        lr_scheduler=mx.lr_scheduler.FactorScheduler(
            step=schedule.lr_sched_step, factor=schedule.lr_sched_factor, base_lr=schedule.lr))
    state = optimizer.create_state(0, image)
    clip_norm = schedule.clip_factor * image.size  # N, the number of image elements
    previous = image.copy()
    start = time.perf_counter()
    for epoch in range(1, schedule.max_num_epochs + 1):
        loss.step()
        grad = loss.grad
        # Clip ||grad|| at N without a host synchronisation: scale = min(1, N / ||grad||).
        norm = mx.nd.norm(grad)
        grad *= mx.nd.minimum(clip_norm / (norm + 1e-12), 1.0)
        if tv is not None:
            grad += tv.forward()  # added after clipping, as in the original
        optimizer.update(0, image, grad, state)
        lr = optimizer.learning_rate  # the rate this update used
        change = (mx.nd.norm(image - previous) / mx.nd.norm(image)).asscalar()
        previous[:] = image
        if callback is not None:
            callback(Iterate(epoch, loss.weighted_losses(), float(change), lr,
                             time.perf_counter() - start, image))
        if epoch >= schedule.min_num_epochs and change < schedule.stop_eps:
            break
    return epoch
