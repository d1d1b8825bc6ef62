"""The objective's terms on the image itself, beside the network's (``nstyle.engine.terms``):
total variation as a gradient (the image convolved with a Laplacian, as the original
example did), a video frame's temporal term (Ruder et al. 2016), each an executor bound
to the image array, and photo to photo's photorealism term (``MattingTerm``, on the host).
"""

from __future__ import annotations

import mxnet as mx
import numpy as np

from nstyle.engine import matting
from nstyle.engine.network import on_device

# The TV gradient kernel, per channel: the discrete Laplacian / 8.
LAPLACIAN = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float32) / 8


def tv_gradient(weight: float) -> mx.sym.Symbol:
    """``weight * Laplacian(img)`` per channel: (1, 3, H, W) -> (1, 3, H, W)."""
    kernel = mx.sym.var("laplacian")  # (3, 1, 3, 3), one kernel per channel
    conv = mx.sym.Convolution(
        data=mx.sym.var("img"),
        weight=kernel,
        kernel=(3, 3),
        pad=(1, 1),
        num_filter=3,
        num_group=3,
        no_bias=True,
    )
    return conv * weight


class TVExecutor:
    """``tv_weight * Laplacian(image)``, bound to the image array itself."""

    def __init__(self, image: mx.nd.NDArray, tv_weight: float):
        kernel = mx.nd.array(
            np.broadcast_to(LAPLACIAN, (3, 1, 3, 3)), ctx=image.context, dtype=image.dtype
        )
        self.executor = tv_gradient(tv_weight).bind(
            image.context, args={"img": image, "laplacian": kernel}, grad_req="null"
        )

    option = "tv_weight"

    def forward(self) -> mx.nd.NDArray:
        self.executor.forward(is_train=False)
        return self.executor.outputs[0]

    def energy(self, grad: mx.nd.NDArray) -> mx.nd.NDArray:
        """The energy whose gradient ``grad`` (this ``forward``) is: ``x . grad / 2`` (the
        operator is symmetric), a (1,) array on the device."""
        return 0.5 * mx.nd.sum(self.executor.arg_dict["img"] * grad).reshape((1,))

    def norms(self) -> dict[str, float]:
        """The gradient's L2 norm under the option that weighs it (inf where it overflows)."""
        return {self.option: float(mx.nd.norm(self.forward()).asscalar())}


class TemporalTerm:
    """Ruder et al.'s short-term temporal loss, ``w * sum(c * (x - t)^2)``, on the device:
    ``t`` the previous styled frame warped into this one, ``c`` the (H, W) mask of where
    it is trusted. A sum over the pixels, not the paper's mean, as the content and style
    terms here are sums: the weight then does not depend on the frame's size.
    (``nstyle.media.flow.temporal_loss`` is the numpy reference.)"""

    option = "temporal_weight"

    def __init__(self, image: mx.nd.NDArray, warped: np.ndarray, mask: np.ndarray, weight: float):
        ctx, dtype = image.context, image.dtype
        self.image = image
        self.target = mx.nd.array(warped, ctx=ctx, dtype=dtype)
        self.mask = mx.nd.array(np.asarray(mask)[None, None], ctx=ctx, dtype=dtype)
        self.weight = float(weight)
        if self.target.shape != image.shape or self.mask.shape[2:] != image.shape[2:]:
            raise ValueError(
                f"warped {self.target.shape} and mask {self.mask.shape} do not fit the image "
                f"{image.shape}"
            )

    def forward(self) -> mx.nd.NDArray:
        """``2 w c (x - t)``."""
        return mx.nd.broadcast_mul(self.image - self.target, self.mask) * (2 * self.weight)

    def energy(self, grad: mx.nd.NDArray) -> mx.nd.NDArray:
        """``w sum c (x - t)^2 = (x - t) . grad / 2``, a (1,) array."""
        return 0.5 * mx.nd.sum((self.image - self.target) * grad).reshape((1,))

    def norms(self) -> dict[str, float]:
        return {self.option: float(mx.nd.norm(self.forward()).asscalar())}


