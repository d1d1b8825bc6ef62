"""Video in and out with PyAV: probe, frames, rate, sound, atomic writes, one-line errors."""

from fractions import Fraction

import av
import numpy as np
import pytest

from nstyle.errors import NStyleError
from nstyle.media import video

H, W, FRAMES, RATE = 24, 32, 6, Fraction(12)
SAMPLE_RATE = 48_000


def pan_frames(count=FRAMES, h=H, w=W) -> list[np.ndarray]:
    """Smooth, distinct frames (a colour ramp moving right), kind to a lossy codec."""
    y, x = np.mgrid[0:h, 0:w]
    return [
        np.stack([(x * 4 + 10 * i) % 256, y * 8, 200 - x * 3], axis=-1).astype(np.uint8)
        for i in range(count)
    ]


def make_video(path, audio=None, video_codec="libx264", frames=None, rate=RATE, fmt=None):
    """A real video written with PyAV itself (not by the module under test); ``audio``: an
    audio codec name for half a second per 6 frames of a 440 Hz tone, or None."""
    frames = pan_frames() if frames is None else frames
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(video_codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        sound = out.add_stream(audio, rate=SAMPLE_RATE) if audio else None
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts, picture.time_base = i, 1 / rate
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
        if sound is not None:
            write_tone(out, sound, round(SAMPLE_RATE * len(frames) / rate))
    return path


def write_tone(out, sound, samples: int) -> None:
    context = sound.codec_context
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE)
    size = context.frame_size or 1024
    planar = context.format.name.endswith("p")
    for start in range(0, samples, size):
        chunk = np.tile(tone[start : start + size], (2, 1))  # stereo
        if context.format.name.startswith("s16"):
            chunk = np.round(chunk * 32767).astype(np.int16)
        else:
            chunk = chunk.astype(np.float32)
        if not planar:
            chunk = chunk.T.reshape(1, -1)
        piece = av.AudioFrame.from_ndarray(chunk, format=context.format.name, layout="stereo")
        piece.sample_rate, piece.pts = SAMPLE_RATE, start
        out.mux(sound.encode(piece))
    out.mux(sound.encode(None))


def streams_of(path) -> dict[str, tuple[str, float]]:
    """Each stream's type: (codec, seconds)."""
    with av.open(str(path)) as container:
        return {
            s.type: (s.codec_context.name, float(s.duration * s.time_base))
            for s in container.streams
        }


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(audio=0) if p.size]


def test_probe_reads_count_rate_size_and_sound(tmp_path):
    info = video.probe(make_video(tmp_path / "clip.mp4", audio="aac"))
    assert (info.frames, info.rate, info.width, info.height) == (FRAMES, RATE, W, H)
    assert info.has_audio and info.duration == pytest.approx(0.5)
    assert not video.probe(make_video(tmp_path / "silent.mp4")).has_audio


def test_probe_counts_frames_where_the_container_keeps_no_count(tmp_path):
    clip = make_video(tmp_path / "clip.webm", audio="libopus", video_codec="libvpx-vp9")
    info = video.probe(clip)
    assert (info.frames, info.rate, info.has_audio) == (FRAMES, RATE, True)


@pytest.mark.parametrize("audio", [None, "aac"])
def test_round_trip_keeps_frames_rate_and_sound(tmp_path, audio):
    source = make_video(tmp_path / "clip.mp4", audio=audio)
    frames = list(video.read_frames(source))
    assert len(frames) == FRAMES
    assert all(f.dtype == np.uint8 and f.shape == (H, W, 3) for f in frames)
    for got, sent in zip(frames, pan_frames()):  # H.264 is lossy: close, not equal
        assert np.abs(got.astype(int) - sent).mean() < 6

    styled = [255 - f for f in frames]  # what a styler would return
    out = video.write_video(tmp_path / "out" / "styled.mp4", styled, RATE, audio_from=source)
    info = video.probe(out)
    assert (info.frames, info.rate, info.width, info.height) == (FRAMES, RATE, W, H)
    assert info.has_audio == (audio is not None)
    streams = streams_of(out)
    assert streams["video"] == ("h264", pytest.approx(0.5))
    if audio:  # copied as it is: the same packets, not re-encoded
        assert audio_packets(out) == audio_packets(source)
    again = list(video.read_frames(out))
    assert len(again) == FRAMES
    for got, sent in zip(again, styled):
        assert np.abs(got.astype(int) - sent).mean() < 6
    assert sorted(p.name for p in out.parent.iterdir()) == ["styled.mp4"]  # no temporary left


