"""Hostile and careless calls of the library (issue 21): ``Options`` built directly with a
wrong type or an absurd value, ``ctx``, ``weights``, ``callback``, ``start`` and
``temporal`` of the wrong kind. Each raises nstyle's error (a wrong type one that is also
Python's ``TypeError``), naming the argument, from the first check: ``Options`` on
construction, the public function at its entry, never from deep inside MXNet or numpy.

In process with the tiny weights at 32 px; what could allocate without bound if a check
regressed (enormous sizes) runs in a subprocess under an address-space cap and a timeout.
"""

from __future__ import annotations

import dataclasses
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

import nstyle
from nstyle import api
from nstyle.config import NStyleTypeError, Options, blend_weights
from nstyle.errors import NStyleError
from tests.conftest import cpu_build_only, make_rgb

RGB = make_rgb()
STYLE = np.ascontiguousarray(RGB[::-1])
SHAPE = (23, 32, 3)  # RGB at a long edge of 32
SMALL = dict(max_long_edge=32, max_num_epochs=1, optimizer="sgd")
ADDRESS_SPACE = 4 << 30
# The functions that check arguments: an error must be raised in one of them.
CHECKS = {
    "typed",
    "check_values",
    "check_options",
    "check_finite",
    "check_choices",  # a field with choices holds one of them
    "scale_plan",
    "checked_context",
    "checked_weights",
    "check_callback",
    "checked_temporal",
    "as_rgb",
    "check_array",  # a plain numpy array, not a subclass
    "check_given",  # the shape of ``start`` against the output's
    "checked_masks",  # masks: one per style image
    "as_mask",  # each mask's kind and values
    "check_readable",  # a weights path that is no file
    "check_styles",  # blend weights against the styles given
    "with_settings",  # settings given as keywords
}


def raised_by_a_check(info: pytest.ExceptionInfo) -> None:
    where = info.traceback[-1]
    assert where.name in CHECKS, f"raised in {where.path}:{where.lineno} {where.name}"


@pytest.fixture(scope="module")
def tiny(tiny_weights_file):
    from nstyle.weights import read_weights

    return read_weights(tiny_weights_file)


