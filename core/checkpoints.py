"""Checkpoint files: existence checks, sha256, format sniffing and family detection.

Detection reads pickle *opcodes* with :mod:`pickletools` and never unpickles, so it runs no
code from the file and needs no model source: it only looks at which classes the pickle
names and which state-dict keys it spells out.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CheckpointError
from .models import FAMILIES

_HASH_BLOCK = 1 << 20
_MAX_OPCODES = 2_000_000
"""Enough to reach every class reference and key of the official files; bounds time on huge pickles."""

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""torch's legacy (pre-1.6) serialisation starts with a pickled magic number (``torch/serialization.py``)."""

_EMA_GLOBAL = "torch_ema.ema"
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
                summary.globals.add(f"{module}.{qualname}")
            elif name == "STACK_GLOBAL" and all(isinstance(v, str) for v in pushed):
                summary.globals.add(f"{pushed[0]}.{pushed[1]}")
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


@dataclass(frozen=True)
class CheckpointInfo:
    """What ``aware3d info`` reports about a file.

    Attributes:
        path: the file.
        format: ``torch-zip``, ``torch-legacy`` or ``pickle``.
        family: registry name, or None when the file is an EMA file on its own.
        variant: architecture or configuration name where the file tells it, else None.
        sha256: hex digest of the whole file.
        size: bytes.
        globals: every class the pickle references, sorted.
    """

    path: Path
    format: str
    family: str | None
    variant: str | None
    sha256: str
    size: int
    globals: tuple[str, ...]


def _summarize_file(path: Path) -> tuple[str, PickleSummary]:
    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == _ZIP_MAGIC and not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is a truncated or damaged zip file; download it again")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
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


def _match_family(summary: PickleSummary) -> str | None:
    for spec in FAMILIES.values():
        if any(g.startswith(prefix) for prefix in spec.pickle_globals for g in summary.globals):
            return spec.name
    for spec in FAMILIES.values():
        if any(s.startswith(prefix) for prefix in spec.state_keys for s in summary.strings):
            return spec.name
    return None


def _variant(family: str | None, summary: PickleSummary) -> str | None:
    if family == "pigan":
        for g in sorted(summary.globals):
            if g.startswith("siren.siren.") and g.split(".")[-1] not in ("FiLMLayer", "CustomMappingNetwork", "UniformBoxWarp"):
                return g.split(".")[-1]
    return None


def inspect_checkpoint(path: str | os.PathLike) -> CheckpointInfo:
    """Tell a checkpoint's format and family without building a model or running its code.

    Raises:
        CheckpointError: for a missing or unreadable file, an EMA file given on its own, or a
            file that matches no known family.
    """
    path = check_file(path)
    fmt, summary = _summarize_file(path)
    family = _match_family(summary)
    if family is None:
        if any(g.startswith(_EMA_GLOBAL) for g in summary.globals):
            raise CheckpointError(
                f"{path} holds only EMA weights (torch_ema); point at the generator.pth beside it instead"
            )
        raise CheckpointError(
            f"could not tell which model family {path} belongs to; pass the family with --model"
        )
    return CheckpointInfo(
        path=path,
        format=fmt,
        family=family,
        variant=_variant(family, summary),
        sha256=file_sha256(path),
        size=path.stat().st_size,
        globals=tuple(sorted(summary.globals)),
    )
