"""Spatial control (Gatys, Ecker, Bethge, Hertzmann & Shechtman, "Controlling Perceptual
Factors in Neural Style Transfer", CVPR 2017): each region of the photo is matched to its
own paintings' statistics by guided Gram matrices.

A region's guide is a greyscale mask at the photo's size (1: the region, between: a blend,
0: elsewhere). On each style layer the guide is average-pooled as the network pools the
image, so it lies on the features' grid at any size and in any tile; the layer's features
are multiplied by it before the Gram matrix. Styles given the same mask share a region and
are blended there by their blend weights; where no mask covers a pixel only the content
and smoothing terms act: the photo is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import mxnet as mx
import numpy as np

from nstyle.engine.terms import Network
from nstyle.errors import NStyleError, NStyleTypeError
from nstyle.media import images
from nstyle.spec import layer_plan


@dataclass(frozen=True)
class Region:
    """Where some of the paintings go: ``guide`` (H, W) float32 in 0..1 at the photo's size,
    the style images painted there (their indices) and their weights there (sum 1)."""

    guide: np.ndarray
    styles: tuple[int, ...]
    weights: tuple[float, ...]


def as_mask(mask, what: str, shape=None) -> np.ndarray:
    """A mask as (H, W) float32 in 0..1: uint8 (0..255), bool, or floats in 0..1; one line
    naming ``what`` for anything else (another array type, NaN, an empty array), or for a
    mask empty everywhere. ``shape``: the largest (H', W') it is used at; a larger mask is
    shrunk once to a few times that, as a photo is (``images.shrunk``), so that each scale
    resizes a small copy rather than the file's full size."""
    images.check_array(mask, what)
    if mask.ndim != 2:
        raise NStyleError(
            f"{what}: expected a greyscale mask (H, W), got an array of shape {mask.shape}"
        )
    if min(mask.shape) < 1:
        raise NStyleError(f"{what}: the mask is empty, shape {mask.shape}")
    if mask.dtype == bool:
        mask = mask.view(np.uint8) * np.uint8(255)
    elif np.issubdtype(mask.dtype, np.floating):
        mask = mask.astype(np.float32)
        if not np.all(np.isfinite(mask)):
            raise NStyleError(f"{what}: the mask holds NaN or inf values")
        low, high = float(mask.min()), float(mask.max())
        if low < 0 or high > 1:
            raise NStyleError(
                f"{what}: a float mask's values must be in 0..1, got {low:g}..{high:g}"
            )
    elif mask.dtype != np.uint8:
        raise NStyleError(f"{what}: expected uint8, bool or float values, got {mask.dtype}")
    if not mask.any():
        raise NStyleError(f"{what} is empty everywhere: its painting would go nowhere")
    if shape is not None:
        mask = images.shrunk(np.ascontiguousarray(mask), shape)
    return mask.astype(np.float32) / 255 if mask.dtype == np.uint8 else mask


def checked_masks(masks, count: int, what: str, optional: bool = False, shapes=None):
    """``masks`` as guides (``as_mask``), one per style image (None entries where
    ``optional``), or None; one line naming the argument otherwise. ``shapes``: the largest
    each is used at (``as_mask``'s ``shape``)."""
    if masks is None:
        return None
    if isinstance(masks, np.ndarray):
        masks = [masks]
    if not isinstance(masks, (list, tuple)):
        raise NStyleTypeError(
            f"{what}: expected a list of arrays, one per style image, got {type(masks).__name__}"
        )
    if len(masks) != count:
        raise NStyleError(
            f"{what}: {len(masks)} mask(s) for {count} style image(s); give one per style image"
        )
    shapes = shapes or [None] * count
    return [
        None if mask is None and optional else as_mask(mask, f"{what}[{i}]", shapes[i])
        for i, mask in enumerate(masks)
    ]


