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

from collections.abc import Callable
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from nstyle.engine import network
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


def style_loss(feature: mx.sym.Symbol, channels: int, name: str) -> mx.sym.Symbol:
    """``sum((target - gram)^2)``; the target is the variable ``target_gram_<name>``."""
    target = mx.sym.var(f"target_gram_{name}")
    return mx.sym.sum(mx.sym.square(target - gram(feature, channels)))


def guided_style_loss(feature: mx.sym.Symbol, channels: int, key: str) -> mx.sym.Symbol:
    """``sum((target - gram(F * guide))^2)`` for one region (``nstyle.engine.guides``), over
    the region's positions only: the variables ``index_<key>`` (the positions where its
    guide is above 0, on the layer's grid), ``guide_<key>`` (1, n) (the guide there) and
    ``target_gram_<key>``; ``key`` = r<k>_<layer>. Gathering the region's positions first
    makes the regions together cost about one Gram matrix, not one each."""
    rows = mx.sym.take(
        mx.sym.Reshape(feature, shape=(channels, -1)), mx.sym.var(f"index_{key}"), axis=1
    )
    weighted = rows * mx.sym.var(f"guide_{key}")  # the guide broadcast to (C, n) already
    target = mx.sym.var(f"target_gram_{key}")
    return mx.sym.sum(mx.sym.square(target - gram(weighted, channels)))


