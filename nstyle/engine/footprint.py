"""What the memory plan needs of the loss network: its layers, their widths and the size of
its executor, from the model's table (``nstyle.spec``) alone, with no weights and no MXNet.

The plan (``nstyle.engine.plan``) is made from a ``Footprint``, so the web app can plan a
job at upload, in its request thread, without touching the worker's network or executors;
the painter plans from its network's own footprint (``Network.footprint``), the same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nstyle.spec import layer_channels, layer_plan


@dataclass(frozen=True)
class Footprint:
    """A VGG of ``num_layers`` reading ``style_layers`` and ``content_layers``, with
    ``channels`` (per-block widths: a small test network's; None: VGG's own), in
    ``itemsize``-byte numbers."""

    num_layers: int
    style_layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    widths: tuple[int, ...] | None = None
    itemsize: int = 4
    channels: dict[str, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", layer_channels(self.num_layers, self.widths))

    @classmethod
    def of(cls, options, num_layers: int, widths: Sequence[int] | None = None) -> Footprint:
        """The footprint of ``options``' layers on a VGG of ``num_layers``."""
        return cls(
            num_layers,
            tuple(options.style_layers),
            tuple(options.content_layers),
            None if widths is None else tuple(widths),
        )

    @property
    def features(self) -> tuple[str, ...]:
        """The layers the losses read, each once (as ``Network.features``' keys)."""
        return tuple(dict.fromkeys(self.style_layers + self.content_layers))

    def layer_shapes(self, height: int, width: int) -> dict[str, tuple[int, int]]:
        """(h, w) of every layer up to the deepest read, for an input of ``height`` x
        ``width``: 3x3 convolutions padded by 1 keep the size, 2x2 poolings of stride 2
        halve it, rounded down (MXNet's "valid" convention)."""
        plan = layer_plan(self.num_layers)
        deepest = max(plan.index(("conv", name)) for name in self.features)
        shapes = {}
        for kind, name in plan[: deepest + 1]:
            if kind == "pool":
                height, width = height // 2, width // 2
            shapes[name] = (height, width)
        return shapes

    def loss_bytes(self, shape: Sequence[int], regions: int = 0) -> int:
        """Estimated memory of the loss executor for an image of ``shape`` (1, 3, H, W), in
        bytes: 1.5 times the outputs of every node of the graph (the input; each
        convolution, its ReLU, each pooling; each style layer's reshape, its blocked copy
        and Gram matrix), plus the weights and Gram targets; an upper bound (MXNet's memory
        planner reuses the backward buffers; the margin covers cuDNN's workspaces on a GPU).
        Calibration: docs/BENCHMARKS.md. ``regions``: per region, each style layer's guided
        features and their gradient besides (``terms.region_rows``), and its targets; an
        upper bound there too (VGG-16 at 700x465 with five regions: 3.0 GiB here, MXNet's
        plan 0.9 GiB for a segmentation's, 2.0 for five each covering the whole picture)."""
        shapes = self.layer_shapes(int(shape[2]), int(shape[3]))
        nodes, weights, previous = 3 * int(shape[2]) * int(shape[3]), 0, 3
        for name, (h, w) in shapes.items():
            if name.startswith("pool"):
                nodes += previous * h * w
                continue
            width = self.channels[name]
            nodes += 2 * width * h * w  # the convolution and its ReLU
            weights += width * previous * 9 + width
            previous = width
        read = tuple(dict.fromkeys(self.style_layers))  # each style layer's targets once
        styled = [self.channels[n] * shapes[n][0] * shapes[n][1] for n in read]
        for name in self.style_layers:  # each Gram's reshape, its blocked copy, the matrix
            size = self.channels[name] * shapes[name][0] * shapes[name][1]
            nodes += 2 * size + self.channels[name] ** 2
        grams = sum(self.channels[n] ** 2 for n in read)
        guided = regions * sum(2 * size for size in styled)
        item = self.itemsize
        return item * (3 * nodes // 2 + weights + guided) + max(1, regions) * item * grams
