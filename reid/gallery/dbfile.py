"""The gallery's SQLite file before it is opened for writing: checked without changing it, created atomically.

Opening a SQLite file for writing is not neutral: switching it to WAL rewrites its header, and any connection may
create ``-wal``/``-shm`` files beside it. A file that turns out to be another program's database, an empty file
or a damaged copy must come out of the check exactly as it went in, so the check reads the header with plain
file reads and the schema through a read-only connection: ``immutable=1`` when no other connection has the file
open (no ``-wal``/``-shm`` beside it; even ``mode=ro`` would create them for a WAL database), ``mode=ro``
otherwise (the files exist already, and their locks keep the read consistent while a run writes).

A new gallery database is built under a temporary name and linked into place only when its schema and meta rows
are committed, so a crash never leaves an empty or half-made ``gallery.sqlite`` that would later look foreign,
and two runs creating one gallery at the same time end up sharing one database.

Only a regular file is opened at all: a FIFO would block the first read forever, a link to ``/dev/zero`` would
never end. A failure of the disk or of the permissions (a full disk, a read-only file system, a folder this
user may not write) is reported as what it is (:func:`os_failure`, :func:`sqlite_failure`), never as a damaged
gallery.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
import struct
import uuid
from collections.abc import Iterable
from pathlib import Path

from reid.errors import GalleryError

SQLITE_MAGIC = b"SQLite format 3\x00"
HINT = "point --gallery at a reid gallery folder or at a new folder; the file was left as it was"
SIDE_FILES = ("-wal", "-shm", "-journal")  # what SQLite keeps beside a database
NEARLY_FULL = 1 << 20  # bytes free below which a disk I/O error of SQLite is taken for a full disk

_READERS = "reid gallery info, search and export still read it"
_CAUSE_HINTS = {
    errno.ENOSPC: "free some space, or point --gallery at another disk; the gallery was left as it was",
    errno.EDQUOT: "free some space within your quota, or point --gallery at another disk; the gallery was left as "
                  "it was",
    errno.EROFS: f"the file system is read-only: {_READERS}; to add to it, copy it to a writable disk and point "
                 "--gallery there",
    errno.EACCES: f"this user may not write the gallery or its folder: {_READERS}; to add to it, fix the "
                  "permissions, or copy it and point --gallery at the copy",
    errno.EIO: "the disk or its file system failed: check it before using --gallery again",
}
_CAUSE_HINTS[errno.EPERM] = _CAUSE_HINTS[errno.EACCES]
# SQLite's result codes (and the start of their messages) for a failure of the disk or of the permissions
_SQLITE_CAUSES = (
    ("SQLITE_FULL", "database or disk is full", errno.ENOSPC),
    ("SQLITE_READONLY", "attempt to write a readonly database", errno.EACCES),
    ("SQLITE_CANTOPEN", "unable to open database file", errno.EACCES),
    ("SQLITE_PERM", "access permission denied", errno.EPERM),
    ("SQLITE_IOERR", "disk i/o error", errno.EIO),
)


def os_failure(exc: OSError, path: str | os.PathLike[str], what: str) -> GalleryError:
    """A :class:`GalleryError` for an OS failure on a gallery file: what failed, where, why (with the free space
    for a full disk, from :func:`reid.outputs.output_error`), and what to do."""
    from reid.outputs import output_error

    return GalleryError(output_error(exc, path, what).message, _CAUSE_HINTS.get(exc.errno or 0, "check --gallery"))


def sqlite_failure(exc: sqlite3.Error, path: Path, what: str) -> GalleryError | None:
    """The real cause of a SQLite error that comes from the disk or the permissions, or None (the file itself
    is at fault: corrupt, foreign, busy)."""
    name, text = str(getattr(exc, "sqlite_errorname", "") or ""), str(exc).lower()
    number = next((n for code, phrase, n in _SQLITE_CAUSES if name.startswith(code) or phrase in text), None)
    if number is None:
        return None
    if number in (errno.EACCES, errno.EPERM) and _read_only_file_system(path):
        number = errno.EROFS
    elif number in (errno.EIO, errno.EACCES) and _disk_full(path):
        # SQLite reports a file it could not grow (its -wal, its -shm) as an I/O error or as a file it could
        # not open: on a disk with no space left that is what it is, and the message shows the free space
        number = errno.ENOSPC
    return os_failure(OSError(number, f"{os.strerror(number)} ({exc})"), path, what)


def _disk_full(path: Path) -> bool:
    from reid.outputs import free_bytes

    free = free_bytes(Path(path).parent)
    return free is not None and free < NEARLY_FULL


def new_side_files(path: Path) -> list[Path]:
    """SQLite's ``-wal``/``-shm`` names beside ``path`` that no file holds yet: the ones an open may create."""
    return [side for side in (Path(f"{path}-wal"), Path(f"{path}-shm")) if not side.exists() and not side.is_symlink()]


def remove_new_side_files(candidates: Iterable[Path]) -> None:
    """Remove what a failed open created of :func:`new_side_files`, so the folder is as it was before.

    Only an empty file (or an ``-shm`` of zero bytes only, which no connection has initialised) is removed:
    one with content belongs to another connection that opened the gallery meanwhile."""
    for side in candidates:
        try:
            if side.is_symlink() or not side.is_file():
                continue
            size = side.stat().st_size
            if size == 0 or (side.name.endswith("-shm") and size <= 1 << 20 and not side.read_bytes().strip(b"\0")):
                side.unlink()
        except OSError:
            continue


