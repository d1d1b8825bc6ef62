"""The optimisation loop of ALGORITHM.md section 3 (SGD on the image itself), and the
same objective handed to Adam or L-BFGS."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import mxnet as mx
import numpy as np

from nstyle.errors import NStyleError
from nstyle.losses import LossExecutor, TVExecutor


@dataclass
class Iterate:
    """What the loop reports after each epoch (epochs count from 1).

    ``losses`` and ``rel_change`` are copied on the device and read from it only when asked
    for: a callback that does not read them costs the loop no host synchronisation.
    """

    epoch: int
    read_losses: Callable[[], dict[str, float]]  # each loss times its weight
    read_change: Callable[[], float]  # ||x_t - x_(t-1)|| / ||x_t||
    lr: float
    elapsed: float  # seconds since the loop started (work queued, not always finished)
    image: mx.nd.NDArray  # the current image, (1, 3, H, W); read it, don't keep it
    render: Callable[[np.ndarray], np.ndarray] | None = None  # set by nstyle.stylize
    scale: tuple[int, int] = (1, 1)  # (this scale, number of scales), coarse to fine

    def picture(self) -> np.ndarray:
        """The current image as the run's result would be: RGB uint8 (H, W, 3)."""
        return self.render(self.image.asnumpy())

    @property
    def losses(self) -> dict[str, float]:
        return self.read_losses()

    @property
    def rel_change(self) -> float:
        return self.read_change()

    @property
    def style_loss(self) -> float:
        return sum(v for k, v in self.losses.items() if k.startswith("style_"))

    @property
    def content_loss(self) -> float:
        return sum(v for k, v in self.losses.items() if k.startswith("content_"))


OPTIMIZERS = ("sgd", "adam", "lbfgs")
MAX_HALVINGS = 4  # of the learning rate, after a NaN or inf, before giving up
LBFGS_HISTORY = 20  # correction pairs L-BFGS keeps
CHECK_EVERY = 10  # epochs between the first-order loop's host synchronisations


def host_bytes(optimizer: str, elements: int) -> int:
    """Host memory an optimiser needs beyond the executors, for an image of ``elements``:
    L-BFGS keeps its history and a few work vectors in float64; the others need nothing."""
    return (2 * LBFGS_HISTORY + 6) * elements * 8 if optimizer == "lbfgs" else 0


class Diverged(NStyleError):
    """The image became NaN or inf and smaller steps did not help. ``picture`` (set by
    ``nstyle.stylize``) is the last good image."""

    picture = None


@dataclass(frozen=True)
class Schedule:
    """The optimiser's settings (see ``Options`` for their meaning)."""

    optimizer: str
    lr: float
    lr_sched_step: int
    lr_sched_factor: float
    momentum: float
    weight_decay: float
    clip_factor: float
    stop_eps: float
    min_num_epochs: int
    max_num_epochs: int
    check_every: int = CHECK_EVERY  # first-order loop: epochs between stop/NaN checks


def optimize(loss: LossExecutor, tv: TVExecutor | None, image: mx.nd.NDArray,
             schedule: Schedule, callback: Callable[[Iterate], None] | None = None) -> int:
    """Update ``image`` in place until the relative change falls below ``stop_eps`` (from
    epoch ``min_num_epochs`` on) or ``max_num_epochs`` have run. ``loss`` and ``tv`` must be
    bound to ``image``. Returns the number of epochs run.

    ``sgd`` is the original loop; ``adam`` is the same loop with MXNet's Adam update;
    ``lbfgs`` hands the same loss and gradient to scipy's L-BFGS-B (one epoch per iteration).
    """
    if schedule.optimizer == "lbfgs":
        return _lbfgs(loss, tv, image, schedule, callback)
    return _first_order(loss, tv, image, schedule, callback)


class _StopRule:
    """The relative change ``||x_t - x_(t-1)|| / ||x_t||`` and the decision to stop.

    Changes are computed on the device every epoch and read in batches (``read``): one
    host synchronisation per check, not per epoch.

    With SGD the gradient is almost always clipped (its norm is 10^3 to 10^4 times N at
    512 px), so each step has the length lr * N and the relative change grows with the
    image's size: from the content image the first epoch changes a 64-px image by 0.15% and
    a 512-px one by 1.1%. Hence the rule waits ``min_num_epochs`` (a departure: the original
    checked from the first epoch, and started from noise).
    """

    def __init__(self, image: mx.nd.NDArray, schedule: Schedule):
        self.previous = image.copy()  # x_(t-1)
        self.good = image.copy()  # the last image checked to be finite
        self.schedule = schedule
        self.pending: list[tuple[int, mx.nd.NDArray]] = []

    def measure(self, image: mx.nd.NDArray) -> mx.nd.NDArray:
        """The change since the last measured image, as a 1-element array (not read)."""
        change = mx.nd.norm(image - self.previous) / mx.nd.norm(image)
        self.previous[:] = image
        return change

    def record(self, epoch: int, image: mx.nd.NDArray) -> mx.nd.NDArray:
        """Measure this epoch's change and queue it for the next ``read``."""
        change = self.measure(image)
        self.pending.append((epoch, change))
        return change

    def read(self, image: mx.nd.NDArray) -> tuple[bool, bool]:
        """Read the queued changes (one synchronisation): (finite, stop). A non-finite
        change means ``image`` is NaN or inf: it is rolled back to the last finite image."""
        epochs = [epoch for epoch, _ in self.pending]
        values = mx.nd.concat(*(c for _, c in self.pending), dim=0).asnumpy()
        self.pending = []
        if not np.all(np.isfinite(values)):
            image[:] = self.good
            self.previous[:] = self.good
            return False, False
        self.good[:] = image
        return True, any(self.stop(epoch, value) for epoch, value in zip(epochs, values))

    def stop(self, epoch: int, change: float) -> bool:
        return epoch >= self.schedule.min_num_epochs and change < self.schedule.stop_eps


