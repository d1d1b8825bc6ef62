"""The checks of the options' values, before any work: each field's type and range
(``Options.__post_init__`` calls ``typed`` and ``check_values``), and what depends on several
fields, the styles given or the network's depth (``check_options``). No framework."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections import Counter
from pathlib import Path
from typing import Any

from nstyle.config.options import (
    DEFAULT_LR,
    FLOAT32_MAX,
    INITS,
    MAX_LONG_EDGE,
    MAX_MEMORY_GIB,
    MAX_SEED,
    OPTIMIZERS,
    Options,
    Outputs,
    flag,
    shown,
)
from nstyle.config.schedule import scale_plan
from nstyle.errors import NStyleError, NStyleTypeError
from nstyle.spec import MIN_EDGE, MODELS, POOLING, check_layer_names

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


def check_finite(values: Any) -> None:
    """Every number of an ``Options`` or ``Outputs`` is finite (inf and NaN name the flag)."""
    for f in dataclasses.fields(values):
        value = getattr(values, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if isinstance(item, float) and not math.isfinite(item):
                raise NStyleError(f"{flag(f.name)} must be a finite number, got {item}")


# The fields that must be > 0 (max_memory when given; lr as the optimiser will use it) and
# >= 0, and the largest value that can work, with why.
POSITIVE = (
    "max_long_edge",
    "lr",
    "lr_sched_step",
    "clip_factor",
    "min_num_epochs",
    "max_num_epochs",
    "check_every",
    "stop_window",
    "style_scale",
    "max_memory",
)
NON_NEGATIVE = (
    "content_weight",
    "style_weight",
    "tv_weight",
    "temporal_weight",
    "stop_eps",
    "weight_decay",
)
LIMITS = {
    "max_long_edge": (MAX_LONG_EDGE, f"not even a {MIN_EDGE}-px-wide picture fits MXNet"),
    "max_memory": (MAX_MEMORY_GIB, "GiB: a 64-bit byte count"),
    "lr": (FLOAT32_MAX, "MXNet's float32"),
    "weight_decay": (FLOAT32_MAX, "MXNet's float32"),
}


def _value(options: Options, name: str) -> Any:
    """A field's value as it will be used: ``lr`` is the optimiser's rate."""
    return options.learning_rate if name == "lr" else getattr(options, name)


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
    for name in POSITIVE:
        value = _value(options, name)
        if value is not None and not value > 0:
            raise NStyleError(f"{flag(name)} must be > 0, got {shown(value)}")
    for name in NON_NEGATIVE:
        if not getattr(options, name) >= 0:
            raise NStyleError(f"{flag(name)} must be >= 0, got {getattr(options, name)}")
    for name, (most, why) in LIMITS.items():
        value = _value(options, name)
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


def check_outputs(outputs: Outputs) -> None:
    check_finite(outputs)
    for name in ("save_epochs", "print_every"):
        if getattr(outputs, name) < 0:
            raise NStyleError(f"{flag(name)} must be >= 0, got {getattr(outputs, name)}")
    if outputs.remove_noise < 0:
        raise NStyleError(f"--remove-noise must be >= 0, got {outputs.remove_noise}")
