"""Atomic file output and instrument/dataset folder lookup.

Nothing a command writes is ever left half-written: every writer renders into a
temporary file beside the target and renames it into place, so an error or a
Ctrl-C leaves either the old file or none.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from musicvae.errors import OutputError


def repo_root() -> Path:
    """The folder holding the ``musicvae`` package (a checkout's root)."""
    return Path(__file__).resolve().parents[1]


def _reason(error: OSError) -> str:
    """Why an OSError stopped a write, in words (no exception names)."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.EROFS:
        return "read-only file system"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device"
    if error.errno in (errno.ENOENT, errno.EINVAL, errno.EOPNOTSUPP):
        # The folder exists but refuses new files: /proc, /sys and other pseudo file systems.
        return "no files can be created there: a pseudo file system like /proc or /sys"
    if error.errno == errno.ENOTDIR:
        return "a file stands where a folder should be"
    return (error.strerror or str(error)).lower()


def _probe(folder: Path) -> None:
    """Create and remove a file in ``folder``: the one test of writability that also works as root."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".musicvae-probe-", dir=folder)
    except OSError as error:
        raise OutputError(f"cannot write to {folder}: {_reason(error)}") from None
    os.close(fd)
    os.unlink(tmp)


def check_output(path: str | Path, *, folder: bool = False) -> Path:
    """Check, without creating anything, that ``path`` (a file, or a folder with ``folder=True``) can be written.

    The folders it needs may not exist yet: the nearest one that does must be a writable folder.
    Cheap enough to run before any expensive work (the CLI checks every output option as it parses).

    Raises
    ------
    OutputError
        If ``path`` is a folder where a file is expected (or the reverse), a file stands in the way
        of a folder it needs, or the nearest existing folder cannot be written.
    """
    path = Path(path)
    if str(path) in ("", "."):
        path = Path(".")
    if folder:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path} is a file, expected a folder")
    elif path.is_dir():
        raise OutputError(f"{path} is a folder, expected a file path")
    existing = path if folder else path.parent
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputError(f"cannot create output folder under {existing}: it is a file")
    _probe(existing)
    return path


def prepare_output(path: str | Path) -> Path:
    """Create ``path``'s parent folder and check it is writable.

    Raises
    ------
    OutputError
        If the folder cannot be created or written.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {parent}: {_reason(error)}") from None
    if path.is_dir():
        raise OutputError(f"{path} is a folder, expected a file path")
    _probe(parent)
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps ``path``'s suffix so that writers choosing a format
    by extension (matplotlib, soundfile) still work.

    Raises
    ------
    OutputError
        If the folder cannot be created or written, or the file cannot be moved into place.
    """
    path = prepare_output(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {_reason(error)}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _chmod_like_open(tmp_path)
        os.replace(tmp_path, path)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {_reason(error)}") from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _chmod_like_open(path: Path) -> None:
    """Give ``path`` the mode a plain open()/mkdir() would: mkstemp/mkdtemp make private 0600/0700 entries."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically. Returns ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (old contents removed)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
    except OSError as error:
        raise OutputError(f"cannot create {path}: {_reason(error)}") from None
    try:
        yield tmp
        _chmod_like_open(tmp)
        for child in tmp.rglob("*"):
            _chmod_like_open(child)
        if path.exists():
            old = path.with_name(f".{path.name}-old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def print_written(paths) -> None:
    """Tell the user each file a command wrote, one ``wrote PATH`` line each (the CLI's output contract)."""
    for path in paths:
        print(f"wrote {path}")