# ------------------------------------------------------------------ Options, directly
BAD_OPTIONS = [
    # wrong types: nstyle's error and Python's TypeError, naming the field
    (
        "max_long_edge-str",
        {"max_long_edge": "512"},
        True,
        "max_long_edge: expected an int, got str",
    ),
    ("max_long_edge-float", {"max_long_edge": 512.0}, True, "max_long_edge: expected an int"),
    ("max_long_edge-bool", {"max_long_edge": True}, True, "expected an int, got bool"),
    ("max_long_edge-None", {"max_long_edge": None}, True, "expected an int, got NoneType"),
    ("style_scale-str", {"style_scale": "2"}, True, "style_scale: expected a number, got str"),
    ("style_scale-complex", {"style_scale": 1j}, True, "style_scale: expected a number"),
    ("max_memory-str", {"max_memory": "8"}, True, "max_memory: expected a number, got str"),
    ("blend-str-item", {"style_blend_weights": ("a",)}, True, "style_blend_weights[0]: expected"),
    ("blend-str", {"style_blend_weights": "11"}, True, "expected a tuple of floats, got str"),
    ("blend-number", {"style_blend_weights": 1.0}, True, "expected a tuple of floats, got float"),
    ("layers-str", {"style_layers": "relu1_1"}, True, "style_layers: expected a tuple of strs"),
    ("layers-int-item", {"style_layers": (1,)}, True, "style_layers[0]: expected a str, got int"),
    ("content-layers-None", {"content_layers": None}, True, "content_layers: expected a tuple"),
    ("layer-weights-set", {"style_layer_weights": {1.0}}, True, "expected a tuple of floats"),
    ("preserve-str", {"preserve_colors": "yes"}, True, "preserve_colors: expected a bool"),
    ("preserve-int", {"preserve_colors": 1}, True, "preserve_colors: expected a bool, got int"),
    ("model-None", {"model": None}, True, "model: expected a str, got NoneType"),
    ("weights-bytes", {"weights": b"w.params"}, True, "weights: expected a str, got bytes"),
    ("seed-float", {"seed": 1.5}, True, "seed: expected an int, got float"),
    ("epochs-str", {"max_num_epochs": "300"}, True, "max_num_epochs: expected an int"),
    ("lr-list", {"lr": [1.0]}, True, "lr: expected a number, got list"),
    # absurd values: nstyle's error naming the field
    ("max_long_edge-1e30", {"max_long_edge": 10**30}, False, "--max-long-edge must be at most"),
    ("max_long_edge-2^64", {"max_long_edge": 2**64}, False, "--max-long-edge must be at most"),
    ("max_long_edge-0", {"max_long_edge": 0}, False, "--max-long-edge must be > 0"),
    ("style_scale-nan", {"style_scale": float("nan")}, False, "--style-scale must be a finite"),
    ("style_scale-int-1e400", {"style_scale": 10**400}, False, "an int of 401 digits"),
    ("style_scale-1e300", {"style_scale": 1e300}, False, "--style-scale 1e+300 makes"),
    ("style_scale-1e-300", {"style_scale": 1e-300}, False, "at least 16 px"),
    ("max_memory-1e300", {"max_memory": 1e300}, False, "--max-memory must be at most"),
    ("max_memory-inf", {"max_memory": float("inf")}, False, "--max-memory must be a finite"),
    ("max_memory-neg", {"max_memory": -1.0}, False, "--max-memory must be > 0"),
    ("num_scales-1e18", {"num_scales": 10**18}, False, "the coarsest scale needs 64 px"),
    ("num_scales-neg", {"num_scales": -(10**30)}, False, "--num-scales must be >= 1"),
    ("lr-1e300", {"lr": 1e300}, False, "--lr must be at most 3.403e+38"),
    ("weight_decay-1e39", {"weight_decay": 1e39}, False, "--weight-decay must be at most"),
    ("optimizer-upper", {"optimizer": "LBFGS"}, False, "--optimizer must be one of"),
    ("pooling", {"pooling": "sum"}, False, "--pooling must be one of"),
    ("style_loss-upper", {"style_loss": "W2"}, False, "--style-loss must be one of gram, w2"),
    ("style_loss-space", {"style_loss": "gram "}, False, "--style-loss must be one of gram, w2"),
    ("model-other", {"model": "vgg11"}, False, "--model must be one of vgg19, vgg16"),
    ("seed-2^64", {"seed": 2**64}, False, "--seed must be in 0..4294967295"),
    ("blend-negative", {"style_blend_weights": (-1,)}, False, "--style-blend-weights must be"),
    ("blend-count", {"style_blend_weights": (1, 1)}, False, "2 weight(s) for 1 style image"),
    ("layer-weights-empty", {"style_layer_weights": ()}, False, "one weight >= 0 per style"),
    ("layer-weights-neg", {"style_layer_weights": (-1,) * 5}, False, "one weight >= 0 per"),
    ("momentum-1", {"momentum": 1.0}, False, "--momentum must be in [0, 1)"),
    ("all-weights-0", {"content_weight": 0, "style_weight": 0, "tv_weight": 0}, False, "all 0"),
    ("match-without-preserve", {"match_luminance": True}, False, "works with --preserve-colors"),
    ("init-missing", {"init": "no-such.png"}, False, "--init must be one of content, noise"),
]


@pytest.mark.parametrize(
    "kwargs, wrong_type, message", [pytest.param(*c[1:], id=c[0]) for c in BAD_OPTIONS]
)
def test_options_refuse_a_wrong_type_or_an_absurd_value_naming_it(
    kwargs, wrong_type, message, tiny
):
    """On construction or, for what depends on several fields or on files, at the entry
    (``check_options``, which ``stylize`` and ``Painter`` call first), before any weights
    are read."""
    with pytest.raises(NStyleError) as raised:
        nstyle.stylize(RGB, STYLE, Options(**kwargs), weights=tiny)
    assert message in str(raised.value), str(raised.value)
    assert isinstance(raised.value, TypeError) == wrong_type
    assert isinstance(raised.value, NStyleTypeError) == wrong_type
    raised_by_a_check(raised)


