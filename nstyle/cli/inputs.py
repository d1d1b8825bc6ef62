"""What a command-line run reads, and what it must never overwrite; shared by one run and a
batch. Every picture is read here once, under --max-image-pixels, before MXNet is imported,
so a bad file costs a fraction of a second and one line."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nstyle import config, files
from nstyle.config import Options, Outputs
from nstyle.config.options import DEFAULT_OUTPUT
from nstyle.errors import NStyleError
from nstyle.media import colour, images, writing
from nstyle.media.metadata import Source
from nstyle.spec import MODELS

log = logging.getLogger("nstyle")
SAMPLES = Path(__file__).resolve().parents[2] / "input"  # the checkout's bundled pictures


def bundled(path: str, default: str) -> Path:
    """``path``; the default sample is found in the checkout from any working folder."""
    if path == default and not Path(path).exists() and (SAMPLES / Path(path).name).exists():
        return SAMPLES / Path(path).name
    return Path(path)


def check_flags(options: Options, outputs: Outputs, args: argparse.Namespace) -> None:
    """The flags' values on their own, before any file is read (Pillow's HEIF plugin
    registered first: the output's type is then known the same way every time)."""
    images.plugins()
    config.check_options(options, None if options.weights else MODELS[options.model])
    config.check_outputs(outputs)
    if args.max_image_pixels < 1:
        raise NStyleError(f"--max-image-pixels must be >= 1, got {args.max_image_pixels}")
    check_photo_regions(options, args)


def check_photo_regions(options: Options, args: argparse.Namespace) -> None:
    """--photo-regions above 1 finds regions only where it can (``Painter.finds_regions``):
    refused in one line where it would be ignored."""
    if options.photo_regions == 1:
        return
    if not options.photo:
        raise NStyleError("--photo-regions: photo to photo's automatic regions, only with --photo")
    given = (args.content_mask, args.style_mask, args.content_segmentation, args.style_segmentation)
    if any(g is not None for g in given) or len(args.style_image) != 1:
        raise NStyleError(
            "--photo-regions: finds the regions of one --style-image itself: not with masks, "
            "segmentations or several style images"
        )


def finish(outputs: Outputs) -> writing.Finish:
    """How the flags say a painted picture is written (every path writes it so)."""
    return writing.Finish(outputs.output_profile, outputs.keep_location, outputs.remove_noise)


def output_file(given: str, outputs: Outputs) -> Path:
    """One picture's --output: as given, or with --output-type's suffix for the default."""
    if given == DEFAULT_OUTPUT and outputs.output_type is not None:
        return Path(given).with_suffix(f".{outputs.output_type}")
    return Path(given)


def check_output_type(output: Path, outputs: Outputs) -> None:
    """A named --output file and --output-type, both given, name one type."""
    chosen = outputs.output_type
    if chosen is not None and files.image_format(output) != files.image_format(Path(f"x.{chosen}")):
        raise NStyleError(
            f"--output {output} is not a .{chosen} file, as --output-type {chosen} asks: "
            "give a file of that type, or a folder",
            subject=output,
        )


def check_result(output: Path, content: Path, source: Source, outputs: Outputs) -> None:
    """What the final write needs, refused before any work: the photo's profile can take
    the picture back (--output-profile photo) into a type that carries a profile, the
    metadata fits the type, and --output's type can be written with them (Pillow lists
    types it cannot write as RGB: .msp, .xbm, .h5): a small picture is encoded as the
    result will be."""
    if outputs.output_profile == "photo" and source.icc is not None:
        colour.matrix_shaper(source.icc, f"--output-profile photo: {content}")
    try:
        writing.check_encodable(output, source, finish(outputs))
    except NStyleError as exc:
        if getattr(exc, "unwritable", None) is None:  # the profile's or the metadata's
            raise exc.restated(f"--output {output}: {exc}") from None
        message = f"--output {output}: {exc}; use .jpg, .png or .tif"
        raise NStyleError(message, subject=output) from None


def fallback_weights(argv: list[str], options: Options) -> str | None:
    """The model whose weights stand in when the chosen model's are missing: VGG-16, unless
    --model or --weights was given (then the user's choice or nothing)."""
    explicit = any(a == "--model" or a.startswith("--model=") for a in argv)
    return None if explicit or options.weights else "vgg16"


