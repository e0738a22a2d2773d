"""The whole chain, field to GLB: extract, clean, unwrap, bake, write."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aware3d.errors import InputError
from aware3d.fields import Field
from aware3d.io import check_output_path, encode_png, write_atomic
from aware3d.render import ProgressCallback

from . import cleanup, marching, texture
from .gltf import GLBMesh, Material, build_glb


@dataclass(frozen=True)
class AssetStats:
    """Per-asset statistics (also written to batch manifests).

    Attributes:
        num_vertices, num_faces: of the written mesh (vertices split at UV seams).
        watertight: the cleaned surface is closed and consistently wound.
        height_m: height of the asset in metres (y extent).
        volume_m3: enclosed volume in cubic metres (positive: normals point outward).
        num_queries, num_dense_queries: field points evaluated while meshing, and a dense grid's.
        num_removed_components: floaters dropped.
        resolution, level, texture_size: settings used.
        scale: metres per field unit applied; center: field-world point moved to the origin.
        seconds: wall time per stage (extract, clean, unwrap, bake, write).
        file_size: bytes of the GLB.
    """

    num_vertices: int
    num_faces: int
    watertight: bool
    height_m: float
    volume_m3: float
    num_queries: int
    num_dense_queries: int
    num_removed_components: int
    resolution: int
    level: float
    texture_size: int | None
    scale: float
    center: list[float]
    seconds: dict[str, float]
    file_size: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Asset:
    """A built GLB and its statistics."""

    glb: bytes
    stats: AssetStats


def _aware3d_version() -> str:
    from aware3d import __version__

    return __version__


def build_asset(
    field: Field,
    resolution: int = marching.DEFAULT_RESOLUTION,
    texture_size: int = texture.DEFAULT_TEXTURE_SIZE,
    level: float | None = None,
    target_faces: int = cleanup.DEFAULT_TARGET_FACES,
    material: Material = "unlit",
    bake_mode: texture.BakeMode = "surface",
    view: texture.ViewMode = "canonical",
    textured: bool = True,
    vertex_colors: bool = False,
    metadata: dict[str, Any] | None = None,
    coarse_resolution: int = marching.DEFAULT_COARSE_RESOLUTION,
    progress: ProgressCallback | None = None,
) -> Asset:
    """Run the chain in memory and return the GLB bytes (see :func:`export_glb` for arguments)."""
    if level is None:
        level = getattr(field, "default_level", None)
        if level is None:
            raise InputError("this field has no default density level; pass level=")
    if textured:
        texture.check_texture_size(texture_size)
    seconds: dict[str, float] = {}
    report = progress or (lambda stage, done, total: None)

    started = time.perf_counter()
    extraction = marching.extract_mesh(field, level, resolution, coarse_resolution, progress=progress)
    seconds["extract"] = time.perf_counter() - started

    started = time.perf_counter()
    mesh, clean_stats = cleanup.clean_mesh(extraction.mesh, target_faces)
    normals = cleanup.vertex_normals(mesh)
    seconds["clean"] = time.perf_counter() - started
    report("clean", 1, 1)

    uv = png = colors = None
    vertices, faces = mesh.vertices, mesh.faces
    if textured:
        started = time.perf_counter()
        uv_mesh = texture.unwrap(mesh, texture_size)
        seconds["unwrap"] = time.perf_counter() - started
        report("unwrap", 1, 1)
        started = time.perf_counter()
        normals = normals[uv_mesh.source_vertex]
        bake = texture.bake_texture(field, uv_mesh, texture_size, normals, bake_mode, view)
        png = encode_png(bake.image)
        vertices, faces, uv = uv_mesh.vertices, uv_mesh.faces, uv_mesh.uv
        seconds["bake"] = time.perf_counter() - started
        report("bake", 1, 1)
    if vertex_colors:
        started = time.perf_counter()
        colors = texture.sample_colour(field, vertices, normals, bake_mode, view)
        seconds["bake"] = seconds.get("bake", 0.0) + time.perf_counter() - started

    started = time.perf_counter()
    scale = float(getattr(field, "metres_per_unit", 1.0))
    center = (mesh.vertices.min(axis=0).astype(np.float64) + mesh.vertices.max(axis=0)) / 2
    positions = ((vertices - center) * scale).astype(np.float32)
    extras = {
        **getattr(field, "identity", {}),
        **(metadata or {}),
        "resolution": resolution,
        "level": float(level),
        "scale": scale,
        "center": [float(c) for c in center],
        "aware3d_version": _aware3d_version(),
    }
    glb = build_glb(
        GLBMesh(positions=positions, normals=normals, faces=faces, uv=uv, texture_png=png,
                vertex_colors=colors, material=material, extras=extras, name=_asset_name(extras))
    )
    seconds["write"] = time.perf_counter() - started
    report("write", 1, 1)
    stats = AssetStats(
        num_vertices=len(positions),
        num_faces=len(faces),
        watertight=clean_stats.watertight,
        height_m=float(np.ptp(positions[:, 1])),
        volume_m3=clean_stats.volume * scale**3,
        num_queries=extraction.num_queries,
        num_dense_queries=extraction.num_dense_queries,
        num_removed_components=clean_stats.num_removed_components,
        resolution=resolution,
        level=float(level),
        texture_size=texture_size if textured else None,
        scale=scale,
        center=[float(c) for c in center],
        seconds={k: round(v, 3) for k, v in seconds.items()},
        file_size=len(glb),
    )
    return Asset(glb=glb, stats=stats)


def _asset_name(extras: dict[str, Any]) -> str:
    family = extras.get("family") or "field"
    seed = extras.get("seed")
    return f"{family}_seed{seed}" if seed is not None else f"{family}_{extras.get('z_sha256', 'asset')}"


def export_glb(
    field: Field,
    path: str | os.PathLike,
    resolution: int = marching.DEFAULT_RESOLUTION,
    texture_size: int = texture.DEFAULT_TEXTURE_SIZE,
    level: float | None = None,
    target_faces: int = cleanup.DEFAULT_TARGET_FACES,
    material: Material = "unlit",
    bake_mode: texture.BakeMode = "surface",
    view: texture.ViewMode = "canonical",
    textured: bool = True,
    vertex_colors: bool = False,
    metadata: dict[str, Any] | None = None,
    coarse_resolution: int = marching.DEFAULT_COARSE_RESOLUTION,
    progress: ProgressCallback | None = None,
) -> AssetStats:
    """Mesh ``field``, bake its colour and write a GLB to ``path`` (atomically).

    Args:
        field: any field (``query`` and ``bounds``); its ``default_level``, ``metres_per_unit``
            and ``identity`` are used when present.
        path: the .glb file to write; its folder must exist.
        resolution: marching-cubes cells per axis (the coarse 32 times a power of two: 256, 512, 1024).
        texture_size: power-of-two texture side, 16 to 4096.
        level: density level of the surface; the field's ``default_level`` by default.
        target_faces: decimation target.
        material: ``"unlit"`` (KHR_materials_unlit, shows the generator's colour as is) or ``"pbr"``.
        bake_mode, view: how colour is read at the surface (see :func:`texture.sample_colour`).
        textured: bake a texture (with UVs); vertex_colors: also write COLOR_0.
        metadata: extra entries for the GLB's extras (pose, ...).
        progress: ``progress(stage, done, total)``.

    Returns:
        The asset's statistics.

    Raises:
        InputError: for bad settings or an output path in a missing folder.
        EmptySurfaceError: when no surface crosses the level.
    """
    path = check_output_path(path)
    if path.suffix.lower() != ".glb":
        raise InputError(f"the output is a binary glTF; give a file name ending in .glb, not {path.name}")
    asset = build_asset(
        field, resolution, texture_size, level, target_faces, material, bake_mode, view,
        textured, vertex_colors, metadata, coarse_resolution, progress,
    )
    write_atomic(Path(path), asset.glb)
    return asset.stats
