"""The VGG network of the original example's ``model_vgg19.py``, now in the package.

Kept at the top level for those who import it by this name: the names (``VGG_SPEC``,
``relu_names``, ...) live in ``nstyle.spec``, the Gluon network and its symbol in
``nstyle.engine.network``.
"""

import nstyle  # noqa: F401  (sets MXNet's threads and loads CUDA libraries before MXNet)
from nstyle.engine.network import VGGFeatures, bind, get_symbol
from nstyle.spec import (
    CONTENT_LAYERS,
    POOLING,
    STYLE_LAYERS,
    VGG_SPEC,
    check_layer_names,
    conv_names,
    layer_channels,
    layer_plan,
    relu_names,
)

__all__ = [
    "CONTENT_LAYERS",
    "POOLING",
    "STYLE_LAYERS",
    "VGG_SPEC",
    "VGGFeatures",
    "bind",
    "check_layer_names",
    "conv_names",
    "get_symbol",
    "layer_channels",
    "layer_plan",
    "relu_names",
]
