"""Video files in and out, with PyAV (FFmpeg's libraries, shipped in its wheel).

* ``probe`` reads what a run needs to plan before any work: frame count, frame rate, size,
  whether there is sound. It decodes one frame (so an undecodable file fails now, not at
  frame 1) and reads no other picture.
* ``read_frames`` yields the frames as RGB uint8 (H, W, 3), turned upright when the file
  carries a rotation (phones record sideways and say so in a display matrix).
* ``write_video`` writes frames as H.264 in MP4 at a given frame rate, copying the sound
  of a source file when it has one, atomically (a temporary file beside the output, then a
  rename), so that an interrupted run never leaves a half-written video under the name.

Nothing here imports MXNet.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from nstyle.errors import NStyleError, UnsupportedMedia, squeezed
from nstyle.files import check_readable, replaced_atomically

# Output containers for H.264: the ISO media family. Other extensions are refused rather
# than silently written as something else.
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
# Sound codecs copied into an MP4/MOV as they are (remuxed, not re-encoded): those that
# common players play there. Anything else (Vorbis from WebM, PCM from AVI, ...) is
# re-encoded to AAC.
COPIED_AUDIO = frozenset({"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"})
CRF = 18  # x264's constant quality: 18 is close to visually lossless, about 5x smaller
PRESET = "medium"
AUDIO_BIT_RATE = 192_000  # when the sound must be re-encoded to AAC


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` finds: ``width`` and ``height`` of the upright frames, ``frames`` as
    the container counts them, ``rate`` frames per second: the stream's average rate (a
    variable-rate video, as phones record, is written back at its average rate)."""

    path: Path
    frames: int
    rate: Fraction
    width: int
    height: int
    has_audio: bool

    @property
    def duration(self) -> float:
        """Seconds, from the frame count and rate."""
        return float(self.frames / self.rate)


def _open(path: Path, what: str):
    """The file opened for reading by FFmpeg, or one line saying why it is not a video."""
    import av

    check_readable(path, what)
    try:
        # An absolute path: FFmpeg would read "name:rest" as a protocol (http:, pipe:, ...).
        container = av.open(os.path.abspath(path), "r")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise UnsupportedMedia(
            f"{path}: not a readable video ({_reason(exc)})", subject=path
        ) from None
    name = container.format.name
    if name == "image2" or name.endswith("_pipe"):  # FFmpeg reads a photo as 1 frame
        container.close()
        raise UnsupportedMedia(f"{path}: a still image ({name}), not a video", subject=path)
    if not container.streams.video:
        container.close()
        raise UnsupportedMedia(
            f"{path}: not a readable video (it has no video stream)", subject=path
        )
    return container


def _reason(exc: BaseException) -> str:
    """FFmpeg's message without the errno and file name PyAV adds: one short clause."""
    return squeezed(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)


def _rate(stream) -> Fraction:
    """Frames per second: the average rate, else what FFmpeg guesses from the timestamps."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return Fraction(rate)
    raise NStyleError("the video has no frame rate")


def _upright(frame) -> np.ndarray:
    """A decoded frame as RGB uint8 (H, W, 3), rotated as its display matrix says."""
    pixels = frame.to_ndarray(format="rgb24")  # the frame's own colour matrix and range
    turns = round(frame.rotation / 90) % 4  # counterclockwise quarter turns
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, rate, size and sound of a video, decoding only its first frame.

    The count is the container's (MP4 and MOV keep one in their index); where it keeps none
    (Matroska, WebM) the video's packets are counted, which reads the file but decodes
    nothing. A file FFmpeg cannot read, a still image, a file without a video stream or
    without a frame fails with one line.
    """
    import av

    path = Path(path)
    container = _open(path, "video")
    try:
        stream = container.streams.video[0]
        rate = _rate(stream)
        try:
            first = next(container.decode(stream), None)
            if first is None:
                raise NStyleError(f"{path}: the video has no frames", subject=path)
            height, width = _upright(first).shape[:2]
            count = stream.frames
            if count <= 0:
                container.seek(0)
                count = sum(1 for packet in container.demux(stream) if packet.size)
        except av.error.FFmpegError as exc:
            raise UnsupportedMedia(
                f"{path}: not a readable video ({_reason(exc)})", subject=path
            ) from None
        return VideoInfo(
            path=path,
            frames=max(count, 1),
            rate=rate,
            width=width,
            height=height,
            has_audio=bool(container.streams.audio),
        )
    finally:
        container.close()


