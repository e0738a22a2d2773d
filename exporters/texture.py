"""UV unwrap (charts cut for a head, flattened by libigl, packed by xatlas), colour baking from
a field, and gutter filling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy import ndimage

from aware3d.cameras import Pose, pose_to_position
from aware3d.errors import InputError
from aware3d.fields import CANONICAL_VIEW_DIR, Field
from aware3d.render import alpha_weights

from .atlas import UVMesh, pack_charts, unwrap_patches
from .charts import layout_charts
from .marching import Mesh

DEFAULT_TEXTURE_SIZE = 1024
MAX_TEXTURE_SIZE = 4096
_RASTER_BUDGET = 4_000_000
"""Candidate texels per rasterisation chunk (bounds memory at 4096^2)."""

_AVERAGE_VIEW_ANGLES = ((0.0, 0.0), (0.4, 0.0), (-0.4, 0.0), (0.0, 0.25), (0.0, -0.25))
"""(yaw, pitch) of the views averaged by ``view="average"``: the frontal one and four around it."""

_RAY_HALF_LENGTH = 0.004
_RAY_SAMPLES = 16
"""``mode="ray"``: composite 16 samples along the inward normal within 4 mm (world units) of the surface."""

BakeMode = Literal["surface", "ray"]
ViewMode = Literal["canonical", "average"]


def check_texture_size(texture_size: int) -> int:
    """Return ``texture_size`` if it is a power of two from 16 to 4096, else raise InputError."""
    if (
        isinstance(texture_size, bool) or not isinstance(texture_size, int)
        or texture_size < 16 or texture_size > MAX_TEXTURE_SIZE or texture_size & (texture_size - 1)
    ):
        raise InputError(f"texture size must be a power of two from 16 to {MAX_TEXTURE_SIZE}, got {texture_size!r}")
    return texture_size


def unwrap(mesh: Mesh, texture_size: int = DEFAULT_TEXTURE_SIZE, world_to_asset: np.ndarray | None = None) -> UVMesh:
    """Unwrap ``mesh`` into one square UV atlas for a ``texture_size`` texture.

    Args:
        mesh: the surface, in the field's world frame.
        texture_size: power-of-two texture side in texels.
        world_to_asset: [4,4] map to glTF y-up metres with the face toward +z (the field's
            ``world_to_asset``); None when the mesh is already in that frame. The charts are cut
            by what front views see (:mod:`.charts`) and measured in metres, so this matters.

    Returns:
        The mesh split along the seams, with UVs: the face chart first, upright and unmirrored.
        A surface too rough for a few charts (see :func:`.charts.layout_charts`) gets xatlas's
        own, many small ones (:func:`.atlas.unwrap_patches`).
    """
    check_texture_size(texture_size)
    rotation = np.eye(3) if world_to_asset is None else np.asarray(world_to_asset, dtype=np.float64)[:3, :3]
    charts = layout_charts(mesh.vertices.astype(np.float64) @ rotation.T, mesh.faces)
    uvs = None if charts is None else pack_charts(charts, texture_size)
    if uvs is None:
        return unwrap_patches(mesh.vertices, mesh.faces, texture_size)
    starts = np.cumsum([0] + [len(chart.vertices) for chart in charts])
    source = np.concatenate([chart.vertices for chart in charts])
    return UVMesh(
        vertices=mesh.vertices[source].astype(np.float32),
        faces=np.concatenate([chart.local_faces + start for chart, start in zip(charts, starts)]).astype(np.int32),
        uv=np.concatenate(uvs).astype(np.float32),
        source_vertex=source.astype(np.int64),
    )


@dataclass(frozen=True)
class Rasterization:
    """Texels whose centres lie inside a UV triangle.

    Attributes:
        rows, cols: [M] int64 texel coordinates (row 0 at the top).
        faces: [M] int64 covering face.
        barycentric: [M,3] float32 weights of the face's vertices at the texel centre.
    """

    rows: np.ndarray
    cols: np.ndarray
    faces: np.ndarray
    barycentric: np.ndarray


def rasterize_uv(uv: np.ndarray, faces: np.ndarray, texture_size: int) -> Rasterization:
    """Find, for every texel centre covered by a UV triangle, the triangle and barycentrics."""
    corners = uv[faces].astype(np.float64) * texture_size  # [F,3,2] in texel units (x, y)
    lo = np.floor(corners.min(axis=1) - 0.5).astype(np.int64).clip(0, texture_size - 1)
    hi = np.ceil(corners.max(axis=1) - 0.5).astype(np.int64).clip(0, texture_size - 1)
    extent = hi - lo + 1
    counts = extent[:, 0] * extent[:, 1]
    parts: list[tuple[np.ndarray, ...]] = []
    start = 0
    while start < len(faces):
        stop = start + max(1, int(np.searchsorted(np.cumsum(counts[start:]), _RASTER_BUDGET)))
        face = np.repeat(np.arange(start, stop), counts[start:stop])
        local = np.arange(len(face)) - np.repeat(np.cumsum(counts[start:stop]) - counts[start:stop], counts[start:stop])
        col = lo[face, 0] + local % extent[face, 0]
        row = lo[face, 1] + local // extent[face, 0]
        a, b, c = corners[face, 0], corners[face, 1], corners[face, 2]
        p = np.stack([col + 0.5, row + 0.5], axis=1)
        area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        safe = np.where(np.abs(area) < 1e-12, 1.0, area)
        w_b = ((p[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (p[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])) / safe
        w_c = ((b[:, 0] - a[:, 0]) * (p[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (p[:, 0] - a[:, 0])) / safe
        w_a = 1 - w_b - w_c
        bary = np.stack([w_a, w_b, w_c], axis=1)
        inside = (bary >= -1e-9).all(axis=1) & (np.abs(area) >= 1e-12)
        parts.append((row[inside], col[inside], face[inside], bary[inside].astype(np.float32)))
        start = stop
    rows, cols, face_ids, barycentric = (np.concatenate(x) for x in zip(*parts))
    return Rasterization(rows=rows, cols=cols, faces=face_ids, barycentric=barycentric)


def _view_directions(view: ViewMode) -> list[torch.Tensor]:
    if view == "canonical":
        return [torch.tensor(CANONICAL_VIEW_DIR)]
    if view == "average":
        # The direction each camera on the unit sphere looks along, toward the origin.
        return [torch.tensor(-pose_to_position(Pose(yaw, pitch), 1.0), dtype=torch.float32) for yaw, pitch in _AVERAGE_VIEW_ANGLES]
    raise InputError(f"view must be 'canonical' or 'average', got {view!r}")


@torch.inference_mode()
def sample_colour(
    field: Field,
    points: np.ndarray,
    normals: np.ndarray | None = None,
    mode: BakeMode = "surface",
    view: ViewMode = "canonical",
) -> np.ndarray:
    """The field's colour at surface points.

    Args:
        field: the field whose colour is read.
        points: [N,3] float32 surface points, field world coordinates.
        normals: [N,3] unit outward normals; needed for ``mode="ray"``.
        mode: ``"surface"`` reads the colour at the point; ``"ray"`` alpha-composites a short ray
            along the inward normal through the point, as reference projects bake NeRF colour.
        view: ``"canonical"`` (0, 0, -1) or ``"average"`` over five views around the front.

    Returns:
        [N,3] float32 colour in [0,1].
    """
    if mode not in ("surface", "ray"):
        raise InputError(f"bake mode must be 'surface' or 'ray', got {mode!r}")
    directions = _view_directions(view)
    p = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
    total = torch.zeros(len(p), 3)
    for direction in directions:
        if mode == "surface":
            total += field.query(p, direction).rgb.cpu()
            continue
        if normals is None:
            raise InputError("mode='ray' needs vertex normals")
        n = torch.from_numpy(np.ascontiguousarray(normals, dtype=np.float32))
        offsets = torch.linspace(_RAY_HALF_LENGTH, -_RAY_HALF_LENGTH, _RAY_SAMPLES)
        samples = p[:, None, :] + offsets[None, :, None] * n[:, None, :]
        out = field.query(samples.reshape(-1, 3), direction)
        density = out.density.cpu().reshape(len(p), _RAY_SAMPLES)
        rgb = out.rgb.cpu().reshape(len(p), _RAY_SAMPLES, 3)
        delta = 2 * _RAY_HALF_LENGTH / (_RAY_SAMPLES - 1)
        weights = alpha_weights(1 - torch.exp(-density * delta))
        colour = (weights[..., None] * rgb).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp_min(1e-8)
        total += colour
    return (total / len(directions)).clamp(0, 1).numpy()


def fill_gutters(image: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Give every unfilled texel the colour of the nearest filled one, so no seam shows at any mip level.

    Args:
        image: [H,W,C] texture.
        filled: [H,W] bool, texels that hold baked colour.
    """
    if filled.all() or not filled.any():
        return image
    _, (rows, cols) = ndimage.distance_transform_edt(~filled, return_distances=True, return_indices=True)
    return image[rows, cols]


