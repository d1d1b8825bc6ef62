"""The objective on the whole image: each loss's weight, and ``LossExecutor``, which computes
the losses and the image's gradient in one forward and one backward pass (its twin tile by
tile is ``nstyle.engine.tiles.TiledLoss``; both give the solvers the same interface).

The style term is the original's Gram loss, in the graph with a fixed head gradient, or the
Wasserstein-2 distance between the feature distributions' Gaussians (``style_loss="w2"``):
the graph then outputs each style layer's Gram matrix and feature sum, the host computes
the distance and its gradient with respect to them (``nstyle.engine.wasserstein``), and the
backward pass takes those as head gradients. ``style_loss="mixed"``: W2 on the layers of at
most ``MIXED_W2_CHANNELS`` channels, the Gram loss on the wider, deeper ones (``layer_loss``).
"""

from __future__ import annotations

import mxnet as mx
import numpy as np

from nstyle.engine import network, terms
from nstyle.engine.network import on_device  # (tiles takes it from here too)
from nstyle.engine.terms import (
    GRAM_GRAD_FACTOR,
    W2_SCALE,
    Network,
    compact_guides,
    content_loss,
    feature_rows,
    guided_style_loss,
    region_rows,
    statistics,
)
from nstyle.engine.wasserstein import W2Terms

TERMS = ("style_", "content_")  # the prefixes of the two weight flags' terms' names
# ``style_loss="mixed"``: W2 on layers this wide or narrower (VGG's relu1_1, relu2_1), the
# Gram loss on the wider ones (relu3_1 to relu5_1): the 512 x 512 eigendecompositions of
# relu4_1/relu5_1 were most of W2's cost at the coarse scales and their matched means and
# covariances can copy the painting's objects; W2 on relu3_1 too painted the painting's
# strokes over the photo's edges (edge correlation 0.14 against 0.24 without it) and, at
# 256 channels, copied objects on three judging pairs (docs/BENCHMARKS.md, "Wasserstein-2
# at the cost of Gram", "Choosing the default again")
MIXED_W2_CHANNELS = 128


def layer_loss(loss: str, channels: int) -> str:
    """The statistics matched on a style layer of ``channels``: "gram" or "w2"."""
    if loss == "mixed":
        return "w2" if channels <= MIXED_W2_CHANNELS else "gram"
    return loss


def head_weights(
    net: Network,
    shape,
    style_weight: float,
    content_weight: float,
    style_layer_weights: dict[str, float] | None = None,
    loss: str = "gram",
) -> dict[str, float]:
    """Each loss's weight in the objective, by loss name (``style_relu1_1``, ...): a style
    layer's ``style_weight * layer_weight / (C^2 HW)`` at the image ``shape``'s H and W (the
    Gram loss) or ``style_weight * layer_weight * W2_SCALE / C`` (``loss="w2"``: the
    positions times a distance of per-position statistics, a sum over C channels), a
    content layer's
    ``content_weight`` shared among the content layers."""
    layer_weights = style_layer_weights or {n: 1.0 for n in net.style_layers}
    positions = net.positions(shape)

    def norm(n: str) -> float:
        if layer_loss(loss, net.channels[n]) == "w2":
            return net.channels[n] / W2_SCALE
        return net.channels[n] ** 2 * positions[n]

    weights = {f"style_{n}": style_weight * layer_weights[n] / norm(n) for n in net.style_layers}
    for n in net.content_layers:
        weights[f"content_{n}"] = content_weight / len(net.content_layers)
    return weights


def style_keys(net: Network, regions: int, loss: str = "gram") -> list[tuple[str, str]]:
    """(key, layer) of each style term: one per layer, or one per region and layer
    (``r<k>_<layer>``, ``nstyle.engine.guides``); the W2 terms (``layer_loss``) first."""
    keys = [
        (key, n) for n in net.style_layers for key in [f"r{k}_{n}" for k in range(regions)] or [n]
    ]
    return sorted(keys, key=lambda k: layer_loss(loss, net.channels[k[1]]) != "w2")


def w2_count(net: Network, keys, loss: str) -> int:
    """How many of ``keys`` (``style_keys``, the W2 terms first) take the W2 term."""
    return sum(layer_loss(loss, net.channels[n]) == "w2" for _, n in keys)


def regions_rows(net: Network, keys, guides: dict[str, mx.nd.NDArray], shape) -> dict:
    """Each region key's (gathered features, squared guide) (``terms.region_rows``) from
    ``compact_guides``' ``guides``, for a picture of ``shape``."""
    positions = net.positions(shape)
    layers: dict[str, list[str]] = {}
    for key, n in keys:
        if key != n:
            layers.setdefault(n, []).append(key)
    found: dict[str, tuple] = {}
    for n, names in layers.items():
        sizes = [guides[f"guide_{key}"].shape[1] for key in names]
        parts = region_rows(net.features[n], net.channels[n], n, names, sizes, positions[n])
        found.update(zip(names, parts))
    return found


