"""What MXNet's CUDA build needs, found out before MXNet touches a GPU.

Nothing here imports MXNet: ``preload_cuda_libraries`` must run before ``import mxnet``
(``nstyle/__init__.py`` calls it), and the checks must be able to say what is wrong when
MXNet cannot even be imported.

Facts (docs/METHOD.md, "The platform", and docs/GPU.md): ``mxnet-cu117==1.9.1`` links
``libcuda.so.1`` (the NVIDIA driver, which no wheel provides) and CUDA 11 libraries that
the ``nvidia-*-cu11`` wheels provide under ``site-packages/nvidia/*/lib``. MXNet's library
only searches its own folder, so those are loaded here first, globally, and the dynamic
loader then finds them by name. Its kernels are compiled for a fixed set of GPU
architectures, read from the library itself
(``fatbin_architectures``), not from a list of GPU names.
"""

from __future__ import annotations

import ctypes
import importlib.util
import struct
import sys
from pathlib import Path

# Inside site-packages/nvidia, in dependency order (cuBLASLt before cuBLAS, cuDNN's parts
# before libcudnn.so.8: they link each other by name and carry no search path).
CU11_LIBRARIES = (
    "cuda_runtime/lib/libcudart.so.11.0",
    "cuda_nvrtc/lib/libnvrtc.so.11.2",
    "nvtx/lib/libnvToolsExt.so.1",
    "cublas/lib/libcublasLt.so.11",
    "cublas/lib/libcublas.so.11",
    "cufft/lib/libcufft.so.10",
    "curand/lib/libcurand.so.10",
    "cusparse/lib/libcusparse.so.11",
    "cusolver/lib/libcusolver.so.11",
    "nccl/lib/libnccl.so.2",
    "cudnn/lib/libcudnn_ops_infer.so.8",
    "cudnn/lib/libcudnn_ops_train.so.8",
    "cudnn/lib/libcudnn_cnn_infer.so.8",
    "cudnn/lib/libcudnn_cnn_train.so.8",
    "cudnn/lib/libcudnn_adv_infer.so.8",
    "cudnn/lib/libcudnn_adv_train.so.8",
    "cudnn/lib/libcudnn.so.8",
)


def nvidia_roots(paths=None) -> list[Path]:
    """Folders ``nvidia/`` on the import path (the nvidia-*-cu11 wheels install there)."""
    return [
        Path(p) / "nvidia"
        for p in (sys.path if paths is None else paths)
        if p and (Path(p) / "nvidia").is_dir()
    ]


def preload_cuda_libraries(paths=None) -> list[Path]:
    """Load the pip-installed CUDA 11 libraries globally; returns what was loaded.

    Does nothing where they are not installed (the CPU set-up).
    """
    loaded = []
    roots = nvidia_roots(paths)
    for relative in CU11_LIBRARIES:
        for root in roots:
            library = root / relative
            if library.is_file():
                ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
                loaded.append(library)
                break
    return loaded


def mxnet_library() -> Path | None:
    """``libmxnet.so`` of the installed MXNet, found without importing it."""
    spec = importlib.util.find_spec("mxnet")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "libmxnet.so"
    return path if path.is_file() else None


# ------------------------------------------------------------ the build's GPU architectures
FATBIN_MAGIC = 0xBA55ED50
KIND_PTX, KIND_SASS = 1, 2


