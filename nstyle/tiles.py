"""The whole image's loss and gradient computed tile by tile, in memory bounded by a tile.

The building block of pictures larger than memory: a ``TilePlan`` splits the image into
tiles whose interiors partition it and whose extents add a margin wide enough for every
used layer's receptive field, aligned with the pooling grid, so that each tile's interior
features are exactly the whole network's. ``TiledLoss`` then computes the objective of
``nstyle.losses.LossExecutor`` in two passes over the tiles: the first accumulates each
style layer's Gram matrix (a sum over positions) and the content terms from the
interiors; the second backpropagates the whole image's dL/dF, masked to each interior, and
adds each tile's input gradient into the whole image's.
"""

from __future__ import annotations

from dataclasses import dataclass

import mxnet as mx

from nstyle import model
from nstyle.losses import GRAM_GRAD_FACTOR, Network, head_weights
from nstyle.spec import layer_plan

Box = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open


def layer_strides(num_layers: int) -> dict[str, int]:
    """Each ReLU layer's stride in image pixels: 2 ** (the poolings before it)."""
    strides, stride = {}, 1
    for kind, name in layer_plan(num_layers):
        if kind == "pool":
            stride *= 2
        else:
            strides[name] = stride
    return strides


def layer_margins(num_layers: int) -> dict[str, int]:
    """For each ReLU layer, how far (image pixels) a tile edge that is not the image's
    border corrupts its features: the receptive-field radius on a pooling-aligned tile.

    Each 3x3 convolution (padding 1) widens the corrupt band by one position of its layer;
    a 2x2 stride-2 pooling whose grid starts on the tile edge keeps an output only when both
    of its inputs are exact, so the band becomes ceil(band / 2) positions of the next layer.
    """
    margins, band, stride = {}, 0, 1
    for kind, name in layer_plan(num_layers):
        if kind == "pool":
            band, stride = -(-band // 2), stride * 2
        else:
            band += 1
            margins[name] = band * stride
    return margins


@dataclass(frozen=True)
class Tile:
    """One tile: ``interior`` (the pixels it is responsible for) inside ``extent`` (the
    pixels it reads), both in image pixels."""

    interior: Box
    extent: Box

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the extent: the shape the tile's executor is bound to."""
        y0, y1, x0, x1 = self.extent
        return y1 - y0, x1 - x0

    def interior_at(self, stride: int) -> Box:
        """The interior at a layer of this ``stride``, in that layer's positions relative to
        the tile's own feature map (empty when the layer has no position there).

        Offsets are multiples of the stride, so dividing is exact; at the image's far border
        the floor matches the network's floor of odd sizes at each pooling.
        """
        (iy0, iy1, ix0, ix1), (ey0, _, ex0, _) = self.interior, self.extent
        return (
            iy0 // stride - ey0 // stride,
            iy1 // stride - ey0 // stride,
            ix0 // stride - ex0 // stride,
            ix1 // stride - ex0 // stride,
        )

    def global_interior_at(self, stride: int) -> Box:
        """The interior at a layer of this ``stride``, in the whole image's positions."""
        iy0, iy1, ix0, ix1 = self.interior
        return iy0 // stride, iy1 // stride, ix0 // stride, ix1 // stride


def _spans(size: int, step: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Interior (start, end) and extent (start, end) along one axis."""
    return [
        (start, min(start + step, size), max(0, start - margin), min(size, start + step + margin))
        for start in range(0, size, step)
    ]


@dataclass(frozen=True)
class TilePlan:
    """How an image of ``height`` x ``width`` is cut for a network read up to ``deepest``.

    ``tile`` (the interior size) and ``margin`` are multiples of ``stride``, the deepest
    layer's pooling stride, so every tile's pooling grid is the whole image's; the margin
    covers the deepest (hence every shallower) layer's receptive field and is clipped at the
    image's border, where the network's own zero padding applies as in the untiled graph.
    """

    height: int
    width: int
    tile: tuple[int, int]
    margin: int
    stride: int
    tiles: tuple[Tile, ...]

    @classmethod
    def build(
        cls, height: int, width: int, tile: int | tuple[int, int], num_layers: int, deepest: str
    ) -> TilePlan:
        """Plan tiles of (at most) ``tile`` interior pixels, rounded down to a multiple of
        the stride (at least one stride)."""
        stride = layer_strides(num_layers)[deepest]
        margin = -(-layer_margins(num_layers)[deepest] // stride) * stride
        th, tw = (tile, tile) if isinstance(tile, int) else tile
        th, tw = (max(stride, t // stride * stride) for t in (th, tw))
        tiles = tuple(
            Tile((iy0, iy1, ix0, ix1), (ey0, ey1, ex0, ex1))
            for iy0, iy1, ey0, ey1 in _spans(height, th, margin)
            for ix0, ix1, ex0, ex1 in _spans(width, tw, margin)
        )
        return cls(height, width, (th, tw), margin, stride, tiles)

    def shapes(self) -> set[tuple[int, int]]:
        """The distinct extent shapes: one executor each."""
        return {t.shape for t in self.tiles}


def _empty(box: Box) -> bool:
    return box[1] <= box[0] or box[3] <= box[2]


def _crop(array: mx.nd.NDArray, box: Box) -> mx.nd.NDArray:
    y0, y1, x0, x1 = box
    return array[:, :, y0:y1, x0:x1]


class TiledLoss:
    """``LossExecutor``'s objective and data gradient for a whole image, computed tile by
    tile so that memory is bounded by the largest tile's executor.

    The weights are ``LossExecutor``'s (``losses.head_weights``): style layer l weighs
    ``style_weight * layer_weight_l / (C_l^2 H_l W_l)`` with the whole image's H_l W_l, each
    content layer ``content_weight / len(content_layers)``.
    """

    def __init__(
        self,
        net: Network,
        targets: dict[str, mx.nd.NDArray],
        shape: tuple[int, int, int, int],
        tile: int | tuple[int, int],
        style_weight: float,
        content_weight: float,
        style_layer_weights: dict[str, float] | None = None,
    ):
        self.net, self.targets, self.shape = net, targets, tuple(shape)
        self.layers = list(net.features)  # every used layer, in the symbol's output order
        strides = layer_strides(net.num_layers)
        self.strides = {n: strides[n] for n in self.layers}
        deepest = max(self.layers, key=lambda n: layer_plan(net.num_layers).index(("conv", n)))
        self.plan = TilePlan.build(shape[2], shape[3], tile, net.num_layers, deepest)
        weights = head_weights(net, self.shape, style_weight, content_weight, style_layer_weights)
        self.style_heads = {n: weights[f"style_{n}"] for n in net.style_layers}
        self.content_heads = {n: weights[f"content_{n}"] for n in net.content_layers}
        self._symbol = mx.sym.Group([net.features[n] for n in self.layers])
        self._executors: dict[tuple[int, int], mx.executor.Executor] = {}

    def _executor(self, shape: tuple[int, int]) -> mx.executor.Executor:
        """The feature executor for tiles of this extent shape, bound once and reused."""
        if shape not in self._executors:
            full = (1, self.shape[1], *shape)
            ctx, dtype = self.net.ctx, self.net.dtype
            data = mx.nd.zeros(full, ctx=ctx, dtype=dtype)
            grad = mx.nd.zeros(full, ctx=ctx, dtype=dtype)
            self._executors[shape] = model.bind(
                self._symbol, ctx, dict(self.net.params, data=data), grad_arrays={"data": grad}
            )
        return self._executors[shape]

    def _forward(self, image: mx.nd.NDArray, tile: Tile, is_train: bool) -> mx.executor.Executor:
        executor = self._executor(tile.shape)
        executor.arg_dict["data"][:] = _crop(image, tile.extent)
        executor.forward(is_train=is_train)
        return executor

    def value_and_gradient(self, image) -> tuple[float, mx.nd.NDArray]:
        """The whole image's objective and its gradient for ``image`` (1, 3, H, W), a numpy
        array or an NDArray: two passes over the tiles (Gram matrices, then backward)."""
        if tuple(image.shape) != self.shape:
            raise ValueError(f"image shape {tuple(image.shape)} is not the plan's {self.shape}")
        net, ctx, dtype = self.net, self.net.ctx, self.net.dtype
        image = mx.nd.array(image, ctx=ctx, dtype=dtype)
        value = mx.nd.zeros((1,), ctx=ctx, dtype=dtype)
        grams = {
            n: mx.nd.zeros((net.channels[n],) * 2, ctx=ctx, dtype=dtype) for n in self.style_heads
        }
        # Pass 1: the Gram matrices from the interiors, and the content terms.
        for tile in self.plan.tiles:
            executor = self._forward(image, tile, is_train=False)
            for name, out in zip(self.layers, executor.outputs):
                box = tile.interior_at(self.strides[name])
                if _empty(box):
                    continue
                feature = _crop(out, box)
                if name in grams:
                    x = feature.reshape((net.channels[name], -1))
                    grams[name] += mx.nd.dot(x, x, transpose_b=True)
                if name in self.content_heads:
                    diff = feature - self._photo(name, tile)
                    value += self.content_heads[name] * mx.nd.sum(mx.nd.square(diff))
        # dL/dF = coefficient . F for a Gram loss h ||G - T||^2: (D + D^T) F, D = 2h (G - T).
        coefficients = {}
        for name, g in grams.items():
            residual = g - self.targets[f"target_gram_{name}"]
            value += self.style_heads[name] * mx.nd.sum(mx.nd.square(residual))
            coefficients[name] = (2 * GRAM_GRAD_FACTOR * self.style_heads[name]) * residual
        # Pass 2: each tile's interior driven by the whole image's dL/dF.
        gradient = mx.nd.zeros(self.shape, ctx=ctx, dtype=dtype)
        for tile in self.plan.tiles:
            executor = self._forward(image, tile, is_train=True)
            heads = []
            for name, out in zip(self.layers, executor.outputs):
                head = mx.nd.zeros(out.shape, ctx=ctx, dtype=dtype)
                box = tile.interior_at(self.strides[name])
                if not _empty(box):
                    feature = _crop(out, box)
                    d = mx.nd.zeros(feature.shape, ctx=ctx, dtype=dtype)
                    if name in coefficients:
                        x = feature.reshape((net.channels[name], -1))
                        d += mx.nd.dot(coefficients[name], x).reshape(feature.shape)
                    if name in self.content_heads:
                        d += 2 * self.content_heads[name] * (feature - self._photo(name, tile))
                    y0, y1, x0, x1 = box
                    head[:, :, y0:y1, x0:x1] = d
                heads.append(head)
            executor.backward(out_grads=heads)
            y0, y1, x0, x1 = tile.extent
            gradient[:, :, y0:y1, x0:x1] += executor.grad_dict["data"]
        return float(value.asscalar()), gradient

    def _photo(self, name: str, tile: Tile) -> mx.nd.NDArray:
        """The photo's features at ``name`` over the tile's interior."""
        box = tile.global_interior_at(self.strides[name])
        return _crop(self.targets[f"target_content_{name}"], box)