def read_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """The video's frames in order, each RGB uint8 (H, W, 3), upright.

    A generator: the file is opened on the first ``next`` and closed when the generator
    ends or is closed. A decoding error fails with one line naming the frame.
    """
    import av

    path = Path(path)
    container = _open(path, "video")
    index = 0
    try:
        for frame in container.decode(container.streams.video[0]):
            yield _upright(frame)
            index += 1
    except av.error.FFmpegError as exc:
        raise NStyleError(
            f"{path}: cannot decode frame {index + 1} ({_reason(exc)})", subject=path
        ) from None
    finally:
        container.close()
    if index == 0:
        raise NStyleError(f"{path}: the video has no frames", subject=path)


def output_format(path: Path) -> str:
    """FFmpeg's muxer for an output file name, or one line listing the allowed types."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NStyleError(
            f"{path}: a video is written as H.264 in "
            f"{', '.join(OUTPUT_FORMATS)}; got {path.suffix or '(no extension)'!r}"
        )
    return fmt


def even_size(height: int, width: int) -> tuple[int, int]:
    """(H, W) rounded up to even numbers: yuv420p halves both for the colour planes."""
    return height + height % 2, width + width % 2


def pad_even(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) with one more row and/or column, copies of the last, where H or W is odd.

    Departure from cropping: padding keeps every pixel of the picture; the added edge is
    its own neighbour, so it is invisible in playback.
    """
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    rate: Fraction | int | float,
    audio_from: str | os.PathLike | None = None,
) -> Path:
    """Write RGB uint8 (H, W, 3) frames as an H.264 (yuv420p, BT.709) MP4 at ``rate``.

    Every frame must have the first one's size; an odd width or height is padded by one
    pixel (``pad_even``). ``audio_from``: a video whose sound, if it has any, is copied
    beside the frames: as it is when the container carries its codec (``COPIED_AUDIO``),
    else re-encoded to AAC; sound past the last frame is dropped. The file appears whole
    or not at all (``replaced_atomically``); no frames is an error.
    """
    import av

    path = Path(path)
    fmt = output_format(path)
    rate = Fraction(rate).limit_denominator(1_000_000)
    if rate <= 0:
        raise NStyleError(f"{path}: the frame rate must be > 0, got {float(rate):g}")
    source = _open(Path(audio_from), "video") if audio_from is not None else None
    try:
        with replaced_atomically(path) as tmp:
            try:
                with av.open(str(tmp.resolve()), "w", format=fmt) as out:
                    _write_streams(out, frames, rate, source, path)
            except av.error.FFmpegError as exc:
                raise NStyleError(f"cannot write {path} ({_reason(exc)})") from None
    finally:
        if source is not None:
            source.close()
    return path


def _write_streams(out, frames: Iterable[np.ndarray], rate: Fraction, source, path: Path) -> int:
    """Encode the frames into ``out`` and then the sound of ``source``; the frame count."""
    import av

    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise NStyleError(f"{path}: no frames to write")
    shape = _check_frame(first, None, 0, path)
    height, width = even_size(*shape)
    video = out.add_stream("libx264", rate=rate)
    video.width, video.height, video.pix_fmt = width, height, "yuv420p"
    video.options = {"crf": str(CRF), "preset": PRESET}
    context = video.codec_context
    # Tag what the frames are converted with (BT.709, limited range), so that players do
    # not guess: unmarked video is read as BT.601 at small sizes and BT.709 at HD.
    context.colorspace = context.color_primaries = context.color_trc = 1  # BT.709
    context.color_range = 1  # MPEG: limited, 16..235
    audio_in = source.streams.audio[0] if source is not None and source.streams.audio else None
    audio_out = None
    if audio_in is not None:
        if audio_in.codec_context.name in COPIED_AUDIO & set(out.supported_codecs):
            audio_out = out.add_stream_from_template(audio_in)
        else:
            audio_out = out.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000)
            audio_out.bit_rate = AUDIO_BIT_RATE
            # Mono stays mono; the rest is mixed to stereo (the resampler does it), which
            # also names unordered layouts ("2 channels") that the AAC encoder refuses.
            audio_out.layout = "mono" if audio_in.codec_context.channels == 1 else "stereo"
    time_base = 1 / rate
    count = 0
    frame: np.ndarray | None = first
    while frame is not None:
        _check_frame(frame, shape, count, path)
        picture = av.VideoFrame.from_ndarray(pad_even(frame), format="rgb24")
        picture = picture.reformat(
            format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG"
        )
        picture.pts, picture.time_base = count, time_base
        out.mux(video.encode(picture))
        count += 1
        frame = next(iterator, None)
    out.mux(video.encode(None))
    if audio_in is not None and audio_out is not None:
        seconds = float(count * time_base)
        video_in = source.streams.video[0]
        start = float(video_in.start_time * video_in.time_base) if video_in.start_time else 0.0
        if audio_out.codec_context.name == audio_in.codec_context.name:
            _copy_audio(out, source, audio_in, audio_out, start, seconds)
        else:
            _encode_audio(out, source, audio_in, audio_out, start, seconds)
    return count


