"""The command line: parse the flags, check everything knowable, then call the library.

    nstyle --content-image photo.jpg --style-image painting.jpg --gpu -1
    python run.py ...            (the same, from a checkout)

Flags come from the ``Options`` and ``Outputs`` fields. Images, options and every file the
run will write are checked before MXNet is even imported, so a mistake costs a fraction of
a second and one line: ``nstyle: error: ...``. Exit codes: 0 done, 2 a problem you can fix,
1 an MXNet failure, 130 Ctrl-C, 143 SIGTERM.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from nstyle import config, files
from nstyle.config import Options, Outputs, flag
from nstyle.errors import (
    Diverged,
    FrameworkFailure,
    NStyleError,
    Terminated,
    error_line,
    exit_code,
    mxnet_failed,
    one_line,
)
from nstyle.media import images
from nstyle.spec import MODELS

SAMPLES = Path(__file__).resolve().parents[2] / "input"  # the checkout's bundled pictures
TYPES = {
    "str": str,
    "str | None": str,
    "int": int,
    "int | None": int,
    "float": float,
    "float | None": float,
    "tuple[str, ...]": str,
    "tuple[float, ...] | None": float,
}
SHOWN = {"gpu": "auto"}  # defaults whose meaning is not their value
log = logging.getLogger("nstyle")


class Signals:
    """Ctrl-C and SIGTERM. Raised at once, except while the optimisation runs: there a
    signal is kept and raised at the end of the epoch (``check``), a point where Python is
    not inside MXNet's own code (an exception raised in an array's ``__del__`` would be
    swallowed, one raised in its ``__init__`` leaves a half-made array). A second signal
    during the same epoch is raised as soon as Python is out of MXNet's code: at once, or
    from a timer that looks again every few milliseconds (MXNet's Python calls are short:
    its long work runs in C++, where Python handles no signal anyway)."""

    defer = False
    pending: KeyboardInterrupt | None = None
    urgent: KeyboardInterrupt | None = None  # a second signal, raised at the next safe point
    RETRY_SECONDS = 0.005

    @classmethod
    def handler(cls, signum, frame) -> None:
        interrupt = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        if cls.defer and cls.pending is None:
            cls.pending = interrupt
            return
        cls.urgent = cls.urgent or interrupt
        cls._raise_when_safe(frame)

    @classmethod
    def _raise_when_safe(cls, frame) -> None:
        if inside_mxnet(frame):
            signal.setitimer(signal.ITIMER_REAL, cls.RETRY_SECONDS)  # -> retry
            return
        interrupt = cls.urgent
        cls.reset()
        if interrupt is not None:
            raise interrupt

    @classmethod
    def retry(cls, signum, frame) -> None:
        """SIGALRM's handler: the timer set while a second signal waited for a safe point."""
        cls._raise_when_safe(frame)

    @classmethod
    def check(cls) -> None:
        interrupt = cls.pending
        if interrupt is not None:
            cls.reset()
            raise interrupt

    @classmethod
    def reset(cls) -> None:
        """Nothing deferred, nothing pending, no timer (one firing later would find
        SIGALRM's default handler, which kills the process)."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        cls.defer, cls.pending, cls.urgent = False, None, None


MXNET_CODE = os.sep + "mxnet" + os.sep


def inside_mxnet(frame) -> bool:
    """Whether Python is running MXNet's own code at ``frame`` or in a caller of it."""
    while frame is not None:
        if MXNET_CODE in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


def shown_default(action: argparse.Action) -> str:
    """A flag's default as the help and the README show it."""
    if action.dest in SHOWN:
        return SHOWN[action.dest]
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if action.default is None:
        return "none"
    if isinstance(action.default, (list, tuple)):
        return " ".join(map(str, action.default))
    return str(action.default)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is argparse.SUPPRESS or not action.option_strings:
            return text
        return f"{text} (default: {shown_default(action)})"

    def _split_lines(self, text: str, width: int) -> list[str]:
        """As argparse's, but a flag named in a help text is never split at its hyphens."""
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other failure
        error(f"{message} (see {self.prog} --help)")
        self.exit(2)