def test_every_field_with_choices_refuses_any_other_value_naming_them(tiny):
    """``style_loss="W2"`` painted with the Gram loss, saying nothing (issue 31): every field
    the command line gives choices (``Options``' and ``Outputs``') takes only those, from
    the library too, as a setting keyword or in ``Options``, before any work."""
    from nstyle.config import Outputs, check_outputs

    for kind in (Options, Outputs):
        for f in dataclasses.fields(kind):
            choices = f.metadata.get("choices")
            if choices is None:
                continue
            message = f"--{f.name.replace('_', '-')} must be one of {', '.join(choices)}, got"
            for wrong in (choices[0].upper(), choices[0] + " ", ""):
                with pytest.raises(NStyleError, match=re.escape(message)) as raised:
                    check_outputs(Outputs(**{f.name: wrong})) if kind is Outputs else Options(
                        **{f.name: wrong}
                    )
                assert not isinstance(raised.value, TypeError)
                raised_by_a_check(raised)
    with pytest.raises(
        NStyleError, match=r"^--style-loss must be one of gram, w2, mixed, got 'W2'$"
    ):
        nstyle.stylize(RGB, STYLE, weights=tiny, style_loss="W2", **SMALL)


def test_replace_checks_as_construction_does():
    with pytest.raises(NStyleTypeError, match=r"^max_long_edge: expected an int, got str '1'"):
        Options().replace(max_long_edge="1")
    with pytest.raises(NStyleError, match=r"^--max-memory must be at most 8589934592"):
        Options().replace(max_memory=1e300)


def test_numbers_and_paths_of_other_kinds_are_taken_as_their_values(tmp_path):
    """numpy's numbers, ints for floats, lists for tuples and paths for file names are what
    a user means: taken, as the declared types."""
    options = Options(
        max_long_edge=np.int64(300),
        style_scale=np.float32(0.5),
        max_memory=8,
        style_blend_weights=[1, np.float64(2)],
        style_layers=["relu1_1", "relu2_1"],
        weights=tmp_path / "w.params",
        init=Path("content"),
    )
    assert type(options.max_long_edge) is int and options.max_long_edge == 300
    assert type(options.style_scale) is float and options.style_scale == 0.5
    assert type(options.max_memory) is float and options.max_memory == 8.0
    assert options.style_blend_weights == (1.0, 2.0)
    assert options.style_layers == ("relu1_1", "relu2_1")
    assert options.weights == str(tmp_path / "w.params") and options.init == "content"
    assert options == Options(**{**options.__dict__})  # hashable, equal, as before


def test_blend_weights_near_floats_limit_are_normalised_without_overflow():
    """1e308 + 1e308 is inf in floating point: the weights were all 0 (no style at all)."""
    assert blend_weights(Options(style_blend_weights=(1e308, 1e308)), 2) == [0.5, 0.5]
    assert blend_weights(Options(style_blend_weights=(1.5e308, 5e307)), 2) == [0.75, 0.25]
    assert blend_weights(Options(style_blend_weights=(1, 3)), 2) == [0.25, 0.75]


# ------------------------------------------------------------------ the functions' arguments
def test_a_context_that_is_not_one_is_named(tiny):
    for ctx in ("cpu", 0, "gpu(0)", object()):
        with pytest.raises(NStyleTypeError, match=r"^ctx: expected an mxnet.Context") as raised:
            nstyle.stylize(RGB, STYLE, Options(**SMALL), ctx=ctx, weights=tiny)
        raised_by_a_check(raised)
    with pytest.raises(NStyleError, match=r"^ctx=cpu_pinned\(0\): nstyle runs on mx.cpu\(\)"):
        nstyle.stylize(RGB, STYLE, Options(**SMALL), ctx=mx.cpu_pinned(), weights=tiny)


@cpu_build_only
def test_a_gpu_context_on_the_cpu_build_is_named(tiny):
    with pytest.raises(NStyleError) as raised:
        nstyle.stylize(RGB, STYLE, Options(**SMALL), ctx=mx.gpu(0), weights=tiny)
    message = str(raised.value)
    assert message.startswith("ctx=gpu(0): the installed MXNet is the CPU-only build"), message
    assert message.endswith("or use mx.cpu() for the CPU") and "--gpu" not in message
    raised_by_a_check(raised)


def test_weights_may_be_a_path(tiny, tiny_weights_file):
    """A weights file's path, str or Path, is read as ``Options.weights`` would be: the same
    picture as the loaded weights."""
    options = Options(**SMALL)
    base = nstyle.stylize(RGB, STYLE, options, weights=tiny)
    assert base.shape == SHAPE
    assert np.array_equal(nstyle.stylize(RGB, STYLE, options, weights=str(tiny_weights_file)), base)
    assert np.array_equal(nstyle.stylize(RGB, STYLE, options, weights=tiny_weights_file), base)