def _check_frame(frame, shape, index: int, path: Path) -> tuple[int, int]:
    """(H, W) of an RGB uint8 frame, which must be ``shape`` when given."""
    if not (
        isinstance(frame, np.ndarray)
        and frame.dtype == np.uint8
        and frame.ndim == 3
        and frame.shape[2] == 3
        and min(frame.shape[:2]) > 0
    ):
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame)
        raise NStyleError(f"{path}: frame {index + 1} must be RGB uint8 (H, W, 3), got {got}")
    if shape is not None and tuple(frame.shape[:2]) != tuple(shape):
        raise NStyleError(
            f"{path}: frame {index + 1} is {frame.shape[1]}x{frame.shape[0]}, "
            f"the first was {shape[1]}x{shape[0]}; every frame must have one size"
        )
    return frame.shape[0], frame.shape[1]


def _copy_audio(out, source, audio_in, audio_out, start: float, end: float) -> None:
    """Remux the source's sound packets, shifted so that the source video's first frame
    and the written first frame coincide; packets starting after ``end`` are dropped."""
    tb = audio_in.time_base
    shift = round(start / tb) if start else 0
    source.seek(0)
    for packet in source.demux(audio_in):
        if packet.dts is None or packet.size == 0:  # the demuxer's end-of-stream packet
            continue
        if packet.pts is not None and (packet.pts - shift) * tb >= end:
            break
        packet.pts = packet.pts - shift if packet.pts is not None else None
        packet.dts -= shift
        packet.stream = audio_out
        out.mux(packet)


def _encode_audio(out, source, audio_in, audio_out, start: float, end: float) -> None:
    """Decode the source's sound from ``start`` seconds on, resample it to what AAC takes
    and encode it, up to ``end`` seconds of output."""
    import av

    context = audio_out.codec_context
    resampler = av.AudioResampler(
        format=context.format.name, layout=context.layout.name, rate=context.sample_rate
    )
    fifo = av.AudioFifo()  # AAC takes frames of exactly frame_size samples
    size = context.frame_size or 1024
    skip = round(start * context.sample_rate)  # sound before the first frame
    limit = round(end * context.sample_rate)
    written = 0  # samples

    def encode(final: bool) -> None:
        nonlocal written
        while written < limit and (fifo.samples >= size or (final and fifo.samples)):
            chunk = fifo.read(min(size, fifo.samples, limit - written))
            if chunk is None:  # pragma: no cover - the FIFO holds that many
                break
            chunk.pts, written = written, written + chunk.samples
            out.mux(audio_out.encode(chunk))

    source.seek(0)
    for decoded in source.decode(audio_in):
        for frame in resampler.resample(decoded):
            frame.pts = None  # the FIFO would check their continuity
            fifo.write(frame)
        if skip and fifo.samples:
            dropped = fifo.read(min(skip, fifo.samples))
            skip -= dropped.samples if dropped is not None else skip
        encode(final=False)
        if written >= limit:
            break
    else:
        for frame in resampler.resample(None):
            frame.pts = None
            fifo.write(frame)
    encode(final=True)
    out.mux(audio_out.encode(None))
