"""Many pictures from the command line (``nstyle.many``): folders, patterns, videos, on this
process or on Ray. Every input is checked and every output named before the first picture
is painted; a rerun paints only what is missing or changed. Masks are one set for all the
pictures and frames, each mask resized to each picture, as for one photo. Each picture is
written as one painted alone (``writing.Finish``: --output-type, --output-profile, the
photo's metadata); a video's frames are encoded by the video writer."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from nstyle import files
from nstyle.cli.exits import exit_for_failures
from nstyle.cli.inputs import (
    bundled,
    check_flags,
    check_output_type,
    check_outputs,
    fallback_weights,
    finish,
    read_styles,
)
from nstyle.cli.parser import error
from nstyle.cli.signals import Signals
from nstyle.cli.single import Run
from nstyle.config.options import DEFAULT_OUTPUT
from nstyle.errors import NStyleError, exit_code, one_line

log = logging.getLogger("nstyle")


def is_many(args: argparse.Namespace) -> bool:
    """Whether the run is a batch: several inputs, a folder, a pattern, a video, or Ray.
    One image file (or one name that is no file at all) is today's single run."""
    from nstyle.many.inputs import GLOB_CHARACTERS, VIDEO_SUFFIXES

    given = args.content_image
    if len(given) != 1 or args.workers is not None or args.ray_address is not None:
        return True
    path = Path(given[0])
    if path.is_dir() or (not path.exists() and GLOB_CHARACTERS & set(given[0])):
        return True
    return path.suffix.lower() in VIDEO_SUFFIXES


def check_workers(args: argparse.Namespace) -> None:
    """--workers and --ray-address on their own: one of them, and no more workers than cores."""
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


