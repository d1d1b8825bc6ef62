"""The web app's API through Starlette's test client: real jobs on tiny pictures (with the
real VGG-16 where the network is what a test reads, else small random weights), cancelling,
the queue, and every refusal (with the command line's message where the command line has
one)."""

from __future__ import annotations

import asyncio
import io
import json
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from nstyle import cli, config
from nstyle.web import jobs, options
from nstyle.web.app import create_app
from nstyle.web.guard import MAX_UPLOAD
from nstyle.weights import read_weights
from tests import photos
from tests.conftest import cpu_build_only
from tests.test_files_photo import phone_photo
from tests.test_hostile import bomb_png

ROOT = Path(__file__).resolve().parents[1]
CONTENT = (ROOT / "input" / "content.jpg").read_bytes()
STYLE = (ROOT / "input" / "style.jpg").read_bytes()
MOSAIC = (ROOT / "input" / "mosaic.jpg").read_bytes()
TINY = {"model": "vgg16", "max_long_edge": 48, "max_num_epochs": 3}
# sgd with no stop rule: runs until cancelled
ENDLESS = {**TINY, "optimizer": "sgd", "stop_eps": 0, "max_num_epochs": 10**6}


@pytest.fixture(scope="module")
def real_app(vgg16):  # vgg16: the real weights are in the cache before any job asks
    return create_app(max_waiting=1, preview_seconds=0)  # on the CPU


@pytest.fixture(scope="module")
def tiny_app(tiny_weights_file):
    """The app with conftest's small random VGG-16 for every job: for the tests of the app,
    not of the network."""
    tiny = read_weights(tiny_weights_file)
    return create_app(
        max_waiting=1, preview_seconds=0, load_weights=lambda options, fallback=None: tiny
    )


def served(app):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client
    assert not app.state.server.workdir.exists()  # the server's folder goes with it


@pytest.fixture(scope="module")
def real_client(real_app):
    yield from served(real_app)


@pytest.fixture(scope="module")
def client(tiny_app):
    yield from served(tiny_app)


def post(client, content=CONTENT, styles=(STYLE,), names=None, masks=(), **fields):
    names = names or ["content.jpg"] + [f"style{i}.jpg" for i in range(len(styles))]
    files = [("content", (names[0], content, "image/jpeg"))] + [
        ("style", (name, style, "image/jpeg")) for name, style in zip(names[1:], styles)
    ]
    files += [("mask", (f"mask{i}.png", mask, "image/png")) for i, mask in enumerate(masks)]
    data = {name: str(value) for name, value in fields.items()}
    return client.post("/api/jobs", files=files, data=data)