class MattingTerm:
    """Luan et al.'s photorealism term on the image's difference from the photo,
    ``w * sum_c (x_c - p_c)^T L (x_c - p_c)``, with L the matting Laplacian of the photo p at
    the image's size (``nstyle.engine.matting``) and x the image as the optimiser holds it
    (0..255 less the mean pixel: L's rows sum to 0, so the mean does not count); its gradient
    ``2 w L (x - p)``. On the host, band by band (``matting.Bands``): it is local, so it needs
    no tiles of its own; tiled or whole, the network's loss and this term see the same image.
    ``w`` is ``--matting-weight``, in the units of x: ``lambda / 255^2`` for Luan et al.'s
    lambda on pictures in 0..1. L's windows are regularised by ``matting.TERM_EPS``, not
    Levin et al.'s 1e-7: with that, amplifying the photo's noise in flat areas cost nothing,
    and it became blotches. The regulariser pulls each window's fit towards no change: on x
    itself (Luan et al.'s form, equal to this one as eps goes to 0) towards a flat window,
    so that the term paid for the photo's own texture and the style loss flattened thin
    clouds; on x - p the photo is free and its texture is kept unless the look asks
    (docs/BENCHMARKS.md, "Photo to photo")."""

    option = "matting_weight"

    def __init__(self, image: mx.nd.NDArray, photo: np.ndarray, weight: float):
        self.image, self.weight = image, float(weight)
        if tuple(photo.shape[:2]) != tuple(image.shape[2:]):
            raise ValueError(f"photo {photo.shape} is not at the image's size {image.shape}")
        self.photo = np.asarray(photo)  # (H, W, 3) in 0..255, RGB as x (uint8: 3 bytes a pixel)
        self.bands = matting.Bands.of(self.photo / 255.0, eps=matting.TERM_EPS)
        self.photo_x = on_device(self.photo.transpose(2, 0, 1)[None], image.context, image.dtype)

    def forward(self) -> mx.nd.NDArray:
        x = self.image.asnumpy()[0].transpose(1, 2, 0).astype(np.float64) - self.photo
        with np.errstate(over="ignore", invalid="ignore"):  # a weight float32 cannot hold:
            grad = self.bands.apply(x) * (2 * self.weight)  # inf, named by the solvers
        return on_device(grad.transpose(2, 0, 1)[None], self.image.context, self.image.dtype)

    def energy(self, grad: mx.nd.NDArray) -> mx.nd.NDArray:
        """``w sum (x - p)^T L (x - p) = (x - p) . grad / 2``, a (1,) array."""
        return 0.5 * mx.nd.sum((self.image - self.photo_x) * grad).reshape((1,))

    def norms(self) -> dict[str, float]:
        return {self.option: float(mx.nd.norm(self.forward()).asscalar())}


class ImageTerms:
    """Several terms on the image itself (TV, temporal) as one: the gradients summed, the
    energies summed, the norms by option; the optimisers take it where they take a
    ``TVExecutor``."""

    def __init__(self, terms):
        self.terms = list(terms)
        self._grads: list[mx.nd.NDArray] = []

    def forward(self) -> mx.nd.NDArray:
        self._grads = [t.forward() for t in self.terms]
        total = self._grads[0].copy()
        for g in self._grads[1:]:
            total += g
        return total

    def energy(self, grad: mx.nd.NDArray) -> mx.nd.NDArray:
        """The terms' energies at the image of the last ``forward`` (``grad`` its sum)."""
        found = [t.energy(g) for t, g in zip(self.terms, self._grads)]
        return mx.nd.add_n(*found) if len(found) > 1 else found[0]

    def norms(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for t in self.terms:
            found.update(t.norms())
        return found


ImageTerm = (
    TVExecutor | TemporalTerm | MattingTerm | ImageTerms
)  # what the optimisers add to the loss


def image_terms(terms) -> ImageTerm | None:
    """None, the one term, or the terms as one (``ImageTerms``)."""
    terms = [t for t in terms if t is not None]
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else ImageTerms(terms)
