#!/usr/bin/env python3
"""nstyle command line: parse the flags, then call the library.

    python run.py --content-image photo.jpg --style-image painting.jpg --gpu -1
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

try:
    from nstyle.config import Options, Outputs  # noqa: E402  (imports MXNet, after the path)
except OSError as exc:  # MXNet's shared libraries: no driver, missing CUDA libraries
    from nstyle.cuda import explain_import_error

    sys.exit(f"nstyle: error: {explain_import_error(exc)}")

TYPES = {"str": str, "str | None": str, "int": int, "int | None": int, "float": float,
         "float | None": float, "tuple[str, ...]": str, "tuple[float, ...] | None": float}
log = logging.getLogger("nstyle")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py", description="Paint a photo in the style of a painting "
        "(Gatys et al. 2016, MXNet executors).", allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    io = parser.add_argument_group("images and device")
    io.add_argument("--content-image", default=str(HERE / "input" / "content.jpg"),
                    help="the photo")
    io.add_argument("--style-image", nargs="+", default=[str(HERE / "input" / "style.jpg")],
                    help="the painting, or several to blend (see --style-blend-weights)")
    io.add_argument("--output", default="output/out.jpg",
                    help="result; tmp_<epoch>.jpg snapshots go to the same folder")
    io.add_argument("--gpu", type=int, default=None,
                    help="GPU number, -1 for the CPU; default: GPU 0 if the CUDA build of "
                    "MXNet sees one, else the CPU")
    add_fields(parser.add_argument_group("style transfer"), Options)
    add_fields(parser.add_argument_group("progress and snapshots"), Outputs)
    return parser


def add_fields(group, cls) -> None:
    """One flag per dataclass field, its default and help taken from the field."""
    for field in dataclasses.fields(cls):
        flag, text = "--" + field.name.replace("_", "-"), field.metadata["help"]
        if field.type == "bool":
            group.add_argument(flag, action="store_true", help=text)
            continue
        extra = {k: v for k, v in field.metadata.items() if k != "help"}
        group.add_argument(flag, type=TYPES[field.type], default=field.default, help=text,
                           **extra)


def parse_options(argv: list[str]) -> tuple[argparse.Namespace, Options, Outputs]:
    args = build_parser().parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Options)}
    for name, value in values.items():
        if isinstance(value, list):
            values[name] = tuple(value)
    outputs = Outputs(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Outputs)})
    return args, Options(**values), outputs


def _interrupt(signum, frame):
    """SIGTERM ends a run the way Ctrl-C does: the current image is written first."""
    raise KeyboardInterrupt


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a caller may have replaced it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


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
    args, options, outputs = parse_options(argv)
    # Our messages, once: MXNet's scheduler logs on the root logger, which configures it.
    if not log.handlers:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.WARNING if outputs.quiet else logging.INFO)

    import nstyle
    from mxnet.base import MXNetError
    from nstyle import api, config, devices, images, report
    from nstyle.errors import NStyleError

    explicit_model = any(a == "--model" or a.startswith("--model=") for a in argv)
    output = Path(args.output)
    progress = None
    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
    try:
        config.check_options(options, num_layers=19)
        config.check_outputs(outputs)
        content = images.read_image(args.content_image)
        styles = [images.read_image(path) for path in args.style_image]
        config.check_styles(options, len(styles))
        if options.init not in config.INITS:
            images.read_image(options.init)  # fail now, not after loading the network
        check_writable(output.parent)
        ctx = devices.select_context(args.gpu)
        fallback = None if explicit_model or options.weights else "vgg16"
        weights = api.load_weights(options, fallback)
        epochs = options.max_num_epochs * options.num_scales
        with report.Reporter(outputs, output.parent, epochs) as progress:
            result = nstyle.stylize(content, styles, options, ctx=ctx, weights=weights,
                                    callback=progress)
        images.write_image(output, images.denoise(result, outputs.remove_noise))
    except NStyleError as exc:
        kept = ""
        if getattr(exc, "picture", None) is not None:
            images.write_image(output, exc.picture)
            kept = f"; the last good image is in {output}"
        print(f"nstyle: error: {exc}{kept}", file=sys.stderr)
        return 2
    except MXNetError as exc:  # e.g. out of memory: MXNet's first line says what happened
        print(f"nstyle: error: MXNet failed: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: keep the work done so far
        if progress is not None and progress.last is not None:
            images.write_image(output, images.denoise(progress.last.picture(),
                                                      outputs.remove_noise))
            print(f"nstyle: interrupted at epoch {progress.last.epoch}; wrote {output} "
                  f"(continue with --init {output})", file=sys.stderr)
        else:
            print("nstyle: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    last = progress.last
    log.info("wrote %s after %d epochs in %.1f s (%s)", output, last.epoch, last.elapsed,
             weights.description)
    return 0


if __name__ == "__main__":
    sys.exit(main())
