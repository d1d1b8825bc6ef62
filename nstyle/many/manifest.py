"""What is finished in an output folder, so that the same command, run again, redoes only
what is unfinished or changed; and the settings a finished picture is keyed by.

**The manifest** (``Manifest``), ``.nstyle-manifest.json`` in the output folder, records
for each finished output the SHA-256 of its input file, of the settings that shape the
picture (a dict from the caller) and of the output file itself. An item is done only when
all three still match: a changed input, changed settings, or an output deleted or edited
since is done again. The manifest is rewritten atomically after each finished item, so an
interrupted run loses at most the item it was working on. A video's frames are entries of
their own (``part_key``), so that a run resumes at the first unfinished frame.

**Settings** (``settings``): every option but those that do not change the picture, files
by their content, the denoising of written files, and for videos the scene-cut rule; their
hash (``settings_hash``) is part of each item's key, so a rerun with other settings paints
again. The hash must stay as it is: the manifests of earlier runs are keyed by it (masks,
when given, are added as keys of their own: a run without them hashes as before).

**How a picture is written** changes its file, not the painting: the photo's own profile
and its location (``written``) are settings of a picture, left out at their defaults so
that earlier manifests stay valid; the output type (--output-type) is the file's name, not
a setting: each type's file is an entry of its own under the item's key, so a rerun with
another type paints that type's files and keeps the first (still vouched for: a rerun with
the first type again paints nothing).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nstyle.config import Options
from nstyle.errors import NStyleError
from nstyle.files import replaced_atomically
from nstyle.many.inputs import IMAGE, VIDEO
from nstyle.media.scenes import CUT_CORRELATION, HISTOGRAM_EDGE

MANIFEST = ".nstyle-manifest.json"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 64 << 20  # a larger manifest is not one nstyle wrote: broken
NOT_SHAPING = frozenset({"max_memory"})  # options that do not change the picture (the
# memory plan computes the same objective, whole or tile by tile)
PICTURE_ONLY_IGNORES = frozenset({"temporal_weight"})  # a picture has no previous frame
# Options added after manifests were first written, with the value that means what runs
# before them did: left out at that value, so that those manifests stay valid.
ADDED_LATER = {
    "style_loss": "gram",
    "photo": False,
    "matting_weight": None,
    "photo_regions": 1,
    "post_process": None,
}


def settings(
    options: Options,
    style_hashes: Sequence[str],
    remove_noise: float,
    kind: str,
    extra: dict[str, Any] | None = None,
    *,
    mask_hashes: Sequence[str] | None = None,
    style_mask_hashes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The settings a manifest key is made of (``settings_hash``): every option but those
    that do not change the picture, files by their content (styles, weights, a start
    image, the masks: ``file_hash`` of each), the denoising of written files, and for
    videos the scene-cut rule. Without masks there is no mask key at all, and options added
    later are left out at their old meaning (``ADDED_LATER``), so that the manifests of
    earlier runs stay valid."""
    shaping = dataclasses.replace(options, style_loss=options.statistics)  # as painted
    values = {
        f.name: getattr(shaping, f.name)
        for f in dataclasses.fields(shaping)
        if f.name not in NOT_SHAPING
        and not (kind == IMAGE and f.name in PICTURE_ONLY_IGNORES)
        and not (f.name in ADDED_LATER and getattr(shaping, f.name) == ADDED_LATER[f.name])
    }
    if options.weights:
        values["weights"] = file_hash(options.weights)
    if Path(options.init).is_file():
        values["init"] = file_hash(options.init)
    values.update(styles=list(style_hashes), remove_noise=remove_noise, kind=kind)
    if mask_hashes is not None:
        values["masks"] = list(mask_hashes)
    if style_mask_hashes is not None:
        values["style_masks"] = list(style_mask_hashes)
    if kind == VIDEO:
        values.update(cut_correlation=CUT_CORRELATION, histogram_edge=HISTOGRAM_EDGE)
    values.update(extra or {})
    return values


def written(profile: str, location: bool, kind: str) -> dict[str, Any]:
    """The settings of how a picture is written that change its file (``settings``'s
    ``extra``): the photo's profile and location, only when not the defaults (the hash of
    a default run is as before); none for a video, written in sRGB without metadata."""
    if kind != IMAGE:
        return {}
    return {
        **({"output_profile": profile} if profile != "srgb" else {}),
        **({"keep_location": True} if location else {}),
    }


