"""The Wasserstein-2 distance between two Gaussians, for a style term that matches a layer's
feature mean and covariance (issue 25; crowsonkb's style-transfer-pytorch uses it):

    W2 = ||mu - mu_s||^2 + tr(C) + tr(T) - 2 tr((T^1/2 C T^1/2)^1/2)

and its gradient with respect to the picture's mean and covariance, on the host.

The square root's gradient is unbounded where T^1/2 C T^1/2 has zero eigenvalues, and at
coarse scales it has many: a covariance from fewer positions than channels (relu5_1 at
128 px has 40 positions for 512 channels) or with channels a ReLU silenced. There the
distance has a kink, and L-BFGS's line search failed on it. So the distance is taken
between regularised Gaussians: the picture's covariance plus ``eps T^-1`` and the
painting's ``S`` brought to ``T = (S + (S^2 + 4 eps I)^1/2) / 2``, with ``eps`` = ``RIDGE``
times the square of the painting's mean eigenvalue. It is a true W2 distance, smooth in
``C`` (the middle matrix is ``T^1/2 C T^1/2 + eps I``, never singular), 0 exactly where
the picture's mean and covariance are the painting's (``C + eps T^-1 = T`` when ``C = S``),
and where the painting has a direction's variance well above ``eps^1/2`` it is the
painting's own. Against the ridge added to both covariances that it replaced, it also lets
a covariance of rank ``m`` below its ``C`` channels be taken through an ``m x m``
eigendecomposition of its factor (``w2_factor``): at the coarse scales the 512 x 512 ones
were most of a W2 evaluation (docs/BENCHMARKS.md, "The W2 evaluation at the coarse scales").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.linalg

RIDGE = 1e-3  # eps: this times the square of the painting's mean eigenvalue
EPS = 1e-10  # without eps (``ridge=0``, the exact distance): the eigenvalues' floor


def eigh(matrix: np.ndarray):
    """A symmetric matrix's eigenvalues and eigenvectors by LAPACK's divide and conquer
    through scipy: 20% faster than numpy's at 256 and 512 (one OpenBLAS thread). The callers
    check that ``matrix`` is finite."""
    return scipy.linalg.eigh(matrix, driver="evd", check_finite=False)


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric positive semi-definite square root (negative rounding errors as 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


@dataclass(frozen=True)
class Target:
    """A painting's statistics on one layer, computed once: its mean (C,), its regularised
    covariance ``T`` (C, C), ``T``'s square root, the distance's constant ``tr T + eps tr
    T^-1`` and ``eps``; ``flat`` (when first asked): ``I - eps^-1/2 T``, the low-rank
    gradient's constant. ``w2`` needs the root, ``w2_factor`` ``T``: a target kept for one
    path (``kept_for``) holds None for the other's matrix."""

    mean: np.ndarray
    covariance: np.ndarray | None
    root: np.ndarray | None
    constant: float
    epsilon: float

    @classmethod
    def of(cls, mean: np.ndarray, covariance: np.ndarray, ridge: float = RIDGE) -> Target:
        """``ridge``: ``eps`` relative to the squared mean eigenvalue (0: the exact distance)."""
        covariance = np.asarray(covariance, np.float64)
        values, vectors = np.linalg.eigh((covariance + covariance.T) / 2)
        values = np.clip(values, 0, None)
        epsilon = ridge * float(values.mean()) ** 2
        regularised = (values + np.sqrt(values**2 + 4 * epsilon)) / 2
        inverse = 1 / regularised[regularised > 0] if epsilon > 0 else np.zeros(0)
        matrix = (vectors * regularised) @ vectors.T
        return cls(np.asarray(mean, np.float64), matrix,
                   (vectors * np.sqrt(regularised)) @ vectors.T,
                   float(regularised.sum() + epsilon * inverse.sum()), epsilon)  # fmt: skip

    @functools.cached_property
    def flat(self) -> np.ndarray:
        """``I - eps^-1/2 T`` (C, C): only the keys taken through their factor need it."""
        covariance = self.kept_covariance
        return np.eye(len(covariance)) - covariance / np.sqrt(self.epsilon)

    @property
    def kept_covariance(self) -> np.ndarray:
        """``T``, which the low-rank path (``w2_factor``, ``flat``) needs."""
        if self.covariance is None:
            raise ValueError("this target was kept without its covariance (for w2 only)")
        return self.covariance

    @property
    def kept_root(self) -> np.ndarray:
        """``T^1/2``, which ``w2`` needs."""
        if self.root is None:
            raise ValueError("this target was kept without its root (for w2_factor only)")
        return self.root

    def kept_for(self, factored: bool) -> Target:
        """This target for one path: ``w2_factor``'s (``factored``: ``T``, not its root) or
        ``w2``'s (the root, not ``T``): a (C, C) float64 matrix less held through a scale
        (2 MiB a region at 512 channels)."""
        if factored:
            return Target(self.mean, self.covariance, None, self.constant, self.epsilon)
        return Target(self.mean, None, self.root, self.constant, self.epsilon)


