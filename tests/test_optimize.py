"""The optimisation loop: stop rule, clipping, schedule, in-place updates."""

import logging

import mxnet as mx
import numpy as np
import pytest

from nstyle.config import Options, ScalePlan
from nstyle.engine.objective import LossExecutor
from nstyle.engine.pixels import TVExecutor
from nstyle.engine.solvers import optimize
from nstyle.engine.terms import Network
from nstyle.errors import NStyleError
from tests.conftest import TINY_CHANNELS, random_vgg


def setup(shape=(1, 3, 16, 16), seed=0):
    net = Network.build(
        random_vgg(16), 16, ("relu1_1", "relu2_1"), ("relu2_2",), "avg", mx.cpu(), TINY_CHANNELS
    )
    rng = np.random.default_rng(seed)
    targets = net.targets(rng.uniform(-100, 100, shape).astype(np.float32))
    image = mx.nd.array(rng.uniform(-100, 100, shape))
    return LossExecutor(net, targets, image, 1.0, 10.0), image


def schedule(**changes):
    base = dict(
        optimizer="sgd",
        lr=1e-3,
        lr_sched_step=80,
        lr_sched_factor=0.9,
        momentum=0.9,
        weight_decay=5e-4,
        clip_factor=1.0,
        stop_eps=0.0,
        min_num_epochs=1,
        max_num_epochs=5,
        check_every=1,
        stop_window=1,
    )
    return Options(**{**base, **changes})


def epochs_of(*args):
    return optimize(*args).epochs


def test_runs_max_epochs_when_eps_is_zero():
    loss, image = setup()
    seen = []
    assert epochs_of(loss, TVExecutor(image, 1e-2), image, schedule(), seen.append) == 5
    assert [it.epoch for it in seen] == [1, 2, 3, 4, 5]


def test_stops_at_the_first_epoch_below_eps():
    loss, image = setup()
    seen = []
    optimize(loss, None, image, schedule(max_num_epochs=50), seen.append)
    eps = seen[2].read_change() * 1.0001  # stop exactly when epoch 3's change is reached
    loss, image = setup()
    seen2 = []
    epochs = epochs_of(loss, None, image, schedule(max_num_epochs=50, stop_eps=eps), seen2.append)
    first_below = next(it.epoch for it in seen if it.read_change() < eps)
    assert epochs == first_below == seen2[-1].epoch


def test_relative_change_is_measured_on_the_image():
    loss, image = setup()
    before = image.asnumpy()
    seen = []
    optimize(loss, None, image, schedule(max_num_epochs=1), seen.append)
    after = image.asnumpy()  # updated in place
    expected = np.linalg.norm(after - before) / np.linalg.norm(after)
    assert seen[0].read_change() == pytest.approx(expected, rel=1e-4)


def test_gradient_is_clipped_to_clip_factor_times_n():
    # momentum 0, no decay: the first step is exactly lr * clipped gradient
    loss, image = setup()
    before = image.asnumpy()
    optimize(
        loss,
        None,
        image,
        schedule(max_num_epochs=1, momentum=0, weight_decay=0, clip_factor=1e-3, lr=1.0),
    )
    step = np.linalg.norm(image.asnumpy() - before)
    assert step == pytest.approx(1e-3 * image.size, rel=1e-4)


def test_learning_rate_decays_by_factor_every_step():
    loss, image = setup()
    seen = []
    optimize(
        loss,
        None,
        image,
        schedule(max_num_epochs=7, lr_sched_step=3, lr_sched_factor=0.5),
        seen.append,
    )
    lrs = [it.lr for it in seen]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(2.5e-4)
    assert np.allclose(lrs, [1e-3] * 3 + [5e-4] * 3 + [2.5e-4])


def test_stop_rule_waits_for_min_num_epochs():
    loss, image = setup()
    assert epochs_of(loss, None, image, schedule(max_num_epochs=9, stop_eps=1.0)) == 1
    loss, image = setup()
    assert (
        epochs_of(loss, None, image, schedule(max_num_epochs=9, stop_eps=1.0, min_num_epochs=4))
        == 4
    )


def test_first_order_loop_synchronises_only_at_checks(monkeypatch):
    """No host synchronisation between stop checks: the changes are read in one batch."""
    loss, image = setup()
    reads = []
    original = mx.nd.NDArray.asnumpy
    monkeypatch.setattr(mx.nd.NDArray, "asnumpy", lambda self: reads.append(1) or original(self))
    assert (
        epochs_of(loss, TVExecutor(image, 1e-2), image, schedule(max_num_epochs=12, check_every=5))
        == 12
    )
    assert len(reads) == 3 + 3  # the start check's three numbers; epochs 5, 10 and the last