@pytest.mark.parametrize("weights", [123, {"conv1_1_weight": 0}, b"tiny.params", [1.0]])
def test_weights_of_another_kind_are_named(weights):
    """(With the default weights there would be a download: the type is checked first.)"""
    with pytest.raises(NStyleTypeError, match=r"^weights: expected nstyle's Weights") as raised:
        nstyle.stylize(RGB, STYLE, Options(**SMALL), weights=weights)
    raised_by_a_check(raised)


def test_a_weights_path_that_is_no_file_is_named(tmp_path):
    with pytest.raises(NStyleError, match="missing.params") as raised:
        nstyle.stylize(RGB, STYLE, Options(**SMALL), weights=tmp_path / "missing.params")
    raised_by_a_check(raised)


@pytest.mark.parametrize("callback", ["print", 42, [print]])
def test_a_callback_that_cannot_be_called_is_named_before_the_network(callback, tiny):
    with pytest.raises(NStyleTypeError, match=r"^callback: expected a function") as raised:
        nstyle.transfer(RGB, STYLE, Options(**SMALL), weights=tiny, callback=callback)
    raised_by_a_check(raised)
    painter = api.Painter(STYLE, Options(**SMALL), weights=tiny)
    with pytest.raises(NStyleTypeError, match=r"^callback: expected a function"):
        painter.paint(RGB, callback=callback)


@pytest.fixture(scope="module")
def painter(tiny):
    return api.Painter(STYLE, Options(**SMALL), weights=tiny)


def nan_start():
    start = np.full(SHAPE, 0.5)
    start[0, 0, 0] = np.nan
    return start


BAD_STARTS = [
    ("list", np.zeros(SHAPE, np.uint8).tolist(), "start: expected a numpy array, got list"),
    ("tuple", (1, 2, 3), "start: expected a numpy array, got tuple"),
    ("str", "start.png", "start: expected a numpy array, got str"),
    ("wrong-size", np.zeros((10, 10, 3), np.uint8), "start: 10x10, the output is 32x23"),
    ("transposed", np.zeros((32, 23, 3), np.uint8), "start: 23x32, the output is 32x23"),
    ("nan", nan_start(), "start: the image holds NaN or inf"),
    ("int64", np.zeros(SHAPE, np.int64), "start: dtype int64 is not an image type"),
    ("float-255", np.full(SHAPE, 255.0), "start: a float image must be in 0..1"),
    ("4-D", np.zeros((1, *SHAPE), np.uint8), "start: expected an image of shape"),
    ("empty", np.zeros((0, 32, 3), np.uint8), "start: the image is empty"),
    ("matrix", np.matrix(np.zeros(SHAPE[:2])), "start: expected a numpy array, got matrix"),
]


def test_a_start_as_scikit_image_passes_it_is_taken(painter):
    """The same kinds as the photo: grey, float in 0..1."""
    grey = np.full(SHAPE[:2], 0.5)
    assert painter.paint(RGB, start=grey).image.shape == SHAPE


def temporal(**parts):
    base = dict(warped=np.zeros(SHAPE, np.uint8), mask=np.ones(SHAPE[:2], np.float32), weight=1.0)
    return api.Temporal(**{**base, **parts})


BAD_TEMPORALS = [
    ("str", "temporal", "temporal: expected nstyle.api.Temporal, got str"),
    ("tuple", (np.zeros(SHAPE, np.uint8), np.ones(SHAPE[:2]), 1.0), "temporal: expected"),
    ("warped-list", temporal(warped=[[0]]), "temporal.warped: expected a numpy array"),
    ("warped-size", temporal(warped=np.zeros((8, 8, 3), np.uint8)), "temporal.mask: expected"),
    ("mask-shape", temporal(mask=np.ones((8, 8))), "temporal.mask: expected an array of shape"),
    ("mask-list", temporal(mask=[[1.0]]), "temporal.mask: expected an array of shape"),
    (
        "mask-matrix",
        temporal(mask=np.matrix(np.ones(SHAPE[:2]))),
        "temporal.mask: expected a numpy array",
    ),
    ("mask-str", temporal(mask=np.full(SHAPE[:2], "a")), "temporal.mask: expected numbers"),
    ("mask-nan", temporal(mask=np.full(SHAPE[:2], np.nan)), "temporal.mask: values must be"),
    ("mask-2", temporal(mask=np.full(SHAPE[:2], 2.0)), "temporal.mask: values must be in 0..1"),
    ("weight-nan", temporal(weight=float("nan")), "temporal.weight must be a finite number"),
    ("weight-neg", temporal(weight=-1.0), "temporal.weight must be a finite number >= 0"),
    ("weight-str", temporal(weight="1"), "temporal.weight: expected a number, got str"),
]


