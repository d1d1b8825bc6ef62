"""The Wasserstein-2 distance between two Gaussians, for a style term that matches a layer's
feature mean and covariance (issue 25; crowsonkb's style-transfer-pytorch uses it):

    W2 = ||mu - mu_s||^2 + tr(C) + tr(C_s) - 2 tr((C_s^1/2 C C_s^1/2)^1/2)

and its gradient with respect to the picture's mean and covariance, from symmetric
eigendecompositions on the host (C is at most 512 x 512: milliseconds).

The square root's gradient is unbounded where C_s^1/2 C C_s^1/2 has zero eigenvalues, and
at coarse scales it has many: a covariance from fewer positions than channels (relu5_1 at
128 px has 48 positions for 512 channels) or with channels a ReLU silenced. There the
distance has a kink, and L-BFGS's line search failed on it (3 evaluations per iteration,
then "no further descent"). So both covariances get a ridge: ``ridge * I`` added, ``ridge``
= ``RIDGE`` times the painting's mean eigenvalue (a constant of the target), which makes the
distance smooth and leaves it 0 between equal statistics. What is left of a zero
eigenvalue in rounding is floored at ``EPS`` times the largest for the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RIDGE = 1e-3  # of the painting's mean eigenvalue, added to both covariances' diagonals
EPS = 1e-10  # relative floor of the eigenvalues whose square root is differentiated


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric positive semi-definite square root (negative rounding errors as 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


@dataclass(frozen=True)
class Target:
    """A painting's statistics on one layer: its mean (C,), its covariance (C, C) with the
    ridge added, that one's square root and trace, computed once, and the ridge."""

    mean: np.ndarray
    covariance: np.ndarray
    root: np.ndarray
    trace: float
    ridge: float

    @classmethod
    def of(cls, mean: np.ndarray, covariance: np.ndarray, ridge: float = RIDGE) -> Target:
        """``ridge``: relative to the mean eigenvalue (0: the exact distance)."""
        covariance = np.asarray(covariance, np.float64)
        added = ridge * max(float(np.trace(covariance)), 0.0) / len(covariance)
        covariance = covariance + added * np.eye(len(covariance))
        return cls(np.asarray(mean, np.float64), covariance, sqrtm_psd(covariance),
                   float(np.trace(covariance)), added)  # fmt: skip


def w2(mean: np.ndarray, covariance: np.ndarray, target: Target):
    """(W2, dW2/dmean, dW2/dcovariance) of the picture's statistics, the target's ridge
    added, against ``target``; in float64 (float32's rounding of the value, near the
    painting's statistics, was enough to fail the line search)."""
    mean, covariance = np.asarray(mean, np.float64), np.asarray(covariance, np.float64)
    covariance = covariance + target.ridge * np.eye(len(covariance))
    root = target.root
    middle = root @ covariance @ root
    values, vectors = np.linalg.eigh((middle + middle.T) / 2)
    values = values.astype(np.float64)
    largest = max(float(values.max()), 0.0)
    noise = len(values) * float(np.finfo(np.float64).eps) * largest  # rounding's eigenvalues: 0
    difference = mean - target.mean
    value = (
        float(difference @ difference)
        + float(np.trace(covariance))
        + target.trace
        - 2 * float(np.sqrt(np.where(values > noise, values, 0)).sum())
    )
    floor = EPS * largest + 1e-300  # for the gradient only
    values = np.clip(values, floor, None)
    rooted = root @ vectors  # C_s^1/2 (C_s^1/2 C C_s^1/2)^-1/2 C_s^1/2 = (rooted/sqrt) rooted^T
    d_covariance = np.eye(len(mean)) - (rooted / np.sqrt(values)) @ rooted.T
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
    """

    def __init__(self, grams: list[np.ndarray], sums: list[np.ndarray], counts: list[float]):
        self.counts = [float(n) for n in counts]
        self.targets = [  # None: a region with no position on the layer, no term
            Target.of(*moments(g, s, n)) if n > 0 else None
            for g, s, n in zip(grams, sums, self.counts)
        ]

    def evaluate(self, grams: list[np.ndarray], sums: list[np.ndarray]):
        """(N W2, d(N W2)/dG, d(N W2)/ds) per key, in float64."""
        values, d_grams, d_sums = [], [], []
        for gram, total, count, target in zip(grams, sums, self.counts, self.targets):
            if target is None:
                values.append(0.0)
                d_grams.append(np.zeros(np.shape(gram)))
                d_sums.append(np.zeros(np.size(total)))
                continue
            mean, covariance = moments(gram, total, count)
            try:
                if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(covariance))):
                    raise np.linalg.LinAlgError("not finite")
                value, d_mean, d_cov = w2(mean, covariance, target)
            except np.linalg.LinAlgError:  # an image gone NaN or inf, or beyond float64:
                # NaN as the Gram loss would be on the device; the solvers roll back
                value, d_mean, d_cov = np.nan, np.full_like(mean, np.nan), covariance * np.nan
            values.append(count * value)
            d_grams.append(d_cov)
            d_sums.append(d_mean - 2 * d_cov @ mean)
        return values, d_grams, d_sums


def moments(gram: np.ndarray, total: np.ndarray, count: float):
    """(mean, covariance) per position from a Gram matrix and a feature sum over ``count``
    positions (float64: the covariance is a difference of two float32 sums)."""
    mean = np.asarray(total, np.float64).reshape(-1) / count
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf: see W2Terms.evaluate
        covariance = np.asarray(gram, np.float64) / count - np.outer(mean, mean)
    return mean, (covariance + covariance.T) / 2
