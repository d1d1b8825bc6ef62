#!/usr/bin/env python3
"""Where an iteration's time goes: MXNet's profiler over nstyle's first-order loop.

    .venv/bin/python bench/profile_loop.py [--size 512] [--iters 3]

Operators run one by one (bulk execution off) so each gets its own line; the table is
MXNet's aggregate, in milliseconds over all iterations.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

os.environ["MXNET_EXEC_BULK_EXEC_TRAIN"] = "0"  # one profiler entry per operator
os.environ["MXNET_EXEC_BULK_EXEC_INFERENCE"] = "0"
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import mxnet as mx  # noqa: E402

import exchange  # noqa: E402  (bench/exchange.py)
import project  # noqa: E402  (bench/project.py)

_spec = importlib.util.spec_from_file_location("bench_run", HERE / "run.py")
bench = importlib.util.module_from_spec(_spec)  # bench/run.py (the project has a run.py too)
_spec.loader.exec_module(bench)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = bench.export(Path(tmp), args.size, bench.ROOT / "input" / "content.jpg",
                            bench.ROOT / "input" / "style.jpg")
        data, weights, settings = exchange.read(path)
        image, loss, tv = project.bind(weights, data["content"], data["style"], settings)
        project.iterations(image, loss, tv, "sgd", 1)  # warm-up
        mx.profiler.set_config(profile_all=True, aggregate_stats=True,
                               filename=str(Path(tmp) / "profile.json"))
        mx.profiler.set_state("run")
        project.iterations(image, loss, tv, "sgd", args.iters)
        mx.profiler.set_state("stop")
    print(f"{args.size} px, {args.iters} iterations (+2 warm-up inside the profile):")
    print(mx.profiler.dumps(sort_by="total"))


if __name__ == "__main__":
    main()
