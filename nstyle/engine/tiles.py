"""The whole image's loss and gradient computed tile by tile, in memory bounded by a tile.

The building block of pictures larger than memory: a ``TilePlan`` splits the image into
tiles whose interiors partition it and whose extents add a margin wide enough for every
used layer's receptive field, aligned with the pooling grid, so that each tile's interior
features are exactly the whole network's. ``TiledLoss`` then computes the objective of
``nstyle.engine.objective.LossExecutor`` in two passes over the tiles: the first accumulates each
style layer's Gram matrix (a sum over positions) and the content terms from the
interiors; the second backpropagates the whole image's dL/dF, masked to each interior, and
adds each tile's input gradient into the whole image's. ``tiled_targets`` computes the
targets (Gram matrices, content features) of an image too large for one executor.

Each tile's graph is the loss graph's with a 0/1 mask per layer on the features: the
Gram matrices (``FullyConnected``) and content sums of squares see the interior only, and
backward with the whole image's Gram gradient as head gradient gives the interior's
dL/dF, all inside one executor (oneDNN), as ``LossExecutor`` does.
"""

from __future__ import annotations

import re

import mxnet as mx
import numpy as np

from nstyle.engine import network
from nstyle.engine.layout import Box, Tile, TilePlan, deepest_layer, layer_strides
from nstyle.engine.objective import (
    TERMS,
    Losses,
    gradient_norms,
    head_weights,
    on_device,
    style_keys,
    w2_count,
    w2_heads,
    w2_terms,
)
from nstyle.engine.terms import GRAM_GRAD_FACTOR, Network, feature_sum, gram


def _masks(net: Network, tile: Tile, strides: dict[str, int], shapes: dict[str, tuple]):
    """Per used layer, a (1, 1, h, w) array: 1 on the tile's interior, 0 on its margin."""
    masks = {}
    for name in net.features:
        mask = np.zeros(shapes[name], np.float32)
        y0, y1, x0, x1 = tile.interior_at(strides[name])
        mask[:, :, y0:y1, x0:x1] = 1
        masks[name] = mask
    return masks


class _TileGraphs:
    """One executor per tile extent shape for a symbol over ``data`` and ``mask_<layer>``
    (plus any other inputs it names), bound once and reused; masks set per tile.

    Always bound with a data gradient, even for forward passes only: bound without any,
    a reused float32 executor's Gram matrices came out wrong (oneDNN's inference
    FullyConnected, whose weight operand is here the features themselves).
    """

    def __init__(self, net: Network, symbol: mx.sym.Symbol, plan: TilePlan):
        self.net, self.symbol = net, symbol
        self.strides = {n: layer_strides(net.num_layers)[n] for n in net.features}
        self.executors: dict[tuple[int, int], mx.executor.Executor] = {}
        self.layer_shapes: dict[tuple[int, int], dict[str, tuple]] = {}
        # The largest extent first: the others share its memory (MXNet's shared_exec), so
        # one executor's results must be read before another runs (the engine does not
        # know they alias).
        self.largest = max(plan.shapes(), key=lambda s: (s[0] * s[1], s))
        self.executor(self.largest)

    def executor(self, shape: tuple[int, int]) -> mx.executor.Executor:
        if shape not in self.executors:
            net, full = self.net, (1, 3, *shape)
            positions = mx.sym.Group(list(net.features.values())).infer_shape(data=full)[1]
            layers = {n: s for n, s in zip(net.features, positions)}
            self.layer_shapes[shape] = {n: (1, 1, *s[2:]) for n, s in layers.items()}
            args = dict(net.params)
            for name in self.symbol.list_arguments():
                if name == "data":
                    args[name] = mx.nd.zeros(full, ctx=net.ctx, dtype=net.dtype)
                elif name.startswith("mask_"):  # mask_<layer>, or a region's mask_r<k>_<layer>
                    layer = re.fullmatch(r"mask_(?:r\d+_)?(.+)", name).group(1)  # type: ignore[union-attr]
                    mask = self.layer_shapes[shape][layer]
                    args[name] = mx.nd.zeros(mask, ctx=net.ctx, dtype=net.dtype)
                elif name.startswith("target_content_"):
                    args[name] = mx.nd.zeros(
                        layers[name[len("target_content_") :]], ctx=net.ctx, dtype=net.dtype
                    )
            grads = {"data": mx.nd.zeros(full, ctx=net.ctx, dtype=net.dtype)}
            self.executors[shape] = network.bind(
                self.symbol,
                net.ctx,
                args,
                grads,
                self.executors.get(self.largest),
            )
        return self.executors[shape]

    def load(self, image: mx.nd.NDArray, tile: Tile) -> mx.executor.Executor:
        """The tile's executor with its pixels and interior masks in place."""
        executor = self.executor(tile.shape)
        executor.arg_dict["data"][:] = _crop(image, tile.extent)
        for name, mask in _masks(
            self.net, tile, self.strides, self.layer_shapes[tile.shape]
        ).items():
            if f"mask_{name}" in executor.arg_dict:
                executor.arg_dict[f"mask_{name}"][:] = mask
        return executor


