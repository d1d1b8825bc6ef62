"""The video half of a batch: each video split into shots at scene cuts, each shot a chain
of frame tasks, every finished frame written and recorded, and the video written once all
its frames are.

Frame i+1 of a chain is submitted when frame i's result is back, carrying (the frame, the
previous input frame, the previous styled frame): the painter starts from the previous
styled frame carried along the optical flow and ties the new one to it (Ruder et al. 2016).
The first frame of a shot is painted on its own: across a cut there is no motion to follow.
A video's finished frames are PNG files in its frames folder (``Job.frames_folder``), each
recorded as a part of the video: a rerun resumes each shot at its first unfinished frame,
the previous styled frame read back from its file. When every frame is done the video is
written (H.264 at the input's frame rate, its sound copied), recorded, and the frames
removed.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import deque
from typing import TYPE_CHECKING, Any

from nstyle.errors import NStyleError
from nstyle.many.manifest import part_key
from nstyle.many.runners import Failure
from nstyle.many.tasks import FRAMES_MARKER, Chain, Job, Task, frame_size, remove_frames
from nstyle.media import images, video
from nstyle.media.scenes import frame_histogram, scene_cuts, shots

if TYPE_CHECKING:
    from nstyle.many.driver import Batch


class VideoChains:
    """The unfinished shots of a batch's videos, served frame by frame; what it writes and
    fails goes through its ``Batch`` (its manifest, progress and summary)."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self.chains: dict[int, list[Chain]] = {}  # job: its unfinished shots
        self.seconds: dict[int, float] = {}  # job: painting seconds so far
        self.frame_counts: dict[int, int] = {}

    def plan(self, index: int, job: Job) -> tuple[int, int]:
        """Split a video into shots and find where each resumes: (frames, frames done).
        The video is decoded once here, one frame's histogram kept at a time."""
        counted = [0]

        def histograms():
            for frame in video.read_frames(job.item.path):
                self.batch.epoch_hook()  # a signal acts between frames
                counted[0] += 1
                yield frame_histogram(frame)

        cuts = scene_cuts(histograms())
        count = counted[0]
        job.info = dataclasses.replace(job.info, frames=count) if job.info else None
        chains, done = [], 0
        for shot in shots(count, cuts):
            parts = [(part_key(job.key, i), job.frame_path(i)) for i in shot]
            finished = self.batch.manifest.first_unfinished(parts)
            done += finished
            chain = Chain(index, shot, shot.start + finished)
            if 0 < finished < len(shot):
                chain.previous_styled = images.read_image(job.frame_path(chain.next - 1))
            if chain.remaining:
                chains.append(chain)
        self.chains[index] = chains
        self.frame_counts[index] = count
        say = self.batch.say
        if cuts:
            say("%s: %d frames, %d shots (cuts before frames %s)", job.item.path, count,
                len(cuts) + 1, ", ".join(str(c + 1) for c in cuts))  # fmt: skip
        if done:
            say("%s: %d of %d frames already painted, resuming", job.item.path, done, count)
        return count, done

    def unfinished(self, index: int) -> bool:
        """Whether the video of job ``index`` has frames left to paint."""
        return bool(self.chains.get(index))

    def queue(self) -> deque[Chain]:
        """Every unfinished shot, the longest first: they would otherwise end last."""
        every = (c for chains in self.chains.values() for c in chains)
        return deque(sorted(every, key=lambda c: -c.remaining))

    def drop(self, index: int) -> None:
        """The video of job ``index`` failed: no more of its frames."""
        self.chains.pop(index, None)

    def next_frame(self, chain: Chain) -> Task | None:
        """The chain's next frame task, reading the frames as it goes."""
        batch = self.batch
        if chain.job in batch.failed:
            return None
        job = batch.jobs[chain.job]
        try:
            if chain.reader is None:
                begin = chain.next - (1 if chain.previous_styled is not None else 0)
                frames = video.read_frames(job.item.path)
                chain.reader = itertools.islice(frames, begin, chain.frames.stop)
                if chain.previous_styled is not None:
                    chain.previous = frame_size(next(chain.reader), batch.options)
            frame = frame_size(next(chain.reader), batch.options)
        except (NStyleError, StopIteration) as exc:
            why = exc if isinstance(exc, NStyleError) else NStyleError("fewer frames than counted")
            batch.fail(chain.job, why)
            return None
        previous = chain.previous if chain.previous_styled is not None else None
        task = Task(chain.job, chain.next, frame, previous, chain.previous_styled)
        chain.previous = frame
        return task

    def frame_done(self, task: Task, outcome: Any) -> Chain | None:
        """Write and record a frame; the chain, when it has frames left."""
        index = task.job
        assert task.frame is not None
        if index in self.batch.failed:
            return None
        if isinstance(outcome, Failure):
            error = outcome.error.restated(f"frame {task.frame + 1}: {outcome.message}")
            self.batch.fail(index, error)
            return None
        if not self._write_frame(task, outcome.image):
            return None
        self.seconds[index] = self.seconds.get(index, 0.0) + outcome.seconds
        self._painted(task, outcome.seconds)
        chain = next(c for c in self.chains[index] if task.frame in c.frames)
        chain.next, chain.previous_styled = task.frame + 1, outcome.image
        if chain.remaining:
            return chain
        self.chains[index].remove(chain)
        if not self.chains[index]:
            self.write_video(index)
        return None

    def _write_frame(self, task: Task, picture: Any) -> bool:
        """Write a styled frame into its folder (made, and marked as nstyle's, first) and
        record it; False when that failed (the video has failed)."""
        assert task.frame is not None
        job = self.batch.jobs[task.job]
        path = job.frame_path(task.frame)
        try:
            if not job.frames_folder_is_ours():
                job.frames_folder.mkdir(parents=True, exist_ok=True)
                (job.frames_folder / FRAMES_MARKER).write_bytes(b"")
            images.write_image(path, picture)
            self.batch.manifest.record(part_key(job.key, task.frame), path)
        except OSError as exc:
            self.batch.fail(task.job, NStyleError(f"cannot write {path} ({exc.strerror or exc})"))
            return False
        except NStyleError as exc:
            self.batch.fail(task.job, exc)
            return False
        return True

    def _painted(self, task: Task, seconds: float) -> None:
        """A frame finished: the bar moves, or a line says so."""
        progress = self.batch.progress
        assert progress is not None and task.frame is not None
        progress.advance()
        if progress.bar is None:
            progress.say(
                "painted frame %d/%d of %s (%.1f s)",
                task.frame + 1,
                self.frame_counts[task.job],
                self.batch.jobs[task.job].item.path,
                seconds,
            )

    def write_video(self, index: int) -> None:
        """All frames painted: the video, recorded; the frames folder removed."""
        batch = self.batch
        job = batch.jobs[index]
        count = self.frame_counts[index]
        assert job.info is not None

        def frames():
            for i in range(count):
                picture = images.read_image(job.frame_path(i))
                yield images.denoise(picture, batch.remove_noise)

        try:
            video.write_video(job.output, frames(), job.info.rate, audio_from=job.item.path)
            batch.manifest.record(job.key, job.output)
        except NStyleError as exc:
            batch.fail(index, exc)
            return
        batch.manifest.forget(job.key)
        remove_frames(job.frames_folder)
        batch.summary.painted += 1
        note = f", {count} frames at {float(job.info.rate):g} fps"
        if batch.progress is not None:
            batch.progress.finished(job.output, self.seconds.get(index, 0.0), note)
        else:
            batch.say("wrote %s (%.1f s%s)", job.output, self.seconds.get(index, 0.0), note)
