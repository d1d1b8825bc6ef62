"""The loss graphs and their executors (docs/METHOD.md, "The graph").

Each loss is a small builder returning its symbol; the gradient scale of each loss is a
fixed head gradient passed to ``backward``, as in the original MXNet example:

* style layer l: ``sum((target_gram_l - gram_l)^2)`` with head gradient
  ``style_weight * layer_weight_l / (C_l^2 * H_l * W_l)``;
* content layer: ``sum((target_content - F)^2)`` with head gradient ``content_weight``;
* total variation: not a loss output but a gradient, the image convolved with a Laplacian.

The image array is bound directly as the executors' ``data``: the optimiser updates it
in place and the next forward reads it, with no copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from nstyle.engine import network
from nstyle.engine.footprint import Footprint
from nstyle.spec import layer_channels


def gram(feature: mx.sym.Symbol, channels: int) -> mx.sym.Symbol:
    """Gram matrix x . x^T of a (1, C, H, W) feature, by FullyConnected: (C, C).

    The gradient flows through the data operand only: for a loss whose gradient D with
    respect to the Gram is symmetric (every loss here), the true gradient (D + D^T) x is
    2 D x, so the caller doubles the head gradient (``GRAM_GRAD_FACTOR``) instead of paying
    for a second matrix product and the sum of the two (docs/BENCHMARKS.md, "What made it
    fast").
    """
    x = mx.sym.Reshape(feature, shape=(channels, -1))  # (C, H*W)
    return mx.sym.FullyConnected(
        data=x, weight=mx.sym.BlockGrad(x), no_bias=True, num_hidden=channels
    )


GRAM_GRAD_FACTOR = 2.0  # see ``gram``
# The Wasserstein-2 term's scale: style layer l weighs ``style_weight * layer_weight_l *
# W2_SCALE / C_l``, chosen so that the default weights give a balanced picture with either
# loss: the W2 pictures as far from the photo as the Gram pictures (content distance, on
# three pairs; docs/BENCHMARKS.md, "Wasserstein-2").
W2_SCALE = 7e3


def feature_sum(rows: mx.sym.Symbol, weight: mx.sym.Symbol | None = None) -> mx.sym.Symbol:
    """The sum over positions of ``rows`` (C, n) as (C, 1), each position weighted by
    ``weight`` (1, n) if given: a ``FullyConnected`` (oneDNN's matrix-vector product) where
    ``sum`` would run MXNet's single-threaded reduction. No gradient reaches ``weight``."""
    if weight is None:
        weight = mx.sym.ones_like(mx.sym.slice_axis(rows, axis=0, begin=0, end=1))
    return mx.sym.FullyConnected(data=rows, weight=mx.sym.BlockGrad(weight), no_bias=True,
                                 num_hidden=1)  # fmt: skip


def statistics(feature: mx.sym.Symbol, channels: int, region=None):
    """[Gram matrix, feature sum] of a (1, C, H, W) feature over its positions, for the
    Wasserstein-2 term (``nstyle.engine.wasserstein.W2Terms``); with a ``region`` (its
    gathered positions and squared guide, from ``region_rows``), over those, both weighing
    each position by the squared guide (``guided_gram``)."""
    if region is None:
        rows = mx.sym.Reshape(feature, shape=(channels, -1))
        return [gram(feature, channels), feature_sum(rows)]
    rows, squared = region
    return [guided_gram(rows, squared, channels), feature_sum(rows, squared)]


def feature_rows(feature: mx.sym.Symbol, channels: int, region=None):
    """The (C, n) features whose statistics ``statistics`` takes (a ``region``'s gathered
    positions, ``region_rows``), as an output without gradient: the host's low-rank W2 path
    (``nstyle.engine.wasserstein.w2_factor``)."""
    if region is None:
        return mx.sym.BlockGrad(mx.sym.Reshape(feature, shape=(channels, -1)))
    return mx.sym.BlockGrad(region[0])


def style_loss(feature: mx.sym.Symbol, channels: int, name: str) -> mx.sym.Symbol:
    """``sum((target - gram)^2)``; the target is the variable ``target_gram_<name>``."""
    target = mx.sym.var(f"target_gram_{name}")
    return mx.sym.sum(mx.sym.square(target - gram(feature, channels)))


def guided_style_loss(region, channels: int, key: str) -> mx.sym.Symbol:
    """``sum((target - gram(F * guide))^2)`` for one region (``nstyle.engine.guides``) over
    its positions only: ``region`` is its gathered features and squared guide
    (``region_rows``), the target the variable ``target_gram_<key>``; ``key`` =
    r<k>_<layer>. Gathering the region's positions first makes the regions together cost
    about one Gram matrix, not one each."""
    rows, squared = region
    target = mx.sym.var(f"target_gram_{key}")
    return mx.sym.sum(mx.sym.square(target - guided_gram(rows, squared, channels)))


def region_rows(feature: mx.sym.Symbol, channels: int, layer: str, keys, sizes, positions: int):
    """Each region's positions of one style layer's ``feature`` (C, n_k) and its squared
    guide there (1, n_k) (``guide_<key>``), for the regions ``keys`` of ``sizes`` positions
    on a layer of ``positions`` (``compact_guides``; ``index_<layer>`` holds each region's
    positions in turn).

    Where it pays, one gather of all the regions' positions split per region: its backward
    holds one gradient of the layer (the gather's scatter of the regions' parts,
    concatenated by the split's backward), where a gather per region holds one full copy
    of the layer's gradient per region until MXNet sums them (``add_n``). The split costs
    a copy of the gathered features and of their gradient, so it pays only where the
    regions' positions number less than the layer's times one fewer than the regions
    (regions that overlap little, as a segmentation's, from three regions on): MXNet's
    plan at 700x465 with five regions 904 MB against 1065 (three: 880 against 910; two:
    852 against 836; five regions covering the whole picture each: 2536 against 2060);
    docs/BENCHMARKS.md, "Photo to photo"."""
    rows = mx.sym.Reshape(feature, shape=(channels, -1))
    index = mx.sym.var(f"index_{layer}")
    ends = np.cumsum(sizes).tolist()
    if len(keys) == 1:
        parts = [mx.sym.take(rows, index, axis=1)]
    elif ends[-1] < (len(keys) - 1) * positions:
        split = mx.sym.split_v2(mx.sym.take(rows, index, axis=1), tuple(ends[:-1]), axis=1)
        parts = [split[k] for k in range(len(keys))]
    else:
        bounds = zip([0, *ends[:-1]], ends)
        parts = [mx.sym.take(rows, mx.sym.slice_axis(index, 0, a, b), axis=1) for a, b in bounds]
    return [(part, mx.sym.var(f"guide_{key}")) for part, key in zip(parts, keys)]


def guided_gram(rows: mx.sym.Symbol, squared: mx.sym.Symbol, channels: int) -> mx.sym.Symbol:
    """``sum_p g_p^2 f_p f_p^T`` of a region's gathered ``rows`` (C, n) and its ``squared``
    guide (1, n): ``gram``'s product with the guide in its gradient-free operand only,
    ``rows . (rows * g^2)^T``; the gradient through ``rows`` is ``D rows g^2``, half the
    true one as ``gram``'s (``GRAM_GRAD_FACTOR``). The product ``rows * g`` that both
    operands took before held two more copies of the region's features (the product and
    the guide repeated over the channels, as a broadcast's backward was ten times the
    forward's cost), and its gradient a third: 0.14 GiB at bind and 0.13 GiB of the peak on
    a 700-px photo to photo of five regions (docs/BENCHMARKS.md, "Photo to photo"). This
    broadcast has no backward."""
    weighted = mx.sym.BlockGrad(mx.sym.broadcast_mul(rows, squared))
    return mx.sym.FullyConnected(data=rows, weight=weighted, no_bias=True, num_hidden=channels)


def compact_guides(
    targets: dict[str, mx.nd.NDArray], keys: Sequence[tuple[str, str]]
) -> dict[str, mx.nd.NDArray]:
    """The regions' guides (1, 1, h, w) in ``targets`` as ``region_rows`` takes them, for
    the region ``keys`` (key, layer): on each layer the positions where each region's guide
    is above 0, the regions' in turn (``index_<layer>``), and each region's squared guide
    there (1, n) (``guide_<key>``, whose width is the region's count of positions)."""
    found, positions = {}, dict[str, list[np.ndarray]]()
    for key, layer in keys:
        guide = targets[f"guide_{key}"]
        values = guide.asnumpy().reshape(-1)
        where = np.flatnonzero(values > 0)
        if where.size == 0:  # the region has no position on this layer (its guide pooled
            # away at an odd border): one position weighted 0, a term of 0 (MXNet takes no
            # empty gather)
            where = np.zeros(1, np.int64)
        positions.setdefault(layer, []).append(where)
        squared = np.square(values[where])[None]
        found[f"guide_{key}"] = mx.nd.array(squared, ctx=guide.context, dtype=guide.dtype)
    ctx = next(iter(found.values())).context if found else None
    for layer, wheres in positions.items():
        found[f"index_{layer}"] = mx.nd.array(np.concatenate(wheres), ctx=ctx, dtype="int32")
    return found


def guided(feature: mx.sym.Symbol, guide: mx.sym.Symbol, channels: int) -> mx.sym.Symbol:
    """``feature`` (1, C, h, w) times ``guide`` (1, 1, h, w), as (C, h*w): multiplied after
    the reshape to a plain layout (a broadcast on oneDNN's blocked layout gave wrong results
    in float32, ``nstyle.engine.tiles``)."""
    rows = mx.sym.Reshape(feature, shape=(channels, -1))
    return mx.sym.broadcast_mul(rows, mx.sym.Reshape(guide, shape=(1, -1)))


def content_loss(feature: mx.sym.Symbol, name: str) -> mx.sym.Symbol:
    """``sum((target - F)^2)``; the target is the variable ``target_content_<name>``.

    The sum of squares is the 1x1 Gram of the difference (its gradient doubled by the
    caller, ``GRAM_GRAD_FACTOR``): oneDNN's inner product, where ``sum(square(.))`` runs
    MXNet's single-threaded reduction (docs/BENCHMARKS.md, "What made it fast").
    """
    target = mx.sym.var(f"target_content_{name}")
    return mx.sym.reshape(gram(target - feature, 1), shape=(1,))


@dataclass
class Network:
    """The VGG feature symbols plus the weights bound to them (shared by every executor)."""

    num_layers: int
    style_layers: tuple[str, ...]
    content_layers: tuple[str, ...]
    features: dict[str, mx.sym.Symbol]
    channels: dict[str, int]
    params: dict[str, mx.nd.NDArray]
    ctx: mx.Context
    dtype: str = "float32"

    @classmethod
    def build(
        cls,
        weights_params,
        num_layers,
        style_layers,
        content_layers,
        pooling,
        ctx,
        channels=None,
        dtype="float32",
    ) -> Network:
        """``weights_params`` maps parameter names to numpy arrays, already folded
        (``Weights.network_params``), or is a callable taking the argument names.
        ``channels`` gives per-block widths other than VGG's (``Weights.channels``);
        ``dtype`` float64 serves the finite-difference tests."""
        outputs = tuple(dict.fromkeys(tuple(style_layers) + tuple(content_layers)))
        features = network.get_symbol(num_layers, outputs, pooling, channels)
        arg_names = [
            n for n in mx.sym.Group(list(features.values())).list_arguments() if n != "data"
        ]
        if callable(weights_params):
            weights_params = weights_params(arg_names)
        params = {n: mx.nd.array(weights_params[n], ctx=ctx, dtype=dtype) for n in arg_names}
        return cls(
            num_layers,
            tuple(style_layers),
            tuple(content_layers),
            features,
            layer_channels(num_layers, channels),
            params,
            ctx,
            dtype,
        )

    def targets(
        self, image: np.ndarray, guides: dict[str, mx.nd.NDArray] | None = None
    ) -> dict[str, mx.nd.NDArray]:
        """Run the Gram/content executor once on ``image`` (1, 3, H, W).

        Returns ``target_gram_<layer>`` (C, C), ``target_sum_<layer>`` (C, 1) (the features'
        sum, for the Wasserstein-2 term) and ``target_content_<layer>`` (1, C, h, w).
        ``guides``: each style layer's guide (1, 1, h, w): the statistics of the guided
        features (a painting's statistics taken from part of it), each position weighed by
        the squared guide.
        """
        guides = guides or {}
        outputs = {}
        for n in self.style_layers:
            rows = mx.sym.Reshape(self.features[n], shape=(self.channels[n], -1))
            weight = None
            if n in guides:
                guide = mx.sym.var(f"guide_{n}")  # one variable node used twice
                weight = mx.sym.Reshape(guide, shape=(1, -1))
                rows = guided(self.features[n], guide, self.channels[n])
            outputs[f"target_gram_{n}"] = gram(rows, self.channels[n])
            outputs[f"target_sum_{n}"] = feature_sum(rows, weight)
        outputs.update({f"target_content_{n}": self.features[n] for n in self.content_layers})
        symbol = mx.sym.Group(list(outputs.values()))
        data = mx.nd.array(image, ctx=self.ctx, dtype=self.dtype)
        arrays = {f"guide_{n}": guide for n, guide in guides.items()}
        executor = network.bind(symbol, self.ctx, dict(self.params, **arrays, data=data))
        executor.forward(is_train=False)
        return {name: out.copy() for name, out in zip(outputs, executor.outputs)}

    def positions(self, shape) -> dict[str, int]:
        """H*W of every output layer for an input of ``shape``."""
        names = list(self.features)
        _, out_shapes, _ = mx.sym.Group([self.features[n] for n in names]).infer_shape(data=shape)
        return {n: s[2] * s[3] for n, s in zip(names, out_shapes)}

    @property
    def footprint(self) -> Footprint:
        """What the memory plan needs of this network (``nstyle.engine.footprint``)."""
        widths = [self.channels[f"relu{b}_1"] for b in range(1, 6)]
        return Footprint(
            self.num_layers,
            self.style_layers,
            self.content_layers,
            tuple(widths),
            np.dtype(self.dtype).itemsize,
        )

    def loss_bytes(self, shape, regions: int = 0) -> int:
        """Estimated memory of the loss executor for an image of ``shape``, in bytes
        (``Footprint.loss_bytes``)."""
        return self.footprint.loss_bytes(shape, regions)