def wait(client, job_id, until=jobs.FINAL, timeout=120.0, epoch=0):
    """The job's status once its state is in ``until`` (and its epoch >= ``epoch``)."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in until and status["epoch"] >= epoch:
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def refused(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


# ------------------------------------------------------------------ jobs
@pytest.mark.platform
def test_a_tiny_job_runs_and_its_picture_forms_live(real_client, real_app):
    client, app = real_client, real_app
    # 60 epochs without the stop rule: several seconds, whatever the style loss's speed
    # (the previews come every half second; 10 Gram epochs at 48 px can end within one)
    run = {**TINY, "max_num_epochs": 60, "stop_eps": 0}
    response = post(client, styles=(STYLE, MOSAIC), **run)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    assert response.headers["location"] == f"/api/jobs/{job_id}"
    events = client.get(f"/api/jobs/{job_id}/events")  # ends when the job does
    assert events.headers["content-type"].startswith("text/event-stream")
    pushed = [json.loads(line[6:]) for line in events.text.splitlines() if line[:6] == "data: "]
    epochs = [s["epoch"] for s in pushed]
    assert epochs == sorted(epochs) and pushed[-1]["state"] == "done"
    live = {s["picture"] for s in pushed if s["state"] == "running" and s["picture"]}
    assert len(live) >= 2  # the picture was renewed while the job ran

    status = client.get(f"/api/jobs/{job_id}").json()
    assert status["state"] == "done" and status["epoch"] == 60 and status["error"] is None
    assert set(status["losses"]) == {f"style_relu{i}_1" for i in range(1, 6)} | {"content_relu4_2"}
    assert "VGG-16" in status["network"] and status["size"] == [48, 48]
    assert status["names"] == {"content": "content.jpg", "styles": ["style0.jpg", "style1.jpg"]}

    image = client.get(f"/api/jobs/{job_id}/image")
    assert image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size == (48, 48)
    download = client.get(f"/api/jobs/{job_id}/image?download=1")
    assert download.headers["content-disposition"] == 'attachment; filename="nstyle-content.jpg"'
    assert download.content == image.content
    assert refused(client.delete(f"/api/jobs/{job_id}"), 409) == "the job has already finished"
    assert list(app.state.server.workdir.iterdir()) == []  # the uploads are gone


@pytest.mark.platform
def test_a_phone_heic_in_display_p3_runs_end_to_end_and_downloads_as_16_bits(real_client, tmp_path):
    client, photo = real_client, tmp_path / "IMG_0001.HEIC"
    data = phone_photo(photo).read_bytes()
    response = post(client, content=data, names=["IMG_0001.HEIC", "style.jpg"], **TINY)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    status = wait(client, job_id)
    assert status["state"] == "done" and status["size"] == [36, 48]  # stood up
    url = f"/api/jobs/{job_id}/image?download=1"
    for kind, suffix in (("jpeg", "jpg"), ("png", "png"), ("tiff", "tif")):
        got = client.get(f"{url}&format={kind}")
        assert got.headers["content-disposition"].endswith(f'nstyle-IMG_0001.{suffix}"')
        with Image.open(io.BytesIO(got.content)) as picture:
            assert picture.size == (36, 48) and picture.info["icc_profile"]
            exif = picture.getexif()
        assert exif[0x0110] == "iPhone 15 Pro" and not exif.get_ifd(0x8825)
        if kind != "jpeg":  # 16 bits, read by another decoder
            pixels = cv2.imdecode(np.frombuffer(got.content, np.uint8), cv2.IMREAD_UNCHANGED)
            assert pixels.dtype == np.uint16 and len(np.unique(pixels)) > 256
    assert client.get(url).content == client.get(f"/api/jobs/{job_id}/image").content
    kept = post(client, content=data, output_profile="photo", keep_location="on", **TINY).json()
    assert wait(client, kept["id"])["state"] == "done"
    tiff = client.get(f"/api/jobs/{kept['id']}/image?format=tiff").content
    with Image.open(io.BytesIO(tiff)) as picture:
        assert picture.info["icc_profile"] == photos.icc_profile("Display P3")
        assert picture.getexif().get_ifd(0x8825)[1] == "N"


def test_a_download_format_is_one_of_three_and_16_bits_wait_for_the_end(client):
    job_id = post(client, **ENDLESS).json()["id"]
    wait(client, job_id, until=("running",), epoch=1)
    deadline = time.monotonic() + 60  # a preview every half second: wait for the first
    while not client.get(f"/api/jobs/{job_id}").json()["picture"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url = f"/api/jobs/{job_id}/image"
    assert "format: 'gif' is not one of jpeg, png, tiff" in refused(
        client.get(f"{url}?format=gif"), 400
    )
    assert "the job is running" in refused(client.get(f"{url}?format=png"), 409)
    client.delete(f"/api/jobs/{job_id}")
    wait(client, job_id)


def test_finished_pictures_are_kept_at_16_bits_within_a_budget(client, tiny_app, monkeypatch):
    worker = tiny_app.state.server.worker
    done = []
    for _ in range(2):
        job_id = post(client, **TINY).json()["id"]
        assert wait(client, job_id)["state"] == "done"
        done.append(job_id)
        final = worker.get(job_id).final
        assert final.dtype == np.uint16  # 6 bytes a pixel, not a float's 12
        monkeypatch.setattr(worker, "keep_finals", final.nbytes)  # room for one picture
    first, second = (f"/api/jobs/{job_id}/image" for job_id in done)
    assert "no longer kept" in refused(client.get(f"{first}?format=png"), 410)
    assert client.get(first).headers["content-type"] == "image/jpeg"  # its JPEG stays
    png = client.get(f"{second}?format=png")
    pixels = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert pixels.dtype == np.uint16 and pixels.shape[2] == 3


def test_a_picture_that_cannot_be_encoded_fails_its_job_not_the_worker(client, monkeypatch):
    def broken(self, picture, fmt):
        raise ValueError("an EXIF tag Pillow cannot write")

    monkeypatch.setattr(jobs.Job, "encode", broken)
    job_id = post(client, **TINY).json()["id"]
    status = wait(client, job_id, timeout=30)
    assert status["state"] == "failed" and "internal error" in status["error"]
    monkeypatch.undo()
    after = post(client, **TINY).json()["id"]  # the worker still runs jobs
    assert wait(client, after, timeout=30)["state"] == "done"


def test_cancel_and_a_full_queue(client, tiny_app):
    running = post(client, **ENDLESS).json()["id"]
    wait(client, running, until=("running",), epoch=1)
    waiting = post(client, styles=(STYLE, MOSAIC), **{**TINY, "style_scale": 0.5})
    assert waiting.status_code == 201 and waiting.json()["position"] == 2
    waiting = waiting.json()["id"]
    held = tiny_app.state.server.worker.get(waiting)  # a waiting job holds what it needs, no more
    assert held.content.shape == (48, 48, 3)
    assert [s.shape for s in held.styles] == [(18, 24, 3), (18, 24, 3)]
    full = post(client, **TINY)
    assert refused(full, 429).startswith("the queue is full")
    assert full.headers["retry-after"]
    assert refused(client.get(f"/api/jobs/{waiting}/image"), 404) == (
        "no picture yet: the job is queued"
    )

    cancelled = client.delete(f"/api/jobs/{waiting}")  # a waiting job: at once
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    assert client.delete(f"/api/jobs/{running}").status_code == 202
    status = wait(client, running, timeout=30)  # a running job: at the end of its epoch
    assert status["state"] == "cancelled" and status["epoch"] >= 1 and status["error"] is None
    assert client.get(f"/api/jobs/{running}/image").status_code == 200  # the picture so far
    assert client.get(f"/api/jobs/{waiting}").json()["state"] == "cancelled"


def test_cancel_lbfgs(client):
    """L-BFGS runs inside scipy: the callback's exception comes through it too."""
    job_id = post(client, **{**ENDLESS, "optimizer": "lbfgs"}).json()["id"]
    wait(client, job_id, until=("running",), epoch=2)
    assert client.delete(f"/api/jobs/{job_id}").status_code == 202
    assert wait(client, job_id, timeout=30)["state"] == "cancelled"


