"""The web app in a real browser: Debian's Chromium, headless, driven by Playwright, on a
real server (``python -m nstyle.web``) started here on a free loopback port.

Chromium is Debian's (``make test`` installs it; Playwright's own browser download is not
used). Without it the test is skipped, except in CI (``CI`` set), where it must run.
``NSTYLE_WEB_SCREENSHOT=docs/web.png`` also saves the page during a larger run there, for
the README (256 colours: a quarter of the bytes, no visible difference);
``NSTYLE_WEB_MASKS_SCREENSHOT=docs/web_masks.png`` the same for the masks painted on the photo,
``NSTYLE_WEB_PHOTO_SCREENSHOT=docs/web_photo.png`` for photo to photo.
"""

from __future__ import annotations

import email.policy
import io
import os
import signal
import subprocess
import sys
from email.parser import BytesParser
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from tests.test_files_photo import phone_photo

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("NSTYLE_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = os.environ.get("NSTYLE_WEB_SCREENSHOT")


def need(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}; in CI the browser test must run (make test installs it)")
    pytest.skip(f"{what} (make test installs it)")


@pytest.fixture(scope="module")
def server(vgg16, tmp_path_factory):  # vgg16: the real weights are in the cache before
    """The app's address; the server is stopped by its own pid. Its temporary folder is
    ``temp``: it writes nothing there but its working folder, and removes that on exit."""
    temp = tmp_path_factory.mktemp("server-temp")
    process = subprocess.Popen(
        [sys.executable, "-m", "nstyle.web", "--port", "0", "--gpu", "-1", "--model", "vgg16"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        line = process.stdout.readline()  # nstyle.web: serving on http://127.0.0.1:PORT (...)
        assert line.startswith("nstyle.web: serving on http://127.0.0.1:"), (
            line + process.stderr.read()
        )
        yield line.split()[3]
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful stop, then the clean-up
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 130, process.stderr.read()  # as the CLI: Ctrl-C is 130
    assert list(temp.iterdir()) == []


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        need(f"Debian's Chromium is not installed ({CHROMIUM})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("Playwright is not installed")
    # The suite's address-space cap (conftest) is lifted for the browser alone: Chromium
    # reserves terabytes of address space it never touches, and it is the test's tool.
    chromium = tmp_path_factory.mktemp("browser") / "chromium"
    chromium.write_text(f'#!/bin/sh\nulimit -S -v unlimited\nexec {CHROMIUM} "$@"\n')
    chromium.chmod(0o755)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium))
        yield browser
        browser.close()


def open_page(browser, server, **options):
    """The app's page, ready, at the width of a desktop, and the list its errors go to."""
    page = browser.new_page(viewport={"width": 1360, "height": 900}, **options)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(server)
    page.wait_for_selector("body[data-ready=true]")
    return page, problems


def test_paint_in_the_browser(server, browser, tmp_path):
    big = SCREENSHOT is not None  # a picture worth showing in the README
    page, problems = open_page(browser, server, accept_downloads=True)
    assert page.locator("#server").inner_text().startswith("cpu(0)")

    # two pictures uploaded through the file inputs, a third painting from the samples
    page.set_input_files("#content-input", str(ROOT / "input" / "content.jpg"))
    page.set_input_files("#style-input", str(ROOT / "input" / "style.jpg"))
    if big:
        page.click("[data-sample='mosaic.jpg']")
        page.wait_for_selector(".style-item >> nth=1")
    assert page.locator("#content-name").inner_text() == "content.jpg"
    assert page.locator(".style-item").count() == (2 if big else 1)

    page.fill("#opt-max_long_edge", "320" if big else "64")
    page.click("#more summary")
    page.fill("#opt-max_num_epochs", "30")
    page.fill("#opt-num_scales", "1")
    page.click("#more summary")  # closed again
    # the page records each picture it shows while the job runs
    page.evaluate(
        """() => {
        window.seen = [];
        new MutationObserver(() => {
            const live = document.querySelector('#live');
            const state = document.querySelector('#state').dataset.state;
            if (state === 'running') window.seen.push(live.dataset.version);
        }).observe(document.querySelector('#live'), {attributes: true});
    }"""
    )
    page.click("#start")
    page.wait_for_selector("#state[data-state=running]", timeout=60_000)
    page.wait_for_function("() => new Set(window.seen).size >= 2", timeout=120_000)  # it updates
    if big:
        page.wait_for_function(
            "() => Number(document.querySelector('#live').dataset.version) >= 12"
        )
        page.mouse.move(0, 0)
        page.evaluate("() => window.scrollTo(0, 0)")
        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        shot.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(
            ROOT / SCREENSHOT, optimize=True
        )
    page.wait_for_selector("#state[data-state=done]", timeout=300_000)
    page.screenshot(path=str(tmp_path / "web.png"), full_page=True)
    assert page.locator("#error").is_hidden()
    assert page.locator("#epoch").inner_text() == "epoch 30 / 30"
    assert page.locator(".thumb").count() == 1  # the session's strip

    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "result.jpg"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "nstyle-content.jpg"
    with Image.open(saved) as result:
        assert result.format == "JPEG" and result.size == ((320, 320) if big else (64, 64))
    page.select_option("#download-format", "tiff")  # the same picture, 16 bits per channel
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "nstyle-content.tif"
    download.value.save_as(tmp_path / "result.tif")
    assert tifffile.imread(tmp_path / "result.tif").dtype == np.uint16
    assert problems == []


def test_a_phone_heic_photo_from_the_browser(server, browser, tmp_path):
    page, problems = open_page(browser, server, accept_downloads=True)
    photo = phone_photo(tmp_path / "IMG_0001.HEIC")
    page.set_input_files("#content-input", str(photo))
    page.set_input_files("#style-input", str(ROOT / "input" / "style.jpg"))
    # Chromium shows no HEIC: the page says so, and the server reads it
    page.wait_for_function("() => document.querySelector('#content-preview').hidden")
    assert "no preview" in page.locator("#content-name").inner_text()
    page.fill("#opt-max_long_edge", "48")
    page.click("#more summary")
    page.fill("#opt-max_num_epochs", "3")
    page.click("#start")
    page.wait_for_selector("#state[data-state=done]", timeout=120_000)
    page.select_option("#download-format", "png")
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "nstyle-IMG_0001.png"
    download.value.save_as(tmp_path / "result.png")
    with Image.open(tmp_path / "result.png") as result:
        assert result.size == (36, 48) and result.getexif()[0x0110] == "iPhone 15 Pro"
    assert [p for p in problems if "IMG_0001" not in p and "blob:" not in p] == []


def test_a_refused_job_shows_the_command_lines_message(server, browser):
    page = browser.new_page()
    page.goto(server)
    page.wait_for_selector("body[data-ready=true]")
    page.click("[data-sample='content.jpg']")
    page.click("[data-sample='style.jpg']")
    page.wait_for_selector("#start:not([disabled])")
    page.fill("#opt-max_long_edge", "0")
    page.click("#start")
    error = page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text() == "error: --max-long-edge must be > 0, got 0"
    assert page.locator("#start").is_enabled()  # ready for another try


# ------------------------------------------------------------------ masks
MASKS_SCREENSHOT = os.environ.get("NSTYLE_WEB_MASKS_SCREENSHOT")  # e.g. docs/web_masks.png


def form_parts(body: bytes, kind: str) -> list[tuple[str, str | None, bytes]]:
    """A multipart body's parts: (field name, file name, bytes)."""
    head = f"Content-Type: {kind}\r\n\r\n".encode()
    message = BytesParser(policy=email.policy.default).parsebytes(head + body)
    return [
        (part.get_param("name", header="content-disposition"), part.get_filename(),
         part.get_payload(decode=True))
        for part in message.iter_parts()
    ]  # fmt: skip


def canvas_box(page) -> dict:
    """The mask canvas's box on the screen, the canvas scrolled into the middle first."""
    canvas = page.locator("#mask-canvas[data-ready=true]")
    canvas.evaluate("node => node.scrollIntoView({block: 'center'})")
    return canvas.bounding_box()


def stroke(page, start, end, steps=12):
    """A mouse stroke on the canvas from ``start`` to ``end``, in fractions of its box."""
    box = canvas_box(page)
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + start[0] * w, y + start[1] * h)
    page.mouse.down()
    page.mouse.move(x + end[0] * w, y + end[1] * h, steps=steps)
    page.mouse.up()


def test_masks_painted_on_the_photo_go_with_the_job(server, browser, tmp_path):
    """A stroke painted on the photo is sent as the painting's greyscale mask (white along
    the stroke, black elsewhere); a tap paints too (pointer events: touch as well as the
    mouse); the eraser and undo (a button, Ctrl+Z) take strokes back; with two paintings
    each has its own mask, and one without is said in one line before anything is sent."""
    big = MASKS_SCREENSHOT is not None
    page, problems = open_page(browser, server, has_touch=True)
    page.set_input_files("#content-input", str(ROOT / "input" / "content.jpg"))
    page.click("[data-sample='style.jpg']")
    page.wait_for_selector(".style-item")
    page.fill("#opt-max_long_edge", "320" if big else "64")
    page.click("#more summary")
    page.fill("#opt-max_num_epochs", "40" if big else "5")
    page.fill("#opt-num_scales", "1")
    page.click("#more summary")
    page.click("#masks summary")
    box = canvas_box(page)
    assert box["width"] == box["height"] > 300  # the photo's aspect (512x512), the panel's width

    sent: list[list] = []

    def held(route):  # the request is kept here, answered as a refusal: no job runs
        request = route.request
        sent.append(form_parts(request.post_data_buffer, request.headers["content-type"]))
        route.fulfill(status=400, json={"error": "held by the test"})

    page.route("**/api/jobs", held)

    def masks_sent() -> list[tuple[str, np.ndarray]]:
        before = len(sent)
        page.click("#start")
        page.wait_for_selector("#error:not([hidden])")
        assert len(sent) == before + 1, page.locator("#error").inner_text()
        found = []
        for field, name, data in sent[-1]:
            if field == "mask":
                with Image.open(io.BytesIO(data)) as mask:
                    assert mask.format == "PNG" and mask.mode == "L" and mask.size == (512, 512)
                    found.append((name, np.asarray(mask)))
        return found

    stroke(page, (0.2, 0.5), (0.8, 0.5))  # a band across the middle, 34 px wide
    box = canvas_box(page)
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 5)
    [(name, mask)] = masks_sent()
    assert name == "mask-1.png"
    assert mask[256, 128:384].min() == 255 and mask[102, 256] == 255  # the stroke, the tap
    assert mask[:180, :200].max() == 0 and mask[330:].max() == 0 and mask[:, :70].max() == 0

    page.click("#mask-undo")  # the tap
    [(_, mask)] = masks_sent()
    assert mask[102, 256] == 0 and mask[256, 128:384].min() == 255
    page.click("#mask-eraser")
    stroke(page, (0.1, 0.5), (0.5, 0.5))
    [(_, mask)] = masks_sent()
    assert mask[256, :230].max() == 0 and mask[256, 300:384].min() == 255
    page.keyboard.press("Control+z")  # the eraser's stroke
    [(_, mask)] = masks_sent()
    assert mask[256, 128:384].min() == 255
    page.keyboard.press("Control+z")  # the brush's stroke: no mask is left
    assert masks_sent() == []
    assert [field for field, _, _ in sent[-1]] == ["content", "style", "max_long_edge",
                                                  "num_scales", "max_num_epochs"]  # fmt: skip

    # two paintings: each its own colour and mask; one without a mask is said at once
    page.click("[data-sample='mosaic.jpg']")
    page.wait_for_selector(".style-item >> nth=1")
    page.keyboard.press("b")
    stroke(page, (0.1, 0.2), (0.9, 0.2))
    page.click("#start")
    error = page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text() == (
        "error: painting 2 (mosaic.jpg) has no mask: paint where it goes or upload one, "
        "or clear the masks"
    )
    assert len(sent) == 5 and page.locator("#start").is_enabled()  # nothing was sent
    page.keyboard.press("2")
    assert page.locator("[data-painting='1']").get_attribute("aria-checked") == "true"
    stroke(page, (0.1, 0.8), (0.9, 0.8))
    (first, top), (second, bottom) = masks_sent()
    assert (first, second) == ("mask-1.png", "mask-2.png")
    assert top[102, 60:450].min() == 255 and top[410].max() == 0
    assert bottom[410, 60:450].min() == 255 and bottom[102].max() == 0
    if big:
        paint_regions(page)

    page.unroute("**/api/jobs")  # now the job runs, with the page's masks
    page.click("#start")
    page.wait_for_selector("#state[data-state=done]", timeout=300_000)
    assert page.locator("#error").is_hidden()
    job = page.evaluate("() => state.job.id")
    status = page.evaluate(f"async () => (await fetch('/api/jobs/{job}')).json()")
    assert status["names"]["masks"] == ["mask-1.png", "mask-2.png"]
    if big:
        page.mouse.move(0, 0)
        page.evaluate("() => window.scrollTo(0, 360)")
        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        shot.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(
            ROOT / MASKS_SCREENSHOT, optimize=True
        )
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []


def test_an_uploaded_mask_is_sent_as_it_is(server, browser, tmp_path):
    """A mask uploaded for a painting goes as its file (the server reads it with its guards,
    and its refusal shows in the page); painted over, it goes as the painted mask."""
    right, alpha = tmp_path / "right.png", tmp_path / "alpha.png"
    half = Image.new("L", (200, 100), 0)
    half.paste(255, (100, 0, 200, 100))
    half.save(right)
    Image.new("RGBA", (200, 100), (255, 255, 255, 255)).save(alpha)
    page, problems = open_page(browser, server)
    page.click("[data-sample='content.jpg']")
    page.click("[data-sample='style.jpg']")
    page.fill("#opt-max_long_edge", "64")
    page.fill("#opt-num_scales", "1")
    page.click("#more summary")
    page.fill("#opt-max_num_epochs", "5")
    page.click("#more summary")
    page.click("#masks summary")
    canvas_box(page)
    page.set_input_files("#mask-input", str(right))
    page.wait_for_selector("#mask-undo:not([disabled])")
    sent = []

    def held(route):  # (Playwright leaves a file's bytes out of the body it shows)
        request = route.request
        sent.append(form_parts(request.post_data_buffer, request.headers["content-type"]))
        route.fulfill(status=400, json={"error": "held by the test"})

    page.route("**/api/jobs", held)
    page.click("#start")
    page.wait_for_selector("#error:not([hidden])")
    assert [name for field, name, _ in sent[0] if field == "mask"] == ["right.png"]
    stroke(page, (0.1, 0.5), (0.3, 0.5))  # painted over: the painted mask goes
    page.click("#start")
    page.wait_for_selector("#error:not([hidden])")
    [(name, data)] = [(name, data) for field, name, data in sent[1] if field == "mask"]
    mask = np.asarray(Image.open(io.BytesIO(data)))
    assert name == "mask-1.png" and mask.shape == (512, 512)
    assert mask[:, 300:].min() == 255 and mask[256, 60:150].min() == 255
    assert mask[:200, :250].max() == 0

    page.unroute("**/api/jobs")  # the file itself, to the server
    page.click("#mask-undo")
    page.click("#start")
    page.wait_for_selector("#state[data-state=done]", timeout=300_000)
    job = page.evaluate("() => state.job.id")
    status = page.evaluate(f"async () => (await fetch('/api/jobs/{job}')).json()")
    assert status["names"]["masks"] == ["right.png"]
    page.set_input_files("#mask-input", str(alpha))
    page.click("#start")
    error = page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text() == (
        "error: mask alpha.png has an alpha channel: save it as greyscale without one "
        "(white: the painting's region, black: none)"
    )
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []


