"""Errors carry their kind and fields: through pickling (what Ray does to a worker's error),
through ``restated``, and into the CLI's exit code and the web app's HTTP status."""

import pickle

import mxnet as mx
import numpy as np
import pytest

from nstyle import cli, errors
from nstyle.config import ScalePlan
from nstyle.engine import memory
from nstyle.web import app, jobs


@pytest.mark.parametrize(
    "error",
    [
        errors.TooLarge("a 9x9 picture needs more", suggested={"max_memory": 0.3}),
        errors.Diverged("NaN by epoch 3", picture=np.full((2, 3, 3), 7, np.uint8)),
        errors.UnsupportedMedia("x.png: not a readable image", subject="x.png"),
        errors.FrameworkFailure("MXNet failed: out of memory"),
        memory.NoFit.of(
            ScalePlan(
                9,
                0,
                0,
                height=9,
                width=9,
                tile=128,
                tiles=1,
                margin=16,
                extent=(160, 160),
                optimizer="sgd",
                peak=2**30,
            )
        ),
    ],
    ids=lambda e: type(e).__name__,
)
def test_kind_and_fields_survive_pickling_and_restating(error):
    import ray.cloudpickle

    for copy in (
        pickle.loads(pickle.dumps(error)),
        ray.cloudpickle.loads(ray.cloudpickle.dumps(error)),
    ):
        assert type(copy) is type(error) and str(copy) == str(error)
        assert copy.__dict__.keys() == error.__dict__.keys()
        for name, value in error.__dict__.items():
            assert np.array_equal(getattr(copy, name), value), name
    again = error.restated(f"in.jpg: {error}")
    assert type(again) is type(error) and str(again) == f"in.jpg: {error}"
    assert again.__dict__ is not error.__dict__ and again.__dict__.keys() == error.__dict__.keys()


def test_a_plain_error_has_no_fields_of_another_kind():
    plain = errors.NStyleError("bad value")
    assert plain.subject is None and not hasattr(plain, "suggested")
    assert errors.TooLarge("x").suggested == {} and errors.Diverged("x").picture is None


def test_mxnet_s_own_error_becomes_a_framework_failure():
    with pytest.raises(mx.base.MXNetError) as raised:
        mx.nd.zeros((2, 3)).reshape((4, 5)).wait_to_read()
    failure = errors.framework_failure(raised.value)
    assert isinstance(failure, errors.FrameworkFailure)
    assert str(failure).startswith("MXNet failed: ") and "\n" not in str(failure)
    assert errors.framework_failure(ValueError("MXNet")) is None
    assert errors.framework_failure(errors.NStyleError("MXNet failed: no")) is None
    # MXNet raises subclasses too (a C++ message starting "InternalError:")
    internal = mx.error.InternalError("InternalError: the device is lost")
    assert (
        str(errors.framework_failure(internal)) == "MXNet failed: InternalError: the device is lost"
    )


def test_exit_codes_and_http_statuses_follow_the_kind():
    assert cli.exit_for(errors.FrameworkFailure("x")) == 1
    for error in (errors.NStyleError("x"), errors.TooLarge("x"), errors.Diverged("x")):
        assert cli.exit_for(error) == 2
    assert cli.exit_for(errors.NStyleError("MXNet failed: a user's file named so")) == 2
    assert app.status_of(errors.TooLarge("x"), 415) == 413
    assert app.status_of(errors.UnsupportedMedia("x"), 400) == 415
    assert app.status_of(jobs.QueueFull("x"), 400) == 429
    assert app.status_of(jobs.Stopping("x"), 400) == 503
    assert app.status_of(errors.NStyleError("decompression bombs"), 415) == 415


def test_one_line_and_error_line():
    assert errors.one_line("a\nb\rc") == "a\\nb\\rc"
    assert errors.error_line("nstyle", "x\ny") == "nstyle: error: x\\ny"
    assert errors.squeezed("  a \n\t b ") == "a b"