def test_a_job_that_cannot_fit_is_refused_at_upload_with_one_line(client):
    """The memory plan's refusal comes at upload (413), as the command line's before any
    work, not from a job that fails as it starts."""
    answer = post(client, **{**TINY, "max_long_edge": 100_000})
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert error.startswith("a 100000x100000 picture needs at least")
    assert "--max-long-edge" in error  # names a size that fits
    assert "\n" not in error


def test_job_ids_are_unguessable(client):
    made = {jobs.new_id() for _ in range(1000)}
    assert len(made) == 1000
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) for i in made)  # 128 random bits
    job_id = post(client, **TINY).json()["id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", job_id)
    wait(client, job_id)
    near = job_id[:-1] + ("A" if job_id[-1] != "A" else "B")
    assert client.get(f"/api/jobs/{near}").status_code == 404


# ------------------------------------------------------------------ masks
def png(mode: str, size=(40, 30), value=255, half=True) -> bytes:
    """A PNG mask of ``mode``: ``value`` on its right half (everywhere unless ``half``)."""
    picture = Image.new(mode, size, 0)
    picture.paste(value, (size[0] // 2 if half else 0, 0, *size))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def test_a_masked_job_runs_with_its_masks(client, tiny_app, monkeypatch):
    """One mask per painting reaches the painter, made no larger than the photo."""
    local = tiny_app.state.server.worker.local
    given = []

    def run(painter, task, *args, **kwargs):
        given.append(task.masks)
        return run.original(painter, task, *args, **kwargs)

    run.original = local.run
    monkeypatch.setattr(local, "run", run)
    masks = (png("L", (400, 300)), png("RGB", (20, 10), (255, 255, 255), half=False))
    response = post(client, styles=(STYLE, MOSAIC), masks=masks, **TINY)
    assert response.status_code == 201, response.text
    status = wait(client, response.json()["id"])
    assert status["state"] == "done" and status["error"] is None, status
    assert status["names"]["masks"] == ["mask0.png", "mask1.png"]
    [(right, everywhere)] = given
    assert right.dtype == np.uint8 and right.shape == (48, 48)  # the photo's, not 400x300
    assert right[:, :20].max() == 0 and right[:, 28:].min() == 255
    assert everywhere.shape == (10, 20) and everywhere.min() == 255  # smaller: kept as it is


def test_without_masks_a_job_has_none(client, tiny_app):
    job_id = post(client, **TINY).json()["id"]
    assert tiny_app.state.server.worker.get(job_id).masks is None
    assert set(wait(client, job_id)["names"]) == {"content", "styles"}


@pytest.mark.parametrize(
    "mask, status, message",
    [
        (png("LA", value=(255, 255)), 415, "mask mask0.png has an alpha channel: save it as "
         "greyscale without one (white: the painting's region, black: none)"),
        (png("RGBA", value=(255, 255, 255, 255)), 415, "mask mask0.png has an alpha channel"),
        (png("I;16", value=65535), 415, "mask mask0.png has 16 bits per value: save it with 8"),
        (png("L", value=0), 415, "mask mask0.png is black everywhere: its painting would go "
         "nowhere"),
        (b"this is no mask", 415, "mask0.png: not a readable image ("),
        (bomb_png(20_000, 10_000), 413, "mask0.png: 20000x10000 is 200 megapixels, more than"),
    ],
)  # fmt: skip
def test_a_bad_mask_is_refused_in_one_line(client, tiny_app, mask, status, message):
    answer = refused(post(client, masks=(mask,), **TINY), status)
    assert answer.startswith(message) and "\n" not in answer
    assert str(tiny_app.state.server.workdir) not in answer
    assert list(tiny_app.state.server.workdir.iterdir()) == []


def float_tiff(values) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.asarray(values, np.float32)).save(out, format="TIFF")
    return out.getvalue()


def test_float_tiffs_are_read_in_0_to_1(client, tiny_app, monkeypatch):
    """Issue 31: a 32-bit float TIFF (0..1) was read as the levels 0 and 1 of 255: a photo
    black, a mask of 0.5 refused as black everywhere. One beyond 0..1 is one line."""
    local = tiny_app.state.server.worker.local
    given = []

    def run(painter, task, *args, **kwargs):
        given.append((task.content, task.masks))
        return run.original(painter, task, *args, **kwargs)

    run.original = local.run
    monkeypatch.setattr(local, "run", run)
    photo = float_tiff(np.linspace(0, 1, 48 * 48).reshape(48, 48))
    response = post(client, content=photo, masks=(float_tiff(np.full((48, 48), 0.5)),), **TINY)
    assert response.status_code == 201, response.text
    status = wait(client, response.json()["id"])
    assert status["state"] == "done" and status["error"] is None, status
    [(content, [mask])] = given
    assert content.min() == 0 and content.max() == 255 and np.all(mask == 128)
    nan = float_tiff(np.full((48, 48), np.nan))
    message = refused(post(client, content=nan, names=["f.tif", "s.jpg"], **TINY), 415)
    assert message.startswith("f.tif: a float image holding NaN or inf values"), message
    message = refused(post(client, masks=(float_tiff(np.full((8, 8), 255.0)),), **TINY), 415)
    assert message.startswith("mask mask0.png: a float image with values in 255..255"), message


@pytest.mark.parametrize("maker", ["careless_exif_photo", "long_exif_photo"])
def test_a_photo_with_careless_exif_is_painted_and_downloads_in_every_format(
    client, tmp_path, maker
):
    """Issue 31: a photo whose EXIF stores DateTime as a RATIONAL, and a PNG with 70 KB of
    EXIF, were taken, painted, then failed ("internal error"): now what can be kept is."""
    from tests import test_files_photo

    photo = getattr(test_files_photo, maker)(tmp_path / "photo")
    response = post(client, content=photo.read_bytes(), **TINY)
    assert response.status_code == 201, response.text
    status = wait(client, response.json()["id"])
    assert status["state"] == "done" and status["error"] is None, status
    for fmt in ("jpeg", "png", "tiff"):
        image = client.get(f"/api/jobs/{response.json()['id']}/image?format={fmt}")
        assert image.status_code == 200, image.text
        with Image.open(io.BytesIO(image.content)) as written:
            assert written.getexif().get(0x010F) == "Canon"


def test_one_mask_per_painting_or_none(client):
    expected = (
        "{} mask(s) for 2 style image(s); give one file field 'mask' per 'style', "
        "in the same order, or none"
    )
    for count in (1, 3):
        masks = [png("L")] * count
        message = refused(post(client, styles=(STYLE, MOSAIC), masks=masks, **TINY), 400)
        assert message == expected.format(count)
    as_text = client.post(
        "/api/jobs",
        files=[("content", ("c.jpg", CONTENT)), ("style", ("s.jpg", STYLE))],
        data={"mask": "sky.png"},
    )
    assert refused(as_text, 400) == "mask must be a file, not text"


def test_a_mask_too_thin_for_the_photo_is_refused(client):
    thin = Image.new("L", (4000, 3000), 0)
    thin.putpixel((2000, 1500), 255)
    out = io.BytesIO()
    thin.save(out, format="PNG")
    message = refused(post(client, masks=(out.getvalue(),), **TINY), 400)
    assert message == (
        "mask mask0.png: nothing of it is left at the photo's size (48x48): make its white "
        "region larger"
    )


# ------------------------------------------------------------------ refusals
def cli_message(argv, tmp_path, capsys) -> str:
    """The command line's one-line message for ``argv``."""
    try:
        code = cli.main([*argv, "--output", str(tmp_path / "out.jpg")], prog="nstyle")
    except SystemExit as exit:  # argparse's errors
        code = exit.code
    assert code == 2
    line = capsys.readouterr().err.strip()
    return line.removeprefix("nstyle: error: ").removesuffix(" (see nstyle --help)")


@pytest.mark.parametrize(
    "fields, argv",
    [
        ({"max_long_edge": "0"}, ["--max-long-edge", "0"]),
        ({"max_long_edge": "abc"}, ["--max-long-edge", "abc"]),
        ({"optimizer": "bfgs"}, ["--optimizer", "bfgs"]),
        ({"style_loss": "W2"}, ["--style-loss", "W2"]),
        ({"pooling": "sum"}, ["--pooling", "sum"]),
        ({"output_profile": "P3"}, ["--output-profile", "P3"]),
        ({"max_long_edge": "true"}, ["--max-long-edge", "true"]),
        ({"style_weight": "-1"}, ["--style-weight", "-1"]),
        ({"tv_weight": "nan"}, ["--tv-weight", "nan"]),
        ({"lr": "0"}, ["--lr", "0"]),
        ({"seed": "-5"}, ["--seed", "-5"]),
        ({"match_luminance": "true"}, ["--match-luminance"]),
        ({"num_scales": "3", "max_long_edge": "99"}, ["--num-scales", "3", "--max-long-edge=99"]),
        ({"style_layers": "relu9_9"}, ["--style-layers", "relu9_9"]),
        ({"style_layers": ""}, ["--style-layers"]),
        ({"style_blend_weights": "1 2"}, ["--style-blend-weights", "1", "2"]),
        ({"remove_noise": "-1"}, ["--remove-noise", "-1"]),
    ],
)  # fmt: skip
def test_a_bad_option_gets_the_command_lines_message(client, fields, argv, tmp_path, capsys):
    message = refused(post(client, **fields), 400)
    assert message == cli_message(argv, tmp_path, capsys)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"colour": "red"}, "unknown option 'colour'; the options are nstyle.Options' fields"),
        ({"weights": "/etc/passwd"}, "weights: the web app reads no weights file"),
        ({"init": "/etc/passwd"}, "argument --init: invalid choice: '/etc/passwd' (choose from"),
        ({"preserve_colors": "maybe"}, "argument --preserve-colors: invalid boolean value"),
    ],
)
def test_no_submitted_text_becomes_a_path(client, fields, message):
    assert refused(post(client, **fields), 400).startswith(message)


