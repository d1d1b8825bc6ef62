"""Hostile inputs: every failure is one ``nstyle: error:`` line with the right exit code, no
traceback, and no file that existed before the run changed.

Each CLI case runs ``run.py`` in a folder of its own (content.png, style.png, init.png, a
copy of the tiny weights, and whatever the case adds), with that folder as the working
directory. Every file in it is fingerprinted (content hash, mode, inode, mtime) before and
after; a case names the files its run may add, and, for the documented continuation
``--init X --output X``, the one file it may replace.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import resource
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nstyle.media import images
from tests.conftest import make_rgb

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "run.py"
IS_ROOT = os.geteuid() == 0

# Every case starts from these flags (relative to the case folder); later flags win.
BASE = [
    "--content-image", "content.png",
    "--style-image", "style.png",
    "--weights", "tiny.params",
    "--gpu", "-1",
    "--max-long-edge", "32",
    "--max-num-epochs", "2",
    "--optimizer", "sgd",
    "--save-epochs", "0",
    "--output", "out/out.png",
]  # fmt: skip
SHAPE = (23, 32, 3)  # make_rgb() (40x56) at a long edge of 32


# ------------------------------------------------------------------ running and hashing
def make_folder(path: Path, tiny_weights_file: Path) -> Path:
    """A case folder: the pictures, a start image and a copy of the tiny weights."""
    path.mkdir(parents=True, exist_ok=True)
    rgb = make_rgb()
    images.write_image(path / "content.png", rgb)
    images.write_image(path / "style.png", np.ascontiguousarray(rgb[::-1]))
    images.write_image(path / "init.png", np.ascontiguousarray(rgb[:, ::-1]))
    shutil.copyfile(tiny_weights_file, path / "tiny.params")
    return path


def fingerprint(folder: Path) -> dict[str, tuple]:
    """Every file under ``folder`` (symlinks and special files not followed or opened)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            path = os.path.join(root, name)
            info = os.lstat(path)
            rel = os.path.relpath(path, folder)
            if stat.S_ISLNK(info.st_mode):
                found[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                found[rel] = ("file", digest, info.st_mode, info.st_ino, info.st_mtime_ns)
            else:
                found[rel] = ("special", stat.S_IFMT(info.st_mode), info.st_ino)
    return found


def check_unchanged(before: dict, after: dict, may_add=(), may_change=()) -> None:
    """No file of ``before`` changed or vanished (but ``may_change``); new files only those
    matching ``may_add`` (glob patterns)."""
    changed = [p for p in before if p not in may_change and after.get(p) != before[p]]
    assert not changed, f"files changed or deleted by the run: {changed}"
    added = [p for p in after if p not in before]
    unexpected = [p for p in added if not any(fnmatch.fnmatch(p, g) for g in may_add)]
    assert not unexpected, f"unexpected new files: {unexpected}"


def environment(tmpdir: Path) -> dict:
    """The run's environment: its temporary folder (where a rescued picture goes) is ours."""
    tmpdir.mkdir(exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmpdir), "PYTHONUNBUFFERED": "1"}


def run_cli(folder: Path, argv, *, env: dict, timeout: float = 120, python_flags=()):
    return subprocess.run(
        [sys.executable, *python_flags, str(RUN), *argv],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,  # a FIFO or device read would hang: fail instead
    )


