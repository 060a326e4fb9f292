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
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import uuid
from collections.abc import Iterable
from pathlib import Path

from reid.errors import GalleryError

SQLITE_MAGIC = b"SQLite format 3\x00"
HINT = "point --gallery at a reid gallery folder or at a new folder; the file was left as it was"


def check_database_file(path: Path, fmt: str, version: int, tables: Iterable[str]) -> dict[str, str]:
    """Check that ``path`` is a reid gallery database of ``fmt``/``version``; returns its meta table.

    Never writes to ``path`` or beside it. Raises :class:`GalleryError` for an empty, foreign, truncated or
    corrupt file, naming which. A gallery's pages are checked with ``PRAGMA quick_check`` (one read of the
    file), so that damage is found here and not half-way into a run.
    """
    _check_header(path)
    try:
        with contextlib.closing(sqlite3.connect(_readonly_uri(path), uri=True)) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in names else {}
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")] if meta.get("format") == fmt else []
    except sqlite3.DatabaseError as exc:
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
        raise GalleryError(f"gallery database {path} cannot be read ({exc.strerror or exc})", "check --gallery") from None
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
        raise GalleryError(f"cannot create gallery database {path}: {exc}", "check --gallery") from None
    except OSError as exc:
        raise GalleryError(f"cannot create gallery database {path}: {exc.strerror or exc}", "check --gallery") from None
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`create_database` or of an atomic index save."""
    return name.startswith(".") and name.endswith(".tmp")