def test_the_pictures_must_be_there(client):
    assert refused(post(client, styles=()), 400) == "at least one style image is needed"
    no_content = client.post("/api/jobs", files=[("style", ("s.jpg", STYLE, "image/jpeg"))])
    assert refused(no_content, 400) == "give one photo as the file field 'content'"
    as_text = client.post(
        "/api/jobs", data={"content": "input/content.jpg"}, files=[("style", ("s.jpg", STYLE))]
    )
    assert refused(as_text, 400) == "content must be a file, not text"
    thin = io.BytesIO()
    Image.new("RGB", (400, 20)).save(thin, format="PNG")
    assert refused(post(client, content=thin.getvalue(), max_long_edge=48), 400) == (
        "image of 400x20 at a long edge of 48 px is 48x2: both sides must be at least 16 px"
    )


@pytest.mark.parametrize("data", [b"this is no picture\n", b"", CONTENT[:200]])
def test_not_an_image_is_415(client, tiny_app, data):
    message = refused(post(client, styles=(data,), names=["a.jpg", "notes.txt"]), 415)
    assert message.startswith("notes.txt: not a readable image (")
    assert str(tiny_app.state.server.workdir) not in message


def test_only_multipart_is_taken(client):
    assert refused(client.post("/api/jobs", json={"content": "x"}), 415).startswith(
        "POST /api/jobs takes multipart/form-data"
    )


