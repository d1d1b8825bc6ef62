"""The library's entry points: ``stylize`` paints a photo in the style of one or more
paintings, from arrays to an array; ``transfer`` also says how the run went; ``Painter``
keeps the network for many pictures. Settings are ``Options`` fields, given as an
``Options`` or as keywords (``stylize(photo, painting, max_long_edge=384)``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Any

import mxnet as mx
import numpy as np

from nstyle.config import Options
from nstyle.engine.painter import Iterate, Painter, Result, check_callback, load_weights
from nstyle.engine.scale import Temporal
from nstyle.errors import NStyleTypeError
from nstyle.weights import Weights

__all__ = [
    "Iterate",
    "Painter",
    "Result",
    "Temporal",
    "load_weights",
    "stylize",
    "transfer",
]
SETTINGS = frozenset(f.name for f in dataclasses.fields(Options))


def stylize(
    content: np.ndarray,
    styles: np.ndarray | list[np.ndarray],
    options: Options = Options(),
    *,
    ctx: mx.Context | None = None,
    weights: Weights | str | os.PathLike | None = None,
    callback: Callable[[Iterate], None] | None = None,
    masks: Sequence[np.ndarray] | None = None,
    style_masks: Sequence[np.ndarray | None] | None = None,
    **settings: Any,
) -> np.ndarray:
    """Paint ``content`` in the style of ``styles``; returns the picture, RGB uint8 (H, W, 3)
    at the content's resized shape, before any denoising.

    Parameters
    ----------
    content : ndarray
        The photo, any size, as scikit-image users pass images: uint8 (0..255), uint16,
        float (0..1) or bool; RGB (H, W, 3), grey (H, W) or RGBA (H, W, 4, flattened onto
        white). Resized as the options say.
    styles : ndarray or list of ndarray
        One painting or several (as ``content``), blended by ``style_blend_weights``.
    options : Options, optional
        Every setting (``nstyle.config.Options``); default: the defaults.
    ctx : mxnet.Context, optional
        Where to run; default the CPU (a GPU is checked as ``--gpu N`` is).
    weights : Weights, str or path, optional
        Loaded weights (``load_weights``) or a weights file to read; default
        ``load_weights(options)``.
    callback : callable, optional
        Called after every epoch with an ``Iterate``.
    masks : list of ndarray, optional
        One greyscale mask (H, W) per style image, any size (resized to the photo): where
        on the photo that painting goes (1: there, between: a blend); where no mask covers
        a pixel the photo is kept. uint8, bool or floats in 0..1.
    style_masks : list of ndarray or None, optional
        One per style image (None: all of it): the part of each painting its statistics
        are taken from.
    **settings
        ``Options`` fields that replace the options' own, e.g. ``max_long_edge=384``.

    Raises
    ------
    NStyleError
        For any argument that cannot work, naming it, before any work.
    """
    return transfer(
        content,
        styles,
        options,
        ctx=ctx,
        weights=weights,
        callback=callback,
        masks=masks,
        style_masks=style_masks,
        **settings,
    ).image


def transfer(
    content: np.ndarray,
    styles: np.ndarray | list[np.ndarray],
    options: Options = Options(),
    *,
    ctx: mx.Context | None = None,
    weights: Weights | str | os.PathLike | None = None,
    callback: Callable[[Iterate], None] | None = None,
    init: np.ndarray | None = None,
    masks: Sequence[np.ndarray] | None = None,
    style_masks: Sequence[np.ndarray | None] | None = None,
    **settings: Any,
) -> Result:
    """``stylize``, returning the picture with the number of epochs and why they ended
    (a ``Result``). ``init``: the start picture when ``options.init`` names a file, already
    read (as ``Painter`` takes it); a name or path here is the setting ``Options.init``
    (``init="noise"``), as every other keyword."""
    check_callback(callback)
    if isinstance(init, (str, os.PathLike)):  # the setting, not a picture
        settings, init = {**settings, "init": os.fspath(init)}, None
    options = with_settings(options, settings)
    painter = Painter(styles, options, ctx=ctx, weights=weights, init=init, style_masks=style_masks)
    return painter.paint(content, callback=callback, masks=masks)


def with_settings(options: Options, settings: dict[str, Any]) -> Options:
    """``options`` with ``settings`` (field names) replaced; an unknown name is a
    ``NStyleTypeError`` naming it. Anything but an ``Options`` (None too) is left for the
    painter's checks to refuse, in one line."""
    unknown = sorted(set(settings) - SETTINGS)
    if unknown:
        raise NStyleTypeError(
            f"unknown setting(s) {', '.join(unknown)}: the settings are the fields of "
            "nstyle.Options (e.g. max_long_edge, style_weight)"
        )
    if settings and isinstance(options, Options):
        return options.replace(**settings)
    return options
