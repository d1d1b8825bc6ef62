"""``stylize``: one style transfer, from arrays to an array."""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

import mxnet as mx
import numpy as np

import model_vgg19
from nstyle import devices, images
from nstyle.config import (Options, blend_weights, check_options, learning_rate,
                           scale_edges)
from nstyle.errors import NStyleError
from nstyle.losses import LossExecutor, Network, TVExecutor
from nstyle.optimize import Diverged, Iterate, Schedule, host_bytes, optimize
from nstyle.weights import Weights, resolve

log = logging.getLogger(__name__)


def load_weights(options: Options, fallback: str | None = None) -> Weights:
    """The weights ``options`` ask for (see ``nstyle.weights.resolve``)."""
    return resolve(options.model, options.weights, fallback)


def check_memory(net: Network, shape, long_edge: int, available: int, ctx,
                 optimizer: str = "sgd") -> None:
    """Fail before binding when the loss executor would not fit into ``available`` bytes, or
    would hold a tensor too large for MXNet's 32-bit sizes, naming a ``--max-long-edge`` that
    fits (memory grows with the number of pixels)."""
    gib = 2.0 ** 30
    budget = 0.9 * available
    # the largest tensor: relu1_1's, full size (each pooling halves H and W, channels double)
    widest = net.channels["relu1_1"]

    def needs(size) -> int:
        return net.loss_bytes(size) + host_bytes(optimizer, int(np.prod(size)))

    def fits(size) -> bool:
        return widest * size[2] * size[3] < 2 ** 31 and needs(size) <= budget

    if widest * shape[2] * shape[3] >= 2 ** 31:
        problem = "holds a tensor of over 2^31 elements, more than MXNet 1.9.1 can index"
    else:
        need = needs(shape)
        log.info("memory: about %.2f GiB needed, %.1f GiB free on %s", need / gib,
                 available / gib, ctx)
        if need <= budget:
            return
        problem = f"needs about {need / gib:.1f} GiB on {ctx} but {available / gib:.1f} GiB is free"
    edge = long_edge
    while edge > images.MIN_EDGE:
        edge = int(edge * 0.9)
        factor = edge / long_edge
        if fits((1, 3, max(1, round(shape[2] * factor)), max(1, round(shape[3] * factor)))):
            break
    raise NStyleError(f"a {shape[3]}x{shape[2]} image {problem}; --max-long-edge {edge} would fit")


def prepare_images(content: np.ndarray, styles: list[np.ndarray], options: Options):
    """Resize: the content to ``max_long_edge``, each style to ``style_scale`` times that,
    each keeping its aspect (a departure: the original squeezed the style to the content's
    shape; Gram matrices only need equal channel counts)."""
    content = images.resize_long_edge(content, options.max_long_edge)
    edge = max(1, round(options.max_long_edge * options.style_scale))
    return content, [images.resize_long_edge(style, edge) for style in styles]


