"""Reliefs to GLB: a depth map and albedo seen by a known camera become a textured height-field mesh.

Depth-lifted models (Unsup3d, LiftedGAN) describe a face as a :class:`aware3d.fields.Relief`.
Each foreground pixel centre is unprojected with its z-depth through the relief's pinhole camera,
every 2x2 block of foreground pixels becomes two triangles facing the camera, and the albedo image
is the texture as is (UVs at the pixel centres). The result is a 2.5-D frontal relief: an open
surface with no back, as the papers' own OBJ exporters produce.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from aware3d.errors import EmptySurfaceError, InputError
from aware3d.fields import Relief
from aware3d.io import encode_png
from aware3d.progress import ProgressCallback
from aware3d.version import __version__

from .asset import Asset, AssetStats, asset_name, place_in_asset
from .gltf import GLBMesh, Material, build_glb
from .texture import MAX_TEXTURE_SIZE, check_texture_size, fill_gutters

DEFAULT_MAX_DEPTH_JUMP = 8.0
"""Pixel footprints of depth change allowed across one 2x2 quad: a surface steeper than about 83
degrees from facing the camera is an occlusion edge (hair over forehead, face over background),
whose stretched triangles are cut rather than meshed."""

_MIN_TEXTURE_SIZE = 16
"""The smallest texture :func:`aware3d.exporters.texture.check_texture_size` accepts."""


@dataclass(frozen=True)
class ReliefMesh:
    """The height-field mesh of a relief, in the model's world frame.

    Attributes:
        vertices: [V,3] float32, model world coordinates (one per kept foreground pixel centre).
        faces: [F,3] int32 indices, counter-clockwise seen from the relief's camera.
        uv: [V,2] float32 texture coordinates of the pixel centres, glTF convention: (0, 0) is the
            top-left corner of the albedo image, u = (col + 0.5) / W, v = (row + 0.5) / H.
        normals: [V,3] float32 unit vertex normals (area-weighted face normals), on the camera's side.
        pixels: [V,2] int32 (row, col) of the pixel each vertex comes from.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    normals: np.ndarray
    pixels: np.ndarray


