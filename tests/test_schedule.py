"""Time to picture: the coarse-to-fine schedule, each scale's budget, the windowed stop rule
and the warm start of a finer scale."""

import mxnet as mx
import numpy as np
import pytest

from nstyle.config import (
    COARSEST_EDGE,
    PHOTO_COARSEST_EDGE,
    Options,
    ScalePlan,
    check_options,
    scale_plan,
    total_epochs,
)
from nstyle.engine.scale import finer_start
from nstyle.engine.solvers import StopRule, optimize
from nstyle.engine.stop import FALL_SHARE
from nstyle.errors import NStyleError
from tests.test_optimize import schedule, setup


def test_default_plan_at_512_px():
    # one scale: coarser ones copy the painting's objects; 30 epochs, the earlier time
    assert scale_plan(Options()) == [ScalePlan(512, 30, 50)]
    assert total_epochs(Options()) == 30
    # photo to photo keeps its coarse to fine from 128 px, its first scale not capped
    assert scale_plan(Options(photo=True, max_long_edge=700)) == [
        ScalePlan(175, 300, 50),  # from the photo: the whole budget, the stop rule waits
        ScalePlan(350, 75, 10),  # a quarter of the pixels' cost each: about equal time
        ScalePlan(700, 19, 10),
    ]
    # an explicit coarse to fine at 512 px: the first scale's whole budget below 160 px
    assert [s.epochs for s in scale_plan(Options(num_scales=3))] == [300, 75, 19]


@pytest.mark.parametrize(
    "edge, edges",
    [
        (64, [64]),
        (COARSEST_EDGE, [512]),
        (1023, [1023]),  # halving would fall below the coarsest edge
        (1024, [512, 1024]),
        (4096, [512, 1024, 2048, 4096]),
    ],
)
def test_default_number_of_scales_keeps_the_coarsest_at_512_px(edge, edges):
    assert [s.edge for s in scale_plan(Options(max_long_edge=edge))] == edges


@pytest.mark.parametrize(
    "edge, edges",
    [
        (64, [64]),
        (PHOTO_COARSEST_EDGE, [128]),
        (255, [255]),
        (256, [128, 256]),
        (600, [150, 300, 600]),
        (4096, [128, 256, 512, 1024, 2048, 4096]),
    ],
)
def test_photo_to_photo_keeps_the_coarsest_at_128_px(edge, edges):
    assert [s.edge for s in scale_plan(Options(photo=True, max_long_edge=edge))] == edges


def test_the_first_scale_is_capped_in_epochs_times_pixels():
    """The default budget: 30 epochs at 512 px, in proportion to the pixels; never below the
    floor nor above --max-num-epochs; the finer scales' shares follow the first's budget."""
    assert [s.epochs for s in scale_plan(Options(max_long_edge=256, num_scales=1))] == [120]
    assert [s.epochs for s in scale_plan(Options(max_long_edge=600))] == [22]
    assert [s.epochs for s in scale_plan(Options(max_long_edge=2048, num_scales=1))] == [5]
    assert [s.epochs for s in scale_plan(Options(max_num_epochs=12))] == [12]
    assert [s.epochs for s in scale_plan(Options(max_long_edge=4096))] == [30, 10, 5, 3]
    # an explicit budget is the first scale's as given (the original's 1000 at one scale)
    assert [s.epochs for s in scale_plan(Options(max_num_epochs=1000))] == [1000]


def test_budgets_shrink_with_the_pixels_but_not_below_the_floor():
    plan = scale_plan(Options(max_long_edge=4096, max_num_epochs=200, num_scales=6))
    # the floor: 10 epochs up to 1024 px, then falling with the edge (an epoch costs minutes)
    assert [s.epochs for s in plan] == [200, 50, 13, 10, 5, 3]
    assert all(s.first_check == 10 for s in plan[1:])
    # never more than the first scale's budget, even when it is below the floor
    assert [s.epochs for s in scale_plan(Options(max_num_epochs=3, num_scales=3))] == [3, 3, 3]


