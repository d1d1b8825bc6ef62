"""The memory model and each scale's plan: tiles when the whole does not fit, the cap kept,
one line naming what would work when even the smallest tiles do not."""

import os
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model_vgg19
from nstyle.config import Options
from nstyle.engine import memory, terms
from nstyle.engine.footprint import Footprint
from nstyle.engine.layout import TileLayout, TilePlan
from nstyle.engine.plan import plan_memory
from nstyle.engine.terms import Network
from nstyle.errors import NStyleError
from tests.conftest import TINY_CHANNELS, random_vgg

GIB = memory.GIB


def tiny_net():
    return Network.build(
        random_vgg(16),
        16,
        model_vgg19.STYLE_LAYERS,
        model_vgg19.CONTENT_LAYERS,
        "avg",
        mx.cpu(),
        TINY_CHANNELS,
    )


def graph_bytes(net: Network, shape, regions: int = 0) -> int:
    """The executor's estimate counted on MXNet's own graph (the estimate's definition):
    1.5 times every node's output, the weights, each region's guided features twice, and
    the Gram targets, from the shapes MXNet infers."""
    style = {n: net.features[n] for n in net.style_layers}
    group = mx.sym.Group(
        [terms.gram(net.features[n], net.channels[n]) for n in net.style_layers]
        + [net.features[n] for n in net.content_layers]
    )
    _, shapes, _ = group.get_internals().infer_shape(data=shape)
    names = group.get_internals().list_outputs()
    weights = sum(int(np.prod(s)) for n, s in zip(names, shapes) if n in net.params)
    nodes = sum(int(np.prod(s)) for n, s in zip(names, shapes) if n not in net.params)
    _, styled, _ = mx.sym.Group(list(style.values())).infer_shape(data=shape)
    guided = regions * sum(2 * int(np.prod(s)) for s in styled)
    targets = max(1, regions) * sum(net.channels[n] ** 2 for n in style)
    return 4 * (3 * nodes // 2 + weights + guided) + 4 * targets


@pytest.mark.parametrize(
    "num_layers, style, content",
    [
        (16, model_vgg19.STYLE_LAYERS, model_vgg19.CONTENT_LAYERS),
        (19, ("relu2_1", "relu3_1"), ("relu1_2",)),
        (16, ("relu3_1", "relu3_1"), ("relu3_1",)),
    ],
)
def test_the_footprint_from_the_table_is_the_graphs_own(num_layers, style, content):
    """The plan's estimate from the model's table alone (``Footprint``: what the web app
    plans a job with at upload, no network built) is the count on MXNet's graph, odd
    sizes, layers read twice and masked regions included."""
    net = Network.build(
        random_vgg(num_layers), num_layers, style, content, "avg", mx.cpu(), TINY_CHANNELS
    )
    footprint = Footprint(num_layers, style, content, tuple(TINY_CHANNELS))
    for height, width in [(16, 16), (37, 53), (129, 300), (511, 17)]:
        for regions in (0, 3):
            shape = (1, 3, height, width)
            assert footprint.loss_bytes(shape, regions) == graph_bytes(net, shape, regions)


def test_memory_estimate_grows_with_pixels():
    net = tiny_net()
    small, large = net.loss_bytes((1, 3, 64, 64)), net.loss_bytes((1, 3, 128, 128))
    assert 3.5 < large / small < 4.1


@pytest.mark.parametrize("optimizer", ["lbfgs", "sgd", "adam"])
def test_the_plan_respects_the_cap_and_takes_the_largest_tile_that_fits(optimizer):
    net = tiny_net()
    h, w = 600, 900
    whole = memory.predict(net, h, w, None, optimizer, memory.LBFGS_HISTORY)
    least = memory.predict(
        net, h, w, memory.MIN_TILE, "adam" if optimizer == "lbfgs" else optimizer, 0
    )
    assert least.peak < whole.peak
    kinds = set()
    for cap in np.linspace(least.peak, whole.peak * 1.1, 25).astype(int):
        plan = memory.plan_scale(net, h, w, optimizer, int(cap))
        assert plan.peak <= cap
        kinds.add((plan.tile is None, plan.optimizer, plan.history))
        if plan.tile is not None and plan.tiles > 1:  # no larger tile of that kind fits
            larger = memory.predict(net, h, w, plan.tile + 64, plan.optimizer, plan.history)
            assert larger.peak > cap or memory.cost(larger) >= memory.cost(plan)
    assert (True, optimizer, memory.LBFGS_HISTORY if optimizer == "lbfgs" else 0) in kinds
    assert any(not whole for whole, _, _ in kinds)  # tiles below the whole image's need
    if optimizer == "lbfgs":  # fewer pairs, then Adam, as the cap shrinks
        assert {h for _, o, h in kinds if o == "lbfgs"} >= {
            memory.LBFGS_HISTORY,
            memory.LBFGS_FEWEST,
        }
        assert "adam" in {o for _, o, _ in kinds}


def test_a_cap_too_small_for_one_tile_names_the_smallest_cap_that_works():
    net = tiny_net()
    options = Options(max_long_edge=900, max_memory=0.1)
    with pytest.raises(
        NStyleError,
        match=r"--max-memory 0.1 is too small for a 900x600 picture: "
        r"even 128-px tiles need about (\S+) GiB; --max-memory (\S+) would work",
    ) as e:
        plan_memory(net, [(600, 900)], [], options, int(0.1 * GIB), 20 * GIB, mx.cpu())
    works = e.value.suggested["max_memory"]  # the value the line names
    assert e.value.args[0].endswith(f"--max-memory {works:.1f} would work")
    plan_memory(net, [(600, 900)], [], options, int(works * GIB), 20 * GIB, mx.cpu())
    with pytest.raises(NStyleError):
        plan_memory(net, [(600, 900)], [], options, int((works - 0.1) * GIB), 20 * GIB, mx.cpu())


def test_too_little_free_memory_names_a_long_edge_that_fits():
    """Without --max-memory the cap is what is free: the line names a --max-long-edge."""
    net = tiny_net()
    options = Options(max_long_edge=8000, optimizer="sgd")
    h, w = 6000, 8000
    cap = memory.predict(net, h // 2, w // 2, memory.MIN_TILE, "sgd", 0).peak
    with pytest.raises(
        NStyleError,
        match=r"a 8000x6000 picture needs at least .* GiB on cpu\(0\) "
        r".* --max-long-edge (\d+) would fit",
    ) as e:
        plan_memory(net, [(h, w)], [], options, cap, cap, mx.cpu())
    edge = e.value.suggested["max_long_edge"]
    assert e.value.args[0].endswith(f"--max-long-edge {edge} would fit")
    assert 3000 < edge <= 4000
    fit = (round(h * edge / w), edge)
    plan_memory(net, [fit], [], options, cap, cap, mx.cpu())


def test_style_images_count_and_name_a_style_scale():
    net = tiny_net()
    options = Options(max_long_edge=512, style_scale=16.0, optimizer="sgd")
    cap = memory.predict(net, 2048, 2048, memory.MIN_TILE, "sgd", 0).peak
    with pytest.raises(
        NStyleError,
        match=r"style image at --style-scale 16 is 8192x6144 .*"
        r"--style-scale (\S+) would fit",
    ) as e:
        plan_memory(net, [(384, 512)], [(6144, 8192)], options, cap, cap, mx.cpu())
    scale = e.value.suggested["style_scale"]
    assert e.value.args[0].endswith(f"--style-scale {scale:.2g} would fit")
    assert 1 < scale < 16


def test_the_command_line_refuses_a_cap_too_small_in_one_line_before_work(tmp_path):
    out = tmp_path / "out.jpg"
    done = subprocess.run(
        [sys.executable, "run.py", "--model", "vgg16", "--max-long-edge", "2048",
         "--max-memory", "0.2", "--output", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--max-memory 0.2 is too small for a 2048x2048 picture" in lines[0]
    assert "would work" in lines[0] and not out.exists()


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 3000),
    st.integers(1, 3000),
    st.integers(1, 1500) | st.tuples(st.integers(1, 1500), st.integers(1, 1500)),
    st.sampled_from([16, 19]),
    st.sampled_from(["relu1_1", "relu2_1", "relu3_2", "relu4_2", "relu5_1"]),
)
def test_the_layout_counts_exactly_what_the_plan_lists(height, width, tile, layers, deepest):
    """The memory plan counts tiles (``TileLayout``) instead of listing them: the same
    number, interior, margin and largest extent as the ``TilePlan`` that is run."""
    plan = TilePlan.build(height, width, tile, layers, deepest)
    layout = TileLayout.of(height, width, tile, layers, deepest)
    assert layout.tiles == len(plan.tiles)
    assert (layout.tile, layout.margin, layout.stride) == (plan.tile, plan.margin, plan.stride)
    assert layout.largest == max(plan.shapes(), key=lambda s: s[0] * s[1])


def test_a_plan_of_any_size_is_computed_at_once():
    """Counting, not listing: a size far beyond memory is weighed in milliseconds."""
    net = tiny_net()
    began = time.perf_counter()
    for edge in (20_000, 200_000, 44_739_242):
        with pytest.raises(memory.NoFit):
            memory.plan_scale(net, edge * 5 // 7, edge, "lbfgs", int(20 * GIB))
    layout = TileLayout.of(10**30, 10**30, 128, 16, "relu5_1")
    assert layout.tiles > 10**50
    assert time.perf_counter() - began < 5


@pytest.fixture(scope="module")
def vgg_shaped():
    """VGG-19's widths (random weights): the shapes of a real run's plans."""
    return Network.build(
        random_vgg(19, channels=None), 19, model_vgg19.STYLE_LAYERS,
        model_vgg19.CONTENT_LAYERS, "avg", mx.cpu(), None,
    )  # fmt: skip


@pytest.mark.parametrize("optimizer", ["lbfgs", "sgd"])
def test_the_cap_a_refusal_names_is_itself_accepted(vgg_shaped, optimizer):
    """ "--max-memory 0.95 is too small ... 0.9 would work" (issue 31): the smallest tile the
    named cap was computed for was never tried (the tiles shrank past it). At every cap
    that is refused, the cap named works, and a tenth of a GiB less does not."""
    net, refused = vgg_shaped, 0
    for h, w in ((300, 400), (600, 900), (150, 2000)):
        options = Options(max_long_edge=max(h, w), optimizer=optimizer, num_scales=1)
        for cap in np.arange(0.4, 2.0, 0.1):
            try:
                plan_memory(net, [(h, w)], [], options.replace(max_memory=cap), int(cap * GIB),
                            20 * GIB, mx.cpu())  # fmt: skip
            except NStyleError as exc:
                refused += 1
                works = exc.suggested["max_memory"]
                assert str(exc).endswith(f"--max-memory {works:.1f} would work")
                plan_memory(net, [(h, w)], [], options, int(works * GIB), 20 * GIB, mx.cpu())
    assert refused > 10


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_long_edge_a_refusal_names_fits(vgg_shaped, optimizer):
    """Without --max-memory the line names a --max-long-edge: it was the edge at which SGD's
    plan fits, and L-BFGS's leanest plan (Adam, two copies of the image) did not."""
    net, named = vgg_shaped, 0
    for cap in np.arange(0.9, 1.6, 0.1):
        options = Options(max_long_edge=2048, optimizer=optimizer, num_scales=1)
        with pytest.raises(NStyleError) as raised:
            plan_memory(net, [(1536, 2048)], [], options, int(cap * GIB), int(cap * GIB), "cpu")
        edge = raised.value.suggested["max_long_edge"]
        named += 1
        fit, smaller = (round(1536 * edge / 2048), edge), options.replace(max_long_edge=edge)
        plan_memory(net, [fit], [], smaller, int(cap * GIB), int(cap * GIB), "cpu")
    assert named >= 5


def test_the_style_scale_a_refusal_names_fits(vgg_shaped):
    """The style scale named was rounded to two digits, up as often as down: 1.4 named,
    1.37 fitting. Now it is rounded down, and the value named is the value tried."""
    net, named = vgg_shaped, 0
    for edge, scale in ((300, 4.0), (512, 8.0), (1000, 2.0), (1000, 4.0)):
        for cap in np.arange(0.8, 3.6, 0.1):
            options = Options(max_long_edge=edge, optimizer="sgd", num_scales=1, style_scale=scale)
            styles = [(round(edge * scale * 3 / 4), round(edge * scale))]
            try:
                plan_memory(net, [(32, 32)], styles, options, int(cap * GIB), int(cap * GIB), "cpu")
            except NStyleError as exc:
                fits = exc.suggested["style_scale"]
                assert str(exc).endswith(f"--style-scale {fits:g} would fit"), str(exc)
                long_edge = round(edge * fits)
                named += 1
                plan_memory(net, [(32, 32)], [(round(long_edge * 3 / 4), long_edge)],
                            options.replace(style_scale=fits), int(cap * GIB), int(cap * GIB),
                            "cpu")  # fmt: skip
    assert named > 10


def test_two_digits_down():
    assert [memory.two_digits_down(v) for v in (0.0347, 0.29, 4.3, 1.37, 9.99, 123456.0)] == [
        0.034,
        0.29,
        4.3,
        1.3,
        9.9,
        120000.0,
    ]


RETAINED = """
import nstyle, numpy as np
from nstyle.engine import network

def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) * 1024

blocks = [np.ones(8192) for _ in range(3200)]  # 64 KiB each: from malloc's arenas, 200 MiB
pin = np.ones(8192)  # above them: malloc cannot give the freed ones back by itself
del blocks
before = rss()
network.release_freed()
print(before - rss())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_what_a_finished_phase_freed_goes_back_to_the_system():
    """Freed blocks under malloc's mmap threshold stay resident until ``release_freed``
    (MXNet's arrays of a finished scale did: 0.46 GiB on a 700-px photo-to-photo run)."""
    done = subprocess.run([sys.executable, "-c", RETAINED], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) > 150 * 2**20


LARGE_FREED = """
import nstyle, numpy as np
from nstyle.engine import network

def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) * 1024

network.map_large_blocks({pixels})
big = np.ones(20 * 2**20 // 8)  # mapped; glibc's default then maps only blocks above 20 MiB
del big
before = rss()
blocks = [np.ones(4 * 2**20 // 8) for _ in range(8)]  # 32 MiB, as the matting bands' arrays
del blocks
print(rss() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_large_scale_s_freed_blocks_go_back_to_the_system_at_once():
    """At a scale of 512 x 512 pixels or more, freed arrays of a MiB or more leave the
    process at once (glibc's mmap threshold fixed: its default, raised by the first large
    block freed, kept them in malloc's heap, 0.1 GiB of a 700-px photo-to-photo peak); at a
    smaller scale, as by default, the same arrays stay resident (mapping them cost time)."""
    kept = []
    for pixels in (512 * 512, 256 * 256):
        code = LARGE_FREED.format(pixels=pixels)
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        kept.append(int(done.stdout))
    assert kept[0] < 2**20 and kept[1] > 24 * 2**20, kept
