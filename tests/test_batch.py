"""Many inputs: files, folders and globs; output names; the resumable manifest."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nstyle.errors import NStyleError
from nstyle.many import inputs
from nstyle.many.inputs import IMAGE, VIDEO, Item
from nstyle.many.manifest import (
    MANIFEST,
    MANIFEST_VERSION,
    MAX_MANIFEST_BYTES,
    Manifest,
    file_hash,
    item_key,
    part_key,
    settings_hash,
)
from nstyle.media.images import read_image, write_image


def picture(path, value=0, fmt=None):
    """A small real image file, its pixels set by ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((8, 12, 3), value, np.uint8)
    pixels[2:5, 3:9] = (value + 90) % 256
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def names(items, root):
    return [(str(item.path.relative_to(root)), item.kind) for item in items]


@pytest.fixture
def photos(tmp_path):
    """photos/: two images, one of them named without an image extension, a text file, a
    hidden file, a subfolder and a video (by name)."""
    folder = tmp_path / "photos"
    picture(folder / "b.jpg", 10)
    picture(folder / "a_png_named.dat", 20, fmt="PNG")  # an image by its content
    (folder / "notes.txt").write_text("not a picture\n")
    (folder / ".DS_Store").write_bytes(b"\0\1\2")
    (folder / "more").mkdir()
    (folder / "clip.MP4").write_bytes(b"a video, by its name")
    return folder


def test_a_folder_gives_its_images_and_videos_in_name_order_and_one_warning(photos, tmp_path):
    found = inputs.expand([photos])
    assert names(found.items, tmp_path) == [
        ("photos/a_png_named.dat", IMAGE),
        ("photos/b.jpg", IMAGE),
        ("photos/clip.MP4", VIDEO),
    ]
    assert found.skipped == (photos / "more", photos / "notes.txt")  # hidden files ignored
    warning = found.warning()
    assert warning is not None and "\n" not in warning
    assert warning.startswith("skipped 2 entries that are neither an image nor a video: ")
    assert warning.endswith(f"{photos / 'more'}/, {photos / 'notes.txt'}")


def test_files_folders_and_globs_in_the_order_given_without_repeats(photos, tmp_path):
    one = picture(tmp_path / "one.png", 30)
    other = picture(tmp_path / "shots" / "x.jpg", 40)
    picture(tmp_path / "shots" / "y.jpg", 50)
    (tmp_path / "shots" / "readme.md").write_text("#")
    found = inputs.expand([one, str(tmp_path / "shots" / "*"), photos, other, str(one)])
    assert names(found.items, tmp_path) == [
        ("one.png", IMAGE),
        ("shots/x.jpg", IMAGE),
        ("shots/y.jpg", IMAGE),
        ("photos/a_png_named.dat", IMAGE),
        ("photos/b.jpg", IMAGE),
        ("photos/clip.MP4", VIDEO),
    ]
    assert tmp_path / "shots" / "readme.md" in found.skipped
    recursive = inputs.expand([str(tmp_path / "**" / "*.jpg")])
    assert names(recursive.items, tmp_path) == [
        ("photos/b.jpg", IMAGE),
        ("shots/x.jpg", IMAGE),
        ("shots/y.jpg", IMAGE),
    ]
    assert inputs.expand([str(tmp_path / "sh?ts")]).items == found.items[1:3]  # a matched folder


