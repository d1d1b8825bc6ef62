"""The checks behind --gpu N, on a CPU machine: the real failures where they happen here
(the CPU-only MXNet build, no libcuda.so.1), faithful fakes where they cannot (a CUDA build,
a GPU's compute capability, a library's kernel list, GPU memory)."""

import shutil
import struct
from pathlib import Path

import mxnet as mx
import pytest

from nstyle import cuda, devices
from nstyle.errors import NStyleError
from tests.conftest import cpu_build_only, no_driver_only

MXNET_ARCHS = [50, 60, 70, 80, 86]  # what mxnet-cu117 1.9.1's libmxnet.so carries, no PTX


def fatbin(entries):
    """A fatbin container holding ``(kind, arch)`` entries, each with a small payload."""
    body = b""
    for kind, arch in entries:
        header = bytearray(64)
        struct.pack_into("<HHIQ", header, 0, kind, 0x101, 64, 24)
        struct.pack_into("<I", header, 28, arch)
        body += bytes(header) + b"\xab" * 24
    return struct.pack("<IHHQ", cuda.FATBIN_MAGIC, 1, 16, len(body)) + body


def elf_with_fatbin(path, data):
    """A minimal 64-bit little-endian ELF file with sections .shstrtab and .nv_fatbin."""
    names = b"\0.shstrtab\0.nv_fatbin\0"
    names_at, data_at = 64, 64 + len(names)
    headers_at = data_at + len(data)
    header = (
        b"\x7fELF"
        + bytes([2, 1, 1])
        + bytes(9)
        + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, headers_at, 0, 64, 0, 0, 64, 3, 1)
    )
    section = lambda name, offset, size: struct.pack(
        "<IIQQQQIIQQ", name, 1, 0, 0, offset, size, 0, 0, 1, 0
    )
    path.write_bytes(
        header
        + names
        + data
        + bytes(64)
        + section(1, names_at, len(names))
        + section(11, data_at, len(data))
    )
    return path


@pytest.fixture
def mxnet_like_library(tmp_path):
    """A library whose kernels are those of mxnet-cu117: two containers, padding between."""
    containers = [
        fatbin([(cuda.KIND_SASS, a) for a in MXNET_ARCHS]),
        bytes(8),
        fatbin([(cuda.KIND_SASS, a) for a in MXNET_ARCHS]),
    ]
    return elf_with_fatbin(tmp_path / "libmxnet.so", b"".join(containers))


def test_fatbin_architectures_are_read_from_the_library(mxnet_like_library, tmp_path):
    assert cuda.fatbin_architectures(mxnet_like_library) == (MXNET_ARCHS, [])
    with_ptx = elf_with_fatbin(
        tmp_path / "ptx.so", fatbin([(cuda.KIND_SASS, 75), (cuda.KIND_PTX, 90)])
    )
    assert cuda.fatbin_architectures(with_ptx) == ([75], [90])


@cpu_build_only
def test_the_cpu_build_has_no_gpu_kernels():
    assert cuda.fatbin_architectures(cuda.mxnet_library()) == ([], [])


@pytest.mark.parametrize(
    "capability, runs",
    [
        ((5, 0), True),
        ((5, 2), True),
        ((6, 1), True),
        ((7, 5), True),
        ((8, 6), True),
        ((8, 9), True),
        ((3, 7), False),
        ((9, 0), False),
        ((10, 0), False),
        ((12, 0), False),
    ],
)
def test_which_gpus_the_build_runs_on(capability, runs):
    assert cuda.runs_on(capability, MXNET_ARCHS, []) is runs
    assert cuda.runs_on(capability, [], [50]) is (capability >= (5, 0))  # PTX: anything newer


@cpu_build_only
def test_the_cpu_only_build_is_refused_for_real():
    assert not devices.has_cuda()
    with pytest.raises(NStyleError, match="CPU-only build.*--gpu -1"):
        devices.select_context(0)
    assert devices.select_context(None) == mx.cpu()  # auto falls back quietly
    assert devices.select_context(-1) == mx.cpu()


@pytest.fixture
def cuda_build(monkeypatch):
    """Pretend the installed MXNet is the CUDA build with one GPU (everything else real)."""
    monkeypatch.setattr(devices, "has_cuda", lambda: True)
    monkeypatch.setattr(devices, "gpu_count", lambda: 1)


@no_driver_only
def test_no_driver_is_the_real_missing_libcuda(cuda_build):
    with pytest.raises(cuda.DriverError, match="libcuda.so.1: cannot open shared object"):
        cuda.compute_capability(0)  # this machine truly has no NVIDIA driver
    with pytest.raises(NStyleError, match=r"no NVIDIA driver \(libcuda.so.1 not found\).*--gpu -1"):
        devices.select_context(0)


def test_no_such_gpu(cuda_build, monkeypatch):
    monkeypatch.setattr(cuda, "compute_capability", lambda i: (8, 6))
    with pytest.raises(NStyleError, match="--gpu 3: MXNet sees 1 GPU.*below 1.*--gpu -1"):
        devices.select_context(3)


def test_driver_refusing_an_unknown_gpu_number(cuda_build, monkeypatch):
    def invalid_device(index):  # what cuDeviceGet answers for a number it does not have
        raise cuda.DriverError("cuDeviceGet: CUDA error 101 (invalid device ordinal)")

    monkeypatch.setattr(cuda, "compute_capability", invalid_device)
    with pytest.raises(NStyleError, match="MXNet sees 1 GPU"):
        devices.select_context(2)


@pytest.mark.parametrize("capability, ok", [((9, 0), False), ((8, 9), True), ((7, 0), True)])
def test_compute_capability_against_the_build(
    cuda_build, monkeypatch, mxnet_like_library, capability, ok
):
    monkeypatch.setattr(cuda, "compute_capability", lambda i: capability)
    monkeypatch.setattr(cuda, "mxnet_library", lambda: mxnet_like_library)
    if ok:
        assert devices.select_context(0) == mx.gpu(0)
    else:
        with pytest.raises(
            NStyleError,
            match=r"compute capability 9.0 has no kernels.*"
            r"sm_50, sm_60, sm_70, sm_80, sm_86.*--gpu -1",
        ):
            devices.select_context(0)


@pytest.mark.parametrize(
    "error, expected",
    [
        (
            "libcuda.so.1: cannot open shared object file: No such file or directory",
            "NVIDIA driver (libcuda.so.1) is not",
        ),
        (
            "libcudnn.so.8: cannot open shared object file: No such file or directory",
            "cannot find libcudnn.so.8: install the CUDA libraries with pip install -r "
            "requirements-gpu.txt",
        ),
        ("libfoo.so: bad ELF", "MXNet cannot be loaded (libfoo.so: bad ELF)"),
    ],
)
def test_import_failures_are_explained(error, expected):
    assert expected in cuda.explain_import_error(OSError(error))


def test_preload_loads_wheel_libraries_globally(tmp_path):
    """A real shared library placed where the nvidia-*-cu11 wheels put theirs is loaded."""
    candidates = [
        Path(d) / "libm.so.6"
        for d in ("/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64")
    ]
    source = next(p for p in candidates if p.is_file())
    target = tmp_path / "nvidia" / "cuda_runtime" / "lib" / "libcudart.so.11.0"
    target.parent.mkdir(parents=True)
    shutil.copy(source, target)
    assert cuda.preload_cuda_libraries([str(tmp_path)]) == [target]
    assert cuda.preload_cuda_libraries([str(tmp_path / "elsewhere")]) == []
