"""Many pictures in one run: a folder of photos, videos frame by frame, on this process or
on a Ray cluster.

**Work units.** A picture is one task. A video is split into shots at scene cuts
(``scene_cuts``) and each shot is a *chain* of frame tasks: frame i+1 of a chain is
submitted when frame i's result is back, carrying (the frame, the previous input frame, the
previous styled frame), and the worker calls ``Painter.paint_frame``, which starts from the
previous styled frame carried along the optical flow and ties the new one to it (Ruder et
al. 2016). The first frame of a shot is painted on its own: across a cut there is no
motion to follow. Different chains and pictures run in parallel when there are several
workers; chains are served before pictures, the longest first, so that they do not end
last.

**Scene cuts.** Consecutive input frames are compared by their colour: the correlation of
their hue-saturation histograms (OpenCV, 30 x 32 bins on a copy of at most
``HISTOGRAM_EDGE`` px). A shot starts where it is below ``CUT_CORRELATION``: a pan or a
moving subject keeps the colours of a scene (correlation near 1), a cut to another scene
does not. A slow fade is not a cut (and needs none: the flow follows it).

**Runners.** ``InProcess`` (the default) paints the tasks one after another in this
process with one ``Painter``; no Ray process starts. ``RayRunner`` runs them on a Ray
cluster: one actor per worker, each holding a ``Painter`` (its weights loaded by the actor
itself, from the machine's cache, ``~/.mxnet/models``; the style images sent once as
arrays), tasks sent to idle actors, results returned as arrays. Actors restart when their
process dies and their running task is retried (``MAX_RESTARTS``, ``MAX_TASK_RETRIES``),
so a dead worker loses at most its current item. ``--workers N`` starts a local cluster
(``ray.init`` on 127.0.0.1) with N actors, each limited to cores/N MXNet threads;
``--ray-address HOST:PORT`` joins an existing cluster, with one actor per machine that
offers CPUs, using all of them (MXNet spreads one picture over a machine's cores).

**Files.** Only this process, the driver, writes: workers need no shared file system.
Pictures are written atomically (``images.write_image``) and recorded in the output
folder's manifest (``nstyle.batch.Manifest``) under a key of the input's content and the
settings that shape the picture (``settings``): a run of the same command paints only what
is missing, changed, or painted with other settings. A video's finished frames are PNG
files in a hidden folder beside it (``.<name>.frames/000001.png``), each recorded as a part
of the video: a rerun resumes each shot at its first unfinished frame, the previous styled
frame read back from its file. When every frame is done the video is written (H.264 at the
input's frame rate, its sound copied), recorded, and the frames removed. Nothing that
nstyle did not write is replaced or removed: a file at an output that the manifest does
not vouch for, or a frames folder without nstyle's marker, fails that item (``Job.clash``).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import re
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nstyle import batch
from nstyle.config import Options
from nstyle.errors import NStyleError, error_line, framework_failure, one_line, squeezed
from nstyle.hosts import is_loopback
from nstyle.media import images, video

log = logging.getLogger("nstyle")

CUT_CORRELATION = 0.5  # hue-saturation histogram correlation below which a shot starts
HISTOGRAM_EDGE = 64  # frames are compared on a copy this small (long edge, px)
MAX_RESTARTS = 3  # a Ray actor whose process dies is restarted this many times
MAX_TASK_RETRIES = 3  # and the task it was running is retried
RAY_CONNECT_SECONDS = 3.0  # the GCS port of --ray-address must answer within this
# The run's own cluster's object store: the styles, the items in flight and their results
# are pictures, not tensors (a 4096 px one is 50 MB), and Ray spills beyond it; its default,
# 30% of the machine's memory, is mapped into every worker's address space.
OBJECT_STORE_BYTES = 1 << 30
RAY_JOIN_SECONDS = 20  # ray.init's wait for a head that answers but does not register us
RAY_PROBE_SECONDS = 15.0  # a Ray head gives its cluster id within this (Ray's own client,
# in a child process that is killed then: ray.init would wait ten minutes and more)
TOKEN_HINT = (
    "; if the cluster checks tokens, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or "
    "~/.ray/auth_token) here, as for any Ray client"
)
RAY_PROBE = "import sys; from ray._raylet import GcsClient; GcsClient(address=sys.argv[1])"
WORKERS_START_SECONDS = 600.0  # the Ray workers must have built their painters by then
FRAMES_MARKER = ".nstyle-frames"  # in a frames folder: nstyle made it (see Job)
FRAME_FILE = re.compile(r"[0-9]{6}\.png|\.[0-9]{6}\.png\..*\.part")  # a frame, or one
# whose atomic write was cut short (files.replaced_atomically)
NOT_SHAPING = frozenset({"max_memory"})  # options that do not change the picture (the
# memory plan computes the same objective, whole or tile by tile)
PICTURE_ONLY_IGNORES = frozenset({"temporal_weight"})  # a picture has no previous frame


# ------------------------------------------------------------ scene cuts
def frame_histogram(frame: np.ndarray) -> np.ndarray:
    """The normalised hue-saturation histogram of an RGB uint8 frame, (30, 32) float32."""
    import cv2

    h, w = frame.shape[:2]
    scale = HISTOGRAM_EDGE / max(h, w)
    if scale < 1:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        frame = cv2.resize(np.ascontiguousarray(frame), size, interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV)
    histogram = cv2.calcHist([hsv], [0, 1], None, [30, 32], [0, 180, 0, 256])
    return np.asarray(histogram / max(float(histogram.sum()), 1.0), np.float32)


def scene_cuts(histograms: Iterable[np.ndarray]) -> list[int]:
    """The frames (indices > 0) where a new shot starts: those whose histogram correlates
    with the previous frame's below ``CUT_CORRELATION``. Read as they come, one histogram
    kept at a time: an hour of video costs no memory."""
    cuts, previous = [], None
    for index, histogram in enumerate(histograms):
        if previous is not None and is_cut(previous, histogram):
            cuts.append(index)
        previous = histogram
    return cuts


def is_cut(previous: np.ndarray, histogram: np.ndarray) -> bool:
    """Whether a frame with ``histogram`` starts a new shot after one with ``previous``."""
    import cv2

    return cv2.compareHist(previous, histogram, cv2.HISTCMP_CORREL) < CUT_CORRELATION


def shots(count: int, cuts: Sequence[int]) -> list[range]:
    """The frame ranges between cuts: ``shots(6, [2])`` is ``[range(0, 2), range(2, 6)]``."""
    bounds = [0, *sorted(c for c in cuts if 0 < c < count), count]
    return [range(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


# ------------------------------------------------------------ what shapes a picture
def settings(
    options: Options,
    style_hashes: Sequence[str],
    remove_noise: float,
    kind: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The settings a manifest key is made of (``batch.settings_hash``): every option but
    those that do not change the picture, files by their content (styles, weights, a start
    image), the denoising of written files, and for videos the scene-cut rule."""
    values = {
        f.name: getattr(options, f.name)
        for f in dataclasses.fields(options)
        if f.name not in NOT_SHAPING
        and not (kind == batch.IMAGE and f.name in PICTURE_ONLY_IGNORES)
    }
    if options.weights:
        values["weights"] = batch.file_hash(options.weights)
    if Path(options.init).is_file():
        values["init"] = batch.file_hash(options.init)
    values.update(styles=list(style_hashes), remove_noise=remove_noise, kind=kind)
    if kind == batch.VIDEO:
        values.update(cut_correlation=CUT_CORRELATION, histogram_edge=HISTOGRAM_EDGE)
    values.update(extra or {})
    return values