def build_parser(prog: str = "nstyle") -> argparse.ArgumentParser:
    parser = Parser(
        prog=prog,
        description="Paint a photo in the style of a painting "
        "(Gatys et al. 2016, MXNet executors).",
        allow_abbrev=False,
        formatter_class=HelpFormatter,
    )
    io = parser.add_argument_group("images and device")
    io.add_argument(
        "--content-image",
        nargs="+",
        default=["input/content.jpg"],
        help="the photo (the default is the bundled sample); or several files, folders and "
        "patterns (quoted: 'photos/*.jpg'), or videos: then --output is a folder, one result "
        "per input, and running the same command again paints only what is missing or changed",
    )
    io.add_argument(
        "--style-image",
        nargs="+",
        default=["input/style.jpg"],
        help="the painting, or several to blend (see --style-blend-weights)",
    )
    io.add_argument(
        "--output",
        default="output/out.jpg",
        help="result (.jpg or .png); tmp_<epoch>.jpg snapshots go to the same "
        "folder, where one run at a time may write; with several inputs a folder (default: "
        "output/), with one video the video file (.mp4, .m4v, .mov) or a folder",
    )
    io.add_argument(
        "--gpu",
        type=int,
        default=None,
        help="GPU number, -1 for the CPU; default: GPU 0 if the CUDA build of "
        "MXNet sees one, else the CPU",
    )
    io.add_argument(
        "--max-image-pixels",
        type=int,
        default=images.MAX_IMAGE_PIXELS,
        help="refuse image files larger than this many pixels (a guard against "
        "decompression bombs)",
    )
    add_fields(parser.add_argument_group("style transfer"), Options)
    add_fields(parser.add_argument_group("progress and snapshots"), Outputs)
    many = parser.add_argument_group("many pictures")
    many.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="paint on a Ray cluster of N workers started on this machine for the run, each "
        "with cores/N threads; default: in this process, one picture after another",
    )
    many.add_argument(
        "--ray-address",
        default=None,
        metavar="HOST:PORT",
        help="paint on the running Ray cluster whose head is at HOST:PORT (as `ray start "
        "--head` prints it): one worker per machine; each needs nstyle installed",
    )
    return parser


def add_fields(group, cls) -> None:
    """One flag per dataclass field, its default and help taken from the field."""
    for field in dataclasses.fields(cls):
        text = field.metadata["help"]
        if field.type == "bool":
            group.add_argument(flag(field.name), action="store_true", help=text)
            continue
        extra = {k: v for k, v in field.metadata.items() if k != "help"}
        group.add_argument(
            flag(field.name), type=TYPES[str(field.type)], default=field.default, help=text, **extra
        )


def parse_options(
    argv: list[str], prog: str = "nstyle"
) -> tuple[argparse.Namespace, Options, Outputs]:
    args = build_parser(prog).parse_args(argv)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Options)}
    for name, value in values.items():
        if isinstance(value, list):
            values[name] = tuple(value)
    outputs = Outputs(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Outputs)})
    try:
        options = Options(**values)  # each value's checks: one line, as argparse's own
    except NStyleError as exc:
        error(str(exc))
        raise SystemExit(2) from None
    return args, options, outputs


def bundled(path: str, default: str) -> Path:
    """``path``; the default sample is found in the checkout from any working folder."""
    if path == default and not Path(path).exists() and (SAMPLES / Path(path).name).exists():
        return SAMPLES / Path(path).name
    return Path(path)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (a caller may have replaced it),
    each message on one line."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record))  # a file name cannot split a line


