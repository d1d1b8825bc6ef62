"""The PyTorch peer: the same objective as nstyle's executors, in PyTorch eager.

Run by ``bench/compare.py`` with ``.venv-bench/bin/python``; reads the arrays that compare.py
exported from the project (the folded VGG weights and the preprocessed images), so both
sides compute the same numbers. Writes one JSON line.

The objective (docs/METHOD.md, "The graph", as nstyle's ``LossExecutor`` and ``TVExecutor``):
``sum_l w_l / (C_l^2 H_l W_l) * sum((G_l - T_l)^2) + content_weight * sum((F - P)^2)``
plus the TV energy ``tv_weight / 2 * x . Lx`` (L the zero-padded Laplacian / 8), whose
gradient is the project's TV gradient ``tv_weight * Lx``.
"""

from __future__ import annotations

import json
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

from bench import exchange

CONVS_PER_BLOCK = [2, 2, 3, 3, 3]  # VGG-16
STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
CONTENT_LAYER = "relu4_2"
LAPLACIAN = [[0, -1, 0], [-1, 4, -1], [0, -1, 0]]


class Objective:
    def __init__(
        self,
        weights: dict[str, np.ndarray],
        content: np.ndarray,
        style: np.ndarray,
        style_weight: float,
        content_weight: float,
        tv_weight: float,
    ):
        self.p = {k: torch.from_numpy(v) for k, v in weights.items()}
        self.tv_weight = tv_weight
        self.laplacian = (
            (torch.tensor(LAPLACIAN, dtype=torch.float32) / 8).expand(3, 1, 3, 3).contiguous()
        )
        with torch.no_grad():
            fc = self.features(torch.from_numpy(content))
            fs = self.features(torch.from_numpy(style))
        self.content_target = fc[CONTENT_LAYER]
        self.style_targets, self.heads = {}, {}
        for name in STYLE_LAYERS:
            _, c, h, w = fc[name].shape
            _, _, hs, ws = fs[name].shape
            # the Gram brought to the output's positions, as nstyle.engine.scale.style_targets
            self.style_targets[name] = self.gram(fs[name]) * (h * w / (hs * ws))
            self.heads[name] = style_weight / (c * c * h * w)
        self.content_weight = content_weight

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {}
        for block, count in enumerate(CONVS_PER_BLOCK, start=1):
            for i in range(1, count + 1):
                name = f"{block}_{i}"
                x = F.relu(
                    F.conv2d(x, self.p[f"conv{name}_weight"], self.p[f"conv{name}_bias"], padding=1)
                )
                out["relu" + name] = x
                if block == 5:  # relu5_1 is the deepest layer read
                    return out
            x = F.avg_pool2d(x, 2)
        return out

    @staticmethod
    def gram(feature: torch.Tensor) -> torch.Tensor:
        x = feature.reshape(feature.shape[1], -1)
        return x @ x.t()

    def losses(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(style + content loss, TV energy) of the image ``x``."""
        f = self.features(x)
        loss = self.content_weight * ((f[CONTENT_LAYER] - self.content_target) ** 2).sum()
        for name in STYLE_LAYERS:
            loss = (
                loss
                + self.heads[name] * ((self.gram(f[name]) - self.style_targets[name]) ** 2).sum()
            )
        return loss, 0.5 * (x * self.tv_gradient(x)).sum()

    def tv_gradient(self, x: torch.Tensor) -> torch.Tensor:
        return self.tv_weight * F.conv2d(x, self.laplacian, padding=1, groups=3)


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def check(objective: Objective, x0: np.ndarray, out: str) -> dict:
    """Value and gradient of the whole objective at ``x0``; the gradient saved to ``out``."""
    x = torch.from_numpy(x0.copy()).requires_grad_()
    loss, tv = objective.losses(x)
    (loss + tv).backward()
    np.save(out, x.grad.numpy())
    return {"value": float(loss + tv)}


def sgd_iterations(
    objective: Objective, x0: np.ndarray, n: int, lr=1e-3, momentum=0.9, weight_decay=5e-4
) -> None:
    """nstyle's first-order loop: clip ||grad|| at N, add the TV gradient, momentum SGD."""
    x = torch.from_numpy(x0.copy()).requires_grad_()
    opt = torch.optim.SGD([x], lr=lr, momentum=momentum, weight_decay=weight_decay)
    clip = float(x.numel())
    for _ in range(n):
        opt.zero_grad()
        loss, _ = objective.losses(x)
        loss.backward()
        with torch.no_grad():
            x.grad.mul_(torch.clamp(clip / (x.grad.norm() + 1e-12), max=1.0))
            x.grad.add_(objective.tv_gradient(x))
        opt.step()


START_VALUE = 1e7  # the peer's L-BFGS sees the objective scaled to start here (see lbfgs)


def lbfgs_on(objective: Objective, x0: np.ndarray, iters: int, history: int, line_search):
    """torch.optim.LBFGS on a copy of ``x0``: (the image tensor, the optimiser, a function
    that evaluates the scaled objective and its gradient).

    The objective is scaled to start at ``START_VALUE``: the same minimiser, but PyTorch's
    float32 L-BFGS depends on the scale. Measured at 256 px, 30 evaluations: on the raw
    objective (about 1e13 there, 1.2e14 at 512 px) it stalls without a line search and
    turns to NaN with the strong-Wolfe one; scaled to start at 1 its curvature test
    (y.s > 1e-10) rejects every pair and it stalls again; starting at 1e3, 1e5, 1e7 or 1e9
    it reaches 0.028, 0.070, 0.0072 and 0.0093 of the start without a line search (0.0065
    to 0.0066 with strong Wolfe at 1e5 and 1e7): 1e7 is the best. nstyle's L-BFGS
    (scipy's, float64) takes the objective as it is.
    """
    x = torch.from_numpy(x0.copy()).requires_grad_()
    with torch.no_grad():
        scale = START_VALUE / float(sum(objective.losses(x)))
    opt = torch.optim.LBFGS(
        [x],
        lr=1,
        max_iter=iters,
        max_eval=2 * iters,
        history_size=history,
        tolerance_grad=0,
        tolerance_change=0,
        line_search_fn=line_search,
    )

    def evaluate():
        opt.zero_grad()
        loss, tv = objective.losses(x)
        total = (loss + tv) * scale
        total.backward()
        return total

    return x, opt, evaluate


def lbfgs(objective: Objective, x0: np.ndarray, n: int, history: int, line_search) -> int:
    """torch.optim.LBFGS for ``n`` iterations on the whole objective; the number of
    evaluations."""
    _, opt, evaluate = lbfgs_on(objective, x0, n, history, line_search)
    evaluations = 0

    def closure():
        nonlocal evaluations
        evaluations += 1
        return evaluate()

    opt.step(closure)
    return evaluations


class Reached(Exception):
    """The trace has run its time."""


def picture_trace(
    objective: Objective, x0: np.ndarray, seconds: float, history: int, folder: str
) -> list[tuple[float, str]]:
    """torch.optim.LBFGS with strong Wolfe for ``seconds`` of optimisation, the image at
    every evaluation saved to ``folder``: (seconds of optimisation, file) per evaluation.

    The clock stops while an image is saved. Every evaluation's image counts, line-search
    trial points included: the peer's picture at a time is the best it has seen by then,
    which can only favour the peer.
    """
    x, opt, evaluate = lbfgs_on(objective, x0, 10**6, history, "strong_wolfe")
    trace: list[tuple[float, str]] = []
    spent, begin = 0.0, time.perf_counter()

    def closure():
        nonlocal spent, begin
        total = evaluate()
        spent += time.perf_counter() - begin
        path = f"{folder}/frame_{len(trace):04d}.npy"
        np.save(path, x.detach().numpy())
        trace.append((spent, path))
        if spent >= seconds:
            raise Reached
        begin = time.perf_counter()
        return total

    try:
        opt.step(closure)
    except Reached:
        pass
    return trace


def main() -> None:
    parser = exchange.worker_parser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--history", type=int, default=20)
    parser.add_argument("--line-search", default=None)
    parser.add_argument("--seconds", type=float, default=300, help="trace: optimisation time")
    parser.add_argument("--frames", help="trace: folder for every evaluation's image")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data, weights, s = exchange.read(args.data)
    objective = Objective(
        weights,
        data["content"],
        data["style"],
        s["style_weight"],
        s["content_weight"],
        s["tv_weight"],
    )
    x0 = data["content"]
    result = {"threads": torch.get_num_threads(), "version": torch.__version__}
    if args.task == "check":
        result.update(check(objective, x0, args.grad_out))
    elif args.task == "trace":
        result["trace"] = picture_trace(objective, x0, args.seconds, args.history, args.frames)
    elif args.task == "sgd":
        sgd_iterations(objective, x0, 2)  # warm-up: oneDNN primitives and allocations
        start = time.perf_counter()
        sgd_iterations(objective, x0, args.iters)
        result["seconds"] = (time.perf_counter() - start) / args.iters
        result["evaluations"] = args.iters
    else:  # lbfgs: seconds per evaluation (objective and gradient), and evaluations per step
        lbfgs(objective, x0, 2, args.history, args.line_search)
        start = time.perf_counter()
        evaluations = lbfgs(objective, x0, args.iters, args.history, args.line_search)
        result["seconds"] = (time.perf_counter() - start) / evaluations
        result["evaluations"] = evaluations
    result["peak_rss"] = peak_rss()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