def test_a_decompression_bomb_is_413_with_the_command_lines_message(client, tiny_app):
    message = refused(post(client, content=bomb_png(20_000, 10_000), names=["b.png", "s"]), 413)
    assert message == (
        "b.png: 20000x10000 is 200 megapixels, more than the 179 nstyle reads (a guard "
        "against decompression bombs); raise it with --max-image-pixels"
    )
    assert list(tiny_app.state.server.workdir.iterdir()) == []


def test_an_upload_over_the_cap_is_413_while_it_is_read(client):
    big = b"\0" * (MAX_UPLOAD + 1)
    message = f"the upload is larger than {MAX_UPLOAD / 2**20:g} MB, the limit"
    assert refused(post(client, content=big), 413) == message  # said by Content-Length


def asgi_post(app, receive, kind: bytes, timeout: float = 60) -> list[dict]:
    """The messages ``app`` sends for a POST /api/jobs of content type ``kind`` whose body
    comes from ``receive``, called directly (the test client reads a body whole first)."""
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/jobs",
        "raw_path": b"/api/jobs",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", kind)],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout))
    return sent


def test_the_cap_stops_the_reading(tmp_path):
    """Fed to the app chunk by chunk (the test client reads a body whole before it calls
    the app), an upload without Content-Length is refused once past the cap, unread."""
    app = create_app(workdir=tmp_path)
    chunk, total = 2**20, 2 * MAX_UPLOAD // 2**20
    head = b'--b\r\nContent-Disposition: form-data; name="content"; filename="big.jpg"\r\n\r\n'
    pulled = 0

    async def receive():
        nonlocal pulled
        pulled += 1
        body = head if pulled == 1 else b"\0" * chunk
        return {"type": "http.request", "body": body, "more_body": pulled < total}

    answer = asgi_post(app, receive, b"multipart/form-data; boundary=b")
    assert answer[0]["status"] == 413
    assert json.loads(answer[1]["body"])["error"].startswith("the upload is larger than 50 MB")
    assert pulled <= MAX_UPLOAD // chunk + 2 < total  # it stopped reading at the cap
    assert list(tmp_path.iterdir()) == []


