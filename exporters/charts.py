"""Charts for a head's UV atlas: one seamless chart for everything the front views see, a few big
ones behind it, each flattened with little stretch.

No library knows where a face is. xatlas's own chart growing either makes confetti (747 charts on
grid patches) or takes 12 s for 50k faces, and Blender's Smart UV Project is not available outside
Blender. So the layout is decided here from what the front views see. The flattening itself is
libigl's (LSCM, then ARAP); the packing is xatlas's (:mod:`.atlas`).

All positions are in the asset's frame: glTF y-up metres with the face toward +z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import igl
import numpy as np
import scipy.sparse as sp
import trimesh
from scipy.sparse.csgraph import connected_components

from .raycast import MeshRaycaster

MAX_CHARTS = 40
"""Charts at most; regions are split only while the count stays under it."""

FRONT_LIMIT = 0.5
"""Front views: yaw and pitch within +-0.5 rad of frontal."""

FRONT_STEPS = 5
"""Front views per axis (5 x 5 from -0.5 to 0.5 rad)."""

FRONT_VIEW_SIZE = 256
"""Pixels per side of each orthographic front view measured (about 1.4 mm on a life-size head)."""

_RING_FACES = 50_000
_FRONT_MARGIN_RINGS = 4
"""Face rings (at 50k faces, about 1 cm on a head) added around what the front views see, so its
seams stay out of sight."""

_BRIDGE_RINGS = 8
"""Face rings the face chart's closing spans (each way): seen islands this close join it."""

_SMOOTHING_PASSES = 8
"""Passes of border straightening; each removes one layer of saw teeth."""

_SQUIRCLE_POWER = 4
_SQUIRCLE_SAMPLES = 4096
_ARAP_ITERATIONS = 4

_MIN_PART_FRACTION = 0.01
"""A piece of a split region with fewer faces than this fraction of it joins its neighbour."""

_MAX_STRETCH = 2.0
"""A chart whose 90th-percentile face is this many times denser (in texels per metre) than its
10th-percentile one is split, unless it is the face chart."""

_MAX_PIECE_FRACTION = 1 / 24
"""Charts other than the face chart hold at most this fraction of the surface: pieces this small
pack into the corners the face chart leaves, which keeps the atlas at least 65 % used."""

_MAX_FLIP_FRACTION = 1e-3
"""Folded-over faces a chart may keep (LSCM flips a few slivers; more means it does not lie flat)."""


def front_directions(limit: float = FRONT_LIMIT, steps: int = FRONT_STEPS) -> np.ndarray:
    """[steps^2,3] float64 unit directions from the head toward front cameras, yaw and pitch in [-limit, limit]."""
    angles = np.linspace(-limit, limit, steps)
    yaw, pitch = (a.ravel() for a in np.meshgrid(angles, angles))
    return np.stack([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)], axis=1)


def seen_faces(
    vertices: np.ndarray, faces: np.ndarray, directions: np.ndarray, size: int = FRONT_VIEW_SIZE,
    caster: MeshRaycaster | None = None,
) -> np.ndarray:
    """[F] int64 pixels that land on each face over orthographic views from ``directions`` [D,3].

    Each view is ``size``^2 pixels over a square that holds the whole mesh, so what a view sees
    does not depend on a camera distance.
    """
    caster = caster or MeshRaycaster(vertices, faces)
    lo, hi = vertices.min(axis=0).astype(np.float64), vertices.max(axis=0).astype(np.float64)
    centre, radius = (lo + hi) / 2, float(np.linalg.norm(hi - lo)) / 2 or 1.0
    steps = ((np.arange(size) + 0.5) / size * 2 - 1) * radius
    across, down = (a.reshape(-1, 1) for a in np.meshgrid(steps, steps))
    counts = np.zeros(len(faces), dtype=np.int64)
    for direction in directions:
        side = np.cross([0.0, 1.0, 0.0], direction)
        side = side / np.linalg.norm(side) if np.linalg.norm(side) > 1e-9 else np.array([1.0, 0.0, 0.0])
        up = np.cross(direction, side)
        origins = centre + direction * 2 * radius + across * side + down * up
        hits = caster.cast(origins.astype(np.float32), np.broadcast_to(-direction, origins.shape).astype(np.float32))
        counts += np.bincount(hits.face[hits.hit], minlength=len(faces))
    return counts


