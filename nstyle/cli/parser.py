"""The flags: one per ``Options`` and ``Outputs`` field, plus the images, the device and the
batch's workers; their help shows each default, and a mistake is one line and exit 2.

Nothing here imports MXNet: the help and every flag's check cost a fraction of a second.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from nstyle.config import Options, Outputs, flag
from nstyle.config.options import DEFAULT_OUTPUT
from nstyle.errors import NStyleError, error_line
from nstyle.media import images

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


def error(message: str) -> None:
    """The one line of a failure (a newline in a file name cannot split it)."""
    print(error_line("nstyle", message), file=sys.stderr)


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
    """Every flag of the ``nstyle`` command, in the order the help lists them."""
    parser = Parser(
        prog=prog,
        description="Paint a photo in the style of a painting "
        "(Gatys et al. 2016, MXNet executors).",
        allow_abbrev=False,
        formatter_class=HelpFormatter,
    )
    _io_flags(parser.add_argument_group("images and device"))
    add_fields(parser.add_argument_group("style transfer"), Options)
    add_fields(parser.add_argument_group("progress and snapshots"), Outputs)
    _many_flags(parser.add_argument_group("many pictures"))
    return parser


def _io_flags(io) -> None:
    """The pictures, the output, the device and the input size limit."""
    io.add_argument(
        "--content-image",
        nargs="+",
        default=["input/content.jpg"],
        help="the photo (the default is the bundled sample; " + images.FORMATS + "; its "
        "colour profile applied); or several files, folders and "
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
        "--content-mask",
        nargs="+",
        default=None,
        metavar="MASK",
        help="one greyscale image per --style-image, resized to the photo: where that "
        "painting goes (white: there, grey: a blend); where no mask is white the photo is "
        "kept (Gatys et al. 2017)",
    )
    io.add_argument(
        "--style-mask",
        nargs="+",
        default=None,
        metavar="MASK",
        help="with --content-mask: one greyscale image per --style-image, the part of that "
        "painting its style is taken from",
    )
    _segmentation_flags(io)
    io.add_argument(
        "--output",
        default=DEFAULT_OUTPUT,
        help="result: .jpg, or .png or .tif (16 bits per channel, for print and editing), with "
        "the photo's date, camera and lens and a colour profile (see --output-profile); "
        "tmp_<epoch>.jpg snapshots go to the same folder, where one run at a time may write; "
        "with several inputs a folder (default: "
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


def _segmentation_flags(io) -> None:
    """Photo to photo's label images, the photo's and the reference's."""
    io.add_argument(
        "--content-segmentation",
        default=None,
        metavar="LABELS",
        help="photo to photo: the photo's regions as a label image of a few flat colours "
        "(Luan et al.'s: blue, green, red, ...), each region given the look of the same "
        "colour's region of --style-segmentation (a colour the reference lacks: the whole "
        "reference); one --style-image, no --content-mask",
    )
    io.add_argument(
        "--style-segmentation",
        default=None,
        metavar="LABELS",
        help="with --content-segmentation: the --style-image's regions, the same colours",
    )


def _many_flags(many) -> None:
    """Where a batch paints: this process, local Ray workers, or a Ray cluster."""
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
    """The flags as the namespace, the options and the outputs; a bad value exits 2."""
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