def paint_regions(page):
    """For the README's picture: the flag, the sky and the rocket in one painting, the lower
    part of the suit in the other, the face left as photographed."""
    page.click("#mask-clear")  # the test's strokes
    page.locator("#mask-size").fill("100")
    page.keyboard.press("1")
    stroke(page, (0.06, 0.02), (0.06, 0.7))
    stroke(page, (0.06, 0.02), (0.95, 0.02))
    stroke(page, (0.92, 0.02), (0.92, 0.6))
    stroke(page, (0.8, 0.1), (0.8, 0.45))
    page.keyboard.press("2")
    for y in (0.86, 0.97):
        stroke(page, (0.02, y), (0.98, y))


# ------------------------------------------------------------------ photo to photo
PHOTO_SCREENSHOT = os.environ.get("NSTYLE_WEB_PHOTO_SCREENSHOT")  # e.g. docs/web_photo.png


def test_photo_to_photo_in_the_browser(server, browser, tmp_path):
    """The mode switched on: its line, its fields and the page's words for a reference; a
    photo, a reference and two segmentations go with photo=true and the mode's fields, the
    job finishes with a region per label and its picture downloads. Switched off, the mode's
    fields and the segmentations stay at home."""
    from tests.test_web_photo import photo_labels, reference_labels

    seg, ref_seg = tmp_path / "photo_labels.png", tmp_path / "reference_labels.png"
    Image.fromarray(photo_labels()).save(seg)
    Image.fromarray(reference_labels()).save(ref_seg)
    page, problems = open_page(browser, server, accept_downloads=True)
    assert page.locator("#opt-photo").count() == 0  # the switch, not a box among the options
    assert page.locator("#mode-line-photo").is_hidden()
    assert page.locator("#opt-post_process").is_hidden()
    page.click("[data-testid=mode-photo]")
    assert page.locator("#mode-photo").get_attribute("aria-checked") == "true"
    assert "stays a photograph" in page.locator("#mode-line-photo").inner_text()
    assert page.locator("#opt-matting_weight").is_visible()
    assert page.locator("#opt-post_process").input_value() == ""  # the default: not sent

    page.set_input_files("#content-input", str(ROOT / "input" / "content.jpg"))
    page.set_input_files("#style-input", str(ROOT / "input" / "style.jpg"))
    assert page.locator("#start-note").inner_text() == "1 reference, ready"
    page.fill("#opt-max_long_edge", "64")
    page.select_option("#opt-post_process", "guided")
    page.click("#more summary")
    page.fill("#opt-max_num_epochs", "5")
    page.fill("#opt-num_scales", "1")
    page.click("#more summary")
    page.click("#masks summary")
    canvas_box(page)
    assert "the photo keeps its own look" in page.locator("#mask-note").inner_text()
    page.set_input_files("#content-seg-input", str(seg))
    page.set_input_files("#style-seg-input", str(ref_seg))
    assert page.locator("#content-seg-name").inner_text() == "photo_labels.png"
    assert page.locator("#masks-summary").inner_text() == "segmentations"
    stroke(page, (0.2, 0.5), (0.8, 0.5))  # a region painted too: one or the other
    page.click("#start")
    error = page.wait_for_selector("#error:not([hidden])")
    assert error.inner_text() == (
        "error: content_segmentation: not with masks (each label is a region)"
    )
    page.click("#mask-undo")

    sent = []

    def seen(route):  # the request as sent, then to the server
        request = route.request
        sent.append(form_parts(request.post_data_buffer, request.headers["content-type"]))
        route.continue_()

    page.route("**/api/jobs", seen)
    page.click("#start")
    page.wait_for_selector("#state[data-state=done]", timeout=300_000)
    assert page.locator("#error").is_hidden()
    page.unroute("**/api/jobs")
    [parts] = sent
    fields = {field: (name, data) for field, name, data in parts}
    assert fields["photo"] == (None, b"true") and fields["post_process"] == (None, b"guided")
    # (Playwright shows a chosen file's name, not its bytes: the server's answer has them)
    assert fields["content_segmentation"][0] == "photo_labels.png"
    assert fields["style_segmentation"][0] == "reference_labels.png"
    assert "mask" not in fields and "matting_weight" not in fields  # left at its default
    job = page.evaluate("() => state.job.id")
    names = page.evaluate(f"async () => (await fetch('/api/jobs/{job}')).json()")["names"]
    assert names["segmentations"] == ["photo_labels.png", "reference_labels.png"]
    assert names["regions"] == 3 and names["unmatched"] == ["#ff0000"]  # the files' labels
    with page.expect_download() as download:
        page.click("#download")
    download.value.save_as(tmp_path / "result.jpg")
    with Image.open(tmp_path / "result.jpg") as result:
        assert result.format == "JPEG" and result.size == (64, 64)

    page.click("#content-seg-remove")
    assert page.locator("#content-seg-name").inner_text() == "none"
    if PHOTO_SCREENSHOT:  # for the README: the bundled photo given a photograph's look
        photo_screenshot(page, tmp_path)
    page.click("#mode-paint")  # off: the mode's fields and the label images are not sent
    held = []

    def hold(route):
        request = route.request
        held.append(form_parts(request.post_data_buffer, request.headers["content-type"]))
        route.fulfill(status=400, json={"error": "held by the test"})

    page.route("**/api/jobs", hold)
    page.click("#start")
    page.wait_for_selector("#error:not([hidden])")
    names = [field for field, _, _ in held[0]]
    assert not {"photo", "post_process", "style_segmentation"} & set(names), names
    assert [p for p in problems if not p.startswith("Failed to load resource")] == []