def check_flags(options: Options, outputs: Outputs, args: argparse.Namespace) -> None:
    """The flags' values on their own, before any file is read."""
    config.check_options(options, None if options.weights else MODELS[options.model])
    config.check_outputs(outputs)
    if args.max_image_pixels < 1:
        raise NStyleError(f"--max-image-pixels must be >= 1, got {args.max_image_pixels}")


class Run:
    """One command-line run: its checks, the painting, and what it writes."""

    def __init__(self, argv: list[str], prog: str):
        self.argv = argv
        self.args, self.options, self.outputs = parse_options(argv, prog)
        self.output = Path(self.args.output)
        self.progress: Any = None  # nstyle.report.Reporter, once the work starts
        self.result: Any = None  # nstyle.api.Result, once the work is done

    def check(self) -> None:
        """Everything knowable before any work: options, images, files, the folder lock."""
        options, outputs, args = self.options, self.outputs, self.args
        check_flags(options, outputs, args)
        self.content_path = bundled(args.content_image[0], "input/content.jpg")
        self.style_paths = [bundled(p, "input/style.jpg") for p in args.style_image]
        self.content = images.read_image(self.content_path, args.max_image_pixels)
        self.styles = [images.read_image(p, args.max_image_pixels) for p in self.style_paths]
        config.check_styles(options, len(self.styles))
        init, self.init = None, None
        if options.init not in config.INITS:  # read once, under this run's limit
            self.init = images.read_image(options.init, args.max_image_pixels)
            init = Path(options.init)
        inputs = [self.content_path, *self.style_paths]
        if options.weights:
            inputs.append(Path(options.weights))
        self.files = files.RunFiles(
            tuple(inputs),
            init,
            self.output,
            Path(outputs.log) if outputs.log else None,
            outputs.save_epochs,
            config.total_epochs(options),
        )
        self.files.check()

    def paint(self) -> None:
        """The long work: MXNet, the weights, the optimisation."""
        from mxnet.base import MXNetError

        from nstyle import api, devices
        from nstyle.cli import report

        options = self.options
        explicit = any(a == "--model" or a.startswith("--model=") for a in self.argv)
        Signals.defer = True  # from here MXNet makes and frees arrays: act at safe points
        try:
            ctx = devices.select_context(self.args.gpu)
            weights = api.load_weights(options, None if explicit or options.weights else "vgg16")
            if weights.path is not None:
                self.files.check_inputs([*self.files.inputs, weights.path])
            config.check_layers(options, weights.num_layers)
            Signals.check()
            epochs = config.total_epochs(options)
            with report.Reporter(self.outputs, self.output.parent, epochs) as self.progress:
                progress = self.progress

                def on_epoch(it) -> None:
                    progress(it)  # the current picture is known: an interrupt keeps it
                    Signals.check()

                try:
                    self.result = api.transfer(
                        self.content, self.styles, options, ctx=ctx, weights=weights,
                        callback=on_epoch, init=self.init,
                    )  # fmt: skip
                finally:
                    Signals.defer = False
                Signals.check()
        except MXNetError as exc:  # e.g. out of memory: say what MXNet says, in a line
            raise mxnet_failed(exc) from None
        except MemoryError:  # the host's arrays, beyond a --max-memory above what is free
            raise FrameworkFailure(
                f"out of memory; lower {flag('max_memory')} or {flag('max_long_edge')}"
            ) from None
        finally:
            Signals.defer = False
        self.weights = weights

    def write(self, picture) -> None:
        """The final write; when it fails (a full disk), the picture goes to the temporary
        folder instead, and the error says where."""
        try:
            images.write_image(self.output, images.denoise(picture, self.outputs.remove_noise))
        except NStyleError as exc:
            try:  # a new name of our own: nothing is ever replaced
                fd, name = tempfile.mkstemp(prefix=f"nstyle-{self.output.stem}-", suffix=".png")
                os.close(fd)
                rescue = images.write_image(name, picture)
            except (OSError, NStyleError):
                raise exc from None
            raise NStyleError(f"{exc}; the picture is kept in {rescue}") from None

    def interrupted(self, interrupt: KeyboardInterrupt) -> int:
        """Ctrl-C or SIGTERM: keep the work done so far."""
        if self.result is not None:  # during the final write: finish it
            self.write(self.result.image)
            print(f"nstyle: interrupted while writing; wrote {self.output}", file=sys.stderr)
        elif self.progress is not None and self.progress.last is not None:
            last = self.progress.last
            self.write(last.picture())
            print(
                f"nstyle: interrupted at epoch {last.epoch}; wrote {self.output} "
                f"(continue with --init {self.output})",
                file=sys.stderr,
            )
        else:
            print("nstyle: interrupted", file=sys.stderr)
        return exit_code(interrupt)


