"""Local files confined to the server's allowed directories, checked again each time one is opened.

A path is resolved (its symlinks followed) and must lie inside an allowed root and outside every
denied path (the server's own state: its data directory and database, never a job's to read or
write, even where an allowed root holds them, as an allowed parent directory may hold ./data). The
file is then reached from the root's directory descriptor one component at a time with
``O_NOFOLLOW``, so a symlink planted or swapped in after the check makes the open fail instead of
leading outside; each directory and file opened is also compared by identity (device, inode) with
the denied paths, so neither a denied directory renamed into place nor a hard link to a denied
file gets through. A hard link to any other file inside the data dir (a model's manifest, a
snapshot) cannot be told from an ordinary file by its path, so a regular file with more than one
link on the file system of a denied path is refused as a whole. Directory listings walk at most
``MAX_DEPTH`` levels, without recursion.
Outputs are created under a random name with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and renamed into
place: a link already at the final name is replaced, never written through; temporary files of
the same output left by a killed job are removed when it is written again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

_NO_LINK = os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _NO_LINK
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _NO_LINK  # NONBLOCK: a planted FIFO must not hang the job
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_LINK
TOKEN_BYTES = 8  # random bytes in a temporary output name, .<name>.<hex>.part
MAX_DEPTH = 64  # directory levels a listing walks below its top: far beyond real data, far below any limit


class LocationError(Exception):
    """A location that exists in form but cannot be read or written (reported as a job failure)."""


OUTSIDE = "is outside the directories this server may access"
HARD_LINKED = (
    "has other hard links and lies on the file system of this server's own data, so it could be one of the "
    "server's files under another name: jobs do not read such files (copy it instead of linking it)"
)
SERVER_STATE = "lies in this server's own data (its data directory or database), which jobs may never read or write"

Identity = tuple[int, int]  # (st_dev, st_ino)


@dataclass(frozen=True)
class Roots:
    """Where jobs may read and write local files: inside an ``allowed`` directory, outside every ``denied`` path."""

    allowed: tuple[Path, ...]
    denied: tuple[Path, ...] = ()

    def root_of(self, path: Path) -> Path | None:
        """The allowed root holding the already resolved ``path`` (the innermost when roots nest).

        None if ``path`` is outside every allowed root or inside a denied path.
        """
        if self.denies(path):
            return None
        inside = [r for r in map(_resolved, self.allowed) if _within(path, r)]
        return max(inside, key=lambda r: len(r.parts), default=None)

    def denies(self, path: Path) -> bool:
        """Whether the already resolved ``path`` is, or lies inside, a denied path."""
        return any(_within(path, d) for d in map(_resolved, self.denied))

    def refusal(self, path: Path) -> str:
        """Why ``root_of`` found no root for ``path``: ``SERVER_STATE`` or ``OUTSIDE``."""
        return SERVER_STATE if self.denies(path) else OUTSIDE

    def denied_identities(self) -> frozenset[Identity]:
        """(device, inode) of each denied path that exists now, to recognise it however it is reached."""
        found = set()
        for path in self.denied:
            with contextlib.suppress(OSError):
                found.add(_identity(os.stat(path)))
        return frozenset(found)


def _within(path: Path, top: Path) -> bool:
    return path == top or top in path.parents


def _identity(st: os.stat_result) -> Identity:
    return st.st_dev, st.st_ino


def _resolved(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def _confine(path: Path, roots: Roots) -> tuple[Path, tuple[str, ...]]:
    """(root, components below it) of ``path`` resolved now; LocationError unless ``roots`` lets jobs use it."""
    resolved = _resolved(path)
    root = roots.root_of(resolved)
    if root is None:
        raise LocationError(f"{path} {roots.refusal(resolved)}.")
    return root, resolved.relative_to(root).parts


def _refuse_denied(fd: int, path: Path, denied: frozenset[Identity]) -> None:
    """LocationError if the open ``fd`` is one of the denied paths (reached by a rename or a hard link)."""
    if _identity(os.fstat(fd)) in denied:
        raise LocationError(f"{path} {SERVER_STATE}.")


def _error(path: Path, exc: OSError) -> LocationError:
    """A job failure for an OS error on ``path``; it names the path, never the file's content."""
    if exc.errno == errno.ENOENT:
        return LocationError(f"{path} does not exist")
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return LocationError(
            f"{path}: a component of it is a symbolic link or not a directory (a job opening a file checks "
            "links when it resolves the path, and never follows one that appears after)."
        )
    return LocationError(f"{path}: {exc.strerror or type(exc).__name__}")


def _walk(root: Path, parts: Sequence[str], denied: frozenset[Identity], create: bool = False) -> int:
    """A descriptor of the directory ``root/parts``, reached without following any link (made when ``create``).

    LocationError if a directory on the way is a denied one, however it came to be there.
    """
    fd = os.open(root, _DIR_FLAGS)
    try:
        _refuse_denied(fd, root, denied)
        for depth, part in enumerate(parts, 1):
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
            _refuse_denied(fd, root.joinpath(*parts[:depth]), denied)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_confined(path: Path, roots: Roots) -> int:
    """A read descriptor of ``path`` (file or directory) checked against the roots now, links not followed."""
    denied = roots.denied_identities()  # before the path check, so a denied directory moved after it is recognised
    root, parts = _confine(path, roots)
    try:
        parent = _walk(root, parts[:-1], denied)
        if not parts:
            return parent
        try:
            fd = os.open(parts[-1], _READ_FLAGS, dir_fd=parent)
        finally:
            os.close(parent)
    except OSError as exc:
        raise _error(path, exc) from None
    try:
        _refuse_denied(fd, path, denied)
    except LocationError:
        os.close(fd)
        raise
    return fd


