"""Look inside a ``torch.save`` file without running any of it.

A ``.pt`` file is a zip archive whose ``data.pkl`` is a pickle, and unpickling is running code: a pickle may name
any importable function and call it (``os.system``, ``builtins.eval``). ``torch.load(weights_only=True)`` avoids
that for plain checkpoints, but Ultralytics unpickles its own checkpoints fully (they hold the whole network as
objects). This module reads such a file's pickle with a *simulating* unpickler: CPython's own pure-Python
unpickler, with every opcode that imports, calls or builds an object replaced by one that only records what the
real unpickler would do. Nothing named in the file is imported or called. The caller then checks the record
against the few globals its format needs (:class:`Allowed`) before any real loader sees the file.

It also names what is wrong with a file that cannot be read: empty, not a PyTorch file at all, a TorchScript
archive, or damaged (a truncated download, a corrupt copy), so that loaders report the real cause.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ZIP_MAGIC = b"PK\x03\x04"


class TorchFileError(Exception):
    """Why a file is not a readable ``torch.save`` archive, or may not be unpickled.

    ``kind`` is one of ``empty``, ``foreign`` (not a PyTorch file, or a format a loader does not take),
    ``damaged`` (truncated or corrupt) and ``unsafe`` (the pickle names code outside the allowed globals).
    ``detail`` completes a sentence that starts with the file's name.
    """

    def __init__(self, kind: str, detail: str, names: tuple[str, ...] = ()) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.names = names


# ------------------------------------------------------------------------------------------ the archive


@dataclass
class Archive:
    """The records of a ``torch.save`` zip archive, read with PyTorch's own zip reader."""

    records: set[str]
    pickle: bytes

    def has_storage(self, key: str) -> bool:
        return f"data/{key}" in self.records


def read_archive(data: bytes) -> Archive:
    """The ``data.pkl`` pickle and the record names of a ``torch.save`` file's bytes.

    Uses the reader ``torch.load`` uses (``torch._C.PyTorchFileReader``), so the pickle checked here is the
    one ``torch.load`` would run.
    """
    import torch

    if not data:
        raise TorchFileError("empty", "is empty (0 bytes)")
    if not data.startswith(ZIP_MAGIC):
        if data[:1] == b"\x80":  # a pickle: pickle.dump, or PyTorch's legacy format (a sequence of pickles)
            raise TorchFileError("foreign", "is a bare pickle or a pre-1.6 PyTorch file, not a zip-format checkpoint")
        raise TorchFileError("foreign", "is not a PyTorch file (no zip archive inside)")
    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(data))
        records = set(reader.get_all_records())
        if "constants.pkl" in records or any(r.startswith("code/") for r in records):
            raise TorchFileError("foreign", "is a TorchScript archive, not a checkpoint")
        if "data.pkl" not in records:
            raise TorchFileError("foreign", "is a zip archive without a PyTorch pickle (data.pkl)")
        pkl = bytes(reader.get_record("data.pkl"))
    except TorchFileError:
        raise
    except Exception as exc:  # RuntimeError from the zip reader: no central directory, bad header, CRC
        raise TorchFileError("damaged", f"is damaged: a truncated or corrupt zip archive ({_sentence(exc)})") from exc
    return Archive(records, pkl)


