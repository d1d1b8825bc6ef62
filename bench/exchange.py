"""The arrays bench/compare.py hands to both sides, and the flags both workers share.

numpy only: imported by the project's side (MXNet) and by the PyTorch peer alike.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

WEIGHT = "w:"  # prefix of the weight arrays in the npz


def write(path, content, style, content_rgb, style_rgb, settings: dict, weights: dict) -> None:
    np.savez(
        path,
        content=content,
        style=style,
        content_rgb=content_rgb,
        style_rgb=style_rgb,
        settings=json.dumps(settings),
        **{WEIGHT + k: v for k, v in weights.items()},
    )


def read(path):
    """(all arrays, the folded VGG weights by name, the settings dict)."""
    data = np.load(path)
    weights = {k[len(WEIGHT) :]: data[k] for k in data.files if k.startswith(WEIGHT)}
    return data, weights, json.loads(str(data["settings"]))


def worker_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True, help="npz written by bench/compare.py")
    parser.add_argument(
        "--task", choices=("check", "sgd", "lbfgs", "trace", "picture"), required=True
    )
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--grad-out", help="check: write the gradient here (.npy)")
    return parser