def w2(mean: np.ndarray, covariance: np.ndarray, target: Target):
    """(W2, dW2/dmean, dW2/dcovariance) of the picture's statistics against ``target``; in
    float64 (float32's rounding of the value, near the painting's statistics, was enough to
    fail the line search). A (C, C) eigendecomposition."""
    mean, covariance = np.asarray(mean, np.float64), np.asarray(covariance, np.float64)
    root = target.kept_root
    middle = root @ covariance @ root
    middle = (middle + middle.T) / 2 + target.epsilon * np.eye(len(middle))
    values, vectors = eigh(middle)
    largest = max(float(values.max()), 0.0)
    noise = len(values) * float(np.finfo(np.float64).eps) * largest  # rounding's eigenvalues: 0
    difference = mean - target.mean
    value = (
        float(difference @ difference)
        + float(np.trace(covariance))
        + target.constant
        - 2 * float(np.sqrt(np.where(values > noise, values, 0)).sum())
    )
    floor = EPS * largest + 1e-300  # without eps, for the gradient only
    values = np.clip(values, floor, None)
    rooted = root @ vectors  # T^1/2 (T^1/2 C T^1/2 + eps I)^-1/2 T^1/2 = (rooted/sqrt) rooted^T
    d_covariance = np.eye(len(mean)) - (rooted / np.sqrt(values)) @ rooted.T
    return value, 2 * difference, (d_covariance + d_covariance.T) / 2


def w2_factor(mean: np.ndarray, factor: np.ndarray, target: Target):
    """``w2`` of the covariance ``factor factor^T`` (``factor`` C x m, m below C), through
    the m x m eigendecomposition of ``factor^T T factor``: its eigenvalues are the nonzero
    ones of ``T^1/2 C T^1/2``, the other C - m are 0, and ``(T^1/2 C T^1/2 + eps I)^-1/2``
    is ``eps^-1/2 I`` plus a product through the factor. Needs ``eps`` > 0."""
    assert target.epsilon > 0, "the low-rank path needs the regularised distance"
    mean, factor = np.asarray(mean, np.float64), np.asarray(factor, np.float64)
    epsilon = target.epsilon
    spread = target.kept_covariance @ factor  # T A
    inner = factor.T @ spread
    values, vectors = eigh((inner + inner.T) / 2)
    shifted = np.sqrt(np.clip(values, 0, None) + epsilon)
    difference = mean - target.mean
    value = (
        float(difference @ difference)
        + float(np.sum(factor * factor))
        + target.constant
        - 2 * float(shifted.sum() + (len(mean) - len(values)) * np.sqrt(epsilon))
    )
    # ((x + eps)^-1/2 - eps^-1/2) / x, without the cancellation
    weight = -1 / (shifted * np.sqrt(epsilon) * (shifted + np.sqrt(epsilon)))
    projected = spread @ vectors
    d_covariance = target.flat - (projected * weight) @ projected.T
    return value, 2 * difference, (d_covariance + d_covariance.T) / 2