def test_unknown_ids_are_404(client):
    for method, path in [
        ("GET", "/api/jobs/nope"),
        ("GET", "/api/jobs/nope/image"),
        ("GET", "/api/jobs/nope/events"),
        ("DELETE", "/api/jobs/nope"),
    ]:
        message = refused(client.request(method, path), 404)
        assert message == "no such job (the id is unknown, or the job was forgotten)"


def test_other_sites_and_other_host_names_are_refused(client):
    other = client.post("/api/jobs", headers={"origin": "http://example.com"})
    assert refused(other, 403) == "a request from another site is refused"
    assert client.delete("/api/jobs/x", headers={"origin": "null"}).status_code == 403
    foreign = client.get("/api/options", headers={"host": "evil.example"})
    assert refused(foreign, 400) == (
        "this server answers requests for 127.0.0.1, [::1], localhost only, not 'evil.example'"
    )


# ------------------------------------------------------------------ the page and the form
def test_the_page_and_its_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in re.findall(r'"/static/([^"]+)"', page.text):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert client.get("/static/../app.py").status_code == 404


def test_the_samples_are_named_not_pathed(client):
    samples = client.get("/api/samples").json()
    assert {"name": "content.jpg", "kind": "photo", "url": "/api/samples/content.jpg"} in samples
    assert client.get("/api/samples/content.jpg").content == CONTENT
    for name in ["..%2FMakefile", "%2E%2E%2Finput%2Fcontent.jpg", "Makefile"]:
        assert client.get(f"/api/samples/{name}").status_code == 404