@pytest.mark.parametrize(
    "argument, given, message",
    [pytest.param("start", g, m, id=f"start-{i}") for i, g, m in BAD_STARTS]
    + [pytest.param("temporal", g, m, id=f"temporal-{i}") for i, g, m in BAD_TEMPORALS],
)
def test_a_bad_start_or_temporal_term_is_named(painter, argument, given, message):
    with pytest.raises(NStyleError) as raised:
        painter.paint(RGB, **{argument: given})
    assert str(raised.value).startswith(message), str(raised.value)
    raised_by_a_check(raised)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"max_long_edge": 32}, "options must be an nstyle.Options, got dict"),
        (None, "options must be an nstyle.Options, got NoneType"),
        ("vgg19", "options must be an nstyle.Options, got str"),
    ],
)
def test_options_of_another_kind_are_named(options, message):
    with pytest.raises(NStyleError, match=f"^{message}") as raised:
        nstyle.stylize(RGB, STYLE, options)
    raised_by_a_check(raised)


def test_settings_as_keywords_mean_what_the_options_mean(tiny):
    """``stylize(photo, painting, max_long_edge=...)`` is ``stylize(photo, painting,
    Options(max_long_edge=...))``; keywords replace the given options' fields."""
    by_options = nstyle.stylize(RGB, STYLE, Options(**SMALL), weights=tiny)
    assert by_options.shape == SHAPE
    assert np.array_equal(nstyle.stylize(RGB, STYLE, weights=tiny, **SMALL), by_options)
    replaced = nstyle.stylize(RGB, STYLE, Options(**SMALL), weights=tiny, max_long_edge=24)
    assert max(replaced.shape[:2]) == 24
    # init and weights are settings too (and parameters of transfer's): the same meaning
    noise = Options(**SMALL, init="noise", seed=3)
    by_keywords = nstyle.stylize(RGB, STYLE, weights=tiny, **SMALL, init="noise", seed=3)
    assert np.array_equal(by_keywords, nstyle.stylize(RGB, STYLE, noise, weights=tiny))
    assert not np.array_equal(by_keywords, by_options)


@pytest.mark.parametrize(
    "settings, error, message",
    [
        ({"max_edge": 32}, NStyleTypeError, "unknown setting(s) max_edge: the settings are"),
        ({"max_long_edge": "32"}, NStyleTypeError, "max_long_edge: expected an int, got str"),
        ({"max_long_edge": -1}, NStyleError, "--max-long-edge must be > 0, got -1"),
    ],
)
def test_a_bad_setting_given_as_a_keyword_is_named(settings, error, message):
    with pytest.raises(error) as raised:
        nstyle.stylize(RGB, STYLE, **settings)
    assert str(raised.value).startswith(message), str(raised.value)
    raised_by_a_check(raised)


def test_an_init_picture_of_another_kind_is_named(tiny, tmp_path):
    from nstyle.media import images

    images.write_image(tmp_path / "init.png", RGB)
    options = Options(**SMALL, init=str(tmp_path / "init.png"))
    with pytest.raises(NStyleError, match=r"^init: expected a numpy array, got list"):
        api.Painter(STYLE, options, weights=tiny, init=RGB.tolist())


def test_an_init_picture_read_elsewhere_needs_no_file_here(tiny, tmp_path):
    """A Ray worker on another machine gets the --init file's picture, not the file: the
    painter starts from that picture, as it would from the file."""
    from nstyle.media import images

    start = np.ascontiguousarray(RGB[:, ::-1])
    images.write_image(tmp_path / "init.png", start)
    here = Options(**SMALL, init=str(tmp_path / "init.png"))
    elsewhere = Options(**SMALL, init=str(tmp_path / "on-another-machine.png"))
    from_file = api.Painter(STYLE, here, weights=tiny).paint(RGB).image
    given = api.Painter(STYLE, elsewhere, weights=tiny, init=start).paint(RGB).image
    np.testing.assert_array_equal(given, from_file)
    content = api.Painter(STYLE, Options(**SMALL), weights=tiny).paint(RGB).image
    assert np.abs(given.astype(int) - content).mean() > 5  # the start picture mattered


