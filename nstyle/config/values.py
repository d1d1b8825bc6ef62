"""Each field of ``Options`` on its own: its type (``typed``) and its range
(``check_values``), checked when an ``Options`` is made, so a value that cannot work fails
at once, naming its flag. No framework."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections import Counter
from typing import TYPE_CHECKING, Any

from nstyle.config.limits import (
    FLOAT32_MAX,
    MAX_LONG_EDGE,
    MAX_MEMORY_GIB,
    MAX_PHOTO_REGIONS,
    MAX_SEED,
    flag,
    shown,
)
from nstyle.errors import NStyleError, NStyleTypeError
from nstyle.spec import MIN_EDGE

if TYPE_CHECKING:
    from nstyle.config.options import Options

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


def check_choices(values: Any) -> None:
    """Every field of an ``Options`` or ``Outputs`` that has ``choices`` (the command line's
    own) holds one of them: the library takes no other spelling (``style_loss="W2"`` would
    otherwise paint with the Gram loss); a field whose default is None may be None (not
    given)."""
    for f in dataclasses.fields(values):
        choices = f.metadata.get("choices")
        value = getattr(values, f.name)
        if value is None and f.default is None:
            continue
        if choices is not None and value not in choices:
            raise NStyleError(
                f"{flag(f.name)} must be one of {', '.join(choices)}, got {value!r:.60}"
            )


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
    "photo_regions",
)
NON_NEGATIVE = (
    "content_weight",
    "style_weight",
    "tv_weight",
    "temporal_weight",
    "matting_weight",
    "stop_eps",
    "weight_decay",
)
LIMITS = {
    "max_long_edge": (MAX_LONG_EDGE, f"not even a {MIN_EDGE}-px-wide picture fits MXNet"),
    "max_memory": (MAX_MEMORY_GIB, "GiB: a 64-bit byte count"),
    "photo_regions": (MAX_PHOTO_REGIONS, "each region needs positions at the deepest layer"),
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
    check_choices(options)
    for name in POSITIVE:
        value = _value(options, name)
        if value is not None and not value > 0:
            raise NStyleError(f"{flag(name)} must be > 0, got {shown(value)}")
    for name in NON_NEGATIVE:
        if getattr(options, name) is not None and not getattr(options, name) >= 0:
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