def file_hash(path: str | os.PathLike) -> str:
    """SHA-256 of a file's content, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def settings_hash(settings: Mapping[str, Any]) -> str:
    """SHA-256 of the settings that shape a picture, independent of their order.

    Values are JSON (numbers, strings, None, lists, tuples, dicts); anything else is
    written as its ``str`` (a Path, say). The caller includes whatever changes the result:
    the options, the style images' ``file_hash``, the weights file's.
    """
    text = json.dumps(dict(settings), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def item_key(input_hash: str, settings: str) -> str:
    """The manifest key of one input under one set of settings (both hashes)."""
    return f"{input_hash}:{settings}"


def part_key(key: str, part: int | str) -> str:
    """The key of a part of an item, e.g. frame 17 of a video: ``part_key(key, 17)``."""
    return f"{key}#{part}"


class Manifest:
    """What is finished in an output folder: for each item key, its outputs and their
    hashes. Outputs are stored relative to the folder, so that it can be moved.

    A manifest that is unreadable as JSON (nested too deep included), larger than
    ``MAX_MANIFEST_BYTES`` or of another version is *broken* (``broken`` says why) and
    counts as empty: everything is redone, which loses time but never a picture (an
    output it no longer vouches for is not replaced: see ``wrote``). One that is a folder,
    a pipe or a device is refused: it is not a file nstyle wrote.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        self.broken: str | None = None
        self.entries: dict[str, dict[str, str]] = self._load()

    def _load(self) -> dict[str, dict[str, str]]:
        try:
            info = self.path.stat()
        except (FileNotFoundError, NotADirectoryError):  # no folder yet: said elsewhere
            return {}
        except OSError as exc:
            raise NStyleError(f"cannot read {self.path} ({exc.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise NStyleError(
                f"{self.path} is {what}, not nstyle's manifest; it is kept: move it "
                "away or choose another --output"
            )
        if info.st_size > MAX_MANIFEST_BYTES:
            self.broken = f"larger than {MAX_MANIFEST_BYTES >> 20} MiB"
            return {}
        try:
            data = json.loads(self.path.read_bytes())
        except OSError as exc:
            raise NStyleError(f"cannot read {self.path} ({exc.strerror})") from None
        except (ValueError, RecursionError) as exc:
            self.broken = "not JSON" if isinstance(exc, ValueError) else "nested too deep"
            return {}
        if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
            self.broken = "not a manifest of this version"
            return {}
        entries = data.get("entries")
        if not isinstance(entries, dict):
            self.broken = "no entries"
            return {}
        return {
            key: {str(name): str(digest) for name, digest in outputs.items()}
            for key, outputs in entries.items()
            if isinstance(outputs, dict)
        }

    def _name(self, output: str | os.PathLike) -> str:
        """``output`` (relative to the working folder, as paths are) relative to the
        manifest's folder, with forward slashes."""
        absolute = Path(os.path.abspath(output))
        try:
            return absolute.relative_to(os.path.abspath(self.folder)).as_posix()
        except ValueError:
            raise ValueError(f"{output} is not inside {self.folder}") from None

    def is_done(self, key: str, output: str | os.PathLike) -> bool:
        """Whether ``output`` was finished under ``key`` and is still the file written."""
        name = self._name(output)
        digest = self.entries.get(key, {}).get(name)
        path = self.folder / name
        if digest is None or not path.is_file():
            return False
        try:
            return file_hash(path) == digest
        except OSError:
            return False

    def wrote(self, output: str | os.PathLike) -> bool:
        """Whether ``output`` is a file this manifest records, unchanged since: one that
        nstyle wrote and may replace. Any other file there is the user's."""
        name = self._name(output)
        digests = {outputs[name] for outputs in self.entries.values() if name in outputs}
        path = self.folder / name
        if not digests or path.is_symlink() or not path.is_file():
            return False
        try:
            return file_hash(path) in digests
        except OSError:
            return False

    def outputs(self) -> set[str]:
        """The real paths (``os.path.realpath``) of every output recorded: pictures,
        videos, frames."""
        names = {name for outputs in self.entries.values() for name in outputs}
        return {os.path.realpath(self.folder / name) for name in names}

    def record(self, key: str, output: str | os.PathLike) -> None:
        """Mark ``output`` (written whole) finished under ``key``, and save the manifest.

        An output holds one picture: entries of other keys for the same file are dropped.
        """
        name = self._name(output)
        try:
            digest = file_hash(self.folder / name)
        except OSError as exc:
            raise NStyleError(f"cannot read {self.folder / name} ({exc.strerror})") from None
        for outputs in self.entries.values():
            outputs.pop(name, None)
        self.entries.setdefault(key, {})[name] = digest
        self._save()

    def forget(self, key: str) -> None:
        """Drop the entries of the parts of ``key`` (``part_key``), e.g. a video's frames
        once the video is written; the item's own entry stays."""
        prefix = key + "#"
        for stale in [k for k in self.entries if k.startswith(prefix)]:
            del self.entries[stale]
        self._save()

    def first_unfinished(self, parts: Sequence[tuple[str, str | os.PathLike]]) -> int:
        """The index of the first (key, output) in ``parts`` not done, or ``len(parts)``:
        where a video run resumes."""
        for index, (key, output) in enumerate(parts):
            if not self.is_done(key, output):
                return index
        return len(parts)

    def _save(self) -> None:
        entries = {key: outputs for key, outputs in sorted(self.entries.items()) if outputs}
        self.entries = entries
        text = json.dumps({"version": MANIFEST_VERSION, "entries": entries}, indent=1)
        with replaced_atomically(self.path) as tmp:
            tmp.write_text(text + "\n")
