"""The optimisation loop on the image (docs/METHOD.md, "One iteration"): the original
SGD loop, the same loop with Adam steps, and the same objective handed to L-BFGS.

Every optimiser reports a ``Step`` after each epoch, stops for a reason it names
(``Outcome``), and handles a NaN or inf the same way: back to the last good image with
smaller steps, a few times, then ``Diverged`` carrying that image.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import mxnet as mx
import numpy as np

from nstyle.config import FirstOrder, Options, ScalePlan, Stop, flag
from nstyle.engine.memory import LBFGS_HISTORY
from nstyle.engine.objective import LossExecutor
from nstyle.engine.pixels import ImageTerm
from nstyle.engine.stop import Outcome, Step, StopRule, stop_reason
from nstyle.engine.tiles import TiledLoss
from nstyle.errors import Diverged, NStyleError

Loss = LossExecutor | TiledLoss  # the whole image at once, or tile by tile: one interface


log = logging.getLogger(__name__)


MAX_RETRIES = 4  # after a NaN or inf: smaller steps (sgd, adam) or a fresh L-BFGS, this often


# L-BFGS works on the image in units of this many grey levels RMS: scipy's first trial step
# has norm 1, so its line search starts at a step of that size instead of growing from a
# millionth of it over several evaluations (docs/BENCHMARKS.md, "Time to picture").
LBFGS_FIRST_STEP = 4.0


def optimize(
    loss: Loss,
    tv: ImageTerm | None,
    image: mx.nd.NDArray,
    options: Options,
    on_step: Callable[[Step], None] | None = None,
    plan: ScalePlan | None = None,
    *,
    probe: bool = True,
    level: int = logging.INFO,
) -> Outcome:
    """Update ``image`` in place until the stop rule fires or the scale's budget (``plan``;
    default: the first scale's, ``max_num_epochs`` and ``min_num_epochs``) is spent.

    ``loss`` and ``tv`` must be bound to ``image``. ``sgd`` is the original loop; ``adam``
    the same loop with MXNet's Adam update; ``lbfgs`` hands the same loss and gradient to
    scipy's L-BFGS-B (one epoch per iteration). The plan's solver and L-BFGS history (fewer
    pairs where memory is short, ``nstyle.engine.memory``) stand before the options'. ``probe``:
    first check that the objective is finite near the start image (``check_start``; a
    finer scale may skip it). ``level``: of the solver's summary line.
    """
    plan = plan or ScalePlan.budget(options.max_num_epochs, options.min_num_epochs)
    solver = plan.optimizer or options.optimizer
    if probe:
        check_start(loss, tv, image, options)
    if solver == "lbfgs":
        return _lbfgs(loss, tv, image, options, on_step, plan, level)
    return _first_order(
        loss, tv, image, options.first_order, options.stop, solver, on_step, plan, options.photo
    )


class _Probe:
    """The image moved by uniform noise of one pixel unit, restored on exit: where the
    objective is judged near the start. (At the photo itself the content term and its
    gradient are exactly zero, so a content weight of 1e38 shows only once the image moves.)
    """

    def __init__(self, image: mx.nd.NDArray):
        self.image, self.saved = image, image.copy()

    def __enter__(self) -> _Probe:
        noise = np.random.default_rng(0).uniform(-1, 1, self.image.shape)
        self.image += mx.nd.array(noise, ctx=self.image.context, dtype=self.image.dtype)
        return self

    def __exit__(self, *exc) -> None:
        self.image[:] = self.saved


def _term_norms(loss: Loss, tv: ImageTerm | None, options: Options) -> dict:
    """Gradient norm of each weighted term at the current image (inf where it overflows)."""
    norms = {k: v for k, v in loss.term_gradient_norms().items() if getattr(options, k) > 0}
    if tv is not None:
        norms.update(tv.norms())
    return norms


def check_start(loss: Loss, tv: ImageTerm | None, image: mx.nd.NDArray, options: Options) -> None:
    """Fail, naming the weight, when the objective overflows float32 near the start image.
    Costs one forward and backward per scale (more only when it fails)."""
    with _Probe(image):
        loss.step()
        grad_norm = float(mx.nd.norm(loss.grad).asscalar())
        tv_norm = 0.0 if tv is None else float(mx.nd.norm(tv.forward()).asscalar())
        values = list(loss.weighted_losses().values())
        if all(math.isfinite(v) for v in [grad_norm, tv_norm, *values]):
            return
        culprits = [k for k, v in _term_norms(loss, tv, options).items() if not math.isfinite(v)]
    raise NStyleError(
        f"the objective overflows float32 near the start image: "
        f"{_named(culprits, options) or 'the start image'} is too large"
    )


def _named(culprits: list[str], options: Options) -> str:
    """The weight flags named, with their values: ``--content-weight 1e+38``."""
    return ", ".join(f"{flag(n)} {_weight(options, n):g}" for n in culprits)


def _weight(options: Options, name: str) -> float:
    """A term's weight as used (``--matting-weight``: the photo mode's default if not given)."""
    return options.matting if name == "matting_weight" else getattr(options, name)


FLOAT32_DIGITS = 1e7  # a gradient this much smaller than another vanishes in their sum


def check_balance(
    loss: Loss, tv: ImageTerm | None, image: mx.nd.NDArray, options: Options, stopped: str
) -> None:
    """After the picture failed to change: fail, naming the weights, when near it one term's
    gradient outweighs another's beyond float32 precision (the smaller has no effect)."""
    with _Probe(image):
        live = {k: v for k, v in _term_norms(loss, tv, options).items() if v > 0}
    if len(live) < 2:
        return
    big, small = max(live, key=live.__getitem__), min(live, key=live.__getitem__)

    def weight(name: str) -> str:  # the flags that set a term's weight
        named = f"{flag(name)} {_weight(options, name):g}"
        if name == "style_weight" and options.style_layer_weights:
            named += f" (times {flag('style_layer_weights')} up to "
            named += f"{max(options.style_layer_weights):g})"
        return named

    if live[big] > FLOAT32_DIGITS * live[small]:
        raise NStyleError(
            f"the picture did not change ({stopped}): near it the gradient of "
            f"{weight(big)} is {live[big] / live[small]:.0e} times that of {weight(small)}, "
            "beyond float32 precision; bring the weights closer"
        )