def _scheduler(schedule: Schedule) -> mx.lr_scheduler.FactorScheduler:
    return mx.lr_scheduler.FactorScheduler(step=schedule.lr_sched_step,
                                           factor=schedule.lr_sched_factor, base_lr=schedule.lr)


def _first_order(loss, tv, image, schedule, callback) -> int:
    if schedule.optimizer == "sgd":
        optimizer = mx.optimizer.SGD(learning_rate=schedule.lr, momentum=schedule.momentum,
                                     wd=schedule.weight_decay, lr_scheduler=_scheduler(schedule))
    elif schedule.optimizer == "adam":
        optimizer = mx.optimizer.Adam(learning_rate=schedule.lr, wd=schedule.weight_decay,
                                      lr_scheduler=_scheduler(schedule))
    else:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
    state = optimizer.create_state(0, image)
    clip_norm = schedule.clip_factor * image.size  # N, the number of image elements
    rule = _StopRule(image, schedule)
    start, halvings = time.perf_counter(), 0
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
        change = rule.record(epoch, image)
        stop = False
        if epoch % schedule.check_every == 0 or epoch == schedule.max_num_epochs:
            finite, stop = rule.read(image)
            if not finite:  # NaN or inf: rolled back to the last good image; smaller steps
                halvings += 1
                if halvings > MAX_HALVINGS:
                    raise Diverged(f"the optimisation diverged (NaN or inf) by epoch {epoch}, "
                                   f"even at 1/{2 ** MAX_HALVINGS} of the learning rate; try "
                                   "a smaller --lr")
                optimizer.lr_scheduler.base_lr /= 2
                for array in state if isinstance(state, (tuple, list)) else [state]:
                    array[:] = 0  # forget the momentum that led there
                continue
        if callback is not None:
            callback(Iterate(epoch, loss.snapshot(), lambda c=change: float(c.asscalar()),
                             lr, time.perf_counter() - start, image))
        if stop:
            break
    return epoch


def _lbfgs(loss, tv, image, schedule, callback) -> int:
    """scipy's L-BFGS-B on the objective the executors define.

    No clipping, schedule or weight decay: L-BFGS needs the true objective and its gradient.
    The TV gradient ``w * L x`` (L the zero-padded Laplacian / 8, a symmetric operator) is
    the gradient of the energy ``w / 2 * x . L x``, which is added to the value.
    """
    from scipy.optimize import minimize

    shape, dtype = image.shape, image.dtype
    rule = _StopRule(image, schedule)
    start = time.perf_counter()
    epochs = 0

    def objective(x: np.ndarray):
        image[:] = x.reshape(shape).astype(dtype)
        loss.step()
        losses, grad = loss.snapshot(), loss.grad
        if tv is not None:  # on the device: the host reads one gradient and a few numbers
            smooth = tv.forward()
            grad = grad + smooth
            energy = 0.5 * mx.nd.sum(image * smooth)
        grad = grad.asnumpy().astype(np.float64).ravel()
        value = sum(losses().values()) + (0.0 if tv is None else float(energy.asscalar()))
        return value, grad

    def step(intermediate_result) -> None:
        nonlocal epochs
        epochs += 1
        image[:] = intermediate_result.x.reshape(shape).astype(dtype)
        change = float(rule.measure(image).asscalar())  # scipy synchronises anyway
        if callback is not None:
            callback(Iterate(epochs, loss.snapshot(), lambda: change, float("nan"),
                             time.perf_counter() - start, image))
        if rule.stop(epochs, change):
            raise StopIteration

    result = minimize(objective, image.asnumpy().astype(np.float64).ravel(), jac=True,
                      method="L-BFGS-B", callback=step,
                      options={"maxiter": schedule.max_num_epochs, "maxcor": LBFGS_HISTORY,
                               "ftol": 0.0, "gtol": 0.0})
    image[:] = result.x.reshape(shape).astype(dtype)
    return epochs