class W2Terms:
    """The host side of the Wasserstein-2 style term (``--style-loss w2``): each style key's
    target statistics, and from the picture's Gram matrix ``G`` and feature sum ``s`` over
    its positions (weighted by the squared guide where there are regions) the term's value
    and its gradients with respect to ``G`` and ``s``, which the executors take as head
    gradients.

    Means and covariances are per position: ``mu = s/N``, ``C = G/N - mu mu^T`` with ``N``
    the positions (or a region's coverage), the same for the target, whose Gram matrix and
    sum the targets hold already brought to ``N`` (so blends of paintings average the means
    and second moments, as crowsonkb's tool does). The term is ``N * W2``: like the Gram
    and content losses, a sum over positions, whose gradient at each position does not
    depend on the picture's size, so the balance of the terms holds at every scale.

    ``weights``: per key, None, or the weights (m,) of the m positions whose features the
    executor also gives (``evaluate``'s ``rows``, C x m, m below C): that key's covariance
    is then taken through its factor (``w2_factor``), the same distance at a fraction of
    the (C, C) eigendecomposition's cost.
    """

    def __init__(self, grams, sums, counts, weights: list[np.ndarray | None] | None = None):
        self.counts = [float(n) for n in counts]
        self.targets = [  # None: a region with no position on the layer, no term
            Target.of(*moments(g, s, n)) if n > 0 else None
            for g, s, n in zip(grams, sums, self.counts)
        ]
        weights = weights or [None] * len(self.counts)
        self.weights = [
            w if w is not None and t is not None and t.epsilon > 0 else None
            for w, t in zip(weights, self.targets)
        ]
        self.targets = [  # each key's target holds what its path needs (``Target.kept_for``)
            None if t is None else t.kept_for(w is not None)
            for t, w in zip(self.targets, self.weights)
        ]

    @property
    def factored(self) -> list[bool]:
        """Which keys take their positions' features (``evaluate``'s ``rows``)."""
        return [w is not None for w in self.weights]

    def evaluate(self, grams, sums, rows: list[np.ndarray | None] | None = None):
        """(N W2, d(N W2)/dG, d(N W2)/ds) per key, in float64; ``rows``: the features of
        the ``factored`` keys (C, m), None for the others."""
        values, d_grams, d_sums = [], [], []
        rows = rows or [None] * len(self.counts)
        for i, (gram, total, count, target) in enumerate(
            zip(grams, sums, self.counts, self.targets)
        ):
            if target is None:
                values.append(0.0)
                d_grams.append(np.zeros(np.shape(gram)))
                d_sums.append(np.zeros(np.size(total)))
                continue
            value, d_mean, d_cov, mean = self._one(i, gram, total, rows[i])
            values.append(count * value)
            d_grams.append(d_cov)
            d_sums.append(d_mean - 2 * d_cov @ mean)  # C = G/N - mu mu^T
        return values, d_grams, d_sums

    def _one(self, i: int, gram, total, rows):
        """(W2, dW2/dmean, dW2/dC, the mean) of key ``i``: NaN where the picture went NaN or inf (as
        the Gram loss would be on the device; the solvers roll back)."""
        count, target, weights = self.counts[i], self.targets[i], self.weights[i]
        assert target is not None
        mean = np.asarray(total, np.float64).reshape(-1) / count
        try:
            if weights is not None and rows is not None:
                factor = np.asarray(rows, np.float64) - mean[:, None]
                factor *= np.sqrt(weights / count)
                if not (np.all(np.isfinite(factor)) and np.all(np.isfinite(mean))):
                    raise np.linalg.LinAlgError("not finite")
                found = w2_factor(mean, factor, target)
            else:
                mean, covariance = moments(gram, total, count)
                if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(covariance))):
                    raise np.linalg.LinAlgError("not finite")
                found = w2(mean, covariance, target)
        except np.linalg.LinAlgError:  # not finite, or beyond float64
            size = len(target.mean)
            nan = np.full(size, np.nan)
            return np.nan, nan, np.full((size, size), np.nan), nan
        return (*found, mean)


def moments(gram: np.ndarray, total: np.ndarray, count: float):
    """(mean, covariance) per position from a Gram matrix and a feature sum over ``count``
    positions (float64: the covariance is a difference of two float32 sums)."""
    mean = np.asarray(total, np.float64).reshape(-1) / count
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf: see W2Terms.evaluate
        covariance = np.asarray(gram, np.float64) / count - np.outer(mean, mean)
    return mean, (covariance + covariance.T) / 2
