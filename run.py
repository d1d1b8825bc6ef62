#!/usr/bin/env python3
"""nstyle command line: parse the flags, then call the library.

    python run.py --content-image photo.jpg --style-image painting.jpg --gpu -1
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
# MXNet and its oneDNN kernels print to stderr on import; keep the terminal for us.
os.environ.setdefault("MXNET_SUBGRAPH_VERBOSE", "0")
# MXNet's own OpenMP default oversubscribes small machines: measured on 2 cores, 256 px,
# one VGG-16 forward+backward takes 0.96 s by default and 0.58 s with one thread per core.
os.environ.setdefault("OMP_NUM_THREADS", str(len(os.sched_getaffinity(0))))

try:
    from nstyle.config import Options  # noqa: E402  (imports MXNet, after the path is set)
except OSError as exc:  # MXNet's shared libraries: no driver, missing CUDA libraries
    from nstyle.cuda import explain_import_error

    sys.exit(f"nstyle: error: {explain_import_error(exc)}")

TYPES = {"str": str, "str | None": str, "int": int, "int | None": int, "float": float,
         "tuple[str, ...]": str}
log = logging.getLogger("nstyle")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py", description="Paint a photo in the style of a painting "
        "(Gatys et al. 2016, MXNet executors).", allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    io = parser.add_argument_group("images and device")
    io.add_argument("--content-image", default=str(HERE / "input" / "content.jpg"),
                    help="the photo")
    io.add_argument("--style-image", default=str(HERE / "input" / "style.jpg"),
                    help="the painting")
    io.add_argument("--output", default="output/out.jpg",
                    help="result; tmp_<epoch>.jpg snapshots go to the same folder")
    io.add_argument("--gpu", type=int, default=None,
                    help="GPU number, -1 for the CPU; default: GPU 0 if the CUDA build of "
                    "MXNet sees one, else the CPU")
    opts = parser.add_argument_group("style transfer")
    for field in dataclasses.fields(Options):
        extra = {k: v for k, v in field.metadata.items() if k != "help"}
        opts.add_argument("--" + field.name.replace("_", "-"), type=TYPES[field.type],
                          default=field.default, help=field.metadata["help"], **extra)
    return parser


def parse_options(argv: list[str]) -> tuple[argparse.Namespace, Options]:
    args = build_parser().parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Options)}
    for name in ("style_layers", "content_layers"):
        values[name] = tuple(values[name])
    return args, Options(**values)


def check_writable(folder: Path) -> None:
    """Fail now, not after the work, when results cannot be written into ``folder``."""
    from nstyle.errors import NStyleError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise NStyleError(f"cannot write into {folder} ({exc.strerror or exc})") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args, options = parse_options(argv)
    # Our messages, once: MXNet's scheduler logs on the root logger, which configures it.
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    import nstyle
    from nstyle import api, devices, images
    from mxnet.base import MXNetError
    from nstyle.errors import NStyleError

    explicit_model = any(a == "--model" or a.startswith("--model=") for a in argv)
    output = Path(args.output)
    try:
        api.check_options(options, num_layers=19)
        content = images.read_image(args.content_image)
        style = images.read_image(args.style_image)
        check_writable(output.parent)
        ctx = devices.select_context(args.gpu)
        fallback = None if explicit_model or options.weights else "vgg16"
        weights = api.load_weights(options, fallback)

        def progress(it: nstyle.Iterate) -> None:
            if it.epoch == 1 or it.epoch % 10 == 0:
                log.info("epoch %4d  style %.4g  content %.4g  change %.2e  lr %.2e  %.2f s/epoch",
                         it.epoch, it.style_loss, it.content_loss, it.rel_change, it.lr,
                         it.elapsed / it.epoch)
            if it.epoch % options.save_epochs == 0:
                path = images.write_image(output.parent / f"tmp_{it.epoch}.jpg",
                                          images.denoise(it.picture(), options.remove_noise))
                log.info("saved %s", path)
            progress.last = it

        progress.last = None
        result = nstyle.stylize(content, style, options, ctx=ctx, weights=weights,
                                callback=progress)
        images.write_image(output, images.denoise(result, options.remove_noise))
    except NStyleError as exc:
        print(f"nstyle: error: {exc}", file=sys.stderr)
        return 2
    except MXNetError as exc:  # e.g. out of memory: MXNet's first line says what happened
        print(f"nstyle: error: MXNet failed: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nstyle: interrupted", file=sys.stderr)
        return 130
    last = progress.last
    log.info("wrote %s after %d epochs in %.1f s (%s)", output, last.epoch, last.elapsed,
             weights.description)
    return 0


if __name__ == "__main__":
    sys.exit(main())
