"""Sparse (coarse-to-fine) marching cubes over any field.

The field is evaluated on a coarse lattice; only cells whose corners straddle the level, plus a
one-cell dilation, are subdivided, level by level, up to the requested resolution. Every other
lattice point inherits its value by linear interpolation from the level above, which keeps it on
the same side of the level as its (non-straddling) parent cell. The finest level is processed in
blocks, so memory stays bounded at 512^3 and 1024^3, and PyMCubes runs on each block that holds
surface. On fields whose features are larger than a coarse cell this gives the same sign grid,
and so the same triangles, as a dense grid (tested), from far fewer field queries.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import mcubes
import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from aware3d.errors import EmptySurfaceError, InputError
from aware3d.fields import Bounds, Field
from aware3d.progress import ProgressCallback

DEFAULT_RESOLUTION = 256
DEFAULT_COARSE_RESOLUTION = 32
DEFAULT_BLOCK_SIZE = 256
"""Cells per axis of one final-level block: a 257^3 float32 block is 68 MB."""

_WELD_TOLERANCE = 1e-6
"""Copies of a block-boundary vertex closer than this (in cells) are one vertex."""

_QUERY_CHUNK = 262144
"""Points per field call while meshing."""

_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.int64)
_NEIGHBOURS = np.array(
    [[0, 0, 0], [-1, 0, 0], [1, 0, 0], [0, -1, 0], [0, 1, 0], [0, 0, -1], [0, 0, 1]], dtype=np.int64
)
"""A cell and its six face neighbours: the one-cell dilation."""


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh.

    Attributes:
        vertices: [V,3] float32; the frame is stated by whoever returns it.
        faces: [F,3] int32 vertex indices, counter-clockwise seen from outside where known.
    """

    vertices: np.ndarray
    faces: np.ndarray


@dataclass(frozen=True)
class Grid:
    """The cubic lattice a field is meshed on: ``resolution`` cells per axis from ``origin``.

    Attributes:
        origin: [3] float64 world position of lattice point (0, 0, 0).
        voxel_size: world units per cell (cells are cubes).
        resolution: cells per axis; there are ``resolution + 1`` lattice points per axis.
    """

    origin: np.ndarray
    voxel_size: float
    resolution: int

    @classmethod
    def around(cls, bounds: Bounds, resolution: int) -> "Grid":
        """The cube centred on ``bounds`` whose side is the longest side of ``bounds``."""
        side = max(bounds.size)
        origin = np.asarray(bounds.center, dtype=np.float64) - side / 2
        return cls(origin=origin, voxel_size=side / resolution, resolution=resolution)

    def to_world(self, index: np.ndarray) -> np.ndarray:
        """[...,3] lattice coordinates (may be fractional) -> world coordinates."""
        return self.origin + np.asarray(index, dtype=np.float64) * self.voxel_size


@dataclass(frozen=True)
class Extraction:
    """A mesh and how it was made.

    Attributes:
        mesh: vertices in the field's world coordinates.
        grid: the finest lattice.
        level: the density level of the surface.
        num_queries: field points evaluated.
        num_dense_queries: what a dense grid of the same resolution evaluates.
        seconds: wall time.
        values: [(R+1)^3] float32 lattice the surface was marched on (filled where not evaluated),
            only when asked for with ``return_values=True``; else None.
    """

    mesh: Mesh
    grid: Grid
    level: float
    num_queries: int
    num_dense_queries: int
    seconds: float
    values: np.ndarray | None = None