def compact_guides(
    targets: dict[str, mx.nd.NDArray], keys: dict[str, int]
) -> dict[str, mx.nd.NDArray]:
    """Each region's guide (1, 1, h, w) in ``targets`` as ``guided_style_loss`` takes it:
    the positions where it is above 0, and its values there repeated for each of the
    layer's ``keys[key]`` channels (an element-wise product: a broadcast's backward also
    reduced the guide's gradient, which nothing needs, at ten times the forward's cost)."""
    found = {}
    for key, channels in keys.items():
        guide = targets[f"guide_{key}"]
        values = guide.asnumpy().reshape(-1)
        where = np.flatnonzero(values > 0)
        found[f"index_{key}"] = mx.nd.array(where, ctx=guide.context, dtype="int32")
        repeated = np.broadcast_to(values[where][None], (channels, where.size))
        found[f"guide_{key}"] = mx.nd.array(repeated, ctx=guide.context, dtype=guide.dtype)
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

        Returns ``target_gram_<layer>`` (C, C) and ``target_content_<layer>`` (1, C, h, w).
        ``guides``: each style layer's guide (1, 1, h, w): the Gram matrices of the guided
        features (a painting's statistics taken from part of it).
        """
        guides = guides or {}
        outputs = {
            f"target_gram_{n}": gram(
                guided(self.features[n], mx.sym.var(f"guide_{n}"), self.channels[n])
                if n in guides
                else self.features[n],
                self.channels[n],
            )
            for n in self.style_layers
        }
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

    def loss_bytes(self, shape, regions: int = 0) -> int:
        """Estimated memory of the loss executor for an image of ``shape``, in bytes.

        From the inferred shapes: 1.5 times the outputs of every node of the graph, plus the
        weights and Gram targets; an upper bound (MXNet's memory planner reuses the backward
        buffers; the margin covers cuDNN's workspaces on a GPU). Calibration:
        docs/BENCHMARKS.md. ``regions``: per region, each style layer's guided features and
        their gradient besides (``guided_style_loss``), and its targets.
        """
        outputs = {n: self.features[n] for n in self.style_layers}
        group = mx.sym.Group(
            [gram(self.features[n], self.channels[n]) for n in self.style_layers]
            + [self.features[n] for n in self.content_layers]
        )
        _, shapes, _ = group.get_internals().infer_shape(data=shape)
        names = group.get_internals().list_outputs()
        weights = sum(int(np.prod(s)) for n, s in zip(names, shapes) if n in self.params)
        nodes = sum(int(np.prod(s)) for n, s in zip(names, shapes) if n not in self.params)
        itemsize = np.dtype(self.dtype).itemsize
        _, styled, _ = mx.sym.Group(list(outputs.values())).infer_shape(data=shape)
        guided = regions * sum(2 * int(np.prod(s)) for s in styled)
        return itemsize * (3 * nodes // 2 + weights + guided) + max(1, regions) * sum(
            itemsize * self.channels[n] ** 2 for n in outputs
        )  # the Gram targets


def head_weights(
    net: Network,
    shape,
    style_weight: float,
    content_weight: float,
    style_layer_weights: dict[str, float] | None = None,
) -> dict[str, float]:
    """Each loss's weight in the objective, by loss name (``style_relu1_1``, ...): a style
    layer's ``style_weight * layer_weight / (C^2 HW)`` at the image ``shape``'s H and W, a
    content layer's ``content_weight`` shared among the content layers."""
    layer_weights = style_layer_weights or {n: 1.0 for n in net.style_layers}
    positions = net.positions(shape)
    weights = {
        f"style_{n}": style_weight * layer_weights[n] / (net.channels[n] ** 2 * positions[n])
        for n in net.style_layers
    }
    for n in net.content_layers:
        weights[f"content_{n}"] = content_weight / len(net.content_layers)
    return weights


def losses_reader(
    names: list[str], values: mx.nd.NDArray, weights: np.ndarray
) -> Callable[[], dict[str, float]]:
    """A function that reads ``values`` (one host synchronisation) as each named loss times
    its weight. It holds only these arrays, not the executor that made them: a caller that
    keeps the last epoch's losses must not keep a scale's executors alive into the next."""
    return lambda: dict(zip(names, values.asnumpy().astype(np.float64) * weights))


class LossExecutor:
    """The loss graph bound to an image array, with its fixed head gradients.

    ``step()`` runs forward and backward; afterwards ``grad`` holds the data gradient of
    ``sum_l head_l * loss_l`` and ``outputs`` the unweighted losses. With ``regions``, each
    style layer has one guided Gram loss per region (``targets`` then hold each region's
    ``target_gram_r<k>_<layer>`` and ``guide_r<k>_<layer>``; ``nstyle.engine.guides``).
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
    ):
        weights = head_weights(net, image.shape, style_weight, content_weight, style_layer_weights)
        losses, heads, self.names = [], [], []
        for name in net.style_layers:
            for key in [f"r{k}_{name}" for k in range(regions)] or [name]:
                feature, channels = net.features[name], net.channels[name]
                guided = guided_style_loss if regions else style_loss
                losses.append(guided(feature, channels, key))
                heads.append(weights[f"style_{name}"])  # a region: a part of the same sum
                self.names.append(f"style_{key}")
        for name in net.content_layers:
            losses.append(content_loss(net.features[name], name))
            heads.append(weights[f"content_{name}"])
            self.names.append(f"content_{name}")
        self.head_weights = np.array(heads, np.float64)
        self.grad = mx.nd.zeros(image.shape, ctx=net.ctx, dtype=image.dtype)
        keys = {f"r{k}_{n}": net.channels[n] for k in range(regions) for n in net.style_layers}
        self.executor = network.bind(
            mx.sym.Group(losses),
            net.ctx,
            {**net.params, **targets, **compact_guides(targets, keys), "data": image},
            grad_arrays={"data": self.grad},
        )
        self._heads = [
            mx.nd.array([h * GRAM_GRAD_FACTOR], ctx=net.ctx, dtype=image.dtype) for h in heads
        ]
        self._zero = mx.nd.zeros((1,), ctx=net.ctx, dtype=image.dtype)

    @property
    def outputs(self) -> list[mx.nd.NDArray]:
        return self.executor.outputs

    def step(self) -> None:
        self.executor.forward(is_train=True)
        self.executor.backward(self._heads)

    def snapshot(self) -> Callable[[], dict[str, float]]:
        """This step's losses, copied on the device without a host synchronisation; the
        function returned reads them (one synchronisation), each times its head gradient."""
        values = mx.nd.concat(*self.outputs, dim=0)
        return losses_reader(self.names, values, self.head_weights)

    def term_gradient_norms(self) -> dict[str, float]:
        """For each weight flag (``style_weight``, ``content_weight``): the norm of its terms'
        gradient alone at the current image (inf when they overflow). One backward pass per
        flag: for naming the cause of a failure, not for every epoch."""
        found = {}
        for option, prefix in (("style_weight", "style_"), ("content_weight", "content_")):
            heads = [
                h if n.startswith(prefix) else self._zero for n, h in zip(self.names, self._heads)
            ]
            self.executor.forward(is_train=True)
            self.executor.backward(heads)
            values = [v for n, v in self.weighted_losses().items() if n.startswith(prefix)]
            norm = float(mx.nd.norm(self.grad).asscalar())
            found[option] = norm if np.all(np.isfinite(values)) else float("inf")
        return found

    def weighted_losses(self) -> dict[str, float]:
        """Each loss times its head gradient (one host synchronisation for all of them)."""
        return self.snapshot()()
