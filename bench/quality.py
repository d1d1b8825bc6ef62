"""How good a written picture is: its style and content distances, measured on the file.

    .venv/bin/python -m bench.quality out.jpg --content photo.jpg --style painting.jpg

Prints one JSON line. The network is nstyle's VGG-16 (the Keras ImageNet weights: the only
ImageNet VGG these machines can fetch, and the one the benchmark's objective uses):

- style distance: over the style layers (relu1_1 ... relu5_1), the mean of
  ||G(picture) - G(style)|| / ||G(style)||, each Gram divided by its number of positions so
  that pictures and paintings of different sizes compare;
- content distance: ||F(picture) - F(photo)|| / ||F(photo)|| at relu4_2, the photo resized to
  the picture's size;
- Wasserstein-2 distance (issue 25): over the style layers, the mean of W2(picture,
  painting) / (tr C + |mu|^2 of the painting), W2 the distance between the Gaussians of the
  features' per-position mean and covariance (``nstyle.engine.wasserstein``); 0 for the
  same statistics.

Lower is better on each; "at least as good as a reference" means no higher on the first two.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import mxnet as mx
import numpy as np

from nstyle.engine.terms import Network
from nstyle.engine.wasserstein import Target, w2
from nstyle.media import images
from nstyle.spec import CONTENT_LAYERS, STYLE_LAYERS
from nstyle.weights import Weights, obtain

CONTENT_KEY = f"target_content_{CONTENT_LAYERS[0]}"


class Judge:
    """The measuring network, built once, applied to any number of pictures."""

    def __init__(self, weights: Weights | None = None):
        self.weights = weights or obtain("vgg16")
        self.net = Network.build(
            self.weights.network_params, self.weights.num_layers, STYLE_LAYERS,
            CONTENT_LAYERS, "avg", mx.cpu(), self.weights.channels,
        )  # fmt: skip
        self.mean = self.weights.convention.mean_pixel

    def features(self, picture: np.ndarray) -> dict[str, np.ndarray]:
        """Grams and feature sums per position for the style layers (second moments and
        means), the raw content feature."""
        x = images.preprocess(picture, self.mean)
        positions = self.net.positions(x.shape)
        out = {}
        for key, value in self.net.targets(x).items():
            layer = key.rsplit("_", 2)[-2] + "_" + key.rsplit("_", 1)[-1]
            array = value.asnumpy().astype(np.float64)
            per_position = key.startswith(("target_gram_", "target_sum_"))
            out[key] = array / positions[layer] if per_position else array
        return out

    def against(self, photo: np.ndarray, painting: np.ndarray) -> Reference:
        """The measure for one pair, its features computed once."""
        return Reference(self, photo, self.features(painting))

    def measure(self, picture: np.ndarray, photo: np.ndarray, painting: np.ndarray) -> dict:
        return self.against(photo, painting).measure(picture)


class Reference:
    """One photo and painting: measures any number of pictures against them."""

    def __init__(self, judge: Judge, photo: np.ndarray, style: dict[str, np.ndarray]):
        self.judge, self.photo, self.style = judge, photo, style
        self.content: dict[tuple, np.ndarray] = {}  # the photo's feature per picture shape

    def measure(self, picture: np.ndarray) -> dict:
        mine = self.judge.features(picture)
        shape = picture.shape[:2]
        if shape not in self.content:
            photo = self.judge.features(images.resize_to(self.photo, shape))
            self.content[shape] = photo[CONTENT_KEY]
        grams = [k for k in mine if k.startswith("target_gram_")]
        style_distance = np.mean(
            [np.linalg.norm(mine[k] - self.style[k]) / np.linalg.norm(self.style[k]) for k in grams]
        )
        content = self.content[shape]
        content_distance = np.linalg.norm(mine[CONTENT_KEY] - content) / np.linalg.norm(content)
        return {"style_distance": float(style_distance),
                "content_distance": float(content_distance),
                "w2_distance": w2_distance(mine, self.style)}  # fmt: skip


def w2_distance(mine: dict[str, np.ndarray], style: dict[str, np.ndarray]) -> float:
    """See the module: from ``Judge.features`` of the picture and of the painting."""
    values = []
    for layer in STYLE_LAYERS:
        mean, second = style[f"target_sum_{layer}"].reshape(-1), style[f"target_gram_{layer}"]
        painting = Target.of(mean, second - np.outer(mean, mean), ridge=0)  # exact
        mean_p, second_p = mine[f"target_sum_{layer}"].reshape(-1), mine[f"target_gram_{layer}"]
        value = w2(mean_p, second_p - np.outer(mean_p, mean_p), painting)[0]
        values.append(value / (np.trace(second)))  # tr C + |mu|^2 = tr(second moment)
    return float(np.mean(values))


def at_least_as_good(mine: dict, reference: dict) -> bool:
    """No higher than ``reference`` on either distance."""
    return all(mine[k] <= reference[k] for k in ("style_distance", "content_distance"))


def as_written(picture: np.ndarray) -> np.ndarray:
    """The picture as nstyle writes it to a JPEG file and reads it back."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "picture.jpg"
        images.write_image(path, picture)
        return images.read_image(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("picture", type=Path)
    parser.add_argument("--content", type=Path, required=True, help="the photo")
    parser.add_argument("--style", type=Path, required=True, help="the painting")
    parser.add_argument(
        "--style-size", type=int, default=512, help="the painting's long edge when measured"
    )
    args = parser.parse_args()
    picture = images.read_image(args.picture)
    painting = images.resize_long_edge(images.read_image(args.style), args.style_size)
    print(json.dumps(Judge().measure(picture, images.read_image(args.content), painting)))


if __name__ == "__main__":
    main()
