"""The checks of a run's options before any work, beyond each field's own
(``nstyle.config.values``): what depends on several fields, on the styles given, on files,
or on the network's depth (``check_options``), and the outputs' settings. No framework."""

from __future__ import annotations

from pathlib import Path

from nstyle.config.limits import INITS, MAX_LONG_EDGE, flag
from nstyle.config.options import Options, Outputs
from nstyle.config.schedule import scale_plan
from nstyle.config.values import check_choices, check_finite, check_values
from nstyle.errors import NStyleError
from nstyle.spec import MIN_EDGE, check_layer_names


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
    """The outputs' settings: finite, in their choices, none negative."""
    check_finite(outputs)
    check_choices(outputs)
    for name in ("save_epochs", "print_every"):
        if getattr(outputs, name) < 0:
            raise NStyleError(f"{flag(name)} must be >= 0, got {getattr(outputs, name)}")
    if outputs.remove_noise < 0:
        raise NStyleError(f"--remove-noise must be >= 0, got {outputs.remove_noise}")
