"""Colour from the model's own final images (``--bake views``).

EG3D, PanoHead and CIPS-3D put their last detail in 2-D networks (super-resolution, the INR) that
a 3-D colour query never sees, so a texture baked from the field is blurrier than the model's
images. Here the final images, rendered at several poses, are projected onto the surface: a
surface point takes each image's colour where the camera sees it (ray cast against the exported
mesh), weighted by a power of the cosine between its normal and the direction to the camera and
by the image's opacity there; the field's own colour carries a small weight everywhere, so it
remains wherever no image sees the point and blends in at grazing angles.

For a texture, what is projected is each image's difference from the asset itself: the mesh,
textured with the field's colour, is ray-cast at the same pose and size, and the texels get the
field's colour plus the blended differences. The images' detail (super-resolution, the INR) and
their shading of the surface reach the texture; their resolution does not blur a texture finer
than they are (a 256-pixel view of a head has ~1.5 mm pixels; a 1024^2 atlas has finer texels).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from aware3d.cameras import Pose, pose_to_camera
from aware3d.fields import Field
from aware3d.models.base import Generator
from aware3d.progress import ProgressCallback

from .raycast import MeshRaycaster, TexturedMesh, render_mesh, sample_texture

COSINE_POWER = 4.0
"""A view's weight is cos^4 of the angle between the normal and the view: a view 60 degrees off
counts 1/16 of a head-on one, so the sharpest view of each point dominates."""

FIELD_WEIGHT = 0.02
"""The field's own colour weighs as much as a view seen at ~68 degrees (cos^4 = 0.02)."""

OCCLUSION_TOLERANCE = 0.5
"""A point counts as seen when the camera's ray meets the mesh no nearer than half a mean edge
length before it (the point lies on a triangle the ray would otherwise hit)."""

_POINTS_PER_CHUNK = 1 << 21


def view_poses(full_circle: bool = False) -> list[Pose]:
    """The poses views are rendered at: the front and both sides out to 0.8 rad at eye level, and
    the front from above and below (eight around the whole circle and the same two for full-head
    models). None coincides with a default fidelity pose, so those stay held out."""
    if full_circle:
        yaws = [k * math.pi / 4 for k in range(-3, 5)]
    else:
        yaws = [0.0, 0.35, -0.35, 0.8, -0.8]
    return [Pose(yaw=yaw) for yaw in yaws] + [Pose(pitch=0.3), Pose(pitch=-0.3)]


@torch.inference_mode()
def colour_from_views(
    generator: Generator,
    field: Field,
    points: np.ndarray,
    normals: np.ndarray,
    fallback: np.ndarray,
    raycaster: MeshRaycaster,
    occlusion_tolerance: float,
    poses: list[Pose] | None = None,
    size: int | None = None,
    progress: ProgressCallback | None = None,
    base: TexturedMesh | None = None,
) -> np.ndarray:
    """Blend the model's final images at ``poses`` onto surface ``points`` [N,3] with unit ``normals``.

    Args:
        generator: renders the views (:meth:`Generator.render_result`, its final images).
        field: the identity.
        points: surface points in the field's world (texel centres or vertices).
        normals: [N,3] unit outward normals there.
        fallback: [N,3] the field's own colour, kept where no view sees a point.
        raycaster: the exported mesh, for visibility.
        occlusion_tolerance: world distance by which a nearer hit still counts as the point itself.
        poses: default :func:`view_poses`.
        size: view side in pixels; default the model's own image size (:attr:`Generator.image_size`).
        progress: ``progress("views", views_done, views_total)``.
        base: the asset textured with ``fallback``; given, each view contributes its difference
            from this asset's own render at the same pose instead of its colour.

    Returns:
        [N,3] float32 colour in [0,1].
    """
    poses = poses if poses is not None else view_poses(generator.full_circle)
    size = size or generator.image_size
    total = np.zeros((len(points), 3)) if base is not None else FIELD_WEIGHT * fallback.astype(np.float64)
    weight = np.full(len(points), FIELD_WEIGHT)
    for index, pose in enumerate(poses):
        image = generator.render_result(field, pose, size)
        rgb = image.rgb.clamp(0, 1).cpu().numpy()
        alpha = image.alpha.clamp(0, 1).cpu().numpy()[..., None]
        camera = pose_to_camera(pose, generator.camera)
        if base is not None:  # project the image's difference from the asset's own render
            own = render_mesh(base, camera, size, raycaster)
            rgb = np.where(own.hit[..., None], rgb - own.rgb, 0.0)
            alpha = alpha * own.hit[..., None]
        for start in range(0, len(points), _POINTS_PER_CHUNK):
            chunk = slice(start, start + _POINTS_PER_CHUNK)
            w, colour = _view_weights(camera, rgb, alpha, points[chunk], normals[chunk], raycaster, occlusion_tolerance)
            total[chunk] += w[:, None] * colour
            weight[chunk] += w
        if progress is not None:
            progress("views", index + 1, len(poses))
    blended = total / weight[:, None]
    return (blended + fallback if base is not None else blended).clip(0, 1).astype(np.float32)


def _view_weights(camera, rgb, alpha, points, normals, raycaster, tolerance) -> tuple[np.ndarray, np.ndarray]:
    """Each point's weight in one view (0 where unseen) and the view's colour there."""
    centre = camera.position
    offset = points.astype(np.float64) - centre
    distance = np.linalg.norm(offset, axis=1)
    direction = offset / distance[:, None].clip(1e-12)
    cosine = -(normals * direction).sum(axis=1)
    local = offset @ camera.cam2world[:3, :3]  # camera axes: x right, y up, looking down -z
    ahead = local[:, 2] < -1e-9
    tan_half = math.tan(math.radians(camera.fov_deg) / 2)
    depth = np.where(ahead, -local[:, 2], 1.0)
    u = (local[:, 0] / depth / tan_half + 1) / 2
    v = (1 - local[:, 1] / depth / tan_half) / 2
    inside = ahead & (u >= 0) & (u <= 1) & (v >= 0) & (v <= 1) & (cosine > 0)
    weight = np.zeros(len(points))
    colour = np.zeros((len(points), 3))
    candidates = np.flatnonzero(inside)
    if len(candidates) == 0:
        return weight, colour
    hits = raycaster.cast(np.broadcast_to(centre, (len(candidates), 3)), direction[candidates])
    seen = candidates[hits.distance >= distance[candidates] - tolerance]
    uv = np.stack([u[seen], v[seen]], axis=1)
    opacity = sample_texture(alpha, uv)[:, 0]
    weight[seen] = cosine[seen] ** COSINE_POWER * opacity
    colour[seen] = sample_texture(rgb, uv)
    return weight, colour
