"""What a batch engine is and does: one asset per source (a seed, or an image for models that lift
images), exported by :func:`export_asset` whichever engine runs it (so the bytes are the same),
and :class:`LocalEngine`, which runs them in this process. :mod:`aware3d.app.ray_engine` is the
other engine; :mod:`aware3d.app.batch` drives both.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import exporters
from ..exporters import ExportSettings
from ..models.base import Generator
from .export import sample
from .settings import ModelSelection

Source = int | Path
"""What one batch asset is made from: a seed, or an image file for models that lift images."""


@dataclass(frozen=True)
class AssetOutcome:
    """One asset's end, as an engine reports it: its statistics, or the error that stopped it.

    Attributes:
        source: the seed or image it was made from.
        worker: who made it (``host:pid`` locally, ``ray:host:pid`` on Ray).
        stats: :meth:`aware3d.exporters.AssetStats.to_dict`, or None when it failed.
        error: ``"ErrorType: message"`` when it failed.
    """

    source: Source
    worker: str
    stats: dict[str, Any] | None = None
    error: str | None = None


def worker_name(prefix: str = "") -> str:
    """``host:pid`` (with ``prefix``): which process made an asset, as the manifest records it."""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}"


def export_asset(gen: Generator, source: Source, path: Path, truncation: float, export: ExportSettings, worker: str) -> AssetOutcome:
    """Export one batch asset, the identity of a seed or the relief of an image; an error becomes
    the outcome, so one bad seed or image never stops a batch."""
    try:
        made = gen.relief(image=source) if isinstance(source, Path) else sample(gen, source, truncation)
        stats = exporters.export_glb(made, path, export, generator=gen)
    except Exception as err:  # one bad asset must not stop the batch; it is reported
        return AssetOutcome(source, worker, error=f"{type(err).__name__}: {err}")
    return AssetOutcome(source, worker, stats=stats.to_dict())


class BatchEngine(Protocol):
    """What :func:`run_batch` needs of an engine."""

    def describe(self) -> dict[str, Any]:
        """The loaded model's ``family`` and ``checkpoint_sha256`` (they name the files and the fingerprint)."""

    def run(self, jobs: list[tuple[Source, Path]], truncation: float, export: ExportSettings) -> Iterator[AssetOutcome]:
        """Export each ``(source, path)`` and yield the outcomes as they finish, in any order."""

    def close(self) -> None:
        """Release the engine's workers."""


class LocalEngine:
    """Exports in this process, one asset after another, with the generator loaded once."""

    def __init__(self, selection: ModelSelection) -> None:
        self._gen = selection.load()
        self._worker = worker_name()

    def describe(self) -> dict[str, Any]:
        return describe_generator(self._gen)

    def run(self, jobs: list[tuple[Source, Path]], truncation: float, export: ExportSettings) -> Iterator[AssetOutcome]:
        for source, path in jobs:
            yield export_asset(self._gen, source, path, truncation, export, self._worker)

    def close(self) -> None:
        pass


def describe_generator(gen: Generator) -> dict[str, Any]:
    """What the driver needs of a loaded generator: its family and checkpoint digest."""
    return {"family": gen.family, "checkpoint_sha256": gen.info.get("checkpoint_sha256")}