def regions(masks: Sequence[np.ndarray], blend: Sequence[float]) -> tuple[Region, ...]:
    """The regions of these masks (one per style image, ``as_mask``'s form): styles with
    equal masks share one, blended there by their ``blend`` weights, normalised."""
    found: list[Region] = []
    for index, (mask, weight) in enumerate(zip(masks, blend, strict=True)):
        same = next((r for r in found if np.array_equal(r.guide, mask)), None)
        if same is None:
            found.append(Region(mask, (index,), (weight,)))
        else:
            found[found.index(same)] = Region(mask, (*same.styles, index), (*same.weights, weight))
    normalised = []
    for region in found:
        total = sum(region.weights)
        if total <= 0:
            raise NStyleError(
                "--style-blend-weights: the styles of one mask all weigh 0: "
                "its region would get no painting"
            )
        normalised.append(
            Region(region.guide, region.styles, tuple(w / total for w in region.weights))
        )
    return tuple(normalised)


def guide_at(guide: np.ndarray, shape) -> np.ndarray:
    """The guide (H, W) resized to a picture of ``shape`` (H', W'), as (1, 1, H', W')."""
    resized = images.resize_array(guide[None, None], tuple(shape[-2:]))
    return np.clip(resized, 0, 1).astype(np.float32)


def layer_guides(
    guide: np.ndarray, num_layers: int, layers: Sequence[str], ctx, dtype="float32"
) -> dict[str, mx.nd.NDArray]:
    """A guide (1, 1, H, W) at the input's size on the grid of each of ``layers``: pooled
    2x2 by average at each of the network's poolings (the same floor at odd sizes), so it
    covers what each feature sees whatever the picture's or tile's size."""
    wanted, found = set(layers), dict[str, mx.nd.NDArray]()
    current = mx.nd.array(guide, ctx=ctx, dtype=dtype)
    for kind, name in layer_plan(num_layers):
        if len(found) == len(wanted):
            break
        if kind == "pool":
            current = mx.nd.Pooling(current, kernel=(2, 2), stride=(2, 2), pool_type="avg")
        elif name in wanted:
            found[name] = current
    return found


def coverage(guides: dict[str, mx.nd.NDArray]) -> dict[str, float]:
    """Each layer's sum of the squared guide: the positions a region's Gram matrix sums
    over (the whole grid's count where the guide is 1 everywhere)."""
    return {name: float(mx.nd.sum(g * g).asscalar()) for name, g in guides.items()}


def region_targets(
    net: Network,
    styles_x: Sequence[np.ndarray],
    regions_: Sequence[Region],
    shape,
    style_guides: Sequence[np.ndarray | None] | None = None,
) -> dict[str, mx.nd.NDArray]:
    """Each region's targets for a photo of ``shape`` (1, 3, H, W): on every style layer its
    guide ``guide_r<k>_<layer>`` and the blend of its paintings' Gram matrices
    ``target_gram_r<k>_<layer>`` and feature sums ``target_sum_r<k>_<layer>``, each brought
    to the region's coverage (the sum of the squared guide) from the painting's own (its
    positions, or its ``style_guides`` mask's).
    A guide of ones everywhere gives the unguided targets exactly."""
    targets: dict[str, mx.nd.NDArray] = {}
    layers = net.style_layers

    def on_layers_of(guide: np.ndarray, shape) -> dict[str, mx.nd.NDArray]:
        return layer_guides(guide_at(guide, shape), net.num_layers, layers, net.ctx, net.dtype)

    for k, region in enumerate(regions_):
        on_layers = on_layers_of(region.guide, shape)
        covered = coverage(on_layers)
        for index, weight in zip(region.styles, region.weights):
            style_x, mask = styles_x[index], (style_guides or [None] * len(styles_x))[index]
            guides = None if mask is None else on_layers_of(mask, style_x.shape)
            grams = net.targets(style_x, guides)
            own = coverage(guides) if guides else net.positions(style_x.shape)
            for name in layers:
                if own[name] <= 0:
                    raise NStyleError(
                        f"style_masks[{index}] covers no position of the painting at "
                        f"{name} (a strip at its border narrower than the network's stride "
                        f"there): widen it"
                    )
                for kind in ("gram", "sum"):
                    key = f"target_{kind}_r{k}_{name}"
                    term = grams[f"target_{kind}_{name}"] * (weight * covered[name] / own[name])
                    targets[key] = term if key not in targets else targets[key] + term
        targets.update({f"guide_r{k}_{name}": guide for name, guide in on_layers.items()})
    return targets