def start_image(options: Options, content_x: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The first image of the optimisation, (1, 3, H, W), as ``options.init`` says."""
    if options.init == "content":
        return content_x
    if options.init == "noise":  # the original: uniform noise around the mean pixel
        rng = np.random.default_rng(options.seed)
        return rng.uniform(-0.1, 0.1, content_x.shape).astype(np.float32)
    picture = images.resize_to(images.read_image(options.init), content_x.shape[2:])
    if options.preserve_colors:
        picture = images.grey(images.luminance(picture))
    return images.preprocess(picture, mean)


def style_targets(net: Network, styles_x: list[np.ndarray], blend: np.ndarray,
                  shape) -> dict[str, mx.nd.NDArray]:
    """The blended Gram targets of the style images, at the output's size.

    Gram sums grow with the number of positions, so each style's are brought to the output's
    (a departure needed once styles keep their own shapes).
    """
    positions = net.positions(shape)
    blended = {}
    for weight, style_x in zip(blend, styles_x):
        grams = net.targets(style_x)
        style_positions = net.positions(style_x.shape)
        for name in net.style_layers:
            key = f"target_gram_{name}"
            term = grams[key] * (weight * positions[name] / style_positions[name])
            blended[key] = term if key not in blended else blended[key] + term
    return blended


def stylize(content: np.ndarray, styles, options: Options = Options(), *,
            ctx: mx.Context | None = None, weights: Weights | None = None,
            callback: Callable[[Iterate], None] | None = None) -> np.ndarray:
    """Paint ``content`` in the style of ``style``.

    Parameters
    ----------
    content : ndarray
        The photo, RGB uint8 (H, W, 3), any size; resized as ``options`` say.
    styles : ndarray or list of ndarray
        One painting or several, RGB uint8, blended by ``options.style_blend_weights``.
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
    styles = [styles] if isinstance(styles, np.ndarray) else list(styles)
    weights = weights or load_weights(options)
    check_options(options, weights.num_layers)
    blend = blend_weights(options, len(styles))
    net = Network.build(weights.network_params, weights.num_layers, options.style_layers,
                        options.content_layers, options.pooling, ctx, weights.channels)
    edges = scale_edges(options)
    final = images.long_edge_shape(content.shape, options.max_long_edge)  # before resizing
    check_memory(net, (1, 3) + final, options.max_long_edge, devices.free_memory(ctx), ctx,
                 options.optimizer)
    log.info("network: %s; content %dx%d, %s%s", weights.description, final[1], final[0], ctx,
             f"; scales {', '.join(map(str, edges))} px" if len(edges) > 1 else "")
    previous, done, begin = None, 0, time.perf_counter()
    for scale, edge in enumerate(edges, start=1):
        at = options.replace(max_long_edge=edge)
        # epochs and seconds count on across scales
        report = None if callback is None else (
            lambda it, done=done, spent=time.perf_counter() - begin, scale=scale: callback(
                dataclasses.replace(it, epoch=it.epoch + done, elapsed=it.elapsed + spent,
                                    scale=(scale, len(edges)))))
        previous, result, epochs = _stylize_at(net, content, styles, blend, at, weights,
                                               previous, report)
        done += epochs
    return result


def _stylize_at(net: Network, content: np.ndarray, styles: list[np.ndarray], blend, options,
                weights: Weights, previous: np.ndarray | None, callback):
    """One scale: returns (raw picture, picture as the result, epochs run).

    The raw picture is what the optimiser made (grey with --preserve-colors); a finer scale
    starts from it, upsampled (coarse to fine, as jcjohnson's multires scripts do).
    """
    content, styles = prepare_images(content, styles, options)
    photo = content
    if options.preserve_colors:  # Gatys et al. 2016b: style the luminance, keep the colours
        content_y = images.luminance(content)
        styles = [images.grey(images.match_luminance(images.luminance(s), content_y)
                              if options.match_luminance else images.luminance(s))
                  for s in styles]
        content = images.grey(content_y)
    mean = weights.convention.mean_pixel
    content_x = images.preprocess(content, mean)  # (1, 3, H, W)
    styles_x = [images.preprocess(style, mean) for style in styles]
    targets = style_targets(net, styles_x, blend, content_x.shape)
    targets.update({k: v for k, v in net.targets(content_x).items()
                    if k.startswith("target_content_")})
    if previous is None:
        start = start_image(options, content_x, mean)
    else:
        start = images.preprocess(images.resize_to(previous, content_x.shape[2:]), mean)
    image = mx.nd.array(start, ctx=net.ctx)
    layer_weights = dict(zip(options.style_layers, options.style_layer_weights or
                             [1.0] * len(options.style_layers)))
    loss = LossExecutor(net, targets, image, options.style_weight, options.content_weight,
                        layer_weights)
    tv = TVExecutor(image, options.tv_weight) if options.tv_weight > 0 else None
    schedule = Schedule(options.optimizer, learning_rate(options), options.lr_sched_step,
                        options.lr_sched_factor, options.momentum, options.weight_decay,
                        options.clip_factor, options.stop_eps, options.min_num_epochs,
                        options.max_num_epochs, options.check_every)

    def render(x: np.ndarray) -> np.ndarray:
        picture = images.postprocess(x, mean)
        return images.with_colours_of(picture, photo) if options.preserve_colors else picture

    report = None if callback is None else (
        lambda it: callback(dataclasses.replace(it, render=render)))
    try:
        epochs = optimize(loss, tv, image, schedule, report)
    except Diverged as exc:
        exc.picture = render(image.asnumpy())  # rolled back: the last good image
        raise
    raw = images.postprocess(image.asnumpy(), mean)
    return raw, render(image.asnumpy()), epochs