def _masked(feature: mx.sym.Symbol, mask: mx.sym.Symbol, channels: int) -> mx.sym.Symbol:
    """``feature`` (1, C, h, w) times ``mask`` (1, 1, h, w) as (C, h*w): multiplied after
    the reshape to a plain layout (a broadcast on oneDNN's blocked layout gave wrong
    results in float32)."""
    rows = mx.sym.Reshape(feature, shape=(channels, -1))
    return mx.sym.broadcast_mul(rows, mx.sym.Reshape(mask, shape=(1, -1)))


def _masked_sum(masked: mx.sym.Symbol, mask: mx.sym.Symbol) -> mx.sym.Symbol:
    """The sum over the positions of ``masked`` (``_masked``'s (C, h*w), the Gram matrix's
    own operand: one product, not two), each weighed again by ``mask`` (1, 1, h, w), so by
    its square as the Gram matrix weighs them: (C, 1)."""
    return feature_sum(masked, mx.sym.Reshape(mask, shape=(1, -1)))


def _mask_vars(net: Network) -> dict[str, mx.sym.Symbol]:
    """One mask variable per used layer (a layer read by two losses shares it)."""
    return {n: mx.sym.var(f"mask_{n}") for n in net.features}


def tiled_targets(
    net: Network, image: np.ndarray, tile: int, kinds: tuple[str, ...] = ("gram", "content")
) -> dict[str, mx.nd.NDArray]:
    """``Network.targets`` for an image too large for one executor: each style layer's Gram
    matrix and feature sum summed over the tiles' interiors (``"gram"`` in ``kinds``), each
    content layer's
    features assembled from them (``"content"``), by forward passes only. A style image
    needs only the first, a photo only the second (at 4096 px one content layer's features
    are 0.5 GiB)."""
    shape = tuple(image.shape)
    masks = _mask_vars(net)
    style = net.style_layers if "gram" in kinds else []
    content = net.content_layers if "content" in kinds else []
    masked = [_masked(net.features[n], masks[n], net.channels[n]) for n in style]
    outputs = [gram(rows, net.channels[n]) for rows, n in zip(masked, style)]
    outputs += [_masked_sum(rows, masks[n]) for rows, n in zip(masked, style)]
    outputs += [net.features[n] for n in content]
    plan = TilePlan.build(shape[2], shape[3], tile, net.num_layers, deepest_layer(net.footprint))
    graphs = _TileGraphs(net, mx.sym.Group(outputs), plan)
    data = mx.nd.array(image, ctx=net.ctx, dtype=net.dtype)
    found: dict[str, mx.nd.NDArray] = {}
    positions = mx.sym.Group(list(net.features.values())).infer_shape(data=shape)[1]
    full = dict(zip(net.features, positions))
    for n in content:
        found[f"target_content_{n}"] = mx.nd.zeros(full[n], ctx=net.ctx, dtype=net.dtype)
    for t in plan.tiles:
        mx.nd.waitall()  # the executors share memory (``_TileGraphs``): one at a time
        executor = graphs.load(data, t)
        executor.forward(is_train=True)  # see ``_TileGraphs``
        outs = iter(executor.outputs)
        for kind in ("gram", "sum"):
            for n in style:
                key, value = f"target_{kind}_{n}", next(outs)
                found[key] = value.copy() if key not in found else found[key] + value
        for n in content:
            stride, feature = graphs.strides[n], next(outs)
            gy0, gy1, gx0, gx1 = t.global_interior_at(stride)
            if gy1 > gy0 and gx1 > gx0:  # see ``_paste``
                found[f"target_content_{n}"][:, :, gy0:gy1, gx0:gx1] = _crop(
                    feature, t.interior_at(stride)
                )
    mx.nd.waitall()
    return found


