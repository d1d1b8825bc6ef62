"""Many inputs in one run: what ``--content-image`` names and where each result goes (the
manifest that records what is finished is ``nstyle.many.manifest``).

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

**Outputs** in a folder (``output_paths``): ``<stem>.jpg`` for a picture (or
--output-type's suffix: ``.png``, ``.tif``...), ``<stem>.mp4`` for a video. When two inputs
would get one name (``a/x.jpg`` and ``b/x.png``), or a name that is one of the inputs, the
later one in input order gets ``<stem>-2``, then ``-3`` and so on; names are compared
without case, as macOS and Windows do.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nstyle.errors import NStyleError
from nstyle.files import check_readable

IMAGE = "image"
VIDEO = "video"
# Containers FFmpeg reads that hold video as a rule. GIF is not among them: Pillow reads it.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".wmv", ".flv"}
    | {".ts", ".mts", ".m2ts", ".3gp", ".ogv"}
)
OUTPUT_SUFFIX = {IMAGE: ".jpg", VIDEO: ".mp4"}
WARNING_NAMES = 10  # the warning names this many skipped files, then counts the rest
GLOB_CHARACTERS = frozenset("*?[")
MAX_MATCHES = 100_000  # a pattern matching more paths is refused (symlink loops: ``**``
# through two of them matches without end)


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
    """Whether Pillow (with the HEIF plugin) recognises the file's header as an image (no
    pixel is decoded)."""
    import warnings

    from PIL import Image

    from nstyle.media.images import plugins

    plugins()

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
    given = [os.fspath(a) for a in arguments]
    if not given:
        raise NStyleError(f"{what}: no file, folder or pattern given")
    found = _Collector(what)
    for argument in given:
        path = Path(argument)
        if not path.exists() and GLOB_CHARACTERS & set(argument):
            found.add_pattern(argument)
        elif path.is_dir():
            found.add_folder(path, named=True)
        else:
            found.add_named(path)
    return Expansion(tuple(found.items), tuple(found.skipped))


class _Collector:
    """The inputs found so far, each file once (however spelled) at its first place, and
    the entries skipped in folders and pattern matches."""

    def __init__(self, what: str):
        self.what = what  # the option, in error messages
        self.items: list[Item] = []
        self.skipped: list[Path] = []
        self.seen: set[tuple[int, int]] = set()  # (device, inode) of each item

    def add(self, path: Path, kind: str, found: bool) -> None:
        info = path.stat()
        if (info.st_dev, info.st_ino) not in self.seen:
            self.seen.add((info.st_dev, info.st_ino))
            self.items.append(Item(path, kind, found))

    def add_named(self, path: Path) -> None:
        """A file named on its own: an error unless it is an image or a video."""
        check_readable(path, self.what)
        kind = kind_of(path)
        if kind is None:
            raise NStyleError(f"{self.what} {path} is neither an image nor a video")
        self.add(path, kind, False)

    def add_folder(self, folder: Path, named: bool) -> None:
        """The images and videos of ``folder`` in name order, not entered recursively."""
        found = 0
        try:
            with os.scandir(folder) as scan:
                names = sorted(e.name for e in scan if not e.name.startswith("."))
        except OSError as exc:
            raise NStyleError(f"{self.what} {folder} cannot be read ({exc.strerror})") from None
        for name in names:
            path = folder / name
            if not _is_regular_file(path):
                self.skipped.append(path)
                continue
            kind = kind_of(path) if os.access(path, os.R_OK) else None
            if kind is None:
                self.skipped.append(path)
            else:
                self.add(path, kind, True)
                found += 1
        if named and found == 0:
            raise NStyleError(f"{self.what} {folder} is a folder that holds no image or video")

    def add_pattern(self, argument: str) -> None:
        """What a glob pattern matches: folders read as named ones, files kept when they
        are images or videos; an error when none is."""
        what = self.what
        matches = _matches(argument, what)
        if not matches:
            raise NStyleError(f"{what} {argument}: no file matches the pattern")
        before = len(self.items)
        for match in matches:
            if match.is_dir():
                self.add_folder(match, named=False)
            elif match.name.startswith("."):
                continue
            elif (
                not _is_regular_file(match)  # a pipe or a device: never opened
                or not os.access(match, os.R_OK)
                or (kind := kind_of(match)) is None
            ):
                self.skipped.append(match)
            else:
                self.add(match, kind, True)
        if len(self.items) == before and not any(_already(m, self.seen) for m in matches):
            raise NStyleError(f"{what} {argument}: no image or video matches the pattern")


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


def output_paths(
    items: Sequence[Item], folder: str | os.PathLike, picture: str = OUTPUT_SUFFIX[IMAGE]
) -> list[Path]:
    """Each item's output file in ``folder``: ``<stem>.jpg`` (or the ``picture`` suffix,
    --output-type's) or ``<stem>.mp4``, made unique in input order with ``-2``, ``-3``, ...
    (see the module's notes)."""
    folder = Path(folder)
    suffixes = {**OUTPUT_SUFFIX, IMAGE: picture}
    taken = {str(item.path.resolve()).lower() for item in items}  # never write an input
    used: set[str] = set()
    paths = []
    for item in items:
        suffix = suffixes[item.kind]
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