def is_many(args: argparse.Namespace) -> bool:
    """Whether the run is a batch: several inputs, a folder, a pattern, a video, or Ray.
    One image file (or one name that is no file at all) is today's single run."""
    from nstyle.batch import GLOB_CHARACTERS, VIDEO_SUFFIXES

    given = args.content_image
    if len(given) != 1 or args.workers is not None or args.ray_address is not None:
        return True
    path = Path(given[0])
    if path.is_dir() or (not path.exists() and GLOB_CHARACTERS & set(given[0])):
        return True
    return path.suffix.lower() in VIDEO_SUFFIXES


class Many:
    """A batch run (``nstyle.many``): its checks, then the jobs on a runner."""

    def __init__(self, run: Run):
        self.run, self.args, self.options, self.outputs = run, run.args, run.options, run.outputs
        self.infos: dict[Path, Any] = {}  # each video's VideoInfo

    def check(self) -> None:
        """Everything knowable before any work, each failure one line."""
        from nstyle import batch, many

        options, outputs, args = self.options, self.outputs, self.args
        check_flags(options, outputs, args)
        if args.workers is not None and args.ray_address is not None:
            raise NStyleError("give --workers or --ray-address, not both")
        if args.workers is not None and args.workers < 1:
            raise NStyleError(f"--workers must be >= 1, got {args.workers}")
        cores = len(os.sched_getaffinity(0))
        if args.workers is not None and args.workers > cores:
            raise NStyleError(
                f"--workers {args.workers}: this machine has {cores} core(s), and more "
                f"workers than cores only wait for each other; give at most {cores}"
            )
        if outputs.log:
            raise NStyleError("--log writes one picture's losses: not with several inputs")
        self.style_paths = [bundled(p, "input/style.jpg") for p in args.style_image]
        self.styles = [images.read_image(p, args.max_image_pixels) for p in self.style_paths]
        config.check_styles(options, len(self.styles))
        protected = list(self.style_paths)
        self.init = None
        if options.init not in config.INITS:  # read once, under this run's limit
            self.init = images.read_image(options.init, args.max_image_pixels)
            protected.append(Path(options.init))
        if options.weights:
            protected.append(Path(options.weights))
        given = [str(bundled(p, "input/content.jpg")) for p in args.content_image]
        found = batch.expand(given)
        if found.warning():
            log.warning("nstyle: warning: %s", found.warning())
        items = self.inputs(found.items)
        self.folder, outputs_ = self.destination(items)
        if args.ray_address is not None:
            many.check_reachable(args.ray_address)
        files.check_folder(self.folder, "--output")
        for output in outputs_:  # one there that nstyle did not write is kept and its
            if not os.path.lexists(output) or self.manifest.wrote(output):  # input refused
                files.check_writable_file(output, "--output")
            for path in [*protected, *(item.path for item in items)]:
                if files.same_file(output, path):
                    raise NStyleError(
                        f"--output {output} is the input {path}; writing it would destroy "
                        "it: choose another --output"
                    )
        self.jobs = [many.Job(item, output, info=self.infos.get(item.path))
                     for item, output in zip(items, outputs_)]  # fmt: skip

    def inputs(self, items) -> list:
        """The inputs but the output folder's own outputs (its manifest lists them: a rerun
        into the input folder does not paint them again) and the videos found in a folder
        or by a pattern that cannot be read (skipped with a warning line each); a video
        named on its own that cannot be read is an error. Each video is probed here."""
        from nstyle import batch
        from nstyle.media import video

        self.manifest = batch.Manifest(self.destination(items)[0])
        if self.manifest.broken:
            log.warning(
                "nstyle: warning: %s is broken (%s): it counts as empty, and files in %s "
                "that it no longer vouches for are kept",
                self.manifest.path, self.manifest.broken, self.manifest.folder,
            )  # fmt: skip
        own = self.manifest.outputs()
        kept = [item for item in items if os.path.realpath(item.path) not in own]
        if len(kept) < len(items):
            log.info(
                "left out %d file(s) that are nstyle's own outputs (listed in %s)",
                len(items) - len(kept), self.manifest.path,
            )  # fmt: skip
            if not kept:
                raise NStyleError(
                    f"--content-image: every input is one of nstyle's own outputs (listed "
                    f"in {self.manifest.path}); give the photos or videos to paint"
                )
        readable = []
        for item in kept:
            if item.kind == batch.VIDEO:
                try:
                    self.infos[item.path] = video.probe(item.path)  # unreadable, no frames
                except NStyleError as exc:
                    if not item.found:
                        raise
                    log.warning("nstyle: warning: skipped %s", exc)
                    continue
            readable.append(item)
        if not readable:
            raise NStyleError("--content-image: no readable image or video among the inputs")
        return readable

    def destination(self, items) -> tuple[Path, list[Path]]:
        """The output folder and each item's output: one video or one picture may be named
        (a file of its kind); else --output is a folder (output/ by default)."""
        from nstyle import batch
        from nstyle.media import video

        given = self.args.output
        output = Path(given)
        default = given == "output/out.jpg"
        named_folder = output.is_dir() or given.endswith(os.sep)  # "out.d/" is a folder
        if len(items) == 1 and not named_folder and not default:
            item = items[0]
            if item.kind == batch.VIDEO and output.suffix.lower() in video.OUTPUT_FORMATS:
                return output.parent, [output]
            if item.kind == batch.IMAGE and output.suffix:
                files.image_format(output)
                return output.parent, [output]
            if output.suffix and item.kind == batch.VIDEO:
                video.output_format(output)  # one line naming the video types
        if not default and output.suffix and not named_folder:
            raise NStyleError(
                f"--output {output}: with {len(items)} inputs, --output is a folder "
                f"(each input gets its own file in it)"
            )
        folder = Path("output") if default else output
        return folder, batch.output_paths(items, folder)

    def paint(self) -> int:
        from nstyle import batch, many

        options, args, outputs = self.options, self.args, self.outputs
        style_hashes = [batch.file_hash(p) for p in self.style_paths]
        keyed: dict[str, str] = {}
        for job in self.jobs:
            values = many.settings(options, style_hashes, outputs.remove_noise, job.item.kind)
            kind_key = keyed.setdefault(job.item.kind, batch.settings_hash(values))
            job.key = batch.item_key(batch.file_hash(job.item.path), kind_key)
        explicit = any(a == "--model" or a.startswith("--model=") for a in self.run.argv)
        fallback = None if explicit or options.weights else "vgg16"
        hook = Signals.check
        runner: Any
        if args.workers is None and args.ray_address is None:
            runner = many.InProcess(
                self.styles, options, gpu=args.gpu, fallback=fallback, epoch_hook=hook,
                init=self.init,
            )  # fmt: skip
        else:
            runner = many.RayRunner(
                self.styles,
                options,
                address=args.ray_address,
                workers=args.workers,
                fallback=fallback,
                gpu=args.gpu,
                quiet=self.outputs.quiet,
                epoch_hook=hook,
                init=self.init,
            )
        # A line per item: no memory plan, no optimiser summary per picture.
        chatty = [logging.getLogger(f"nstyle.{name}") for name in ("api", "optimize")]
        levels = [logger.level for logger in chatty]
        for logger in chatty:
            logger.setLevel(logging.WARNING)
        # MXNet may run here: interrupts act between epochs (and, with Ray, between the
        # short waits for its workers: Ray's own start is left to finish, a few seconds,
        # so that it can be shut down whole).
        Signals.defer = True
        try:
            with files.FolderLock(self.folder):
                driver = many.Batch(
                    self.jobs,
                    runner,
                    options,
                    self.folder,
                    remove_noise=outputs.remove_noise,
                    max_pixels=args.max_image_pixels,
                    quiet=outputs.quiet,
                    epoch_hook=hook,
                )
                summary = driver.run()
        except KeyboardInterrupt as interrupt:
            print(
                one_line(
                    f"nstyle: interrupted; what is finished is kept in {self.folder} "
                    "(the same command continues)"
                ),
                file=sys.stderr,
            )
            return exit_code(interrupt)
        finally:
            Signals.defer = False
            for logger, level in zip(chatty, levels):
                logger.setLevel(level)
        if summary.failed:
            code = max(exit_for(failure) for failure in summary.failed)  # 1: MXNet's fault only
            error(
                f"{len(summary.failed)} of {len(self.jobs)} inputs failed (see above); "
                f"the rest are in {self.folder}"
            )
            return code
        log.info(
            "done: %d painted, %d already done, in %s (%.1f s)",
            summary.painted,
            summary.skipped,
            self.folder,
            summary.seconds,
        )
        return 0