def _check_resolution(resolution: int, coarse_resolution: int) -> int:
    for name, value in (("resolution", resolution), ("coarse_resolution", coarse_resolution)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise InputError(f"{name} must be an integer of at least 2, got {value!r}")
    ratio = resolution / coarse_resolution
    num_levels = round(math.log2(ratio)) if ratio >= 1 else -1
    if num_levels < 0 or coarse_resolution * 2**num_levels != resolution:
        raise InputError(
            f"resolution {resolution} must be the coarse resolution {coarse_resolution} times a power of two "
            "(for example 128, 256, 512 or 1024 with the default coarse resolution 32)"
        )
    return num_levels


class _Evaluator:
    """Evaluates densities at lattice points and counts the queries."""

    def __init__(self, field: Field, grid: Grid, chunk_size: int):
        self.field, self.grid, self.chunk_size = field, grid, chunk_size
        self.count = 0

    def __call__(self, fine_index: np.ndarray) -> np.ndarray:
        """[M,3] finest-lattice coordinates -> [M] float32 densities."""
        self.count += len(fine_index)
        out = np.zeros(len(fine_index), dtype=np.float32)
        for start in range(0, len(fine_index), self.chunk_size):
            points = torch.from_numpy(self.grid.to_world(fine_index[start : start + self.chunk_size]))
            density = self.field.query_density(points.to(torch.float32))
            out[start : start + self.chunk_size] = density.to("cpu", torch.float32).numpy()
        return out


def _keys(index: np.ndarray, points_per_axis: int) -> np.ndarray:
    """[M,3] lattice coordinates -> [M] int64 linear keys."""
    return (index[:, 0] * points_per_axis + index[:, 1]) * points_per_axis + index[:, 2]


def _unique_rows(index: np.ndarray, points_per_axis: int) -> np.ndarray:
    keys = np.unique(_keys(index, points_per_axis))
    i, rest = np.divmod(keys, points_per_axis * points_per_axis)
    j, k = np.divmod(rest, points_per_axis)
    return np.stack([i, j, k], axis=1)


def _straddles(corner_values: np.ndarray, level: float) -> np.ndarray:
    """[C,8] corner densities -> [C] bool: some corner inside (> level) and some outside."""
    inside = corner_values > level
    return inside.any(axis=1) & ~inside.all(axis=1)


def _dilate(cells: np.ndarray, num_cells: int) -> np.ndarray:
    """Add the face neighbours of every cell (clipped to the lattice), without duplicates."""
    grown = (cells[:, None, :] + _NEIGHBOURS[None]).reshape(-1, 3)
    grown = grown[((grown >= 0) & (grown < num_cells)).all(axis=1)]
    return _unique_rows(grown, num_cells)


def _upsample(values: np.ndarray) -> np.ndarray:
    """Linear interpolation of an (m+1)^3 lattice block onto the (2m+1)^3 lattice of its children."""
    for axis in range(3):
        shape = list(values.shape)
        shape[axis] = 2 * shape[axis] - 1
        finer = np.zeros(shape, dtype=values.dtype)
        even = [slice(None)] * 3
        odd = [slice(None)] * 3
        even[axis] = slice(0, None, 2)
        odd[axis] = slice(1, None, 2)
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(0, -1)
        hi[axis] = slice(1, None)
        finer[tuple(even)] = values
        finer[tuple(odd)] = 0.5 * (values[tuple(lo)] + values[tuple(hi)])
        values = finer
    return values


class _Levels:
    """Values known at each level of the pyramid: a dense coarse lattice plus sparse finer points."""

    def __init__(self, coarse: np.ndarray, num_levels: int):
        self.coarse = coarse  # [(n0+1)^3] dense
        self.num_levels = num_levels
        self.points: list[np.ndarray] = [np.zeros((0, 3), np.int64)]  # per level, level-k lattice coords
        self.values: list[np.ndarray] = [np.zeros(0, np.float32)]

    def add(self, index: np.ndarray, values: np.ndarray) -> None:
        self.points.append(index)
        self.values.append(values)

    def block(self, level: int, lo: np.ndarray, num_cells: int) -> np.ndarray:
        """Filled values on the level-``level`` lattice block of ``num_cells`` cells from ``lo``."""
        scale = 2**level
        lo0 = lo // scale
        cells0 = num_cells // scale
        values = self.coarse[
            lo0[0] : lo0[0] + cells0 + 1, lo0[1] : lo0[1] + cells0 + 1, lo0[2] : lo0[2] + cells0 + 1
        ]
        for k in range(1, level + 1):
            values = _upsample(values)
            step = 2 ** (level - k)
            lo_k, cells_k = lo // step, num_cells // step
            self.overwrite(values, self.points[k], self.values[k], lo_k, cells_k)
        return values

    @staticmethod
    def overwrite(values: np.ndarray, index: np.ndarray, known: np.ndarray, lo: np.ndarray, num_cells: int) -> None:
        inside = ((index >= lo) & (index <= lo + num_cells)).all(axis=1)
        local = index[inside] - lo
        values[local[:, 0], local[:, 1], local[:, 2]] = known[inside]


def _coarse_lattice(num_cells: int) -> np.ndarray:
    axis = np.arange(num_cells + 1, dtype=np.int64)
    return np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)


