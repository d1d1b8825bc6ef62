"""Pretrained VGG weights' file formats and what they expect: every format maps its keys to
the network's names (``conv1_1_weight``, ...) and carries a preprocessing ``Convention``,
folded into the first convolution (``Convention.fold_first_conv``) so that the network
always takes RGB pixels in 0..255 minus the convention's mean: the optimisation, its
learning rate, clipping and TV weight then mean the same thing whichever weights are in use.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nstyle import spec
from nstyle.errors import NStyleError
from nstyle.errors import framework_reason as reason

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Convention:
    """How a set of weights wants its input.

    The network input is ``(pixels / 255 * value_range - mean) / std``, pixels RGB in
    0..255, then reordered to ``channel_order``. ``mean`` and ``std`` are given in RGB order
    and in the units of ``value_range``.
    """

    name: str
    channel_order: str  # "RGB" or "BGR"
    value_range: float  # 255 for caffe-style weights, 1 for torchvision-style
    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def mean_pixel(self) -> np.ndarray:
        """The mean in RGB 0..255 pixel units: what preprocessing subtracts, shape (3,)."""
        return np.asarray(self.mean, np.float32) * np.float32(255.0 / self.value_range)

    @property
    def pixel_scale(self) -> np.ndarray:
        """Per RGB channel, network input units per pixel unit, shape (3,)."""
        return np.float32(self.value_range / 255.0) / np.asarray(self.std, np.float32)

    def network_input(self, pixels: np.ndarray) -> np.ndarray:
        """Reference: the input these weights were trained on, from RGB pixels (N, 3, H, W)."""
        x = (pixels - self.mean_pixel[:, None, None]) * self.pixel_scale[:, None, None]
        return x[:, ::-1] if self.channel_order == "BGR" else x

    def fold_first_conv(self, weight: np.ndarray) -> np.ndarray:
        """First-layer weights (O, 3, kh, kw) that take mean-subtracted RGB pixels instead."""
        if self.channel_order == "BGR":
            weight = weight[:, ::-1]
        return np.ascontiguousarray(weight * self.pixel_scale[None, :, None, None], np.float32)


CAFFE_RGB = Convention("caffe-rgb", "RGB", 255.0, (123.68, 116.779, 103.939))
CAFFE_BGR = Convention("caffe-bgr", "BGR", 255.0, (123.68, 116.779, 103.939))
TORCH_RGB = Convention("torch-rgb", "RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CONVENTIONS = {c.name: c for c in (CAFFE_RGB, CAFFE_BGR, TORCH_RGB)}

# The marker key this module writes into its own files, naming their convention.
CONVENTION_KEY = "nstyle:convention:"


@dataclass
class Weights:
    """Loaded weights: ``params`` by network name, float32, first layer not yet folded."""

    params: dict[str, np.ndarray]
    convention: Convention
    num_layers: int
    description: str
    path: Path | None = None  # the file they were read from

    @property
    def channels(self) -> list[int]:
        """Per-block widths, read off the weights (VGG's own, or a small test network's)."""
        blocks = len(spec.VGG_SPEC[self.num_layers][0])
        return [self.params[f"conv{b}_1_weight"].shape[0] for b in range(1, blocks + 1)]

    def described(self) -> Weights:
        """These weights without their arrays (``params`` empty): the convention, the
        layers, the description and the file, what a painter needs once its network holds
        the arrays (VGG-16's are 56 MiB of host memory beside the network's copy)."""
        return replace(self, params={})

    def network_params(self, arg_names) -> dict[str, np.ndarray]:
        """The arrays a bound graph needs, with the convention folded into conv1_1."""
        out = {}
        for name in arg_names:
            if name == "data" or not name.startswith("conv"):
                continue
            if name not in self.params:
                raise NStyleError(f"the weights ({self.description}) have no {name}")
            value = self.params[name]
            out[name] = (
                self.convention.fold_first_conv(value) if name == "conv1_1_weight" else value
            )
        return out


def _num_layers_from_convs(count: int, where: str) -> int:
    for num_layers in spec.VGG_SPEC:
        if len(spec.conv_names(num_layers)) == count:
            return num_layers
    raise NStyleError(f"{where}: {count} convolutions is neither VGG-16 (13) nor VGG-19 (16)")


# ---------------------------------------------------------------- key maps, one per format
def from_example_params(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The MXNet example's ``vgg19.params``: ``arg:conv1_1_weight`` -> ``conv1_1_weight``."""
    return {
        k.split(":", 1)[1]: v
        for k, v in raw.items()
        if k.startswith("arg:conv") and k.endswith(("_weight", "_bias"))
    }


