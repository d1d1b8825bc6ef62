"""Gram against Wasserstein-2 (issue 25): the balance of the two style terms, and the
pictures each paints on several photo/painting pairs.

    .venv/bin/python -m bench.styleloss balance --pairs PHOTO:PAINTING ... [--size 512]
    .venv/bin/python -m bench.styleloss paint --pairs PHOTO:PAINTING ... --work DIR [--size 512]
    .venv/bin/python -m bench.styleloss cost --pairs PHOTO:PAINTING [--size 512] [--rounds 5]
        [--losses gram w2 mixed]

``balance`` prints, per pair at the photo itself (the default start), the norm of the style
term's gradient with the Gram loss and with the W2 loss (each at --style-weight 1): how
much harder one pulls there. ``paint`` runs ``run.py --model vgg16`` with the default
settings and each ``--style-loss`` (W2 also at each of ``--w2-weights``, its
``--style-weight``: the W2 term's weight is linear in it, so this tries other values of
``W2_SCALE``), and prints one JSON line per picture: time, epochs, ``bench.quality``'s
three distances. ``cost`` times one evaluation of the
objective (forward, backward, the losses read: what an epoch costs) with each loss (gram
first: the others' ratios are to it),
alternating in rounds so that both see the same machine, and prints the medians and ratio.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import mxnet as mx
import numpy as np

from bench.quality import Judge
from nstyle.engine.objective import LossExecutor
from nstyle.engine.scale import image_targets, style_targets
from nstyle.engine.terms import Network
from nstyle.media import images

ROOT = Path(__file__).resolve().parents[1]


def pair(text: str) -> tuple[Path, Path]:
    photo, painting = text.split(":")
    return Path(photo), Path(painting)


def executors(
    judge: Judge, photo: Path, painting: Path, size: int, losses=("gram", "w2")
) -> dict[str, LossExecutor]:
    """Each of ``losses``' executor (weights 1) on the photo at ``size``, against the
    painting."""
    mean = judge.weights.convention.mean_pixel
    content = images.resize_long_edge(images.read_image(photo), size)
    style = images.resize_long_edge(images.read_image(painting), size)
    x = images.preprocess(content, mean)
    net: Network = judge.net
    targets = style_targets(net, [images.preprocess(style, mean)], [1.0], x.shape)
    targets.update(image_targets(net, x, "content"))
    image = mx.nd.array(x)
    return {k: LossExecutor(net, targets, image, 1.0, 1.0, style_loss=k) for k in losses}


def style_gradient_norms(judge: Judge, photo: Path, painting: Path, size: int) -> dict:
    """The style term's gradient norm at the photo, with each loss at --style-weight 1."""
    losses = executors(judge, photo, painting, size)
    found = {k: loss.term_gradient_norms()["style_weight"] for k, loss in losses.items()}
    found["content_per_weight"] = losses["w2"].term_gradient_norms()["content_weight"]
    return found


def evaluation_seconds(judge: Judge, photo: Path, painting: Path, size: int, rounds: int,
                       names=("gram", "w2")):  # fmt: skip
    """Median seconds of one evaluation with each loss, in alternating rounds of 3: wall
    seconds, and the process's processor seconds (``<loss>_cpu``: on a shared machine, the
    work done whatever the other loads)."""
    losses = executors(judge, photo, painting, size, names)
    times: dict[str, list[float]] = {k: [] for k in losses}
    times.update({f"{k}_cpu": [] for k in losses})
    for turn in range(rounds + 1):  # the first round warms up
        for name, loss in losses.items():
            for _ in range(3):
                start, cpu = time.perf_counter(), time.process_time()
                loss.step()
                loss.weighted_losses()
                loss.grad.wait_to_read()
                if turn:
                    times[name].append(time.perf_counter() - start)
                    times[f"{name}_cpu"].append(time.process_time() - cpu)
    return {k: float(np.median(v)) for k, v in times.items()}


def paint(photo: Path, painting: Path, loss: str, out: Path, size: int, weight: str) -> dict:
    """Run the command line once (unless ``out`` is there from an earlier run): its wall
    time and epochs."""
    record = out.with_suffix(".json")
    if out.exists() and record.exists():
        return json.loads(record.read_text())
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(ROOT / "run.py"), "--model", "vgg16", "--gpu", "-1",
               "--content-image", str(photo), "--style-image", str(painting),
               "--max-long-edge", str(size), "--style-loss", loss, "--save-epochs", "0",
               "--seed", "0", "--quiet", "--output", str(out),
               "--log", str(out.with_suffix(".csv"))]  # fmt: skip
    command += ["--style-weight", weight] if weight else []
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    with open(out.with_suffix(".csv")) as log:
        epochs = int(list(csv.DictReader(log))[-1]["epoch"])
    found = {"seconds": round(seconds, 1), "epochs": epochs}
    record.write_text(json.dumps(found))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("balance", "paint", "cost"))
    parser.add_argument("--pairs", type=pair, nargs="+", required=True)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/nstyle-styleloss"))
    parser.add_argument("--losses", nargs="+", default=["gram", "w2"])
    parser.add_argument("--w2-weights", nargs="+", default=[""], help="W2's --style-weight")
    args = parser.parse_args()
    judge = Judge()
    for photo, painting in args.pairs:
        name = f"{photo.stem}-{painting.stem}"
        if args.what == "cost":
            found = evaluation_seconds(judge, photo, painting, args.size, args.rounds, args.losses)
            ratios = {f"{k}/gram": round(found[k] / found["gram"], 3) for k in args.losses[1:]} | {
                f"{k}/gram_cpu": round(found[f"{k}_cpu"] / found["gram_cpu"], 3)
                for k in args.losses[1:]
            }
            print(json.dumps({"pair": name, "size": args.size, **found, **ratios}), flush=True)
            continue
        if args.what == "balance":
            norms = style_gradient_norms(judge, photo, painting, args.size)
            print(json.dumps({"pair": name, **norms, "ratio": norms["gram"] / norms["w2"]}))
            continue
        style = images.resize_long_edge(images.read_image(painting), args.size)
        reference = judge.against(images.read_image(photo), style)
        for loss in args.losses:
            for weight in args.w2_weights if loss == "w2" else [""]:
                out = args.work / name / f"{loss}{weight}.png"
                ran = paint(photo, painting, loss, out, args.size, weight)
                picture = images.read_image(out)
                found = reference.measure(picture)
                print(json.dumps({"pair": name, "loss": loss, "style_weight": weight,
                                  **ran, **found}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
