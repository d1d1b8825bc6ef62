"""Hostile and careless use of the newer features (issue 21): folders, globs, outputs and
manifests; videos; Ray flags. As in ``tests/test_hostile.py``: real runs of ``run.py`` with
the tiny weights at 32 px in a folder of their own, every file fingerprinted before and
after, each failure one ``nstyle: error:`` line, no traceback, no file of the user's
written, replaced or removed, no wait without a bound. Every run is under an
address-space cap, and the servers a Ray case talks to are its own, on 127.0.0.1."""

from __future__ import annotations

import http.server
import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from nstyle.media import images, video
from tests.conftest import make_rgb
from tests.test_hostile import (
    BASE,
    Running,
    check_unchanged,
    environment,
    error_line,
    fingerprint,
    make_folder,
    run_cli,
)
from tests.test_many import pan

# BASE without its one photo and one output: each case names its inputs and --output.
MANY = [a for a in BASE if a not in ("--content-image", "content.png", "--output", "out/out.png")]
MEMORY_CAP = 6 << 30  # bytes of address space for each run: a regression fails, not the host


# python -c CAPPED run.py ...: run.py as python would run it (its folder first on the path),
# under an address-space cap (inherited by what it starts)
CAPPED = (
    "import os, resource, runpy, sys; "
    f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP},) * 2); "
    "sys.argv = sys.argv[1:]; sys.path[0] = os.path.dirname(sys.argv[0]); "
    "runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run(folder: Path, argv, tmp_path: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``run.py`` with ``MANY`` and ``argv`` in ``folder``, under the memory cap."""
    env = environment(tmp_path / "tmp")
    return run_cli(folder, [*MANY, *argv], env=env, timeout=timeout, python_flags=("-c", CAPPED))


def start(folder: Path, argv, tmp_path: Path, env: dict | None = None) -> Running:
    """``run.py`` in the background (``Running``), under the memory cap."""
    env = env or environment(tmp_path / "tmp")
    return Running(folder, [*MANY, *argv], env=env, python_flags=("-c", CAPPED))


def errors(done: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in done.stderr, done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("nstyle: error: ")]


@pytest.fixture
def case(tmp_path, tiny_weights_file) -> Path:
    """A case folder with photos/a.png and photos/b.png beside the test_hostile set."""
    folder = make_folder(tmp_path / "case", tiny_weights_file)
    (folder / "photos").mkdir()
    images.write_image(folder / "photos" / "a.png", make_rgb())
    images.write_image(folder / "photos" / "b.png", np.ascontiguousarray(make_rgb()[:, ::-1]))
    return folder


def clip(path: Path, count: int = 3) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return video.write_video(path, pan(count, 24, 32), 12)


# ------------------------------------------------------------------ folders
@pytest.mark.parametrize("kind", ["picture", "symlink", "folder", "edited"])
def test_a_file_of_the_users_at_an_output_name_is_kept(case, tmp_path, kind):
    """A file nstyle did not write (or wrote and the user changed since) is never replaced:
    its input is refused in one line naming it, the others are painted."""
    out = case / "out"
    if kind == "edited":
        first = run(case, ["--content-image", "photos", "--output", "out/"], tmp_path)
        assert first.returncode == 0, first.stderr
        images.write_image(out / "a.jpg", make_rgb())  # the user retouches it
    else:
        out.mkdir()
        if kind == "picture":
            images.write_image(out / "a.jpg", make_rgb())
        elif kind == "symlink":
            images.write_image(case / "mine.png", make_rgb())
            (out / "a.jpg").symlink_to(case / "mine.png")
        else:
            (out / "a.jpg").mkdir()
            (out / "a.jpg" / "notes.txt").write_text("mine\n")
        (out / "b.jpg").unlink(missing_ok=True)
    before = fingerprint(case)
    for _ in range(2 if kind == "picture" else 1):  # and again: the rerun keeps it too
        done = run(case, ["--content-image", "photos", "--output", "out/"], tmp_path)
        assert done.returncode == 2, done.stderr
        lines = errors(done)
        assert len(lines) == 2, done.stderr
        assert "out/a.jpg exists and nstyle did not write it" in lines[0], lines
        assert lines[1].startswith("nstyle: error: 1 of 2 inputs failed"), lines
        check_unchanged(before, fingerprint(case), may_add=["out/*"], may_change=["out/b.jpg"])
    assert (out / "b.jpg").is_file()