def error_line(done: subprocess.CompletedProcess, only_line: bool = True) -> str:
    """The one ``nstyle: error:`` line, last; with ``only_line``, the only line at all."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("nstyle: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr
    if only_line:
        assert len(lines) == 1, done.stderr
    return errors[0]


class Running:
    """A run in the background whose stderr is read line by line by a thread."""

    def __init__(self, folder: Path, argv, *, env: dict, python_flags=()):
        self.lines: list[str] = []
        self.seen = threading.Condition()
        self.process = subprocess.Popen(
            [sys.executable, *python_flags, str(RUN), *argv],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            with self.seen:
                self.lines.append(line.rstrip("\n"))
                self.seen.notify_all()
        with self.seen:
            self.lines.append(None)  # end of output
            self.seen.notify_all()

    def wait_for(self, test: Callable[[str], bool], timeout: float = 120, start: int = 0) -> str:
        """The first line from line ``start`` on passing ``test``; fails when the run ends or
        times out first."""
        end, checked = time.monotonic() + timeout, start
        with self.seen:
            while True:
                while checked < len(self.lines):
                    line = self.lines[checked]
                    checked += 1
                    assert line is not None, "the run ended first:\n" + self.text()
                    if test(line):
                        return line
                left = end - time.monotonic()
                assert left > 0, "timed out waiting; so far:\n" + self.text()
                self.seen.wait(left)

    def finish(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout)
        self.thread.join(timeout)
        return code

    def text(self) -> str:
        return "\n".join(line for line in self.lines if line is not None)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


# A SIGINT or SIGTERM raised while MXNet makes or frees an NDArray ends in an exception
# inside NDArrayBase.__del__, which Python prints as "Exception ignored in ... Traceback"
# (and, when it is the signal's own exception, swallows). nstyle.cli therefore keeps a
# signal during the optimisation and raises it when the epoch ends;
# test_a_signal_inside_mxnet_stops_the_run_cleanly sends signals at exactly such moments.
# The tests that send a signal at a random moment still tolerate such a block and resend a
# lost signal, so that they test what they name (the start-up phase keeps immediate raises).
MXNET_DEL = "Exception ignored in: <function NDArrayBase.__del__"


def without_mxnet_del(text: str) -> str:
    kept, inside = [], False
    for line in text.splitlines():
        if line.startswith(MXNET_DEL):
            inside = True
        elif not inside:
            kept.append(line)
        elif line and not line[0].isspace() and not line.startswith("Traceback"):
            inside = False  # the exception's own line ends the block
    return "\n".join(kept)


def stop(run: Running, sig: int, timeout: float = 60) -> int:
    """Send ``sig``; once more if MXNet swallowed the first (see above)."""
    run.process.send_signal(sig)
    try:
        return run.process.wait(10)
    except subprocess.TimeoutExpired:
        assert MXNET_DEL in run.text(), "the run ignored the signal:\n" + run.text()
        run.process.send_signal(sig)
        return run.finish(timeout)


# ------------------------------------------------------------------ what a case sets up
def picture(name: str, rgb: np.ndarray | None = None):
    return lambda d: images.write_image(d / name, make_rgb() if rgb is None else rgb)


def data(name: str, content: bytes):
    def make(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(content)

    return make


def folder(name: str):
    return lambda d: (d / name).mkdir(parents=True, exist_ok=True)


def symlink(name: str, target: str):
    def make(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, d / name)

    return make


def hardlink(name: str, target: str):
    def make(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(d / target, d / name)

    return make


def copy(name: str, source: str):
    def make(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(d / source, d / name)

    return make


def converted(name: str, mode: str, **save):
    """make_rgb() in another Pillow mode (grey+alpha, CMYK, palette...)."""

    def make(d: Path) -> None:
        from PIL import Image

        Image.fromarray(make_rgb()).convert(mode).save(d / name, **save)

    return make


def fifo(name: str):
    return lambda d: os.mkfifo(d / name)


def unix_socket(name: str):
    def make(d: Path) -> None:
        here = os.getcwd()
        os.chdir(d)  # a socket path must be short: bind it relative to the folder
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(name)
            sock.close()
        finally:
            os.chdir(here)

    return make


def truncated(name: str):
    """The first half of a valid image file of ``name``'s type."""

    def make(d: Path) -> None:
        whole = images.write_image(d / ("whole" + Path(name).suffix), make_rgb())
        (d / name).write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        whole.unlink()

    return make


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def bomb_png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` RGB pixels; its data holds two rows and
    the compressed stream is cut off there (so a decoder that gets that far finds it truncated)."""
    packer = zlib.compressobj()
    rows = packer.compress(b"\0" * (1 + 3 * width) * 2) + packer.flush(zlib.Z_SYNC_FLUSH)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", rows)
        + png_chunk(b"IEND", b"")
    )


def weights_file(name: str, params: dict | None = None, unnamed: bool = False):
    """An MXNet .params file: VGG arrays in this project's format, or unnamed arrays."""

    def make(d: Path) -> None:
        import mxnet as mx

        from nstyle import weights

        if unnamed:
            mx.nd.save(str(d / name), [mx.nd.zeros((2, 2))])
        else:
            weights.write_weights(d / name, params, weights.CAFFE_RGB)

    return make


def immutable(name: str):
    def make(d: Path) -> None:
        images.write_image(d / name, make_rgb())
        if shutil.which("chattr") is None:
            pytest.skip("no chattr on this machine")
        done = subprocess.run(["chattr", "+i", str(d / name)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")

    return make


def mutable(name: str):
    return lambda d: subprocess.run(["chattr", "-i", str(d / name)], capture_output=True)


def read_only(name: str):
    def make(d: Path) -> None:
        images.write_image(d / name, make_rgb())
        os.chmod(d / name, 0o444)

    return make


def stripes(size: int = 96) -> np.ndarray:
    """One-pixel stripes: a tiny PNG but a JPEG of several kilobytes."""
    image = np.zeros((size, size, 3), np.uint8)
    image[:, ::2] = 255
    image[::2, :, 1] = 0
    return image


# ------------------------------------------------------------------ the table
@dataclass
class Case:
    id: str
    argv: list[str]  # appended to BASE (later flags win); "{d}" is the case folder
    message: str | None = None  # in the one error line; None for a run that must succeed
    code: int = 2
    setup: tuple = ()
    drop: tuple[str, ...] = ()  # flags of BASE left out (with their value)
    late: bool = False  # fails after MXNet loads: progress lines may come before the error
    creates: tuple[str, ...] = ()  # files a successful run must write
    may_add: tuple[str, ...] = ()  # further files it may write (globs)
    may_change: tuple[str, ...] = ()  # the continuation's output
    stderr_has: tuple[str, ...] = ()
    cleanup: tuple = ()
    marks: tuple = ()
    not_in_message: tuple[str, ...] = ()

    def param(self):
        return pytest.param(self, id=self.id, marks=self.marks)


def finite(flag: str) -> list[Case]:
    return [
        Case(f"{flag[2:]}={value}", [f"{flag}={value}"], f"{flag} must be a finite number")
        for value in ("inf", "-inf", "nan")
    ]


NUMERIC = [
    "--content-weight",
    "--style-weight",
    "--tv-weight",
    "--lr",
    "--stop-eps",
    "--style-scale",
    "--lr-sched-factor",
    "--momentum",
    "--weight-decay",
    "--clip-factor",
    "--remove-noise",
]
VGG16_LAST = "relu5_3"  # VGG-19 goes on to relu5_4

CASES = [
    # --- an output, log or snapshot that is an input, however spelled
    Case("output=content", ["--output", "content.png"], "is the input content.png"),
    Case("output=style", ["--output", "style.png"], "is the input style.png"),
    Case("output=weights", ["--output", "tiny.params"], "unknown image type '.params'"),
    Case(
        "output=weights-named-png",
        ["--weights", "w.png", "--output", "w.png"],
        "is the input w.png",
        setup=(copy("w.png", "tiny.params"),),
    ),
    Case("output=content-absolute", ["--output", "{d}/content.png"], "is the input content.png"),
    Case(
        "output=content-relative-spelling",
        ["--output", "./x/../content.png"],
        "is the input content.png",
        setup=(folder("x"),),
    ),
    Case(
        "output=content-via-missing-folder",
        ["--output", "nowhere/../content.png"],
        "is the input content.png",
    ),
    Case(
        "output=symlink-to-content",
        ["--output", "link.png"],
        "is the input content.png",
        setup=(symlink("link.png", "content.png"),),
    ),
    Case(
        "output=hardlink-to-content",
        ["--output", "hard.png"],
        "is the input content.png",
        setup=(hardlink("hard.png", "content.png"),),
    ),
    Case(
        "output-through-symlinked-folder=style",
        ["--output", "alias/style.png"],
        "is the input style.png",
        setup=(symlink("alias", "."),),
    ),
    Case(
        "continuation-cannot-overwrite-content",
        ["--init", "content.png", "--output", "content.png"],
        "is the input content.png",
    ),
    Case("log=content", ["--log", "content.png"], "--log content.png is the input"),
    Case(
        "log=style-relative",
        ["--log", "./x/../style.png"],
        "is the input style.png",
        setup=(folder("x"),),
    ),
    Case("log=weights", ["--log", "tiny.params"], "--log tiny.params is the input"),
    Case("log=init", ["--init", "init.png", "--log", "init.png"], "--log init.png is the input"),
    Case(
        "log=symlink-to-style",
        ["--log", "log.csv"],
        "is the input style.png",
        setup=(symlink("log.csv", "style.png"),),
    ),
    Case(
        "log=hardlink-to-weights",
        ["--log", "log.csv"],
        "is the input tiny.params",
        setup=(hardlink("log.csv", "tiny.params"),),
    ),
    Case(
        "snapshot=content",
        ["--content-image", "out/tmp_2.jpg", "--save-epochs", "1"],
        "the snapshot out/tmp_2.jpg would overwrite the input",
        setup=(picture("out/tmp_2.jpg"),),
    ),
    Case(
        "snapshot=style",
        ["--style-image", "out/tmp_1.jpg", "--save-epochs", "1"],
        "would overwrite the input",
        setup=(picture("out/tmp_1.jpg"),),
    ),
    Case(
        "snapshot=init",
        ["--init", "out/tmp_2.jpg", "--save-epochs", "2"],
        "would overwrite the --init image",
        setup=(picture("out/tmp_2.jpg"),),
    ),
    Case(
        "snapshot=symlink-to-content",
        ["--save-epochs", "1"],
        "the snapshot out/tmp_1.jpg would overwrite the input content.png",
        setup=(symlink("out/tmp_1.jpg", "../content.png"),),
    ),
    Case(
        "snapshot=hardlink-to-weights",
        ["--save-epochs", "1"],
        "would overwrite the input tiny.params",
        setup=(hardlink("out/tmp_2.jpg", "tiny.params"),),
    ),
    Case(
        "output=existing-snapshot-name",
        ["--output", "out/tmp_2.jpg", "--save-epochs", "1"],
        "also the name of a snapshot",
        setup=(picture("out/tmp_2.jpg"),),
    ),
    Case(
        "output=snapshot-name",
        ["--output", "out/tmp_2.jpg", "--save-epochs", "1"],
        "also the name of a snapshot",
    ),
    Case(
        "log=snapshot-name",
        ["--log", "out/tmp_2.jpg", "--save-epochs", "1"],
        "snapshot",
    ),
    Case(
        "log=read-only",
        ["--log", "losses.csv"],
        "--log losses.csv exists and is write-protected",
        setup=(data("losses.csv", b"precious\n"), lambda d: os.chmod(d / "losses.csv", 0o444)),
    ),
    Case(
        "log=existing-snapshot-name",
        ["--log", "out/tmp_2.jpg", "--save-epochs", "1"],
        "snapshot",
        setup=(data("out/tmp_2.jpg", b"epoch,seconds\n"),),
    ),
    # --- outputs that cannot be written
    Case(
        "output=existing-folder",
        ["--output", "out"],
        "--output out is a folder",
        setup=(folder("out"),),
    ),
    Case("output=dot", ["--output", "."], "is a folder"),
    Case("output-extension-unknown", ["--output", "out/out.xyz"], "unknown image type '.xyz'"),
    Case("output-extension-missing", ["--output", "out/out"], "(no extension)"),
    Case(
        "output=read-only",
        ["--output", "out/out.png"],
        "write-protected",
        setup=(read_only("out/out.png"),),
    ),
    Case(
        "output=immutable",
        ["--output", "out/out.png"],
        "write-protected",
        setup=(immutable("out/out.png"),),
        cleanup=(mutable("out/out.png"),),
    ),
    Case("output-folder=/proc", ["--output", "/proc/nstyle/out.png"], "cannot write into /proc"),
    Case("output-folder=/proc/self", ["--output", "/proc/self/out.png"], "cannot write into"),
    Case(
        "output-folder=a-file",
        ["--output", "content.png/out.jpg"],
        "--output: cannot write into content.png",
    ),
    Case(
        "output=fifo",
        ["--output", "out/out.png"],
        "exists and is not a regular file",
        setup=(folder("out"), fifo("out/out.png")),
    ),
    Case("output=/dev/null", ["--output", "/dev/null"], "exists and is not a regular file"),
    Case("log=output", ["--log", "out/out.png"], "and --output are the same file"),
    Case(
        "log=output-other-spelling",
        ["--log", "./out/../out/out.png"],
        "and --output are the same file",
        setup=(folder("out"),),
    ),
    Case("log=folder", ["--log", "logs"], "--log logs is a folder", setup=(folder("logs"),)),
    Case("log-folder=a-file", ["--log", "style.png/losses.csv"], "--log: cannot write into"),
    Case("log-folder=/proc", ["--log", "/proc/nstyle/losses.csv"], "cannot write into /proc"),
    Case(
        "failing-run-keeps-existing-log-and-output",
        ["--log", "losses.csv", "--max-long-edge", "8"],
        "both sides must be at least 16 px",
        setup=(data("losses.csv", b"precious\n"), picture("out/out.png")),
        late=True,
    ),
    # --- numbers: inf, -inf and nan name their flag; out of range says what is allowed
    *[case for flag in NUMERIC for case in finite(flag)],
    Case(
        "style-blend-weights=nan",
        ["--style-image", "style.png", "init.png", "--style-blend-weights", "1", "nan"],
        "--style-blend-weights must be a finite number",
    ),
    Case(
        "style-blend-weights=inf",
        ["--style-blend-weights", "inf"],
        "--style-blend-weights must be a finite number",
    ),
    Case(
        "style-layer-weights=nan",
        ["--style-layer-weights", "1", "nan", "1", "1", "1"],
        "--style-layer-weights must be a finite number",
    ),
    Case("lr=-inf-as-separate-word", ["--lr", "-inf"], "argument --lr: expected one argument"),
    Case("lr=-1", ["--lr", "-1"], "--lr must be > 0"),
    Case("max-long-edge=0", ["--max-long-edge", "0"], "--max-long-edge must be > 0"),
    Case("max-num-epochs=0", ["--max-num-epochs", "0"], "--max-num-epochs must be > 0"),
    Case("min-num-epochs=0", ["--min-num-epochs", "0"], "--min-num-epochs must be > 0"),
    Case("check-every=0", ["--check-every", "0"], "--check-every must be > 0"),
    Case("lr-sched-step=0", ["--lr-sched-step", "0"], "--lr-sched-step must be > 0"),
    Case("clip-factor=0", ["--clip-factor", "0"], "--clip-factor must be > 0"),
    Case("style-scale=0", ["--style-scale", "0"], "--style-scale must be > 0"),
    Case("content-weight=-1", ["--content-weight", "-1"], "--content-weight must be >= 0"),
    Case("tv-weight=-1", ["--tv-weight", "-1"], "--tv-weight must be >= 0"),
    Case("stop-eps=-1", ["--stop-eps", "-1"], "--stop-eps must be >= 0"),
    Case("weight-decay=-1", ["--weight-decay", "-1"], "--weight-decay must be >= 0"),
    Case("lr-sched-factor=0", ["--lr-sched-factor", "0"], "--lr-sched-factor must be in (0, 1]"),
    Case("lr-sched-factor=1.5", ["--lr-sched-factor", "1.5"], "must be in (0, 1]"),
    Case("momentum=1", ["--momentum", "1"], "--momentum must be in [0, 1)"),
    Case("momentum=-0.5", ["--momentum", "-0.5"], "--momentum must be in [0, 1)"),
    Case("remove-noise=-1", ["--remove-noise", "-1"], "--remove-noise must be >= 0"),
    Case("save-epochs=-1", ["--save-epochs", "-1"], "--save-epochs must be >= 0"),
    Case("print-every=-1", ["--print-every", "-1"], "--print-every must be >= 0"),
    Case("max-image-pixels=0", ["--max-image-pixels", "0"], "--max-image-pixels must be >= 1"),
    Case(
        "style-blend-weights-negative",
        ["--style-image", "style.png", "init.png", "--style-blend-weights", "1", "-1"],
        "--style-blend-weights must be >= 0",
    ),
    Case(
        "style-layer-weights-negative",
        ["--style-layer-weights", "1", "-1", "1", "1", "1"],
        "one weight >= 0 per style layer",
        late=True,
    ),
    Case("num-scales=0", ["--num-scales", "0"], "--num-scales must be >= 1"),
    Case("num-scales=-1", ["--num-scales", "-1"], "--num-scales must be >= 1"),
    Case("seed=-1", ["--seed", "-1"], "--seed must be in 0..4294967295"),
    Case("seed=2^32", ["--seed", str(2**32)], "--seed must be in 0..4294967295"),
    Case(
        "all-weights-0",
        ["--content-weight", "0", "--style-weight", "0", "--tv-weight", "0"],
        "nothing to optimise",
    ),
    # --- what argparse refuses is one line too
    Case("lr=abc", ["--lr", "abc"], "argument --lr: invalid float value: 'abc'"),
    Case(
        "unknown-argument-with-newline",
        ["--bogus\nsecond"],
        "unrecognized arguments: --bogus",
    ),
    Case("max-long-edge=3.5", ["--max-long-edge", "3.5"], "invalid int value: '3.5'"),
    Case("seed=abc", ["--seed", "abc"], "argument --seed: invalid int value"),
    Case("unknown-flag", ["--frobnicate", "3"], "unrecognized arguments: --frobnicate"),
    Case("abbreviated-flag", ["--max-long", "32"], "unrecognized arguments: --max-long"),
    Case("optimizer=bogus", ["--optimizer", "bogus"], "argument --optimizer: invalid choice"),
    Case("output-without-value", ["--output"], "argument --output: expected one argument"),
    # --- images that are not images
    Case(
        "content=folder",
        ["--content-image", "pics"],
        "image pics is a folder",
        setup=(folder("pics"),),
    ),
    Case(
        "content=fifo",
        ["--content-image", "pipe.png"],
        "image pipe.png is a named pipe",
        setup=(fifo("pipe.png"),),
    ),
    Case(
        "content=socket",
        ["--content-image", "sock.png"],
        "image sock.png is a socket",
        setup=(unix_socket("sock.png"),),
    ),
    Case("content=/dev/zero", ["--content-image", "/dev/zero"], "image /dev/zero is a device"),
    Case("content=/dev/null", ["--content-image", "/dev/null"], "image /dev/null is a device"),
    Case("content-missing", ["--content-image", "missing.png"], "image missing.png does not exist"),
    Case(
        "content=dangling-symlink",
        ["--content-image", "gone.png"],
        "image gone.png does not exist",
        setup=(symlink("gone.png", "nothing-here.png"),),
    ),
    Case(
        "content=symlink-loop",
        ["--content-image", "loop.png"],
        "image loop.png cannot be read",
        setup=(symlink("loop.png", "loop.png"),),
    ),
    Case(
        "content=empty-file",
        ["--content-image", "empty.png"],
        "empty.png: not a readable image",
        setup=(data("empty.png", b""),),
    ),
    Case(
        "content=text-file",
        ["--content-image", "text.jpg"],
        "text.jpg: not a readable image",
        setup=(data("text.jpg", b"this is not a picture\n"),),
    ),
    Case(
        "content=truncated-png",
        ["--content-image", "half.png"],
        "half.png: not a readable image",
        setup=(truncated("half.png"),),
    ),
    Case(
        "content=truncated-jpeg",
        ["--content-image", "half.jpg"],
        "half.jpg: not a readable image",
        setup=(truncated("half.jpg"),),
    ),
    Case(
        "content=bomb",
        ["--content-image", "bomb.png"],
        "bomb.png: 100000x100000 is 10000 megapixels",
        setup=(data("bomb.png", bomb_png(100_000, 100_000)),),
    ),
    Case(
        "content=bomb-with-the-guard-raised",
        ["--content-image", "bomb.png", "--max-image-pixels", str(2 * 10**10)],
        "bomb.png: not a readable image",
        setup=(data("bomb.png", bomb_png(100_000, 100_000)),),
        not_in_message=("megapixels",),
    ),
    Case(
        "style=bomb",
        ["--style-image", "style.png", "bomb.png"],
        "more than the 179 nstyle reads",
        setup=(data("bomb.png", bomb_png(100_000, 100_000)),),
    ),
    Case(
        "style=text-among-two",
        ["--style-image", "style.png", "notes.png"],
        "notes.png: not a readable image",
        setup=(data("notes.png", b"GIF89a but not really"),),
    ),
    Case(
        "content-name-with-newline",
        ["--content-image", "a\nb.png"],
        "does not exist",
    ),
    Case("init-missing", ["--init", "missing.png"], "--init must be one of content, noise"),
    Case("init=folder", ["--init", "pics"], "--init must be one of", setup=(folder("pics"),)),
    Case(
        "init=text-file",
        ["--init", "notes.png"],
        "notes.png: not a readable image",
        setup=(data("notes.png", b"hello\n"),),
    ),
    Case(
        "init=bomb",
        ["--init", "bomb.png"],
        "10000 megapixels",
        setup=(data("bomb.png", bomb_png(100_000, 100_000)),),
    ),
    # --- weights
    Case("weights-empty-name", ["--weights", ""], "--weights needs a file name"),
    Case(
        "weights-missing",
        ["--weights", "missing.params"],
        "weights file missing.params does not exist",
        late=True,
    ),
    Case(
        "weights=empty-file",
        ["--weights", "empty.params"],
        "empty.params: not a readable weights file",
        setup=(data("empty.params", b""),),
        late=True,
    ),
    Case(
        "weights=text-file",
        ["--weights", "text.params"],
        "text.params: not a readable weights file",
        setup=(data("text.params", b"weights? no\n" * 100),),
        late=True,
    ),
    Case(
        "weights=garbage-onnx",
        ["--weights", "model.onnx"],
        "model.onnx: not a readable weights file",
        setup=(data("model.onnx", os.urandom(64)),),
        late=True,
    ),
    Case(
        "weights=folder",
        ["--weights", "wdir"],
        "weights file wdir is a folder",
        setup=(folder("wdir"),),
        late=True,
    ),
    Case(
        "weights=fifo",
        ["--weights", "w.params"],
        "weights file w.params is a named pipe",
        setup=(fifo("w.params"),),
        late=True,
    ),
    Case(
        "weights=an-image",
        ["--weights", "style.png"],
        "style.png: not a readable weights file",
        late=True,
    ),
    Case(
        "weights=unnamed-arrays",
        ["--weights", "list.params"],
        "an MXNet file of unnamed arrays",
        setup=(weights_file("list.params", unnamed=True),),
        late=True,
    ),
    Case(
        "weights=one-convolution",
        ["--weights", "one.params"],
        "1 convolutions is neither VGG-16 (13) nor VGG-19 (16)",
        setup=(
            weights_file(
                "one.params",
                {
                    "conv1_1_weight": np.zeros((4, 3, 3, 3), np.float32),
                    "conv1_1_bias": np.zeros(4, np.float32),
                },
            ),
        ),
        late=True,
    ),
    # --- layers, colours, sizes
    Case(
        "vgg16-names-vgg19-layer",
        ["--model", "vgg16", "--style-layers", "relu5_4"],
        "unknown style layer(s) relu5_4; VGG-16 has relu1_1, relu1_2, relu2_1",
        drop=("--weights",),
    ),
    Case(
        "vgg16-weights-vgg19-layer",
        ["--model", "vgg19", "--style-layers", "relu5_4"],
        "VGG-16 has relu1_1, relu1_2, relu2_1",
        late=True,
    ),
    Case(
        "style-layer-repeated",  # 8000 copies fit a web form's field: minutes of work
        ["--style-layers"] + ["relu1_1"] * 2000 + ["relu2_1"],
        "--style-layers: named more than once: relu1_1",
    ),
    Case(
        "content-layer-repeated",
        ["--content-layers", "relu4_2", "relu4_2"],
        "--content-layers: named more than once: relu4_2",
    ),
    Case(
        "content-layer-unknown",
        ["--content-layers", "relu9_9"],
        "unknown content layer(s)",
        late=True,
    ),
    Case(
        "match-luminance-alone",
        ["--match-luminance"],
        "--match-luminance works with --preserve-colors only",
    ),
    Case(
        "num-scales-too-many",
        ["--num-scales", "2"],
        "the coarsest scale needs 64 px",
    ),
    Case(
        "max-long-edge=8", ["--max-long-edge", "8"], "both sides must be at least 16 px", late=True
    ),
    Case(
        "style-scale-too-small",
        ["--style-scale", "0.1"],
        "both sides must be at least 16 px",
        late=True,
    ),
    Case(
        "content-weight=1e38",
        ["--optimizer", "lbfgs", "--content-weight", "1e38"],
        "--content-weight 1e+38",
        late=True,
    ),
    # --- runs that must succeed, and write only their own files
    Case(
        "content-only-lbfgs",
        ["--optimizer", "lbfgs", "--style-weight", "0", "--tv-weight", "0"],
        code=0,
        creates=("out/out.png",),
        stderr_has=("already a minimum", "wrote out/out.png after 0 epochs"),
    ),
    Case(
        "continuation-init=output",
        ["--init", "out/out.png", "--output", "out/out.png", "--save-epochs", "1"],
        code=0,
        setup=(picture("out/out.png", np.ascontiguousarray(make_rgb()[::-1, ::-1])),),
        creates=("out/out.png", "out/tmp_1.jpg", "out/tmp_2.jpg"),
        may_change=("out/out.png",),
    ),
    Case(
        "content-in-output-folder-beyond-the-snapshots",
        ["--content-image", "out/tmp_3.jpg", "--save-epochs", "1"],
        code=0,
        setup=(picture("out/tmp_3.jpg"),),
        creates=("out/out.png", "out/tmp_1.jpg", "out/tmp_2.jpg"),
    ),
    Case(
        "output=tmp_02-is-no-snapshot-name",
        ["--output", "out/tmp_02.jpg", "--save-epochs", "1"],
        code=0,
        creates=("out/tmp_02.jpg", "out/tmp_1.jpg", "out/tmp_2.jpg"),
    ),
    Case(
        "odd-but-valid-pictures",
        "--content-image grey-alpha.png --style-image cmyk.jpg palette.png "
        "--output out/out.jpg --log out/losses.csv".split(),
        code=0,
        setup=(
            converted("grey-alpha.png", "LA"),
            converted("cmyk.jpg", "CMYK"),
            converted("palette.png", "P", transparency=0),
        ),
        creates=("out/out.jpg", "out/losses.csv"),
    ),
]


@pytest.fixture
def case_folder(tmp_path, tiny_weights_file):
    return make_folder(tmp_path / "case", tiny_weights_file)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_hostile_cli(case: Case, case_folder: Path, tmp_path: Path):
    d = case_folder
    base = list(BASE)
    for flag in case.drop:
        at = base.index(flag)
        del base[at : at + 2]
    argv = base + [arg.replace("{d}", str(d)) for arg in case.argv]
    try:
        for make in case.setup:
            make(d)
        before = fingerprint(d)
        done = run_cli(d, argv, env=environment(tmp_path / "tmpdir"))
        after = fingerprint(d)
    finally:
        for undo in case.cleanup:
            undo(d)
    if case.message is None:  # must succeed
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr and "nstyle: error" not in done.stderr
        for text in case.stderr_has:
            assert text in done.stderr, done.stderr
        for name in case.creates:
            assert (d / name).is_file(), f"{name} not written:\n{done.stderr}"
            if name.endswith((".png", ".jpg")):
                assert images.read_image(d / name).shape == SHAPE
        for name in case.may_change:  # the continuation replaced its start image
            assert after[name] != before[name]
        check_unchanged(before, after, case.creates + case.may_add, case.may_change)
    else:
        line = error_line(done, only_line=not case.late)
        assert done.returncode == case.code, done.stderr
        assert case.message in line, line
        for text in case.not_in_message:
            assert text not in line
        check_unchanged(before, after)


def test_the_table_is_big_enough():
    assert len(CASES) >= 70
    assert len({c.id for c in CASES}) == len(CASES)  # ids are unique


def test_vgg16_layer_list_is_vgg16s(case_folder, tmp_path):
    """The list of valid layers is VGG-16's (ends at relu5_3), not VGG-19's."""
    base = list(BASE)
    del base[base.index("--weights") : base.index("--weights") + 2]
    done = run_cli(
        case_folder,
        base + ["--model", "vgg16", "--style-layers", "relu5_4"],
        env=environment(tmp_path / "tmpdir"),
    )
    line = error_line(done)
    listed = line.split("VGG-16 has ", 1)[1].split(" (see")[0]
    assert listed.split(", ")[-1] == VGG16_LAST and "relu5_4" not in listed


# ------------------------------------------------------------------ 16-bit pictures
def test_16_bit_values_are_scaled_from_0_to_65535(tmp_path):
    """A dark 16-bit grey PNG (every value <= 255) is about 256 times darker than the same
    numbers in an 8-bit file: 16-bit values are scaled from 0..65535, whatever they are."""
    from PIL import Image

    values = np.tile(np.arange(256, dtype=np.uint16), (8, 1))  # 0..255, 8 rows
    Image.fromarray(values).save(tmp_path / "dark16.png")
    Image.fromarray(values.astype(np.uint8)).save(tmp_path / "same8.png")
    with Image.open(tmp_path / "dark16.png") as written:
        assert written.mode.startswith("I")  # really a 16-bit file
    dark = images.read_image(tmp_path / "dark16.png")
    same = images.read_image(tmp_path / "same8.png")
    assert dark.shape == same.shape == (8, 256, 3)
    assert np.array_equal(same[..., 0], values)  # 8 bits: the numbers themselves
    assert np.array_equal(dark[..., 0], np.round(values / 257.0))  # 16 bits: scaled
    assert dark.max() <= 1 and 200 < same.mean() / dark.mean() < 300
    bright = np.full((4, 4), 65535, np.uint16)
    Image.fromarray(bright).save(tmp_path / "white16.png")
    assert images.read_image(tmp_path / "white16.png").min() == 255


SMALL_GUARD = r"""
import sys
from nstyle import cli
from nstyle.media import images
images.read_image.__defaults__ = (1000,)  # the default guard, scaled down to a tiny picture
sys.exit(cli.main(sys.argv[1:], prog="run.py"))
"""


def with_small_guard(folder: Path, argv, tmp_path: Path) -> subprocess.CompletedProcess:
    """The command line with the guard scaled down and --max-image-pixels raised above it."""
    return subprocess.run(
        [sys.executable, "-c", SMALL_GUARD, *argv, "--max-image-pixels", "100000"],
        cwd=folder,
        env=environment(tmp_path / "tmpdir"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_raised_guard_holds_for_the_start_image_too(case_folder, tmp_path):
    """The default guard is scaled down to 1000 pixels so that a 56x40 start image is "too
    big" for it, and --max-image-pixels raised above that: the run must use the flag."""
    done = with_small_guard(case_folder, [*BASE, "--init", "init.png"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert images.read_image(case_folder / "out" / "out.png").shape == SHAPE


def test_a_raised_guard_holds_for_the_start_image_of_a_batch_too(case_folder, tmp_path):
    """As above, for a folder of photos: the start image is read once, under the flag, and
    handed to the painter (and to Ray's workers) as a picture."""
    photos = case_folder / "photos"
    photos.mkdir()
    shutil.copyfile(case_folder / "content.png", photos / "a.png")
    argv = BASE[:-2] + ["--content-image", "photos", "--output", "out/", "--init", "init.png"]
    done = with_small_guard(case_folder, argv, tmp_path)
    assert done.returncode == 0, done.stderr
    assert images.read_image(case_folder / "out" / "a.jpg").shape == SHAPE


# ------------------------------------------------------------------ one run per folder
LONG = ["--max-num-epochs", "100000", "--stop-eps", "0", "--print-every", "1"]


def test_a_second_run_into_the_same_folder_is_refused(case_folder, tmp_path):
    d, env = case_folder, environment(tmp_path / "tmpdir")
    first = Running(d, BASE + LONG + ["--output", "out/first.png"], env=env)
    try:
        first.wait_for(lambda line: line.startswith("epoch"))
        before = fingerprint(d)
        second = run_cli(d, BASE + ["--output", "out/second.png"], env=env)
        line = error_line(second)
        assert second.returncode == 2
        assert "another nstyle run is writing into out" in line
        check_unchanged(before, fingerprint(d))
        assert first.process.poll() is None  # the first goes on, unaffected
        first.wait_for(lambda line: line.startswith("epoch"), start=len(first.lines))  # going on
        assert stop(first, signal.SIGTERM) == 143, first.text()
        first.finish()
    finally:
        first.kill()
    said = without_mxnet_del(first.text())
    assert "Traceback" not in said
    assert said.splitlines()[-1].startswith("nstyle: interrupted at epoch")
    assert images.read_image(d / "out" / "first.png").shape == SHAPE
    assert sorted(p.name for p in (d / "out").iterdir()) == ["first.png"]


def test_runs_into_different_folders_go_side_by_side(case_folder, tmp_path):
    d, env = case_folder, environment(tmp_path / "tmpdir")
    # one OpenMP thread each: two runs of a thread per core each would oversubscribe the
    # cores and spin (a run takes ten times longer), which is not what this test is about
    env["OMP_NUM_THREADS"] = "1"
    before = fingerprint(d)
    runs = [
        Running(d, BASE + ["--max-num-epochs", "20", "--output", f"{name}/out.png"], env=env)
        for name in ("a", "b")
    ]
    try:
        codes = [run.finish(180) for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert codes == [0, 0], [run.text() for run in runs]
    for name in ("a", "b"):
        assert images.read_image(d / name / "out.png").shape == SHAPE
    check_unchanged(before, fingerprint(d), may_add=("a/out.png", "b/out.png"))


# ------------------------------------------------------------------ signals
def importing(module: str) -> Callable[[str], bool]:
    """A line of ``python -X importtime`` saying that ``module`` has been imported."""
    return lambda line: line.startswith("import time:") and line.split("|")[-1].strip() == module


def is_mxnet(line: str) -> bool:
    return line.startswith("import time:") and line.split("|")[-1].strip().startswith("mxnet")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "stage, when",
    [
        # nstyle.files is imported just before numpy, the slowest import of the command line
        ("loading-the-command-line", importing("nstyle.files")),
        ("loading-mxnet", is_mxnet),
    ],
    ids=["loading-the-command-line", "loading-mxnet"],
)
def test_a_signal_while_loading_stops_in_one_line(case_folder, tmp_path, sig, stage, when):
    d, env = case_folder, environment(tmp_path / "tmpdir")
    before = fingerprint(d)
    run = Running(d, BASE + LONG, env=env, python_flags=("-X", "importtime"))
    try:
        run.wait_for(when)
        run.process.send_signal(sig)
        code = run.finish(60)
    finally:
        run.kill()
    said = [line for line in run.text().splitlines() if not line.startswith("import time:")]
    assert code == 128 + sig, run.text()
    assert "Traceback" not in run.text() and "Exception ignored" not in run.text()
    assert said in ([], ["nstyle: interrupted"]), said
    check_unchanged(before, fingerprint(d))


@pytest.mark.parametrize("gap", [0.0, 0.02, 0.2])
def test_a_second_ctrl_c_stops_without_a_traceback(case_folder, tmp_path, gap):
    d, env = case_folder, environment(tmp_path / "tmpdir")
    before = fingerprint(d)
    run = Running(d, BASE + LONG, env=env)
    try:
        run.wait_for(lambda line: line.startswith("epoch    3"))
        run.process.send_signal(signal.SIGINT)
        time.sleep(gap)
        if run.process.poll() is None:
            stop(run, signal.SIGINT)  # the second (and a third should MXNet swallow both)
        code = run.finish(60)
    finally:
        run.kill()
    # 130, or killed by SIGINT itself when the second one lands as Python exits (what a shell
    # also shows as 130)
    said = without_mxnet_del(run.text())
    assert code in (130, -signal.SIGINT), said
    assert "Traceback" not in said and "error" not in said
    assert said.splitlines()[-1].startswith("nstyle: interrupted")
    check_unchanged(before, fingerprint(d), may_add=("out/out.png",))  # no .part left


def test_ctrl_c_while_the_painter_prepares_stops_within_a_second_or_two(
    case_folder, tmp_path, vgg16
):
    """Issue 31: Ctrl-C after the plan, while the painter prepares (four masked regions'
    targets on the real VGG-16, several seconds here), waited for the first epoch's end.
    No epoch runs there to wait for: the run stops as it does before MXNet loads, in one
    line, no picture written."""
    from PIL import Image

    d, env = case_folder, environment(tmp_path / "tmpdir")
    masks = []
    for i in range(4):
        mask = np.zeros((40, 56), np.uint8)
        mask[:, i * 14 : i * 14 + 20] = 255
        Image.fromarray(mask).save(d / f"mask{i}.png")
        masks.append(f"mask{i}.png")
    argv = [a for a in BASE + LONG if a not in ("--weights", "tiny.params")]
    edge = argv.index("--max-long-edge") + 1
    argv[edge] = "256"
    argv += ["--model", "vgg16", "--style-image", *["style.png"] * 4, "--content-mask", *masks]
    run = Running(d, argv, env=env)
    try:
        run.wait_for(lambda line: line.startswith("network:"))  # the plan is made; preparing
        run.process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        code = run.finish(120)
        took = time.monotonic() - sent
    finally:
        run.kill()
    said = run.text()
    assert code == 130, said
    assert said.splitlines()[-1] == "nstyle: interrupted", said  # not "... at epoch 1"
    assert "Traceback" not in said and "Exception ignored" not in said, said
    assert took < 5, f"{took:.1f} s"
    assert not (d / "out" / "out.png").exists()


SIGNAL_INSIDE_MXNET = r"""
import os, signal, sys
import nstyle  # sets MXNet's threads before MXNet loads
from mxnet._ctypes.ndarray import NDArrayBase
from nstyle import cli
from nstyle.cli import report

# the signal, from when ("start": the first arrays are the weights being read; "epoch2":
# after the second epoch), and at which NDArray calls, e.g. "__init__,__del__": two signals
sig, when, points = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
armed = when == "start"
reporter_call = report.Reporter.__call__

def call(self, it):
    global armed
    reporter_call(self, it)
    armed = armed or it.epoch == 2

def hook(name):
    original = getattr(NDArrayBase, name)

    def hooked(self, *args, **kwargs):
        if armed and points and points[0] == name:
            points.pop(0)  # each signal once, in the order given
            os.kill(os.getpid(), sig)  # as if kill(1) or Ctrl-C came at this very moment
        return original(self, *args, **kwargs)

    # the signal lands in MXNet's own code, as a real one would: the hook's code is MXNet's
    code = original.__code__
    hooked.__code__ = hooked.__code__.replace(co_filename=code.co_filename, co_name=name)
    setattr(NDArrayBase, name, hooked)

report.Reporter.__call__ = call
for name in set(points):
    hook(name)
sys.exit(cli.main(sys.argv[4:], prog="run.py"))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "where",
    [
        "__init__",
        "__del__",
    ],
)
def test_a_signal_inside_mxnet_stops_the_run_cleanly(case_folder, tmp_path, sig, where):
    """Deterministically what a kill or Ctrl-C does once in a while during a run (about one
    in thirty at a random moment): the signal comes while MXNet makes or frees an array."""
    argv = [str(int(sig)), "epoch2", where, *BASE, "--max-num-epochs", "100"]
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_INSIDE_MXNET, *argv],
        cwd=case_folder,
        env=environment(tmp_path / "tmpdir"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 128 + sig, done.stderr
    # sent during epoch 3: kept until that epoch ends, then the run stops with its picture
    assert "nstyle: interrupted at epoch 3; wrote out/out.png" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("second", ["__init__", "__del__"])
def test_a_second_signal_inside_mxnet_stops_the_run_cleanly(case_folder, tmp_path, sig, second):
    """Ctrl-C twice (or kill twice) in one epoch: the first is kept for the epoch's end, the
    second comes while MXNet makes or frees an array."""
    argv = [str(int(sig)), "epoch2", f"__init__,{second}", *BASE, "--max-num-epochs", "100"]
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_INSIDE_MXNET, *argv],
        cwd=case_folder,
        env=environment(tmp_path / "tmpdir"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 128 + sig, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1].startswith("nstyle: interrupted")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("where", ["__init__", "__del__"])
def test_a_signal_while_the_weights_load_stops_cleanly(case_folder, tmp_path, sig, where):
    argv = [str(int(sig)), "start", where, *BASE, "--max-num-epochs", "100"]
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_INSIDE_MXNET, *argv],
        cwd=case_folder,
        env=environment(tmp_path / "tmpdir"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 128 + sig, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[-1] == "nstyle: interrupted"
    assert not (case_folder / "out" / "out.png").exists()  # stopped before the first epoch


# ------------------------------------------------------------------ a full disk
@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and mount; skipped otherwise), unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield disk
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path, leave_pages: int = 0) -> None:
    """Fill ``disk`` up, then free ``leave_pages`` pages of 4 KiB."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\xff" * 4096)
    finally:
        os.close(fd)
    size = filler.stat().st_size
    assert size > 0
    os.truncate(filler, size - 4096 * leave_pages)


def test_a_snapshot_that_does_not_fit_is_a_warning(case_folder, tiny_disk, tmp_path):
    """The disk is full at the first snapshot (epoch 10): a warning, and the run goes on;
    room is made while it does, and the later snapshots and the result are written."""
    d = case_folder
    fill(tiny_disk)
    before, disk_before = fingerprint(d), fingerprint(tiny_disk)
    run = Running(
        d,
        BASE
        + ["--max-num-epochs", "60", "--stop-eps", "0", "--save-epochs", "10"]
        + ["--output", str(tiny_disk / "out.png")],
        env=environment(tmp_path / "tmpdir"),
    )
    try:
        first = run.wait_for(lambda line: "warning" in line)
        (tiny_disk / "filler").unlink()  # 50 epochs to go: room for 5 snapshots and the result
        code = run.finish(120)
    finally:
        run.kill()
    assert first.startswith(f"nstyle: warning: cannot write {tiny_disk}/tmp_10.jpg (")
    assert first.endswith("; the run goes on")
    assert code == 0, run.text()
    assert "Traceback" not in run.text() and "error" not in run.text()
    assert f"saved {tiny_disk}/tmp_60.jpg" in run.text()
    assert images.read_image(tiny_disk / "out.png").shape == SHAPE
    check_unchanged(before, fingerprint(d))
    del disk_before["filler"]  # removed by the test
    written = [f"tmp_{e}.jpg" for e in range(20, 70, 10)] + ["out.png"]
    check_unchanged(disk_before, fingerprint(tiny_disk), may_add=written)  # no .part
    for name in written[:-1]:  # every snapshot written is whole
        assert images.read_image(tiny_disk / name).shape == SHAPE


def test_a_final_write_that_does_not_fit_keeps_the_picture(case_folder, tiny_disk, tmp_path):
    d, tmpdir = case_folder, tmp_path / "tmpdir"
    fill(tiny_disk)
    before, disk_before = fingerprint(d), fingerprint(tiny_disk)
    done = run_cli(d, BASE + ["--output", str(tiny_disk / "out.png")], env=environment(tmpdir))
    line = error_line(done, only_line=False)
    assert done.returncode == 2
    assert line.startswith(f"nstyle: error: cannot write {tiny_disk}/out.png (No space left")
    kept = Path(line.split("the picture is kept in ", 1)[1])
    assert kept.parent == tmpdir and images.read_image(kept).shape == SHAPE
    check_unchanged(before, fingerprint(d))
    check_unchanged(disk_before, fingerprint(tiny_disk))  # nothing half-written left


def test_a_diverged_run_on_a_full_disk_fails_in_one_line(case_folder, tiny_disk, tmp_path):
    d = case_folder
    fill(tiny_disk)
    before = fingerprint(d)
    done = run_cli(
        d,
        BASE + ["--lr", "1e38", "--max-num-epochs", "100", "--output", str(tiny_disk / "out.png")],
        env=environment(tmp_path / "tmpdir"),
    )
    line = error_line(done, only_line=False)
    assert done.returncode == 2
    assert "became NaN or inf" in line and "kept in" in line
    check_unchanged(before, fingerprint(d))


def test_the_rescued_picture_never_replaces_a_file(case_folder, tiny_disk, tmp_path):
    """The photo happens to be $TMPDIR/nstyle-out.png; the disk of --output is full."""
    tmpdir = tmp_path / "tmpdir"
    env = environment(tmpdir)
    images.write_image(tmpdir / "nstyle-out.png", make_rgb())
    fill(tiny_disk)
    before = fingerprint(tmpdir)
    done = run_cli(
        case_folder,
        BASE
        + ["--content-image", str(tmpdir / "nstyle-out.png")]
        + ["--output", str(tiny_disk / "out.png")],
        env=env,
    )
    line = error_line(done, only_line=False)
    assert done.returncode == 2 and "cannot write" in line
    kept = Path(line.split("the picture is kept in ", 1)[1])
    check_unchanged(before, fingerprint(tmpdir), may_add=(kept.name,))


IDENTITY = (  # content only, from the photo, nothing denoised: the result is the photo
    "--style-weight 0 --tv-weight 0 --weight-decay 0 --remove-noise 0".split()
)


def test_a_jpeg_that_does_not_fit_is_refused_whole(tiny_disk):
    """A 7.6 KB JPEG, one free 4 KiB page: an error and nothing left, not half a picture."""
    from nstyle.errors import NStyleError

    fill(tiny_disk, leave_pages=1)
    try:
        with pytest.raises(NStyleError, match="cannot write"):
            images.write_image(tiny_disk / "big.jpg", stripes())
    finally:
        left = sorted(os.listdir(tiny_disk))
    assert left == ["filler"], left


def test_a_final_jpeg_that_does_not_fit_is_not_written_half(case_folder, tiny_disk, tmp_path):
    d = case_folder
    images.write_image(d / "stripes.png", stripes())
    fill(tiny_disk, leave_pages=1)
    before = fingerprint(d)
    done = run_cli(
        d,
        BASE
        + IDENTITY
        + ["--content-image", "stripes.png", "--max-long-edge", "96"]
        + ["--output", str(tiny_disk / "out.jpg")],
        env=environment(tmp_path / "tmpdir"),
    )
    left = sorted(os.listdir(tiny_disk))
    line = error_line(done, only_line=False)
    assert done.returncode == 2 and "cannot write" in line and "kept in" in line
    assert left == ["filler"], left
    check_unchanged(before, fingerprint(d))


# ------------------------------------------------------------------ the library's arguments
@pytest.fixture(scope="module")
def library(tiny_weights_file):
    """stylize on the tiny network, one SGD epoch at 32 px."""
    import nstyle
    from nstyle.weights import read_weights

    weights = read_weights(tiny_weights_file)
    options = nstyle.Options(max_long_edge=32, max_num_epochs=1, optimizer="sgd")

    def stylize(content, styles, opts=options):
        return nstyle.stylize(content, styles, opts, weights=weights)

    return stylize


RGB = make_rgb()
STYLE = np.ascontiguousarray(RGB[::-1])


def test_a_float_image_is_its_uint8_picture(library):
    base = library(RGB, STYLE)
    assert base.shape == SHAPE and base.dtype == np.uint8
    assert np.array_equal(library(RGB / 255.0, STYLE), base)
    assert np.array_equal(library(RGB.astype(np.float32) / 255, STYLE / 255.0), base)
    assert np.array_equal(library(RGB.astype(np.uint16) * 257, STYLE), base)  # uint16: x 257
    assert np.array_equal(library(RGB, [STYLE.astype(np.uint16) * 257]), base)


def test_grey_pictures_are_accepted(library):
    grey = RGB[..., 1]
    as_rgb = library(np.repeat(grey[..., None], 3, axis=2), STYLE)
    assert np.array_equal(library(grey, STYLE), as_rgb)
    assert np.array_equal(library(grey[..., None], STYLE), as_rgb)
    assert np.array_equal(library(RGB, grey), library(RGB, np.repeat(grey[..., None], 3, 2)))


def test_rgba_is_flattened_on_white(library):
    alpha = np.linspace(0, 255, RGB.shape[1]).round().astype(np.uint8)  # 0 (clear) to opaque
    rgba = np.dstack([RGB, np.broadcast_to(alpha, RGB.shape[:2])])
    a = alpha[None, :, None].astype(np.int64)
    on_white = np.round((RGB.astype(np.int64) * a + 255 * (255 - a)) / 255).astype(np.uint8)
    assert np.array_equal(library(rgba, STYLE), library(on_white, STYLE))
    assert np.array_equal(library(RGB, [rgba]), library(RGB, [on_white]))


def nan_image():
    image = RGB / 255.0
    image[3, 4, 1] = np.nan
    return image


def inf_image():
    image = RGB / 255.0
    image[0, 0, 0] = np.inf
    return image


BAD_ARRAYS = [
    ("nan", nan_image(), "NaN or inf"),
    ("inf", inf_image(), "NaN or inf"),
    ("float-above-1", RGB.astype(np.float64), "a float image must be in 0..1"),
    ("float-below-0", RGB / 255.0 - 0.5, "a float image must be in 0..1"),
    ("int64", RGB.astype(np.int64), "dtype int64 is not an image type"),
    ("1-D", np.zeros(30, np.uint8), "expected an image of shape"),
    ("4-D", np.zeros((1, 40, 56, 3), np.uint8), "expected an image of shape"),
    ("two-channels", np.zeros((40, 56, 2), np.uint8), "expected an image of shape"),
    ("empty", np.zeros((0, 56, 3), np.uint8), "the image is empty"),
    ("list", RGB.tolist(), "expected a numpy array, got list"),
    ("matrix", np.matrix(RGB[..., 0]), "expected a numpy array, got matrix"),
    ("masked", np.ma.masked_array(RGB, RGB > 100), "expected a numpy array, got MaskedArray"),
]


@pytest.mark.parametrize("image, message", [pytest.param(a, m, id=i) for i, a, m in BAD_ARRAYS])
@pytest.mark.parametrize("where", ["content", "styles[0]"])
def test_a_bad_array_is_named(library, image, message, where):
    from nstyle import NStyleError

    content, styles = (image, STYLE) if where == "content" else (RGB, [image])
    with pytest.raises(NStyleError) as raised:
        library(content, styles)
    assert str(raised.value).startswith(f"{where}: ") and message in str(raised.value)


def test_bad_styles_and_options_are_named(library):
    import nstyle

    with pytest.raises(nstyle.NStyleError, match=r"^styles: at least one style image"):
        library(RGB, [])
    with pytest.raises(nstyle.NStyleError, match=r"^styles: expected an array or a list"):
        library(RGB, "style.png")
    with pytest.raises(nstyle.NStyleError, match=r"^styles\[1\]: "):
        library(RGB, [STYLE, np.zeros((4, 4, 3), np.int32)])
    with pytest.raises(nstyle.NStyleError, match=r"^options must be an nstyle.Options, got dict"):
        library(RGB, STYLE, {"max_long_edge": 32})


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.uint8,
        st.tuples(st.integers(1, 12), st.integers(1, 12), st.just(3)),
    )
)
def test_as_rgb_keeps_a_uint8_picture(image):
    out = images.as_rgb(image, "content")
    assert out.dtype == np.uint8 and np.array_equal(out, image)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3])),
        elements=st.floats(0, 1),
    )
)
def test_as_rgb_scales_a_float_picture(image):
    out = images.as_rgb(image, "content")
    expected = np.round(image * 255).astype(np.uint8)
    if image.shape[2] == 1:
        expected = np.repeat(expected, 3, axis=2)
    assert out.shape == image.shape[:2] + (3,) and np.array_equal(out, expected)


def test_as_rgb_takes_every_uint8_value_back_from_float():
    values = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    for dtype in (np.float16, np.float32, np.float64):
        again = images.as_rgb((values / 255).astype(dtype), "content")
        assert np.array_equal(again[..., 0], values[..., 0])


def test_as_rgb_rounds_a_float32_value_by_its_own_product():
    image = np.full((1, 1, 3), 0.9, np.float32)
    expected = np.round(image.astype(np.float64) * 255)  # 229
    assert np.array_equal(images.as_rgb(image, "content"), expected.astype(np.uint8))


# ------------------------------------------------------------------ the suite's own memory
def test_what_the_suite_starts_cannot_take_the_machines_memory():
    """conftest caps the address space of pytest and of every process it starts: a run that
    tries to allocate more fails in one line instead of taking the shared machine."""
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    assert soft != resource.RLIM_INFINITY and soft <= 16 * 2**30
    grab = "import numpy as np; np.ones(2**31 * 8, np.uint8)"  # 16 GiB, touched
    done = subprocess.run([sys.executable, "-c", grab], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "MemoryError" in done.stderr
