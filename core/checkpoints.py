"""Checkpoint files: existence checks, sha256, format sniffing and safe loading.

Sniffing reads pickle *opcodes* with :mod:`pickletools` and never unpickles, so it runs no
code from the file and needs no model source: it only lists which classes the pickle names and
which strings (state-dict keys) it spells out. Which family those belong to is the registry's
business (:mod:`aware3d.models.registry`); this module knows no family.

Loading (:func:`safe_load`) first refuses any file that names a global outside an allow-list
(torch's weights-only list plus the official class names a family expects), then unpickles with
torch's weights-only unpickler (zip format) or an allow-listing reader of the legacy format,
rebuilding the official classes as inert :class:`StandIn` objects. Nothing in the file runs.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import hashlib
import io
import os
import pickle
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import CheckpointError
from .resources import memory_limit

_HASH_BLOCK = 1 << 20
_MAX_OPCODES = 2_000_000
"""Enough to reach every class reference and key of the official files; bounds time on huge pickles."""

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""torch's legacy (pre-1.6) serialisation starts with a pickled magic number (``torch/serialization.py``)."""

_ZIP_MAGIC = b"PK\x03\x04"


def check_file(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path if it is an existing regular file.

    Raises:
        CheckpointError: for a missing path or a directory.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory; point at the checkpoint file itself (for example generator.pth)")
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(check_file(path), "rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class PickleSummary:
    """What a pickle names, read from its opcodes: classes as ``module.name``, strings and long ints."""

    globals: set[str] = field(default_factory=set)
    strings: set[str] = field(default_factory=set)
    longs: set[int] = field(default_factory=set)


def python3_name(module: str, name: str) -> str:
    """``module.name`` as Python 3 reads it: protocol-2 pickles written by Python 3 spell builtins
    the Python 2 way (``__builtin__.set``), and ``pickle`` maps them back (``fix_imports``)."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


UNRESOLVED_GLOBAL = "<a global whose name is computed while unpickling>"
"""Recorded for a STACK_GLOBAL whose module and name are not plain strings in the file; never allowed."""

_MEMO_STORES = {"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_LOADS = {"GET", "BINGET", "LONG_BINGET"}


def summarize_pickle(
    data: bytes | io.BufferedIOBase, max_opcodes: int = _MAX_OPCODES, source: str = "the file"
) -> PickleSummary:
    """List the globals and strings of one pickle without unpickling it.

    Only the last two pushed values are tracked (through the memo), which is what
    ``STACK_GLOBAL`` consumes: the module and class names pushed right before it.

    Raises:
        CheckpointError: if the bytes are not a complete pickle.
    """
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    summary = PickleSummary()
    memo: dict[int, object] = {}
    pushed: list[object] = [None, None]  # the last two values pushed on the pickle stack
    try:
        for count, (opcode, arg, _pos) in enumerate(pickletools.genops(stream)):
            name = opcode.name
            if name == "GLOBAL":
                module, _, qualname = str(arg).partition(" ")
                summary.globals.add(python3_name(module, qualname))
            elif name == "STACK_GLOBAL":
                # Names built at unpickling time (not pushed as plain strings) cannot be checked: refuse them.
                known = all(isinstance(v, str) for v in pushed)
                summary.globals.add(f"{pushed[0]}.{pushed[1]}" if known else UNRESOLVED_GLOBAL)
            if name in ("LONG", "LONG1", "LONG4"):
                summary.longs.add(arg)
            if name in _MEMO_STORES:
                memo[len(memo) if name == "MEMOIZE" else arg] = pushed[1]
                continue
            if name in _MEMO_LOADS:
                value = memo.get(arg)
            elif isinstance(arg, str) and ("UNICODE" in name or name.endswith("STRING")):
                value = arg
                summary.strings.add(arg)
            else:
                value = None
            pushed = [pushed[1], value]
            if name == "STOP" or count >= max_opcodes:
                break
    except (ValueError, EOFError, UnicodeDecodeError) as err:
        raise CheckpointError(
            f"{source} is not a complete pickle ({err}); it may be truncated, so download it again"
        ) from err
    return summary


MAX_ZIP_RATIO = 100
"""torch.save stores its zip members uncompressed (ratio 1); a declared size 100 times the file's is a zip bomb."""


def check_declared_sizes(archive: zipfile.ZipFile, path: Path, limit: int | None = None) -> int:
    """Refuse a zip whose members declare absurd sizes, before any member is read.

    Args:
        archive: the open zip.
        path: its file, for the message and its size.
        limit: bytes the members may total; default the memory limit (a checkpoint is read into memory).

    Returns:
        The declared total, in bytes.

    Raises:
        CheckpointError: when the total exceeds ``limit`` or ``MAX_ZIP_RATIO`` times the file's size.
    """
    declared = sum(info.file_size for info in archive.infolist())
    limit = memory_limit() if limit is None else limit
    on_disk = Path(path).stat().st_size
    if declared > MAX_ZIP_RATIO * on_disk + (1 << 20) or declared > limit:
        raise CheckpointError(
            f"{path} declares {declared / 2**30:.1f} GiB of contents in a {on_disk / 2**20:.1f} MiB file "
            f"(limit {limit / 2**30:.1f} GiB); refusing what looks like a zip bomb"
        )
    return declared


def summarize_checkpoint(path: Path) -> tuple[str, PickleSummary]:
    """The format (``torch-zip``, ``torch-legacy`` or ``pickle``) and opcode summary of a file.

    Raises:
        CheckpointError: for a damaged zip, a zip without ``data.pkl`` or a file that is no pickle.
    """
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == _ZIP_MAGIC and not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is a truncated or damaged zip file; download it again")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                check_declared_sizes(archive, path)
                pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                if not pickles:
                    raise CheckpointError(f"{path} is a zip file but not a PyTorch checkpoint (no data.pkl inside)")
                return "torch-zip", summarize_pickle(archive.read(pickles[0]), source=str(path))
        except zipfile.BadZipFile as err:
            raise CheckpointError(f"{path} is a damaged zip file ({err}); download it again") from err
    with open(path, "rb") as handle:
        head = handle.read(2)
        if len(head) < 2 or head[0] != 0x80:
            raise CheckpointError(f"{path} is neither a PyTorch checkpoint nor a pickle")
        handle.seek(0)
        first = summarize_pickle(handle, source=str(path))
        if _LEGACY_MAGIC in first.longs:
            summary = PickleSummary()
            for _ in range(3):  # protocol version, sys info, then the object itself
                part = summarize_pickle(handle, source=str(path))
                summary.globals |= part.globals
                summary.strings |= part.strings
            return "torch-legacy", summary
        return "pickle", first


class RefusedGlobalError(CheckpointError):
    """A file names a global aware3d will not unpickle.

    Attributes:
        path: the file.
        name: the first offending global, as ``module.name``.
    """

    def __init__(self, path: Path, name: str) -> None:
        super().__init__(
            f"{path} refers to {name}, which has no place in a checkpoint; aware3d refuses to load it "
            "(unpickling it could run code)"
        )
        self.path, self.name = Path(path), name


def refused_global_error(path: Path, name: str) -> RefusedGlobalError:
    """The one error for a file that names a global aware3d will not unpickle."""
    return RefusedGlobalError(path, name)


def check_globals(
    path: str | os.PathLike, standins: tuple[str, ...] = (), read: tuple[str, PickleSummary] | None = None
) -> str:
    """Refuse a file that names any global outside torch's weights-only list and ``standins``.

    This is the check :func:`safe_load` makes before unpickling; ``aware3d info`` makes exactly
    this one too, so it says "loadable" only for what the loader accepts.

    Args:
        path: the file.
        standins: official class names allowed beyond torch's list.
        read: the file's format and summary when the caller has read them already
            (:func:`summarize_checkpoint`), so a large file is not scanned twice.

    Returns:
        The file's format.

    Raises:
        RefusedGlobalError: naming the first forbidden global and the file.
        CheckpointError: for a missing or unreadable file.
    """
    path = check_file(path)
    fmt, summary = summarize_checkpoint(path) if read is None else read
    allowed = torch_allowed_globals() | set(standins)
    forbidden = sorted(g for g in summary.globals if g not in allowed)
    if forbidden:
        raise refused_global_error(path, forbidden[0])
    return fmt


# --- safe loading ---------------------------------------------------------------------------------

TORCH_NN_CLASSES = (
    "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.activation.LeakyReLU",
    "torch.nn.modules.activation.ReLU",
    "torch.nn.modules.activation.Sigmoid",
    "torch.nn.modules.activation.Softplus",
)
"""torch.nn classes that whole-module pickles (pi-GAN's generator.pth) name; rebuilt as stand-ins."""

class StandIn:
    """An inert object rebuilt from a pickle: it holds the pickled attributes and does nothing.

    Subclasses are made per official class name (``siren.siren.FiLMLayer`` ...) so that torch's
    weights-only unpickler accepts exactly those names and nothing else.
    """

    def __repr__(self) -> str:
        return f"<stand-in {type(self).__module__}.{type(self).__qualname__}>"


_STANDIN_CACHE: dict[str, type] = {}


def standin_class(full_name: str) -> type:
    """The (cached) stand-in class for ``module.Class``."""
    if full_name not in _STANDIN_CACHE:
        module, _, name = full_name.rpartition(".")
        _STANDIN_CACHE[full_name] = type(name, (StandIn,), {"__module__": module, "__qualname__": name})
    return _STANDIN_CACHE[full_name]


def torch_allowed_globals() -> set[str]:
    """Every global torch's weights-only unpickler accepts, as ``module.name``."""
    from torch import _weights_only_unpickler

    return set(_weights_only_unpickler._get_allowed_globals())


def check_finite_weights(path: str | os.PathLike, tensors) -> None:
    """Refuse a checkpoint whose weights hold NaN or infinity, naming the first such tensor.

    Args:
        path: the file, for the message.
        tensors: ``(name, tensor)`` pairs, e.g. ``state_dict.items()``.

    Raises:
        CheckpointError: naming the tensor.
    """
    for name, value in tensors:
        if not torch.isfinite(value).all():
            raise CheckpointError(f"{path} holds NaN or infinite weights ({name}); download it again")


NUMPY_SCALARS: dict[str, object] = {
    "numpy.core.multiarray.scalar": np.core.multiarray.scalar,  # e.g. GRAF's fid_best, EG3D's weight gains
    "numpy._core.multiarray.scalar": np.core.multiarray.scalar,  # the same, as numpy 2 names it
    "numpy.dtype": np.dtype,
}
"""numpy globals a checkpoint may name for a plain number; each only builds a scalar or a dtype from
data. Name them in ``standins`` to allow them: they are rebuilt for real, not as stand-ins."""

_NUMPY_DTYPE_CLASSES = tuple(type(np.dtype(code)) for code in ("float64", "float32", "float16", "int64", "int32", "bool"))
"""The dtype classes torch's weights-only reader must also accept to rebuild those dtypes."""


def safe_load(path: str | os.PathLike, standins: tuple[str, ...] = ()) -> object:
    """Load a torch checkpoint without running code from it.

    Every class or function the pickle names must be on torch's weights-only allow-list or in
    ``standins``; the pickle's opcodes are checked first, so a forbidden name is reported before
    anything is unpickled. The named classes become inert :class:`StandIn` objects.

    Raises:
        CheckpointError: naming the first forbidden global, or for an unreadable file.
    """
    path = check_file(path)
    _fmt = check_globals(path, standins)
    allowed = {name: NUMPY_SCALARS.get(name) or standin_class(name) for name in standins}
    classes = list(allowed.values()) + (list(_NUMPY_DTYPE_CLASSES) if set(standins) & set(NUMPY_SCALARS) else [])
    try:
        if _fmt == "torch-legacy":
            return _load_legacy(path, allowed)
        with torch.serialization.safe_globals(classes):
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path} could not be read as a checkpoint ({str(err).splitlines()[0]}); download it again") from err


_LEGACY_GLOBALS = {
    "collections.OrderedDict": collections.OrderedDict,
    "torch._utils._rebuild_tensor_v2": torch._utils._rebuild_tensor_v2,
    "torch._utils._rebuild_parameter": torch._utils._rebuild_parameter,
    "torch.device": torch.device,
    "torch.Size": torch.Size,
    "builtins.set": set,
    "_codecs.encode": codecs.encode,
    "torch.UntypedStorage": torch.UntypedStorage,
    "torch.storage.UntypedStorage": torch.UntypedStorage,
    **{f"torch.{name}": getattr(torch, name) for name in (
        "FloatStorage", "DoubleStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
        "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage")},
}
"""What the legacy format may name, beyond the stand-ins: tensor rebuilding, containers, storages."""


class _LegacyUnpickler(pickle.Unpickler):
    """torch's pre-1.6 format, read with an allow-list. torch's weights-only loader cannot read it
    for whole pickled modules: the format records each module class as a persistent id."""

    def __init__(self, handle, standins: dict[str, type]) -> None:
        super().__init__(handle)
        self.standins = standins
        self.storages: dict[str, torch.storage.TypedStorage] = {}

    def find_class(self, module: str, name: str):
        full = python3_name(module, name)
        if full in self.standins:
            return self.standins[full]
        if full in _LEGACY_GLOBALS:
            return _LEGACY_GLOBALS[full]
        raise pickle.UnpicklingError(f"{full} is not allowed in a checkpoint")

    def persistent_load(self, saved_id):
        kind = saved_id[0]
        if kind == "module":  # (kind, class, source file, source): the source is ignored, never run
            return saved_id[1]
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        _, storage_type, key, _location, numel, view = saved_id
        if view is not None:
            raise pickle.UnpicklingError("storage views are not supported")
        if key not in self.storages:
            # torch >= 2 pickles untyped storages (bytes); older files name a typed storage class
            dtype = torch.uint8 if storage_type is torch.UntypedStorage else storage_type._dtype  # .dtype warns (TypedStorage is deprecated)
            untyped = torch.UntypedStorage(int(numel) * torch._utils._element_size(dtype))
            self.storages[key] = torch.storage.TypedStorage(wrap_storage=untyped, dtype=dtype, _internal=True)
        return self.storages[key]


def _load_legacy(path: Path, standins: dict[str, type]) -> object:
    """Read a legacy torch file with the allow-listing reader."""
    with open(path, "rb") as handle:
        return _load_legacy_stream(handle, standins)


def load_storage_blob(blob: bytes) -> torch.storage.TypedStorage:
    """A storage from the bytes ``torch.storage._load_from_bytes`` would read, read safely.

    Plain pickles of tensors (EG3D's and PanoHead's network pickles) store each storage as a
    nested legacy ``torch.save`` blob; torch's weights-only loader cannot read the untyped ones
    newer torch writes, so aware3d's allow-listing legacy reader does, with no stand-ins at all.

    Raises:
        CheckpointError: for a blob that is not a storage or names anything else.
    """
    try:
        if blob[:4] == _ZIP_MAGIC:
            result = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        else:
            result = _load_legacy_stream(io.BytesIO(blob), {})
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"a nested tensor blob could not be read safely ({str(err).splitlines()[0]})") from err
    if not isinstance(result, (torch.storage.TypedStorage, torch.UntypedStorage)):
        raise CheckpointError(f"a nested tensor blob holds {type(result).__name__}, not a storage")
    return result


