"""The VGG networks by name: blocks, layers and channels, with no framework imported.

Options, checks and the documentation read these names without loading MXNet; the Gluon
network in ``nstyle.engine.network`` is built from the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

# num_layers: (convolutions per block, channels per block), as in Gluon's model zoo vgg.py.
VGG_SPEC = {
    16: ([2, 2, 3, 3, 3], [64, 128, 256, 512, 512]),
    19: ([2, 2, 4, 4, 4], [64, 128, 256, 512, 512]),
}
MODELS = {"vgg19": 19, "vgg16": 16}  # --model name -> depth
POOLING = ("avg", "max")
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CONTENT_LAYERS = ("relu4_2",)
# Four 2x2 poolings lie between relu1_1 and relu5_1: anything smaller has no relu5_1 pixel.
MIN_EDGE = 16


def layer_plan(num_layers: int) -> list[tuple[str, str]]:
    """The full feature stack in order, as ``(kind, name)`` pairs.

    ``kind`` is ``"conv"`` (a convolution followed by its ReLU, named by the ReLU, e.g.
    ``relu1_1``) or ``"pool"`` (``pool1`` ... ``pool4``; the fifth pooling is never needed).
    """
    if num_layers not in VGG_SPEC:
        raise ValueError(f"num_layers must be one of {sorted(VGG_SPEC)}, got {num_layers}")
    convs_per_block, _ = VGG_SPEC[num_layers]
    plan = []
    for block, count in enumerate(convs_per_block, start=1):
        plan += [("conv", f"relu{block}_{i}") for i in range(1, count + 1)]
        if block < len(convs_per_block):
            plan.append(("pool", f"pool{block}"))
    return plan


def relu_names(num_layers: int) -> list[str]:
    """Every ReLU output of the network, in order (the names a loss may read)."""
    return [name for kind, name in layer_plan(num_layers) if kind == "conv"]


def conv_names(num_layers: int) -> list[str]:
    """Every convolution, in order: ``conv1_1``, ``conv1_2``, ..."""
    return ["conv" + name[len("relu") :] for name in relu_names(num_layers)]


def layer_channels(num_layers: int, channels: Sequence[int] | None = None) -> dict[str, int]:
    """Output channels of each ReLU layer; ``channels`` overrides the per-block widths."""
    convs_per_block, widths = VGG_SPEC[num_layers]
    widths = list(channels) if channels is not None else widths
    if len(widths) != len(convs_per_block):
        raise ValueError(f"channels needs {len(convs_per_block)} block widths, got {len(widths)}")
    return {name: widths[int(name[4]) - 1] for name in relu_names(num_layers)}


def check_layer_names(names: Sequence[str], num_layers: int, what: str) -> None:
    """Fail with the list of valid names when a requested layer does not exist."""
    valid = relu_names(num_layers)
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(
            f"unknown {what} layer(s) {', '.join(unknown)}; VGG-{num_layers} has {', '.join(valid)}"
        )
    if not names:
        raise ValueError(f"at least one {what} layer is needed")
