"""Choosing the device, once, at the edge."""
from __future__ import annotations

import mxnet as mx

from nstyle.errors import NStyleError


def has_cuda() -> bool:
    """Whether the installed MXNet was built with CUDA."""
    return mx.runtime.Features().is_enabled("CUDA")


def select_context(gpu: int | None) -> mx.Context:
    """``-1``: the CPU; ``N``: GPU N, checked; ``None``: GPU 0 when usable, else the CPU."""
    if gpu is None:
        return mx.gpu(0) if has_cuda() and mx.context.num_gpus() > 0 else mx.cpu()
    if gpu == -1:
        return mx.cpu()
    if gpu < -1:
        raise NStyleError(f"--gpu must be -1 (the CPU) or a GPU number >= 0, got {gpu}")
    if not has_cuda():
        raise NStyleError(f"--gpu {gpu}: the installed MXNet is the CPU-only build; "
                          "install the CUDA build (see README, GPU) or use --gpu -1")
    count = mx.context.num_gpus()
    if gpu >= count:
        raise NStyleError(f"--gpu {gpu}: MXNet sees {count} GPU(s); "
                          f"use a number below {count} or --gpu -1")
    return mx.gpu(gpu)
