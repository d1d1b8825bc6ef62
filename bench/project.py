"""The project's side of the benchmark: nstyle's own executors and optimisation loop.

Run by ``bench/compare.py`` with the project's Python (nstyle installed); reads the same
arrays as the PyTorch peer and writes one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import time

import nstyle  # noqa: F401  (sets MXNet's threads before MXNet loads)

# isort: split
import mxnet as mx
import numpy as np

from bench import exchange
from nstyle.api import transfer
from nstyle.config import Options, Outputs
from nstyle.engine.objective import LossExecutor
from nstyle.engine.pixels import TVExecutor
from nstyle.engine.scale import style_targets
from nstyle.engine.solvers import optimize
from nstyle.engine.terms import Network
from nstyle.media import images
from nstyle.spec import CONTENT_LAYERS, STYLE_LAYERS
from nstyle.weights import obtain


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bind(weights: dict[str, np.ndarray], content: np.ndarray, style: np.ndarray, s: dict):
    """The loss and TV executors bound to an image that starts as ``content``."""
    net = Network.build(weights, 16, STYLE_LAYERS, CONTENT_LAYERS, "avg", mx.cpu())
    targets = style_targets(net, [style], np.ones(1), content.shape)
    targets.update(
        {k: v for k, v in net.targets(content).items() if k.startswith("target_content_")}
    )
    image = mx.nd.array(content)
    loss = LossExecutor(net, targets, image, s["style_weight"], s["content_weight"])
    return image, loss, TVExecutor(image, s["tv_weight"])


def check(image, loss, tv, out: str) -> dict:
    """Value and gradient of the whole objective at the start image (as L-BFGS sees them)."""
    loss.step()
    smooth = tv.forward()
    grad = (loss.grad + smooth).asnumpy()
    losses = sum(loss.weighted_losses().values())
    value = losses + 0.5 * float(mx.nd.sum(image * smooth).asscalar())
    np.save(out, grad)
    return {"value": value, "losses": losses}


def iterations(image, loss, tv, optimizer: str, n: int) -> dict:
    """``nstyle.engine.solvers`` for ``n`` iterations, no early stop: seconds per evaluation
    of the objective and gradient (for SGD, per iteration) and the number of evaluations."""
    evaluations = 0
    step = loss.step

    def counted() -> None:
        nonlocal evaluations
        evaluations += 1
        step()

    loss.step = counted
    start_image = image.copy()
    # the defaults' loop, run for exactly n iterations
    options = Options(optimizer=optimizer, stop_eps=0.0, min_num_epochs=n, max_num_epochs=n)
    optimize(loss, tv, image, options.replace(min_num_epochs=2, max_num_epochs=2))
    mx.nd.waitall()  # warm-up done: oneDNN primitives and the memory pool
    image[:] = start_image
    evaluations = 0
    start = time.perf_counter()
    optimize(loss, tv, image, options)
    mx.nd.waitall()
    return {"seconds": (time.perf_counter() - start) / evaluations, "evaluations": evaluations}


def picture(data, size: int, settings: dict, out: str) -> dict:
    """A run as the command line makes it (``Options`` defaults but for ``settings``) on the
    exported images, written as the command line writes it (denoised by ``--remove-noise``,
    default unless in ``settings``). Seconds from the images in memory to the picture."""
    remove_noise = settings.pop("remove_noise", Outputs().remove_noise)
    options = Options(model="vgg16", max_long_edge=size, **settings)
    weights = obtain("vgg16")
    start = time.perf_counter()
    result = transfer(data["content_rgb"], data["style_rgb"], options, weights=weights)
    seconds = time.perf_counter() - start
    images.write_image(out, images.denoise(result.image, remove_noise))
    return {"seconds": seconds, "epochs": result.epochs, "reason": result.reason, "path": out}


def main() -> None:
    parser = exchange.worker_parser()
    parser.add_argument("--options", default="{}", help="picture: Options fields, as JSON")
    parser.add_argument("--out", help="picture: the file to write")
    args = parser.parse_args()
    data, weights, s = exchange.read(args.data)
    result = {"threads": int(os.environ.get("OMP_NUM_THREADS", 0)), "version": mx.__version__}
    if args.task == "picture":
        result.update(picture(data, s["size"], json.loads(args.options), args.out))
    else:
        image, loss, tv = bind(weights, data["content"], data["style"], s)
        if args.task == "check":
            result.update(check(image, loss, tv, args.grad_out))
        else:
            result.update(iterations(image, loss, tv, args.task, args.iters))
    result["peak_rss"] = peak_rss()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
