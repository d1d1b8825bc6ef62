"""The VGG feature network, defined with Gluon and exported to an MXNet symbol.

Only the convolution stack is built (no fully connected layers), truncated after the
deepest layer that a loss reads. Layers are named the way the paper and the original
MXNet example name them: ``conv{block}_{i}``, ``relu{block}_{i}``, ``pool{block}``, so a
parameter is ``conv1_1_weight`` and an output is ``relu4_2``.

The network's input is an RGB image in 0..255 pixel units minus the weights' mean pixel
(see ``nstyle.weights.Convention``): every weight convention is folded into the first
convolution when the weights are loaded, so the graph is the same for all of them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon import nn

from nstyle.spec import POOLING, check_layer_names, layer_channels, layer_plan


class VGGFeatures(gluon.HybridBlock):
    """VGG convolution stack returning the named ReLU outputs.

    Parameters
    ----------
    num_layers : int
        16 or 19, a key of ``VGG_SPEC``.
    outputs : sequence of str
        ReLU layers to return, in this order. The stack stops after the deepest one.
    pooling : {"avg", "max"}
        The paper (and the original MXNet example) use average pooling.
    channels : sequence of int, optional
        Per-block widths instead of VGG's (small networks for tests).
    """

    def __init__(
        self,
        num_layers: int,
        outputs: Sequence[str],
        pooling: str = "avg",
        channels: Sequence[int] | None = None,
    ):
        super().__init__(prefix="")
        if pooling not in POOLING:
            raise ValueError(f"pooling must be one of {', '.join(POOLING)}, got {pooling!r}")
        check_layer_names(outputs, num_layers, "output")
        self._outputs = list(outputs)
        self._pooling = pooling
        plan = layer_plan(num_layers)
        deepest = max(plan.index(("conv", name)) for name in outputs)
        self._plan = plan[: deepest + 1]
        widths = layer_channels(num_layers, channels)
        with self.name_scope():
            for kind, name in self._plan:
                if kind == "conv":
                    conv = "conv" + name[len("relu") :]
                    self.register_child(
                        nn.Conv2D(widths[name], kernel_size=3, padding=1, prefix=conv + "_"), conv
                    )

    def hybrid_forward(self, F, x):
        found = {}
        for kind, name in self._plan:
            if kind == "conv":
                conv = self._children["conv" + name[len("relu") :]]
                x = F.Activation(conv(x), act_type="relu", name=name)
                found[name] = x
            else:
                x = F.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type=self._pooling, name=name)
        return tuple(found[name] for name in self._outputs)


def get_symbol(
    num_layers: int,
    outputs: Sequence[str],
    pooling: str = "avg",
    channels: Sequence[int] | None = None,
) -> dict[str, mx.sym.Symbol]:
    """Export the Gluon network to symbols, one per requested ReLU output.

    The graph's only input is the variable ``data`` of shape (1, 3, H, W); its parameters
    are ``conv{b}_{i}_weight`` and ``conv{b}_{i}_bias``.
    """
    net = VGGFeatures(num_layers, outputs, pooling, channels)
    symbols = net(mx.sym.var("data"))
    return dict(zip(outputs, symbols))


def bind(
    symbol: mx.sym.Symbol,
    ctx: mx.Context,
    args: dict[str, mx.nd.NDArray],
    grad_arrays: dict[str, mx.nd.NDArray] | None = None,
    shared: mx.executor.Executor | None = None,
) -> mx.executor.Executor:
    """Bind ``symbol`` with the given argument arrays, shared, not copied.

    Only the arrays named in ``grad_arrays`` receive a gradient (``grad_req="write"``);
    every other argument, the weights included, gets ``"null"``. ``shared``: an executor
    of the same symbol for a larger input whose internal memory this one reuses (never
    run the two at once).
    """
    grad_arrays = grad_arrays or {}
    names = symbol.list_arguments()
    missing = [n for n in names if n not in args]
    if missing:
        raise ValueError(f"no array for argument(s) {', '.join(missing)}")
    grad_req = {n: "write" if n in grad_arrays else "null" for n in names}
    return symbol.bind(
        ctx,
        args={n: args[n] for n in names},
        args_grad=dict(grad_arrays) or None,
        grad_req=grad_req,
        shared_exec=shared,
    )


def on_device(values, ctx: mx.Context, dtype) -> mx.nd.NDArray:
    """``values`` (float64 on the host) as an array of ``dtype`` on ``ctx``: what float32
    cannot hold becomes inf, without numpy's warning (the solvers check the losses and
    the gradient, and name the weight that overflows)."""
    with np.errstate(over="ignore"):
        return mx.nd.array(np.asarray(values, np.float64).astype(dtype), ctx=ctx, dtype=dtype)


def release_freed() -> None:
    """Hand the memory a finished phase freed back to the system: MXNet's queued work
    waited for (its arrays are freed as the engine gets to them), then glibc's
    ``malloc_trim``. MXNet's CPU arrays come from malloc, which keeps freed blocks of up to
    32 MiB in its arenas: a 350-px scale's executors stayed resident through the 700-px
    scale (0.46 GiB on a photo-to-photo run; docs/BENCHMARKS.md, "Photo to photo"). No
    trim on a C library without it (not glibc): nothing to do there."""
    mx.nd.waitall()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _malloc_trim():
    """glibc's ``malloc_trim``, or None."""
    return _libc("malloc_trim")


@functools.cache
def _libc(name: str):
    """The C library's function ``name``, or None (looked up once: they are called at
    every scale)."""
    import ctypes
    import ctypes.util

    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
LARGE_PICTURE = 1 << 18  # pixels (512 x 512) from which a scale maps its large blocks
_mapping = [False]  # whether a scale has fixed glibc's thresholds in this process


def map_large_blocks(pixels: int) -> None:
    """For a scale of ``pixels`` from ``LARGE_PICTURE`` on, where a run's peak is: blocks
    of a MiB or more from the system and back to it when freed (glibc's ``mallopt``).
    glibc's default raises its mmap threshold to the largest mapped block freed, up to
    32 MiB, so that the matting bands' and L-BFGS's arrays (4 to 21 MiB at 700 px) came
    from malloc's heap, which kept them resident once freed: 0.1 GiB of a 700-px photo to
    photo peak. Below it, the thresholds glibc's default reaches (32 and 64 MiB): mapping
    a 175-px scale's blocks (the Wasserstein-2 term's, MXNet's) took 0.1 s of system time
    an epoch (docs/BENCHMARKS.md, "Photo to photo", "Memory"). Nothing where the
    environment sets the threshold or the C library has no ``mallopt`` (not glibc)."""
    mallopt = _libc("mallopt")
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if mallopt is None or "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in tunables:
        return
    if pixels >= LARGE_PICTURE:  # and the heap's free top trimmed from 128 KiB (glibc's
        mallopt(M_MMAP_THRESHOLD, 1 << 20)  # default; its default raised it up to 64 MiB)
        mallopt(M_TRIM_THRESHOLD, 128 << 10)
        _mapping[0] = True
    elif _mapping[0]:  # a smaller scale after a larger one (the next picture of a batch)
        mallopt(M_MMAP_THRESHOLD, 32 << 20)
        mallopt(M_TRIM_THRESHOLD, 64 << 20)