def test_a_new_output_folder_full_of_the_users_pictures_keeps_every_one(case, tmp_path):
    """``--output ~/Pictures/``: every name an input maps to is the user's."""
    pictures = case / "Pictures"
    pictures.mkdir()
    for name in ("a.jpg", "b.jpg"):
        images.write_image(pictures / name, make_rgb())
    before = fingerprint(case)
    done = run(case, ["--content-image", "photos", "--output", "Pictures/"], tmp_path)
    assert done.returncode == 2 and len(errors(done)) == 3, done.stderr
    assert "painting" not in done.stderr  # the network is not even loaded
    check_unchanged(before, fingerprint(case), may_add=["Pictures/.nstyle-manifest.json"])


@pytest.mark.parametrize("how", ["same folder", "pattern", "output inside the inputs"])
def test_reruns_never_take_the_outputs_as_inputs(case, tmp_path, how):
    args = {
        "same folder": ["--content-image", "photos", "--output", "photos"],
        "pattern": ["--content-image", "photos/*", "--output", "photos/"],
        "output inside the inputs": ["--content-image", "photos/**", "--output", "photos/out"],
    }[how]
    first = run(case, args, tmp_path)
    assert first.returncode == 0 and first.stderr.count("wrote ") == 2, first.stderr
    after_first = fingerprint(case)
    again = run(case, args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "wrote " not in again.stderr and "2 already done" in again.stderr, again.stderr
    assert "left out 2 file(s) that are nstyle's own outputs" in again.stderr
    check_unchanged(after_first, fingerprint(case))
    assert not list(case.rglob("*-2.jpg"))


def test_only_own_outputs_as_inputs_is_one_line(case, tmp_path):
    assert run(case, ["--content-image", "photos", "--output", "out/"], tmp_path).returncode == 0
    before = fingerprint(case)
    done = run(case, ["--content-image", "out/a.jpg", "out/b.jpg", "--output", "out/"], tmp_path)
    assert done.returncode == 2 and "every input is one of nstyle's own outputs" in error_line(
        done, only_line=False
    )
    check_unchanged(before, fingerprint(case))


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_manifest_that_is_not_a_file_is_refused_before_any_work(case, tmp_path, kind):
    out = case / "out"
    out.mkdir()
    if kind == "folder":
        (out / ".nstyle-manifest.json").mkdir()
    else:
        os.mkfifo(out / ".nstyle-manifest.json")  # reading it would wait for ever
    before = fingerprint(case)
    began = time.monotonic()
    done = run(case, ["--content-image", "photos", "--output", "out/"], tmp_path, timeout=60)
    assert done.returncode == 2 and time.monotonic() - began < 30
    assert "is a folder, not nstyle's manifest" in error_line(done) or kind == "fifo"
    assert "not nstyle's manifest" in error_line(done)
    check_unchanged(before, fingerprint(case))
    assert not (out / "a.jpg").exists()


@pytest.mark.parametrize(
    "text, why",
    [("[" * 200_000 + "]" * 200_000, "nested too deep")],  # more forms: tests/test_batch.py
)
def test_a_broken_manifest_counts_as_empty_and_keeps_what_it_no_longer_vouches_for(
    case, tmp_path, text, why
):
    out = case / "out"
    assert run(case, ["--content-image", "photos", "--output", "out/"], tmp_path).returncode == 0
    (out / ".nstyle-manifest.json").write_text(text)
    (out / "b.jpg").unlink()
    before = fingerprint(case)
    done = run(case, ["--content-image", "photos", "--output", "out/"], tmp_path)
    assert done.returncode == 2, done.stderr
    warning = [line for line in done.stderr.splitlines() if line.startswith("nstyle: warning")]
    assert len(warning) == 1 and f"is broken ({why})" in warning[0], done.stderr
    assert "out/a.jpg exists and nstyle did not write it" in errors(done)[0]
    check_unchanged(
        before,
        fingerprint(case),
        may_add=["out/b.jpg"],
        may_change=["out/.nstyle-manifest.json"],
    )


def test_a_pattern_through_two_symlink_loops_ends(case, tmp_path):
    deep = case / "tree" / "a" / "b"
    deep.mkdir(parents=True)
    (case / "tree" / "a" / "up").symlink_to("..")
    (deep / "up2").symlink_to("../..")
    images.write_image(deep / "x.png", make_rgb())
    began = time.monotonic()
    done = run(case, ["--content-image", "tree/**/*.png", "--output", "out/"], tmp_path, 60)
    assert done.returncode == 0 and done.stderr.count("wrote ") == 1, done.stderr
    missing = run(case, ["--content-image", "tree/**/*.jpg", "--output", "o2/"], tmp_path, 60)
    assert "no file matches the pattern" in error_line(missing)
    assert time.monotonic() - began < 60


def test_a_pipe_matched_by_a_pattern_is_skipped_not_opened(case, tmp_path):
    os.mkfifo(case / "photos" / "pipe.png")  # opening it to read would wait for ever
    done = run(case, ["--content-image", "photos/*", "--output", "out/"], tmp_path, timeout=60)
    assert done.returncode == 0 and done.stderr.count("wrote ") == 2, done.stderr
    assert "neither an image nor a video: photos/pipe.png" in done.stderr


def test_a_name_with_a_newline_cannot_split_or_forge_a_line(case, tmp_path):
    forged = "x\nnstyle: error: forged.png"
    plain = io.BytesIO()  # a PNG without a profile: 200 bytes reach past its header
    Image.fromarray(make_rgb()).save(plain, "PNG")
    (case / "photos" / forged).write_bytes(plain.getvalue()[:200])
    (case / "photos" / "notes\nnstyle: warning: forged.txt").write_text("not a picture\n")
    output = "out\nnstyle: error: forged/"
    done = run(case, ["--content-image", "photos", "--output", output], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert all("\\nnstyle: " in line for line in lines if "forged" in line), lines
    assert not [line for line in lines if line.startswith("nstyle: error: forged")]
    assert not [line for line in lines if line.startswith("nstyle: warning: forged")]
    assert any("x\\nnstyle: error: forged.png" in line for line in errors(done)), lines


def test_a_flag_no_picture_can_meet_is_one_line_before_any_picture(case, tmp_path):
    before = fingerprint(case)
    argv = ["--content-image", "photos", "--max-memory", "0.01", "--output", "o/"]
    done = run(case, argv, tmp_path)
    line = error_line(done, only_line=False)
    assert done.returncode == 2 and "--max-memory 0.01 is too small for any picture" in line
    assert len(errors(done)) == 1 and "photos/" not in done.stderr, done.stderr
    check_unchanged(before, fingerprint(case), may_add=["o/.nstyle-manifest.json"])


# ------------------------------------------------------------------ videos
def test_a_frames_folder_of_the_users_is_kept(case, tmp_path):
    clip(case / "photos" / "clip.mp4")
    frames = case / "out" / ".clip.mp4.frames"
    frames.mkdir(parents=True)
    (frames / "000001.png").write_bytes((case / "style.png").read_bytes())
    (frames / "diary.txt").write_text("mine\n")
    before = fingerprint(case)
    done = run(case, ["--content-image", "photos", "--output", "out/"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "out/.clip.mp4.frames exists and nstyle did not make it" in errors(done)[0]
    check_unchanged(before, fingerprint(case), may_add=["out/*"])
    assert (case / "out" / "a.jpg").is_file() and not (case / "out" / "clip.mp4").exists()


def test_a_finished_video_removes_only_its_own_frames(case, tmp_path):
    source = clip(case / "clip.mp4")
    done = run(case, ["--content-image", str(source), "--output", "out/"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert video.probe(case / "out" / "clip.mp4").frames == 3
    assert not (case / "out" / ".clip.mp4.frames").exists()
    # an interrupted run's frames folder, where the user has since put a file of theirs
    frames = case / "o2" / ".clip.mp4.frames"
    frames.mkdir(parents=True)
    (frames / ".nstyle-frames").write_bytes(b"")
    (frames / "notes.txt").write_text("mine\n")
    done = run(case, ["--content-image", str(source), "--output", "o2/"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"kept {frames.relative_to(case)}: it holds files nstyle did not write" in done.stderr
    assert sorted(p.name for p in frames.iterdir()) == ["notes.txt"]


def test_planning_a_long_video_keeps_one_histogram_at_a_time(tmp_path):
    """The shots of a video are found frame by frame: its length costs no memory."""
    import tracemalloc

    from nstyle.config import Options
    from nstyle.many.driver import Batch
    from nstyle.many.inputs import VIDEO, Item
    from nstyle.many.tasks import Job

    frames = 1500  # 5.6 MB of histograms if they were all kept
    path = video.write_video(
        tmp_path / "long.mp4", (f for _ in range(frames // 6) for f in pan(6, 16, 16)), 25
    )
    job = Job(Item(path, VIDEO), tmp_path / "out" / "long.mp4", key="k")
    job.info = video.probe(path)
    driver = Batch([job], None, Options(), tmp_path / "out", quiet=True)
    tracemalloc.start()
    try:
        assert driver.videos.plan(0, job) == (frames, 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"{peak} bytes"


def test_a_users_file_named_as_the_one_video_output_is_kept(case, tmp_path):
    clip(case / "clip.mp4")
    (case / "styled.mp4").write_bytes(b"the user's own video")
    before = fingerprint(case)
    done = run(case, ["--content-image", "clip.mp4", "--output", "styled.mp4"], tmp_path)
    assert done.returncode == 2, done.stderr
    assert "styled.mp4 exists and nstyle did not write it" in errors(done)[0]
    check_unchanged(before, fingerprint(case), may_add=[".nstyle-manifest.json"])


def test_an_unreadable_video_among_photos_is_skipped_with_a_warning(case, tmp_path):
    (case / "photos" / "broken.mp4").write_bytes(b"\0" * 1000)
    before = fingerprint(case)
    done = run(case, ["--content-image", "photos", "--output", "out/"], tmp_path)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("nstyle: warning")]
    assert len(warnings) == 1 and "skipped photos/broken.mp4: not a readable video" in warnings[0]
    assert done.stderr.count("wrote ") == 2
    check_unchanged(before, fingerprint(case), may_add=["out/*"])
    named = run(case, ["--content-image", "photos/broken.mp4", "photos/a.png"], tmp_path)
    assert "broken.mp4: not a readable video" in error_line(named)


def test_pictures_and_frames_too_big_for_any_plan_are_refused_before_enlarged(case, tmp_path):
    """The driver enlarges nothing: a 30000-px output of small photos and frames is refused
    by each item's memory plan in a line, within the cap (enlarged first, a frame alone is
    1.9 GB and its float64 resize 15 GB)."""
    clip(case / "photos" / "clip.mp4")
    argv = ["--content-image", "photos", "--output", "out/", "--max-long-edge", "30000"]
    began = time.monotonic()
    done = run(case, argv, tmp_path)
    assert done.returncode == 2 and time.monotonic() - began < 60, done.stderr
    lines = errors(done)
    assert len(lines) == 4, done.stderr  # a.png, b.png, clip.mp4 and the summary
    assert all("GiB on cpu(0)" in line and "would fit" in line for line in lines[:3]), lines


# ------------------------------------------------------------------ Ray
def test_more_workers_than_cores_is_one_line_before_any_work(case, tmp_path):
    before = fingerprint(case)
    began = time.monotonic()
    done = run(case, ["--content-image", "photos", "--workers", "1000", "--output", "o/"], tmp_path)
    cores = len(os.sched_getaffinity(0))
    assert f"--workers 1000: this machine has {cores} core(s)" in error_line(done)
    assert done.returncode == 2 and time.monotonic() - began < 30
    check_unchanged(before, fingerprint(case))


class Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def settings_then_silence(listener: socket.socket, stop: threading.Event) -> None:
    """An HTTP/2 server as gRPC's begin (a SETTINGS frame), which then says nothing more."""
    listener.settimeout(0.2)
    connections = []
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        connections.append(connection)
        connection.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    for connection in connections:
        connection.close()


@pytest.fixture(params=["http", "silent", "http2"])
def not_a_head(request):
    """An address on 127.0.0.1 where something listens that is not a Ray head: an HTTP
    server, a socket that accepts and never answers, an HTTP/2 server that is no Ray."""
    if request.param == "http2":
        stop = threading.Event()
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            server = threading.Thread(target=settings_then_silence, args=(listener, stop))
            server.start()
            yield f"127.0.0.1:{listener.getsockname()[1]}"
            stop.set()
            server.join(10)
    elif request.param == "http":
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"127.0.0.1:{server.server_address[1]}"
        server.shutdown()
        server.server_close()
    else:
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(8)
            yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_a_ray_address_that_is_not_a_head_is_one_line_in_bounded_time(case, tmp_path, not_a_head):
    before = fingerprint(case)
    began = time.monotonic()
    done = run(case, ["--content-image", "photos", "--ray-address", not_a_head], tmp_path, 60)
    assert time.monotonic() - began < 30
    assert f"--ray-address {not_a_head}: something listens there but it is not a Ray head" in (
        error_line(done)
    )
    check_unchanged(before, fingerprint(case))


def test_a_signal_while_waiting_for_a_silent_ray_address_ends_the_run(case, tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        running = start(case, ["--content-image", "photos", "--ray-address", address], tmp_path)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the run has connected: it waits now
                listener.settimeout(0.5)
                try:
                    connection, _ = listener.accept()
                    break
                except TimeoutError:
                    assert running.process.poll() is None, running.text()
            else:
                pytest.fail("the run never connected:\n" + running.text())
            running.process.send_signal(signal.SIGINT)
            began = time.monotonic()
            assert running.finish(timeout=10) == 130, running.text()
            assert time.monotonic() - began < 5 and "Traceback" not in running.text()
            connection.close()
        finally:
            running.kill()


def test_a_signal_while_a_local_ray_cluster_starts_ends_it_whole(case, tmp_path):
    """SIGINT a few seconds into ``--workers 1``: exit 130 within seconds, and none of the
    Ray processes the run started is left."""
    short = Path(tempfile.mkdtemp(prefix="nsr", dir="/tmp"))  # Ray's socket paths: < 108 bytes
    argv = ["--content-image", "photos", "--workers", "1", "--output", "o/"]
    running = start(case, argv, tmp_path, env={**environment(short), "RAY_TMPDIR": str(short)})
    try:
        parent = psutil.Process(running.process.pid)
        started: list[psutil.Process] = []
        deadline = time.monotonic() + 60
        while not started and time.monotonic() < deadline:  # Ray's first processes
            started = parent.children(recursive=True)
            time.sleep(0.2)
        assert started, "Ray did not start:\n" + running.text()
        time.sleep(2)
        started = parent.children(recursive=True)
        running.process.send_signal(signal.SIGINT)
        began = time.monotonic()
        assert running.finish(timeout=30) == 130, running.text()
        assert time.monotonic() - began < 20, running.text()
        assert "Traceback" not in running.text()
        _, alive = psutil.wait_procs(started, timeout=20)
        alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"Ray processes left: {[p.cmdline()[:1] for p in alive]}"
    finally:
        running.kill()
        shutil.rmtree(short, ignore_errors=True)