@torch.inference_mode()
def extract_mesh(
    field: Field,
    level: float,
    resolution: int = DEFAULT_RESOLUTION,
    coarse_resolution: int = DEFAULT_COARSE_RESOLUTION,
    bounds: Bounds | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    chunk_size: int = _QUERY_CHUNK,
    progress: ProgressCallback | None = None,
    return_values: bool = False,
) -> Extraction:
    """Extract the surface ``density == level`` with sparse marching cubes.

    Args:
        field: the contract of :class:`aware3d.fields.Field` (``query_density`` and ``bounds`` are used).
        level: density level of the surface (inside is ``density > level``).
        resolution: cells per axis of the finest lattice: ``coarse_resolution`` times a power of 2.
        coarse_resolution: cells per axis of the first, dense pass (32 or 64 are good).
        bounds: the box to mesh; the field's own by default. The lattice is the cube around it.
        block_size: cells per axis processed together at the finest level.
        chunk_size: points per field call.
        progress: called as ``progress("extract", done, total)`` per level and per block.
        return_values: also return the whole filled lattice (for tests; memory grows as R^3).

    Returns:
        Extraction with vertices in the field's world coordinates.

    Raises:
        InputError: for a resolution that is not the coarse one times a power of two.
        EmptySurfaceError: when no lattice cell straddles the level.
    """
    started = time.perf_counter()
    num_levels = _check_resolution(resolution, coarse_resolution)
    grid = Grid.around(bounds or field.bounds, resolution)
    evaluate = _Evaluator(field, grid, chunk_size)
    scale = 2**num_levels
    block_size = max(block_size - block_size % scale, scale)
    block_size = min(block_size, resolution)

    # Level 0: the dense coarse lattice.
    n0 = coarse_resolution
    coarse = evaluate(_coarse_lattice(n0) * scale).reshape(n0 + 1, n0 + 1, n0 + 1)
    levels = _Levels(coarse, num_levels)
    cells = np.stack(np.meshgrid(*[np.arange(n0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3).astype(np.int64)
    corner_values = np.stack([coarse[tuple((cells + c).T)] for c in _CORNERS], axis=1)
    candidates = _dilate(cells[_straddles(corner_values, level)], n0)
    # Every value evaluated so far, by finest-lattice key, kept sorted for lookups.
    known_keys = _keys(_coarse_lattice(n0) * scale, resolution + 1)
    order = np.argsort(known_keys)
    known_keys, known_values = known_keys[order], coarse.reshape(-1)[order]

    # Intermediate levels: children of the dilated straddling cells, evaluated sparsely.
    for k in range(1, num_levels):
        num_cells = n0 * 2**k
        step = 2 ** (num_levels - k)
        active = (candidates[:, None, :] * 2 + _CORNERS[None]).reshape(-1, 3)
        points = _unique_rows((active[:, None, :] + _CORNERS[None]).reshape(-1, 3), num_cells + 1)
        keys = _keys(points * step, resolution + 1)
        new = ~_sorted_contains(known_keys, keys)
        values_new = evaluate(points[new] * step)
        levels.add(points[new], values_new)
        known_keys = np.concatenate([known_keys, keys[new]])
        order = np.argsort(known_keys)
        known_keys, known_values = known_keys[order], np.concatenate([known_values, values_new])[order]
        corner_keys = _keys(((active[:, None, :] + _CORNERS[None]).reshape(-1, 3)) * step, resolution + 1)
        corner_values = known_values[np.searchsorted(known_keys, corner_keys)].reshape(-1, 8)
        candidates = _dilate(active[_straddles(corner_values, level)], num_cells)
        if progress is not None:
            progress("extract", k, num_levels + 1)

    # Finest level, block by block: evaluate the children of the candidates, fill, march.
    if num_levels == 0:
        blocks = [np.zeros(3, np.int64)]
        block_size = resolution
    else:
        active = (candidates[:, None, :] * 2 + _CORNERS[None]).reshape(-1, 3)
        block_of = active // block_size
        blocks = _unique_rows(block_of, resolution // block_size + 1) * block_size
    whole = np.zeros((resolution + 1,) * 3, dtype=np.float32) if return_values else None
    if whole is not None and num_levels > 0:
        for lo in _coarse_lattice(resolution // block_size - 1) * block_size:
            s = tuple(slice(a, a + block_size + 1) for a in lo)
            whole[s] = _upsample(levels.block(num_levels - 1, lo // 2, block_size // 2))
    vertex_parts, face_parts, offset = [], [], 0
    for done, lo in enumerate(blocks):
        if num_levels == 0:
            values = coarse
        else:
            mine = active[(block_of == lo // block_size).all(axis=1)]
            points = _unique_rows((mine[:, None, :] + _CORNERS[None]).reshape(-1, 3), resolution + 1)
            keys = _keys(points, resolution + 1)
            new = ~_sorted_contains(known_keys, keys)
            values = _upsample(levels.block(num_levels - 1, lo // 2, block_size // 2))
            _Levels.overwrite(values, points[new], evaluate(points[new]), lo, block_size)
        if whole is not None:
            whole[tuple(slice(a, a + block_size + 1) for a in lo)] = values
        if values.max() > level and values.min() <= level:
            vertices, triangles = mcubes.marching_cubes(values.astype(np.float64), level)
            vertex_parts.append(vertices + lo)
            face_parts.append(triangles + offset)
            offset += len(vertices)
        if progress is not None:
            progress("extract", num_levels + (done + 1) / len(blocks), num_levels + 1)

    if not face_parts or sum(len(f) for f in face_parts) == 0:
        raise EmptySurfaceError(
            f"no surface at density level {level:g}: the field is everywhere "
            f"{'above' if coarse.min() > level else 'below'} it; choose a level between "
            f"{coarse.min():g} and {coarse.max():g}"
        )
    mesh = _weld(np.concatenate(vertex_parts), np.concatenate(face_parts), grid, block_size)
    return Extraction(
        mesh=mesh,
        grid=grid,
        level=float(level),
        num_queries=evaluate.count,
        num_dense_queries=(resolution + 1) ** 3,
        seconds=time.perf_counter() - started,
        values=whole,
    )


def _sorted_contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    position = np.searchsorted(sorted_keys, keys).clip(max=len(sorted_keys) - 1)
    return sorted_keys[position] == keys


def _weld(vertices: np.ndarray, faces: np.ndarray, grid: Grid, block_size: int | None = None) -> Mesh:
    """Merge the copies of a vertex that neighbouring blocks both produce, drop unused vertices, and
    map lattice coordinates to world units.

    Only vertices on block-boundary planes are candidates, matched within ``_WELD_TOLERANCE``: the
    two blocks interpolate a shared edge independently, so their copies may differ in the last
    bits, while distinct vertices elsewhere may legitimately lie closer than any rounding step.
    """
    representative = np.arange(len(vertices))
    if block_size is not None and block_size < grid.resolution:
        on_plane = (vertices % block_size == 0) & (vertices > 0) & (vertices < grid.resolution)
        candidates = np.nonzero(on_plane.any(axis=1))[0]
        pairs = cKDTree(vertices[candidates]).query_pairs(_WELD_TOLERANCE, output_type="ndarray")
        if len(pairs):
            graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(candidates),) * 2)
            _, labels = connected_components(graph, directed=False)
            first = np.full(labels.max() + 1, len(candidates))
            np.minimum.at(first, labels, np.arange(len(candidates)))
            representative[candidates] = candidates[first[labels]]
    used, inverse = np.unique(representative[faces], return_inverse=True)
    return Mesh(vertices=grid.to_world(vertices[used]).astype(np.float32), faces=inverse.reshape(-1, 3).astype(np.int32))


@torch.inference_mode()
def dense_grid(field: Field, grid: Grid, chunk_size: int = _QUERY_CHUNK) -> np.ndarray:
    """Evaluate the density at every lattice point: [(R+1),(R+1),(R+1)] float32, index order x, y, z."""
    evaluate = _Evaluator(field, grid, chunk_size)
    n = grid.resolution + 1
    axis = np.arange(n, dtype=np.int64)
    out = np.zeros((n, n, n), dtype=np.float32)
    for i in range(n):
        slab = np.stack(np.meshgrid([i], axis, axis, indexing="ij"), axis=-1).reshape(-1, 3)
        out[i] = evaluate(slab).reshape(n, n)
    return out


def extract_mesh_dense(field: Field, level: float, resolution: int = DEFAULT_RESOLUTION, bounds: Bounds | None = None) -> Extraction:
    """Reference extraction: the dense lattice, one PyMCubes call. For tests and benchmarks."""
    started = time.perf_counter()
    grid = Grid.around(bounds or field.bounds, resolution)
    values = dense_grid(field, grid)
    vertices, triangles = mcubes.marching_cubes(values.astype(np.float64), level)
    if len(triangles) == 0:
        raise EmptySurfaceError(f"no surface at density level {level:g}")
    mesh = _weld(vertices, triangles, grid)
    n = (resolution + 1) ** 3
    return Extraction(mesh, grid, float(level), n, n, time.perf_counter() - started, values)
