"""Many pictures in one command (issue 14): folders, globs and files, resuming, videos frame
by frame, and Ray: a real cluster started here on 127.0.0.1, and one of --workers.

The runs paint with the real VGG-16 at 64 px, one scale, 3 epochs: seconds each."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import psutil
import pytest

from nstyle import cli
from nstyle.config import Options
from nstyle.errors import NStyleError
from nstyle.many import cluster, inputs, manifest
from nstyle.media import images, scenes, video
from tests.conftest import make_rgb
from tests.test_video import SAMPLE_RATE, write_tone

ROOT = Path(__file__).resolve().parents[1]
STYLE = ROOT / "input" / "style.jpg"
TINY = ["--model", "vgg16", "--gpu", "-1", "--max-long-edge", "64", "--num-scales", "1"]
TINY += ["--max-num-epochs", "3", "--style-image", str(STYLE)]


def photo(path: Path, turn: int = 0) -> Path:
    """A small real picture, different for each ``turn``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return images.write_image(path, np.ascontiguousarray(np.rot90(make_rgb(), 2 * turn)))


def pan(count: int = 6, h: int = 36, w: int = 48, cut: int | None = None) -> list[np.ndarray]:
    """A smooth scene panning right, 2 px a frame; from ``cut`` on, another scene."""
    y, x = np.mgrid[0:h, 0:w]
    frames = []
    for i in range(count):
        u = x + 2 * i
        scene = np.stack([128 + 100 * np.sin(u / 7), 80 + y * 3, 200 - u], axis=-1)
        if cut is not None and i >= cut:  # green and dark: other colours altogether
            scene = np.stack([20 + 0 * u, 150 + 80 * np.sin(u / 5), 30 + y], axis=-1)
        frames.append(np.clip(scene, 0, 255).astype(np.uint8))
    return frames


