"""Batch export: many seeds to a folder of GLBs plus a manifest, resumable and failure-tolerant."""

from __future__ import annotations

import hashlib
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
from ..version import __version__
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


MANIFEST_FORMAT = 2
"""2: every asset records the fingerprint of the settings it was made with."""


def _load_manifest(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        logger.warning("ignoring unreadable manifest %s; every asset will be redone", path)
        return {}
    if not isinstance(manifest, dict) or not isinstance(manifest.get("assets"), dict):
        logger.warning("ignoring manifest %s of an unknown format; every asset will be redone", path)
        return {}
    return manifest


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """A short digest of everything that shapes an asset: family, options, checkpoint, truncation,
    export settings and the aware3d version (a new version may write other bytes)."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _remove_stale_temporaries(folder: Path, names: list[str]) -> int:
    """Delete the temp files a killed run left behind (``write_atomic``'s ``.NAME.*.part``) for
    this batch's own outputs only; returns how many."""
    removed = 0
    for name in names:
        for stale in folder.glob(f".{name}.*.part"):
            stale.unlink(missing_ok=True)
            removed += 1
    return removed


def run_batch(
    folder: str | os.PathLike,
    seeds: list[int],
    selection: ModelSelection,
    truncation: float = 0.7,
    export: ExportSettings | None = None,
    progress: ProgressCallback | None = None,
) -> BatchResult:
    """Export one GLB per seed into ``folder`` and keep ``manifest.json`` up to date.

    Survives being killed at any moment: every file is written to a temp file and renamed (so the
    manifest is parseable and no GLB is half written at any moment), temp files a killed run left
    are removed, and a re-run redoes exactly the assets that are not recorded as done with the same
    settings fingerprint (family, options, checkpoint, truncation, export settings, aware3d
    version) or whose file is gone. Assets of other seeds already in the manifest are kept. A
    failing seed is recorded in the manifest and in the result; the others go on.

    Raises:
        InputError: when ``folder`` is a file or no seeds are given.
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"batch output {folder} is a file; give a folder")
    if not seeds:
        raise InputError("no seeds to export")
    export = export or ExportSettings()
    gen = selection.load()
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST_NAME
    names = {seed: f"{gen.family}_seed{seed}.glb" for seed in seeds}
    removed = _remove_stale_temporaries(folder, [*names.values(), MANIFEST_NAME])
    if removed:
        logger.info("removed %d temporary files left by an interrupted run", removed)
    settings = {
        "family": gen.family, "options": get_family(gen.family).resolve_options(selection.options),
        "checkpoint_sha256": gen.info.get("checkpoint_sha256"), "truncation": truncation,
        "export": export.to_dict(), "aware3d_version": __version__,
    }
    fingerprint = settings_fingerprint(settings)
    manifest = _load_manifest(manifest_path)
    assets: dict[str, Any] = manifest.get("assets", {})
    manifest = {"format": MANIFEST_FORMAT, "settings": settings, "fingerprint": fingerprint, "assets": assets}
    result = BatchResult(manifest=manifest_path)
    for done, seed in enumerate(seeds):
        name = names[seed]
        entry = assets.get(str(seed), {})
        if entry.get("status") == "ok" and entry.get("fingerprint") == fingerprint and (folder / name).exists():
            result.num_skipped += 1
        else:
            try:
                field_ = gen.field(seed=seed, truncation=truncation)
                stats = exporters.export_glb(field_, folder / name, export, generator=gen)
                assets[str(seed)] = {"file": name, "status": "ok", "fingerprint": fingerprint, "stats": stats.to_dict()}
                result.num_written += 1
            except Exception as err:  # one bad asset must not stop the batch; it is reported
                message = f"{type(err).__name__}: {err}"
                assets[str(seed)] = {"file": name, "status": "failed", "fingerprint": fingerprint, "error": message}
                result.failures[seed] = message
            write_atomic(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        if progress is not None:
            progress("batch", done + 1, len(seeds))
    return result