def _check_relief(relief: Relief) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return depth [H,W] float64, albedo [H,W,3] float64 and the foreground [H,W] bool, checked."""
    depth = np.asarray(relief.depth, dtype=np.float64)
    albedo = np.asarray(relief.albedo, dtype=np.float64)
    fov = float(relief.camera.fov_deg)
    if not (math.isfinite(fov) and 0.0 < fov < 180.0):
        raise InputError(f"the relief camera's vertical fov must be between 0 and 180 degrees, got {fov!r}")
    cam2world = np.asarray(relief.camera.cam2world, dtype=np.float64)
    if cam2world.shape != (4, 4) or not np.isfinite(cam2world).all():
        raise InputError(
            f"the relief camera's cam2world must be a finite [4,4] matrix, got shape {list(cam2world.shape)}"
        )
    foreground = np.ones(depth.shape, dtype=bool) if relief.mask is None else np.asarray(relief.mask, dtype=bool)
    bad = foreground & ~(np.isfinite(depth) & (depth > 0))
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(
            f"relief depth must be finite and positive on the object, but {int(bad.sum())} foreground pixels are not "
            f"(first at row {row}, col {col}: {depth[row, col]!r}); check the model's output or pass a mask"
        )
    if not np.isfinite(albedo).all():
        raise InputError("relief albedo holds NaN or infinite values; check the model's output")
    return depth, albedo, foreground


def mesh_relief(relief: Relief, max_depth_jump: float | None = DEFAULT_MAX_DEPTH_JUMP) -> ReliefMesh:
    """Turn a relief's depth map into a triangle mesh, one vertex per foreground pixel centre.

    Pixel (row, col) is seen along the camera-space direction (x_ndc * tan(fov/2) * W/H,
    y_ndc * tan(fov/2), -1) with x_ndc = (col + 0.5) / W * 2 - 1 and y_ndc = 1 - (row + 0.5) / H * 2
    (as :func:`aware3d.render.camera_rays`); its z-depth d scales that direction to the point, which
    ``cam2world`` takes into model world. Each 2x2 block of foreground pixels becomes two triangles.

    Args:
        relief: the depth map, albedo, camera and optional mask.
        max_depth_jump: the largest depth change across a quad's four corners, in pixel footprints
            (the width one pixel covers at the quad's nearest depth, 2 * d * tan(fov/2) / H); quads
            that jump further straddle an occlusion edge and are dropped. None keeps every quad.

    Returns:
        The mesh in model world coordinates; unused pixels have no vertex.

    Raises:
        InputError: for a bad camera or max_depth_jump, or depth that is not finite and positive
            on the object, or non-finite albedo.
        EmptySurfaceError: when no 2x2 block of foreground pixels survives.
    """
    if max_depth_jump is not None and not (
        isinstance(max_depth_jump, (int, float)) and not isinstance(max_depth_jump, bool)
        and math.isfinite(max_depth_jump) and max_depth_jump > 0
    ):
        raise InputError(
            f"max_depth_jump must be a positive number of pixel footprints or None, got {max_depth_jump!r}"
        )
    depth, _, foreground = _check_relief(relief)
    height, width = depth.shape
    tan_half = math.tan(math.radians(float(relief.camera.fov_deg)) / 2)

    # Quads: top-left corner (r, c) for r < H-1, c < W-1; corners a=(r,c) b=(r,c+1) c=(r+1,c) d=(r+1,c+1).
    corners = np.stack([foreground[:-1, :-1], foreground[:-1, 1:], foreground[1:, :-1], foreground[1:, 1:]])
    keep = corners.all(axis=0)
    if max_depth_jump is not None:
        quad_depth = np.stack([depth[:-1, :-1], depth[:-1, 1:], depth[1:, :-1], depth[1:, 1:]])
        quad_depth = np.where(corners, quad_depth, 1.0)  # background depth may be anything; those quads go anyway
        nearest = quad_depth.min(axis=0)
        footprint = 2 * nearest * tan_half / height
        keep &= quad_depth.max(axis=0) - nearest <= max_depth_jump * footprint
    quad_rows, quad_cols = np.nonzero(keep)
    if len(quad_rows) == 0:
        cut = "" if max_depth_jump is None else f", max_depth_jump {max_depth_jump}"
        raise EmptySurfaceError(
            f"the relief has no 2x2 block of foreground pixels to mesh ({int(foreground.sum())} of "
            f"{height}x{width} pixels are on the object{cut}); check the mask and depth"
        )

    top_left = quad_rows * width + quad_cols
    a, b, c, d = top_left, top_left + 1, top_left + width, top_left + width + 1
    # Seen from the camera (x right, y up; rows grow downward) a-c-b and b-c-d turn counter-clockwise.
    pixel_faces = np.concatenate([np.stack([a, c, b], axis=1), np.stack([b, c, d], axis=1)])
    pixel_faces = pixel_faces.reshape(2, -1, 3).transpose(1, 0, 2).reshape(-1, 3)  # quad by quad
    used, faces = np.unique(pixel_faces, return_inverse=True)
    faces = faces.reshape(-1, 3).astype(np.int32)
    rows, cols = np.divmod(used, width)

    d_used = depth.reshape(-1)[used]
    x_ndc = (cols + 0.5) / width * 2 - 1
    y_ndc = 1 - (rows + 0.5) / height * 2
    points_cam = np.stack([x_ndc * tan_half * (width / height) * d_used, y_ndc * tan_half * d_used, -d_used], axis=1)
    cam2world = np.asarray(relief.camera.cam2world, dtype=np.float64)
    vertices = points_cam @ cam2world[:3, :3].T + cam2world[:3, 3]
    uv = np.stack([(cols + 0.5) / width, (rows + 0.5) / height], axis=1)
    return ReliefMesh(
        vertices=vertices.astype(np.float32),
        faces=faces,
        uv=uv.astype(np.float32),
        normals=_vertex_normals(vertices, faces),
        pixels=np.stack([rows, cols], axis=1).astype(np.int32),
    )


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[V,3] float32 unit normals: each vertex's adjacent face normals, weighted by face area."""
    tri = vertices[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = twice the area
    normals = np.zeros_like(vertices)
    for corner in range(3):  # three vectorised scatters, one per triangle corner
        np.add.at(normals, faces[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-300)).astype(np.float32)


def default_texture_size(height: int, width: int) -> int:
    """The power-of-two texture side for an [H,W] albedo: the next one >= max(H, W), from 16 to 4096."""
    side = 1 << max(int(max(height, width)) - 1, 0).bit_length()
    return min(max(side, _MIN_TEXTURE_SIZE), MAX_TEXTURE_SIZE)


def relief_texture(albedo: np.ndarray, covered: np.ndarray, texture_size: int) -> np.ndarray:
    """The albedo as a square power-of-two texture.

    Pixels no vertex uses take the colour of the nearest used one (so mipmaps show no background
    at the relief's edge); the image is then resampled (bicubic) to ``texture_size`` squared, which
    keeps the pixel-centre UVs of :func:`mesh_relief` pointing at the same colours.

    Args:
        albedo: [H,W,3] float in [0,1] (values outside are clipped), row 0 at the top.
        covered: [H,W] bool, pixels that carry a mesh vertex.
        texture_size: the output side, a power of two from 16 to 4096.

    Returns:
        [S,S,3] uint8, row 0 at the top (glTF UV (0, 0)).
    """
    check_texture_size(texture_size)
    image = fill_gutters(np.clip(np.asarray(albedo, dtype=np.float64), 0.0, 1.0), np.asarray(covered, dtype=bool))
    if image.shape[:2] != (texture_size, texture_size):
        image = np.stack(
            [
                np.asarray(Image.fromarray(image[..., channel].astype(np.float32)).resize(
                    (texture_size, texture_size), Image.Resampling.BICUBIC
                ))
                for channel in range(3)
            ],
            axis=-1,
        )
    return (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _is_watertight(faces: np.ndarray) -> bool:
    """True when every undirected edge is shared by exactly two faces (never, for a height field)."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1).astype(np.int64)
    _, counts = np.unique(edges[:, 0] * (int(faces.max()) + 1) + edges[:, 1], return_counts=True)
    return bool((counts == 2).all())


def build_relief_asset(
    relief: Relief,
    texture_size: int | None = None,
    material: Material = "unlit",
    metadata: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    max_depth_jump: float | None = DEFAULT_MAX_DEPTH_JUMP,
) -> Asset:
    """Mesh a relief, texture it with its albedo and build the GLB in memory.

    Positions go through ``relief.world_to_asset`` (its 3x3: rotation and life-size scale) into glTF
    y-up metres, then the bounding-box centre moves to the origin; the scale and the model-world
    point moved to the origin are recorded in the extras, as for fields.

    Args:
        relief: the depth map, albedo, camera, optional mask, frame and identity.
        texture_size: power-of-two texture side (16 to 4096); None: the next power of two >= max(H, W).
        material: ``"unlit"`` (KHR_materials_unlit) or ``"pbr"`` (lit, metallic 0).
        metadata: extra entries for the GLB's extras (pose, ...).
        progress: ``progress(stage, done, total)``, called after the mesh, texture and write stages.
        max_depth_jump: see :func:`mesh_relief`.

    Returns:
        The GLB bytes and their statistics (no field queries; ``resolution`` is the depth map's width).

    Raises:
        InputError: for a bad texture size, material, camera or metadata, or unusable depth.
        ShapeError: for a world_to_asset that is not [4,4].
        EmptySurfaceError: when no 2x2 block of foreground pixels survives.
    """
    height, width = np.asarray(relief.depth).shape
    texture_size = default_texture_size(height, width) if texture_size is None else check_texture_size(texture_size)
    report = progress or (lambda stage, done, total: None)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    mesh = mesh_relief(relief, max_depth_jump)
    placement = place_in_asset(relief.world_to_asset, mesh.vertices)
    seconds["mesh"] = time.perf_counter() - started
    report("mesh", 1, 1)

    started = time.perf_counter()
    covered = np.zeros((height, width), dtype=bool)
    covered[mesh.pixels[:, 0], mesh.pixels[:, 1]] = True
    png = encode_png(relief_texture(relief.albedo, covered, texture_size))
    seconds["texture"] = time.perf_counter() - started
    report("texture", 1, 1)

    started = time.perf_counter()
    extras = {
        **relief.identity,
        **(metadata or {}),
        "source": "relief",
        "resolution": int(width),
        "depth_size": [int(height), int(width)],
        "level": 0.0,
        "texture_size": texture_size,
        "max_depth_jump": max_depth_jump,
        "camera": {
            "cam2world": np.asarray(relief.camera.cam2world, dtype=np.float64).tolist(),
            "fov_deg": float(relief.camera.fov_deg),
        },
        **placement.extras(),
        "aware3d_version": __version__,
    }
    if relief.light is not None:
        extras["light"] = [float(value) for value in np.asarray(relief.light).reshape(-1)]
    positions = placement.positions
    faces = placement.faces(mesh.faces)
    glb = build_glb(
        GLBMesh(positions=positions, normals=placement.normals(mesh.normals), faces=faces, uv=mesh.uv, texture_png=png,
                material=material, extras=extras, name=asset_name(extras))
    )
    seconds["write"] = time.perf_counter() - started
    report("write", 1, 1)

    stats = AssetStats(
        num_vertices=len(positions),
        num_faces=len(faces),
        watertight=_is_watertight(faces),
        height_m=float(np.ptp(positions[:, 1])),
        volume_m3=0.0,
        num_queries=0,
        num_dense_queries=0,
        num_removed_components=0,
        resolution=int(width),
        level=0.0,
        texture_size=texture_size,
        scale=placement.scale,
        center=[float(value) for value in placement.center],
        seconds={key: round(value, 3) for key, value in seconds.items()},
        file_size=len(glb),
        level_source="relief",
        bake="albedo",
    )
    return Asset(glb=glb, stats=stats)