class Losses:
    """This step's losses on the device. Called, it reads them (one host synchronisation) as
    each named loss times its weight; ``total`` is their weighted sum, still on the device
    (the stop rule reads it with the picture's changes). It holds only these arrays, not the
    executor that made them: a caller that keeps the last epoch's losses must not keep a
    scale's executors alive into the next. A product beyond float64 is inf, silently: the
    solvers check and name the weight."""

    def __init__(self, names: list[str], values: mx.nd.NDArray, weights: np.ndarray):
        self.names, self.values, self.weights = names, values, weights

    def __call__(self) -> dict[str, float]:
        with np.errstate(over="ignore", invalid="ignore"):
            return dict(zip(self.names, self.values.asnumpy().astype(np.float64) * self.weights))

    def total(self) -> mx.nd.NDArray:
        """The weighted sum, a 1-element float64 array on the device (not read)."""
        weights = mx.nd.array(self.weights, ctx=self.values.context, dtype=np.float64)
        return mx.nd.sum(self.values.astype(np.float64) * weights).reshape((1,))


def w2_terms(
    net: Network, targets: dict[str, mx.nd.NDArray], keys, shape, factors: bool = False
) -> W2Terms:
    """The Wasserstein-2 terms of the style ``keys`` (``style_keys``) for a picture of
    ``shape``: each key's statistics over the layer's positions, or a region's over its
    coverage (the sum of its squared guide), as its targets were brought to. ``factors``:
    a key with fewer positions than channels takes its features (``W2Terms``' ``weights``:
    its positions' squared guide, ones for a whole layer)."""
    positions = net.positions(shape)
    counts, weights = [], []
    for key, n in keys:
        if key == n:
            squared = np.ones(positions[n])
        else:
            guide = targets[f"guide_{key}"].asnumpy().reshape(-1)
            squared = np.square(guide[guide > 0]).astype(np.float64)
        counts.append(float(squared.sum()))
        weights.append(squared if factors and 0 < len(squared) < net.channels[n] else None)
    grams = [targets[f"target_gram_{key}"].asnumpy() for key, _ in keys]
    sums = [targets[f"target_sum_{key}"].asnumpy() for key, _ in keys]
    return W2Terms(grams, sums, counts, weights)


def w2_heads(terms: W2Terms, grams, sums, weights: np.ndarray, like: mx.nd.NDArray, rows=None):
    """(the unweighted distances as an array like ``like``, the head gradients of the Gram
    outputs and of the sum outputs) for the picture's ``grams`` and ``sums`` (and the
    ``factored`` keys' ``rows``), each key's gradient times its weight (0: that term's
    gradient off, even where it is inf).

    Values beyond the device's float32 become inf, without numpy's warnings: the solvers
    check the losses and the gradient and name the weight that overflows."""
    found = iter(rows or [])
    rows = [next(found).asnumpy() if f else None for f in terms.factored] if rows else None
    values, d_grams, d_sums = terms.evaluate(
        [g.asnumpy() for g in grams], [s.asnumpy() for s in sums], rows
    )
    ctx, dtype = like.context, like.dtype

    def weighted(array, weight: float) -> mx.nd.NDArray:
        with np.errstate(over="ignore", invalid="ignore"):
            product = array * weight if weight else np.zeros_like(array)
        return on_device(product, ctx, dtype)

    # the Gram heads doubled: ``terms.gram``'s one-operand backward
    gram_heads = [weighted(d, GRAM_GRAD_FACTOR * w) for d, w in zip(d_grams, weights)]
    sum_heads = [weighted(d.reshape(-1, 1), w) for d, w in zip(d_sums, weights)]
    return on_device(values, ctx, dtype), gram_heads, sum_heads


def gradient_norms(loss) -> dict[str, float]:
    """For each weight flag (``style_weight``, ``content_weight``): the norm of its terms'
    gradient alone at the current image (inf when they overflow). One step per flag: for
    naming the cause of a failure, not for every epoch."""
    found = {}
    for option, prefix in zip(("style_weight", "content_weight"), TERMS):
        loss.step((prefix,))
        values = [v for n, v in loss.weighted_losses().items() if n.startswith(prefix)]
        norm = float(mx.nd.norm(loss.grad).asscalar())
        found[option] = norm if np.all(np.isfinite(values)) else float("inf")
    return found


