"""Many inputs in one run: what ``--content-image`` names, where each result goes, and a
manifest that lets the same command, run again, redo only what is unfinished or changed.

**Inputs.** Each argument is a file, a folder, or a glob pattern (``*``, ``?``, ``[...]``,
``**`` across folders), taken in the order given, with the files of a folder or a pattern
in name order and a file named twice (however spelled) kept at its first place. A file is

* a *video* when its extension is one of ``VIDEO_SUFFIXES`` (decided by name: opening
  every file with FFmpeg would be slow, and FFmpeg reads photos as one-frame videos);
* else an *image* when Pillow recognises its header (its content decides, not its name;
  an animated GIF is an image: its first frame is painted);
* else *not an input*: named on its own it is an error; found in a folder or by a
  pattern it is skipped, and all those skipped make one warning line (``Expansion.warning``).

Folders are not entered recursively (a subfolder found in a folder is listed as skipped;
one matched by a pattern is read like a named folder), and hidden files (``.name``, such
as the manifest) are ignored. A named folder without an image or video, or a pattern that
matches none, is an error.

**Outputs** in a folder (``output_paths``): ``<stem>.jpg`` for a picture, ``<stem>.mp4``
for a video. When two inputs would get one name (``a/x.jpg`` and ``b/x.png``), or a name
that is one of the inputs, the later one in input order gets ``<stem>-2``, then ``-3``
and so on; names are compared without case, as macOS and Windows do.

**The manifest** (``Manifest``), ``.nstyle-manifest.json`` in the output folder, records
for each finished output the SHA-256 of its input file, of the settings that shape the
picture (a dict from the caller) and of the output file itself. An item is done only when
all three still match: a changed input, changed settings, or an output deleted or edited
since is done again. The manifest is rewritten atomically after each finished item, so an
interrupted run loses at most the item it was working on. A video's frames are entries of
their own (``part_key``), so that a run resumes at the first unfinished frame.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nstyle.errors import NStyleError
from nstyle.files import check_readable, replaced_atomically

IMAGE = "image"
VIDEO = "video"
# Containers FFmpeg reads that hold video as a rule. GIF is not among them: Pillow reads it.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv"}
    | {".ts", ".mts", ".m2ts", ".3gp", ".ogv"}
)
OUTPUT_SUFFIX = {IMAGE: ".jpg", VIDEO: ".mp4"}
MANIFEST = ".nstyle-manifest.json"
MANIFEST_VERSION = 1
WARNING_NAMES = 10  # the warning names this many skipped files, then counts the rest
GLOB_CHARACTERS = frozenset("*?[")
MAX_MATCHES = 100_000  # a pattern matching more paths is refused (symlink loops: ``**``
# through two of them matches without end)
MAX_MANIFEST_BYTES = 64 << 20  # a larger manifest is not one nstyle wrote: broken


@dataclass(frozen=True)
class Item:
    """One input: a picture or a video."""

    path: Path
    kind: str  # IMAGE or VIDEO
    found: bool = False  # found in a folder or by a pattern, not named on its own


@dataclass(frozen=True)
class Expansion:
    """The inputs found, in order, and the files skipped in folders and pattern matches."""

    items: tuple[Item, ...]
    skipped: tuple[Path, ...]

    def warning(self) -> str | None:
        """One line naming the skipped files (the first ``WARNING_NAMES``), or None."""
        if not self.skipped:
            return None
        names = [str(p) + ("/" if p.is_dir() else "") for p in self.skipped[:WARNING_NAMES]]
        more = len(self.skipped) - len(names)
        listed = ", ".join(names) + (f" and {more} more" if more else "")
        count = len(self.skipped)
        return (
            f"skipped {count} {'entry' if count == 1 else 'entries'} "
            f"that {'is' if count == 1 else 'are'} neither an image nor a video: {listed}"
        )


def kind_of(path: Path) -> str | None:
    """IMAGE, VIDEO, or None for neither (see the module's notes)."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return VIDEO
    return IMAGE if is_image(path) else None


def is_image(path: Path) -> bool:
    """Whether Pillow recognises the file's header as an image (no pixel is decoded)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: read_image guards
            with Image.open(path):
                return True
    except Image.DecompressionBombError:
        return True  # an image, too big: read_image says so with the limit to raise
    except Exception:  # Pillow's plugins raise many kinds on a file that is not theirs
        return False


def expand(arguments: Iterable[str | os.PathLike], what: str = "--content-image") -> Expansion:
    """The inputs that ``arguments`` (files, folders, glob patterns) name, in order.

    ``what`` names the option in error messages. Errors: a named file that does not exist,
    cannot be read or is neither an image nor a video; a named folder with no image or
    video in it; a pattern that matches none; no argument at all.
    """
    items: list[Item] = []
    skipped: list[Path] = []
    seen: set[tuple[int, int]] = set()

    def add(path: Path, kind: str, found: bool) -> None:
        info = path.stat()
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            items.append(Item(path, kind, found))

    def add_folder(folder: Path, named: bool) -> None:
        found = 0
        try:
            with os.scandir(folder) as scan:
                names = sorted(e.name for e in scan if not e.name.startswith("."))
        except OSError as exc:
            raise NStyleError(f"{what} {folder} cannot be read ({exc.strerror})") from None
        for name in names:
            path = folder / name
            if not _is_regular_file(path):
                skipped.append(path)
                continue
            kind = kind_of(path) if os.access(path, os.R_OK) else None
            if kind is None:
                skipped.append(path)
            else:
                add(path, kind, True)
                found += 1
        if named and found == 0:
            raise NStyleError(f"{what} {folder} is a folder that holds no image or video")

    given = [os.fspath(a) for a in arguments]
    if not given:
        raise NStyleError(f"{what}: no file, folder or pattern given")
    for argument in given:
        path = Path(argument)
        if not path.exists() and GLOB_CHARACTERS & set(argument):
            matches = _matches(argument, what)
            if not matches:
                raise NStyleError(f"{what} {argument}: no file matches the pattern")
            before = len(items)
            for match in matches:
                if match.is_dir():
                    add_folder(match, named=False)
                elif match.name.startswith("."):
                    continue
                elif (
                    not _is_regular_file(match)  # a pipe or a device: never opened
                    or not os.access(match, os.R_OK)
                    or (kind := kind_of(match)) is None
                ):
                    skipped.append(match)
                else:
                    add(match, kind, True)
            if len(items) == before and not any(_already(m, seen) for m in matches):
                raise NStyleError(f"{what} {argument}: no image or video matches the pattern")
        elif path.is_dir():
            add_folder(path, named=True)
        else:
            check_readable(path, what)
            kind = kind_of(path)
            if kind is None:
                raise NStyleError(f"{what} {path} is neither an image nor a video")
            add(path, kind, False)
    return Expansion(tuple(items), tuple(skipped))


def _matches(pattern: str, what: str) -> list[Path]:
    """The paths ``pattern`` matches, sorted, as ``glob`` would find them, but ``**``
    enters each folder once however many links lead to it: a folder that links back to
    itself or its parent (Python's ``glob`` would go round such loops without end) is
    walked once. More than ``MAX_MATCHES`` paths is refused."""
    parts = pattern.split(os.sep)
    root = os.sep if pattern.startswith(os.sep) else ""
    parts = [p for p in parts if p] if root else parts
    matches: list[str] = []
    entered: set[tuple[int, int, int]] = set()  # (device, inode, parts left) walked

    def names(folder: str) -> list[str]:
        try:
            with os.scandir(folder or os.curdir) as scan:
                return sorted(e.name for e in scan if not e.name.startswith("."))
        except OSError:
            return []

    def walk(base: str, rest: list[str]) -> None:
        if not rest:
            if len(matches) == MAX_MATCHES:
                raise NStyleError(
                    f"{what} {pattern}: the pattern matches more than {MAX_MATCHES} "
                    "paths; give a narrower one"
                )
            matches.append(base)
            return
        part, after = rest[0], rest[1:]
        if part == "**":
            try:
                info = os.stat(base or os.curdir)
            except OSError:
                return
            if not stat.S_ISDIR(info.st_mode) or (info.st_dev, info.st_ino, len(rest)) in entered:
                return
            entered.add((info.st_dev, info.st_ino, len(rest)))
            if after or base:
                walk(base, after)  # ** as no folder at all
            for name in names(base):
                path = os.path.join(base, name)
                if not after:
                    walk(path, [])
                if os.path.isdir(path):
                    walk(path, rest)
        elif GLOB_CHARACTERS & set(part):
            found = [n for n in names(base) if fnmatch.fnmatchcase(n, part)]
            if part.startswith("."):
                found = [n for n in _all_names(base) if fnmatch.fnmatchcase(n, part)]
            for name in found:
                path = os.path.join(base, name)
                if not after or os.path.isdir(path):
                    walk(path, after)
        else:
            path = os.path.join(base, part)
            if os.path.lexists(path) if not after else os.path.isdir(path):
                walk(path, after)

    walk(root, parts)
    return sorted(Path(m) for m in dict.fromkeys(matches))


def _all_names(folder: str) -> list[str]:
    """Every name in ``folder``, hidden ones included (a pattern that starts with a dot)."""
    try:
        return sorted(os.listdir(folder or os.curdir))
    except OSError:
        return []


def _is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _already(path: Path, seen: set[tuple[int, int]]) -> bool:
    """Whether ``path`` is a file already taken as an input (a pattern that repeats one)."""
    try:
        info = path.stat()
    except OSError:
        return False
    return (info.st_dev, info.st_ino) in seen


def output_paths(items: Sequence[Item], folder: str | os.PathLike) -> list[Path]:
    """Each item's output file in ``folder``: ``<stem>.jpg`` or ``<stem>.mp4``, made unique
    in input order with ``-2``, ``-3``, ... (see the module's notes)."""
    folder = Path(folder)
    taken = {str(item.path.resolve()).lower() for item in items}  # never write an input
    used: set[str] = set()
    paths = []
    for item in items:
        suffix = OUTPUT_SUFFIX[item.kind]
        stem, n = item.path.stem, 1
        while True:
            name = f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}"
            candidate = folder / name
            if name.lower() not in used and str(candidate.resolve()).lower() not in taken:
                break
            n += 1
        used.add(name.lower())
        paths.append(candidate)
    return paths


# ------------------------------------------------------------ the manifest
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
