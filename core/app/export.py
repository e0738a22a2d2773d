"""One identity to one GLB (and optionally its preview): what ``aware3d generate`` and the
worker's ``generate`` both run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .. import exporters
from ..cameras import Pose
from ..errors import InputError
from ..exporters import AssetStats, ExportSettings
from ..io import encode_png, write_atomic
from ..models import get_family
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
    image: str | Path | None = None,
) -> GenerateResult:
    """Sample ``preview.seed`` (or lift ``image``, for models that lift images into reliefs),
    export it to ``output`` and, if asked, render its preview PNG.

    The pose is recorded in the GLB's extras (yaw, pitch and the model's fov for it).

    Raises:
        InputError: for an image given to a model that samples seeds, or none to one that lifts images.
    """
    if get_family(gen.family).kind == "relief":
        return _lift_image(gen, export, output, preview_path, progress, image)
    if image is not None:
        raise InputError(f"the {gen.family} model samples identities from seeds; --image is for models that lift "
                         "an image into a relief (unsup3d)")
    pose = pose_of(preview)
    field = gen.field(seed=preview.seed, truncation=preview.truncation)
    metadata = {"pose": {"yaw": pose.yaw, "pitch": pose.pitch, "fov": gen.camera.resolve(pose).fov}}
    stats = exporters.export_glb(field, output, export, generator=gen, metadata=metadata, progress=progress)
    if preview_path is not None:
        image = gen.render(field, pose, size=preview.size, progress=progress)
        write_atomic(preview_path, encode_png(image))
    return GenerateResult(stats=stats, preview=None if preview_path is None else Path(preview_path))


def _lift_image(gen: Generator, export: ExportSettings, output: str | Path, preview_path: str | Path | None,
                progress: ProgressCallback | None, image: str | Path | None) -> GenerateResult:
    """An image-lifting model's relief of ``image``, exported to ``output``."""
    if image is None:
        raise InputError(f"the {gen.family} model lifts a face image into a relief: give the image (--image PHOTO.png)")
    if preview_path is not None:
        raise InputError(f"previews of {gen.family} reliefs are not available yet; leave out --preview")
    relief = gen.relief(image=image)
    stats = exporters.export_glb(relief, output, export, generator=gen, progress=progress)
    return GenerateResult(stats=stats, preview=None)