def _sentence(exc: BaseException) -> str:
    """The first sentence of torch's reader errors (the rest is general advice)."""
    return first_line(exc).split(". ")[0].rstrip(".")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (torch's reader errors carry a C++ backtrace below it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------------ the simulation


class Ref:
    """A global the pickle names (``module.name``); never imported."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"<global {self.qualname}>"


class Obj:
    """An object the real unpickler would build: ``how`` is ``new`` (``cls.__new__``) or ``call`` (``f(*args)``)."""

    __slots__ = ("how", "ref", "args", "state")

    def __init__(self, how: str, ref: Ref, args: Any) -> None:
        self.how, self.ref, self.args, self.state = how, ref, args, None

    def __repr__(self) -> str:
        return f"<{self.how} {self.ref.qualname}>"


class OrderedMap(dict):
    """``collections.OrderedDict()`` as the simulation builds it: a dict that SETITEMS may fill."""


class Persistent:
    """A persistent id (PyTorch's reference to a tensor storage record)."""

    __slots__ = ("pid",)

    def __init__(self, pid: Any) -> None:
        self.pid = pid


@dataclass
class Allowed:
    """What a format's pickle may name, by use.

    Each is a predicate on (module, name). ``call``: globals a REDUCE may call (tensor rebuild functions,
    ``OrderedDict``...). ``new``: classes whose instances may be created with ``cls.__new__`` and given a state
    (the network's layers). ``value``: globals that may appear as plain values (dtypes, storage types).
    ``aliases`` maps old names to the current ones, as the real loader maps them.
    """

    call: Callable[[str, str], bool]
    new: Callable[[str, str], bool]
    value: Callable[[str, str], bool]
    aliases: dict[str, str] = field(default_factory=dict)

    def any(self, module: str, name: str) -> bool:
        return self.call(module, name) or self.new(module, name) or self.value(module, name)

    @classmethod
    def everything(cls) -> Allowed:
        """Record every global without refusing any: to find out what a refused file refers to."""
        return cls(call=_yes, new=_yes, value=_yes)


def _yes(module: str, name: str) -> bool:
    return True


class _Unsafe(Exception):
    def __init__(self, name: str, how: str) -> None:
        super().__init__(name)
        self.name, self.how = name, how


def _unsafe(name: str, how: str = "refers to") -> _Unsafe:
    return _Unsafe(name, how)


class _Simulator(pickle._Unpickler):  # type: ignore[name-defined]  # the pure-Python unpickler, by design
    """CPython's pure-Python unpickler with every code-running opcode replaced by a recording one."""

    dispatch = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, data: bytes, allowed: Allowed) -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8")
        self.allowed = allowed
        self.names: set[str] = set()
        self.persistent: list[Any] = []

    # GLOBAL / STACK_GLOBAL: resolve the name as the real unpickler would, import nothing
    def find_class(self, module: str, name: str) -> Ref:
        if self.proto < 3 and self.fix_imports:
            import _compat_pickle

            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        qual = self.allowed.aliases.get(f"{module}.{name}", f"{module}.{name}")
        module, _, name = qual.rpartition(".")
        self.names.add(qual)
        if not (module and name.isidentifier() and self.allowed.any(module, name)):
            raise _unsafe(qual)
        return Ref(module, name)

    def persistent_load(self, pid: Any) -> Persistent:
        self.persistent.append(pid)
        return Persistent(pid)

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not isinstance(func, Ref) or not self.allowed.call(func.module, func.name):
            raise _unsafe(func.qualname if isinstance(func, Ref) else type(func).__name__, "calls")
        ordered = func.qualname == "collections.OrderedDict" and args == ()
        self.stack[-1] = OrderedMap() if ordered else Obj("call", func, args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _new(self, cls: Any, args: Any) -> Obj:
        if not isinstance(cls, Ref) or not self.allowed.new(cls.module, cls.name):
            raise _unsafe(cls.qualname if isinstance(cls, Ref) else type(cls).__name__, "creates")
        return Obj("new", cls, args)

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, (args, kwargs)))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, Obj | OrderedMap):
            raise _unsafe(type(inst).__name__, "sets the state of")
        if isinstance(inst, Obj):
            inst.state = state

    dispatch[pickle.BUILD[0]] = load_build

    def _refuse(self) -> None:  # INST, OBJ (protocol 0/1 instantiation) and the copyreg extension codes
        raise _unsafe("an old-style instance or extension code", "uses")

    for _op in (pickle.INST, pickle.OBJ, pickle.EXT1, pickle.EXT2, pickle.EXT4):
        dispatch[_op[0]] = _refuse

    # containers: the real unpickler calls .append/.extend/__setitem__/.add on whatever is on the stack;
    # only the builtin containers the pickle itself made may receive items
    def load_append(self) -> None:
        value = self.stack.pop()
        _container(self.stack[-1], list).append(value)

    dispatch[pickle.APPEND[0]] = load_append

    def load_appends(self) -> None:
        items = self.pop_mark()
        _container(self.stack[-1], list).extend(items)

    dispatch[pickle.APPENDS[0]] = load_appends

    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        _container(self.stack[-1], dict)[_key(key)] = value

    dispatch[pickle.SETITEM[0]] = load_setitem

    def load_setitems(self) -> None:
        items = self.pop_mark()
        target = _container(self.stack[-1], dict)
        for i in range(0, len(items), 2):
            target[_key(items[i])] = items[i + 1]

    dispatch[pickle.SETITEMS[0]] = load_setitems

    def load_additems(self) -> None:
        items = self.pop_mark()
        target = _container(self.stack[-1], set)
        for item in items:
            target.add(_key(item))

    dispatch[pickle.ADDITEMS[0]] = load_additems