@dataclasses.dataclass
class Styles:
    """The paintings and the --init picture, each read once under the run's pixel limit
    (a batch hands the same pictures to every job and worker)."""

    paths: list[Path]  # the paintings
    pictures: list[Any]  # each painting, RGB uint8
    init: Any  # the --init picture, or None when the start is a named one
    init_path: Path | None
    weights: Path | None  # --weights, when given
    masks: list[Any] | None = None  # --content-mask: one greyscale uint8 per painting
    style_masks: list[Any] | None = None  # --style-mask
    mask_paths: list[Path] = dataclasses.field(default_factory=list)

    def protected(self) -> list[Path]:
        """The files no output may land on: the paintings, the masks, --init, --weights."""
        init = [] if self.init_path is None else [self.init_path]
        weights = [self.weights] if self.weights else []
        return [*self.paths, *self.mask_paths, *init, *weights]


def read_styles(args: argparse.Namespace, options: Options) -> Styles:
    """The paintings (their count checked against --style-blend-weights) and --init."""
    paths = [bundled(p, "input/style.jpg") for p in args.style_image]
    pictures = [images.read_image(p, args.max_image_pixels) for p in paths]
    config.check_styles(options, len(pictures))
    init, init_path = None, None
    if options.init not in config.INITS:  # read once, under this run's limit
        init = images.read_image(options.init, args.max_image_pixels)
        init_path = Path(options.init)
    weights = Path(options.weights) if options.weights else None
    styles = Styles(paths, pictures, init, init_path, weights)
    read_masks(args, styles)
    return styles


def read_masks(args: argparse.Namespace, styles: Styles) -> None:
    """--content-mask and --style-mask: one per painting, each read under the pixel limit."""
    if args.style_mask is not None and args.content_mask is None:
        raise NStyleError("--style-mask works with --content-mask: give both")
    for flag_name, given in (
        ("--content-mask", args.content_mask),
        ("--style-mask", args.style_mask),
    ):
        if given is None:
            continue
        if len(given) != len(styles.paths):
            raise NStyleError(
                f"{flag_name}: {len(given)} mask(s) for {len(styles.paths)} style image(s); "
                "give one per --style-image"
            )
        paths = [Path(p) for p in given]
        masks = [images.read_mask(p, args.max_image_pixels, flag_name) for p in paths]
        styles.mask_paths += paths
        if flag_name == "--content-mask":
            styles.masks = masks
        else:
            styles.style_masks = masks


def read_segmentations(
    args: argparse.Namespace, styles: Styles, options: Options, content_shape
) -> None:
    """--content-segmentation and --style-segmentation: each label of the photo becomes a
    region (``nstyle.media.segmentation.labels``), painted from the reference's region of
    the same colour, so the reference is repeated once per label with the label's masks."""
    from nstyle.media import segmentation

    given = (args.content_segmentation, args.style_segmentation)
    if given == (None, None):
        return
    if None in given:
        raise NStyleError("--content-segmentation and --style-segmentation go together: give both")
    if args.content_mask is not None or args.style_mask is not None:
        raise NStyleError("--content-segmentation: not with --content-mask or --style-mask")
    if len(styles.paths) != 1 or options.style_blend_weights is not None:
        raise NStyleError(
            "--content-segmentation: give one --style-image (the reference photo) and no "
            "--style-blend-weights"
        )
    names = ("--content-segmentation", "--style-segmentation")
    paths = [Path(p) for p in given]
    read = [
        segmentation.read_segmentation(p, args.max_image_pixels, n) for p, n in zip(paths, names)
    ]
    found = segmentation.regions(read[0], read[1], styles.pictures[0], content_shape, names)
    for colour_ in found.orphans:
        log.warning(
            "nstyle: warning: --content-segmentation's colour %s is not in "
            "--style-segmentation: that region takes the whole reference's look",
            colour_,
        )
    styles.pictures = found.styles
    styles.masks, styles.style_masks = found.masks, found.style_masks
    styles.mask_paths += paths


def check_outputs(outputs: list[Path], inputs: list[Path], ours: Callable[[Path], bool]) -> None:
    """A batch's outputs: none of them an input, and each writable unless a file is there
    that nstyle did not write (``ours``: the manifest lists it): that one is kept, and the
    driver refuses its input."""
    for output in outputs:
        if not os.path.lexists(output) or ours(output):
            files.check_writable_file(output, "--output")
        for path in inputs:
            if files.same_file(output, path):
                raise NStyleError(
                    f"--output {output} is the input {path}; writing it would destroy "
                    "it: choose another --output"
                )
