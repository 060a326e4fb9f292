"""Output folders that only ever hold, replace and delete what this project wrote there.

An output folder keeps a ledger, ``.reid-ledger``: one line per file or folder a writer of this project created
in it, written *before* the file is created (so a crash can leave a ledger entry without its file, never a
file of ours without its entry). Every rule of the folder follows from it:

- ``--overwrite`` (and every clean-up) deletes the entries of the ledger and nothing else: a file the user put
  in the folder, or a folder we did not create, is never touched. A file of ours that is in the way of a new
  write is replaced; a *foreign* file in the way is refused, before anything is written.
- A path is written only below the folder and never through a symbolic link inside it: each component below the
  folder is checked with ``lstat``. Names that come from users or files (camera names, file stems, YAML keys)
  pass through :func:`safe_component` before they become a path.
- An output folder that contains one of the run's inputs, or lies inside one, is refused before anything is
  written or deleted (``--out proj --overwrite`` must never delete ``proj/cameras/*.mp4``).

The folders in use are registered per process, so the writers in :mod:`reid.io` find the ledger of a path
without every function passing a folder object along; worker processes :meth:`OutputFolder.attach` to the
folder their parent prepared. Appends to the ledger are single ``O_APPEND`` writes; an append and a clean-up
(which reads the ledger, deletes, and writes the ledger again) hold an exclusive lock on the folder itself
(``flock`` on its directory), so camera workers of one run that write and clean the same folder at once neither
lose an entry nor trip over each other's rewrite.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from reid.errors import OutputError

LEDGER = ".reid-ledger"
_PROBE = ".reid-write-test"
_MAX_COMPONENT = 120

_active: dict[str, OutputFolder] = {}


def safe_component(name: str, default: str = "camera") -> str:
    """``name`` as one safe path component: letters, digits, ``_ . -``; no separators, no leading dot.

    ``../../x`` becomes ``x``, ``a/b`` becomes ``a_b``; an empty result becomes ``default``. Two different
    names can map to one component, so callers that need distinct names check for collisions after this.
    """
    text = unicodedata.normalize("NFC", str(name))
    text = re.sub(r"[^\w.-]+", "_", text)
    text = re.sub(r"\.{2,}", ".", text).strip("._-")
    return text[:_MAX_COMPONENT] or default


def checked_component(name: str, what: str = "camera name") -> str:
    """``name`` itself if it is one safe path component, else an :class:`OutputError`.

    Path builders call this so that a name that skipped :func:`safe_component` upstream can never reach
    outside the folder (``mot/../../x.txt``).
    """
    if name != safe_component(name, default=""):
        raise OutputError(f"{what} {name!r} is not a safe file name", "use letters, digits, '_', '.' and '-'")
    return name


def check_not_overlapping(out: Path, inputs: Iterable[str | os.PathLike[str] | None], flag: str = "--out") -> None:
    """Refuse an output folder that holds an input, or lies inside an input folder (or is one)."""
    root = _resolved(out)
    for item in inputs:
        if item is None or str(item) == "" or _is_url(str(item)) or not os.path.lexists(item):
            continue  # nothing there to overwrite (a release name such as yolo11n.pt that is not on disk)
        target = _resolved(Path(item))
        if target == root or root in target.parents:
            raise OutputError(f"output folder {out} contains the input {item}",
                              f"choose a {flag} folder outside the inputs; nothing was written or deleted")
        if target in root.parents:
            raise OutputError(f"output folder {out} lies inside the input folder {item}",
                              f"choose a {flag} folder outside the inputs; nothing was written or deleted")


def check_output_file(path: str | os.PathLike[str], overwrite: bool, inputs: Iterable = (),
                      is_ours: Callable[[Path], bool] | None = None, what: str = "output",
                      flag: str = "--out", suffix: str | None = None) -> Path:
    """Check a single output file before anything is computed; returns the path.

    Refused: a path with no file name (``.``, ``/``, ``''``), a name without ``suffix`` (when given; the name is
    never rewritten behind the user's back); a path that is one of ``inputs`` or lies inside an input folder; a
    folder, or a path below something that is not a folder; an existing entry that is not a regular file (a
    device, a pipe); an existing file without ``overwrite``, and, with ``overwrite``, an existing file that
    ``is_ours`` does not recognise as one this project wrote (a user's file of the same name is never replaced);
    and a place that cannot be written (probed with a temporary file, so the work is not done in vain).
    """
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise OutputError(f"{flag} {str(path)!r} names no file", f"give {flag} a file name")
    if suffix is not None and path.suffix != suffix:
        raise OutputError(f"{flag} {path} must end in {suffix}", f"give {flag} a file name ending in {suffix}")
    target = _resolved(path)
    for item in inputs:
        if item is None or str(item) == "" or _is_url(str(item)):
            continue
        source = _resolved(Path(item))
        if target == source or source in target.parents:
            raise OutputError(f"{flag} {path} is {'the input' if target == source else 'inside the input'} {item}",
                              f"choose a {flag} outside the inputs")
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a folder, expected a file", f"give {flag} a file name")
    parent = _existing_parent(path, flag)
    if _lexists(path):
        mode = _lstat_mode(path)
        if stat.S_ISLNK(mode):
            raise OutputError(f"{path} is a symbolic link; reid does not write through links", f"choose another {flag}")
        if not stat.S_ISREG(mode):
            raise OutputError(f"{path} is not a regular file (a device, pipe or socket)",
                              f"choose another {flag}; reid writes only regular files")
        if not overwrite:
            raise OutputError(f"{path} already exists", f"pass --overwrite or choose another {flag}")
        if is_ours is not None and not _safely(is_ours, path):
            raise OutputError(f"{path} exists and is not a {what} written by reid",
                              f"move it away or choose another {flag}; reid replaces only files it wrote")
    _probe_writable(parent, path, flag)
    return path


def _existing_parent(path: Path, flag: str) -> Path:
    """The nearest folder above ``path`` that exists; an existing ancestor that is not a folder is refused."""
    parent = Path(os.path.abspath(path)).parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"{flag} {path}: {parent} is not a folder", f"choose a {flag} inside a folder")
    return parent


def _probe_writable(folder: Path, path: Path, flag: str) -> None:
    """Create and delete a temporary file in ``folder``: an unwritable place fails now, not after the work."""
    try:
        fd, probe = tempfile.mkstemp(prefix=f"{_PROBE}.", suffix=".tmp", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise output_error(exc, path, "cannot write", flag) from exc


def _safely(check: Callable[[Path], bool], path: Path) -> bool:
    try:
        return bool(check(path))
    except Exception:  # a file the check cannot even read is not one of ours
        return False


class OutputFolder:
    """One output folder and its ledger (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ledger = root / LEDGER
        self._entries: set[str] = set()
        self._thread_lock = threading.RLock()  # threads of this process, around the lock of the folder
        self._lock_depth = 0
        self._loaded_id: tuple[int, int] | None = None
        self._load()

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def prepare(cls, path: str | os.PathLike[str], overwrite: bool = False, *, inputs: Iterable = (),
                resume: bool = False, owned: Iterable[str] = (), flag: str = "--overwrite") -> OutputFolder:
        """Create or reuse ``path`` as an output folder and register it for this process.

        A non-empty folder is refused unless ``overwrite`` (its ledger entries are deleted first) or ``resume``
        (the caller continues its own earlier run). ``owned`` names the top-level entries the caller will
        write: one that exists but is not in the ledger belongs to someone else and is refused up front.
        """
        path = Path(path)
        check_not_overlapping(path, inputs)
        if path.is_symlink() and not path.exists():
            raise OutputError(f"output path {path} is a broken symbolic link", "choose another --out")
        if path.exists() and not path.is_dir():
            raise OutputError(f"output path {path} exists and is not a folder", "choose another --out")
        root = _resolved(path)
        if root.is_dir():
            folder = cls(root)
            foreign = [n for n in owned if _lexists(root / n) and not folder._recorded(n)]
            busy = any(p.name not in (LEDGER, _PROBE) for p in root.iterdir())
            if busy and not (overwrite or resume):
                raise OutputError(f"output folder {path} exists and is not empty",
                                  f"pass {flag} or choose another --out")
            if foreign:
                raise OutputError(
                    f"{root / foreign[0]} exists in the output folder but was not written by reid",
                    "move it away or choose another --out; reid replaces only files it wrote")
            if overwrite:
                folder.clean()
        else:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise output_error(exc, root, "cannot write the output folder") from exc
            folder = cls(root)
        folder._probe()
        _active[str(root)] = folder
        return folder

    @classmethod
    def attach(cls, path: str | os.PathLike[str]) -> OutputFolder:
        """Register a folder another process of this run prepared (a worker writing into its parent's output)."""
        root = _resolved(Path(path))
        folder = _active.get(str(root))
        if folder is None:
            folder = cls(root)
            _active[str(root)] = folder
        return folder

    def close(self) -> None:
        """Stop routing writes through this folder (the ledger stays on disk)."""
        _active.pop(str(self.root), None)

    # -- writing ---------------------------------------------------------------------------------------

    def claim(self, path: str | os.PathLike[str]) -> Path:
        """Check that ``path`` may be written and record it in the ledger; returns the absolute path.

        Refused: a path outside the folder, a path through a symbolic link below the folder, and an existing
        entry this project did not write.
        """
        target = Path(os.path.abspath(path))
        rel = self._relative(target)
        self.make_dirs(target.parent)
        if _lexists(target) and rel not in self._entries:
            self._load()  # another process of this run may have written it
            if rel not in self._entries:
                raise OutputError(f"{target} exists but was not written by reid",
                                  "move it away or choose another --out; reid replaces only files it wrote")
        if stat.S_ISLNK(_lstat_mode(target)):
            raise OutputError(f"{target} is a symbolic link; reid does not write through links",
                              "remove the link or choose another --out")
        self._record("f", rel)
        return target

    def make_dirs(self, folder: str | os.PathLike[str]) -> Path:
        """``mkdir -p`` below the root, recording each folder created and refusing symbolic links."""
        target = Path(os.path.abspath(folder))
        rel = self._relative(target) if target != self.root else ""
        current = self.root
        for part in Path(rel).parts if rel else ():
            current = current / part
            mode = _lstat_mode(current)
            if stat.S_ISLNK(mode):
                raise OutputError(f"{current} is a symbolic link; reid does not write through links",
                                  "remove the link or choose another --out")
            if mode == 0:
                self._record("d", str(current.relative_to(self.root)))
                try:
                    current.mkdir()
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise output_error(exc, current, "cannot create a folder") from exc
            elif not stat.S_ISDIR(mode):
                raise OutputError(f"{current} exists and is not a folder", "move it away or choose another --out")
        return target

    def _recorded(self, rel: str) -> bool:
        """``rel`` is in the ledger, or is a folder the ledger has entries below (ours to write into)."""
        prefix = rel.rstrip("/") + "/"
        return rel in self._entries or any(e.startswith(prefix) for e in self._entries)

    def owns(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` (below the root) was written by this project."""
        try:
            rel = self._relative(Path(os.path.abspath(path)))
        except OutputError:
            return False
        return rel in self._entries

    # -- deleting --------------------------------------------------------------------------------------

    def clean(self, below: str = "") -> list[str]:
        """Delete the ledger's entries (all, or those under ``below``); returns what was left in place.

        Files are unlinked (a link is removed, never followed); a folder is removed only when it is empty
        afterwards, so anything a user put inside one of our folders survives, and is reported.
        """
        with self._locked():
            return self._clean(below)

    def _clean(self, below: str) -> list[str]:
        self._load()
        prefix = below.rstrip("/") + "/" if below else ""
        chosen = sorted((e for e in self._entries if not below or e == below or e.startswith(prefix)),
                        key=lambda e: e.count("/"), reverse=True)
        kept: list[str] = []
        for rel in chosen:
            target = self.root / rel
            if not _inside(self.root, target):
                continue  # a tampered ledger line: never delete outside the folder
            mode = _lstat_mode(target)
            try:
                if stat.S_ISDIR(mode):
                    target.rmdir()
                elif mode:
                    target.unlink()
                    for leftover in _our_temporaries(target.parent, target.name):
                        leftover.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    kept.append(rel)
                    continue
                raise output_error(exc, target, "cannot delete an earlier output") from exc
        remaining = set(self._entries) - set(chosen) | set(kept)
        self._rewrite(remaining)
        return kept

    # -- the ledger ------------------------------------------------------------------------------------

    def _relative(self, target: Path) -> str:
        try:
            rel = target.relative_to(self.root)
        except ValueError:
            raise OutputError(f"{target} is outside the output folder {self.root}",
                              "reid writes only inside --out") from None
        if any(part in ("..", "") for part in rel.parts):
            raise OutputError(f"{target} is outside the output folder {self.root}")
        return rel.as_posix()

    def _record(self, kind: str, rel: str) -> None:
        if rel in ("", "."):
            return
        line = f"{kind} {rel}\n".encode()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        with self._locked():  # not into a ledger another process is replacing right now
            if self._ledger_id() != self._loaded_id:
                self._load()  # another process cleaned up: what we remember may be gone from the ledger
            if rel in self._entries:
                return
            try:
                fd = os.open(self.ledger, flags, 0o644)
            except OSError as exc:
                raise output_error(exc, self.ledger, "cannot write the output ledger") from exc
            try:
                os.write(fd, line)
            except OSError as exc:
                raise output_error(exc, self.ledger, "cannot write the output ledger") from exc
            finally:
                os.close(fd)
        self._entries.add(rel)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the folder, across processes (``flock`` on the directory: no extra file).
        Re-entrant within this object; without ``fcntl`` (not POSIX) it only serialises this process."""
        with self._thread_lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            with self._folder_lock():
                self._lock_depth = 1
                try:
                    yield
                finally:
                    self._lock_depth = 0

    @contextlib.contextmanager
    def _folder_lock(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            fcntl = None
        fd = None
        if fcntl is not None:
            try:
                fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError:
                if fd is not None:
                    os.close(fd)
                fd = None  # a file system without locks: as before, appends stay atomic on their own
        try:
            yield
        finally:
            if fd is not None:
                os.close(fd)  # closing releases the lock

    def _load(self) -> None:
        """Read the ledger: it, not this process's memory, says what the folder's writers have written (a
        clean-up in another process may have removed entries this one remembers)."""
        if stat.S_ISLNK(_lstat_mode(self.ledger)):
            raise OutputError(f"{self.ledger} is a symbolic link", "remove it or choose another --out")
        self._loaded_id = self._ledger_id()
        try:
            text = self.ledger.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            self._entries = set()
            return
        except OSError as exc:
            raise output_error(exc, self.ledger, "cannot read the output ledger") from exc
        entries = set()
        for line in text.splitlines():
            kind, _, rel = line.partition(" ")
            if kind in ("f", "d") and rel and not rel.startswith("/") and ".." not in rel.split("/"):
                entries.add(rel)
        self._entries = entries

    def _ledger_id(self) -> tuple[int, int] | None:
        """Which ledger file is in place (a rewrite replaces it: a new inode); None while there is none."""
        try:
            st = os.lstat(self.ledger)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    def _rewrite(self, entries: set[str]) -> None:
        kinds = {rel: ("d" if (self.root / rel).is_dir() and not (self.root / rel).is_symlink() else "f")
                 for rel in entries}
        tmp = self.root / f".{LEDGER}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for rel in sorted(entries, key=lambda e: (e.count("/"), e)):
                handle.write(f"{kinds[rel]} {rel}\n")
        os.replace(tmp, self.ledger)
        self._entries = set(entries)
        self._loaded_id = self._ledger_id()

    def _probe(self) -> None:
        probe = self.root / _PROBE
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
            os.close(fd)
            probe.unlink()
        except OSError as exc:
            raise output_error(exc, self.root, "cannot write to the output folder") from exc


def folder_for(path: str | os.PathLike[str]) -> OutputFolder | None:
    """The registered output folder that ``path`` lies in (the innermost one), if any."""
    if not _active:
        return None
    candidates = [os.path.abspath(path)]
    real_parent = os.path.realpath(os.path.dirname(candidates[0]))
    candidates.append(os.path.join(real_parent, os.path.basename(candidates[0])))
    for text in candidates:
        best: OutputFolder | None = None
        for root, folder in _active.items():
            if (text == root or text.startswith(root.rstrip("/") + "/")) and (
                    best is None or len(root) > len(str(best.root))):
                best = folder
        if best is not None:
            return best
    return None


def claim(path: str | os.PathLike[str]) -> Path:
    """:meth:`OutputFolder.claim` for the folder ``path`` lies in; a path outside every folder passes as is."""
    folder = folder_for(path)
    if folder is None:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise output_error(exc, path, "cannot create the folder of") from exc
        return Path(path)
    return folder.claim(path)


def remove_tree(path: str | os.PathLike[str]) -> list[str]:
    """Delete what this project wrote below ``path`` (a folder inside an output folder); foreign files stay."""
    folder = folder_for(path)
    if folder is None:
        return []
    target = Path(os.path.abspath(path))
    if target == folder.root:
        return folder.clean()
    return folder.clean(folder._relative(target))


@contextlib.contextmanager
def active_folders() -> Iterator[None]:
    """Forget the folders registered inside the block (tests open many folders in one process)."""
    before = dict(_active)
    try:
        yield
    finally:
        _active.clear()
        _active.update(before)


def output_error(exc: OSError, path: str | os.PathLike[str], what: str = "cannot write",
                 flag: str = "--out") -> OutputError:
    """An :class:`OutputError` for an OS failure while writing: what failed, where, and for a full disk the
    free space left; the hint names ``flag``, the option that chose the place."""
    reason = exc.strerror or str(exc)
    hint = f"check the permissions of the output folder, or choose another {flag}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        where = _existing(Path(path))
        free = free_bytes(where)
        if free is not None:
            reason += f"; {format_bytes(free)} free on {where}"
        hint = f"free some space or choose another {flag}; the run is marked incomplete"
    elif exc.errno == errno.EROFS:
        hint = f"the file system is read-only: choose another {flag}"
    return OutputError(f"{what} {path}: {reason}", hint)


def free_space(path: str | os.PathLike[str]) -> str:
    """The free space of the file system holding ``path``, for messages (``"1.2 GB"``, or ``"unknown"``)."""
    free = free_bytes(path)
    return "unknown" if free is None else format_bytes(free)


def free_bytes(path: str | os.PathLike[str]) -> int | None:
    """The free bytes of the file system holding ``path`` (or its nearest existing parent), None if unknown."""
    try:
        return int(shutil.disk_usage(_existing(Path(path))).free)
    except OSError:
        return None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _our_temporaries(folder: Path, name: str) -> list[Path]:
    """Leftovers of interrupted atomic writes of ``name`` (``.NAME.XXXX.tmp``, made by :mod:`reid.io`)."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    return [e for e in folder.iterdir()
            if e.name.startswith(f".{name}.") and e.name.endswith(".tmp") and not e.is_symlink() and e.is_file()]


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _lstat_mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0
    except NotADirectoryError:
        return 0


def _lexists(path: Path) -> bool:
    return _lstat_mode(path) != 0


def _inside(root: Path, target: Path) -> bool:
    """``target`` lies below ``root`` and no folder on the way is a link."""
    try:
        rel = target.relative_to(root)
    except ValueError:
        return False
    current = root
    for part in rel.parts[:-1]:
        current = current / part
        if part == ".." or stat.S_ISLNK(_lstat_mode(current)):
            return False
    return True


def _is_url(text: str) -> bool:
    return "://" in text or text.strip().isdigit()