# ------------------------------------------------------------ the plan
@dataclass
class Job:
    """One input and where its result goes."""

    item: batch.Item
    output: Path
    key: str = ""  # the manifest key: input content and settings
    info: video.VideoInfo | None = None  # videos: what probe found

    @property
    def frames_folder(self) -> Path:
        """A video's finished frames, hidden beside it until the video is written. nstyle
        makes it with a ``FRAMES_MARKER`` file inside: a folder of that name without one
        is the user's, and nstyle neither writes into it nor removes it."""
        return self.output.parent / f".{self.output.name}.frames"

    def frame_path(self, index: int) -> Path:
        return self.frames_folder / f"{index + 1:06d}.png"

    def frames_folder_is_ours(self) -> bool:
        folder = self.frames_folder
        return not folder.is_symlink() and (folder / FRAMES_MARKER).is_file()

    def clash(self, manifest: batch.Manifest) -> str | None:
        """Why this job would replace or remove what nstyle did not write (a file at its
        output, a frames folder of the user's), or None."""
        kept = "it is kept: move it away or choose another --output"
        if os.path.lexists(self.output) and not manifest.wrote(self.output):
            why = "exists and nstyle did not write it (or it was changed since)"
            return f"{self.output} {why}; {kept}"
        folder = self.frames_folder
        if self.item.kind == batch.VIDEO and os.path.lexists(folder):
            if not self.frames_folder_is_ours():
                return f"{folder} exists and nstyle did not make it; {kept}"
        return None


