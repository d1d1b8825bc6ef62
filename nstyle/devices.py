"""Choosing the device, once, at the edge, with every check done before any work.

``--gpu N`` fails early, in one message that names the way out (``--gpu -1``), when: the
installed MXNet is the CPU-only build; the NVIDIA driver is missing; there is no GPU N;
GPU N's compute capability has no kernels in the installed MXNet build. Whether the run
fits in the device's memory is checked once the image sizes are known (``check_memory``).
"""

from __future__ import annotations

import mxnet as mx

from nstyle import cuda
from nstyle.errors import NStyleError

CPU_WAY_OUT = "or use --gpu -1 for the CPU"


def has_cuda() -> bool:
    """Whether the installed MXNet was built with CUDA."""
    return mx.runtime.Features().is_enabled("CUDA")


def gpu_count() -> int:
    return mx.context.num_gpus()


def check_architecture(index: int, capability: tuple[int, int], library=None) -> None:
    """Fail when the MXNet build has no kernels for a GPU of ``capability``."""
    library = library or cuda.mxnet_library()
    sass, ptx = cuda.fatbin_architectures(library)
    if not cuda.runs_on(capability, sass, ptx):
        built = ", ".join(f"sm_{a}" for a in sass) + "".join(f", PTX {a}" for a in ptx)
        raise NStyleError(
            f"--gpu {index}: its compute capability {capability[0]}.{capability[1]} has no "
            f"kernels in this MXNet build (built for {built or 'no GPU'}; MXNet 1.9.1 runs on "
            f"5.0 to 8.9, not on Hopper or newer); {CPU_WAY_OUT}"
        )


def check_count(gpu: int) -> None:
    count = gpu_count()
    if gpu >= count:
        raise NStyleError(
            f"--gpu {gpu}: MXNet sees {count} GPU(s); "
            + (f"use a number below {count}, " if count else "")
            + CPU_WAY_OUT
        )


def select_context(gpu: int | None) -> mx.Context:
    """``-1``: the CPU; ``N``: GPU N, checked; ``None``: GPU 0 when usable, else the CPU."""
    if gpu is None:
        if has_cuda() and gpu_count() > 0:
            try:
                return select_context(0)
            except NStyleError:
                return mx.cpu()
        return mx.cpu()
    if gpu == -1:
        return mx.cpu()
    if gpu < -1:
        raise NStyleError(f"--gpu must be -1 (the CPU) or a GPU number >= 0, got {gpu}")
    if not has_cuda():
        raise NStyleError(
            f"--gpu {gpu}: the installed MXNet is the CPU-only build; install "
            f"the CUDA build (README, 'GPU'), {CPU_WAY_OUT}"
        )
    try:
        capability = cuda.compute_capability(gpu)
    except cuda.DriverMissing:
        raise NStyleError(
            f"--gpu {gpu}: no NVIDIA driver (libcuda.so.1 not found); "
            f"install the driver, {CPU_WAY_OUT}"
        ) from None
    except cuda.DriverError as exc:
        check_count(gpu)  # a GPU number the driver does not know fails here
        raise NStyleError(
            f"--gpu {gpu}: the NVIDIA driver refused ({exc}); {CPU_WAY_OUT}"
        ) from None
    check_count(gpu)
    check_architecture(gpu, capability)
    return mx.gpu(gpu)


def free_memory(ctx: mx.Context) -> int:
    """Bytes free for a run on ``ctx``: the GPU's free memory, or the host's available RAM."""
    if ctx.device_type == "gpu":
        free, _ = mx.context.gpu_memory_info(ctx.device_id)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def total_memory(ctx: mx.Context) -> int:
    """Bytes ``ctx`` has in all: the GPU's memory, or the host's RAM."""
    if ctx.device_type == "gpu":
        _, total = mx.context.gpu_memory_info(ctx.device_id)
        return int(total)
    import psutil

    return int(psutil.virtual_memory().total)