def photo_screenshot(page, tmp_path):
    """The page after a photo to photo at 320 px of the bundled photo with scikit-image's
    coffee's look (the README's figure, docs/make_photo.py's pair), without segmentations:
    saved at PHOTO_SCREENSHOT, 256 colours."""
    from skimage import data

    coffee = tmp_path / "coffee.png"
    Image.fromarray(data.coffee()).save(coffee)
    page.click("#style-seg-remove")
    page.click(".style-item .remove")
    page.set_input_files("#style-input", str(coffee))
    page.fill("#opt-max_long_edge", "320")
    page.select_option("#opt-post_process", "")
    page.click("#more summary")
    page.fill("#opt-max_num_epochs", "100")
    page.fill("#opt-num_scales", "")
    page.click("#more summary")
    before = page.evaluate("() => state.job.id")
    page.click("#start")
    page.wait_for_function(  # this job, not the one before, done
        "(before) => state.job.id !== before && state.job.final", arg=before, timeout=600_000
    )
    assert page.locator("#state").get_attribute("data-state") == "done"
    page.click("#masks summary")  # closed: the mode's options in view
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)  # the chevron's turn
    page.evaluate("() => window.scrollTo(0, 0)")
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    shot.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(
        ROOT / PHOTO_SCREENSHOT, optimize=True
    )
