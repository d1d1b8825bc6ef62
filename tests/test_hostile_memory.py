"""Hostile sizes and numbers (issue 21, memory): every size or number that no run could
meet, or that would make a plan or a resize allocate without bound, is one
``nstyle: error:`` line and exit 2, at once: the flags' own values before MXNet loads
(the run's import times show it), a picture too large for memory by the
memory plan, which counts tiles instead of listing them. As in ``tests/test_hostile.py``:
real runs of ``run.py`` with the tiny weights at 32 px, each in a folder of its own, every
file fingerprinted before and after. Each run lives under an address-space cap and a
timeout, so a regression fails instead of taking the machine or hanging."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_hostile import (
    BASE,
    RUN,
    check_unchanged,
    environment,
    error_line,
    fingerprint,
    make_folder,
)

ADDRESS_SPACE = 4 << 30  # bytes: MXNet with the tiny network maps about 2.5 GiB
FLAGS_SECONDS = 10  # a flag's own check: Python and nstyle's leaves (0.3 s unloaded)
PLAN_SECONDS = 30  # with MXNet's import and the tiny network (3 s; 226 s before counting)
BIG = 10**30
FOREIGN_WARNING = re.compile(r"^\S+:\d+: \w*Warning: ", re.M)  # Python's warnings' format


def capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@dataclass
class Done:
    returncode: int
    stderr: str
    seconds: float
    imported_mxnet: bool


def run_capped(folder: Path, argv, tmp_path: Path, timeout: float = 120) -> Done:
    """``run.py`` with ``BASE`` and ``argv`` under the cap; its time, and whether it
    imported MXNet (``-X importtime``'s lines, taken out of ``stderr``). (The kernel's peak
    resident memory of a child would not do: it counts pytest's own pages at the fork.)"""
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "w") as err:
        process = subprocess.Popen(
            [sys.executable, "-X", "importtime", str(RUN), *BASE, *argv],
            cwd=folder,
            env=environment(tmp_path / "tmp"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            preexec_fn=capped,
        )
    began = time.monotonic()
    timer = threading.Timer(timeout, process.kill)  # a hang fails, it does not wait
    timer.start()
    try:
        _, status, _ = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    seconds = time.monotonic() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = err_path.read_text().splitlines(keepends=True)
    imports = [line.split("|")[-1].strip() for line in lines if line.startswith("import time:")]
    said = "".join(line for line in lines if not line.startswith("import time:"))
    return Done(process.returncode, said, seconds, any(m.startswith("mxnet") for m in imports))


@dataclass
class Case:
    id: str
    argv: list[str]  # after BASE (later flags win)
    message: str  # in the one error line
    early: bool = True  # refused before MXNet loads (else by the memory plan or at the
    # start image, naming what would fit or the flag to lower)

    def param(self):
        return pytest.param(self, id=self.id)


def at_most(flag: str, value: str, limit: str) -> Case:
    return Case(f"{flag[2:]}={value}", [f"{flag}={value}"], f"{flag} must be at most {limit}")


def positive(flag: str, value: str) -> Case:
    return Case(f"{flag[2:]}={value}", [f"{flag}={value}"], f"{flag} must be > 0")


CASES = [
    # --- sizes no picture can have: MXNet holds fewer than 2^31 numbers in one array
    at_most("--max-long-edge", str(BIG), "44739242"),
    at_most("--max-long-edge", str(2**64), "44739242"),
    at_most("--max-long-edge", str(2**63 - 1), "44739242"),
    at_most("--max-long-edge", "44739243", "44739242"),
    positive("--max-long-edge", str(-BIG)),
    Case("max-long-edge=1e6-float", ["--max-long-edge", "1e6"], "invalid int value: '1e6'"),
    Case("max-long-edge=inf", ["--max-long-edge", "inf"], "invalid int value: 'inf'"),
    # --- style images: their long edge is --max-long-edge times --style-scale
    Case(
        "style-scale=1e300",
        ["--style-scale", "1e300"],
        "--style-scale 1e+300 makes the style images' long edge 3.2e+301 px",
    ),
    Case(
        "style-scale=1e6-at-512px",
        ["--max-long-edge", "512", "--style-scale", "1e6"],
        "long edge 5.12e+08 px at --max-long-edge 512: at most 44739242 px",
    ),
    Case("style-scale=1.7e308", ["--style-scale", "1.7e308"], ": at most 44739242 px"),
    Case("style-scale=1e400", ["--style-scale", "1e400"], "--style-scale must be a finite"),
    Case("style-scale=1e-300", ["--style-scale", "1e-300"], "both sides must be at least 16"),
    Case("style-scale=0.4", ["--style-scale", "0.4"], "long edge 12.8 px at --max-long-edge 32"),
    positive("--style-scale", "-1e300"),
    # --- a memory cap is a byte count of 64 bits
    at_most("--max-memory", "1e300", "8589934592"),
    at_most("--max-memory", "1.7976931348623157e308", "8589934592"),
    at_most("--max-memory", "8589934593", "8589934592"),
    Case("max-memory=inf", ["--max-memory", "inf"], "--max-memory must be a finite number"),
    Case("max-memory=nan", ["--max-memory", "nan"], "--max-memory must be a finite number"),
    positive("--max-memory", "0"),
    positive("--max-memory", "-0.0"),
    positive("--max-memory", "-1e300"),
    # --- scales: their count is checked before any edge is listed
    Case("num-scales=1e18", ["--num-scales", str(10**18)], "the coarsest scale needs 64 px"),
    Case("num-scales=big", ["--num-scales", str(BIG)], "the coarsest scale needs 64 px"),
    Case("num-scales=2", ["--num-scales", "2"], "2 scales from 32 px start at 16 px"),
    Case("num-scales=0", ["--num-scales", "0"], "--num-scales must be >= 1"),
    Case("num-scales=-big", ["--num-scales", str(-BIG)], "--num-scales must be >= 1"),
    # --- numbers MXNet's float32 operators take
    at_most("--lr", "1e300", "3.403e+38"),
    at_most("--lr", "3.5e38", "3.403e+38"),
    at_most("--weight-decay", "1e300", "3.403e+38"),
    positive("--lr", "-1e300"),
    # --- counts: 0, negative and beyond 64 bits
    *(positive(f, v) for f in ("--max-num-epochs", "--min-num-epochs") for v in ("0", str(-BIG))),
    *(positive(f, "0") for f in ("--stop-window", "--check-every", "--lr-sched-step")),
    Case("seed=2^64", ["--seed", str(2**64)], "--seed must be in 0..4294967295, got 1.845e+19"),
    Case("seed=-1", ["--seed", "-1"], "--seed must be in 0..4294967295"),
    Case("max-image-pixels=0", ["--max-image-pixels", "0"], "--max-image-pixels must be >= 1"),
    Case("max-image-pixels=-big", ["--max-image-pixels", str(-BIG)], "must be >= 1"),
    Case("save-epochs=-big", ["--save-epochs", str(-BIG)], "--save-epochs must be >= 0"),
    Case("print-every=-1", ["--print-every", "-1"], "--print-every must be >= 0"),
    # --- other numbers at their extremes
    Case("stop-eps=-1e300", ["--stop-eps=-1e300"], "--stop-eps must be >= 0"),
    Case("momentum=1", ["--momentum", "1"], "--momentum must be in [0, 1)"),
    Case("lr-sched-factor=1e300", ["--lr-sched-factor", "1e300"], "must be in (0, 1]"),
    Case("clip-factor=-1e-300", ["--clip-factor=-1e-300"], "--clip-factor must be > 0"),
    Case("style-weight=-1", ["--style-weight", "-1"], "--style-weight must be >= 0"),
    Case("tv-weight=-1e300", ["--tv-weight=-1e300"], "--tv-weight must be >= 0"),
    Case(
        "content-weight=1e300",
        ["--content-weight", "1e300"],
        "the objective overflows float32 near the start image: --content-weight 1e+300 is",
        early=False,
    ),
    # W2's host side casts its float64 heads to float32: no numpy warning on the way (issue 31)
    *(
        Case(
            f"style-weight={weight}-{loss}-{optimizer}",
            ["--style-weight", weight, "--style-loss", loss, "--optimizer", optimizer],
            f"the objective overflows float32 near the start image: --style-weight {shown} is "
            "too large",
            early=False,
        )
        for weight, shown, loss, optimizer in (
            ("1e35", "1e+35", "w2", "sgd"),
            ("1e35", "1e+35", "w2", "lbfgs"),
            ("3e38", "3e+38", "w2", "adam"),
            ("1e308", "1e+308", "w2", "lbfgs"),  # the content term was named too
            ("1e308", "1e+308", "w2", "sgd"),
            ("1e308", "1e+308", "gram", "lbfgs"),
        )
    ),
    Case("temporal-weight=-1", ["--temporal-weight", "-1"], "--temporal-weight must be >= 0"),
    # photo to photo's term: its host gradient goes to the device without numpy's warning
    Case("matting-weight=-1", ["--matting-weight", "-1"], "--matting-weight must be >= 0"),
    # --- automatic regions: each needs positions at the deepest layer
    at_most("--photo-regions", "17", "16"),
    at_most("--photo-regions", str(2**64), "16"),
    positive("--photo-regions", "0"),
    Case("photo-regions=4-painting", ["--photo-regions", "4"], "only with --photo"),
    Case(
        "matting-weight=1e300",
        ["--photo", "--matting-weight", "1e300"],
        "the objective overflows float32 near the start image: --matting-weight 1e+300 is "
        "too large",
        early=False,
    ),
    Case("remove-noise=-1e300", ["--remove-noise=-1e300"], "--remove-noise must be >= 0"),
    Case(
        "blend-weights=nan",
        ["--style-image", "style.png", "style.png", "--style-blend-weights", "1", "nan"],
        "--style-blend-weights must be a finite number",
    ),
    Case(
        "layer-weights=-1",
        ["--style-layer-weights", "1", "1", "1", "1", "-1"],
        "one weight >= 0 per style layer, got [1.0, 1.0, 1.0, 1.0, -1.0]",
    ),
    # --- pictures too large for memory: the memory plan, which counts its tiles
    *(
        Case(
            f"max-long-edge={edge}",
            ["--max-long-edge", str(edge)],
            f"a {edge}x{round(edge * 40 / 56)} picture needs at least",
            early=False,
        )
        for edge in (20_000, 60_000, 200_000, 44_739_242)
    ),
    Case(
        "style-scale=1e6-at-32px",
        ["--style-scale", "1e6"],
        "the style image at --style-scale 1e+06 is 32000000x22857143",
        early=False,
    ),
    Case(
        "max-memory=1e-300",
        ["--max-long-edge", "200000", "--max-memory", "1e-300"],
        "--max-memory 1e-300 is too small for a 200000x142857 picture",
        early=False,
    ),
]


@pytest.fixture
def case_folder(tmp_path, tiny_weights_file) -> Path:
    return make_folder(tmp_path / "case", tiny_weights_file)


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_a_size_or_number_no_run_can_meet_is_one_line_at_once(case, case_folder, tmp_path):
    before = fingerprint(case_folder)
    done = run_capped(case_folder, case.argv, tmp_path)
    line = error_line(done, only_line=case.early)  # type: ignore[arg-type]
    assert not FOREIGN_WARNING.search(done.stderr), done.stderr
    assert done.returncode == 2 and case.message in line, (case.message, line)
    if case.early:  # the value's own check: MXNet never loaded
        assert done.seconds < FLAGS_SECONDS and not done.imported_mxnet, done
    else:
        assert done.seconds < PLAN_SECONDS, done
        assert any(w in line for w in ("would fit", "would work", "too large")), line
    check_unchanged(before, fingerprint(case_folder))


def test_the_table_covers_every_number_flag():
    """Each numeric flag of a run has at least one case of an extreme value here
    (test_hostile.py's table adds inf and nan for each)."""
    from nstyle import cli

    numeric = {
        a.option_strings[0]
        for a in cli.build_parser()._actions
        if a.type in (int, float) and a.option_strings
    }
    here = {arg.split("=")[0] for c in CASES for arg in c.argv if arg.startswith("--")}
    missing = numeric - here - {"--gpu", "--workers"}  # GPU and Ray: their own suites
    assert not missing, missing


def test_a_cap_above_what_is_free_still_paints(case_folder, tmp_path):
    """The largest --max-memory there is: the plan warns that it is more than is free and
    the run paints its 32-px picture within what it needs."""
    done = run_capped(case_folder, ["--max-memory", "8589934592"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--max-memory 8.58993e+09 is more than the" in done.stderr
    assert (case_folder / "out" / "out.png").is_file()