def frame_size(frame: np.ndarray, options: Options) -> np.ndarray:
    """A picture shrunk to the output's size, as the painter would shrink it: what crosses
    to a worker is what it paints, not a 12-megapixel original. One to be enlarged goes as
    it is, smaller, and the painter enlarges it once its memory plan has said the output
    fits (enlarged here, a size no plan allows would take the driver's memory first)."""
    if max(frame.shape[:2]) <= options.max_long_edge:
        return frame
    return images.resize_long_edge(frame, options.max_long_edge)


@dataclass(frozen=True)
class Task:
    """What a worker paints: a picture (``frame`` None) or one frame of a video chain with
    the previous input frame and its styled result (None at the start of a shot)."""

    job: int  # index of the job
    frame: int | None
    content: np.ndarray
    previous: np.ndarray | None = None
    previous_styled: np.ndarray | None = None


@dataclass(frozen=True)
class Painted:
    """``api.Result`` as it crosses from a Ray worker: the driver need not load MXNet."""

    image: np.ndarray
    epochs: int
    seconds: float
    reason: str


def paint_task(painter, task: Task, callback=None):
    """Run one task on an ``api.Painter``: an ``api.Result``."""
    if task.frame is None:
        return painter.paint(task.content, callback=callback)
    return painter.paint_frame(task.content, task.previous, task.previous_styled, callback=callback)


@dataclass
class Chain:
    """A shot of a video being painted frame after frame."""

    job: int
    frames: range
    next: int  # the next frame to paint
    previous_styled: np.ndarray | None = None  # the styled frame next - 1, if in the shot
    previous: np.ndarray | None = None  # the input frame next - 1, once read
    reader: Iterator[np.ndarray] | None = field(default=None, repr=False)

    @property
    def remaining(self) -> int:
        return self.frames.stop - self.next


# ------------------------------------------------------------ runners
class Failure:
    """A task that failed: the error, of its kind, that says why in a line."""

    def __init__(self, error: NStyleError):
        self.error = error

    @property
    def message(self) -> str:
        return str(self.error)


def _failure(exc: BaseException) -> Failure:
    if isinstance(exc, NStyleError):
        return Failure(exc)
    return Failure(framework_failure(exc) or NStyleError(f"{type(exc).__name__}: {squeezed(exc)}"))


class InProcess:
    """Tasks painted one after another in this process, by one ``api.Painter``."""

    slots = 1

    def __init__(
        self,
        styles: list[np.ndarray],
        options: Options,
        *,
        gpu: int | None = None,
        fallback: str | None = None,
        epoch_hook: Callable[[], None] | None = None,
        init: np.ndarray | None = None,
    ):
        self.styles, self.options, self.gpu, self.fallback = styles, options, gpu, fallback
        self.init = init  # the --init file's picture, read by the caller
        self.epoch_hook = epoch_hook
        self.queue: deque[Task] = deque()
        self.painter: Any = None

    def start(self) -> str:
        """Load the weights and build the network: the painter."""
        from nstyle import api, devices

        ctx = devices.select_context(self.gpu)
        weights = api.load_weights(self.options, self.fallback)
        self.painter = api.Painter(
            self.styles, self.options, ctx=ctx, weights=weights, init=self.init
        )
        self.painter.check_fits_at_all()
        return f"in this process ({weights.description})"

    @property
    def busy(self) -> int:
        return len(self.queue)

    def submit(self, task: Task) -> None:
        self.queue.append(task)

    def next_done(self) -> tuple[Task, Any]:
        """The next finished task and its ``api.Result`` or ``Failure``."""
        task = self.queue.popleft()
        hook = self.epoch_hook
        try:
            result = paint_task(self.painter, task, None if hook is None else lambda it: hook())
        except Exception as exc:  # an item's own failure; anything else is a bug: raised
            if not isinstance(exc, NStyleError) and framework_failure(exc) is None:
                raise
            return task, _failure(exc)
        return task, result

    def close(self) -> None:
        self.queue.clear()
        self.painter = None


