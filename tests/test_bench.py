"""The benchmark's project side (bench/project.py), on the real VGG-16 at a small size.

The PyTorch side needs PyTorch, which the project's environment never has; `make bench`
runs both. This keeps the project's half of the command working.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench import compare as bench

ROOT = Path(__file__).resolve().parents[1]


def project(data, *args):
    done = subprocess.run(
        [sys.executable, "-m", "bench.project", "--data", str(data), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_project_side_reports_its_objective_and_time(tmp_path, vgg16):
    data = bench.export(tmp_path, 64, ROOT / "input" / "content.jpg", ROOT / "input" / "style.jpg")
    arrays = np.load(data)
    assert arrays["content"].shape == (1, 3, 64, 64) and "w:conv5_1_weight" in arrays.files
    check = project(data, "--task", "check", "--grad-out", str(tmp_path / "g.npy"))
    grad = np.load(tmp_path / "g.npy")
    assert check["value"] > 0 and grad.shape == (1, 3, 64, 64) and np.abs(grad).max() > 0
    for task, evaluations in (("sgd", 1 + 3), ("lbfgs", None)):  # the start probe + 3
        timed = project(data, "--task", task, "--iters", "3")
        assert timed["seconds"] > 0 and timed["peak_rss"] > 2**20
        assert timed["evaluations"] == evaluations if evaluations else timed["evaluations"] >= 3