def test_sound_a_mp4_cannot_carry_is_re_encoded_to_aac(tmp_path):
    source = make_video(tmp_path / "clip.mkv", audio="pcm_s16le")
    out = video.write_video(tmp_path / "styled.mp4", video.read_frames(source), RATE, source)
    streams = streams_of(out)
    assert streams["audio"][0] == "aac" and streams["audio"][1] == pytest.approx(0.5, abs=0.03)
    with av.open(str(out)) as container:  # the tone survives: a loud, steady signal
        sound = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
    assert 0.15 < np.sqrt(np.mean(sound[len(sound) // 4 :] ** 2)) < 0.3


def test_other_frame_rates_are_kept_exactly(tmp_path):
    ntsc = Fraction(30000, 1001)
    out = video.write_video(tmp_path / "ntsc.mp4", pan_frames(3), ntsc)
    assert video.probe(out).rate == ntsc


def test_odd_sizes_are_padded_to_even_by_one_pixel(tmp_path):
    frames = [np.full((23, 31, 3), 90, np.uint8), np.full((23, 31, 3), 160, np.uint8)]
    info = video.probe(video.write_video(tmp_path / "odd.mp4", frames, 10))
    assert (info.width, info.height, info.frames) == (32, 24, 2)
    last = list(video.read_frames(tmp_path / "odd.mp4"))[-1]
    assert abs(int(last[-1, -1, 0]) - 160) <= 3  # the padding repeats the picture's edge
    assert video.pad_even(frames[0]).shape == (24, 32, 3)
    assert video.pad_even(frames[0][:22, :30]).shape == (22, 30, 3)


def test_unreadable_file_is_one_line(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_text("this is not a video\n")
    for call in (video.probe, lambda p: list(video.read_frames(p))):
        with pytest.raises(NStyleError, match="not a readable video") as caught:
            call(junk)
        assert "\n" not in str(caught.value) and str(junk) in str(caught.value)
    with pytest.raises(NStyleError, match="does not exist"):
        video.probe(tmp_path / "missing.mp4")


def test_a_photo_is_not_a_video(tmp_path):
    from PIL import Image

    Image.fromarray(pan_frames(1)[0]).save(tmp_path / "photo.png")
    with pytest.raises(NStyleError, match="a still image"):
        video.probe(tmp_path / "photo.png")


def test_zero_frames_are_one_line(tmp_path):
    # Matroska keeps an empty video track (beside a sound one); MP4 drops it.
    for name, message in (("empty.mkv", "has no frames"), ("empty.mp4", "no video stream")):
        path = tmp_path / name
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=12)
            stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
            write_tone(out, out.add_stream("aac", rate=SAMPLE_RATE), SAMPLE_RATE // 2)
        for call in (video.probe, lambda p: list(video.read_frames(p))):
            with pytest.raises(NStyleError, match=message) as caught:
                call(path)
            assert "\n" not in str(caught.value)


def test_write_refuses_no_frames_mixed_sizes_and_other_types_leaving_nothing(tmp_path):
    target = tmp_path / "out.mp4"
    with pytest.raises(NStyleError, match="no frames to write"):
        video.write_video(target, [], 12)
    frames = pan_frames(2) + [np.zeros((H + 2, W, 3), np.uint8)]
    with pytest.raises(NStyleError, match="frame 3 is 32x26, the first was 32x24"):
        video.write_video(target, frames, 12)
    with pytest.raises(NStyleError, match="must be RGB uint8"):
        video.write_video(target, [np.zeros((H, W), np.float32)], 12)
    with pytest.raises(NStyleError, match=r"\.mp4, \.m4v, \.mov"):
        video.write_video(tmp_path / "out.avi", pan_frames(1), 12)
    assert list(tmp_path.iterdir()) == []  # neither the output nor a temporary file


def test_a_failed_rewrite_keeps_the_old_file(tmp_path):
    target = video.write_video(tmp_path / "out.mp4", pan_frames(2), 12)
    before = target.read_bytes()

    def frames_then_failure():
        yield from pan_frames(2)
        raise RuntimeError("the styler crashed")

    with pytest.raises(RuntimeError):
        video.write_video(target, frames_then_failure(), 12)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_read_frames_turns_rotated_video_upright(tmp_path):
    path = tmp_path / "phone.mp4"
    frames = pan_frames(2)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.set_display_rotation(90)  # a phone held upright: stored sideways
        for i, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts, picture.time_base = i, 1 / RATE
            out.mux(stream.encode(picture))
        out.mux(stream.encode(None))
    info = video.probe(path)
    assert (info.width, info.height) == (H, W)
    got = list(video.read_frames(path))
    assert got[0].shape == (W, H, 3)
    # rotation 90 in the display matrix: the picture is shown turned a quarter counterclockwise
    assert np.abs(got[0].astype(int) - np.rot90(frames[0], 1)).mean() < 6
