"""``stylize``: one style transfer, from arrays to an array."""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import mxnet as mx
import numpy as np

import model_vgg19
from nstyle import devices, images
from nstyle.config import Options
from nstyle.errors import NStyleError
from nstyle.losses import LossExecutor, Network, TVExecutor
from nstyle.optimize import Iterate, Schedule, optimize
from nstyle.weights import Weights, resolve

log = logging.getLogger(__name__)


def check_options(options: Options, num_layers: int) -> None:
    """Reject values that cannot work, before any work, with what is allowed."""
    positive = {"max_long_edge": options.max_long_edge, "lr": options.lr,
                "lr_sched_step": options.lr_sched_step, "clip_factor": options.clip_factor,
                "min_num_epochs": options.min_num_epochs,
                "max_num_epochs": options.max_num_epochs, "save_epochs": options.save_epochs,
                "style_scale": options.style_scale}
    for name, value in positive.items():
        if not value > 0:
            raise NStyleError(f"{name.replace('_', '-')} must be > 0, got {value}")
    for name in ("content_weight", "style_weight", "tv_weight", "stop_eps", "remove_noise",
                 "weight_decay"):
        if not getattr(options, name) >= 0:
            raise NStyleError(f"{name.replace('_', '-')} must be >= 0, got {getattr(options, name)}")
    if not 0 < options.lr_sched_factor <= 1:
        raise NStyleError(f"lr-sched-factor must be in (0, 1], got {options.lr_sched_factor}")
    if not 0 <= options.momentum < 1:
        raise NStyleError(f"momentum must be in [0, 1), got {options.momentum}")
    try:
        model_vgg19.check_layer_names(options.style_layers, num_layers, "style")
        model_vgg19.check_layer_names(options.content_layers, num_layers, "content")
    except ValueError as exc:
        raise NStyleError(str(exc)) from None


def load_weights(options: Options, fallback: str | None = None) -> Weights:
    """The weights ``options`` ask for (see ``nstyle.weights.resolve``)."""
    return resolve(options.model, options.weights, fallback)


def check_memory(net: Network, shape, long_edge: int, available: int, ctx) -> None:
    """Fail before binding when the loss executor would not fit into ``available`` bytes,
    naming a ``--max-long-edge`` that fits (memory grows with the number of pixels)."""
    need = net.loss_bytes(shape)
    gib = 2.0 ** 30
    log.info("memory: about %.2f GiB needed, %.1f GiB free on %s", need / gib, available / gib,
             ctx)
    budget = 0.9 * available
    if need <= budget:
        return
    edge = int(long_edge * (budget / need) ** 0.5)
    while edge > images.MIN_EDGE:
        factor = edge / long_edge
        smaller = (1, 3, max(1, round(shape[2] * factor)), max(1, round(shape[3] * factor)))
        if net.loss_bytes(smaller) <= budget:
            break
        edge = int(edge * 0.95)
    raise NStyleError(f"a {shape[3]}x{shape[2]} image needs about {need / gib:.1f} GiB on {ctx} "
                      f"but {available / gib:.1f} GiB is free; --max-long-edge {edge} would fit")


def prepare_images(content: np.ndarray, style: np.ndarray, options: Options):
    """Resize: the content to ``max_long_edge``, the style to ``style_scale`` times that,
    each keeping its aspect (a departure: the original squeezed the style to the content's
    shape; Gram matrices only need equal channel counts)."""
    content = images.resize_long_edge(content, options.max_long_edge)
    style = images.resize_long_edge(style, max(1, round(options.max_long_edge *
                                                        options.style_scale)))
    return content, style


def stylize(content: np.ndarray, style: np.ndarray, options: Options = Options(), *,
            ctx: mx.Context | None = None, weights: Weights | None = None,
            callback: Callable[[Iterate], None] | None = None) -> np.ndarray:
    """Paint ``content`` in the style of ``style``.

    Parameters
    ----------
    content, style : ndarray
        RGB uint8 images (H, W, 3), any size; they are resized as ``options`` say.
    options : Options
        Every setting; see ``nstyle.config.Options``.
    ctx : mxnet.Context, optional
        Where to run; default the CPU.
    weights : Weights, optional
        Loaded weights; default ``load_weights(options)``.
    callback : callable, optional
        Called after every epoch with an ``Iterate``.

    Returns
    -------
    ndarray
        The stylised image, RGB uint8 (H, W, 3) at the content's resized shape, before any
        denoising (``images.denoise`` is applied to what is written).
    """
    ctx = ctx or mx.cpu()
    weights = weights or load_weights(options)
    check_options(options, weights.num_layers)
    content, style = prepare_images(content, style, options)
    mean = weights.convention.mean_pixel
    content_x = images.preprocess(content, mean)  # (1, 3, H, W)
    style_x = images.preprocess(style, mean)
    log.info("network: %s; content %dx%d, style %dx%d, %s", weights.description,
             content.shape[1], content.shape[0], style.shape[1], style.shape[0], ctx)

    net = Network.build(weights.network_params, weights.num_layers, options.style_layers,
                        options.content_layers, options.pooling, ctx, weights.channels)
    check_memory(net, content_x.shape, options.max_long_edge, devices.free_memory(ctx), ctx)
    targets = net.targets(style_x)
    # Gram sums grow with the number of positions: bring the style's to the content's size.
    content_positions, style_positions = net.positions(content_x.shape), net.positions(style_x.shape)
    for name in options.style_layers:
        targets[f"target_gram_{name}"] *= content_positions[name] / style_positions[name]
    content_targets = net.targets(content_x)
    targets.update({k: v for k, v in content_targets.items() if k.startswith("target_content_")})

    if options.init == "content":
        start = content_x
    elif options.init == "noise":
        rng = np.random.default_rng(options.seed)
        start = rng.uniform(-0.1, 0.1, content_x.shape).astype(np.float32)
    else:
        raise NStyleError(f"init must be one of content, noise, got {options.init!r}")
    image = mx.nd.array(start, ctx=ctx)
    loss = LossExecutor(net, targets, image, options.style_weight, options.content_weight)
    tv = TVExecutor(image, options.tv_weight) if options.tv_weight > 0 else None
    schedule = Schedule(options.lr, options.lr_sched_step, options.lr_sched_factor,
                        options.momentum, options.weight_decay, options.clip_factor,
                        options.stop_eps, options.min_num_epochs, options.max_num_epochs)
    report = None if callback is None else (
        lambda it: callback(dataclasses.replace(it, mean_pixel=mean)))
    optimize(loss, tv, image, schedule, report)
    return images.postprocess(image.asnumpy(), mean)