def run_cli(argv, capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def run_workers(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``argv`` (a --workers run) with Ray's logs and sockets in a short temporary
    folder of its own, removed after."""
    temp = tempfile.mkdtemp(prefix="nsray", dir="/tmp")  # Ray's logs and sockets: short
    try:
        env = dict(os.environ, RAY_TMPDIR=temp)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    finally:
        subprocess.run(["rm", "-rf", temp], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------ without painting
def test_scene_cuts_split_a_clip_where_the_scene_changes_not_where_it_moves():
    frames = pan(8, cut=5)
    histograms = [scenes.frame_histogram(f) for f in frames]
    assert scenes.scene_cuts(histograms) == [5]
    assert scenes.shots(8, [5]) == [range(0, 5), range(5, 8)]
    assert scenes.scene_cuts([scenes.frame_histogram(f) for f in pan(8)]) == []
    assert scenes.shots(3, []) == [range(0, 3)]


def test_settings_keep_what_shapes_the_picture():
    base = manifest.settings(Options(), ["s"], 0.0, inputs.IMAGE)
    key = manifest.settings_hash
    assert key(base) == key(manifest.settings(Options(max_memory=3.0), ["s"], 0.0, inputs.IMAGE))
    assert key(base) == key(manifest.settings(Options(temporal_weight=1), ["s"], 0.0, inputs.IMAGE))
    clip = manifest.settings(Options(), ["s"], 0.0, inputs.VIDEO)
    assert key(clip) != key(manifest.settings(Options(temporal_weight=1), ["s"], 0.0, inputs.VIDEO))
    for changed in (
        manifest.settings(Options(style_weight=2), ["s"], 0.0, inputs.IMAGE),
        manifest.settings(Options(), ["t"], 0.0, inputs.IMAGE),
        manifest.settings(Options(), ["s"], 0.1, inputs.IMAGE),
    ):
        assert key(changed) != key(base)


def test_an_unreachable_ray_address_is_one_line_within_seconds(tmp_path, capsys):
    photo(tmp_path / "a.jpg")
    began = time.monotonic()
    port = free_port()  # closed again: nothing listens there
    argv = ["--content-image", str(tmp_path / "a.jpg"), "--ray-address", f"127.0.0.1:{port}"]
    code, err = run_cli(argv + ["--output", str(tmp_path / "out")], capsys)
    assert code == 2 and time.monotonic() - began < 10
    assert err.count("\n") == 1 and err.startswith(f"nstyle: error: --ray-address 127.0.0.1:{port}")
    assert "no Ray cluster answers there" in err
    # a host that does not answer at all: the short timeout, not Ray's minutes
    began = time.monotonic()
    with pytest.raises(NStyleError, match="no Ray cluster answers"):
        cluster.check_reachable("192.0.2.254:6379", seconds=1.0)  # TEST-NET-1: never routed
    assert time.monotonic() - began < 5
    with pytest.raises(NStyleError, match="expected HOST:PORT"):
        cluster.parse_address("cluster-without-port")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "0"], "--workers must be >= 1, got 0"),
        (["--workers", "2", "--ray-address", "127.0.0.1:1"], "not both"),
        (["--content-image", "{d}/empty"], "is a folder that holds no image or video"),
        (["--content-image", "{d}/broken.mp4"], "broken.mp4: not a readable video"),
        (["--content-image", "{d}/silent.mkv"], "silent.mkv: the video has no frames"),
        (
            ["--content-image", "{d}/a.jpg", "--workers", "1", "--output", "{d}/a.jpg"],
            "is the input",
        ),
        (["--output", "{d}/x.jpg"], "with 2 inputs, --output is a folder"),
        (["--log", "{d}/l.csv"], "--log writes one picture's losses"),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(tmp_path, capsys, argv, message):
    photo(tmp_path / "a.jpg")
    photo(tmp_path / "b.jpg", 1)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no picture\n")
    (tmp_path / "broken.mp4").write_bytes(b"\0" * 1000)
    import av

    with av.open(str(tmp_path / "silent.mkv"), "w") as out:  # a video track with no frame
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        write_tone(out, out.add_stream("aac", rate=SAMPLE_RATE), SAMPLE_RATE // 2)
    argv = [a.replace("{d}", str(tmp_path)) for a in argv]
    if "--content-image" not in argv:
        argv += ["--content-image", str(tmp_path / "a.jpg"), str(tmp_path / "b.jpg")]
    if "--output" not in argv:
        argv += ["--output", str(tmp_path / "out")]
    before = mtimes(tmp_path)
    code, err = run_cli(TINY + argv, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert err.startswith("nstyle: error: ")
    assert mtimes(tmp_path) == before  # no output folder, no input touched


# ------------------------------------------------------------ in this process
def test_folder_glob_and_files_then_resume_and_changed_settings(tmp_path, capsys):
    photos = tmp_path / "photos"
    for i, name in enumerate(["a.jpg", "b.png", "c.jpg"]):
        photo(photos / name, i)
    (photos / "notes.txt").write_text("not a picture\n")
    (photos / "empty.jpg").write_bytes(b"")  # named like one, but no image either
    out = tmp_path / "out"

    code, err = run_cli(["--content-image", str(photos), "--output", str(out)] + TINY, capsys)
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == [
        "nstyle: warning: skipped 2 entries that are neither an image nor a video: "
        f"{photos / 'empty.jpg'}, {photos / 'notes.txt'}"
    ]
    assert sorted(p.name for p in out.iterdir()) == [manifest.MANIFEST, "a.jpg", "b.jpg", "c.jpg"]
    assert re.search(r"^wrote .*a\.jpg \(1/3, [0-9.]+ s\)$", err, re.M)
    assert "wrote" in err and "epoch" not in err and "memory plan" not in err
    assert images.read_image(out / "b.jpg").shape == (46, 64, 3)  # 40x56 -> long edge 64
    first = mtimes(out)

    code, err = run_cli(["--content-image", str(photos), "--output", str(out)] + TINY, capsys)
    assert code == 0, err
    assert "3 of 3 already done and unchanged" in err and "wrote" not in err
    assert mtimes(out) == first  # nothing painted, nothing written

    # a glob and a file, with a changed setting: everything is painted again
    changed = ["--content-image", str(photos / "*.jpg"), str(photos / "b.png")]
    code, err = run_cli(changed + ["--output", str(out), "--style-weight", "2"] + TINY, capsys)
    assert code == 0, err
    assert len(re.findall(r"^wrote ", err, re.M)) == 3 and "already done and" not in err
    assert all(out.joinpath(n).stat().st_mtime_ns > first[n] for n in ("a.jpg", "b.jpg", "c.jpg"))

    # --quiet: nothing but errors (the warning about the folder's other files is one)
    code, err = run_cli(
        ["--content-image", str(photos / "?.jpg"), "--output", str(out), "--quiet"] + TINY,
        capsys,
    )
    assert code == 0 and err == ""


def test_a_video_is_styled_frame_by_frame_and_resumes_at_its_first_unfinished_frame(tmp_path):
    clip = video.write_video(tmp_path / "clip.mp4", pan(6), Fraction(12))
    styled = tmp_path / "out" / "styled.mp4"
    argv = [sys.executable, str(ROOT / "run.py"), "--content-image", str(clip)]
    argv += ["--output", str(styled)] + TINY
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None
    said = []
    for line in run.stderr:  # a real Ctrl-C once two frames are written
        said.append(line)
        if line.startswith("painted frame 2/6"):
            run.send_signal(signal.SIGINT)
            break
    said.append(run.stderr.read())
    assert run.wait(timeout=120) == 130, "".join(said)
    assert "interrupted; what is finished is kept" in said[-1] and "Traceback" not in said[-1]
    frames = tmp_path / "out" / ".styled.mp4.frames"
    kept = sorted(p.name for p in frames.iterdir() if not p.name.startswith("."))
    assert kept[:2] == ["000001.png", "000002.png"] and not styled.exists()
    finished = len(kept)  # 2, or 3 when the third ended before the signal was seen

    again = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"{finished} of 6 frames already painted, resuming" in again.stderr
    painted = re.findall(r"^painted frame (\d)/6", again.stderr, re.M)
    assert painted == [str(i) for i in range(finished + 1, 7)]
    info = video.probe(styled)
    assert (info.frames, info.rate, info.width, info.height) == (6, 12, 64, 48)
    assert not frames.exists()  # the frames are in the video now
    assert sorted(p.name for p in styled.parent.iterdir()) == [manifest.MANIFEST, "styled.mp4"]
    frames_out = list(video.read_frames(styled))
    assert len(frames_out) == 6
    # styled, not the input: the painting changed the frames
    resized = [images.resize_long_edge(f, 64) for f in pan(6)]
    assert np.abs(frames_out[3].astype(int) - resized[3]).mean() > 10

    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "1 of 1 already done" in done.stderr
    assert "painted frame" not in done.stderr


# ------------------------------------------------------------ Ray
def cluster_processes(session: int) -> list[psutil.Process]:
    """The processes of a cluster started in its own session, and their children."""
    found = {}
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                found[process.pid] = process
                for child in process.children(recursive=True):
                    found[child.pid] = child
        except (ProcessLookupError, psutil.Error):
            continue
    return list(found.values())


@pytest.fixture
def ray_cluster():
    """A real Ray head on 127.0.0.1 with 2 CPUs (`ray start --head`), stopped by its own
    process ids (never `ray stop`, which would stop every cluster of the machine)."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="nsray", dir="/tmp")  # short: Ray's sockets live there
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")
    # Token checks on, with a token of the test's own (in the clients' environment too).
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
    command = [Path(sys.executable).parent / "ray", "start", "--head"]
    command += ["--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    command += ["--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"]
    command += ["--object-store-memory=500000000"]  # mapped by each worker: within the cap
    start = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = start.communicate(timeout=120)
    try:
        assert start.returncode == 0, output.decode()[-2000:]
        yield f"127.0.0.1:{port}", start.pid, env
    finally:
        processes = cluster_processes(start.pid)
        for process in processes:
            try:
                process.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(processes, timeout=5)
        for process in alive:
            process.kill()
        psutil.wait_procs(alive, timeout=5)
        subprocess.run(["rm", "-rf", temp], check=False)


def test_a_real_ray_cluster_through_ray_address(tmp_path, ray_cluster):
    address, session, env = ray_cluster
    head = cluster_processes(session)
    assert head, "the cluster's processes"
    for process in head:  # every server of the head listens on the loopback only
        for conn in process.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                assert conn.laddr.ip in ("127.0.0.1", "::ffff:127.0.0.1"), conn
    assert cluster.loopback_only(address)  # so the run must not let Ray swap in the outward IP
    names = ["a.jpg", "b.jpg", "c.jpg"]
    for turn, name in enumerate(names):
        photo(tmp_path / "photos" / name, turn)
    out = tmp_path / "out"
    argv = [sys.executable, str(ROOT / "run.py"), "--content-image", str(tmp_path / "photos")]
    argv += ["--output", str(out), "--ray-address", address] + TINY
    run = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    assert run.stderr is not None
    said, killed = [], []
    for line in run.stderr:  # after the first picture, the worker's process dies
        said.append(line)
        if line.startswith("wrote ") and not killed:
            for process in cluster_processes(session):
                if "ray::RayActor" in " ".join(process.cmdline()):
                    process.kill()
                    killed.append(process.pid)
    assert run.wait(timeout=300) == 0, "".join(said)
    said_all = "".join(said)
    assert killed, said_all
    assert f"on the Ray cluster at {address}: 1 worker(s) on 1 machine(s)" in said_all
    assert "error" not in said_all and len(re.findall(r"^wrote ", said_all, re.M)) == 3
    assert sorted(p.name for p in out.iterdir()) == [manifest.MANIFEST, *names]
    # the same pictures as in this process
    local = tmp_path / "local"
    argv_local = [a if a != str(out) else str(local) for a in argv]
    cut = argv_local.index("--ray-address")
    del argv_local[cut : cut + 2]
    here = subprocess.run(argv_local, capture_output=True, text=True, timeout=300)
    assert here.returncode == 0, here.stderr
    for name in names:  # to float rounding (threads sum in other orders)
        there, here_ = images.read_image(out / name), images.read_image(local / name)
        assert np.abs(there.astype(int) - here_).mean() < 2
    assert any(p.is_running() for p in cluster_processes(session))  # still up: ours to stop


@pytest.mark.platform
def test_workers_start_a_local_cluster_for_the_run(tmp_path):
    photo(tmp_path / "a.jpg")
    clip = video.write_video(tmp_path / "clip.mp4", pan(4, cut=2), Fraction(10))
    out = tmp_path / "out"
    argv = [sys.executable, str(ROOT / "run.py"), "--content-image", str(tmp_path / "a.jpg")]
    argv += [str(clip), "--output", str(out), "--workers", "2"] + TINY
    before = {p.pid for p in psutil.process_iter()}
    done = run_workers(argv)
    assert done.returncode == 0, done.stderr
    assert "on a local Ray cluster: 2 worker(s) on 1 machine(s), MXNet threads 1, 1" in (
        done.stderr
    )
    assert "clip.mp4: 4 frames, 2 shots (cuts before frames 3)" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == [manifest.MANIFEST, "a.jpg", "clip.mp4"]
    info = video.probe(out / "clip.mp4")
    assert (info.frames, info.rate) == (4, 10)
    time.sleep(2)  # the cluster stops with the run: no process of it is left
    left = []
    for process in psutil.process_iter(["cmdline"]):
        if process.pid not in before and "ray" in " ".join(process.info["cmdline"] or []):
            left.append(process.info["cmdline"])
    assert not left
