"""Batch export: many seeds to a folder of GLBs plus a manifest, resumable and failure-tolerant."""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import exporters
from ..errors import InputError
from ..exporters import ExportSettings
from ..io import write_atomic
from ..models import get_family
from ..progress import ProgressCallback
from .settings import ModelSelection

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_MAX_SEEDS = 1_000_000


def parse_seeds(text: str) -> list[int]:
    """Parse ``"0-19"``, ``"1,5,9"`` or ``"0-4,10"`` into a sorted list of distinct seeds.

    Example:
        >>> parse_seeds("3,0-2,3")
        [0, 1, 2, 3]
    """
    seeds: set[int] = set()
    for part in str(text).replace(" ", "").split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise InputError(f"cannot read seeds {text!r}; write a range like 0-19, a list like 1,5,9, or both")
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first:
            raise InputError(f"seed range {part} runs backwards; write it as {last}-{first}")
        if last - first + len(seeds) > _MAX_SEEDS:
            raise InputError(f"{text!r} asks for more than {_MAX_SEEDS} seeds")
        seeds.update(range(first, last + 1))
    return sorted(seeds)


@dataclass
class BatchResult:
    """What a batch did: the manifest's path, counts, and the failed seeds with their messages."""

    manifest: Path
    num_written: int = 0
    num_skipped: int = 0
    failures: dict[int, str] = field(default_factory=dict)


def _load_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        logger.warning("ignoring unreadable manifest %s; every asset will be redone", path)
        return {}


def run_batch(
    folder: str | os.PathLike,
    seeds: list[int],
    selection: ModelSelection,
    truncation: float = 0.7,
    export: ExportSettings | None = None,
    progress: ProgressCallback | None = None,
) -> BatchResult:
    """Export one GLB per seed into ``folder`` and keep ``manifest.json`` up to date.

    The manifest records the settings (family, resolved loader options, truncation and every
    export setting); an asset already listed as done with the same settings, whose file still
    exists, is skipped. A failing seed is recorded in the manifest and in the result; the others go on.

    Raises:
        InputError: when ``folder`` is a file or no seeds are given.
    """
    from .. import load_generator

    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"batch output {folder} is a file; give a folder")
    if not seeds:
        raise InputError("no seeds to export")
    export = export or ExportSettings()
    gen = load_generator(selection.checkpoint, selection.model, selection.device, **selection.options)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST_NAME
    settings = {
        "family": gen.family, "options": get_family(gen.family).resolve_options(selection.options),
        "truncation": truncation, "export": export.to_dict(),
    }
    manifest = _load_manifest(manifest_path)
    if manifest.get("settings") != settings:
        manifest = {"settings": settings, "checkpoint_sha256": gen.info.get("checkpoint_sha256"), "assets": {}}
    assets: dict[str, Any] = manifest.setdefault("assets", {})
    result = BatchResult(manifest=manifest_path)
    for done, seed in enumerate(seeds):
        name = f"{gen.family}_seed{seed}.glb"
        entry = assets.get(str(seed), {})
        if entry.get("status") == "ok" and (folder / entry.get("file", name)).exists():
            result.num_skipped += 1
        else:
            try:
                field_ = gen.field(seed=seed, truncation=truncation)
                stats = exporters.export_glb(field_, folder / name, export)
                assets[str(seed)] = {"file": name, "status": "ok", "stats": stats.to_dict()}
                result.num_written += 1
            except Exception as err:  # one bad asset must not stop the batch; it is reported
                message = f"{type(err).__name__}: {err}"
                assets[str(seed)] = {"file": name, "status": "failed", "error": message}
                result.failures[seed] = message
            write_atomic(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        if progress is not None:
            progress("batch", done + 1, len(seeds))
    return result