@dataclass(frozen=True)
class Bake:
    """A baked texture.

    Attributes:
        image: [S,S,3] uint8, row 0 at the top (glTF UV (0, 0)).
        covered: [S,S] bool, texels whose centre lies in a UV triangle.
    """

    image: np.ndarray
    covered: np.ndarray


@dataclass(frozen=True)
class Texels:
    """The surface points behind a texture's covered texels.

    Attributes:
        raster: which texels, and their faces and barycentrics.
        points: [M,3] float32 surface point at each texel centre, the mesh's frame.
        normals: [M,3] float32 unit normals there, or None when no vertex normals were given.
    """

    raster: Rasterization
    points: np.ndarray
    normals: np.ndarray | None


def texel_samples(uv_mesh: UVMesh, texture_size: int, normals: np.ndarray | None = None) -> Texels:
    """Rasterise the atlas and place every covered texel centre on the surface (normals [V,3] optional)."""
    check_texture_size(texture_size)
    raster = rasterize_uv(uv_mesh.uv, uv_mesh.faces, texture_size)
    corners = uv_mesh.faces[raster.faces]
    points = np.einsum("mk,mkd->md", raster.barycentric, uv_mesh.vertices[corners])
    texel_normals = None
    if normals is not None:
        texel_normals = np.einsum("mk,mkd->md", raster.barycentric, normals[corners])
        texel_normals /= np.linalg.norm(texel_normals, axis=1, keepdims=True).clip(1e-12)
    return Texels(raster=raster, points=points, normals=texel_normals)


