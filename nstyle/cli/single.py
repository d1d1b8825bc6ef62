"""One picture from the command line: every check before the work, the painting under the
output folder's lock, and a result that is always kept (an interrupt writes the picture so
far, a divergence the last good one, a full disk a copy in the temporary folder)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from nstyle import config, files
from nstyle.cli.inputs import (
    bundled,
    check_flags,
    check_output_type,
    check_result,
    fallback_weights,
    finish,
    output_file,
    read_segmentations,
    read_styles,
)
from nstyle.cli.parser import parse_options
from nstyle.cli.signals import Signals
from nstyle.errors import (
    OUT_OF_MEMORY,
    Diverged,
    FrameworkFailure,
    NStyleError,
    exit_code,
    mxnet_failed,
)
from nstyle.media import images, writing

log = logging.getLogger("nstyle")


class Run:
    """One command-line run: its checks, the painting, and what it writes."""

    def __init__(self, argv: list[str], prog: str):
        self.argv = argv
        self.args, self.options, self.outputs = parse_options(argv, prog)
        self.output = output_file(self.args.output, self.outputs)
        self.progress: Any = None  # nstyle.cli.report.Reporter, once the work starts
        self.result: Any = None  # nstyle.api.Result, once the work is done

    def execute(self) -> int:
        """Check, paint and write; the exit code (an interrupt's, or 0). A failure is
        raised, a divergence's once its last good picture is kept."""
        try:
            self.check()
            with files.FolderLock(self.output.parent):
                try:
                    self.paint()
                    self.write(self.finished())
                except KeyboardInterrupt as interrupt:
                    return self.interrupted(interrupt)
        except Diverged as exc:
            raise exc.restated(f"{exc}{self.keep_last_good(exc)}") from None
        result = self.result
        log.info(
            "wrote %s after %d epochs in %.1f s: %s (%s)",
            self.output,
            result.epochs,
            result.seconds,
            result.reason,
            self.weights.description,
        )
        return 0

    def check(self) -> None:
        """Everything knowable before any work: options, images, files, the folder lock."""
        options, outputs, args = self.options, self.outputs, self.args
        check_flags(options, outputs, args)
        self.content_path = bundled(args.content_image[0], "input/content.jpg")
        self.content, self.source = images.read_photo(self.content_path, args.max_image_pixels)
        styles = read_styles(args, options)
        read_segmentations(args, styles, options, self.content.shape)
        self.styles, self.init = styles.pictures, styles.init
        self.masks, self.style_masks = styles.masks, styles.style_masks
        inputs = [self.content_path, *styles.paths, *styles.mask_paths]
        inputs += [styles.weights] if styles.weights else []
        self.files = files.RunFiles(
            tuple(inputs),
            styles.init_path,
            self.output,
            Path(outputs.log) if outputs.log else None,
            outputs.save_epochs,
            config.total_epochs(options),
        )
        self.files.check()
        check_output_type(self.output, outputs)
        check_result(self.output, self.content_path, self.source, outputs)

    def paint(self) -> None:
        """The long work: MXNet, the weights, the optimisation."""
        from mxnet.base import MXNetError

        from nstyle import api, devices
        from nstyle.cli import report

        options = self.options
        Signals.defer = True  # from here MXNet makes and frees arrays: act at safe points
        try:
            ctx = devices.select_context(self.args.gpu)
            weights = api.load_weights(options, fallback_weights(self.argv, options))
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
                    painter = api.Painter(
                        self.styles, options, ctx=ctx, weights=weights, init=self.init,
                        style_masks=self.style_masks,
                    )  # fmt: skip
                    # the network holds the arrays: the host's copy goes (VGG-16's 56 MiB)
                    self.weights = painter.weights
                    del weights
                    self.result = painter.paint(self.content, callback=on_epoch, masks=self.masks)
                finally:
                    Signals.defer = False
                Signals.check()
        except MXNetError as exc:  # e.g. out of memory: say what MXNet says, in a line
            raise mxnet_failed(exc) from None
        except MemoryError:  # the host's arrays, beyond a --max-memory above what is free
            raise FrameworkFailure(OUT_OF_MEMORY) from None
        finally:
            Signals.defer = False

    def finished(self) -> Any:
        """The result's picture: before rounding (16 bits in a PNG or TIFF) when it has it."""
        result = self.result
        return result.image if getattr(result, "pixels", None) is None else result.pixels

    def write(self, picture) -> None:
        """The final write, with the photo's profile and metadata as the flags say; when it
        fails (a full disk), the picture goes to the temporary folder instead, and the error
        says where."""
        try:
            writing.write_picture(self.output, picture, self.source, finish(self.outputs))
        except NStyleError as exc:
            try:  # a new name of our own: nothing is ever replaced
                fd, name = tempfile.mkstemp(prefix=f"nstyle-{self.output.stem}-", suffix=".png")
                os.close(fd)
                rescue = writing.write_image(name, picture)
            except (OSError, NStyleError):
                raise exc from None
            raise NStyleError(f"{exc}; the picture is kept in {rescue}") from None

    def keep_last_good(self, diverged: Diverged) -> str:
        """Write a divergence's last good picture, when it has one; what to add to its line."""
        if diverged.picture is None and diverged.pixels is None:
            return ""
        try:
            self.write(diverged.finest)  # before rounding: 16 bits in a PNG or TIFF
        except NStyleError as failed:
            return f"; the last good image could not be kept: {failed}"
        return f"; the last good image is in {self.output}"

    def interrupted(self, interrupt: KeyboardInterrupt) -> int:
        """Ctrl-C or SIGTERM: keep the work done so far."""
        if self.result is not None:  # during the final write: finish it
            self.write(self.finished())
            print(f"nstyle: interrupted while writing; wrote {self.output}", file=sys.stderr)
        elif self.progress is not None and self.progress.last is not None:
            last = self.progress.last
            self.write(last.pixels())  # before rounding, as a finished run's
            print(
                f"nstyle: interrupted at epoch {last.epoch}; wrote {self.output} "
                f"(continue with --init {self.output})",
                file=sys.stderr,
            )
        else:
            print("nstyle: interrupted", file=sys.stderr)
        return exit_code(interrupt)