class Many:
    """A batch run (``nstyle.many``): its checks, then the jobs on a runner."""

    def __init__(self, run: Run):
        self.run, self.args, self.options, self.outputs = run, run.args, run.options, run.outputs
        self.infos: dict[Path, Any] = {}  # each video's VideoInfo

    def execute(self) -> int:
        """Check, then paint; the exit code. A failure before the painting is raised."""
        self.check()
        return self.paint()

    def check(self) -> None:
        """Everything knowable before any work, each failure one line."""
        from nstyle.many.cluster import check_reachable
        from nstyle.many.inputs import expand
        from nstyle.many.tasks import Job

        options, outputs, args = self.options, self.outputs, self.args
        check_flags(options, outputs, args)
        check_workers(args)
        if outputs.log:
            raise NStyleError("--log writes one picture's losses: not with several inputs")
        if args.content_segmentation is not None or args.style_segmentation is not None:
            raise NStyleError(
                "--content-segmentation belongs to one photo: not with several inputs "
                "(--photo alone takes the reference's look for a whole shoot)"
            )
        styles = read_styles(args, options)
        self.read = styles
        given = [str(bundled(p, "input/content.jpg")) for p in args.content_image]
        found = expand(given)
        if found.warning():
            log.warning("nstyle: warning: %s", found.warning())
        items = self.inputs(found.items)
        self.folder, outputs_ = self.destination(items)
        if args.ray_address is not None:
            check_reachable(args.ray_address)
        files.check_folder(self.folder, "--output")
        inputs = [*styles.protected(), *(item.path for item in items)]
        check_outputs(outputs_, inputs, self.manifest.wrote)
        self.jobs = [Job(item, output, info=self.infos.get(item.path))
                     for item, output in zip(items, outputs_)]  # fmt: skip
        self.warn_videos(items)

    def warn_videos(self, items) -> None:
        """Videos keep their type and colours: --output-type and --output-profile photo are
        the pictures' (a video's frames are encoded by the video writer), said once."""
        from nstyle.many.inputs import VIDEO

        if not any(item.kind == VIDEO for item in items):
            return
        flags = {
            "--output-type": self.outputs.output_type is not None,
            "--output-profile photo": self.outputs.output_profile == "photo",
        }
        given = [name for name, on in flags.items() if on]
        if given:
            log.warning(
                "nstyle: warning: %s concern%s the pictures: videos are written as video "
                "files in sRGB", " and ".join(given), "" if len(given) > 1 else "s",
            )  # fmt: skip

    def inputs(self, items) -> list:
        """The inputs but the output folder's own outputs (its manifest lists them: a rerun
        into the input folder does not paint them again) and the videos found in a folder
        or by a pattern that cannot be read (skipped with a warning line each); a video
        named on its own that cannot be read is an error. Each video is probed here."""
        from nstyle.many import inputs, manifest
        from nstyle.media import video

        self.manifest = manifest.Manifest(self.destination(items)[0])
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
            if item.kind == inputs.VIDEO:
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
        from nstyle.many import inputs
        from nstyle.media import video

        given = self.args.output
        output = Path(given)
        default = given == DEFAULT_OUTPUT
        named_folder = output.is_dir() or given.endswith(os.sep)  # "out.d/" is a folder
        if len(items) == 1 and not named_folder and not default:
            item = items[0]
            if item.kind == inputs.VIDEO and output.suffix.lower() in video.OUTPUT_FORMATS:
                return output.parent, [output]
            if item.kind == inputs.IMAGE and output.suffix:
                files.image_format(output)
                check_output_type(output, self.outputs)
                return output.parent, [output]
            if output.suffix and item.kind == inputs.VIDEO:
                video.output_format(output)  # one line naming the video types
        if not default and output.suffix and not named_folder:
            raise NStyleError(
                f"--output {output}: with {len(items)} inputs, --output is a folder "
                f"(each input gets its own file in it)"
            )
        folder = Path("output") if default else output
        suffix = f".{self.outputs.output_type or 'jpg'}"
        return folder, inputs.output_paths(items, folder, suffix)

    def paint(self) -> int:
        """Every job, under the output folder's lock; the exit code."""
        self.key_jobs()
        return self.drive(self.make_runner())

    def key_jobs(self) -> None:
        """Each job's key in the manifest: its input's hash and the settings of its kind."""
        from nstyle.many import manifest

        options, outputs = self.options, self.outputs
        style_hashes = [manifest.file_hash(p) for p in self.read.paths]
        masks, style_masks = self.mask_hashes()
        keyed: dict[str, str] = {}
        for job in self.jobs:
            kind = job.item.kind
            values = manifest.settings(
                options, style_hashes, outputs.remove_noise, kind,
                mask_hashes=masks, style_mask_hashes=style_masks,
                extra=manifest.written(outputs.output_profile, outputs.keep_location, kind),
            )  # fmt: skip
            kind_key = keyed.setdefault(job.item.kind, manifest.settings_hash(values))
            job.key = manifest.item_key(manifest.file_hash(job.item.path), kind_key)

    def mask_hashes(self) -> tuple[list[str] | None, list[str] | None]:
        """--content-mask's and --style-mask's files by their content, for
        ``manifest.settings`` (a changed mask paints again); None for a flag not given
        (the settings' hash is then as before masks)."""
        from nstyle.many import manifest

        given = (self.args.content_mask, self.args.style_mask)
        hashed = [None if paths is None else [manifest.file_hash(p) for p in paths]
                  for paths in given]  # fmt: skip
        return hashed[0], hashed[1]

    def make_runner(self) -> Any:
        """Where the pictures are painted: in this process, or on Ray's workers."""
        from nstyle.many import runners

        options, args = self.options, self.args
        read = self.read
        shared = runners.Shared(read.pictures, read.init, read.masks, read.style_masks)
        common = {
            "fallback": fallback_weights(self.run.argv, options),
            "gpu": args.gpu,
            "epoch_hook": Signals.check,
        }
        if args.workers is None and args.ray_address is None:
            return runners.InProcess(shared, options, **common)
        return runners.RayRunner(
            shared,
            options,
            address=args.ray_address,
            workers=args.workers,
            quiet=self.outputs.quiet,
            **common,
        )

    def drive(self, runner) -> int:
        """The batch's driver under the folder lock; the exit code (an
        interrupt's, with a line saying that what is finished is kept)."""
        from nstyle.many.driver import Batch

        options, args, outputs = self.options, self.args, self.outputs
        # MXNet may run here: interrupts act between epochs (and, with Ray, between the
        # short waits for its workers: Ray's own start is left to finish, a few seconds,
        # so that it can be shut down whole).
        Signals.defer = True
        try:
            with files.FolderLock(self.folder):
                driver = Batch(
                    self.jobs,
                    runner,
                    options,
                    self.folder,
                    finish=finish(outputs),
                    max_pixels=args.max_image_pixels,
                    quiet=outputs.quiet,
                    epoch_hook=Signals.check,
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
        return self.outcome(summary)

    def outcome(self, summary) -> int:
        """The batch's last line and its exit code by the failures' kinds."""
        if summary.failed:
            code = exit_for_failures(summary.failed)
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
