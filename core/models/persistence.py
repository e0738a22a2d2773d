"""NVIDIA's ``torch_utils.persistence`` network pickles (EG3D, PanoHead), read without running them.

Facts (NVlabs/eg3d ``torch_utils/persistence.py``, ``training/training_loop.py``): a snapshot is
``pickle.dump(dict(training_set_kwargs=..., G=..., D=..., G_ema=..., augment_pipe=...))``. Each
persistent module reduces to ``_reconstruct_persistent_obj(meta)`` with ``meta = {type: 'class',
version, module_src: <the defining module's whole source>, class_name, state: <obj.__dict__>}``;
NVIDIA's loader executes ``module_src``. Tensors are plain pickles whose storages are nested
legacy ``torch.save`` blobs read by ``torch.storage._load_from_bytes``.

Here the reconstructor becomes an inert :class:`PersistentRecord` (class name, a sha256 of the
source, the state); the source is never executed, compiled or imported. Storage blobs are read by
aware3d's allow-listing legacy reader; classes pickled by reference become inert stand-ins; any
other global is refused, naming it, before anything is unpickled.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checkpoints import NUMPY_SCALARS, check_globals, load_storage_blob, python3_name, standin_class
from ..errors import CheckpointError

PERSISTENT_RECONSTRUCTOR = "torch_utils.persistence._reconstruct_persistent_obj"
STORAGE_FROM_BYTES = "torch.storage._load_from_bytes"
EASYDICT = "dnnlib.util.EasyDict"

@dataclass
class PersistentRecord:
    """An inert record of one persistent object: what it was, and its state.

    Attributes:
        class_name: the class the embedded source defines (``TriPlaneGenerator``, ...).
        module_src_sha256: sha256 of that source (identifies the code version; never run).
        state: the object's ``__dict__`` (``_parameters``, ``_buffers``, ``_modules``, ...).
    """

    class_name: str
    module_src_sha256: str
    state: dict[str, Any]


class EasyDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict``: a plain dict (the init kwargs are read as a dict)."""


def _reconstruct(meta: Any) -> PersistentRecord:
    """What ``_reconstruct_persistent_obj(meta)`` becomes: a record; ``module_src`` is only hashed."""
    if not isinstance(meta, Mapping) or meta.get("type") != "class":
        raise pickle.UnpicklingError("a persistent object without a class record")
    class_name, source, state = meta.get("class_name"), meta.get("module_src"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(source, str) or not isinstance(state, Mapping):
        raise pickle.UnpicklingError("a persistent object whose record is incomplete")
    return PersistentRecord(class_name, hashlib.sha256(source.encode()).hexdigest(), dict(state))


def reader_globals(by_reference: tuple[str, ...]) -> tuple[str, ...]:
    """Every global a network pickle may name beyond torch's weights-only list: the reconstructor,
    the storage reader, EasyDict, numpy scalars and dtypes, and the classes pickled by reference."""
    return (PERSISTENT_RECONSTRUCTOR, STORAGE_FROM_BYTES, EASYDICT, *NUMPY_SCALARS, *by_reference)


class _NetworkUnpickler(pickle.Unpickler):
    def __init__(self, handle, by_reference: tuple[str, ...]) -> None:
        super().__init__(handle)
        from torch import _weights_only_unpickler

        self._torch = _weights_only_unpickler._get_allowed_globals()
        self._by_reference = set(by_reference)

    def find_class(self, module: str, name: str):
        full = python3_name(module, name)
        special = {PERSISTENT_RECONSTRUCTOR: _reconstruct, STORAGE_FROM_BYTES: load_storage_blob, EASYDICT: EasyDict}
        if full in special:
            return special[full]
        if full in NUMPY_SCALARS:
            return NUMPY_SCALARS[full]
        if full in self._by_reference:
            return standin_class(full)
        if full in self._torch:
            return self._torch[full]
        raise pickle.UnpicklingError(f"{full} is not allowed in a network pickle")


def read_network_pickle(path: str | os.PathLike, by_reference: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a ``torch_utils.persistence`` snapshot without running anything from it.

    Args:
        path: the ``.pkl`` file.
        by_reference: the classes the family pickles by reference (rebuilt as inert stand-ins).

    Returns:
        The snapshot dict; persistent modules are :class:`PersistentRecord` objects.

    Raises:
        CheckpointError: naming the first global outside the allow-list, or for an unreadable file.
    """
    path = Path(path)
    check_globals(path, reader_globals(by_reference))  # the opcode scan first: nothing is unpickled before it
    try:
        with open(path, "rb") as handle:
            snapshot = _NetworkUnpickler(handle, by_reference).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{path} could not be read as a network pickle ({str(err).splitlines()[0]}); download it again") from err
    if not isinstance(snapshot, dict):
        raise CheckpointError(f"{path} is not a training snapshot (it holds a {type(snapshot).__name__}, not a dict)")
    return snapshot


def module_tensors(record: Any, prefix: str = "") -> dict[str, Any]:
    """Parameters and buffers of a record or stand-in tree, named as ``state_dict()`` names them."""
    state = record.state if isinstance(record, PersistentRecord) else getattr(record, "__dict__", {})
    out: dict[str, Any] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None:
                out[prefix + name] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(module_tensors(child, f"{prefix}{name}."))
    return out


def code_hashes(record: Any) -> dict[str, str]:
    """``class_name -> module_src sha256`` for every persistent record in a tree (what ``info`` shows)."""
    found: dict[str, str] = {}
    if isinstance(record, PersistentRecord):
        found[record.class_name] = record.module_src_sha256
        children = record.state.get("_modules") or {}
    else:
        children = (getattr(record, "__dict__", {}) or {}).get("_modules") or {}
    for child in children.values():
        if child is not None:
            found.update(code_hashes(child))
    return found