def limit_threads(share: int) -> int:
    """Set this process's OpenMP threads to its machine's cores / ``share`` (at least 1),
    as MXNet reads them when it loads: call before anything imports MXNet."""
    cores = len(os.sched_getaffinity(0))
    threads = max(1, cores // max(1, share))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    if "mxnet" in sys.modules:
        log.warning("nstyle: warning: MXNet was loaded before its threads were set")
    return threads


class Worker:
    """What a Ray actor holds: a ``Painter``, built once (weights from this machine's cache,
    loaded by the actor itself).

    The style images and the --init file's picture come with each call as a reference
    (``[ObjectRef]``, a few bytes; the arrays cross once, into the object store, where the
    driver keeps them) and the painter is built on the first call: a restarted actor builds
    it again from them. (A reference among the constructor's arguments would not survive a
    restart, Ray issue 53727.)"""

    def __init__(self, options: Options, fallback: str | None, gpu: int | None, share: int):
        self.threads = limit_threads(share)
        self.options, self.fallback, self.gpu = options, fallback, gpu
        self.painter: Any = None
        self.description = ""

    def _painter(self, pictures: list[Any]):
        if self.painter is None:
            import ray

            from nstyle import api, devices

            weights = api.load_weights(self.options, self.fallback)
            ctx = devices.select_context(self.gpu)
            styles, init = ray.get(pictures[0])
            self.painter = api.Painter(styles, self.options, ctx=ctx, weights=weights, init=init)
            self.description = weights.description
        return self.painter

    def ready(self, pictures: list[Any]) -> tuple[str, int, int, str]:
        """Build the painter; (host, process id, threads, weights): where it runs."""
        self._painter(pictures).check_fits_at_all()
        return socket.gethostname(), os.getpid(), self.threads, self.description

    def run(self, task: Task, pictures: list[Any]) -> Painted:
        result = paint_task(self._painter(pictures), task)
        return Painted(result.image, result.epochs, result.seconds, result.reason)


def parse_address(address: str) -> tuple[str, int]:
    """HOST:PORT of a Ray cluster's head (its GCS), or one line saying what is wrong."""
    host, sep, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NStyleError(
            f"--ray-address {address!r}: expected HOST:PORT of the cluster's head, "
            "e.g. 127.0.0.1:6379 (as `ray start --head` prints it)"
        )
    return host, int(port)


# HTTP/2's client preface and an empty SETTINGS frame: a gRPC server (a Ray head's GCS)
# answers with a SETTINGS frame of its own (RFC 9113, 3.4).
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def check_reachable(address: str, seconds: float = RAY_CONNECT_SECONDS) -> None:
    """Fail in one line within about ``seconds`` when nothing listens at ``address``, or
    what listens is not a gRPC server as a Ray head's GCS is (an HTTP server, a socket
    that never answers): ``ray.init`` itself may wait minutes for a head that is not
    there."""
    host, port = parse_address(address)
    connected = False
    try:
        with socket.create_connection((host, port), timeout=seconds) as connection:
            connected = True
            connection.sendall(HTTP2_PREFACE)
            reply = connection.recv(9)
    except OSError as exc:
        if not (connected and isinstance(exc, TimeoutError)):  # else: listens, says nothing
            why = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise NStyleError(
                f"--ray-address {address}: no Ray cluster answers there ({why}); start "
                "one with `ray start --head`, or check the address and the firewall"
            ) from None
        reply = None
    if reply is None or len(reply) < 9 or reply[3] != 4:  # frame type 4: SETTINGS
        what = "says nothing" if not reply else f"answers {one_line(repr(reply[:9]))[:40]}"
        raise NStyleError(
            f"--ray-address {address}: something listens there but it is not a Ray head "
            f"(it {what} where a Ray head's GCS speaks gRPC); check the port: `ray start "
            "--head` prints it"
        )
    try:  # a gRPC server, but a Ray head? Ray's client must get the cluster's id
        subprocess.run(
            [sys.executable, "-c", RAY_PROBE, f"{host}:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=RAY_PROBE_SECONDS,
        )  # other failures (no Ray here, a token refused) are ray.init's to say
    except subprocess.TimeoutExpired:
        hint = "" if "RAY_AUTH_MODE" in os.environ else TOKEN_HINT
        raise NStyleError(
            f"--ray-address {address}: something listens there but it is not a Ray head "
            f"(a gRPC server that gave no Ray cluster id within {RAY_PROBE_SECONDS:.0f} s); "
            f"check the port (`ray start --head` prints it){hint}"
        ) from None


def outward_ip() -> str | None:
    """The address this machine reaches the world from, as Ray finds it (a UDP "connect"
    sends nothing), or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("8.8.8.8", 53))
            return probe.getsockname()[0]
    except OSError:
        return None


def loopback_only(address: str) -> bool:
    """Whether ``address`` is a loopback one whose port does not answer on the machine's
    outward address too: a head that listens on 127.0.0.1 alone."""
    host, port = parse_address(address)
    if not is_loopback(host):
        return False
    outward = outward_ip()
    if outward is None or is_loopback(outward):
        return True
    try:
        with socket.create_connection((outward, port), timeout=RAY_CONNECT_SECONDS):
            return False
    except OSError:
        return True


class RayRunner:
    """Tasks on a Ray cluster, one ``Worker`` actor per worker (see the module's notes)."""

    def __init__(
        self,
        styles: list[np.ndarray],
        options: Options,
        *,
        address: str | None = None,
        workers: int | None = None,
        fallback: str | None = None,
        gpu: int | None = None,
        quiet: bool = False,
        epoch_hook: Callable[[], None] | None = None,
        init: np.ndarray | None = None,
    ):
        if (address is None) == (workers is None):
            raise ValueError("give either address or workers")
        self.styles, self.options, self.fallback, self.gpu = styles, options, fallback, gpu
        self.address, self.workers, self.quiet = address, workers, quiet
        self.init = init  # the --init file's picture: workers elsewhere have no such file
        self.epoch_hook = epoch_hook
        self.actors: list[Any] = []
        self.idle: list[Any] = []
        self.running: dict[Any, tuple[Task, Any]] = {}  # ObjectRef: (task, actor)
        self.ray: Any = None

    @property
    def slots(self) -> int:
        return len(self.actors)

    @property
    def busy(self) -> int:
        return len(self.running)

    def _import_ray(self):
        # Ray turns 127.0.0.1 into the machine's outward address unless told this is a
        # one-machine cluster (read when Ray loads: set before, and on the loaded module).
        # That suits a head started as usual, on every interface; one that listens on the
        # loopback only (``--node-ip-address 127.0.0.1``) must be reached as it is.
        local = self.workers is not None or loopback_only(self.address or "")
        if local:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        if self.address is not None:  # a head that never registers us: fail, don't wait
            os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(RAY_JOIN_SECONDS))
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if self.workers is not None and "RAY_AUTH_MODE" not in os.environ:
            # The run's own cluster takes a token of its own (Ray would write one into
            # ~/.ray, where it would switch on token checks for every later `ray start`).
            os.environ["RAY_AUTH_MODE"] = "token"
            if not {"RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"} & set(os.environ):
                import secrets

                os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
        try:
            import ray
        except ImportError:
            raise NStyleError(
                "Ray is not installed: pip install -r requirements.txt (or ray==2.60.0)"
            ) from None
        if local:
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = False  # for a Ray loaded before
        return ray

    def start(self) -> str:
        import signal

        ray = self.ray = self._import_ray()
        level = logging.ERROR  # Ray's notices are not the run's: its failures are lines
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            if self.workers is not None:
                ray.init(
                    num_cpus=self.workers,
                    object_store_memory=OBJECT_STORE_BYTES,
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=level,
                    _node_ip_address="127.0.0.1",
                )
                places = [(None, self.workers)] * self.workers
            else:
                ray.init(address=self.address, log_to_driver=False, logging_level=level)
                places = [
                    (node["NodeID"], 1)
                    for node in ray.nodes()
                    if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) >= 1
                ]
                if not places:
                    raise NStyleError(f"the Ray cluster at {self.address} has no CPU to offer")
        except NStyleError:
            self.close()
            raise
        except Exception as exc:  # version mismatch, refused connection, ...
            self.close()
            hint = ""
            if self.address is not None and "RAY_AUTH_MODE" not in os.environ:
                hint = TOKEN_HINT
            raise NStyleError(f"Ray: {squeezed(exc)[:300]}{hint}") from None
        finally:
            for number, handler in handlers.items():  # Ray installs its own
                signal.signal(number, handler)
        remote = ray.remote(
            num_cpus=1, max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES
        )(Worker)
        self.pictures_ref = [ray.put((self.styles, self.init))]  # see Worker
        for node, share in places:
            extra: dict[str, Any] = {}
            if node is not None:
                from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

                extra["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=True)
            self.actors.append(
                remote.options(**extra).remote(self.options, self.fallback, self.gpu, share)
            )
        try:
            found = self._wait_ready(
                [actor.ready.remote(self.pictures_ref) for actor in self.actors]
            )
        except NStyleError as exc:
            self.close()
            raise NStyleError(f"a Ray worker could not start: {exc}") from None
        self.idle = list(self.actors)
        hosts = sorted({host for host, *_ in found})
        threads = ", ".join(str(t) for _, _, t, _ in found)
        where = "a local Ray cluster" if self.workers else f"the Ray cluster at {self.address}"
        return (
            f"on {where}: {len(found)} worker(s) on {len(hosts)} machine(s), "
            f"MXNet threads {threads} ({found[0][3]})"
        )

    def _wait_ready(self, refs: list[Any]) -> list[Any]:
        """The workers' ``ready`` answers, waited for in short steps (a signal ends the
        wait between them) and at most ``WORKERS_START_SECONDS``."""
        end = time.monotonic() + WORKERS_START_SECONDS
        pending = list(refs)
        while pending:
            if self.epoch_hook is not None:
                self.epoch_hook()
            if time.monotonic() > end:
                raise NStyleError(
                    f"{len(pending)} of {len(refs)} worker(s) not ready after "
                    f"{WORKERS_START_SECONDS:.0f} s (is the cluster busy?)"
                )
            _, pending = self.ray.wait(pending, num_returns=len(pending), timeout=0.5)
        return self._get(refs)

    def _get(self, refs):
        """``ray.get``, the task's own error as an ``NStyleError`` line."""
        try:
            return self.ray.get(refs)
        except Exception as exc:
            cause = getattr(exc, "cause", None)
            raise _failure(cause or exc).error from None

    def submit(self, task: Task) -> None:
        actor = self.idle.pop()
        self.running[actor.run.remote(task, self.pictures_ref)] = (task, actor)

    def next_done(self) -> tuple[Task, Any]:
        while True:
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=0.5)
            if self.epoch_hook is not None:
                self.epoch_hook()
            if ready:
                break
        ref = ready[0]
        task, actor = self.running.pop(ref)
        self.idle.append(actor)
        try:
            return task, self._get(ref)
        except NStyleError as exc:
            return task, Failure(exc)

    def close(self) -> None:
        if self.ray is None:
            return
        for actor in self.actors if self.workers is None else []:  # ours: shut down whole
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
        self.actors, self.idle, self.running = [], [], {}
        if self.ray.is_initialized():
            self.ray.shutdown()


def remove_frames(folder: Path) -> None:
    """Remove a frames folder nstyle made (``Job.frames_folder``): its frames, its
    marker, then the folder if nothing else is left in it (a file put there is kept)."""
    if folder.is_symlink() or not (folder / FRAMES_MARKER).is_file():
        return
    for entry in os.scandir(folder):
        if entry.is_file(follow_symlinks=False) and (
            entry.name == FRAMES_MARKER or FRAME_FILE.fullmatch(entry.name)
        ):
            os.unlink(entry.path)
    try:
        folder.rmdir()
    except OSError:
        log.warning("nstyle: warning: kept %s: it holds files nstyle did not write", folder)


# ------------------------------------------------------------ progress
class Progress:
    """One bar over all units (a picture or a video frame) on a terminal, and a line per
    finished item; nothing with ``quiet``."""

    def __init__(self, total: int, done: int, items: int, items_done: int, quiet: bool):
        self.items, self.items_done, self.quiet = items, items_done, quiet
        self.bar: Any = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=done, unit="picture", dynamic_ncols=True, leave=False
            )

    def say(self, message: str, *args) -> None:
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.write(one_line(message % args), file=sys.stderr)
        else:
            log.info(message, *args)

    def advance(self, units: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(units)

    def finished(self, output: Path, seconds: float, note: str = "") -> None:
        self.items_done += 1
        self.say("wrote %s (%d/%d, %.1f s%s)", output, self.items_done, self.items, seconds, note)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# ------------------------------------------------------------ the driver
@dataclass
class Summary:
    painted: int = 0  # items finished by this run
    skipped: int = 0  # items already finished and unchanged
    failed: list[NStyleError] = field(default_factory=list)  # their lines are printed
    seconds: float = 0.0


class Batch:
    """Runs ``jobs`` on a runner, writes and records every result (see the module's notes).
    The jobs' keys are set by the caller (``settings`` and ``batch.item_key``)."""

    def __init__(
        self,
        jobs: Sequence[Job],
        runner,
        options: Options,
        folder: Path,
        *,
        remove_noise: float = 0.0,
        max_pixels: int = images.MAX_IMAGE_PIXELS,
        quiet: bool = False,
        epoch_hook: Callable[[], None] | None = None,
    ):
        self.jobs, self.runner, self.options = list(jobs), runner, options
        self.manifest = batch.Manifest(folder)
        self.remove_noise, self.max_pixels, self.quiet = remove_noise, max_pixels, quiet
        self.epoch_hook = epoch_hook or (lambda: None)
        self.summary = Summary()
        self.chains: dict[int, list[Chain]] = {}  # job: its unfinished shots
        self.seconds: dict[int, float] = {}  # job: painting seconds so far
        self.failed: set[int] = set()
        self.progress: Progress | None = None
        self.frame_counts: dict[int, int] = {}

    # ---- planning
    def _plan_video(self, index: int, job: Job) -> tuple[int, int]:
        """Split a video into shots and find where each resumes: (frames, frames done)."""
        counted = [0]

        def histograms():
            for frame in video.read_frames(job.item.path):
                self.epoch_hook()  # a signal acts between frames
                counted[0] += 1
                yield frame_histogram(frame)

        cuts = scene_cuts(histograms())
        count = counted[0]
        job.info = dataclasses.replace(job.info, frames=count) if job.info else None
        chains, done = [], 0
        for shot in shots(count, cuts):
            parts = [(batch.part_key(job.key, i), job.frame_path(i)) for i in shot]
            finished = self.manifest.first_unfinished(parts)
            done += finished
            chain = Chain(index, shot, shot.start + finished)
            if 0 < finished < len(shot):
                chain.previous_styled = images.read_image(job.frame_path(chain.next - 1))
            if chain.remaining:
                chains.append(chain)
        self.chains[index] = chains
        self.frame_counts[index] = count
        if cuts:
            self._say("%s: %d frames, %d shots (cuts before frames %s)", job.item.path, count,
                      len(cuts) + 1, ", ".join(str(c + 1) for c in cuts))  # fmt: skip
        if done:
            self._say("%s: %d of %d frames already painted, resuming", job.item.path, done, count)
        return count, done

    def _say(self, message: str, *args) -> None:
        if self.progress is not None:
            self.progress.say(message, *args)
        elif not self.quiet:
            log.info(message, *args)

    def run(self) -> Summary:
        began = time.perf_counter()
        pictures: deque[int] = deque()
        total = done = 0
        for index, job in enumerate(self.jobs):
            self.epoch_hook()
            if self.manifest.is_done(job.key, job.output):
                self.summary.skipped += 1
                total += job.info.frames if job.info else 1
                done += job.info.frames if job.info else 1
                continue
            clash = job.clash(self.manifest)
            if clash is not None:
                self._fail(index, NStyleError(clash))
                continue
            if job.item.kind == batch.VIDEO:
                try:
                    count, finished = self._plan_video(index, job)
                except NStyleError as exc:
                    self._fail(index, exc)
                    continue
                total, done = total + count, done + finished
                if not self.chains[index]:  # every frame painted: only the file is missing
                    self._write_video(index)
            else:
                pictures.append(index)
                total += 1
        if self.summary.skipped:
            self._say(
                "%d of %d already done and unchanged (the manifest %s)",
                self.summary.skipped,
                len(self.jobs),
                self.manifest.path,
            )
        items_done = self.summary.skipped + self.summary.painted
        self.progress = Progress(total, done, len(self.jobs), items_done, self.quiet)
        try:
            if pictures or any(self.chains.values()):
                self._say("painting %s", self.runner.start())
                self._drive(pictures)
        finally:
            self.progress.close()
            self.runner.close()
        self.summary.seconds = time.perf_counter() - began
        return self.summary

    def _drive(self, pictures: deque[int]) -> None:
        chains: deque[Chain] = deque(
            sorted(
                (c for cs in self.chains.values() for c in cs),
                key=lambda c: -c.remaining,
            )
        )
        while chains or pictures or self.runner.busy:
            while (chains or pictures) and self.runner.busy < self.runner.slots:
                self.epoch_hook()
                if chains:
                    task = self._next_frame(chains.popleft())
                else:
                    task = self._picture_task(pictures.popleft())
                if task is not None:
                    self.runner.submit(task)
            if not self.runner.busy:
                continue
            task, outcome = self.runner.next_done()
            self.epoch_hook()
            if task.frame is None:
                self._picture_done(task, outcome)
            else:
                chain = self._frame_done(task, outcome)
                if chain is not None:
                    chains.appendleft(chain)

    # ---- pictures
    def _picture_task(self, index: int) -> Task | None:
        job = self.jobs[index]
        try:
            content = images.read_image(job.item.path, self.max_pixels)
        except NStyleError as exc:
            self._fail(index, exc)
            return None
        return Task(index, None, frame_size(content, self.options))

    def _picture_done(self, task: Task, outcome) -> None:
        job = self.jobs[task.job]
        if isinstance(outcome, Failure):
            self._fail(task.job, outcome.error)
            return
        try:
            images.write_image(job.output, images.denoise(outcome.image, self.remove_noise))
            self.manifest.record(job.key, job.output)
        except NStyleError as exc:
            self._fail(task.job, exc)
            return
        self.summary.painted += 1
        assert self.progress is not None
        self.progress.advance()
        self.progress.finished(job.output, outcome.seconds)

    def _fail(self, index: int, error: NStyleError) -> None:
        """The item failed: its line (naming the input first), and no more of its work."""
        job = self.jobs[index]
        self.failed.add(index)
        self.chains.pop(index, None)
        if error.subject != job.item.path:
            error = error.restated(f"{job.item.path}: {error}")
        self.summary.failed.append(error)
        line = error_line("nstyle", str(error))
        if self.progress is not None and self.progress.bar is not None:
            self.progress.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    # ---- video frames
    def _next_frame(self, chain: Chain) -> Task | None:
        """The chain's next frame task, reading the frames as it goes."""
        if chain.job in self.failed:
            return None
        job = self.jobs[chain.job]
        try:
            if chain.reader is None:
                begin = chain.next - (1 if chain.previous_styled is not None else 0)
                frames = video.read_frames(job.item.path)
                chain.reader = itertools.islice(frames, begin, chain.frames.stop)
                if chain.previous_styled is not None:
                    chain.previous = frame_size(next(chain.reader), self.options)
            frame = frame_size(next(chain.reader), self.options)
        except (NStyleError, StopIteration) as exc:
            why = exc if isinstance(exc, NStyleError) else NStyleError("fewer frames than counted")
            self._fail(chain.job, why)
            return None
        previous = chain.previous if chain.previous_styled is not None else None
        task = Task(chain.job, chain.next, frame, previous, chain.previous_styled)
        chain.previous = frame
        return task

    def _frame_done(self, task: Task, outcome) -> Chain | None:
        """Write and record a frame; the chain, when it has frames left."""
        index = task.job
        assert task.frame is not None
        if index in self.failed:
            return None
        if isinstance(outcome, Failure):
            self._fail(index, outcome.error.restated(f"frame {task.frame + 1}: {outcome.message}"))
            return None
        job = self.jobs[index]
        assert self.progress is not None
        path = job.frame_path(task.frame)
        try:
            if not job.frames_folder_is_ours():
                job.frames_folder.mkdir(parents=True, exist_ok=True)
                (job.frames_folder / FRAMES_MARKER).write_bytes(b"")
            images.write_image(path, outcome.image)
            self.manifest.record(batch.part_key(job.key, task.frame), path)
        except OSError as exc:
            self._fail(index, NStyleError(f"cannot write {path} ({exc.strerror or exc})"))
            return None
        except NStyleError as exc:
            self._fail(index, exc)
            return None
        self.seconds[index] = self.seconds.get(index, 0.0) + outcome.seconds
        self.progress.advance()
        if self.progress.bar is None:
            self.progress.say(
                "painted frame %d/%d of %s (%.1f s)",
                task.frame + 1,
                self.frame_counts[index],
                job.item.path,
                outcome.seconds,
            )
        chain = next(c for c in self.chains[index] if task.frame in c.frames)
        chain.next, chain.previous_styled = task.frame + 1, outcome.image
        if chain.remaining:
            return chain
        self.chains[index].remove(chain)
        if not self.chains[index]:
            self._write_video(index)
        return None

    def _write_video(self, index: int) -> None:
        """All frames painted: the video, recorded; the frames folder removed."""
        job = self.jobs[index]
        count = self.frame_counts[index]
        assert job.info is not None

        def frames():
            for i in range(count):
                picture = images.read_image(job.frame_path(i))
                yield images.denoise(picture, self.remove_noise)

        try:
            video.write_video(job.output, frames(), job.info.rate, audio_from=job.item.path)
            self.manifest.record(job.key, job.output)
        except NStyleError as exc:
            self._fail(index, exc)
            return
        self.manifest.forget(job.key)
        remove_frames(job.frames_folder)
        self.summary.painted += 1
        note = f", {count} frames at {float(job.info.rate):g} fps"
        if self.progress is not None:
            self.progress.finished(job.output, self.seconds.get(index, 0.0), note)
        else:
            self._say("wrote %s (%.1f s%s)", job.output, self.seconds.get(index, 0.0), note)