def test_bad_arguments_are_one_line_errors(photos, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no pictures here\n")
    cases = [
        ([empty], f"--content-image {empty} is a folder that holds no image or video"),
        ([photos / "notes.txt"], "is neither an image nor a video"),
        ([tmp_path / "missing.jpg"], "does not exist"),
        ([str(tmp_path / "*.gif")], "no file matches the pattern"),
        ([str(photos / "*.txt")], "no image or video matches the pattern"),
        ([], "no file, folder or pattern given"),
    ]
    for arguments, message in cases:
        with pytest.raises(NStyleError, match=message) as caught:
            inputs.expand(arguments)
        assert "\n" not in str(caught.value)


def test_output_names_are_stems_made_unique_in_input_order(tmp_path):
    items = [
        Item(tmp_path / "a" / "x.jpg", IMAGE),
        Item(tmp_path / "b" / "x.png", IMAGE),
        Item(tmp_path / "c" / "X.jpeg", IMAGE),
        Item(tmp_path / "x-2.jpg", IMAGE),
        Item(tmp_path / "x.mov", VIDEO),
        Item(tmp_path / "out" / "y.jpg", IMAGE),  # an input in the output folder
    ]
    out = tmp_path / "out"
    assert [p.name for p in inputs.output_paths(items, out)] == [
        "x.jpg",
        "x-2.jpg",
        "X-3.jpg",
        "x-2-2.jpg",
        "x.mp4",
        "y-2.jpg",  # never the input itself
    ]
    assert all(p.parent == out for p in inputs.output_paths(items, out))


def test_settings_hash_ignores_order_and_sees_every_value():
    first = settings_hash({"style_weight": 1.0, "styles": ("a", "b"), "seed": None})
    assert first == settings_hash({"seed": None, "styles": ["a", "b"], "style_weight": 1.0})
    assert first != settings_hash({"style_weight": 1.5, "styles": ("a", "b"), "seed": None})


def style_folder(arguments, out, settings) -> list[str]:
    """A batch run as a front end would do it, with a cheap real "style" (the negative):
    the names of the outputs it had to make."""
    made = []
    found = inputs.expand(arguments)
    manifest = Manifest(out)
    settings_key = settings_hash(settings)
    for item, output in zip(found.items, inputs.output_paths(found.items, out)):
        key = item_key(file_hash(item.path), settings_key)
        if manifest.is_done(key, output):
            continue
        write_image(output, (255 - read_image(item.path)) // settings["divisor"])
        manifest.record(key, output)
        made.append(output.name)
    return made


def test_a_second_run_does_nothing_and_changes_redo_only_their_items(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    for name, value in (("a.jpg", 10), ("b.png", 20), ("c.jpg", 30)):
        picture(photos / name, value)
    settings = {"divisor": 1, "style": "hash-of-the-painting"}
    assert style_folder([photos], out, settings) == ["a.jpg", "b.jpg", "c.jpg"]
    assert style_folder([photos], out, settings) == []  # all finished and unchanged

    picture(photos / "b.png", 99)  # a changed input
    assert style_folder([photos], out, settings) == ["b.jpg"]

    (out / "c.jpg").unlink()  # a deleted output
    assert style_folder([photos], out, settings) == ["c.jpg"]

    write_image(out / "a.jpg", np.zeros((8, 12, 3), np.uint8))  # an output replaced since
    assert style_folder([photos], out, settings) == ["a.jpg"]

    picture(photos / "d.jpg", 40)  # a new input
    assert style_folder([photos], out, settings) == ["d.jpg"]

    changed = dict(settings, divisor=2)  # changed settings redo everything
    assert style_folder([photos], out, changed) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert style_folder([photos], out, changed) == []
    assert style_folder([photos], out, settings) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]

    data = json.loads((out / MANIFEST).read_text())
    assert data["version"] == MANIFEST_VERSION
    outputs = [name for entry in data["entries"].values() for name in entry]
    assert sorted(outputs) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]  # no stale entries
    assert sorted(p.name for p in out.iterdir()) == sorted(outputs + [MANIFEST])


def test_identical_inputs_in_two_places_are_both_kept(tmp_path):
    picture(tmp_path / "a" / "x.jpg", 10)
    picture(tmp_path / "b" / "x.jpg", 10)  # the same bytes
    arguments, out = [tmp_path / "a", tmp_path / "b"], tmp_path / "out"
    assert style_folder(arguments, out, {"divisor": 1}) == ["x.jpg", "x-2.jpg"]
    assert style_folder(arguments, out, {"divisor": 1}) == []


def test_a_damaged_manifest_means_redo_not_a_failure(tmp_path):
    picture(tmp_path / "photos" / "a.jpg", 10)
    out = tmp_path / "out"
    assert style_folder([tmp_path / "photos"], out, {"divisor": 1}) == ["a.jpg"]
    (out / MANIFEST).write_text('{"version": 1, "entries": ')
    assert style_folder([tmp_path / "photos"], out, {"divisor": 1}) == ["a.jpg"]
    assert style_folder([tmp_path / "photos"], out, {"divisor": 1}) == []


def test_a_video_resumes_at_its_first_unfinished_frame(tmp_path):
    out = tmp_path / "out"
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"stands for a video's bytes")
    key = item_key(file_hash(clip), settings_hash({"temporal_weight": 1}))
    frames = out / ".frames-clip"
    parts = [(part_key(key, t), frames / f"{t:06d}.png") for t in range(5)]

    manifest = Manifest(out)
    assert manifest.first_unfinished(parts) == 0
    for t in range(3):  # the run is interrupted after frame 3 of 5
        write_image(parts[t][1], np.full((4, 4, 3), t, np.uint8))
        manifest.record(*parts[t])
    assert Manifest(out).first_unfinished(parts) == 3  # a new run, reading the file

    os.remove(parts[1][1])  # a frame lost since: resume there
    assert Manifest(out).first_unfinished(parts) == 1

    manifest = Manifest(out)
    for t in range(1, 5):
        write_image(parts[t][1], np.full((4, 4, 3), t, np.uint8))
        manifest.record(*parts[t])
    assert manifest.first_unfinished(parts) == 5
    video = out / "clip.mp4"
    video.write_bytes(b"the written video")
    manifest.record(key, video)
    manifest.forget(key)  # the frames are in the video now
    again = Manifest(out)
    assert again.is_done(key, video) and again.first_unfinished(parts) == 0
    assert list(again.entries) == [key]