def facing_faces(vertices: np.ndarray, faces: np.ndarray, directions: np.ndarray, caster: MeshRaycaster | None = None) -> np.ndarray:
    """[F] bool: faces turned toward one of ``directions`` [D,3] with nothing in front of their centre.

    Unlike pixels, this does not depend on a resolution: grazing faces at a silhouette, which a
    finer view may hit, are in.
    """
    caster = caster or MeshRaycaster(vertices, faces)
    corners = vertices[faces].astype(np.float64)
    centres = corners.mean(axis=1)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    lift = 1e-5 * float(np.linalg.norm(np.ptp(vertices, axis=0)))  # off the face itself
    found = np.zeros(len(faces), dtype=bool)
    for direction in directions:
        candidates = np.nonzero((normals @ direction > 0) & ~found)[0]
        origins = centres[candidates] + direction * lift
        hits = caster.cast(origins.astype(np.float32), np.broadcast_to(direction, origins.shape).astype(np.float32))
        found[candidates[~hits.hit]] = True
    return found


def face_adjacency(faces: np.ndarray) -> sp.csr_matrix:
    """[F,F] symmetric 0/1 matrix of faces sharing an edge."""
    pairs = trimesh.graph.face_adjacency(faces)
    ones = np.ones(len(pairs), dtype=np.int8)
    matrix = sp.coo_matrix((ones, (pairs[:, 0], pairs[:, 1])), shape=(len(faces), len(faces)))
    return (matrix + matrix.T).tocsr()


def _components(adjacency: sp.csr_matrix, mask: np.ndarray) -> np.ndarray:
    """[F] component index of each face in ``mask`` (edge-connected within the mask), -1 elsewhere."""
    index = np.nonzero(mask)[0]
    labels = np.full(mask.shape, -1, dtype=np.int64)
    if len(index):
        labels[index] = connected_components(adjacency[index][:, index], directed=False)[1]
    return labels


