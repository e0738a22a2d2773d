"""How usable a UV atlas is for an artist: charts, seams, what the front views see, texel density
and atlas use, measured on any UV mesh (not only ours), in metres at life size."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import trimesh

from .charts import face_areas, front_directions, seen_faces, signed_uv_areas
from .texture import rasterize_uv


@dataclass(frozen=True)
class UVLayoutReport:
    """Figures of one UV atlas.

    Attributes:
        num_charts: UV islands (faces connected through shared UV vertices).
        seam_length_m: total length of the surface edges cut open in UV space.
        front_charts: charts the front views (yaw and pitch within +-0.5 rad, 5 x 5 orthographic
            views of 256^2 pixels) land in; 1 means the face lies in one chart.
        front_seam_m: seam length between faces those views see (0: no seam across the face).
        density_low, density_high: lowest and highest chart texel density over the area-weighted
            mean (charts of zero surface area left out).
        utilisation: fraction of the texture's texels inside a UV triangle.
        texels_per_metre: area-weighted mean texel density.
        flipped_faces: faces mirrored against the rest of their chart in UV space.
        seconds: time the measure took.
    """

    num_charts: int
    seam_length_m: float
    front_charts: int
    front_seam_m: float
    density_low: float
    density_high: float
    utilisation: float
    texels_per_metre: float
    flipped_faces: int
    seconds: float = 0.0

    def to_dict(self) -> dict:
        """Rounded figures for JSON output and manifests."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def seam_edges(faces: np.ndarray, source_vertex: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The surface edges cut open in UV space.

    Args:
        faces: [F,3] UV-mesh faces (UV vertices, split along seams).
        source_vertex: [V] the surface vertex behind each UV vertex.

    Returns:
        [S,2] surface vertex pairs of the seam edges and [S,2] the two faces along each.
    """
    halves = faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2).astype(np.int64)
    owner = np.repeat(np.arange(len(faces)), 3)
    ends = np.sort(source_vertex[halves], axis=1)
    key = ends[:, 0] * (int(source_vertex.max()) + 1) + ends[:, 1]
    uv_ends = np.sort(halves, axis=1)
    order = np.argsort(key, kind="stable")
    paired = np.nonzero(key[order][1:] == key[order][:-1])[0]
    first, second = order[paired], order[paired + 1]
    cut = (uv_ends[first] != uv_ends[second]).any(axis=1)
    return ends[first[cut]], np.stack([owner[first[cut]], owner[second[cut]]], axis=1)


def measure_uv_layout(
    vertices: np.ndarray, faces: np.ndarray, uv: np.ndarray, source_vertex: np.ndarray, texture_size: int,
    covered: np.ndarray | None = None,
) -> UVLayoutReport:
    """Measure a UV atlas.

    Args:
        vertices: [V,3] UV-mesh positions in the asset's frame (glTF y-up metres, face toward +z).
        faces: [F,3] UV-mesh faces.
        uv: [V,2] glTF UVs in [0,1].
        source_vertex: [V] surface vertex behind each UV vertex (equal for the copies along a seam).
        texture_size: texture side in texels.
        covered: [S,S] bool texels inside a UV triangle, when a bake has found them already
            (:attr:`aware3d.exporters.texture.Bake.covered`); else the atlas is rasterised here.
    """
    started = time.perf_counter()
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    charts = trimesh.graph.connected_component_labels(trimesh.graph.face_adjacency(faces), len(faces))
    pairs, sides = seam_edges(faces, np.asarray(source_vertex, dtype=np.int64))
    positions = np.zeros((int(np.max(source_vertex)) + 1, 3))
    positions[source_vertex] = vertices
    lengths = np.linalg.norm(positions[pairs[:, 0]] - positions[pairs[:, 1]], axis=1)

    seen = seen_faces(vertices, faces, front_directions()) > 0
    front_seams = seen[sides[:, 0]] & seen[sides[:, 1]]

    area = face_areas(vertices, faces)
    signed = signed_uv_areas(uv, faces) * texture_size**2  # in texels
    num_charts = int(charts.max()) + 1
    surface = np.bincount(charts, weights=area, minlength=num_charts)
    texels = np.bincount(charts, weights=np.abs(signed), minlength=num_charts)
    density = np.sqrt(texels / np.maximum(surface, 1e-30))
    real = surface > 1e-12  # charts of degenerate faces have no density to speak of
    mean = float(np.sum(density[real] * surface[real]) / max(surface[real].sum(), 1e-30))
    majority = np.sign(np.bincount(charts, weights=signed, minlength=num_charts))[charts]
    if covered is None:
        raster = rasterize_uv(uv, faces.astype(np.int32), texture_size)
        covered = np.zeros((texture_size, texture_size), dtype=bool)
        covered[raster.rows, raster.cols] = True
    return UVLayoutReport(
        num_charts=num_charts,
        seam_length_m=float(lengths.sum()),
        front_charts=len(np.unique(charts[seen])),
        front_seam_m=float(lengths[front_seams].sum()),
        density_low=float(density[real].min() / mean) if mean > 0 else math.nan,
        density_high=float(density[real].max() / mean) if mean > 0 else math.nan,
        utilisation=float(np.count_nonzero(covered)) / texture_size**2,
        texels_per_metre=mean,
        flipped_faces=int((np.sign(signed) * majority < 0).sum()),
        seconds=time.perf_counter() - started,
    )