# ------------------------------------------------------------------ sizes, under a cap
CHILD = """
import sys, time
import numpy as np
import nstyle
from nstyle import api
from nstyle.weights import read_weights
from tests.conftest import make_rgb

rgb, weights = make_rgb(), read_weights(sys.argv[1])
began = time.monotonic()
try:
    {call}
except nstyle.NStyleError as exc:
    print(f"{{time.monotonic() - began:.2f}} {{exc}}")
else:
    print("no error")
"""


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


SIZES = [
    (
        "max_long_edge-1e30",
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=10**30), weights=weights)",
        "--max-long-edge must be at most 44739242",
    ),
    (
        "style_scale-1e6",
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=32, style_scale=1e6), "
        "weights=weights)",
        "the style image at --style-scale 1e+06 is 32000000x22857143 and needs at least",
    ),
    (  # a cap no picture could exceed: the plan still refuses what MXNet cannot hold, at once
        "style_scale-1e6-largest-cap",
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=32, style_scale=1e6, "
        "max_memory=8589934592), weights=weights)",
        "the style image at --style-scale 1e+06 is 32000000x22857143 and is beyond MXNet's",
    ),
    (
        "max_long_edge-200000-largest-cap",
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=200000, max_memory=8589934592),"
        " weights=weights)",
        "a 200000x142857 picture is beyond MXNet's arrays (3 x 200000 x 142857 numbers, at "
        "most 2^31); --max-long-edge ",
    ),
    (
        "max_long_edge-200000",
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=200000), weights=weights)",
        "a 200000x142857 picture needs at least",
    ),
    (
        "max_long_edge-limit",
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=44739242), weights=weights)",
        "a 44739242x31956601 picture needs at least",
    ),
    (
        "max_memory-tiny-at-200000",
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=200000, max_memory=1e-300), "
        "weights=weights)",
        "--max-memory 1e-300 is too small for a 200000x142857 picture",
    ),
    (
        "paint_frame-200000",  # the frames are resized only after the plan
        "api.Painter(rgb, nstyle.Options(max_long_edge=200000), weights=weights).paint_frame("
        "rgb, rgb, rgb)",
        "a 200000x142857 picture needs at least",
    ),
    (
        "resize-beyond-mxnet",
        "from nstyle.media import images; images.resize_to(rgb, (40000, 60000))",
        "a 60000x40000 picture is beyond MXNet's arrays",
    ),
]


@pytest.mark.parametrize("call, message", [pytest.param(c, m, id=i) for i, c, m in SIZES])
def test_a_size_beyond_memory_is_refused_at_once(call, message, tiny_weights_file):
    root = Path(__file__).resolve().parents[1]
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(call=call), str(tiny_weights_file)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=capped,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    seconds, line = done.stdout.strip().split(" ", 1)
    assert line.startswith(message), line
    assert float(seconds) < 5 and time.monotonic() - began < 60, (seconds, line)


@pytest.mark.parametrize("edge", [2000, 4000])
def test_a_cap_above_what_is_free_runs_out_as_one_line_of_nstyles_kind(edge, tiny_weights_file):
    """``max_memory`` far above what the process may have (here its address-space cap):
    the plan fits, the arrays do not. The library raised Python's ``MemoryError`` (or
    MXNet's error) from inside (issue 31): now a ``FrameworkFailure`` of one line."""
    call = (
        "nstyle.stylize(rgb, rgb, nstyle.Options(max_long_edge=" + str(edge) + ", "
        "max_memory=8589934592, num_scales=1, max_num_epochs=1), weights=weights)"
    )
    child = CHILD.replace('print(f"{{time', 'print(type(exc).__name__, f"{{time')
    done = subprocess.run(
        [sys.executable, "-c", child.format(call=call), str(tiny_weights_file)],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=capped,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    kind, _, line = done.stdout.strip().split(" ", 2)
    assert kind == "FrameworkFailure" and "\n" not in line, done.stdout
    assert line.startswith(("out of memory; lower --max-memory", "MXNet failed: ")), line
