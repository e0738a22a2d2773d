"""What an export produces (the GLB bytes and their statistics), and how any source's vertices
are placed in the asset's frame: glTF y-up metres, centred at the origin, life-size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from aware3d.errors import InputError


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
        level_source: where the level came from: ``given``, ``model`` (exact), ``documented`` or ``auto``;
            ``relief`` for a relief, which is a depth map with no level.
        level_search: the automatic search's outcome (chosen level, IoU, depth error, range, seconds).
        bake: the colour source (``surface``, ``ray`` or ``views``; ``albedo`` for a relief).
        fidelity: the asset against the model's previews (see :class:`aware3d.exporters.fidelity.Fidelity`).
        uv_layout: the UV atlas's figures (see :class:`aware3d.exporters.uvquality.UVLayoutReport`).
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
    level_source: str = "given"
    level_search: dict[str, Any] | None = None
    bake: str = "surface"
    fidelity: dict[str, Any] | None = None
    uv_layout: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class Asset:
    """A built GLB and its statistics."""

    glb: bytes
    stats: AssetStats


@dataclass(frozen=True)
class Placement:
    """Where a source's vertices land in the asset.

    Attributes:
        positions: [V,3] float32 glTF metres, the bounding box centred at the origin.
        scale: metres per model-world unit (for a general map, the cube root of its determinant).
        center: [3] float64 model-world point moved to the origin.
        linear: [3,3] the applied map divided by ``scale``, or None when it is the identity
            (the model world is y-up already).
    """

    positions: np.ndarray
    scale: float
    center: np.ndarray
    linear: np.ndarray | None

    def normals(self, normals: np.ndarray) -> np.ndarray:
        """[V,3] unit normals carried into the asset (inverse transpose of the map)."""
        if self.linear is None:
            return normals
        moved = normals.astype(np.float64) @ np.linalg.inv(self.linear)
        return (moved / np.linalg.norm(moved, axis=1, keepdims=True).clip(1e-12)).astype(np.float32)

    def faces(self, faces: np.ndarray) -> np.ndarray:
        """[F,3] faces, their winding reversed where the map mirrors, so they still face outward."""
        if self.linear is None or np.linalg.det(self.linear) > 0:
            return faces
        return faces[:, ::-1].copy()

    def extras(self) -> dict[str, Any]:
        """The scale, centre (and the map, where one was applied) recorded in every GLB's extras."""
        extras: dict[str, Any] = {"scale": self.scale, "center": [float(c) for c in self.center]}
        if self.linear is not None:
            extras["rotation"] = self.linear.round(12).tolist()
        return extras


def place_in_asset(world_to_asset: np.ndarray, vertices: np.ndarray, surface: np.ndarray | None = None) -> Placement:
    """Place model-world vertices in glTF metres, centred at the origin.

    Args:
        world_to_asset: [4,4] linear map, model world -> glTF y-up metres (its 3x3 is used).
        vertices: [V,3] float32, model world.
        surface: [S,3] the vertices whose bounding box is centred (default ``vertices``; a field's
            mesh before UV seams split it).

    Raises:
        InputError: for a map that is not invertible.
    """
    surface = vertices if surface is None else surface
    linear = np.asarray(world_to_asset, dtype=np.float64)[:3, :3]
    determinant = float(np.linalg.det(linear))
    if not (math.isfinite(determinant) and abs(determinant) > 1e-12):
        raise InputError(f"world_to_asset must be an invertible linear map, got one with determinant {determinant!r}")
    norms = np.linalg.norm(linear, axis=0)
    # a rotation times a scale (every family's frame so far) keeps its scale exactly; a general map its volume's
    scale = float(norms[0]) if np.allclose(norms, norms[0], rtol=1e-12) else abs(determinant) ** (1 / 3)
    center = (surface.min(axis=0).astype(np.float64) + surface.max(axis=0)) / 2
    if np.allclose(linear, np.eye(3) * scale, rtol=0, atol=1e-12 * scale):
        # y-up already: a plain scale, no matrix product that could flip signed zeros
        scale = float(linear[0, 0])
        return Placement(((vertices - center) * scale).astype(np.float32), scale, center, None)
    return Placement(((vertices - center) @ linear.T).astype(np.float32), scale, center, linear / scale)


def asset_name(extras: dict[str, Any]) -> str:
    """The glTF node/mesh name: ``family_seedN``, else ``family_<z or image hash>``."""
    family = extras.get("family") or extras.get("source") or "asset"
    seed = extras.get("seed")
    if seed is not None:
        return f"{family}_seed{seed}"
    return f"{family}_{extras.get('z_sha256') or extras.get('image_sha256') or 'asset'}"
