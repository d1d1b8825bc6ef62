"""The benchmark's project side (bench/project.py), on the real VGG-16 at a small size.

The PyTorch side needs PyTorch, which the project's environment never has; `make bench`
runs both. This keeps the project's half of the command working.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.platform
def test_quality_measures_style_and_content_on_the_picture(vgg16):
    """The photo is at distance 0 from itself, the painting from its own style; a picture
    stylised from the photo lies in between on both."""
    from bench.quality import Judge
    from nstyle.media import images

    judge = Judge(vgg16)
    photo = images.resize_long_edge(images.read_image(ROOT / "input" / "content.jpg"), 64)
    painting = images.resize_long_edge(images.read_image(ROOT / "input" / "style.jpg"), 64)
    itself = judge.measure(photo, photo, painting)
    assert itself["content_distance"] == 0 and itself["style_distance"] > 0.3
    painted = judge.measure(painting, photo, painting)
    assert painted["style_distance"] < 1e-9 and painted["content_distance"] > 0.3
    blend = (0.5 * photo + 0.5 * images.resize_to(painting, photo.shape[:2])).round()
    blend = blend.astype(np.uint8)
    between = judge.measure(blend, photo, painting)
    assert 0 < between["content_distance"] < painted["content_distance"]
    assert 0 < between["style_distance"] < itself["style_distance"]
    assert painted["w2_distance"] < 1e-6 < between["w2_distance"] < itself["w2_distance"]


def test_blind_sheets_hide_the_order_and_the_tally_undoes_it(tmp_path):
    """Each sheet shows photo, painting, 1, 2 with the two results in a drawn order; votes
    given by label count for the method behind it."""
    from PIL import Image

    from bench import blind

    paths = []
    for i, colour in enumerate(["red", "blue", "white", "black"]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (40, 30), colour).save(paths[-1])
    pairs = {f"p{i}": paths for i in range(6)}
    blind.make_sheets(tmp_path, 3, pairs)
    key = json.loads((tmp_path / "key.json").read_text())
    assert set(key.values()) == {"1", "2"}  # both orders drawn among six
    for name, label in key.items():
        sheet = np.asarray(Image.open(tmp_path / "sheets" / f"{name}.png").convert("L"))
        x = 2 * (blind.HEIGHT * 40 // 30 + 8) + 5  # inside the third panel: "1"
        first_shown = sheet[blind.HEIGHT // 2, x] == 255  # white: FIRST (paths[2])
        assert first_shown == (label == "1")
    votes = tmp_path / "votes.json"
    votes.write_text(json.dumps({name: label for name, label in key.items()}))  # all FIRST
    found = blind.tally(tmp_path, [votes, votes])
    assert found["total"] == {"first": 12, "second": 0}
    votes.write_text(json.dumps({"p0": "3"}))  # neither label: no vote for either
    with pytest.raises(SystemExit, match="must be 1 or 2"):
        blind.tally(tmp_path, [votes])


def test_picture_task_writes_what_the_command_line_would(tmp_path, vgg16):
    """The time-to-picture run: nstyle's settings as JSON, the picture written as a file."""
    from nstyle.media import images

    data = bench.export(tmp_path, 64, ROOT / "input" / "content.jpg", ROOT / "input" / "style.jpg")
    out = tmp_path / "picture.jpg"
    run = project(
        data,
        "--task",
        "picture",
        "--options",
        json.dumps({"max_num_epochs": 3, "optimizer": "sgd"}),
        "--out",
        str(out),
    )
    assert run["seconds"] > 0 and run["epochs"] == 3 and run["path"] == str(out)
    assert images.read_image(out).shape == (64, 64, 3)


def test_as_good_means_no_worse_on_either_distance():
    from bench.quality import at_least_as_good

    ref = {"style_distance": 0.2, "content_distance": 0.9}
    assert at_least_as_good(ref, ref)
    assert at_least_as_good({"style_distance": 0.1, "content_distance": 0.9}, ref)
    assert not at_least_as_good({"style_distance": 0.1, "content_distance": 0.91}, ref)
    assert not at_least_as_good({"style_distance": 0.21, "content_distance": 0.5}, ref)