def _load_legacy_stream(handle, standins: dict[str, type]) -> object:
    """Read legacy torch data from ``handle``: magic, protocol, system info, the object, storage
    keys, raw storages."""
    for _ in range(3):
        _LegacyUnpickler(handle, {}).load()
    unpickler = _LegacyUnpickler(handle, standins)
    result = unpickler.load()
    keys = _LegacyUnpickler(handle, {}).load()
    for key in keys:
        storage = unpickler.storages[key]
        header = handle.read(8)
        numel = int.from_bytes(header, "little") if len(header) == 8 else -1
        nbytes = storage._untyped_storage.nbytes()  # TypedStorage's own nbytes() warns that it is deprecated
        data = handle.read(nbytes)
        if numel * torch._utils._element_size(storage.dtype) != nbytes or len(data) != nbytes:
            raise EOFError(f"storage {key} is cut short")
        target = torch.empty(0, dtype=torch.uint8).set_(storage._untyped_storage)
        target.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    return result


def module_parameters(module: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters of a pickled module tree in ``named_parameters()`` order (own, then children).

    Works on stand-ins, whose ``__dict__`` holds torch.nn.Module's ``_parameters`` and ``_modules``.
    """
    out: dict[str, object] = {}
    for name, value in (getattr(module, "_parameters", None) or {}).items():
        if value is not None:
            out[prefix + name] = value
    for name, child in (getattr(module, "_modules", None) or {}).items():
        if child is not None:
            out.update(module_parameters(child, f"{prefix}{name}."))
    return out
