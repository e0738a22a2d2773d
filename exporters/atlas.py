"""UV atlases: the flat charts of :mod:`.charts` packed into one square texture by xatlas.

Two things xatlas does not do are added here. It packs at a given texel density and opens a
second atlas when the charts do not fit, with no "fill this square" option, so the density is
searched by bisection. And its packing time grows with the faces it is given (0.22 s for one
40k-face chart at 1024^2), too slow to repeat, so it packs a proxy of each chart instead: the
chart's footprint on a coarse grid (every square a triangle's bounding box touches). The
similarity xatlas applies to each proxy then moves the real chart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xatlas
from scipy import ndimage

from .charts import FlatChart, signed_uv_areas

CHART_PADDING = 2
"""Texels between charts (the gutter fill then extends every chart's colour across the gap)."""

_PROXY_CELLS = 48
"""Proxy squares along the largest chart's longer side (smaller charts get fewer, same size):
32 wasted a cell around each of the small charts behind the face chart."""

_PACK_RESOLUTION = 512
"""Texels per side xatlas packs at (then scaled to the texture): xatlas's search grows with the
resolution, and finer placement than 1/512 of the side gains nothing measurable."""

_PACK_SHRINK = 0.8
"""Factor the first tries' texel density falls by until the charts fit (from 85 % of the density
that would fill the square: the fit on heads lies within 20 % of it)."""

_PACK_STEPS = 6
"""Bisection steps on the texel density after that: the atlas ends within about 1 % of the densest fit."""


@dataclass(frozen=True)
class UVMesh:
    """A mesh with a UV atlas; vertices are split along chart seams.

    Attributes:
        vertices: [V,3] float32, same frame as the input mesh.
        faces: [F,3] int32.
        uv: [V,2] float32 in [0,1]; glTF convention: (0, 0) is the top-left texel corner.
        source_vertex: [V] int64 index of each vertex in the input mesh.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    source_vertex: np.ndarray


@dataclass(frozen=True)
class _Proxy:
    """A chart's footprint as grid squares: ``uv`` [P,2] metres, ``faces`` [Q,3], in the chart's UV frame."""

    uv: np.ndarray
    faces: np.ndarray


def _proxy(uv: np.ndarray, faces: np.ndarray, cell: float) -> _Proxy:
    """Cover a chart (``uv`` [K,2] metres from the origin, ``faces`` [C,3]) with squares of side
    ``cell``: every square a triangle's box touches."""
    extent = uv.max(axis=0)
    shape = (np.ceil(extent / cell).astype(int) + 3)[::-1]  # rows (v), cols (u), with a border
    corners = uv[faces] / cell + 1  # [C,3,2] in cells, shifted past the border
    occupied = np.zeros(shape, dtype=bool)
    # Every triangle marks the cells of its bounding box: conservative and cheap, as the grid is coarse.
    lo = np.floor(corners.min(axis=1)).astype(int)
    hi = np.floor(corners.max(axis=1)).astype(int)
    for du in range(int((hi - lo)[:, 0].max()) + 1):
        for dv in range(int((hi - lo)[:, 1].max()) + 1):
            u, v = np.minimum(lo[:, 0] + du, hi[:, 0]), np.minimum(lo[:, 1] + dv, hi[:, 1])
            occupied[v, u] = True
    occupied = ndimage.binary_fill_holes(occupied)
    rows, cols = np.nonzero(occupied)
    width = shape[1] + 1
    corner_ids = np.stack([rows * width + cols, rows * width + cols + 1, (rows + 1) * width + cols + 1, (rows + 1) * width + cols], axis=1)
    used, local = np.unique(corner_ids, return_inverse=True)
    local = local.reshape(-1, 4)
    uv = np.stack([used % width, used // width], axis=1).astype(np.float64)
    faces = np.concatenate([local[:, [0, 1, 2]], local[:, [0, 2, 3]]])
    return _Proxy(uv=(uv - 1) * cell, faces=faces)


def _pack(proxies: list[_Proxy], resolution: int, padding: int, texels_per_metre: float) -> list[np.ndarray] | None:
    """[3,3] affine map (chart metres -> atlas texels) per chart, or None when xatlas needs a second atlas."""
    atlas = xatlas.Atlas()
    # Side by side, so no two proxies share UV space before packing.
    shifts = np.concatenate([[0.0], np.cumsum([float(proxy.uv[:, 0].max()) + 1.0 for proxy in proxies])[:-1]])
    starts = np.concatenate([[0], np.cumsum([len(proxy.uv) for proxy in proxies])])
    source = np.concatenate([proxy.uv + [shift, 0.0] for proxy, shift in zip(proxies, shifts)])
    faces = np.concatenate([proxy.faces + start for proxy, start in zip(proxies, starts)])
    atlas.add_uv_mesh(source.astype(np.float32), faces.astype(np.uint32))
    options = xatlas.PackOptions()
    options.resolution = resolution
    options.texels_per_unit = texels_per_metre
    options.padding = padding
    options.bilinear = True
    options.bruteForce = True  # on a few coarse proxies it is cheap: the CIPS-3D test atlas goes from 63 % to 71 % used
    options.rotate_charts = False  # the face chart stays upright, as a person expects to see it
    options.rotate_charts_to_axis = False
    atlas.generate(xatlas.ChartOptions(), options)
    if atlas.atlas_count != 1:
        return None
    mapping, _, packed = atlas[0]
    packed = packed.astype(np.float64) * [atlas.width, atlas.height]
    maps = []
    for index, shift in enumerate(shifts):
        # Three proxy corners far apart fix the affine map (a shift and a scale) xatlas applied.
        mine = np.nonzero((mapping >= starts[index]) & (mapping < starts[index + 1]))[0]
        points = source[mapping[mine]]
        second = np.argmax(np.linalg.norm(points - points[0], axis=1))
        third = np.argmax(np.abs(np.cross(points - points[0], points[second] - points[0])))
        picks = np.array([0, second, third])
        before = np.column_stack([points[picks] - [shift, 0.0], np.ones(3)])
        after = np.column_stack([packed[mine[picks]], np.ones(3)])
        maps.append(np.linalg.solve(before, after).T)
    return maps


def _densest_packing(
    proxies: list[_Proxy], resolution: int, padding: int, ceiling: float, beat: float = 0.0,
) -> tuple[list[np.ndarray] | None, float]:
    """The packing at the highest texel density (below ``ceiling``, which fills the whole square)
    that fits, and that density: lower it by :data:`_PACK_SHRINK` until one fits, then bisect.
    With ``beat`` (a density another packing reached) only denser packings count: one failed try
    at 1 % above it ends the search. None when nothing fits (even a hundredth of the ceiling).
    xatlas's fit is not strictly monotone in the density, so this finds a dense fit, not always
    the densest."""
    fits, misses, best = 0.0, ceiling, None
    if beat > 0:
        fits = beat * 1.01
        best = _pack(proxies, resolution, padding, fits) if fits < ceiling else None
        if best is None:
            return None, 0.0
    density = 0.85 * ceiling
    while best is None and density > ceiling / 100:
        best = _pack(proxies, resolution, padding, density)
        fits, misses = (density, misses) if best is not None else (fits, density)
        density *= _PACK_SHRINK
    for _ in range(_PACK_STEPS if best is not None else 0):
        density = (fits + misses) / 2
        maps = _pack(proxies, resolution, padding, density)
        fits, misses, best = (density, misses, maps) if maps is not None else (fits, density, best)
    return best, fits


def _quarter_turn(uv: np.ndarray) -> np.ndarray:
    """``uv`` [K,2] turned a quarter (u, v) -> (max v - v, u), not mirrored, still from the origin."""
    return np.column_stack([uv[:, 1].max() - uv[:, 1], uv[:, 0]])


def pack_charts(charts: list[FlatChart], texture_size: int) -> list[np.ndarray] | None:
    """Each chart's UVs [K,2] float32 in [0,1], packed into one ``texture_size``^2 texture.

    Every chart gets the same texel density (chart UVs are in metres): the highest at which
    xatlas still fits them all, within :data:`CHART_PADDING` texels of each other (none where
    a tiny texture leaves no room). None when they do not fit at all.

    The first chart keeps its orientation (the face chart: upright). The others are packed as
    given and turned a quarter, and the denser packing is kept: xatlas's result varies by a few
    per cent with the pieces' orientation, and the better of the two lifts the head test files'
    atlases from 63-74 % used to 67-74 %. (xatlas's own rotation would turn the face chart too.)
    """
    # Squares of one size for all: the largest chart gets _PROXY_CELLS, small ones a few.
    cell = max(max(float(chart.uv.max()) for chart in charts), 1e-9) / _PROXY_CELLS
    turned = [chart.uv if index == 0 else _quarter_turn(chart.uv) for index, chart in enumerate(charts)]
    variants = [[chart.uv for chart in charts], turned]
    proxies = [[_proxy(uv, chart.local_faces, cell) for uv, chart in zip(uvs, charts)] for uvs in variants]
    resolution = min(texture_size, _PACK_RESOLUTION)
    padding = max(1, round(CHART_PADDING * resolution / texture_size))
    area = sum(float(np.abs(signed_uv_areas(proxy.uv, proxy.faces)).sum()) for proxy in proxies[0])
    for pad in (padding, 0):  # a tiny texture may hold the charts only without padding
        best, chosen, density = None, None, 0.0
        for uvs, variant in zip(variants, proxies):
            maps, reached = _densest_packing(variant, resolution, pad, resolution / np.sqrt(area), beat=density)
            if maps is not None:
                best, chosen, density = maps, uvs, reached
        if best is not None:
            break
    else:
        return None
    return [((np.column_stack([uv, np.ones(len(uv))]) @ m.T)[:, :2] / resolution).astype(np.float32) for uv, m in zip(chosen, best)]


_PATCH_CELLS = 6
"""Fallback: patches per axis of the mesh's box (a 50k-face head in ~130 xatlas meshes, 1.3 s)."""


def unwrap_patches(vertices: np.ndarray, faces: np.ndarray, texture_size: int) -> UVMesh:
    """xatlas's own charts and packing, for surfaces too rough for :func:`.charts.layout_charts`.

    xatlas's chart growing costs more than linearly in the face count (12 s for 50k faces), so
    the mesh is cut into patches by a 6^3 grid first; expect hundreds of small charts.
    """
    centres = vertices[faces].mean(axis=1)
    lo, span = centres.min(axis=0), np.maximum(np.ptp(centres, axis=0), 1e-12)
    cell = np.clip(((centres - lo) / span * _PATCH_CELLS).astype(np.int64), 0, _PATCH_CELLS - 1)
    labels = (cell[:, 0] * _PATCH_CELLS + cell[:, 1]) * _PATCH_CELLS + cell[:, 2]
    atlas = xatlas.Atlas()
    patches = []
    for label in np.unique(labels):
        used, local = np.unique(faces[labels == label], return_inverse=True)
        atlas.add_mesh(vertices[used].astype(np.float32), local.reshape(-1, 3).astype(np.uint32))
        patches.append(used)
    chart_options = xatlas.ChartOptions()
    chart_options.max_iterations = 1
    pack_options = xatlas.PackOptions()
    pack_options.resolution = texture_size
    pack_options.padding = CHART_PADDING
    pack_options.bilinear = True
    atlas.generate(chart_options, pack_options)
    if atlas.atlas_count != 1:
        raise RuntimeError(f"xatlas made {atlas.atlas_count} atlases instead of one")
    out_faces, uvs, sources, offset = [], [], [], 0
    for index, used in enumerate(patches):
        mapping, indices, uv = atlas[index]
        sources.append(used[mapping.astype(np.int64)])
        uvs.append(uv)
        out_faces.append(indices.reshape(-1, 3).astype(np.int64) + offset)
        offset += len(mapping)
    source = np.concatenate(sources)
    return UVMesh(vertices=vertices[source].astype(np.float32), faces=np.concatenate(out_faces).astype(np.int32),
                  uv=np.concatenate(uvs).astype(np.float32), source_vertex=source)
