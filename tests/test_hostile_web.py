"""The web app against hostile or careless clients: every refusal is JSON with the right
status, no traceback reaches the server's log, no file is left behind, nothing holds the
only worker, and a signal stops the server in one line.

The cases run against a real server (``python -m nstyle.web --model vgg16``) on a free
loopback port, under an address-space cap, with its own TMPDIR; it is stopped by its pid.
Requests go through ``http.client`` or a raw socket (for slow uploads and disconnects),
each with a timeout.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from nstyle.web.app import create_app
from tests.test_hostile import BASE, RUN, environment, error_line, make_folder
from tests.test_web import asgi_post

ROOT = Path(__file__).resolve().parents[1]
CONTENT = (ROOT / "input" / "content.jpg").read_bytes()
STYLE = (ROOT / "input" / "style.jpg").read_bytes()
CAP = 6 * 2**30  # the server's address space: a regression fails instead of eating the machine
TINY = {"max_long_edge": "32", "max_num_epochs": "3", "optimizer": "sgd"}
ENDLESS = {**TINY, "stop_eps": "0", "max_num_epochs": str(10**6)}  # runs until cancelled
NO_JOB = "no such job (the id is unknown, or the job was forgotten)"


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


class Served:
    """``python -m nstyle.web`` on a free loopback port with ``temp`` as its TMPDIR; its
    standard error read line by line by a thread."""

    def __init__(self, temp: Path, *argv: str):
        self.temp = temp
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nstyle.web", "--port", "0", "--gpu", "-1"]
            + ["--model", "vgg16", *argv],
            cwd=ROOT,
            env={**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=capped,
        )
        threading.Thread(target=self._read, daemon=True).start()
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(self.process.stdout.readline()))
        reader.start()
        reader.join(60)
        line = first[0] if first else ""
        if not line.startswith("nstyle.web: serving on http://127.0.0.1:"):
            self.kill()
            pytest.fail(f"the server did not start: {line!r}\n{self.log()}")
        self.port = int(line.split()[3].rsplit(":", 1)[1])
        deadline = time.monotonic() + 60
        while True:  # listening once it answers
            try:
                if request(self, "GET", "/api/options")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, self.log()
            time.sleep(0.1)

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return "\n".join(self.lines)

    def workdir(self) -> Path:
        (folder,) = self.temp.glob("nstyle-web-*")
        return folder

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30) -> int:
        self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"the server ignored signal {sig}:\n{self.log()}")
        time.sleep(0.2)  # the reader thread's last lines
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)


def request(served: Served, method: str, path: str, body: bytes = b"", headers=None):
    """(status, headers, the answer: JSON when it says so, else text)."""
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=60)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        answer = connection.getresponse()
        data = answer.read()
        kind = answer.getheader("content-type", "")
        value = json.loads(data) if kind.startswith("application/json") else data.decode()
        return answer.status, dict(answer.getheaders()), value
    finally:
        connection.close()


BOUNDARY = "hostile-boundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(parts) -> bytes:
    """``parts``: (name, text) for a field, (name, (filename, bytes)) for a file."""
    out = io.BytesIO()
    for name, value in parts:
        out.write(f"--{BOUNDARY}\r\n".encode())
        if isinstance(value, tuple):
            filename, data = value
            out.write(
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            out.write(data)
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
            out.write(value.encode() if isinstance(value, str) else value)
        out.write(b"\r\n")
    out.write(f"--{BOUNDARY}--\r\n".encode())
    return out.getvalue()


def job_parts(fields=(), content=CONTENT, styles=(STYLE,)):
    return [
        ("content", ("content.jpg", content)),
        *[("style", (f"style{i}.jpg", s)) for i, s in enumerate(styles)],
        *(fields.items() if isinstance(fields, dict) else fields),
    ]


def post(served: Served, fields=(), **kwargs):
    body = multipart(job_parts(fields, **kwargs))
    return request(served, "POST", "/api/jobs", body, {"content-type": FORM})


def refused(answer, status: int) -> str:
    """The error of a JSON refusal with ``status``."""
    code, headers, value = answer
    assert code == status, (code, value)
    assert headers["content-type"] == "application/json", headers
    assert isinstance(value, dict) and set(value) == {"error"}, value
    assert "\n" not in value["error"]
    return value["error"]


def wait(served: Served, job_id: str, until=("done", "failed", "cancelled"), timeout=120.0):
    deadline = time.monotonic() + timeout
    while True:
        status = request(served, "GET", f"/api/jobs/{job_id}")[2]
        if status["state"] in until:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def check_clean(served: Served, since: int = 0) -> None:
    """No traceback in the log since line ``since``; no upload left in the working folder;
    the only worker free: a tiny job is painted."""
    log = "\n".join(served.lines[since:])
    assert "Traceback" not in log and "Exception" not in log, log
    assert list(served.workdir().iterdir()) == []
    code, _, answer = post(served, TINY)
    assert code == 201, answer
    assert wait(served, answer["id"], timeout=60)["state"] == "done"


@pytest.fixture(scope="module")
def served(vgg16, tmp_path_factory):
    temp = tmp_path_factory.mktemp("served-temp")
    server = Served(temp, "--queue", "1")
    yield server
    assert server.stop() == 130
    assert "Traceback" not in server.log(), server.log()
    assert list(temp.iterdir()) == []


@pytest.fixture
def fresh(vgg16, tmp_path):
    """A server of this test's own (for signals and a removed temporary folder)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    server = Served(temp)
    yield server
    server.kill()