def test_explicit_number_of_scales_and_its_checks():
    assert [s.edge for s in scale_plan(Options(num_scales=1))] == [512]
    assert [s.edge for s in scale_plan(Options(num_scales=2, max_long_edge=200))] == [100, 200]
    with pytest.raises(NStyleError, match="the coarsest scale needs 64 px"):
        check_options(Options(num_scales=4, max_long_edge=256))
    with pytest.raises(NStyleError, match="--num-scales must be >= 1"):
        check_options(Options(num_scales=0))
    with pytest.raises(NStyleError, match="--stop-window must be > 0"):
        check_options(Options(stop_window=0))


# ------------------------------------------------------------------ the windowed stop rule
def run_rule(images, window, eps, first_check=1, objectives=None, photo=False):
    """Feed a sequence of images (and the objective at each, if given) to the rule as an
    L-BFGS loop does; the epoch it stops."""
    image = mx.nd.array(images[0])
    rule = StopRule(image, Options(stop_window=window, stop_eps=eps).stop, first_check, photo)
    if objectives is not None:
        rule.begin(objectives[0])
    for epoch, x in enumerate(images[1:], start=1):
        image[:] = x
        objective = None if objectives is None else objectives[epoch]
        _, change, fall = rule.measure(epoch, image, objective)
        if rule.stop(epoch, None if change is None else float(change.asscalar()), fall):
            return epoch
    return None


def test_back_and_forth_stops_at_the_end_of_a_window():
    """A picture that moves a lot each epoch but comes back has no net change: stop."""
    x = np.full((1, 3, 4, 4), 100.0)
    wobble = [x + (10.0 if i % 2 else 0.0) for i in range(21)]
    assert run_rule(wobble, window=1, eps=0.01) is None  # per epoch: 10% every time
    assert run_rule(wobble, window=4, eps=0.01) == 4


def test_steady_drift_is_compared_per_epoch():
    """A drift of 1% per epoch: windowed per-epoch change 1%, whatever the window."""
    drift = [np.full((1, 3, 4, 4), 100.0 * 1.01**i) for i in range(31)]
    for window in (1, 5, 10):
        assert run_rule(drift, window, eps=0.0101) == window
        assert run_rule(drift, window, eps=0.009) is None


def test_rule_waits_for_first_check_and_fires_at_window_ends():
    still = [np.full((1, 3, 4, 4), 50.0)] * 40
    assert run_rule(still, window=10, eps=1e-3, first_check=25) == 25  # windows end every 5
    assert run_rule(still, window=10, eps=1e-3, first_check=26) == 30
    assert run_rule(still, window=7, eps=1e-3, first_check=1) == 7


def test_a_drifting_picture_stops_when_the_objective_hardly_falls():
    """The picture moves 1% per epoch (over eps) throughout; the objective falls 5% per
    epoch for 20 epochs, then 0.1%: the rule stops at the first window end in the slow part,
    not before, and not at all without the objective (the picture's change alone)."""
    drift = [np.full((1, 3, 4, 4), 100.0 * 1.01**i) for i in range(61)]
    objective = [1000.0 * 0.95 ** min(i, 20) * 0.999 ** max(i - 20, 0) for i in range(61)]
    assert run_rule(drift, window=10, eps=0.008, objectives=objective) == 30
    assert run_rule(drift, window=10, eps=0.008) is None
    # from first_check on only; and eps 0 runs on whatever the objective does
    assert run_rule(drift, window=10, eps=0.008, first_check=41, objectives=objective) == 45
    assert run_rule(drift, window=10, eps=0.0, objectives=objective) is None


def test_the_fall_is_per_epoch_and_relative_to_the_window_start():
    """The objective falls by a fixed share per epoch, whatever its scale: the rule stops
    at the first window end when that is under FALL_SHARE * eps, not when it is over;
    per epoch, so any window agrees. A window of 1 is the original's rule: the change
    alone (one step's fall is noise)."""
    drift = [np.full((1, 3, 4, 4), 100.0 * 1.01**i) for i in range(31)]
    eps = 0.008
    for scale in (1e-3, 1e6):
        for share, stops in ((0.8, True), (1.25, False)):
            objective = [scale * (1 - share * FALL_SHARE * eps) ** i for i in range(31)]
            for window in (2, 5, 10):
                found = run_rule(drift, window, eps, objectives=objective)
                assert found == (window if stops else None)
            assert run_rule(drift, 1, eps, objectives=objective) is None


