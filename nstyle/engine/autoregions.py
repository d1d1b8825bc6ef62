"""Photo to photo's regions when the user gives no segmentations: the photo and the
reference clustered jointly on the loss network's features, so that the sky takes the
reference's sky and the buildings its buildings (Luan et al. 2017 need hand-made label
images; docs/BENCHMARKS.md, "Photo to photo (issue 33)", measured the choices here).

The features are one mid layer's (``LAYER``, relu4_1: what a region is, more than its
colour) of each picture at ``EDGE`` px, each picture's mean taken away (the two pictures'
looks differ by design: the clusters should not split them by picture), reduced to
``DIMENSIONS`` principal components, with the height in the picture (skies are on top)
weighed by ``POSITION_WEIGHT``. scipy's k-means (``kmeans2``, k-means++ seeds, the best
of ``RESTARTS``) clusters both pictures' positions at once, so a cluster is one region on
both sides. Label maps are brought to the pictures' size through each cluster's soft
mask after a majority filter (no specks, no steps). A cluster holding less than
``MIN_SHARE`` of the photo is merged into the nearest other one (too few positions at
the deepest layer to hold statistics); one holding less than that of the reference is the
photo's alone, so it takes the whole reference's statistics, as a segmentation's label the
reference lacks does (``nstyle.media.segmentation.index_regions``).
"""

from __future__ import annotations

import mxnet as mx
import numpy as np

from nstyle.engine import network
from nstyle.engine.terms import Network
from nstyle.media import images
from nstyle.spec import layer_plan

EDGE = 350  # px, long edge of both pictures when clustered
LAYER = "relu4_1"
DIMENSIONS = 32  # principal components of the joint features
POSITION_WEIGHT = 1.0  # of the height in the picture, against features of unit RMS
RESTARTS = 4  # k-means runs, the one of least distortion kept
MIN_SHARE = 0.03  # of a picture's positions: a smaller cluster holds no statistics
MAJORITY = 3  # the majority filter's width, in cells of the feature grid


def features(net: Network, mean: np.ndarray, picture: np.ndarray) -> np.ndarray:
    """``LAYER``'s features (h, w, C) of an RGB uint8 picture (the network's nearest in
    depth when it computes no ``LAYER``: other --style-layers)."""
    order = [name for kind, name in layer_plan(net.num_layers) if kind == "conv"]
    layer = min(net.features, key=lambda n: abs(order.index(n) - order.index(LAYER)))
    data = mx.nd.array(images.preprocess(picture, mean), ctx=net.ctx, dtype=net.dtype)
    executor = network.bind(net.features[layer], net.ctx, dict(net.params, data=data))
    executor.forward(is_train=False)
    return executor.outputs[0].asnumpy()[0].transpose(1, 2, 0).astype(np.float64)


def joint_points(photo: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The points k-means clusters, the photo's positions then the reference's, from their
    features (h, w, C): each picture's mean taken away, the principal components, the
    height in the picture."""
    rows = [f.reshape(-1, f.shape[-1]) for f in (photo, reference)]
    rows = [r - r.mean(axis=0) for r in rows]
    joint = np.vstack(rows)
    joint /= np.sqrt((joint**2).sum(axis=1).mean()) + 1e-12
    _, _, basis = np.linalg.svd(joint - joint.mean(axis=0), full_matrices=False)
    points = joint @ basis[:DIMENSIONS].T
    points /= np.sqrt((points**2).sum(axis=1).mean()) + 1e-12
    heights = [
        np.repeat((np.arange(f.shape[0]) + 0.5) / f.shape[0] - 0.5, f.shape[1])
        for f in (photo, reference)
    ]
    return np.hstack([points, POSITION_WEIGHT * np.concatenate(heights)[:, None]])


def cluster(points: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres (K, D), each point's cluster (N,)): scipy's k-means with k-means++ seeds,
    the best of ``RESTARTS`` runs, all drawn from ``seed``."""
    from scipy.cluster.vq import kmeans2

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(RESTARTS):
        centres, found = kmeans2(points, count, minit="++", seed=rng)
        distortion = ((points - centres[found]) ** 2).sum()
        if best is None or distortion < best[0]:
            best = (distortion, centres, found)
    assert best is not None
    return best[1], best[2]


def merged(points, centres, found, split: int) -> np.ndarray:
    """``found`` with each cluster holding less than ``MIN_SHARE`` of the photo's points
    (the first ``split``) given to the nearest remaining centre, on both sides."""
    share = np.bincount(found[:split], minlength=len(centres)) / split
    keep = np.flatnonzero(share >= MIN_SHARE)
    if keep.size == 0:
        keep = np.array([int(share.argmax())])
    distances = ((points[:, None, :] - centres[None, keep]) ** 2).sum(axis=-1)
    nearest = keep[distances.argmin(axis=1)]
    return np.where(np.isin(found, keep), found, nearest)


def label_map(grid: np.ndarray, ids: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A label grid (h, w) at ``shape`` (H, W): a majority filter of ``MAJORITY`` cells on
    the grid (no lone cells: too few positions to hold statistics, and specks), then each
    label's mask resized smoothly and the largest taken at each pixel (borders without
    steps)."""
    from scipy.ndimage import uniform_filter

    def largest(masks: list[np.ndarray]) -> np.ndarray:
        return ids[np.argmax(np.stack(masks), axis=0)]

    one_hot = [(grid == k).astype(np.float32) for k in ids]
    grid = largest([uniform_filter(m, MAJORITY, mode="nearest") for m in one_hot])
    return largest(
        [images.resize_array((grid == k).astype(np.float32)[None, None], shape)[0, 0] for k in ids]
    )


def find(
    net: Network,
    mean: np.ndarray,
    photo: np.ndarray,
    reference: np.ndarray,
    count: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The photo's and the reference's label maps (H, W) int at their size at ``EDGE`` px
    long edge: ``count`` clusters at most of both pictures' features together, the same
    number a region on both sides (a label missing on a side: none of that picture is it)."""
    small = [images.resize_long_edge(p, EDGE) for p in (photo, reference)]
    found = [features(net, mean, p) for p in small]
    points = joint_points(found[0], found[1])
    split = found[0].shape[0] * found[0].shape[1]
    count = max(1, min(count, len(points) // 2))
    centres, assigned = cluster(points, count, seed)
    assigned = merged(points, centres, assigned, split)
    theirs = assigned[split:]  # a cluster with too few of the reference's: the photo's alone
    share = np.bincount(theirs, minlength=len(centres)) / max(1, len(theirs))
    assigned[split:] = np.where(share[theirs] < MIN_SHARE, -1, theirs)
    grids = (assigned[:split], assigned[split:])
    maps = []
    for grid, feature, picture in zip(grids, found, small):
        ids = np.unique(grid)
        maps.append(label_map(grid.reshape(feature.shape[:2]), ids, picture.shape[:2]))
    return maps[0], maps[1]
