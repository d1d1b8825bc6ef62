"""Real runs on the real Keras ImageNet VGG-16, at a small size.

"Content recognisable" is judged by the correlation of large-scale luminance (a Gaussian
blur of sigma 2 px at 128 px): a photo painted over keeps where its light and dark
regions lie, while a style texture does not. The result must correlate with the content at
least 0.6 and clearly more than with the style image itself.
"""

from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from skimage.color import rgb2gray
from skimage.filters import gaussian
from skimage.transform import resize

import nstyle
from nstyle import cli
from nstyle.media import images

ROOT = Path(__file__).resolve().parents[1]


def layout(image, shape):
    return gaussian(resize(rgb2gray(image), shape, anti_aliasing=True), sigma=2).ravel()


def correlation(a, b):
    return float(np.corrcoef(layout(a, (96, 96)), layout(b, (96, 96)))[0, 1])


@pytest.fixture(scope="module")
def samples():
    return (
        images.read_image(ROOT / "input" / "content.jpg"),
        images.read_image(ROOT / "input" / "style.jpg"),
    )


def test_stylize_matches_the_style_and_keeps_the_content(samples, vgg16):
    content, style = samples
    seen = []
    # the original's Gram loss (W2's own test: tests/test_w2_objective.py)
    options = nstyle.Options(max_long_edge=128, max_num_epochs=40, stop_eps=0, style_loss="gram")
    result = nstyle.stylize(
        content, style, options, ctx=mx.cpu(), weights=vgg16, callback=seen.append
    )
    assert result.shape == (128, 128, 3) and result.dtype == np.uint8
    assert [it.epoch for it in seen] == list(range(1, 41))
    assert seen[-1].style_loss < 0.3 * seen[0].style_loss  # the Gram distance falls
    assert np.isfinite(seen[-1].content_loss)
    to_content = correlation(result, content)
    to_style = correlation(result, images.resize_long_edge(style, 128))
    assert to_content > 0.6 and to_content > to_style + 0.3, (to_content, to_style)
    # ...and the picture did change towards the style: it is not the photo
    assert np.abs(result.astype(int) - images.resize_long_edge(content, 128)).mean() > 10


@pytest.mark.platform
def test_cli_vgg16_writes_result_and_snapshots(tmp_path, vgg16):
    argv = [
        "--model",
        "vgg16",
        "--content-image",
        str(ROOT / "input" / "content.jpg"),
        "--style-image",
        str(ROOT / "input" / "style.jpg"),
        "--gpu",
        "-1",
        "--output",
        str(tmp_path / "out" / "result.jpg"),
        "--max-long-edge",
        "64",
        "--max-num-epochs",
        "4",
        "--save-epochs",
        "2",
    ]
    assert cli.main(argv) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "result.jpg",
        "tmp_2.jpg",
        "tmp_4.jpg",
    ]
    assert images.read_image(tmp_path / "out" / "result.jpg").shape == (64, 64, 3)