def texture_from_texels(raster: Rasterization, colour: np.ndarray, texture_size: int) -> Bake:
    """Write ``colour`` [M,3] in [0,1] to the rasterised texels and fill the gutters."""
    image = np.full((texture_size, texture_size, 3), np.nan, dtype=np.float32)  # NaN marks "not baked"
    covered = np.zeros((texture_size, texture_size), dtype=bool)
    image[raster.rows, raster.cols] = colour
    covered[raster.rows, raster.cols] = True
    image = fill_gutters(image, covered)
    if np.isnan(image).any():
        raise RuntimeError("texture baking left texels unfilled; the UV atlas covers no texel centre")
    return Bake(image=(image * 255 + 0.5).astype(np.uint8), covered=covered)


def bake_texture(
    field: Field,
    uv_mesh: UVMesh,
    texture_size: int = DEFAULT_TEXTURE_SIZE,
    normals: np.ndarray | None = None,
    mode: BakeMode = "surface",
    view: ViewMode = "canonical",
) -> Bake:
    """Bake the field's colour at the surface into a texture and fill the gutters.

    Args:
        field: the field whose colour is baked.
        uv_mesh: vertices in the field's world coordinates.
        texture_size: power-of-two texture side in pixels.
        normals: [V,3] per-vertex unit normals of ``uv_mesh`` (for ``mode="ray"``).
        mode: ``"surface"`` or ``"ray"`` (see :func:`sample_colour`).
        view: ``"canonical"`` or ``"average"`` (see :func:`sample_colour`).
    """
    texels = texel_samples(uv_mesh, texture_size, normals)
    colour = sample_colour(field, texels.points, texels.normals, mode, view)
    return texture_from_texels(texels.raster, colour, texture_size)
