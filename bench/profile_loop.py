#!/usr/bin/env python3
"""Where an iteration's time goes: MXNet's profiler over nstyle's first-order loop.

    .venv/bin/python -m bench.profile_loop [--size 512] [--iters 3]

Operators run one by one (bulk execution off) so each gets its own line; the table is
MXNet's aggregate, in milliseconds over all iterations.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ["MXNET_EXEC_BULK_EXEC_TRAIN"] = "0"  # one profiler entry per operator
os.environ["MXNET_EXEC_BULK_EXEC_INFERENCE"] = "0"

import nstyle  # noqa: E402,F401  (sets MXNet's threads before MXNet loads)

# isort: split
import mxnet as mx  # noqa: E402

from bench import compare, exchange, project  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = compare.export(
            Path(tmp),
            args.size,
            compare.ROOT / "input" / "content.jpg",
            compare.ROOT / "input" / "style.jpg",
        )
        data, weights, settings = exchange.read(path)
        image, loss, tv = project.bind(weights, data["content"], data["style"], settings)
        project.iterations(image, loss, tv, "sgd", 1)  # warm-up
        mx.profiler.set_config(
            profile_all=True, aggregate_stats=True, filename=str(Path(tmp) / "profile.json")
        )
        mx.profiler.set_state("run")
        project.iterations(image, loss, tv, "sgd", args.iters)
        mx.profiler.set_state("stop")
    print(f"{args.size} px, {args.iters} iterations (+2 warm-up inside the profile):")
    print(mx.profiler.dumps(sort_by="total"))


if __name__ == "__main__":
    main()