def test_photo_to_photo_stops_on_the_change_alone_at_whole_windows():
    """--photo: the objective's fall does not stop a scale (its matting term falls little
    while the look still comes), and windows end every ``stop_window`` epochs."""
    drift = [np.full((1, 3, 4, 4), 100.0 * 1.01**i) for i in range(61)]
    flat = [1000.0] * 61
    assert run_rule(drift, window=10, eps=0.008, objectives=flat) == 10
    assert run_rule(drift, window=10, eps=0.008, objectives=flat, photo=True) is None
    settle = [np.full((1, 3, 4, 4), 100.0 * 1.01 ** min(i, 12)) for i in range(61)]
    assert run_rule(settle, window=10, eps=0.008) == 15  # a window ends every 5 epochs
    assert run_rule(settle, window=10, eps=0.008, photo=True) == 20


def test_a_rising_or_zero_objective_does_not_stop():
    """A rise is no convergence (SGD overshooting); an objective of 0 has no relative fall."""
    drift = [np.full((1, 3, 4, 4), 100.0 * 1.01**i) for i in range(31)]
    assert run_rule(drift, 10, eps=0.008, objectives=[1.0 + 0.01 * i for i in range(31)]) is None
    assert run_rule(drift, 10, eps=0.008, objectives=[0.0] * 31) is None


def test_device_objectives_are_read_with_the_changes():
    """SGD's and Adam's objectives stay on the device until the check: record queues the
    window's fall and read decides on it, in one read of the batch."""
    drift = [mx.nd.array(np.full((1, 3, 4, 4), 100.0 * 1.01**i)) for i in range(21)]
    image = drift[0].copy()
    rule = StopRule(image, Options(stop_window=10, stop_eps=0.008), 1)
    stops = []
    for epoch in range(1, 21):
        image[:] = drift[epoch]
        rule.record(epoch, image, mx.nd.array([1000 * 0.9 ** min(epoch, 10)], dtype="float64"))
        if epoch % 5 == 0:
            stops.append(rule.read(image))
    # by epoch 10 the objective fell about 9% per epoch; by epoch 20 not at all
    assert stops == [(True, False), (True, False), (True, False), (True, True)]
    assert rule.why == "fall"


def test_loops_stop_at_the_first_window_end_below_eps():
    loss, image = setup()
    options = schedule(optimizer="lbfgs", max_num_epochs=30, stop_eps=1.0, stop_window=5)
    assert optimize(loss, None, image, options, plan=ScalePlan.budget(30, 1)).epochs == 5
    loss, image = setup()
    options = schedule(max_num_epochs=30, stop_eps=1.0, stop_window=4, check_every=3)
    # windows end at 4, 8; the rule is read at the checks, 3 and 6
    assert optimize(loss, None, image, options, plan=ScalePlan.budget(30, 1)).epochs == 6


def test_budget_caps_the_epochs_and_says_so():
    loss, image = setup()
    outcome = optimize(loss, None, image, schedule(max_num_epochs=50), plan=ScalePlan.budget(7, 1))
    assert outcome.epochs == 7 and outcome.reason == "the budget of 7 epochs reached"


# ---------------------------------------------------------------------- the warm start
def test_finer_start_is_the_photo_plus_the_upsampled_change():
    rng = np.random.default_rng(0)
    content = rng.uniform(-100, 100, (1, 3, 8, 12)).astype(np.float32)
    coarse_content = rng.uniform(-100, 100, (1, 3, 4, 6)).astype(np.float32)
    # nothing changed at the coarse scale: the finer scale starts from its photo, exactly
    assert np.array_equal(finer_start(content, coarse_content, coarse_content), content)
    # a uniform change carries over as it is
    start = finer_start(content, coarse_content + 7.0, coarse_content)
    assert start.shape == content.shape and np.allclose(start, content + 7.0, atol=1e-4)
    # a change in one corner stays in that corner
    changed = coarse_content.copy()
    changed[..., :2, :3] += 50
    delta = finer_start(content, changed, coarse_content) - content
    assert delta[..., :3, :5].mean() > 30 and np.abs(delta[..., 5:, 7:]).max() < 1e-4
