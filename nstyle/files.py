"""The files a run reads and writes, checked before any work.

* Inputs (content, styles, weights, start image) are never written: an output, snapshot or
  log path that is one of them, however spelled (relative, symlink, hard link), is refused.
  The one exception is continuing a run: ``--init out.jpg --output out.jpg`` reads the start
  image first and replaces it only by the new picture's atomic write.
* Outputs are checked before the first epoch: a known image type, not a folder, writable.
* One run at a time writes into an output folder (an advisory ``flock`` on the folder), so
  two runs never overwrite each other's ``tmp_<epoch>.jpg``.

Nothing here imports MXNet.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nstyle.errors import NStyleError

SNAPSHOT = re.compile(r"tmp_([1-9][0-9]*)\.jpg")  # as snapshot_name writes them


def snapshot_name(epoch: int) -> str:
    """The original example's snapshot name, ``tmp_<epoch>.jpg``."""
    return f"tmp_{epoch}.jpg"


def check_readable(path: Path, what: str) -> None:
    """A regular file that can be read, or one line naming what it is instead."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise NStyleError(f"{what} {path} does not exist", subject=path) from None
    except OSError as exc:
        raise NStyleError(f"{what} {path} cannot be read ({exc.strerror})", subject=path) from None
    if stat.S_ISDIR(mode):
        raise NStyleError(f"{what} {path} is a folder, not a file", subject=path)
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        raise NStyleError(f"{what} {path} is {kind}, not a file", subject=path)
    if not os.access(path, os.R_OK):
        raise NStyleError(f"{what} {path} cannot be read (permission denied)", subject=path)


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: same device and inode (symlinks, hard links,
    relative spellings), or the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def check_folder(folder: Path, what: str) -> None:
    """Create ``folder`` if needed and fail now, not after the work, when it is not writable."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise NStyleError(f"{what}: cannot write into {folder} ({exc.strerror or exc})") from None


def check_writable_file(path: Path, what: str) -> None:
    """``path`` can be (re)placed: not a folder, not a special file, not read-only or
    immutable, in a writable folder."""
    if path.is_dir():
        raise NStyleError(
            f"{what} {path} is a folder; give a file name, e.g. "
            f"{path / ('out.jpg' if what == '--output' else 'losses.csv')}"
        )
    if path.exists() or path.is_symlink():
        if path.exists() and not path.is_file():
            raise NStyleError(f"{what} {path} exists and is not a regular file")
        mode = path.stat().st_mode if path.exists() else 0
        # read-only (no write bit: root's access() would ignore it) or immutable
        if path.exists() and (not mode & 0o222 or not os.access(path, os.W_OK)):
            raise NStyleError(
                f"{what} {path} exists and is write-protected; remove it or choose another name"
            )
    check_folder(path.parent, what)


def image_format(path: Path) -> str:
    """The writable image format of ``path``'s extension, e.g. JPEG for ``.jpg``."""
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise NStyleError(
            f"{path}: unknown image type {path.suffix or '(no extension)'!r}; use .jpg, .png "
            "or .tif (16 bits: .png, .tif)"
        )
    return fmt


@dataclass(frozen=True)
class RunFiles:
    """What one command-line run reads and writes."""

    inputs: tuple[Path, ...]  # content, styles, weights (once known)
    init: Path | None  # a start image file, read before anything is written
    output: Path
    log: Path | None
    save_epochs: int
    max_epochs: int  # over all scales

    def check(self) -> None:
        """Refuse before any work whatever would write an input or fail at the end."""
        check_writable_file(self.output, "--output")
        image_format(self.output)
        if self.log is not None:
            check_writable_file(self.log, "--log")
            if same_file(self.log, self.output):
                raise NStyleError(f"--log {self.log} and --output are the same file")
        self.check_inputs(self.inputs)

    def check_inputs(self, inputs) -> None:
        """No write may land on one of ``inputs`` (or on the start image, but for the
        final --output, which is the documented way to continue a run)."""
        protected = [(p, False) for p in inputs] + (
            [(self.init, True)] if self.init is not None else []
        )
        for path, is_init in protected:
            if not is_init and same_file(self.output, path):
                raise NStyleError(
                    f"--output {self.output} is the input {path}; writing "
                    "it would destroy it: choose another --output"
                )
            if self.log is not None and same_file(self.log, path):
                raise NStyleError(
                    f"--log {self.log} is the input {path}; writing it "
                    "would destroy it: choose another --log"
                )
        for path, what in ((self.output, "--output"), (self.log, "--log")):
            if path is not None and self.is_snapshot(path):
                raise NStyleError(
                    f"{what} {path} is also the name of a snapshot this run "
                    "writes; choose another name"
                )
        for snapshot in self.snapshots():
            if same_file(snapshot, self.output):
                raise NStyleError(
                    f"--output {self.output} is also the name of a snapshot "
                    f"this run writes; choose another name"
                )
            for path, is_init in protected:
                if same_file(snapshot, path):
                    which = "the --init image" if is_init else f"the input {path}"
                    raise NStyleError(
                        f"the snapshot {snapshot} would overwrite {which}; "
                        "use another --output folder (or --save-epochs 0)"
                    )

    def is_snapshot(self, path: Path) -> bool:
        """Whether this run writes a snapshot at ``path`` (existing or not)."""
        match = SNAPSHOT.fullmatch(path.name)
        return bool(
            match
            and self.save_epochs > 0
            and int(match[1]) % self.save_epochs == 0
            and 0 < int(match[1]) <= self.max_epochs
            and same_file(path.parent, self.output.parent)
        )

    def snapshots(self) -> list[Path]:
        """Existing ``tmp_<epoch>.jpg`` files in the output folder that this run would
        write (the rest cannot be anybody's input)."""
        if self.save_epochs <= 0 or not self.output.parent.is_dir():
            return []
        found = []
        for entry in os.scandir(self.output.parent):
            match = SNAPSHOT.fullmatch(entry.name)
            if (
                match
                and int(match[1]) % self.save_epochs == 0
                and 0 < int(match[1]) <= self.max_epochs
            ):
                found.append(Path(entry.path))
        return found


class FolderLock:
    """An exclusive advisory lock on the output folder for the run's lifetime.

    ``flock`` on the folder itself: no lock file to leave behind, released by the kernel
    when the process ends however it ends. Where the file system cannot lock, the run goes
    on unlocked.
    """

    def __init__(self, folder: Path):
        self.folder = folder
        self.fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(self.fd)
                self.fd = None
                raise NStyleError(
                    f"another nstyle run is writing into {self.folder} now; "
                    "wait for it or give this run another --output folder"
                ) from None
            # ENOLCK, EOPNOTSUPP (some network file systems): no lock, no refusal
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` to write to; renamed over ``path`` when the block
    ends without an exception, removed when it raises. The caller writes it whole.

    The rename is atomic, so ``path`` is the old file or the new one, never a part; the
    data is on disk (``fsync``) before it.
    An ``OSError`` (full disk, folder gone) becomes one line naming ``path``.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".part")
        os.close(fd)
        tmp = Path(name)
        yield tmp
        with open(tmp, "rb+") as written:
            os.fsync(written.fileno())  # a full disk shows here, not after the rename
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise NStyleError(f"cannot write {path} ({exc.strerror or exc})") from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