def open_directory(path: Path, roots: Roots) -> int:
    """A descriptor of the directory ``path`` if it lies inside an allowed root now, reached without following links.

    FileNotFoundError when it does not exist; LocationError when it may not be used or cannot be opened.
    """
    denied = roots.denied_identities()
    root, parts = _confine(path, roots)
    try:
        return _walk(root, parts, denied)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _error(path, exc) from None


def open_read(path: Path, roots: Roots) -> BinaryIO:
    """``path`` opened for reading if it is a regular file inside an allowed root now."""
    fd = _open_confined(path, roots)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise LocationError(f"{path} is not a regular file.")
        if st.st_nlink > 1 and st.st_dev in {dev for dev, _ in roots.denied_identities()}:
            raise LocationError(f"{path} {HARD_LINKED}.")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def list_files(path: Path, roots: Roots, suffixes: tuple[str, ...] = ()) -> list[Path]:
    """The file ``path``, or every file under the directory ``path`` ending in one of ``suffixes`` (any if empty).

    Subdirectories are walked by descriptor without following links. A link to a file is listed
    (and checked again when opened), a link to a directory is not walked, and any link leading
    outside the allowed roots or into a denied path fails the listing. A denied path met in the
    walk (./data in the cwd) is left out, as if it were not there.
    """
    fd = _open_confined(path, roots)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode):
            return [path]
        if not stat.S_ISDIR(mode):
            raise LocationError(f"{path} is neither a regular file nor a directory.")
        try:
            return sorted(_files_under(fd, path, roots, suffixes, roots.denied_identities()))
        except OSError as exc:
            raise _error(path, exc) from None
    finally:
        os.close(fd)


def _files_under(
    top: int, path: Path, roots: Roots, suffixes: tuple[str, ...], denied: frozenset[Identity]
) -> Iterator[Path]:
    """Depth first, with a stack of open directories (at most ``MAX_DEPTH``), never recursing."""
    stack: list[tuple[int, Path, Iterator[os.DirEntry[str]]]] = []
    try:
        stack.append((top, path, iter(_entries(top))))
        while stack:
            fd, directory, entries = stack[-1]
            entry = next(entries, None)
            if entry is None:
                stack.pop()
                if fd != top:
                    os.close(fd)
                continue
            child = directory / entry.name
            wanted = not suffixes or entry.name.lower().endswith(suffixes)
            if entry.is_symlink():
                target = _resolved(child)
                if roots.root_of(target) is None:
                    raise LocationError(f"{child} links to a place that {roots.refusal(target)}.")
                if wanted and target.is_file():
                    yield child
            elif _identity(entry.stat(follow_symlinks=False)) in denied:
                continue
            elif entry.is_dir(follow_symlinks=False):
                if len(stack) >= MAX_DEPTH:
                    raise LocationError(f"{path} nests directories deeper than {MAX_DEPTH} levels (at {child}).")
                sub = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                try:
                    _refuse_denied(sub, child, denied)
                    stack.append((sub, child, iter(_entries(sub))))
                except BaseException:
                    os.close(sub)
                    raise
            elif wanted and entry.is_file(follow_symlinks=False):
                yield child
    finally:
        for fd, _, _ in stack:
            if fd != top:
                os.close(fd)


def _entries(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as entries:
        return list(entries)


class LocalOutput:
    """A new file ``directory/name`` written under a random exclusive temporary name, renamed into place on commit.

    The parent directory is resolved and checked against the roots, then reached by descriptor
    (missing directories are made); the final name itself is never resolved or followed, and may
    not be a denied path (a database file kept in an allowed directory).
    """

    def __init__(self, directory: Path, name: str, roots: Roots) -> None:
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or any(p in (".", "..") for p in parts):
            raise LocationError(f"Output name {name!r} escapes {directory}")
        parent = directory.joinpath(*parts[:-1])
        denied = roots.denied_identities()
        root, below = _confine(parent, roots)
        self.final = root.joinpath(*below, parts[-1])
        if roots.denies(self.final):
            raise LocationError(f"{self.final} {SERVER_STATE}.")
        self._name = parts[-1]
        self._tmp = f".{self._name}.{secrets.token_hex(TOKEN_BYTES)}.part"
        try:
            self._dir = _walk(root, below, denied, create=True)
        except OSError as exc:
            raise _error(parent, exc) from None
        try:
            self._remove_stale()
        except OSError as exc:
            os.close(self._dir)
            raise _error(parent, exc) from None
        try:
            self.handle: BinaryIO = os.fdopen(os.open(self._tmp, _CREATE_FLAGS, 0o666, dir_fd=self._dir), "wb")
        except OSError as exc:
            os.close(self._dir)
            raise _error(self.final, exc) from None

    def _remove_stale(self) -> None:
        """Unlink temporary files of this output left by a killed job (our exact pattern only; links not followed)."""
        stale = re.compile(rf"\.{re.escape(self._name)}\.[0-9a-f]{{{2 * TOKEN_BYTES}}}\.part")
        for entry in _entries(self._dir):
            if stale.fullmatch(entry.name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=self._dir)

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        """Close the file and rename it to its final name (replacing a link there, not following it)."""
        self.handle.close()
        try:
            os.replace(self._tmp, self._name, src_dir_fd=self._dir, dst_dir_fd=self._dir)
        except OSError as exc:
            self.discard()
            if exc.errno == errno.EISDIR:
                raise LocationError(f"{self.final} is a directory; the output cannot replace it.") from None
            raise _error(self.final, exc) from None
        os.close(self._dir)
        self._dir = -1

    def discard(self) -> None:
        """Close and remove the temporary file (on failure)."""
        if not self.handle.closed:
            self.handle.close()
        if self._dir >= 0:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._tmp, dir_fd=self._dir)
            os.close(self._dir)
            self._dir = -1