def _largest(labels: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The mask of the component (labels >= 0) with the largest total ``weight``."""
    inside = labels >= 0
    if not inside.any():
        return np.zeros(labels.shape, dtype=bool)
    return labels == np.argmax(np.bincount(labels[inside], weights=weight[inside]))


def _smooth(adjacency: sp.csr_matrix, mask: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Straighten a region's border: faces with two or three neighbours across it change sides.

    A region of whole faces has a saw-tooth border, and every tooth becomes a spike in the flat
    chart that costs seam length and atlas space. Faces in ``keep`` stay in the region.
    """
    for _ in range(_SMOOTHING_PASSES):
        inside = adjacency @ mask.astype(np.int32)
        changed = np.where(mask, inside <= 1, inside >= 2)
        if keep is not None:
            changed &= ~(mask & keep)
        if not changed.any():
            break
        mask = mask ^ changed
    return mask


def _rings(count: int, num_faces: int) -> int:
    """``count`` rings at 50k faces, as many at other face counts as span the same distance."""
    return max(1, round(count * math.sqrt(num_faces / _RING_FACES)))


def _grow(adjacency: sp.csr_matrix, mask: np.ndarray, rings: int) -> np.ndarray:
    for _ in range(rings):
        mask = mask | (adjacency @ mask.astype(np.int32) > 0)
    return mask


def front_region(adjacency: sp.csr_matrix, seen: np.ndarray, area: np.ndarray) -> np.ndarray:
    """[F] bool: the face chart, the ``seen`` faces [F] bool plus a margin, as one disc.

    Seen faces near a silhouette come in islands (the surface there turns toward and away from
    the view by turns); closing the region (grow, then shrink back) joins islands up to
    2 x :data:`_BRIDGE_RINGS` rings apart. Every hole is filled, the border straightened.
    """
    margin, bridge = (_rings(count, len(seen)) for count in (_FRONT_MARGIN_RINGS, _BRIDGE_RINGS))
    core = _grow(adjacency, seen, margin)
    closed = ~_grow(adjacency, ~_grow(adjacency, core, bridge), bridge) | core
    front = ~_largest(_components(adjacency, ~closed), area)
    front = _smooth(adjacency, front, keep=core)
    front = ~_largest(_components(adjacency, ~front), area)
    return _largest(_components(adjacency, front), seen.astype(np.float64))


@dataclass(frozen=True)
class FlatChart:
    """One chart flattened.

    Attributes:
        faces: [C] int64 indices of the chart's faces in the mesh.
        vertices: [K] int64 mesh vertex behind each chart vertex (one mesh vertex appears twice
            along a cut inside the chart).
        local_faces: [C,3] int64 the faces in chart vertex indices.
        uv: [K,2] float64 flat positions in metres (UV area equals surface area), glTF orientation
            (v grows downward), not mirrored; the face chart upright (the asset's up points to
            -v), the others lengthwise along u.
        flipped: faces folded over in the flattening.
        stretch: 90th over 10th percentile of the per-face texel density.
    """

    faces: np.ndarray
    vertices: np.ndarray
    local_faces: np.ndarray
    uv: np.ndarray
    flipped: int
    stretch: float


def signed_uv_areas(uv: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[F] float64 signed area of each face in UV space (``uv`` [V,2], ``faces`` [F,3]);
    positive for counter-clockwise corners in (u, v)."""
    a, b, c = (uv[faces[:, k]].astype(np.float64) for k in range(3))
    return ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])) / 2


def _folded(uv: np.ndarray, faces: np.ndarray) -> int:
    """Faces whose UV winding disagrees with the chart's majority."""
    signed = signed_uv_areas(uv, faces)
    return int(min((signed > 0).sum(), (signed < 0).sum()))


def _stretch(uv: np.ndarray, faces: np.ndarray, area: np.ndarray) -> float:
    density = np.sqrt(np.abs(signed_uv_areas(uv, faces)) / np.maximum(area, 1e-30))
    low, high = np.percentile(density, [10, 90])
    return float(high / max(low, 1e-30))


def _lengthwise(uv: np.ndarray) -> np.ndarray:
    """Turn ``uv`` so its smallest bounding rectangle lies long side along u, without mirroring it:
    the packer then lines these pieces up along the face chart's sides. With the finer proxies of
    :mod:`.atlas` and its two orientations this takes the head test files' atlases from 63-74 %
    used to 67-74 %."""
    transform, _ = trimesh.bounds.oriented_bounds_2D(uv)
    rotation = transform[:2, :2]
    if np.linalg.det(rotation) < 0:  # trimesh swaps the axes to put the long side along x: a mirror
        rotation = np.diag([1.0, -1.0]) @ rotation
    return uv @ rotation.T


def _squircle(points: np.ndarray, boundary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The boundary loop, started at its highest vertex, and its positions [B,2] on a squircle
    (``|u|^4 + |v|^4 = 1``), spaced as the loop's own edge lengths, the start at the top."""
    boundary = np.roll(boundary, -int(np.argmax(points[boundary, 1])))
    edges = np.linalg.norm(points[np.roll(boundary, -1)] - points[boundary], axis=1)
    along = np.concatenate([[0.0], np.cumsum(edges)[:-1]]) / edges.sum()
    angle = np.linspace(0.0, 2 * math.pi, _SQUIRCLE_SAMPLES)
    curve = np.stack([np.sin(angle), -np.cos(angle)], axis=1)  # from the top (v = -1, glTF's up)
    curve = np.sign(curve) * np.abs(curve) ** (2 / _SQUIRCLE_POWER)
    length = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    length /= length[-1]
    return boundary, np.stack([np.interp(along, length, curve[:, 0]), np.interp(along, length, curve[:, 1])], axis=1)


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[F] float64 area of each face (``vertices`` [V,3], ``faces`` [F,3])."""
    corners = vertices[faces].astype(np.float64)
    return np.linalg.norm(np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1) / 2


def _edge_keys(faces: np.ndarray) -> np.ndarray:
    """[3F] one integer per face edge, equal for the two faces along an edge."""
    ends = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return ends[:, 0] * (int(faces.max()) + 1) + ends[:, 1]


def _edge_manifold(faces: np.ndarray) -> bool:
    """No edge is shared by more than two faces."""
    return bool(np.unique(_edge_keys(faces), return_counts=True)[1].max() <= 2)


def _euler(faces: np.ndarray) -> int:
    """V - E + F of a face set; 1 for a disc."""
    return len(np.unique(faces)) - len(np.unique(_edge_keys(faces))) + len(faces)


def _cut_to_disc(used: np.ndarray, faces: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a connected region with handles or several borders open into a disc (libigl's
    ``cut_to_disk``, then ``cut_mesh``): the face chart stays one chart, with seams only where
    its topology needs them. Returns the mesh vertex of each new vertex, faces and positions."""
    count = len(points)
    cuts = igl.cut_to_disk(faces)
    if not cuts:
        return used, faces, points
    cut_keys = np.concatenate([np.sort(np.stack([path[:-1], path[1:]], axis=1), axis=1) @ [count, 1] for path in map(np.asarray, cuts)])
    corners = np.sort(np.stack([faces, np.roll(faces, -1, axis=1)], axis=2), axis=2)  # [F,3,2]: edge k runs from corner k to k+1
    cut = np.isin(corners[..., 0] * count + corners[..., 1], cut_keys)
    cut_points, cut_faces, source = igl.cut_mesh(points, faces, cut)
    return used[source], cut_faces.astype(np.int64), cut_points


def flatten_chart(
    vertices: np.ndarray, faces: np.ndarray, chart: np.ndarray, squircle: bool = False, cut: bool = False,
) -> FlatChart | None:
    """Flatten the faces ``chart`` [C] of a mesh (``vertices`` [V,3] metres, ``faces`` [F,3]).

    By default a least-squares conformal map with two boundary pins. With ``squircle`` (the face
    chart) the boundary is pinned to a squircle instead (a harmonic map), the top of the region at
    the top: the chart then fills 93 % of its square rather than 60 %, at the price of more
    stretch near its rim. Either is relaxed by as-rigid-as-possible steps where that folds no more
    faces; other charts are then turned lengthwise for packing. With ``cut`` a region with
    handles or several borders is cut open into a disc first. Returns None for a region that is
    still not a disc (a closed one): split it first.
    """
    used, inverse = np.unique(faces[chart], return_inverse=True)
    local = inverse.reshape(-1, 3).astype(np.int64)
    points = vertices[used].astype(np.float64)
    if not _edge_manifold(local):  # libigl's solvers need each edge between at most two faces
        return None
    if _euler(local) != 1 and cut:
        used, local, points = _cut_to_disc(used, local, points)
    if _euler(local) != 1:  # not a disc
        return None
    boundary = igl.boundary_loop(local)
    if len(boundary) < 3:
        return None
    try:
        if squircle:
            pin, rim = _squircle(points, boundary)
            uv = igl.harmonic(points, local, pin, rim, 1)
        else:
            far = boundary[np.argmax(np.linalg.norm(points[boundary] - points[boundary[0]], axis=1))]
            uv, _ = igl.lscm(points, local, np.array([boundary[0], far]), np.array([[0.0, 0.0], [1.0, 0.0]]))
            pin = boundary[:1]  # one fixed vertex removes ARAP's free translation
            rim = uv[pin]
    except RuntimeError:  # libigl's solvers give up on degenerate faces
        return None
    if not np.isfinite(uv).all():  # degenerate faces defeat the solve: cut the region smaller
        return None
    area = face_areas(points, local)
    data = igl.ARAPData()
    data.max_iter = _ARAP_ITERATIONS
    try:
        igl.arap_precomputation(points, local, 2, pin.astype(np.int32), data)
        relaxed = igl.arap_solve(rim, data, uv)
    except RuntimeError:
        relaxed = uv
    if np.isfinite(relaxed).all() and _folded(relaxed, local) <= _folded(uv, local):
        uv = relaxed
    # glTF UVs grow downward, so an unmirrored chart of outward-wound faces has negative area.
    if signed_uv_areas(uv, local).sum() > 0:
        uv = uv * [-1.0, 1.0] if squircle else uv * [1.0, -1.0]
    if not squircle:
        uv = _lengthwise(uv)
    uv *= math.sqrt(area.sum() / max(abs(signed_uv_areas(uv, local).sum()), 1e-30))
    if not np.isfinite(uv).all():
        return None
    return FlatChart(faces=np.nonzero(chart)[0], vertices=used, local_faces=local, uv=uv - uv.min(axis=0),
                     flipped=_folded(uv, local), stretch=_stretch(uv, local, area))


def _acceptable(chart: FlatChart) -> bool:
    return chart.stretch <= _MAX_STRETCH and chart.flipped <= _MAX_FLIP_FRACTION * len(chart.faces)


def _split(adjacency: sp.csr_matrix, centres: np.ndarray, area: np.ndarray, region: np.ndarray, rank: int) -> list[np.ndarray]:
    """Cut ``region`` by the plane through its centroid across its longest (``rank`` 0) or
    second-longest (1) axis; tiny pieces rejoin a neighbour. A tube is cut lengthwise by the
    second: across its length, both halves would still be tubes."""
    index = np.nonzero(region)[0]
    weights = area[index] / max(area[index].sum(), 1e-30)
    centroid = weights @ centres[index]
    offsets = centres[index] - centroid
    axis = np.linalg.eigh((offsets * weights[:, None]).T @ offsets)[1][:, 2 - rank]
    labels = np.full(len(region), -1, dtype=np.int64)
    side = np.zeros(len(region), dtype=bool)
    side[index[offsets @ axis > 0]] = True
    side = _smooth(adjacency, side)[index]
    for half, offset in ((side, 0), (~side, len(index))):
        mask = np.zeros(len(region), dtype=bool)
        mask[index[half]] = True
        part = _components(adjacency, mask)
        labels[mask] = part[mask] + offset
    sizes = np.bincount(labels[index])
    for small in np.nonzero((sizes > 0) & (sizes < _MIN_PART_FRACTION * len(index)))[0]:
        members = labels == small
        touching = labels[adjacency[members].indices]
        touching = touching[(touching >= 0) & (touching != small)]
        if len(touching):
            labels[members] = np.bincount(touching).argmax()
    return [labels == label for label in np.unique(labels[index])]


def layout_charts(vertices: np.ndarray, faces: np.ndarray, max_charts: int = MAX_CHARTS) -> list[FlatChart] | None:
    """Cut a mesh (``vertices`` [V,3] asset metres, ``faces`` [F,3]) into at most ``max_charts`` flat charts.

    The face chart is everything the front views see (:func:`front_region`), kept whole. The rest
    is split along planes, longest axis first, until each piece lies flat with little stretch.

    Edges shared by more than two faces (decimation leaves some on rough surfaces) join no two
    faces here, so they end up on chart borders.

    Returns:
        The charts, the face chart first, or None for a surface too rough for a few charts: a face region no cut makes
        a disc, or more pieces than ``max_charts`` (a random-weight model's froth). Callers then
        fall back to xatlas's own charts.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if len(faces) == 0:
        return None
    area = face_areas(vertices, faces)
    centres = vertices[faces].mean(axis=1)
    adjacency = face_adjacency(faces)
    caster = MeshRaycaster(vertices, faces)
    front = front_region(adjacency, facing_faces(vertices, faces, front_directions(), caster), area)
    rest = _components(adjacency, ~front)
    pending = ([front] if front.any() else []) + [rest == label for label in np.unique(rest[rest >= 0])]
    charts: list[FlatChart] = []
    while pending:
        region = pending.pop(0)
        room = len(charts) + len(pending) + 1 < max_charts
        too_big = region is not front and area[region].sum() > _MAX_PIECE_FRACTION * area.sum()
        chart = None if too_big and room else flatten_chart(vertices, faces, region, squircle=region is front,
                                                            cut=region is front or not room)
        if chart is not None and (region is front or not room or _acceptable(chart)):
            charts.append(chart)
            continue
        if region is front or not room:
            return None  # the face region is no disc even cut open, or the budget is spent
        first = 1 if chart is None and not too_big else 0  # not a disc: cut lengthwise first
        parts = _split(adjacency, centres, area, region, first)
        if len(parts) < 2:
            parts = _split(adjacency, centres, area, region, 1 - first)
        if len(parts) < 2:
            return None
        pending.extend(parts)
    return charts
