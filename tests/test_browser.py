"""The web app in a real browser: Debian's Chromium, headless, driven by Playwright, on a
real server (``python -m nstyle.web``) started here on a free loopback port.

Chromium is Debian's (``make test`` installs it; Playwright's own browser download is not
used). Without it the test is skipped, except in CI (``CI`` set), where it must run.
``NSTYLE_WEB_SCREENSHOT=docs/web.png`` also saves the page during a larger run there, for
the README (256 colours: a quarter of the bytes, no visible difference).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

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


def test_paint_in_the_browser(server, browser, tmp_path):
    big = SCREENSHOT is not None  # a picture worth showing in the README
    page = browser.new_page(viewport={"width": 1360, "height": 900}, accept_downloads=True)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(server)
    page.wait_for_selector("body[data-ready=true]")
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
    assert problems == []


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
