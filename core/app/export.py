"""One identity to one GLB (and optionally its preview): what ``aware3d generate`` and the
worker's ``generate`` both run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import exporters
from ..cameras import Pose, pose_to_camera
from ..errors import InputError
from ..exporters import AssetStats, ExportSettings
from ..exporters.relief_view import check_relief_pose, render_relief
from ..fields import BaseField, Relief
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
    if _lifts_images(gen, image):
        return _lift_image(gen, preview, export, output, preview_path, progress, image)
    pose = pose_of(preview)
    if preview_path is not None and get_family(gen.family).kind == "relief":
        check_relief_pose(pose)  # before anything is sampled or written
    identity = sample(gen, preview.seed, preview.truncation)
    metadata = {"pose": {"yaw": pose.yaw, "pitch": pose.pitch, "fov": gen.camera.resolve(pose).fov}}
    stats = exporters.export_glb(identity, output, export, generator=gen, metadata=metadata, progress=progress)
    if preview_path is not None:
        write_atomic(preview_path, encode_png(_seen(gen, identity, preview, progress)))
    return GenerateResult(stats=stats, preview=None if preview_path is None else Path(preview_path))


def sample(gen: Generator, seed: int, truncation: float) -> BaseField | Relief:
    """The identity of ``seed``: a field, or a relief for relief models that sample seeds."""
    if get_family(gen.family).kind == "relief":
        return gen.relief(seed=seed, truncation=truncation)
    return gen.field(seed=seed, truncation=truncation)


def _seen(gen: Generator, identity: BaseField | Relief, preview: PreviewSettings, progress: ProgressCallback | None) -> np.ndarray:
    """``identity`` from ``preview``'s pose: a relief ray-cast, a field rendered by its model."""
    if isinstance(identity, Relief):
        return relief_preview(gen, identity, preview)
    return gen.render(identity, pose_of(preview), size=preview.size, progress=progress)


def _lifts_images(gen: Generator, image: str | Path | None) -> bool:
    """Whether ``gen`` lifts images into reliefs; an image given to a model that samples seeds is refused."""
    if get_family(gen.family).lifts_images:
        return True
    if image is not None:
        raise InputError(f"the {gen.family} model samples identities from seeds; --image is for models that lift "
                         "an image into a relief (unsup3d)")
    return False


def _lift_image(gen: Generator, preview: PreviewSettings, export: ExportSettings, output: str | Path,
                preview_path: str | Path | None, progress: ProgressCallback | None, image: str | Path | None) -> GenerateResult:
    """An image-lifting model's relief of ``image``, exported to ``output`` (and previewed)."""
    if preview_path is not None:
        check_relief_pose(pose_of(preview))  # before the image is lifted or any file written
    relief = lift_image(gen, image)
    stats = exporters.export_glb(relief, output, export, generator=gen, progress=progress)
    if preview_path is not None:
        write_atomic(preview_path, encode_png(relief_preview(gen, relief, preview)))
    return GenerateResult(stats=stats, preview=None if preview_path is None else Path(preview_path))


def lift_image(gen: Generator, image: str | Path | None) -> Relief:
    """The relief of ``image`` by an image-lifting model, or one sentence when there is no image."""
    if image is None:
        raise InputError(f"the {gen.family} model lifts a face image into a relief: give the image (--image PHOTO.png)")
    return gen.relief(image=image)


def relief_preview(gen: Generator, relief: Relief, preview: PreviewSettings) -> np.ndarray:
    """The relief seen from ``preview``'s pose with the model's camera (fronts only)."""
    pose = check_relief_pose(pose_of(preview))
    return render_relief(relief, pose_to_camera(pose, gen.camera), preview.size)


def render_preview(gen: Generator, preview: PreviewSettings, image: str | Path | None = None,
                   progress: ProgressCallback | None = None) -> np.ndarray:
    """``preview``'s identity seen from its pose: the model's own render of a sampled field, or,
    for models that lift images, the relief of ``image`` ray-cast.

    Raises:
        InputError: for an image given to a model that samples seeds, none to one that lifts
            images, or a pose a relief cannot be seen from.
    """
    if _lifts_images(gen, image):
        check_relief_pose(pose_of(preview))  # before the image is lifted
        return relief_preview(gen, lift_image(gen, image), preview)
    if get_family(gen.family).kind == "relief":
        check_relief_pose(pose_of(preview))  # before the identity is sampled
    return _seen(gen, sample(gen, preview.seed, preview.truncation), preview, progress)
