"""The options of a run, their checks and the coarse-to-fine schedule: ``limits`` (choices,
defaults, limits, a flag's spelling), ``values`` (each field's type and range),
``options`` (every field, its default and flag, and the views by concern), ``schedule``
(the scales and their budgets) and ``checks`` (what depends on several fields, the styles
or files). No framework: the command line, the web app and the docs read them without
MXNet. Every name is re-exported here."""

from nstyle.config.checks import (
    blend_weights,
    check_layers,
    check_options,
    check_outputs,
    check_styles,
)
from nstyle.config.limits import (
    COARSEST_EDGE,
    DEFAULT_LR,
    FLOAT32_MAX,
    FULL_FLOOR_EDGE,
    INITS,
    MAX_ELEMENTS,
    MAX_LONG_EDGE,
    MAX_MEMORY_GIB,
    MAX_SEED,
    MIN_SCALE_EPOCHS,
    OPTIMIZERS,
    TEMPORAL_WEIGHT,
    flag,
    shown,
)
from nstyle.config.options import (
    GROUPS,
    FirstOrder,
    Network,
    Objective,
    Options,
    Outputs,
    Scales,
    Solver,
    Start,
    Stop,
    option,
)
from nstyle.config.schedule import ScalePlan, scale_count, scale_floor, scale_plan, total_epochs
from nstyle.config.values import KINDS, check_finite, check_values, typed
from nstyle.errors import NStyleTypeError

__all__ = [
    "COARSEST_EDGE",
    "DEFAULT_LR",
    "FLOAT32_MAX",
    "FULL_FLOOR_EDGE",
    "GROUPS",
    "INITS",
    "KINDS",
    "MAX_ELEMENTS",
    "MAX_LONG_EDGE",
    "MAX_MEMORY_GIB",
    "MAX_SEED",
    "MIN_SCALE_EPOCHS",
    "OPTIMIZERS",
    "TEMPORAL_WEIGHT",
    "FirstOrder",
    "NStyleTypeError",
    "Network",
    "Objective",
    "Options",
    "Outputs",
    "ScalePlan",
    "Scales",
    "Solver",
    "Start",
    "Stop",
    "blend_weights",
    "check_finite",
    "check_layers",
    "check_options",
    "check_outputs",
    "check_styles",
    "check_values",
    "flag",
    "option",
    "scale_count",
    "scale_floor",
    "scale_plan",
    "shown",
    "total_epochs",
    "typed",
]