class LossExecutor:
    """The loss graph bound to an image array, with its head gradients.

    ``step()`` runs forward and backward; afterwards ``grad`` holds the data gradient of
    ``sum_l head_l * loss_l``. With ``regions``, each style layer has one guided term per
    region (``targets`` then hold each region's ``target_gram_r<k>_<layer>``,
    ``target_sum_r<k>_<layer>`` and ``guide_r<k>_<layer>``; ``nstyle.engine.guides``).
    ``style_loss``: "gram", "w2" or "mixed" (see the module).
    """

    def __init__(
        self,
        net: Network,
        targets: dict[str, mx.nd.NDArray],
        image: mx.nd.NDArray,
        style_weight: float,
        content_weight: float,
        style_layer_weights: dict[str, float] | None = None,
        regions: int = 0,
        style_loss: str = "gram",
    ):
        weights = head_weights(
            net, image.shape, style_weight, content_weight, style_layer_weights, style_loss
        )
        self.style_keys = style_keys(net, regions, style_loss)
        self.w2_count = count = w2_count(net, self.style_keys, style_loss)
        self.w2 = (
            w2_terms(net, targets, self.style_keys[:count], image.shape, factors=True)
            if count
            else None
        )
        guides = compact_guides(targets, [(key, n) for key, n in self.style_keys if key != n])
        found = regions_rows(net, self.style_keys, guides, image.shape)
        losses = []
        for i, (key, name) in enumerate(self.style_keys):
            feature, channels, region = net.features[name], net.channels[name], found.get(key)
            if i < count:
                losses += statistics(feature, channels, region)
            elif region is not None:
                losses.append(guided_style_loss(region, channels, key))
            else:
                losses.append(terms.style_loss(feature, channels, key))
        losses += [content_loss(net.features[n], n) for n in net.content_layers]
        factored = self.w2.factored if self.w2 is not None else []
        losses += [  # the features of the W2 terms taken through their factor, last
            feature_rows(net.features[n], net.channels[n], found.get(key))
            for (key, n), f in zip(self.style_keys, factored)
            if f
        ]
        self.factors = sum(factored)
        self.names = [f"style_{key}" for key, _ in self.style_keys]
        self.names += [f"content_{n}" for n in net.content_layers]
        heads = [weights[f"style_{n}"] for _, n in self.style_keys]  # a region: part of the sum
        heads += [weights[f"content_{n}"] for n in net.content_layers]
        self.head_weights = np.array(heads, np.float64)
        self.grad = mx.nd.zeros(image.shape, ctx=net.ctx, dtype=image.dtype)
        self.executor = network.bind(
            mx.sym.Group(losses),
            net.ctx,
            {**net.params, **targets, **guides, "data": image},
            grad_arrays={"data": self.grad},
        )
        self._heads = [on_device([h * GRAM_GRAD_FACTOR], net.ctx, image.dtype) for h in heads]
        self._zero = mx.nd.zeros((1,), ctx=net.ctx, dtype=image.dtype)
        self._row_heads = [  # the features' outputs take no gradient (BlockGrad)
            mx.nd.zeros(o.shape, ctx=net.ctx, dtype=image.dtype) for o in self._factor_rows()
        ]
        self._style_values: mx.nd.NDArray | None = None  # the host's W2 distances

    @property
    def outputs(self) -> list[mx.nd.NDArray]:
        return self.executor.outputs

    def step(self, terms: tuple[str, ...] = TERMS) -> None:
        """Forward and backward: afterwards ``grad`` holds the gradient of the terms whose
        names start with one of ``terms`` (all by default)."""
        self.executor.forward(is_train=True)
        on = [name.startswith(terms) for name in self.names]
        count = self.w2_count
        heads = [h if o else self._zero for h, o in zip(self._heads[count:], on[count:])]
        if self.w2 is not None:
            statistics_ = self.outputs[: 2 * count]
            weights = np.where(on[:count], self.head_weights[:count], 0.0)  # inf * 0: NaN
            rows = self._factor_rows() if self.factors else None
            self._style_values, grams, sums = w2_heads(
                self.w2, statistics_[::2], statistics_[1::2], weights, self.grad, rows
            )
            heads = [h for pair in zip(grams, sums) for h in pair] + heads
        self.executor.backward(heads + self._row_heads)

    def _factor_rows(self) -> list[mx.nd.NDArray]:
        """The outputs of the W2 keys' features taken through their factor (the last)."""
        return self.outputs[len(self.outputs) - self.factors :]

    def snapshot(self) -> Losses:
        """This step's losses, copied on the device without a host synchronisation; the
        function returned reads them (one synchronisation), each times its weight."""
        if self.w2 is None:
            values = mx.nd.concat(*self.outputs, dim=0)
        else:
            assert self._style_values is not None, "no step yet"
            # the Gram terms', the content terms' (not the features')
            rest = self.outputs[2 * self.w2_count : len(self.outputs) - self.factors]
            values = mx.nd.concat(self._style_values, *rest, dim=0)
        return Losses(self.names, values, self.head_weights)

    def term_gradient_norms(self) -> dict[str, float]:
        """See ``gradient_norms``."""
        return gradient_norms(self)

    def weighted_losses(self) -> dict[str, float]:
        """Each loss times its weight (one host synchronisation for all of them)."""
        return self.snapshot()()