def test_manifest_refuses_outputs_outside_its_folder(tmp_path):
    with pytest.raises(ValueError, match="is not inside"):
        Manifest(tmp_path / "out").is_done("key", tmp_path / "elsewhere.jpg")


def test_manifest_paths_are_relative_to_the_working_folder_like_any_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "out" / "x.jpg", np.zeros((4, 4, 3), np.uint8))
    Manifest("out").record("key", "out/x.jpg")
    again = Manifest(tmp_path / "out")
    assert again.entries == {"key": {"x.jpg": file_hash(tmp_path / "out" / "x.jpg")}}
    assert again.is_done("key", tmp_path / "out" / "x.jpg")


@pytest.mark.parametrize(
    "pattern",
    ["**", "**/*.png", "p/**", "p/**/*.png", "*.png", "p/*", "**/q", "*/q/*.png", ".h/*", "p/.*"],
)
def test_patterns_match_what_glob_matches(tmp_path, monkeypatch, pattern):
    import glob

    for name in ("p/a.png", "p/q/b.png", "p/q/r/c.jpg", "top.png", ".h/x.png", "p/.y.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    expected = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
    assert inputs._matches(pattern, "x") == expected


def test_double_star_enters_each_folder_once_through_symlink_loops(tmp_path, monkeypatch):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "a" / "up").symlink_to("..")
    (deep / "up2").symlink_to("../..")
    picture(deep / "x.png")
    monkeypatch.chdir(tmp_path)
    assert [item.path for item in inputs.expand(["**/*.png"]).items] == [Path("a/b/x.png")]
    with pytest.raises(NStyleError, match="no file matches"):
        inputs.expand(["**/*.jpg"])
    monkeypatch.setattr(inputs, "MAX_MATCHES", 3)
    with pytest.raises(NStyleError, match="matches more than 3 paths"):
        inputs.expand(["**"])


def test_the_manifest_vouches_only_for_unchanged_files_it_recorded(tmp_path):
    manifest = Manifest(tmp_path)
    picture(tmp_path / "a.jpg", 1)
    picture(tmp_path / "mine.jpg", 2)
    manifest.record("k", tmp_path / "a.jpg")
    assert manifest.wrote(tmp_path / "a.jpg") and not manifest.wrote(tmp_path / "mine.jpg")
    assert manifest.outputs() == {os.path.realpath(tmp_path / "a.jpg")}
    picture(tmp_path / "a.jpg", 3)  # edited since
    assert not Manifest(tmp_path).wrote(tmp_path / "a.jpg")
    (tmp_path / MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    broken = Manifest(tmp_path)
    assert broken.entries == {} and broken.broken == "nested too deep"
    os.truncate(tmp_path / MANIFEST, MAX_MANIFEST_BYTES + 1)
    assert Manifest(tmp_path).broken == "larger than 64 MiB"
    os.unlink(tmp_path / MANIFEST)
    os.mkfifo(tmp_path / MANIFEST)
    with pytest.raises(NStyleError, match="not a regular file, not nstyle's manifest"):
        Manifest(tmp_path)