def test_equal_time_snapshots_at_the_budget_and_paints_on_to_the_end(vgg16):
    """``bench.equaltime``: the picture at the budget (here the first epoch) is the judged
    one; the same run goes on to its own end and counts each scale's epochs."""
    from bench.equaltime import paint_within
    from nstyle.api import Painter
    from nstyle.config import Options
    from nstyle.media import images

    photo = images.read_image(ROOT / "input" / "content.jpg")
    painting = images.read_image(ROOT / "input" / "style.jpg")
    options = Options(model="vgg16", max_long_edge=128, num_scales=2, seed=0, style_loss="mixed",
                      min_num_epochs=10, max_num_epochs=20)  # fmt: skip
    painter = Painter([painting], options, weights=vgg16)
    run = paint_within(painter, photo, 0.0)
    end, count = run["end"], run["stopped_at_scale"][1]
    assert count > 1 and run["stopped_at_scale"] == (1, count) and run["epochs"] == 1
    assert not run["finished"] and run["picture"].shape[1] < end["picture"].shape[1] == 128
    assert [s["scale"] for s in end["scales"]] == list(range(1, count + 1))
    assert sum(s["epochs"] for s in end["scales"]) == end["epochs"] > 1
    spent = sum(s["cpu_seconds"] for s in end["scales"])  # each rounded to 0.1 s
    assert end["cpu_seconds"] - 0.2 <= spent <= end["cpu_seconds"] + 0.1
    assert end["cpu_seconds"] >= run["cpu_seconds"] and end["seconds"] >= run["seconds"]
    free = paint_within(painter, photo, None)
    assert free["finished"] and free["epochs"] == free["end"]["epochs"] == end["epochs"]
    assert np.array_equal(free["picture"], end["picture"])  # seeded: the same run


def test_equal_time_candidates_carry_option_changes():
    """A candidate is a loss with option changes read as JSON where they parse."""
    from bench.equaltime import candidate, file_name

    assert candidate("gram") == ("gram", {})
    assert candidate("gram:num_scales=1,init=photo.png") == (
        "gram", {"num_scales": 1, "init": "photo.png"})  # fmt: skip
    assert file_name("gram:num_scales=1,stop_eps=0.01") == "gram_num_scales1_stop_eps0.01"


def test_equal_time_records_each_loss_and_its_time_ratio(tmp_path, vgg16):
    """One run per loss: the first's picture and seconds, the other's at those seconds and
    to its end, with its processor time over the first's."""
    pair = f"{ROOT / 'input' / 'content.jpg'}:{ROOT / 'input' / 'style.jpg'}"
    done = subprocess.run(
        [sys.executable, "-m", "bench.equaltime", "--work", str(tmp_path), "--size", "48",
         "--losses", "gram", "mixed:max_num_epochs=3", "--pairs", pair],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    gram, mixed = (json.loads(line) for line in lines)
    assert gram["finished"] and gram["end"]["cpu_ratio"] == gram["end"]["wall_ratio"] == 1.0
    assert mixed["budget"] == gram["cpu_seconds"] == gram["end"]["cpu_seconds"]
    ratio = mixed["end"]["cpu_seconds"] / gram["end"]["cpu_seconds"]
    assert mixed["end"]["cpu_ratio"] == pytest.approx(ratio, abs=2e-3)
    ended = (tmp_path / "content-style" / "mixed_max_num_epochs3_end.png").exists()
    assert mixed["finished"] == (not ended) and mixed["loss"] == "mixed:max_num_epochs=3"
    assert mixed["end"]["epochs"] <= 3 < gram["end"]["epochs"]  # the change applied
    from PIL import Image

    for loss in ("gram", "mixed_max_num_epochs3"):
        assert max(Image.open(tmp_path / "content-style" / f"{loss}.png").size) == 48
    assert 0 < mixed["style_distance"] and 0 < mixed["end"]["style_distance"]


def test_stop_windows_end_where_the_stop_rule_ends_a_scale(vgg16):
    """``bench.stopwindows``: one row per window end of each coarse scale, the change per
    epoch positive, the objective lower than at the window's start; the first scale's
    last window is where the stop rule (here from epoch 10) found the change under eps."""
    from bench.stopwindows import windows
    from nstyle.api import Painter
    from nstyle.config import Options
    from nstyle.media import images

    photo = images.read_image(ROOT / "input" / "content.jpg")
    painting = images.read_image(ROOT / "input" / "style.jpg")
    options = Options(model="vgg16", max_long_edge=128, num_scales=2, seed=0,
                      min_num_epochs=10, max_num_epochs=40, stop_eps=0.02)  # fmt: skip
    rows = windows(Painter([painting], options, weights=vgg16), photo, 10)
    assert (
        rows
        and {r[0] for r in rows} == {1}
        and [r[1] for r in rows] == list(range(10, 10 * len(rows) + 1, 10))
    )
    assert all(r[2] > 0 and r[3] < 1 for r in rows)
    assert rows[-1][2] < 0.02 or rows[-1][1] == 40  # stopped by the rule, or the budget
