"""Host copies a run no longer needs are not kept through the painting (issue 33's memory at
700 px, docs/BENCHMARKS.md "Photo to photo"): the weights' arrays once the network holds
them."""

import gc
import weakref

import numpy as np

from nstyle import api, cli
from nstyle.config import Options
from nstyle.engine import painter as painter_module
from nstyle.media import images
from tests.conftest import make_rgb


def test_a_painter_keeps_no_host_copy_of_the_weights_it_was_given(tiny_weights_file):
    weights = api.load_weights(Options(weights=str(tiny_weights_file)))
    array = weakref.ref(weights.params["conv3_1_weight"])
    options = Options(max_long_edge=32, max_num_epochs=2, num_scales=1)
    painter = api.Painter(make_rgb()[::-1], options, weights=weights)
    del weights
    gc.collect()
    assert array() is None  # only the network's copy is left
    assert painter.weights.params == {}
    assert painter.paint(make_rgb()).image.shape == (23, 32, 3)


def test_the_command_line_drops_the_weights_host_copy_before_painting(
    tmp_path, tiny_weights_file, monkeypatch
):
    loaded, alive = [], []
    load = api.load_weights

    def spy_load(*args, **kwargs):
        weights = load(*args, **kwargs)
        loaded.append(weakref.ref(weights.params["conv3_1_weight"]))
        return weights

    paint = painter_module.Painter.paint

    def spy_paint(self, *args, **kwargs):
        gc.collect()
        alive.append(loaded[0]() is not None)
        return paint(self, *args, **kwargs)

    monkeypatch.setattr(api, "load_weights", spy_load)
    monkeypatch.setattr(painter_module.Painter, "paint", spy_paint)
    content = images.write_image(tmp_path / "content.png", make_rgb())
    style = images.write_image(tmp_path / "style.png", make_rgb()[::-1].copy())
    output = tmp_path / "out" / "out.png"
    argv = ["--content-image", str(content), "--style-image", str(style), "--output", str(output)]
    argv += ["--weights", str(tiny_weights_file), "--gpu", "-1", "--max-long-edge", "32"]
    argv += ["--max-num-epochs", "2", "--num-scales", "1", "--save-epochs", "0"]
    assert cli.main(argv) == 0
    assert alive == [False]
    assert np.asarray(images.read_image(output)).shape[:2] == (23, 32)