# ------------------------------------------------------------------ what the CLI refuses
def cli_line(tmp_path, tiny_weights_file, *argv) -> str:
    """The command line's one-line message for ``argv`` (after the hostile suite's BASE:
    a long edge of 32 px), without its prefix."""
    folder = make_folder(tmp_path / "cli", tiny_weights_file)
    done = subprocess.run(
        [sys.executable, str(RUN), *BASE, *argv],
        cwd=folder,
        env=environment(tmp_path / "tmp"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=capped,
    )
    assert done.returncode == 2, done.stderr
    return error_line(done).removeprefix("nstyle: error: ")


@pytest.mark.parametrize(
    "name, value, edge",
    [
        ("max_long_edge", str(10**30), "32"),
        ("style_scale", "1e6", "512"),  # at 32 px the memory plan refuses it (below)
        ("max_memory", "1e300", "32"),
    ],
)
def test_what_the_cli_refuses_is_refused_before_201(
    served, tmp_path, tiny_weights_file, name, value, edge
):
    """What the command line refuses before it reads a file is refused before the job is
    queued, with the same line, at once; nothing holds the worker."""
    since = len(served.lines)
    argv = ["--max-long-edge", edge, "--" + name.replace("_", "-"), value]
    expected = cli_line(tmp_path, tiny_weights_file, *argv)
    started = time.monotonic()
    fields = {**TINY, "max_long_edge": edge, name: value}
    assert refused(post(served, fields), 400) == expected
    assert time.monotonic() - started < 10
    check_clean(served, since)


@pytest.mark.parametrize(
    "fields, same",
    [  # the style image: any cap refuses it; the photo: the cap asked for refuses it
        ({"style_scale": "1e6"}, "the style image at --style-scale 1e+06 is 32000000x22857143 "),
        ({"max_memory": "1", "max_long_edge": "3000"}, "--max-memory 1 is too small for a "),
    ],
)
def test_what_the_memory_plan_refuses_is_refused_at_upload(
    served, tmp_path, tiny_weights_file, fields, same
):
    """What the command line refuses only once it has planned the run's memory (a style
    image of 32000000 px at --style-scale 1e6 from 32 px; a 3000-px picture under a 1 GiB
    cap) is refused at upload with the command line's line, in a 413, with no job queued
    (the cap a line names without --max-memory is the memory free at that moment)."""
    since = len(served.lines)
    folder = make_folder(tmp_path / "cli", tiny_weights_file)
    argv = [a for a in BASE if a not in ("--weights", "tiny.params")] + ["--model", "vgg16"]
    for name, value in fields.items():
        argv += ["--" + name.replace("_", "-"), value]
    done = subprocess.run(
        [sys.executable, str(RUN), *argv], cwd=folder, env=environment(tmp_path / "tmp"),
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300,
        preexec_fn=capped,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    expected = error_line(done).removeprefix("nstyle: error: ")
    style = (folder / "style.png").read_bytes()  # the same pictures, their shapes named
    content = (folder / "content.png").read_bytes()
    started = time.monotonic()
    line = refused(post(served, {**TINY, **fields}, content=content, styles=(style,)), 413)
    assert time.monotonic() - started < 10
    assert expected.startswith(same) and line.startswith(same), line
    if "max_memory" in fields:
        assert line == expected
    else:  # the GiB it needs: VGG-16's; the cap (and the scale named): what is free now
        needs = expected.split(" but the cap is ")[0]
        assert line.startswith(needs + " but the cap is ") and line.endswith(" would fit")
    check_clean(served, since)


# ------------------------------------------------------------------ hosts and types
@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.evil.example", "localhost.", "127.0.0.1:80@evil", "[::2]"]
)
def test_a_foreign_host_gets_json(served, host):
    message = refused(request(served, "GET", "/api/options", headers={"host": host}), 400)
    assert message.startswith("this server answers requests for")


@pytest.mark.parametrize("host", ["LocalHost", "[::1]:8000", "127.0.0.1:1"])
def test_loopback_names_are_answered(served, host):
    assert request(served, "GET", "/api/options", headers={"host": host})[0] == 200


def test_no_host_at_all_gets_json(served):
    """HTTP/1.0 needs no Host header: such a request is refused as a foreign one."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(b"GET /api/options HTTP/1.0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), answer
    assert json.loads(body)["error"].startswith("this server answers requests for")


@pytest.mark.parametrize(
    "kind",
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/mixed; boundary=x",
        "",
    ],
)
def test_other_content_types_are_415(served, kind):
    headers = {"content-type": kind} if kind else {}
    assert refused(request(served, "POST", "/api/jobs", b'{"content": 1}', headers), 415)


@pytest.mark.parametrize(
    "kind, body",
    [
        ("multipart/form-data", multipart(job_parts())),  # no boundary
        ("multipart/form-data; boundary=other", multipart(job_parts())),  # not this one
        (FORM, b"--hostile-boundary\r\nnot a header\r\n\r\nxx\r\n--hostile-boundary--\r\n"),
        (FORM, b"\xff\xfe" * 1000),
        (FORM, b""),
    ],
)
def test_a_broken_multipart_body_is_400(served, kind, body):
    since = len(served.lines)
    assert refused(request(served, "POST", "/api/jobs", body, {"content-type": kind}), 400)
    assert "Traceback" not in "\n".join(served.lines[since:])


def test_uppercase_multipart_is_taken(served):
    body = multipart(job_parts(TINY))
    headers = {"content-type": f"Multipart/Form-Data; boundary={BOUNDARY}"}
    code, _, answer = request(served, "POST", "/api/jobs", body, headers)
    assert code == 201, answer
    assert wait(served, answer["id"], timeout=60)["state"] == "done"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "GET"])
def test_other_methods_are_405(served, method):
    assert refused(request(served, method, "/api/jobs"), 405)


# ------------------------------------------------------------------ odd option values
ODD = [
    ("max_long_edge", "[32, 48]"),
    ("max_long_edge", '{"a": 1}'),
    ("max_long_edge", "32.0"),
    ("max_long_edge", "-32"),
    ("max_long_edge", "true"),
    ("max_long_edge", "9" * 5000),  # beyond Python's digits limit for int()
    ("max_long_edge", "1e3"),
    ("max_long_edge", "0x20"),
    ("style_weight", "inf"),
    ("style_weight", "-inf"),
    ("style_weight", "1e400"),
    ("content_weight", "NaN"),
    ("style_scale", "-1"),
    ("style_scale", "0"),
    ("style_scale", "1e-300"),
    ("max_memory", "0"),
    ("max_memory", "-1"),
    ("max_memory", "nan"),
    ("seed", str(2**64)),
    ("seed", "-1"),
    ("num_scales", "0"),
    ("num_scales", "1000"),
    ("max_num_epochs", "0"),
    ("preserve_colors", "2"),
    ("preserve_colors", "[]"),
    ("optimizer", "LBFGS"),
    ("optimizer", "lbfgs\x00"),
    ("model", "../vgg16"),
    ("init", "../../etc/passwd"),
    ("init", "/dev/zero"),
    ("init", "input/content.jpg"),
    ("weights", "vgg16"),
    ("style_layers", "relu1_1/../relu2_1"),
    ("style_layers", "relu1_1 " * 2000 + "relu9_9"),
    ("content_layers", "['relu4_2']"),
    ("style_blend_weights", "1 2 3"),
    ("style_layer_weights", "-1 1 1 1 1"),
    ("lr", "1e309"),
    ("momentum", "1"),
    ("remove_noise", "nan"),
    ("x" * 1000, "1"),
    ("", "1"),
    ("max long edge", "32"),
    ("max_long_edge\r\nX-Evil: 1", "32"),
]


@pytest.mark.parametrize("name, value", ODD)
def test_an_odd_value_is_400_and_runs_nothing(served, name, value):
    since = len(served.lines)
    message = refused(post(served, {**TINY, name: value}), 400)
    assert len(message) < 500  # a huge value is not echoed whole
    log = "\n".join(served.lines[since:])
    assert "Traceback" not in log, log
    assert request(served, "GET", "/api/options")[0] == 200


@pytest.mark.parametrize(
    "fields",
    [
        [("max_long_edge", "32"), ("max_long_edge", "48")],
        [("max_long_edge", "32"), ("MAX_LONG_EDGE", "48")],
    ],
)
def test_repeated_and_misspelt_fields_are_400(served, fields):
    assert refused(post(served, fields), 400)


def test_repeated_files_are_400(served):
    two = [("content", ("b.jpg", CONTENT))]
    assert refused(post(served, two), 400) == "give one photo as the file field 'content'"
    many = [("style", (f"s{i}.jpg", STYLE)) for i in range(20)]
    assert refused(post(served, many), 400)
    as_file = [("max_long_edge", ("x.txt", b"32"))]
    assert refused(post(served, as_file), 400) == "'max_long_edge' is not a file field"


def test_a_path_in_a_file_name_writes_nothing_there(served, tmp_path):
    target = tmp_path / "planted.jpg"
    name = f"../../../../..{target}"
    parts = [("content", (name, CONTENT)), ("style", ("/etc/passwd", STYLE)), *TINY.items()]
    body = multipart(parts)
    code, _, answer = request(served, "POST", "/api/jobs", body, {"content-type": FORM})
    assert code == 201, answer
    status = wait(served, answer["id"], timeout=60)
    assert status["state"] == "done" and status["names"]["content"] == name
    assert not target.exists()


# ------------------------------------------------------------------ job ids and cancelling
@pytest.mark.parametrize(
    "job_id",
    ["x", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "%00", "%FF%FE", "%E2%80%AE", "a" * 4000, "%20"],
)
@pytest.mark.parametrize("suffix", ["", "/image", "/events"])
def test_odd_job_ids_are_404(served, job_id, suffix):
    message = refused(request(served, "GET", f"/api/jobs/{job_id}{suffix}"), 404)
    assert message in (NO_JOB, "Not Found")  # the latter: a slash in it, no such route


def test_every_cancel_answers_as_the_readme_says(served):
    """202 while queued or running; 409 once it has ended (done, failed or cancelled)."""
    running = post(served, ENDLESS)[2]["id"]
    wait(served, running, until=("running",))
    waiting = post(served, TINY)[2]["id"]
    first = request(served, "DELETE", f"/api/jobs/{waiting}")
    assert first[0] == 202 and first[2]["state"] == "cancelled"
    again = refused(request(served, "DELETE", f"/api/jobs/{waiting}"), 409)
    assert again == "the job has already been cancelled"
    assert request(served, "DELETE", f"/api/jobs/{running}")[0] == 202
    wait(served, running, timeout=30)
    again = refused(request(served, "DELETE", f"/api/jobs/{running}"), 409)
    assert again == "the job has already been cancelled"
    done = post(served, TINY)[2]["id"]
    wait(served, done, timeout=60)
    again = refused(request(served, "DELETE", f"/api/jobs/{done}"), 409)
    assert again == "the job has already finished"


# ------------------------------------------------------------------ many at once
def test_many_requests_at_once_get_json_answers(served):
    since = len(served.lines)
    body = multipart(job_parts(TINY))

    def one(i: int):
        if i % 3 == 0:
            return request(served, "POST", "/api/jobs", body, {"content-type": FORM})
        if i % 3 == 1:
            return post(served, {**TINY, "max_long_edge": "-1"})
        return request(served, "GET", "/api/options")

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(48), timeout=120))
    for i, (code, headers, value) in enumerate(answers):
        expected = {0: (201, 429), 1: (400,), 2: (200,)}[i % 3]
        assert code in expected, (i, code, value)
        assert headers["content-type"] == "application/json"
    for code, _, value in answers[::3]:
        if code == 201:
            wait(served, value["id"], timeout=120)
    check_clean(served, since)


# ------------------------------------------------------------------ clients that go away
def raw_upload(port: int, length: int, head: bytes = b"") -> socket.socket:
    """A socket that has sent the start of a ``length``-byte upload."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(
        f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {length}\r\n\r\n".encode()
        + (head or f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
           'filename="big.jpg"\r\n\r\n'.encode())
    )  # fmt: skip
    return sock