def _read_only_file_system(path: Path) -> bool:
    folder = Path(path).parent
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_regular_file(path: Path, what: str = "gallery database") -> None:
    """Refuse ``path`` (followed through links) unless it is a regular file, before anything opens it, and
    likewise SQLite's files beside it: opening a FIFO waits for a writer forever, ``/dev/zero`` never ends."""
    for candidate, label in ((path, what), *((Path(f"{path}{s}"), f"{what} side file") for s in SIDE_FILES)):
        try:
            mode = os.stat(candidate).st_mode
        except FileNotFoundError:
            if candidate is path and candidate.is_symlink():
                raise GalleryError(f"{what} {path} is a symbolic link to {os.readlink(path)}, which does not exist",
                                   "check --gallery") from None
            continue
        except OSError as exc:
            raise os_failure(exc, candidate, f"cannot read {label}") from None
        if not stat.S_ISREG(mode):
            raise GalleryError(f"{label} {candidate} is {_kind(mode)}, not a regular file; nothing was opened",
                               HINT)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "a special file"


def check_database_file(path: Path, fmt: str, version: int, tables: Iterable[str]) -> dict[str, str]:
    """Check that ``path`` is a reid gallery database of ``fmt``/``version``; returns its meta table.

    Never writes to ``path`` or beside it. Raises :class:`GalleryError` for an empty, foreign, truncated or
    corrupt file, naming which. A gallery's pages are checked with ``PRAGMA quick_check`` (one read of the
    file), so that damage is found here and not half-way into a run.
    """
    check_regular_file(path)
    _check_header(path)
    try:
        with contextlib.closing(connect_readonly(path)) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in names else {}
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")] if meta.get("format") == fmt else []
    except sqlite3.DatabaseError as exc:
        cause = sqlite_failure(exc, path, "cannot read gallery database")
        if cause is not None:
            raise cause from None
        raise GalleryError(f"gallery database {path} is corrupt ({exc})", HINT) from None
    if problems and problems != ["ok"]:
        first = " ".join(problems[0].replace("*** in database main ***", "").split())
        raise GalleryError(f"gallery database {path} is corrupt ({first})", HINT)
    if meta.get("format") != fmt:
        raise GalleryError(f"{path} is a SQLite database of another program, not a reid gallery", HINT)
    found = meta.get("version", "0")
    if found != str(version):
        raise GalleryError(f"gallery {path} has format version {found}, this reid reads version {version}",
                           "build a new gallery with this version")
    missing = set(tables) - names
    if missing:
        raise GalleryError(f"gallery database {path} is damaged (missing tables: {', '.join(sorted(missing))})", HINT)
    return meta


def _check_header(path: Path) -> None:
    """The 100-byte SQLite header: magic, a valid page size, and a file as long as the header says."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise os_failure(exc, path, "cannot read gallery database") from None
    if size == 0:
        raise GalleryError(f"gallery database {path} is an empty file, not a reid gallery", HINT)
    if not header.startswith(SQLITE_MAGIC):
        raise GalleryError(f"{path} is not a SQLite database, so not a reid gallery", HINT)
    if len(header) < 100:
        raise GalleryError(f"gallery database {path} is truncated ({size} bytes)", HINT)
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise GalleryError(f"gallery database {path} is corrupt (page size {page_size} in its header)", HINT)
    change_counter, pages, valid_for = (struct.unpack(">I", header[o:o + 4])[0] for o in (24, 28, 92))
    if valid_for == change_counter and pages and size < pages * page_size:
        raise GalleryError(f"gallery database {path} is truncated ({size} of {pages * page_size} bytes)", HINT)
    if size % page_size:
        raise GalleryError(f"gallery database {path} is truncated or corrupt ({size} bytes is not a whole number "
                           f"of {page_size}-byte pages)", HINT)


def _readonly_uri(path: Path) -> str:
    """A read-only URI that creates nothing beside ``path`` (see the module docstring)."""
    busy = Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
    return path.resolve().as_uri() + ("?mode=ro" if busy else "?mode=ro&immutable=1")


def connect_readonly(path: Path, **kwargs) -> sqlite3.Connection:
    """A connection that can neither change ``path`` nor create a file beside it (``mode=ro``, ``immutable=1``
    when no writer has the file open), for checks and for the commands that only read a gallery."""
    conn = sqlite3.connect(_readonly_uri(path), uri=True, **kwargs)
    conn.execute("PRAGMA query_only=ON")
    return conn


def create_database(path: Path, script: str, rows: list[tuple[str, str]]) -> None:
    """Create ``path`` (schema ``script``, ``rows`` in the meta table, WAL mode), atomically.

    If another process created ``path`` meanwhile, its database is kept and this one discarded.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN")
            for statement in (s.strip() for s in script.split(";")):
                if statement:
                    conn.execute(statement)
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", rows)
            conn.execute("COMMIT")
        try:
            os.link(tmp, path)  # atomic, and never replaces a database another run has just created
        except FileExistsError:
            pass
    except sqlite3.DatabaseError as exc:
        cause = sqlite_failure(exc, path, "cannot create gallery database")
        raise cause or GalleryError(f"cannot create gallery database {path}: {exc}", "check --gallery") from None
    except OSError as exc:
        raise os_failure(exc, path, "cannot create gallery database") from None
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`create_database` or of an atomic index save."""
    return name.startswith(".") and name.endswith(".tmp")