def _first_order(loss, tv, image, settings: FirstOrder, stop_rule: Stop, solver: str, on_step,
                 plan: ScalePlan, photo: bool = False) -> Outcome:  # fmt: skip
    rate = settings.learning_rate_for(solver)
    scheduler = mx.lr_scheduler.FactorScheduler(
        step=settings.lr_sched_step, factor=settings.lr_sched_factor, base_lr=rate
    )
    if solver == "sgd":
        optimizer = mx.optimizer.SGD(
            learning_rate=rate,
            momentum=settings.momentum,
            wd=settings.weight_decay,
            lr_scheduler=scheduler,
        )
    else:
        optimizer = mx.optimizer.Adam(
            learning_rate=rate, wd=settings.weight_decay, lr_scheduler=scheduler
        )
    state = optimizer.create_state(0, image)
    clip_norm = settings.clip_factor * image.size  # N, the number of image elements
    rule = StopRule(image, stop_rule, plan.first_check, photo)
    retries, epoch, stop = 0, 0, False
    while epoch < plan.epochs:
        epoch += 1
        loss.step()
        losses, grad = loss.snapshot(), loss.grad
        # Clip ||grad|| at N without a host synchronisation: scale = min(1, N / ||grad||).
        norm = mx.nd.norm(grad)
        grad *= mx.nd.minimum(clip_norm / (norm + 1e-12), 1.0)
        if tv is not None:
            grad += tv.forward()  # added after clipping, as in the original
        optimizer.update(0, image, grad, state)
        lr = optimizer.learning_rate  # the rate this update used
        change = rule.record(epoch, image, losses.total())
        if epoch % settings.check_every == 0 or epoch == plan.epochs:
            finite, stop = rule.read(image)
            if not finite:  # rolled back to the last good image: smaller steps from there
                retries += 1
                if retries > MAX_RETRIES:
                    raise Diverged(
                        f"the image became NaN or inf by epoch {epoch}, even at "
                        f"1/{2**MAX_RETRIES} of the learning rate; try a smaller "
                        f"{flag('lr')} (it was {rate:g})"
                    )
                log.warning(
                    "the image became NaN or inf by epoch %d: back to epoch %d with "
                    "half the learning rate",
                    epoch,
                    rule.good_epoch,
                )
                epoch = rule.good_epoch
                scheduler.base_lr /= 2
                for array in state if isinstance(state, (tuple, list)) else [state]:
                    array[:] = 0  # forget the momentum that led there
                continue
        if on_step is not None:
            on_step(Step(epoch, losses, _reader(change), lr, image))
        if stop:
            break
    return Outcome(epoch, stop_reason(stop_rule, rule if stop else None, plan.epochs))


def _reader(value: mx.nd.NDArray) -> Callable[[], float]:
    """Reads a 1-element device array when called (one host synchronisation)."""
    return lambda: float(value.asscalar())


class _NonFinite(Exception):
    """L-BFGS asked for the objective at a NaN or inf image."""


def _lbfgs(loss, tv, image, options: Options, on_step, plan: ScalePlan, level: int) -> Outcome:
    """scipy's L-BFGS-B on the objective the executors define.

    No clipping, schedule or weight decay: L-BFGS needs the true objective and its gradient.
    The TV gradient ``w * L x`` (L the zero-padded Laplacian / 8, a symmetric operator) is
    the gradient of the energy ``w / 2 * x . L x``, which is added to the value. After a NaN
    or inf, L-BFGS starts afresh from the last good image (its history forgotten).
    """
    return _Lbfgs(loss, tv, image, options, on_step, plan).run(level)


