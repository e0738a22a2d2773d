"""What an export produces: the GLB bytes and the statistics reported for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