def test_a_client_that_leaves_mid_upload(served):
    since = len(served.lines)
    for sent in (0, 10_000, 1_000_000):
        sock = raw_upload(served.port, 10_000_000)
        sock.sendall(b"\0" * sent)
        time.sleep(0.3)
        sock.close()
    time.sleep(0.5)
    check_clean(served, since)


def test_a_client_that_leaves_mid_event_stream(served):
    since = len(served.lines)
    job_id = post(served, ENDLESS)[2]["id"]
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
        sock.sendall(f"GET /api/jobs/{job_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert b"text/event-stream" in sock.recv(65536)
        sock.close()
    assert request(served, "DELETE", f"/api/jobs/{job_id}")[0] == 202
    assert wait(served, job_id, timeout=30)["state"] == "cancelled"
    check_clean(served, since)


# ------------------------------------------------------------------ the temporary folder
def test_a_removed_working_folder_is_made_again(fresh):
    shutil.rmtree(fresh.workdir())
    code, _, answer = post(fresh, TINY)
    assert code == 201, answer
    assert wait(fresh, answer["id"], timeout=60)["state"] == "done"
    check_clean(fresh)
    assert fresh.stop() == 130
    assert list(fresh.temp.iterdir()) == []
    assert "Traceback" not in fresh.log(), fresh.log()


def test_a_removed_temporary_folder_is_refused_then_recovered(fresh):
    shutil.rmtree(fresh.temp)
    message = refused(post(fresh, TINY), 503)
    assert message.startswith("the server cannot write its temporary file")
    fresh.temp.mkdir()
    code, _, answer = post(fresh, TINY)
    assert code == 201, answer
    check_clean(fresh)
    assert fresh.stop() == 130
    assert list(fresh.temp.iterdir()) == []
    assert "Traceback" not in fresh.log(), fresh.log()


# ------------------------------------------------------------------ signals
def stopped_cleanly(server: Served, code: int, expected: int) -> None:
    assert code == expected, server.log()
    assert server.lines == ["nstyle.web: interrupted"], server.log()
    assert list(server.temp.iterdir()) == []


@pytest.mark.parametrize("sig, expected", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_slow_upload(fresh, sig, expected):
    sock = raw_upload(fresh.port, 10_000_000)
    for _ in range(10):
        sock.sendall(b"\0" * 10_000)
        time.sleep(0.05)
    started = time.monotonic()
    code = fresh.stop(sig)
    assert time.monotonic() - started < 10
    sock.close()
    stopped_cleanly(fresh, code, expected)


def big_png() -> bytes:
    """About 40 MB that take a moment to decode: a 3600x3600 picture of noise."""
    noise = np.random.default_rng(0).integers(0, 256, (3600, 3600, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG", compress_level=0)
    return out.getvalue()


def test_ctrl_c_while_an_upload_is_written(fresh):
    body = multipart(job_parts(TINY, content=big_png()))
    sender = threading.Thread(
        target=lambda: request(fresh, "POST", "/api/jobs", body, {"content-type": FORM}),
        daemon=True,
    )
    workdir = fresh.workdir()
    sender.start()
    deadline = time.monotonic() + 60
    while not any(workdir.glob("upload-*")):  # the upload is on disk, being read
        assert time.monotonic() < deadline, "the upload was never written"
        time.sleep(0.002)
    stopped_cleanly(fresh, fresh.stop(signal.SIGINT), 130)


def test_ctrl_c_during_an_event_stream_and_a_job(fresh):
    job_id = post(fresh, ENDLESS)[2]["id"]
    wait(fresh, job_id, until=("running",))
    sock = socket.create_connection(("127.0.0.1", fresh.port), timeout=30)
    sock.sendall(f"GET /api/jobs/{job_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    assert b"text/event-stream" in sock.recv(65536)
    started = time.monotonic()
    code = fresh.stop(signal.SIGINT)
    assert time.monotonic() - started < 10
    sock.close()
    stopped_cleanly(fresh, code, 130)


def test_json_numbers_are_not_special(served):
    """A value spelt as JSON would spell it (an exponent, a sign) is read as the CLI reads
    its flag: the same number, or the same refusal."""
    code, _, answer = post(served, {**TINY, "style_weight": "1E0", "tv_weight": "+1e-2"})
    assert code == 201, answer
    assert wait(served, answer["id"], timeout=60)["state"] == "done"


# ------------------------------------------------------------------ in this process
def test_a_stalled_upload_is_408(tmp_path):
    """A client that starts an upload and then sends nothing holds no connection forever."""
    app = create_app(workdir=tmp_path, stalled=1.0)
    pulled = 0

    async def receive():
        nonlocal pulled
        pulled += 1
        if pulled == 1:
            return {"type": "http.request", "body": b"--" + BOUNDARY.encode(), "more_body": True}
        await asyncio.sleep(3600)  # nothing more, ever

    started = time.monotonic()
    sent = asgi_post(app, receive, FORM.encode())
    assert time.monotonic() - started < 10
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"error": "the upload stalled: nothing came for 1 s"}
    assert list(tmp_path.iterdir()) == []


def test_a_bug_is_json_500_and_one_log_line(tmp_path, caplog):
    """What the app does not expect (here: the worker's registry broken under it) is a JSON
    500 and one line in the log, not a traceback; the next request is served."""
    app = create_app(workdir=tmp_path)
    server = app.state.server
    server.worker.get = None  # type: ignore[assignment]  # calling it raises TypeError
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answer = client.get("/api/jobs/x")
        assert answer.status_code == 500
        assert answer.json() == {"error": "internal error (the server's log says more)"}
        assert client.get("/api/options").status_code == 200
    (line,) = [r.getMessage() for r in caplog.records if r.name == "nstyle.web"]
    assert line.startswith("nstyle.web: error: GET /api/jobs/x failed: TypeError(")
    assert "\n" not in line and not any(r.exc_info for r in caplog.records)


def test_a_second_ctrl_c_stops_at_once(fresh):
    job_id = post(fresh, ENDLESS)[2]["id"]
    wait(fresh, job_id, until=("running",))
    sock = raw_upload(fresh.port, 10_000_000)
    started = time.monotonic()
    fresh.process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    code = fresh.stop(signal.SIGINT)
    assert time.monotonic() - started < 10
    sock.close()
    stopped_cleanly(fresh, code, 130)


def test_too_many_fields_are_400(served):
    fields = [(f"f{i}", "1") for i in range(200)]
    assert refused(post(served, fields), 400)


@pytest.mark.parametrize("attempt", range(6))  # the race showed in some runs, not all
def test_ctrl_c_while_a_job_paints_removes_the_working_folder_every_time(vgg16, tmp_path, attempt):
    """SIGINT to ``python -m nstyle.web`` while a job paints (small weights: epochs come
    fast) left ``nstyle-web-*`` behind in some runs (issue 31): a second Ctrl-C landing in
    the folder's removal cut it short. The server must end by itself, its folder removed,
    every time: one Ctrl-C, or two at moments that move through the stop."""
    temp = tmp_path / "temp"
    temp.mkdir()
    served = Served(temp)
    try:
        job_id = post(served, {**ENDLESS, "style_weight": "1e-3", "content_weight": "1e-3"})[2][
            "id"
        ]
        wait(served, job_id, until=("running",))
        time.sleep(0.05 * attempt)  # at different moments of an epoch
        if attempt % 2:  # a second Ctrl-C, after a moment that grows with the attempt
            served.process.send_signal(signal.SIGINT)
            time.sleep(0.02 * attempt)
        code = served.stop(signal.SIGINT)
    finally:
        served.kill()  # by its own pid, only if it did not end
    assert code == 130, served.log()
    assert not list(temp.glob("nstyle-web-*")), (list(temp.iterdir()), served.log())


def test_a_signal_while_the_folder_is_removed_is_held_until_it_is_gone(tmp_path, monkeypatch):
    """A second Ctrl-C landing in ``Server.close``'s removal (waiting there for an upload's
    decoding to leave the folder) cut it short: the folder stayed. Now the signal is held
    until the folder is gone, then raised."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR read again
    app = create_app()
    server = app.state.server
    folder = server.workdir
    assert folder.parent == tmp_path and folder.is_dir()
    decoding = threading.Event()

    def decode() -> None:  # an upload's decoding holds the folder for a moment
        with server.folder:
            decoding.set()
            time.sleep(1.0)

    threading.Thread(target=decode, daemon=True).start()
    decoding.wait(10)
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        server.close()
    assert not folder.exists() and list(tmp_path.iterdir()) == []
