"""How closely an exported asset matches the model's own renders.

The asset (its mesh and texture, unlit) is ray-cast at K poses with the model's own camera and
compared with the model's own preview at the same poses: silhouette IoU (the preview's opacity
above one half against the mesh's hits), the mean depth difference on the shared silhouette in
millimetres at life size, and colour PSNR on the shared silhouette.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aware3d.cameras import Pose, pose_to_camera
from aware3d.errors import InputError
from aware3d.models.base import Generator
from aware3d.progress import ProgressCallback

from .raycast import MeshRaycaster, TexturedMesh, render_mesh

DEFAULT_POSE_COUNT = 5
FRONT_YAW = 0.5
FRONT_PITCH = 0.2
"""Default poses span +-0.5 rad of yaw and +-0.2 rad of pitch (the whole circle for full-head models)."""

DEFAULT_SIZE = 256
"""Preview side in pixels for the comparison."""

SILHOUETTE_OPACITY = 0.5
"""A preview pixel belongs to the silhouette where the accumulated opacity reaches one half."""


def fidelity_poses(count: int = DEFAULT_POSE_COUNT, full_circle: bool = False) -> list[Pose]:
    """``count`` poses spread evenly in yaw (over +-0.5 rad, or round the whole circle) with pitch
    following one period of a sine of amplitude 0.2 rad, so no two share a pitch.

    Example:
        >>> [(round(p.yaw, 2), round(p.pitch, 2)) for p in fidelity_poses(3)]
        [(-0.5, 0.0), (0.0, 0.17), (0.5, -0.17)]
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise InputError(f"the number of fidelity poses must be a positive integer, got {count!r}")
    if full_circle:
        yaws = [-math.pi + 2 * math.pi * (k + 0.5) / count for k in range(count)]
    else:
        yaws = [0.0] if count == 1 else [-FRONT_YAW + 2 * FRONT_YAW * k / (count - 1) for k in range(count)]
    return [Pose(yaw=yaw, pitch=FRONT_PITCH * math.sin(2 * math.pi * k / count)) for k, yaw in enumerate(yaws)]


@dataclass(frozen=True)
class PoseFidelity:
    """The comparison at one pose.

    Attributes:
        yaw, pitch: the pose, radians.
        iou: silhouette intersection over union (1 when both are empty).
        depth_mm: mean |mesh depth - preview expected depth| on the shared silhouette, mm at life
            size (NaN when the silhouettes do not overlap).
        psnr_db: colour PSNR on the shared silhouette (NaN when they do not overlap).
        shared_pixels: pixels in both silhouettes.
    """

    yaw: float
    pitch: float
    iou: float
    depth_mm: float
    psnr_db: float
    shared_pixels: int


@dataclass(frozen=True)
class Fidelity:
    """An asset against the model's own renders over several poses.

    Attributes:
        iou: mean silhouette IoU over the poses.
        depth_mm: mean depth difference over all shared pixels, mm at life size.
        psnr_db: PSNR of all shared pixels' colours pooled.
        size: preview side in pixels.
        seconds: wall time of the measure (previews and ray casting).
        poses: the per-pose figures.
    """

    iou: float
    depth_mm: float
    psnr_db: float
    size: int
    seconds: float
    poses: list[PoseFidelity] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded (NaN becomes None)."""
        return _rounded(asdict(self))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def measure_fidelity(
    generator: Generator,
    field,
    mesh: TexturedMesh,
    metres_per_unit: float,
    poses: list[Pose] | None = None,
    size: int = DEFAULT_SIZE,
    progress: ProgressCallback | None = None,
) -> Fidelity:
    """Compare ``mesh`` (in the field's world) with ``generator``'s previews of ``field``.

    Args:
        generator: renders the previews (its final images: EG3D's super-resolved ones, CIPS-3D's INR).
        field: the identity the mesh was exported from.
        mesh: the exported surface, texture and UVs, model world coordinates.
        metres_per_unit: the asset's scale, for depths at life size.
        poses: where to look; default :func:`fidelity_poses` (whole circle for full-head models).
        size: preview side in pixels.
        progress: ``progress("fidelity", poses_done, poses_total)``.
    """
    started = time.perf_counter()
    poses = poses if poses is not None else fidelity_poses(full_circle=generator.full_circle)
    raycaster = MeshRaycaster(mesh.vertices, mesh.faces)
    per_pose, depth_errors, colour_errors = [], [], []
    for index, pose in enumerate(poses):
        preview = generator.render_result(field, pose, size)
        render = render_mesh(mesh, pose_to_camera(pose, generator.camera), size, raycaster)
        model = preview.alpha.cpu().numpy() >= SILHOUETTE_OPACITY
        shared = model & render.hit
        union = int((model | render.hit).sum())
        depth = np.abs(render.depth[shared] - preview.depth.cpu().numpy()[shared]) * metres_per_unit * 1000
        colour = (render.rgb[shared] - preview.rgb.clamp(0, 1).cpu().numpy()[shared]) ** 2
        depth_errors.append(depth)
        colour_errors.append(colour)
        per_pose.append(PoseFidelity(
            yaw=pose.yaw, pitch=pose.pitch, iou=1.0 if union == 0 else int(shared.sum()) / union,
            depth_mm=float(depth.mean()) if len(depth) else math.nan, psnr_db=_psnr(colour), shared_pixels=int(shared.sum()),
        ))
        if progress is not None:
            progress("fidelity", index + 1, len(poses))
    depth_all = np.concatenate(depth_errors)
    return Fidelity(
        iou=float(np.mean([p.iou for p in per_pose])),
        depth_mm=float(depth_all.mean()) if len(depth_all) else math.nan,
        psnr_db=_psnr(np.concatenate(colour_errors)),
        size=size,
        seconds=time.perf_counter() - started,
        poses=per_pose,
    )


def _psnr(squared_errors: np.ndarray) -> float:
    """PSNR in dB of colours in [0,1] from their squared errors (NaN for none, inf for a perfect match)."""
    if squared_errors.size == 0:
        return math.nan
    mse = float(np.mean(squared_errors, dtype=np.float64))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)
