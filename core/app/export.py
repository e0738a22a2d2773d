"""One identity to one GLB (and optionally its preview): what ``aware3d generate`` and the
worker's ``generate`` both run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import exporters
from ..cameras import Pose
from ..exporters import AssetStats, ExportSettings
from ..io import encode_png, write_atomic
from ..models.base import Generator
from ..progress import ProgressCallback
from .settings import PreviewSettings


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`generate_asset` wrote: the GLB's statistics and the preview's path (or None)."""

    stats: AssetStats
    preview: Path | None


def pose_of(preview: PreviewSettings) -> Pose:
    """The camera pose a PreviewSettings describes."""
    return Pose(yaw=preview.yaw, pitch=preview.pitch, radius=preview.radius, fov=preview.fov)


def generate_asset(
    gen: Generator,
    preview: PreviewSettings,
    export: ExportSettings,
    output: str | Path,
    preview_path: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> GenerateResult:
    """Sample ``preview.seed``, export it to ``output`` and, if asked, render its preview PNG.

    The pose is recorded in the GLB's extras (yaw, pitch and the model's fov for it).
    """
    pose = pose_of(preview)
    field = gen.field(seed=preview.seed, truncation=preview.truncation)
    metadata = {"pose": {"yaw": pose.yaw, "pitch": pose.pitch, "fov": gen.camera.resolve(pose).fov}}
    stats = exporters.export_glb(field, output, export, generator=gen, metadata=metadata, progress=progress)
    if preview_path is not None:
        image = gen.render(field, pose, size=preview.size, progress=progress)
        write_atomic(preview_path, encode_png(image))
    return GenerateResult(stats=stats, preview=None if preview_path is None else Path(preview_path))