def _elf_section(f, name: str) -> tuple[int, int] | None:
    """(offset, size) of section ``name`` in a 64-bit little-endian ELF file."""
    ident = f.read(16)
    if ident[:4] != b"\x7fELF" or ident[4] != 2 or ident[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    f.seek(0x28)
    (section_headers,) = struct.unpack("<Q", f.read(8))
    f.seek(0x3A)
    entry_size, count, names_index = struct.unpack("<HHH", f.read(6))
    f.seek(section_headers)
    table = f.read(entry_size * count)
    headers = [struct.unpack_from("<IIQQQQIIQQ", table, i * entry_size) for i in range(count)]
    f.seek(headers[names_index][4])
    names = f.read(headers[names_index][5])
    for header in headers:
        start = header[0]
        if names[start : names.index(b"\0", start)].decode() == name:
            return header[4], header[5]
    return None


def fatbin_architectures(path: str | Path) -> tuple[list[int], list[int]]:
    """GPU architectures a CUDA library has kernels for: (SASS, PTX), e.g. ([50, 60], []).

    Reads the ``.nv_fatbin`` section's container and entry headers, seeking past the
    (large) kernel images: a 16-byte container header (magic, version, header size, body
    size), then entries of (kind, _, header size, payload size, ..., arch at byte 28).
    """
    sass: set[int] = set()
    ptx: set[int] = set()
    with open(path, "rb") as f:
        section = _elf_section(f, ".nv_fatbin")
        if section is None:
            return [], []
        start, size = section
        position, end = start, start + size
        while position + 16 <= end:
            f.seek(position)
            magic, _, header_size, body_size = struct.unpack("<IHHQ", f.read(16))
            if magic != FATBIN_MAGIC:
                position += 8  # containers are 8-byte aligned; skip padding
                continue
            entry, body_end = position + header_size, position + header_size + body_size
            while entry + 32 <= body_end:
                f.seek(entry)
                raw = f.read(32)
                kind, _, entry_header, payload = struct.unpack_from("<HHIQ", raw)
                if entry_header == 0:
                    break
                arch = struct.unpack_from("<I", raw, 28)[0]
                (sass if kind == KIND_SASS else ptx if kind == KIND_PTX else set()).add(arch)
                entry += entry_header + payload
            position = body_end
    return sorted(sass), sorted(ptx)


def runs_on(capability: tuple[int, int], sass: list[int], ptx: list[int]) -> bool:
    """Whether kernels built for ``sass``/``ptx`` run on a GPU of compute ``capability``.

    Machine code (SASS) for X.y runs on X.z with z >= y only; PTX is compiled by the driver
    for any GPU at least as new.
    """
    major, minor = capability
    return any(a // 10 == major and a % 10 <= minor for a in sass) or any(
        a <= major * 10 + minor for a in ptx
    )


# ------------------------------------------------------------ the driver
CUDA_SUCCESS, CUDA_ERROR_NO_DEVICE = 0, 100
CU_COMPUTE_CAPABILITY_MAJOR, CU_COMPUTE_CAPABILITY_MINOR = 75, 76


class DriverError(RuntimeError):
    """The NVIDIA driver is missing or refused."""


class DriverMissing(DriverError):
    """The driver's library (``libcuda.so.1``) cannot be loaded: no NVIDIA driver."""


def compute_capability(index: int, library: str = "libcuda.so.1") -> tuple[int, int]:
    """GPU ``index``'s compute capability, asked of the driver (no MXNet, no context)."""
    try:
        cuda = ctypes.CDLL(library)
    except OSError as exc:
        raise DriverMissing(str(exc)) from None

    def call(function: str, *args) -> None:
        code = getattr(cuda, function)(*args)
        if code != CUDA_SUCCESS:
            text = ctypes.c_char_p()
            cuda.cuGetErrorString(code, ctypes.byref(text))
            raise DriverError(
                f"{function}: CUDA error {code} ({(text.value or b'unknown').decode()})"
            )

    call("cuInit", 0)
    device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    call("cuDeviceGet", ctypes.byref(device), index)
    call("cuDeviceGetAttribute", ctypes.byref(major), CU_COMPUTE_CAPABILITY_MAJOR, device)
    call("cuDeviceGetAttribute", ctypes.byref(minor), CU_COMPUTE_CAPABILITY_MINOR, device)
    return major.value, minor.value


def explain_import_error(exc: OSError) -> str:
    """One line for an ``import mxnet`` that failed to load its shared libraries."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    if "libcuda.so.1" in text:
        return (
            "MXNet's CUDA build is installed but the NVIDIA driver (libcuda.so.1) is not: "
            "install the driver, or for the CPU install the CPU build "
            "(pip install -r requirements.txt) and use --gpu -1"
        )
    missing = text.split(":", 1)[0]
    if any(Path(lib).name == missing for lib in CU11_LIBRARIES):
        return (
            f"MXNet's CUDA build cannot find {missing}: install the CUDA libraries with "
            "pip install -r requirements-gpu.txt"
        )
    return f"MXNet cannot be loaded ({text})"
