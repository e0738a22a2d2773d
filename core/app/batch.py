"""Batch export: many seeds to a folder of GLBs plus a manifest, resumable and failure-tolerant.

The driver (:func:`run_batch`) plans the work, records each outcome in the manifest as it arrives
and removes what killed attempts left behind; an engine exports the assets: :class:`LocalEngine`
in this process, or :class:`aware3d.app.ray_engine.RayEngine` on a Ray cluster. Both call
:func:`aware3d.app.engine.export_asset`, so the GLBs are the same bytes whichever engine made them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..checkpoints import file_sha256
from ..errors import Aware3DError, InputError
from ..exporters import ExportSettings
from ..io import write_atomic
from ..models import get_family
from ..progress import ProgressCallback
from ..version import __version__
from .engine import AssetOutcome, BatchEngine, LocalEngine, Source
from .settings import EngineSettings, ModelSelection

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_MAX_SEEDS = 1_000_000

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")
"""``s3://bucket``, ``gs://bucket`` (and ``s3:/bucket``, which is what a Path makes of them)."""


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
    """What a batch did: the manifest's path, counts, the failed seeds (or image names) with their messages, and
    its wall time until the last asset was recorded (``startup_seconds`` of it spent before the
    first asset could start; stopping the engine's workers afterwards is not counted)."""

    manifest: Path
    num_written: int = 0
    num_skipped: int = 0
    failures: dict[int | str, str] = field(default_factory=dict)
    seconds: float = 0.0
    startup_seconds: float = 0.0


def open_engine(selection: ModelSelection, engine: EngineSettings, max_workers: int) -> BatchEngine:
    """The engine ``engine`` names, with the model loaded (on Ray: by each of at most ``max_workers`` actors)."""
    if engine.engine == "ray":
        from .ray_engine import RayEngine

        return RayEngine(selection, engine, max_workers)
    return LocalEngine(selection)


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
    """Delete the temp files a killed run or worker left behind (``write_atomic``'s
    ``.NAME.XXXXXXXX.part``) for this batch's own outputs only; returns how many. One scan of
    the folder, however many names: a 10 000-asset folder on NFS is slow to list."""
    wanted = set(names)
    removed = 0
    for entry in os.scandir(folder):
        if entry.name.startswith(".") and entry.name.endswith(".part") and entry.name[1:-5].rpartition(".")[0] in wanted:
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed


class ManifestWriter:
    """Writes the manifest atomically, at most once per ten times its last write took.

    A 10 000-asset manifest is about 15 MB of JSON: rewritten after every asset, as a small one is,
    it would make the driver the bottleneck of a large cluster and write terabytes. Throttled, the
    driver spends at most a tenth of its time on it; after a kill, the assets finished since the
    last write are redone, as any unrecorded asset is.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._next = 0.0

    def write(self, manifest: dict[str, Any], force: bool = False) -> bool:
        """Write ``manifest`` if it is due (or ``force``); returns whether it was written."""
        started = time.monotonic()
        if not force and started < self._next:
            return False
        write_atomic(self.path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
        finished = time.monotonic()
        self._next = finished + 9 * (finished - started)
        return True


def check_batch_folder(folder: str | os.PathLike) -> Path:
    """``folder`` as an absolute local path, or an InputError for a file or an object-store URL."""
    if _URL.match(os.fspath(folder)):
        raise InputError(f"batch output {folder} is a URL; object stores are not supported: give a folder on a filesystem "
                         "every worker shares (mount the bucket with s3fs/gcsfuse and give the mount's path)")
    folder = Path(folder).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"batch output {folder} is a file; give a folder")
    return folder


def run_batch(
    folder: str | os.PathLike,
    seeds: list[int],
    selection: ModelSelection,
    truncation: float = 0.7,
    export: ExportSettings | None = None,
    progress: ProgressCallback | None = None,
    engine: EngineSettings | None = None,
    images: list[Path] | None = None,
) -> BatchResult:
    """Export one GLB per seed (or, for models that lift images, per image) into ``folder`` and
    keep ``manifest.json`` up to date.

    Survives being killed at any moment: every file is written to a temp file and renamed (so the
    manifest is parseable and no GLB is half written at any moment), temp files a killed run or
    worker left are removed, and a re-run redoes exactly the assets that are not recorded as done
    with the same settings fingerprint (family, options, checkpoint, truncation, export settings,
    aware3d version), whose image changed or whose file is gone. Assets of other seeds already in
    the manifest are kept. A failing seed or image is recorded in the manifest and in the result;
    the others go on. ``engine`` chooses where assets are made (default: this process); the files
    are the same either way.

    Raises:
        InputError: when ``folder`` is a file or a URL, when neither seeds nor images (or both) are
            given, when two images share a name, or for seeds given to a model that lifts images
            (images to one that samples seeds).
    """
    started = time.perf_counter()
    folder = check_batch_folder(folder)
    sources = _sources(seeds, images)
    export = export or ExportSettings()
    engine_ = open_engine(selection, engine or EngineSettings(), max_workers=len(sources))
    try:
        result = BatchResult(manifest=folder / MANIFEST_NAME, startup_seconds=time.perf_counter() - started)
        model = engine_.describe()
        _check_sources_suit(model["family"], sources)
        ledger = _Ledger.open(folder, sources, model, selection, truncation, export)
        jobs = [(source, folder / ledger.names[source]) for source in sources if not ledger.finished(source)]
        result.num_skipped = len(sources) - len(jobs)
        if progress is not None and result.num_skipped:
            progress("batch", result.num_skipped, len(sources))
        try:
            for done, outcome in enumerate(engine_.run(jobs, truncation, export), start=result.num_skipped + 1):
                ledger.enter(outcome, result)
                if progress is not None:
                    progress("batch", done, len(sources))
        finally:  # also on Ctrl-C or a cancel: what finished stays recorded, and workers killed mid-write leave nothing
            ledger.writer.write(ledger.manifest, force=True)
            _remove_stale_temporaries(folder, list(ledger.names.values()))
        result.seconds = time.perf_counter() - started
    finally:
        engine_.close()
    return result


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
"""The files ``--images FOLDER`` takes (others in the folder are left alone)."""


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder`` (not hidden), sorted by name.

    Raises:
        InputError: for a folder that does not exist or holds no image.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise InputError(f"image folder {folder} does not exist or is not a folder")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
    if not images:
        raise InputError(f"no images in {folder}: it needs files ending in {', '.join(IMAGE_SUFFIXES)}")
    return images


def _sources(seeds: list[int] | None, images: list[Path] | None) -> list[Source]:
    """What the batch makes assets from: its seeds, or its images as absolute paths."""
    if seeds and images:
        raise InputError("give seeds or images, not both: a model samples seeds or lifts images")
    if not seeds and not images:
        raise InputError("no seeds or images to export")
    if seeds:
        return list(seeds)
    paths = [Path(p).expanduser().absolute() for p in images]
    stems: dict[str, Path] = {}
    for path in paths:
        if path.stem in stems:
            raise InputError(f"{stems[path.stem].name} and {path.name} would both be written as *_{path.stem}.glb; rename one")
        stems[path.stem] = path
    return paths


def _check_sources_suit(family: str, sources: list[Source]) -> None:
    """Seeds for models that sample them, images for models that lift them; else one sentence."""
    lifts = get_family(family).lifts_images
    if lifts and not isinstance(sources[0], Path):
        raise InputError(f"the {family} model lifts face images into reliefs: give a folder of images (--images FOLDER), not seeds")
    if not lifts and isinstance(sources[0], Path):
        raise InputError(f"the {family} model samples identities from seeds (--seeds 0-19); images are for models that lift them (unsup3d)")


def _key(source: Source) -> str:
    """The manifest's key for an asset: its seed, or its image's file name."""
    return source.name if isinstance(source, Path) else str(source)


def _image_digest(path: Path) -> str | None:
    """The sha256 of an image file, so an edited image is made again; None if it cannot be read
    (the asset then fails with the reader's own message)."""
    try:
        return file_sha256(path)
    except Aware3DError:
        return None


@dataclass
class _Ledger:
    """One batch's manifest in memory: which assets are done, and each outcome entered as it arrives."""

    folder: Path
    names: dict[Source, str]
    digests: dict[Path, str | None]
    manifest: dict[str, Any]
    writer: ManifestWriter

    @classmethod
    def open(cls, folder: Path, sources: list[Source], model: dict[str, Any], selection: ModelSelection, truncation: float,
             export: ExportSettings) -> _Ledger:
        """The folder's manifest (or a new one) for these settings; removes what killed runs left."""
        folder.mkdir(parents=True, exist_ok=True)
        family = model["family"]
        names = {s: f"{family}_{s.stem}.glb" if isinstance(s, Path) else f"{family}_seed{s}.glb" for s in sources}
        removed = _remove_stale_temporaries(folder, [*names.values(), MANIFEST_NAME])
        if removed:
            logger.info("removed %d temporary files left by an interrupted run", removed)
        settings = {
            "family": family, "options": get_family(family).resolve_options(selection.options),
            "checkpoint_sha256": model["checkpoint_sha256"], "truncation": truncation,
            "export": export.to_dict(), "aware3d_version": __version__,
        }
        path = folder / MANIFEST_NAME
        manifest = {"format": MANIFEST_FORMAT, "settings": settings, "fingerprint": settings_fingerprint(settings),
                    "assets": _load_manifest(path).get("assets", {})}
        digests = {s: _image_digest(s) for s in sources if isinstance(s, Path)}
        return cls(folder, names, digests, manifest, ManifestWriter(path))

    def finished(self, source: Source) -> bool:
        """Recorded as done with these settings (and this image), and its file is there."""
        entry = self.manifest["assets"].get(_key(source), {})
        same_image = not isinstance(source, Path) or entry.get("image_sha256") == self.digests[source]
        return (entry.get("status") == "ok" and entry.get("fingerprint") == self.manifest["fingerprint"] and same_image
                and (self.folder / self.names[source]).exists())

    def enter(self, outcome: AssetOutcome, result: BatchResult) -> None:
        """Record ``outcome`` (in the manifest, when due, and in ``result``)."""
        source, name = outcome.source, self.names[outcome.source]
        if outcome.error is None and not (self.folder / name).exists():
            outcome = AssetOutcome(source, outcome.worker, error=(
                f"OutputError: worker {outcome.worker} wrote {name} where this machine cannot see it; "
                "the output folder must be on a filesystem every worker shares"))
        entry: dict[str, Any] = {"file": name, "fingerprint": self.manifest["fingerprint"], "worker": outcome.worker}
        if isinstance(source, Path):
            entry.update(image=str(source), image_sha256=self.digests[source])
        key = _key(source)
        if outcome.error is None:
            self.manifest["assets"][key] = {**entry, "status": "ok", "stats": outcome.stats}
            result.num_written += 1
        else:
            self.manifest["assets"][key] = {**entry, "status": "failed", "error": outcome.error}
            result.failures[source if isinstance(source, int) else key] = outcome.error
        self.writer.write(self.manifest)
