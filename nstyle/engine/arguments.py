"""The painter's arguments checked at its entry (a library caller's context, weights,
callback, temporal target and given pictures): one line naming the argument, before any
work."""

from __future__ import annotations

import os

import mxnet as mx
import numpy as np

from nstyle import devices
from nstyle.config import NStyleTypeError, Options
from nstyle.engine.scale import Temporal
from nstyle.errors import NStyleError
from nstyle.media import images
from nstyle.weights import Weights, resolve


def load_weights(options: Options, fallback: str | None = None) -> Weights:
    """The weights ``options`` ask for (see ``nstyle.weights.resolve``)."""
    return resolve(options.model, options.weights, fallback)


def checked_context(ctx) -> mx.Context:
    """``ctx`` (None: the CPU), or one line naming it: not a context, or a GPU this MXNet
    build or machine cannot use (``devices.select_context``'s checks)."""
    if ctx is None:
        return mx.cpu()
    if not isinstance(ctx, mx.Context):
        raise NStyleTypeError(
            f"ctx: expected an mxnet.Context such as mx.cpu() or mx.gpu(0), got "
            f"{type(ctx).__name__} {ctx!r:.60}"
        )
    if ctx.device_type == "gpu":
        try:
            devices.select_context(ctx.device_id)
        except NStyleError as exc:
            said = str(exc).replace("--gpu -1", "mx.cpu()").replace(f"--gpu {ctx.device_id}: ", "")
            raise NStyleError(f"ctx={ctx}: {said}") from None
    elif ctx.device_type != "cpu":
        raise NStyleError(f"ctx={ctx}: nstyle runs on mx.cpu() or mx.gpu(N)")
    return ctx


def checked_weights(weights, options: Options) -> Weights:
    """``weights`` as loaded weights: given (a ``Weights``), read from a path (as
    ``Options.weights`` would be), or by default ``load_weights(options)``."""
    if weights is None:
        return load_weights(options)
    if isinstance(weights, Weights):
        return weights
    if isinstance(weights, (str, os.PathLike)):
        return resolve(options.model, os.fspath(weights))
    raise NStyleTypeError(
        f"weights: expected nstyle's Weights (load_weights) or a weights file's path, got "
        f"{type(weights).__name__} {weights!r:.60}"
    )


def check_callback(callback) -> None:
    if callback is not None and not callable(callback):
        raise NStyleTypeError(
            f"callback: expected a function taking an Iterate, got "
            f"{type(callback).__name__} {callback!r:.60}"
        )


def checked_temporal(temporal) -> Temporal:
    """``temporal`` with its picture as RGB uint8, its mask (H, W) of 0..1 float32 beside
    it, and a finite weight >= 0; else one line naming the part."""
    if not isinstance(temporal, Temporal):
        raise NStyleTypeError(
            f"temporal: expected nstyle.api.Temporal, got {type(temporal).__name__}"
        )
    warped = images.as_rgb(temporal.warped, "temporal.warped")
    mask = temporal.mask
    if not isinstance(mask, np.ndarray) or mask.shape != warped.shape[:2]:
        raise NStyleError(
            f"temporal.mask: expected an array of shape {warped.shape[:2]}, got "
            f"{getattr(mask, 'shape', type(mask).__name__)}"
        )
    images.check_array(mask, "temporal.mask")  # np.matrix, a masked array: refused
    if not np.issubdtype(mask.dtype, np.number) and mask.dtype != bool:
        raise NStyleError(f"temporal.mask: expected numbers, got dtype {mask.dtype}")
    mask = mask.astype(np.float32)
    if not (np.all(np.isfinite(mask)) and mask.min() >= 0 and mask.max() <= 1):
        raise NStyleError("temporal.mask: values must be in 0..1")
    weight = temporal.weight
    if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)):
        raise NStyleTypeError(f"temporal.weight: expected a number, got {type(weight).__name__}")
    if not 0 <= float(weight) < float("inf"):
        raise NStyleError(f"temporal.weight must be a finite number >= 0, got {weight}")
    return Temporal(warped, mask, float(weight))


def check_given(final: tuple[int, int], start, temporal) -> None:
    """A given start picture and temporal target must be at the output's size."""
    given_pictures = [(start, "start")]
    if temporal is not None:
        given_pictures.append((temporal.warped, "temporal.warped"))
    for given, what in given_pictures:
        if given is not None and tuple(given.shape[:2]) != final:
            raise NStyleError(
                f"{what}: {given.shape[1]}x{given.shape[0]}, the output is {final[1]}x{final[0]}"
            )