class _Lbfgs:
    """One scale's L-BFGS run: scipy works on the image in units of ``unit`` (its first
    trial step: norm 1); ``objective`` and ``step`` are scipy's callbacks."""

    def __init__(self, loss, tv, image, options: Options, on_step, plan: ScalePlan):
        self.loss, self.tv, self.image, self.options = loss, tv, image, options
        self.on_step, self.plan = on_step, plan
        self.shape, self.dtype = image.shape, image.dtype
        self.rule = StopRule(image, options.stop, plan.first_check, options.photo)
        self.epochs, self.evaluations, self.stopped = 0, 0, False
        self.culprits: list[str] = []  # the weights whose terms alone overflowed
        self.unit = LBFGS_FIRST_STEP * math.sqrt(image.size)

    def _set(self, y: np.ndarray) -> None:
        self.image[:] = (y * self.unit).reshape(self.shape).astype(self.dtype)

    def objective(self, y: np.ndarray):
        """The value and gradient at ``y``, for scipy (float64, in its units)."""
        self._set(y)
        loss, tv = self.loss, self.tv
        loss.step()
        self.evaluations += 1
        losses, grad = loss.snapshot(), loss.grad
        if tv is not None:  # on the device: the host reads one gradient and a few numbers
            smooth = tv.forward()
            grad = grad + smooth
            energy = tv.energy(smooth)
        grad = grad.asnumpy().astype(np.float64).ravel() * self.unit
        value = sum(losses().values()) + (0.0 if tv is None else float(energy.asscalar()))
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            norms = _term_norms(loss, tv, self.options)  # the terms alone, here: which overflow
            self.culprits = [k for k, v in norms.items() if not math.isfinite(v)]
            raise _NonFinite
        if self.evaluations == 1:  # the start image's: the stop rule's first window's start
            self.rule.begin(value)
        return value, grad

    def step(self, intermediate_result) -> None:
        """After each iteration: an epoch reported, and the stop rule."""
        self.epochs += 1
        epochs, image, rule = self.epochs, self.image, self.rule
        self._set(intermediate_result.x)
        # scipy synchronises anyway; its objective at x_t (the TV energy included)
        measured, window, fall = rule.measure(epochs, image, float(intermediate_result.fun))
        change = float(measured.asscalar())
        rule.keep(image, epochs)
        if self.on_step is not None:
            self.on_step(Step(epochs, self.loss.snapshot(), lambda: change, float("nan"), image))
        self.stopped = rule.stop(epochs, None if window is None else float(window.asscalar()), fall)
        if self.stopped or epochs >= self.plan.epochs:
            raise StopIteration

    def run(self, level: int) -> Outcome:
        """Minimise, afresh from the last good image after a NaN or inf, a few times."""
        from scipy.optimize import minimize

        start = self.image.copy()
        options = {"maxcor": self.plan.history or LBFGS_HISTORY, "ftol": 0.0, "gtol": 0.0}
        for _ in range(MAX_RETRIES + 1):
            try:
                result = minimize(
                    self.objective,
                    self.image.asnumpy().astype(np.float64).ravel() / self.unit,
                    jac=True,
                    method="L-BFGS-B",
                    callback=self.step,
                    options={"maxiter": self.plan.epochs - self.epochs, **options},
                )
            except _NonFinite:
                self.rule.roll_back(self.image)
                log.warning(
                    "L-BFGS reached a NaN or inf image after epoch %d: starting afresh from there",
                    self.epochs,
                )
                continue
            self._set(result.x)
            log.log(level, "L-BFGS: %d iterations, %d evaluations", self.epochs, self.evaluations)
            return self.outcome(start, result)
        if self.culprits and self.epochs == 0:  # no picture yet: as ``check_start`` says it
            raise NStyleError(
                "the objective overflows float32 near the start image: "
                f"{_named(self.culprits, self.options)} is too large"
            )
        raise Diverged(
            f"L-BFGS reached a NaN or inf image after epoch {self.epochs}, "
            f"{MAX_RETRIES + 1} times; "
            + (
                f"there the objective overflows float32: {_named(self.culprits, self.options)} "
                "is too large"
                if self.culprits
                else f"try {flag('optimizer')} sgd"
            )
        )

    def outcome(self, start: mx.nd.NDArray, result) -> Outcome:
        """Why the run ended: the stop rule, the budget, or no descent left (then fail,
        naming the weights, if the picture never moved because one term drowns another)."""
        epochs, image, stop = self.epochs, self.image, self.options.stop
        if epochs == 0 and self.evaluations <= 1:
            return Outcome(
                0, "the start image is already a minimum of the objective (its gradient is 0)"
            )
        if self.stopped or epochs >= self.plan.epochs:
            rule = self.rule if self.stopped else None
            return Outcome(epochs, stop_reason(stop, rule, self.plan.epochs))
        if float(mx.nd.norm(image - start).asscalar()) < stop.stop_eps * float(
            mx.nd.norm(image).asscalar()
        ):
            check_balance(self.loss, self.tv, image, self.options, str(result.message))
        return Outcome(epochs, f"L-BFGS found no further descent ({result.message})")