def _container(obj: Any, kind: type) -> Any:
    if type(obj) is not kind and not (kind is dict and type(obj) is OrderedMap):
        raise _unsafe(type(obj).__name__, "adds items to")
    return obj


def _key(key: Any) -> Any:
    """Keys as the simulation can hash them (a list key fails in the real unpickler too)."""
    try:
        hash(key)
    except TypeError as exc:
        raise pickle.UnpicklingError(f"unhashable key {type(key).__name__}") from exc
    return key


@dataclass
class Scan:
    """What a pickle would build: its top object (simulated), the globals it names and its storage ids."""

    root: Any
    names: set[str]
    persistent: list[Any]


def scan_pickle(data: bytes, allowed: Allowed) -> Scan:
    """Simulate unpickling ``data``; a global outside ``allowed`` (or used outside its role) is ``unsafe``."""
    sim = _Simulator(data, allowed)
    try:
        root = sim.load()
    except _Unsafe as exc:
        raise TorchFileError(
            "unsafe", f"holds code that loading would run: it {exc.how} {exc.name}", tuple(sorted(sim.names))
        ) from None
    except RecursionError:
        raise TorchFileError("damaged", "is damaged (its pickle nests too deep to read)") from None
    except Exception as exc:  # EOFError, UnpicklingError, struct/unicode errors of a cut or garbled stream
        raise TorchFileError("damaged", f"is damaged: its pickle cannot be read ({first_line(exc)})") from exc
    for value in _walk(root):
        if isinstance(value, Ref) and not allowed.value(value.module, value.name):
            raise TorchFileError("unsafe", f"holds a reference to {value.qualname}", tuple(sorted(sim.names)))
    for pid in sim.persistent:
        for value in _walk(pid):
            if isinstance(value, Ref) and not allowed.value(value.module, value.name):
                raise TorchFileError("unsafe", f"holds code that loading would run: it refers to {value.qualname}",
                                     tuple(sorted(sim.names)))
    return Scan(root, sim.names, sim.persistent)


def _walk(root: Any):
    """Every value reachable from ``root`` (iteratively: a deep network must not hit the recursion limit)."""
    seen: set[int] = set()
    todo = [root]
    while todo:
        value = todo.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        yield value
        if isinstance(value, dict):
            todo.extend(value.keys())
            todo.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            todo.extend(value)
        elif isinstance(value, Obj):
            todo.extend((value.args, value.state))


def check_storages(scan: Scan, archive: Archive) -> None:
    """Every tensor storage the pickle refers to is in the archive (else the file was cut or edited)."""
    for pid in scan.persistent:
        if isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage":
            if not archive.has_storage(str(pid[2])):
                raise TorchFileError("damaged", f"is damaged: tensor data record {pid[2]} is missing")


def inspect_file(path: Path, allowed: Allowed) -> Scan:
    """Read ``path`` as a ``torch.save`` archive and simulate its pickle; every problem is a :class:`TorchFileError`."""
    archive = read_archive(read_bytes(path))
    scan = scan_pickle(archive.pickle, allowed)
    check_storages(scan, archive)
    return scan


def read_bytes(path: Path) -> bytes:
    """The file's bytes; an unreadable file is a :class:`TorchFileError` of kind ``damaged``."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TorchFileError("damaged", f"cannot be read ({exc.strerror or exc})") from exc
