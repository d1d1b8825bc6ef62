"""Faults during a run: divergence rolls back and keeps the last good image; SIGTERM and
Ctrl-C write the current image and exit cleanly; a run continues from what it wrote."""

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nstyle.media import images

ROOT = Path(__file__).resolve().parents[1]


def base_args(tmp_path, tiny_weights_file, rgb):
    content = images.write_image(tmp_path / "content.png", rgb)
    style = images.write_image(tmp_path / "style.png", np.ascontiguousarray(rgb[::-1]))
    return [
        sys.executable,
        str(ROOT / "run.py"),
        "--content-image",
        str(content),
        "--style-image",
        str(style),
        "--weights",
        str(tiny_weights_file),
        "--gpu",
        "-1",
        "--max-long-edge",
        "32",
        "--output",
        str(tmp_path / "out" / "result.png"),
    ]


def test_divergence_keeps_the_last_good_image(tmp_path, tiny_weights_file, rgb):
    done = subprocess.run(
        base_args(tmp_path, tiny_weights_file, rgb)
        + ["--optimizer", "sgd", "--lr", "1e38", "--init", "content", "--remove-noise", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert "became NaN or inf by epoch" in done.stderr and "Traceback" not in done.stderr
    assert "the last good image is in" in done.stderr
    kept = images.read_image(tmp_path / "out" / "result.png")
    assert np.abs(kept.astype(int) - images.resize_long_edge(rgb, 32)).max() <= 1  # the start


@pytest.mark.parametrize(
    "name, content",
    [
        ("empty.jpg", b""),
        ("text.png", b"this is not a picture"),
        ("truncated.jpg", "half"),
        ("missing.jpg", None),
    ],
)
def test_bad_image_files_fail_before_any_work(tmp_path, tiny_weights_file, rgb, name, content):
    path = tmp_path / name
    if content == "half":
        whole = images.write_image(tmp_path / "whole.jpg", rgb).read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif content is not None:
        path.write_bytes(content)
    args = base_args(tmp_path, tiny_weights_file, rgb)
    args[args.index("--style-image") + 1] = str(path)
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nstyle: error: ") and name in lines[0]
    assert not (tmp_path / "out").exists()  # no work was done


def test_too_small_an_image_names_the_minimum(tmp_path, tiny_weights_file, rgb):
    done = subprocess.run(
        base_args(tmp_path, tiny_weights_file, rgb) + ["--max-long-edge", "18"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "both sides must be at least 16 px" in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_writes_the_current_image_and_the_run_can_continue(
    tmp_path, tiny_weights_file, rgb, sig
):
    args = base_args(tmp_path, tiny_weights_file, rgb)
    run = subprocess.Popen(
        args
        + [
            "--max-num-epochs",
            "100000",
            "--stop-eps",
            "0",
            "--print-every",
            "1",
            "--save-epochs",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in run.stderr:  # wait until the optimisation is under way
        if line.startswith("epoch    3"):
            break
    run.send_signal(sig)
    err = run.stderr.read()
    assert run.wait(timeout=60) == (143 if sig == signal.SIGTERM else 130)
    assert "interrupted at epoch" in err and "Traceback" not in err
    result = tmp_path / "out" / "result.png"
    assert images.read_image(result).shape == (23, 32, 3)
    assert [p.name for p in result.parent.iterdir()] == ["result.png"]  # nothing half-written
    again = subprocess.run(
        args + ["--init", str(result), "--max-num-epochs", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