def from_gluon_zoo(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Gluon model zoo files: ``features.N.weight`` with N the position in ``features``.

    Gluon's VGG puts a Conv2D and its Activation per convolution and a pooling layer after
    each block, so VGG-19's convolutions sit at 0,2 / 5,7 / 10,12,14,16 / 19,21,23,25 / 28,...
    """
    conv_keys = sorted(
        {
            int(k.split(".")[1])
            for k in raw
            if k.startswith("features.") and k.endswith(".weight") and raw[k].ndim == 4
        }
    )
    num_layers = _num_layers_from_convs(len(conv_keys), "Gluon model zoo file")
    out = {}
    position = 0
    for kind, relu in spec.layer_plan(num_layers):
        if kind == "conv":
            conv = "conv" + relu[len("relu") :]
            out[conv + "_weight"] = raw[f"features.{position}.weight"]
            out[conv + "_bias"] = raw[f"features.{position}.bias"]
            position += 2  # the convolution and its ReLU
        else:
            position += 1
    return out


def from_keras_onnx(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras VGG16 exported to ONNX: ``functional_1/block1_conv1_1/convolution/ReadVariableOp:0``
    holds conv1_1's weight (already OIHW) and ``.../Squeeze:0`` its bias."""
    out = {}
    for key, value in raw.items():
        parts = key.split("/")
        if len(parts) < 3 or not parts[1].startswith("block") or "_conv" not in parts[1]:
            continue
        block, conv = parts[1].split("_")[:2]  # "block1", "conv1"
        name = f"conv{block[len('block') :]}_{conv[len('conv') :]}"
        if parts[2] == "convolution":
            out[name + "_weight"] = value
        elif parts[2].startswith("Squeeze"):
            out[name + "_bias"] = value
    return out


def _read_onnx_initializers(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _read_mxnet_params(path: Path) -> dict[str, np.ndarray]:
    import mxnet as mx

    loaded = mx.nd.load(str(path))
    if not isinstance(loaded, dict):
        raise NStyleError(f"{path}: an MXNet file of unnamed arrays, not a weights file")
    return {k: v.asnumpy() for k, v in loaded.items()}


def read_weights(path: str | os.PathLike) -> Weights:
    """Read a weights file of any supported format and recognise its convention."""
    path = Path(path)
    from nstyle.files import check_readable

    check_readable(path, "weights file")
    try:
        raw = _read_onnx_initializers(path) if path.suffix == ".onnx" else _read_mxnet_params(path)
    except NStyleError:
        raise
    except Exception as exc:  # MXNetError, DecodeError, OSError: all mean "not readable"
        raise NStyleError(f"{path}: not a readable weights file ({reason(exc)})") from None
    marker = [k for k in raw if k.startswith(CONVENTION_KEY)]
    if marker:
        convention = CONVENTIONS[marker[0][len(CONVENTION_KEY) :]]
        params, kind = {k: v for k, v in raw.items() if k not in marker}, "nstyle"
    elif any(k.startswith("arg:conv") for k in raw):
        params, convention, kind = from_example_params(raw), CAFFE_RGB, "MXNet example"
    elif any(k.startswith("features.") for k in raw):
        params, convention, kind = from_gluon_zoo(raw), TORCH_RGB, "Gluon model zoo"
    elif any("/block1_conv1" in k for k in raw):
        params, convention, kind = from_keras_onnx(raw), CAFFE_BGR, "Keras ONNX"
    else:
        raise NStyleError(
            f"{path}: no VGG weights recognised (expected keys like "
            "arg:conv1_1_weight, features.0.weight or Keras block1_conv1)"
        )
    params = {k: np.ascontiguousarray(v, np.float32) for k, v in params.items()}
    convs = sorted({k.rsplit("_", 1)[0] for k in params})
    num_layers = _num_layers_from_convs(len(convs), str(path))
    expected = spec.conv_names(num_layers)
    missing = [f"{c}_{p}" for c in expected for p in ("weight", "bias") if f"{c}_{p}" not in params]
    if missing:
        raise NStyleError(f"{path}: missing {', '.join(missing[:4])}")
    return Weights(params, convention, num_layers, f"{kind} VGG-{num_layers}, {path.name}", path)


def write_weights(path: Path, params: dict[str, np.ndarray], convention: Convention) -> None:
    """Save in this project's format: network names plus a convention marker."""
    import mxnet as mx

    arrays = {k: mx.nd.array(params[k]) for k in sorted(params)}
    arrays[CONVENTION_KEY + convention.name] = mx.nd.zeros((1,))
    mx.nd.save(str(path), arrays)
