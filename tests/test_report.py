"""The command line's progress display on a terminal (a progress bar, lines above it)."""

import io
import sys

import mxnet as mx
import numpy as np

from nstyle.api import Iterate
from nstyle.cli.report import Reporter
from nstyle.config import Outputs
from nstyle.engine.stop import Step


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    losses = {"style_relu1_1": 2.0, "content_relu4_2": 3.0}
    image = mx.nd.zeros((1, 3, 16, 16))
    with Reporter(Outputs(print_every=2, save_epochs=2), tmp_path, max_epochs=4) as report:
        assert report._bar is not None
        for epoch in range(1, 5):
            step = Step(epoch, lambda: losses, lambda: 0.01, 1e-3, image)
            report(
                Iterate(
                    epoch,
                    1e-3,
                    0.5 * epoch,
                    image,
                    (1, 1),
                    step,
                    lambda x: np.zeros((16, 16, 3), np.uint8),
                )
            )
    text = screen.getvalue()
    assert "epoch    2  style 2  content 3" in text and "saved" in text
    assert "4/4" in text  # the bar's count
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp_2.jpg", "tmp_4.jpg"]


def test_quiet_shows_no_bar(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    with Reporter(Outputs(quiet=True), tmp_path, max_epochs=4) as report:
        assert report._bar is None
