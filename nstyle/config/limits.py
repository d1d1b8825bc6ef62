"""The options' choices, defaults and limits, and how a flag and a number are spelled in
a message: the bottom of ``nstyle.config``, imported by its other modules. No framework."""

from __future__ import annotations

from nstyle.spec import MIN_EDGE

OPTIMIZERS = ("lbfgs", "sgd", "adam")
DEFAULT_LR = {"sgd": 1e-3, "adam": 2.0, "lbfgs": 1.0}  # lbfgs: unused, any positive value
INITS = ("content", "noise")
STYLE_LOSSES = ("gram", "w2", "mixed")  # the style statistics matched (nstyle.engine.objective)
POST_PROCESSES = ("closed", "guided", "none")  # photo to photo's (nstyle.engine.smoothing)
# --matting-weight with --photo (docs/BENCHMARKS.md, "Photo to photo"): Luan et al.'s lambda
# on pictures in 0..1, about 1e10 against nstyle's losses, over 255^2 for pixels in 0..255.
PHOTO_MATTING_WEIGHT = 1.5e5
# --photo-regions' most: more than a picture's statistics can be split into at the deepest
# layers (each region needs positions there)
MAX_PHOTO_REGIONS = 16
MAX_SEED = 2**32 - 1  # numpy's SeedSequence takes any int >= 0; keep seeds portable
# The default coarse-to-fine schedule starts at about this long edge: below it a painting's
# objects are cheap to draw and the coarse picture copies them (docs/BENCHMARKS.md, "Where
# Gram's copied objects come from"); photo to photo, which copies no object, from 128 px.
COARSEST_EDGE = 512
PHOTO_COARSEST_EDGE = 128
# The first scale's default budget: MAX_NUM_EPOCHS, but at most this many epochs times
# pixels (long edge squared): 30 epochs at 512 px, the time the earlier schedule from 128 px
# took there. A --max-num-epochs given otherwise is the first scale's budget as it is.
MAX_NUM_EPOCHS = 300
FIRST_SCALE_PIXEL_EPOCHS = 30 * 512 * 512
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


def flag(name: str) -> str:
    """The command-line spelling of a field: ``--content-weight``."""
    return "--" + name.replace("_", "-")


def shown(value: float) -> str:
    """A number short enough for a one-line message (10**30 as 1e+30)."""
    return f"{value:.4g}" if abs(value) >= 1e15 else str(value)