def test_the_form_is_every_option(client):
    answer = client.get("/api/options").json()
    names = [f["name"] for f in answer["fields"]]
    expected = {f.name for f in config.Options.__dataclass_fields__.values()} - {"weights"}
    assert set(names) == expected | set(options.OUTPUT_FIELDS) and len(names) == len(set(names))
    assert names[: len(options.MAIN)] == list(options.MAIN)
    assert all(f["help"] for f in answer["fields"])
    init = next(f for f in answer["fields"] if f["name"] == "init")
    assert init["choices"] == ["content", "noise"]
    assert answer["device"] == "cpu(0)" and answer["limits"]["max_upload_bytes"] == MAX_UPLOAD


def test_the_form_module_loads_no_framework():
    code = (
        "import sys, nstyle.web.options; "
        "print(sorted(m for m in ('mxnet', 'starlette', 'skimage') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr


# ------------------------------------------------------------------ the command
def serve(*argv):
    return subprocess.run(
        [sys.executable, "-m", "nstyle.web", *argv], capture_output=True, text=True, timeout=60
    )


def test_a_public_host_is_warned_about_and_mistakes_are_one_line():
    done = serve("--host", "0.0.0.0", "--port", "70000")  # refused before binding
    assert done.returncode == 2
    warning, error = done.stderr.splitlines()
    assert warning.startswith("nstyle.web: warning: --host 0.0.0.0 is not a loopback address")
    assert error == "nstyle.web: error: --port must be in 0..65535, got 70000"


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve("--port", str(port), "--gpu", "-1")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"nstyle.web: error: cannot listen on 127.0.0.1:{port} (Address already in use)"
    )


@cpu_build_only
def test_the_device_is_checked_as_the_command_line_does():
    done = serve("--gpu", "0")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "nstyle.web: error: --gpu 0: the installed MXNet is the CPU-only build"
    )


def singular_profile() -> bytes:
    """Display P3's profile with its blue colorant 0: no inverse, so the picture cannot be
    converted back into it (LittleCMS still reads the photo)."""
    icc = bytearray(photos.icc_profile("Display P3"))
    (count,) = struct.unpack_from(">I", icc, 128)
    for at in range(132, 132 + 12 * count, 12):
        if icc[at : at + 4] == b"bXYZ":
            (offset,) = struct.unpack_from(">I", icc, at + 4)
            icc[offset + 8 : offset + 20] = bytes(12)
    return bytes(icc)


def test_a_photo_whose_profile_has_no_inverse_is_refused_at_upload(client, tmp_path, capsys):
    """``output_profile=photo`` with such a photo: the web app answered 201, painted, then
    failed ("internal error"), while the command line refused it before any work (issue 31).
    Now the upload is refused with the command line's own check's line."""
    from nstyle.errors import NStyleError
    from nstyle.media import images, writing

    photo = tmp_path / "singular.png"
    Image.fromarray(np.full((40, 56, 3), 120, np.uint8)).save(photo, icc_profile=singular_profile())
    response = post(
        client, content=photo.read_bytes(), names=["singular.png", "style.jpg"],
        output_profile="photo", **TINY,
    )  # fmt: skip
    message = refused(response, 400)
    _, source = images.read_photo(photo)
    with pytest.raises(NStyleError) as raised:
        writing.check_encodable(
            "x.jpg", source, writing.Finish("photo"), "output_profile=photo: singular.png"
        )
    assert message == str(raised.value)
    line = cli_message(
        ["--content-image", str(photo), "--style-image", str(ROOT / "input" / "style.jpg"),
         "--output-profile", "photo"], tmp_path, capsys,
    )  # fmt: skip
    assert message.split(": ", 1)[-1] in line, line  # the same line, the flag spelled its way
    assert post(client, content=photo.read_bytes(), **TINY).status_code == 201  # sRGB: fine