EXIT_CODES = ((FrameworkFailure, 1), (NStyleError, 2))  # by kind, the first that matches


def exit_for(failure: NStyleError) -> int:
    """The exit code of a failure, by its kind (a user's mistake: 2)."""
    return next(code for kind, code in EXIT_CODES if isinstance(failure, kind))


def error(message: str) -> None:
    """The one line of a failure (a newline in a file name cannot split it)."""
    print(error_line("nstyle", message), file=sys.stderr)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """The ``nstyle`` command; returns the exit code."""
    previous = {s: signal.signal(s, Signals.handler) for s in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGALRM] = signal.signal(signal.SIGALRM, Signals.retry)
    try:
        return _main(
            sys.argv[1:] if argv is None else argv, prog or Path(sys.argv[0]).name or "nstyle"
        )
    except KeyboardInterrupt as interrupt:  # while starting, or a second Ctrl-C
        print("nstyle: interrupted", file=sys.stderr)
        return exit_code(interrupt)
    finally:
        Signals.reset()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(argv: list[str], prog: str) -> int:
    run = Run(argv, prog)
    # Our messages, once: MXNet's scheduler logs on the root logger, which configures it.
    if not log.handlers:
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.WARNING if run.outputs.quiet else logging.INFO)
    if is_many(run.args):
        batch_run = Many(run)
        try:
            batch_run.check()
            return batch_run.paint()
        except NStyleError as exc:
            error(str(exc))
            return exit_for(exc)
    try:
        run.check()
        with files.FolderLock(run.output.parent):
            try:
                run.paint()
                run.write(run.result.image)
            except KeyboardInterrupt as interrupt:
                return run.interrupted(interrupt)
    except Diverged as exc:
        kept = ""
        if exc.picture is not None:  # the last good image
            try:
                run.write(exc.picture)
                kept = f"; the last good image is in {run.output}"
            except NStyleError as failed:
                kept = f"; the last good image could not be kept: {failed}"
        error(f"{exc}{kept}")
        return exit_for(exc)
    except NStyleError as exc:
        error(str(exc))
        return exit_for(exc)
    result = run.result
    log.info(
        "wrote %s after %d epochs in %.1f s: %s (%s)",
        run.output,
        result.epochs,
        result.seconds,
        result.reason,
        run.weights.description,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