class TiledLoss:
    """``LossExecutor``'s objective and data gradient for a whole image, computed tile by
    tile so that memory is bounded by the largest tile's executor; the same interface
    (``step``, ``grad``, ``snapshot``, ...), so the optimisers take either.

    The weights are ``LossExecutor``'s (``objective.head_weights``): style layer l weighs
    ``style_weight * layer_weight_l / (C_l^2 H_l W_l)`` with the whole image's H_l W_l, each
    content layer ``content_weight / len(content_layers)``. ``regions``, ``style_loss``: as
    ``LossExecutor``'s, each region's guide cropped to each tile's interior. The Gram
    matrices and feature sums are sums over positions: their tiled sums are the whole
    image's, and so is the Wasserstein-2 term computed from them.
    """

    def __init__(
        self,
        net: Network,
        targets: dict[str, mx.nd.NDArray],
        image: mx.nd.NDArray,
        tile: int | tuple[int, int],
        style_weight: float,
        content_weight: float,
        style_layer_weights: dict[str, float] | None = None,
        regions: int = 0,
        style_loss: str = "gram",
    ):
        self.net, self.targets, self.image = net, targets, image
        shape = tuple(image.shape)
        self.plan = TilePlan.build(
            shape[2], shape[3], tile, net.num_layers, deepest_layer(net.footprint)
        )
        weights = head_weights(
            net, shape, style_weight, content_weight, style_layer_weights, style_loss
        )
        # (key, layer) per style term; a region's mask is the interior times its guide
        self.style_keys = style_keys(net, regions, style_loss)  # the W2 terms first
        self.w2_count = count = w2_count(net, self.style_keys, style_loss)
        self.w2 = w2_terms(net, targets, self.style_keys[:count], shape) if count else None
        self.names = [f"style_{key}" for key, _ in self.style_keys]
        self.names += [f"content_{n}" for n in net.content_layers]
        heads = [weights[f"style_{n}"] for _, n in self.style_keys]
        heads += [weights[f"content_{n}"] for n in net.content_layers]
        self.head_weights = np.array(heads, np.float64)
        masks = _mask_vars(net)
        masks.update({key: mx.sym.var(f"mask_{key}") for key, n in self.style_keys if key != n})
        masked = [
            _masked(net.features[n], masks[key], net.channels[n]) for key, n in self.style_keys
        ]
        outputs = [gram(rows, net.channels[n]) for rows, (_, n) in zip(masked, self.style_keys)]
        outputs += [  # the W2 terms': the sums of the Gram matrices' own operands
            _masked_sum(rows, masks[key]) for rows, (key, _) in zip(masked, self.style_keys[:count])
        ]
        for n in net.content_layers:
            diff = _masked(
                mx.sym.var(f"target_content_{n}") - net.features[n], masks[n], net.channels[n]
            )
            outputs.append(mx.sym.reshape(gram(diff, 1), shape=(1,)))
        self.graphs = _TileGraphs(net, mx.sym.Group(outputs), self.plan)
        ctx, dtype = net.ctx, net.dtype
        self.grad = mx.nd.zeros(shape, ctx=ctx, dtype=dtype)
        self._values = mx.nd.zeros((len(self.names),), ctx=ctx, dtype=dtype)
        self._content_heads = [
            on_device([weights[f"content_{n}"] * GRAM_GRAD_FACTOR], ctx, dtype)
            for n in net.content_layers
        ]

    def _load(self, tile: Tile) -> mx.executor.Executor:
        executor = self.graphs.load(self.image, tile)
        for key, n in self.style_keys:  # a region's: its guide on the interior only
            if key != n:
                mask = executor.arg_dict[f"mask_{key}"]
                mask[:] = 0
                _paste(mask, self.targets[f"guide_{key}"], tile, self.graphs.strides[n])
        for n in self.net.content_layers:
            target = executor.arg_dict[f"target_content_{n}"]
            _paste(target, self.targets[f"target_content_{n}"], tile, self.graphs.strides[n])
        return executor

    def step(self, terms: tuple[str, ...] = TERMS) -> None:
        """Forward and backward over all tiles: afterwards ``grad`` holds the gradient of
        the terms whose names start with one of ``terms`` (all by default)."""
        totals = self._pass_one()
        heads, values = self._style_heads(totals, 1.0 if "style_" in terms else 0.0)
        for j, total in enumerate(totals[len(totals) - len(self.net.content_layers) :]):
            values.append(total)
            heads.append(self._content_heads[j] * (1.0 if "content_" in terms else 0.0))
        self._values = mx.nd.concat(*values, dim=0)
        last = self.plan.tiles[-1]
        # Pass 2: each tile's interior driven by the whole image's dL/dF.
        self.grad[:] = 0
        for tile in reversed(self.plan.tiles):
            mx.nd.waitall()
            if tile is last:
                executor = self.graphs.executor(tile.shape)  # pass 1 left it ready
            else:
                executor = self._load(tile)
                executor.forward(is_train=True)
            executor.backward(out_grads=heads)
            y0, y1, x0, x1 = tile.extent
            self.grad[:, :, y0:y1, x0:x1] += executor.grad_dict["data"]

    def _pass_one(self) -> list[mx.nd.NDArray]:
        """Each style term's Gram matrix (and with W2 then each's feature sum) and each
        content layer's sum of squares, over the interiors. The last tile's forward pass
        is kept for pass 2's first backward."""
        totals: list[mx.nd.NDArray] = []
        for tile in self.plan.tiles:
            mx.nd.waitall()  # the executors share memory (``_TileGraphs``): one at a time
            executor = self._load(tile)
            executor.forward(is_train=True)  # see ``tiled_targets``
            if not totals:
                totals = [out.copy() for out in executor.outputs]
            else:
                for total, out in zip(totals, executor.outputs):
                    total += out
        return totals

    def _style_heads(self, totals, on: float):
        """(the head gradients of the style outputs, the style terms' values): the W2 terms'
        (the first ``w2_count``: their Gram matrices' and sums' heads), then the Gram terms'."""
        style, count = len(self.style_keys), self.w2_count
        weights = self.head_weights[:style] * on if on else np.zeros(style)  # inf * 0: NaN
        heads, sums, values = [], [], []
        if self.w2 is not None:
            distances, heads, sums = w2_heads(
                self.w2, totals[:count], totals[style : style + count], weights[:count], self.grad
            )
            values.append(distances)
        # dL/dG = 2h (G - T), symmetric: the head gradient of the Gram output is twice that
        # (``terms.gram``'s one-operand backward).
        for i, (key, _) in enumerate(self.style_keys[count:], start=count):
            residual = totals[i] - self.targets[f"target_gram_{key}"]
            values.append(mx.nd.sum(mx.nd.square(residual)).reshape((1,)))
            heads.append(residual * (2 * GRAM_GRAD_FACTOR * weights[i]))
        return heads + sums, values

    def snapshot(self) -> Losses:
        """This step's losses (see ``LossExecutor.snapshot``)."""
        return Losses(self.names, self._values, self.head_weights)

    def weighted_losses(self) -> dict[str, float]:
        return self.snapshot()()

    def term_gradient_norms(self) -> dict[str, float]:
        """See ``objective.gradient_norms``: one tiled step per weight flag."""
        return gradient_norms(self)


def _crop(array: mx.nd.NDArray, box: Box) -> mx.nd.NDArray:
    """A copy of ``array[:, :, y0:y1, x0:x1]`` (an operator, not a view: an executor's
    output may be in oneDNN's blocked layout, which views refuse)."""
    y0, y1, x0, x1 = box
    return mx.nd.slice(array, begin=(None, None, y0, x0), end=(None, None, y1, x1))


def _paste(tile_array: mx.nd.NDArray, whole: mx.nd.NDArray, tile: Tile, stride: int) -> None:
    """``whole``'s values on ``tile``'s interior at a layer of ``stride`` into the tile's
    array (nothing where the interior has no position at that layer: at the far border of
    an image whose size is not a multiple of the stride)."""
    y0, y1, x0, x1 = tile.interior_at(stride)
    gy0, gy1, gx0, gx1 = tile.global_interior_at(stride)
    if y1 > y0 and x1 > x0:
        tile_array[:, :, y0:y1, x0:x1] = whole[:, :, gy0:gy1, gx0:gx1]