def test_batched_checks_stop_at_the_check_after_the_first_epoch_below_eps():
    loss, image = setup()
    assert (
        epochs_of(
            loss,
            None,
            image,
            schedule(max_num_epochs=20, stop_eps=1.0, min_num_epochs=6, check_every=4),
        )
        == 8
    )


@pytest.mark.parametrize("optimizer, lr", [("adam", 2.0), ("lbfgs", 1.0)])
def test_other_optimizers_lower_the_objective(optimizer, lr):
    loss, image = setup()
    seen = []
    epochs = epochs_of(
        loss,
        TVExecutor(image, 1e-2),
        image,
        schedule(optimizer=optimizer, lr=lr, max_num_epochs=15),
        seen.append,
    )
    assert epochs == 15 and [it.epoch for it in seen] == list(range(1, 16))
    total = [sum(it.read_losses().values()) for it in seen]
    assert total[-1] < 0.5 * total[0]


def test_lbfgs_objective_includes_the_tv_energy():
    """With only TV (no style, no content), L-BFGS flattens the image: energy falls."""
    loss, image = setup()
    loss._heads = [h * 0 for h in loss._heads]
    loss.head_weights = loss.head_weights * 0
    start = np.abs(np.diff(image.asnumpy(), axis=3)).mean()
    optimize(loss, TVExecutor(image, 1.0), image, schedule(optimizer="lbfgs", max_num_epochs=10))
    assert np.abs(np.diff(image.asnumpy(), axis=3)).mean() < 0.5 * start


def test_lbfgs_obeys_the_stop_rule():
    loss, image = setup()
    epochs = epochs_of(
        loss,
        None,
        image,
        schedule(optimizer="lbfgs", max_num_epochs=30, stop_eps=1.0, min_num_epochs=3),
    )
    assert epochs == 3


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
def test_an_overflowing_weight_is_named_before_any_epoch(optimizer):
    net = Network.build(
        random_vgg(16), 16, ("relu1_1", "relu2_1"), ("relu2_2",), "avg", mx.cpu(), TINY_CHANNELS
    )
    rng = np.random.default_rng(0)
    targets = net.targets(rng.uniform(-100, 100, (1, 3, 16, 16)).astype(np.float32))
    image = mx.nd.array(rng.uniform(-100, 100, (1, 3, 16, 16)))
    before = image.asnumpy()
    loss = LossExecutor(net, targets, image, 1e38, 10.0)
    seen = []
    with pytest.raises(
        NStyleError, match=r"overflows float32 .*--style-weight 1e\+38 is too large"
    ):
        optimize(loss, None, image, schedule(optimizer=optimizer, style_weight=1e38), seen.append)
    assert seen == [] and np.array_equal(image.asnumpy(), before)  # nothing done, restored


def test_divergence_at_the_last_epoch_is_not_rolled_back_silently(monkeypatch):
    """A NaN found at the final check goes back, retries with a smaller step, and the loop
    still ends with max_num_epochs good epochs (or fails): never a silent rollback."""
    loss, image = setup()
    calls = {"n": 0}
    original = loss.step

    def poisoned() -> None:
        original()
        calls["n"] += 1
        if calls["n"] == 1 + 4:  # the probe, then epochs 1-3, then epoch 4 (the last)
            loss.grad[:] = float("nan")

    loss.step = poisoned
    seen = []
    outcome = optimize(loss, None, image, schedule(max_num_epochs=4, check_every=4), seen.append)
    assert outcome.epochs == 4 and np.all(np.isfinite(image.asnumpy()))
    assert [s.epoch for s in seen] == [1, 2, 3, 1, 2, 3, 4]  # back to 0, then 1-4 again
    assert seen[-1].lr == pytest.approx(0.5e-3)


def test_lbfgs_gives_the_stop_rule_its_objective():
    """The stop rule's objective is the one L-BFGS minimises: the start image's for the
    first window's start, then the value at each later window's start."""
    from nstyle.engine.solvers import _Lbfgs

    loss, image = setup()
    loss.step()
    start = sum(loss.weighted_losses().values())
    options = schedule(optimizer="lbfgs", max_num_epochs=12, stop_window=5)
    run = _Lbfgs(loss, None, image, options, None, ScalePlan.budget(12, 1))
    assert run.rule.anchors[0].objective is None
    run.objective(image.asnumpy().astype(np.float64).ravel() / run.unit)
    assert run.rule.anchors[0].objective == pytest.approx(start, rel=1e-6)
    seen = []
    run.on_step = seen.append
    run.run(logging.DEBUG)
    assert run.epochs == 12 and [a.epoch for a in run.rule.anchors] == [8, 10, 12]
    for anchor in run.rule.anchors:
        value = sum(seen[anchor.epoch - 1].read_losses().values())
        assert anchor.objective == pytest.approx(value, rel=1e-6)
