"""The Wasserstein-2 distance between two Gaussians, for a style term that matches a layer's
feature mean and covariance (issue 25; crowsonkb's style-transfer-pytorch uses it):

    W2 = ||mu - mu_s||^2 + tr(C) + tr(C_s) - 2 tr((C_s^1/2 C C_s^1/2)^1/2)

and its gradient with respect to the picture's mean and covariance, from symmetric
eigendecompositions on the host (C is at most 512 x 512: milliseconds). The square root's
gradient is unbounded where C_s^1/2 C C_s^1/2 has zero eigenvalues (a covariance from fewer
positions than channels, at coarse scales and in small tiles): eigenvalues are floored at
``EPS`` times the largest, which bounds it and moves the value by less than that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPS = 1e-10  # relative floor of the eigenvalues whose square root is differentiated


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric positive semi-definite square root (negative rounding errors as 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


@dataclass(frozen=True)
class Target:
    """A painting's statistics on one layer: its mean (C,), covariance (C, C), and the
    square root of the covariance with its trace, computed once."""

    mean: np.ndarray
    covariance: np.ndarray
    root: np.ndarray
    trace: float

    @classmethod
    def of(cls, mean: np.ndarray, covariance: np.ndarray) -> Target:
        covariance = np.asarray(covariance, np.float64)
        return cls(np.asarray(mean, np.float64), covariance, sqrtm_psd(covariance),
                   float(np.trace(covariance)))  # fmt: skip


def w2(mean: np.ndarray, covariance: np.ndarray, target: Target):
    """(W2, dW2/dmean, dW2/dcovariance) of the picture's statistics against ``target``."""
    mean, covariance = np.asarray(mean, np.float64), np.asarray(covariance, np.float64)
    root = target.root
    middle = root @ covariance @ root
    values, vectors = np.linalg.eigh((middle + middle.T) / 2)
    floor = EPS * max(float(values.max()), 0.0) + 1e-300
    values = np.clip(values, floor, None)
    difference = mean - target.mean
    value = (
        float(difference @ difference)
        + float(np.trace(covariance))
        + target.trace
        - 2 * float(np.sqrt(values).sum())
    )
    inverse_root = (vectors / np.sqrt(values)) @ vectors.T  # (C_s^1/2 C C_s^1/2)^-1/2
    d_covariance = np.eye(len(mean)) - root @ inverse_root @ root
    return value, 2 * difference, (d_covariance + d_covariance.T) / 2
