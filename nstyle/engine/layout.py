"""How an image is cut into tiles for the network (pure geometry, no MXNet): each layer's stride and
receptive-field margin, tiles whose interiors partition the image on the pooling grid
(``TilePlan``), and their counts and largest extent in constant time (``TileLayout``), for
the memory plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from nstyle.engine.footprint import Footprint
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


def _even(size: int, step: int, stride: int) -> int:
    """The interior length at most ``step`` that splits ``size`` into as few, most nearly
    equal tiles (a multiple of ``stride``): no thin last tile read through a full extent."""
    count = -(-size // step)
    share = -(-size // count)
    return min(step, -(-share // stride) * stride)


def _spans(size: int, step: int, margin: int, stride: int) -> list[tuple[int, int, int, int]]:
    """Interior (start, end) and extent (start, end) along one axis.

    Interiors are ``step`` long (the last one the rest); every extent is ``step + 2
    margin`` long where the image allows, shifted inward at the borders (a wider margin on
    the inner side, still exact), starting on the pooling grid: tiles of one shape share
    one executor and one set of oneDNN's per-shape buffers.
    """
    return [_span(start, size, step, margin, stride) for start in range(0, size, step)]


def _span(start: int, size: int, step: int, margin: int, stride: int) -> tuple[int, int, int, int]:
    """The span of ``_spans`` whose interior begins at ``start``."""
    length = min(size, step + 2 * margin)
    end = min(start + step, size)
    first = max(0, min(start - margin, size - length)) // stride * stride
    return start, end, first, min(size, max(first + length, end + margin))


def _axis(size: int, step: int, margin: int, stride: int) -> tuple[int, int]:
    """(the number of spans, the longest extent) of ``_spans``, without listing them: a
    span whose interior starts at least ``margin`` from both borders has an extent of
    exactly ``step + 2 margin``, so only the few spans near a border are computed."""
    count = -(-size // step)
    near = margin // step + 3  # the spans from here to ``count - near`` are all alike
    indices = (
        range(count) if count <= 2 * near + 1 else [*range(near + 1), *range(count - near, count)]
    )
    longest = max(
        e1 - e0 for _, _, e0, e1 in (_span(i * step, size, step, margin, stride) for i in indices)
    )
    return count, longest


@dataclass(frozen=True)
class TileLayout:
    """What a ``TilePlan`` of the same arguments would be, counted without listing its
    tiles (the memory plan weighs sizes of any magnitude, in constant time): the interior
    ``tile``, the ``margin`` and ``stride``, the number of ``tiles``, and the ``largest``
    extent (the shape of its largest executor)."""

    tile: tuple[int, int]
    margin: int
    stride: int
    tiles: int
    largest: tuple[int, int]

    @classmethod
    def of(
        cls, height: int, width: int, tile: int | tuple[int, int], num_layers: int, deepest: str
    ) -> TileLayout:
        (th, tw), margin, stride = _grid(height, width, tile, num_layers, deepest)
        rows, tallest = _axis(height, th, margin, stride)
        columns, widest = _axis(width, tw, margin, stride)
        return cls((th, tw), margin, stride, rows * columns, (tallest, widest))


def _grid(height: int, width: int, tile: int | tuple[int, int], num_layers: int, deepest: str):
    """((interior height, width), margin, stride) of a plan: the asked ``tile`` rounded
    down to a multiple of the deepest layer's stride (at least one), evened out over the
    image; the margin that layer's receptive field needs, on the stride."""
    stride = layer_strides(num_layers)[deepest]
    margin = -(-layer_margins(num_layers)[deepest] // stride) * stride
    th, tw = (tile, tile) if isinstance(tile, int) else tile
    th, tw = (
        _even(size, max(stride, t // stride * stride), stride)
        for size, t in ((height, th), (width, tw))
    )
    return (th, tw), margin, stride


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
        (th, tw), margin, stride = _grid(height, width, tile, num_layers, deepest)
        tiles = tuple(
            Tile((iy0, iy1, ix0, ix1), (ey0, ey1, ex0, ex1))
            for iy0, iy1, ey0, ey1 in _spans(height, th, margin, stride)
            for ix0, ix1, ex0, ex1 in _spans(width, tw, margin, stride)
        )
        return cls(height, width, (th, tw), margin, stride, tiles)

    def shapes(self) -> set[tuple[int, int]]:
        """The distinct extent shapes: one executor each."""
        return {t.shape for t in self.tiles}


def deepest_layer(net: Footprint) -> str:
    """The deepest layer the network's losses read: it sets the tiles' margin."""
    plan = layer_plan(net.num_layers)
    return max(net.features, key=lambda n: plan.index(("conv", n)))
