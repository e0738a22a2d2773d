"""Mesh clean-up: drop floaters, decimate to a face budget, orient outward, compute normals."""

from __future__ import annotations

from dataclasses import dataclass

import fast_simplification
import numpy as np
import trimesh

from aware3d.errors import EmptySurfaceError, InputError

from .marching import Mesh

DEFAULT_TARGET_FACES = 50_000
"""nerfstudio's default too: enough for a face at 1024^2 texels, and xatlas stays fast."""

DEFAULT_MIN_COMPONENT_FRACTION = 0.02
"""Components with fewer faces than this fraction of the largest one are floaters."""


@dataclass(frozen=True)
class CleanStats:
    """What clean-up did.

    Attributes:
        num_components: connected components before clean-up.
        num_removed_components: floaters dropped (before decimation, and the debris it left).
        num_faces_before: faces in.
        num_faces: faces out.
        watertight: every edge shared by exactly two faces, consistently wound.
        volume: signed volume of the result (positive: normals point outward), input units cubed.
    """

    num_components: int
    num_removed_components: int
    num_faces_before: int
    num_faces: int
    watertight: bool
    volume: float


def remove_floaters(mesh: Mesh, min_fraction: float = DEFAULT_MIN_COMPONENT_FRACTION) -> tuple[Mesh, int, int]:
    """Keep the connected components with at least ``min_fraction`` of the largest one's faces.

    Returns:
        The kept mesh (unused vertices dropped), the number of components and how many were removed.
    """
    labels = trimesh.graph.connected_component_labels(trimesh.graph.face_adjacency(mesh.faces), len(mesh.faces))
    sizes = np.bincount(labels)
    keep_label = sizes >= min_fraction * sizes.max()
    kept = mesh.faces[keep_label[labels]]
    used, inverse = np.unique(kept, return_inverse=True)
    cleaned = Mesh(mesh.vertices[used], inverse.reshape(-1, 3).astype(np.int32))
    return cleaned, len(sizes), int((~keep_label).sum())


def decimate(mesh: Mesh, target_faces: int) -> Mesh:
    """Quadric decimation (fast-simplification) down to about ``target_faces``; no-op below it."""
    if len(mesh.faces) <= target_faces:
        return mesh
    vertices, faces = fast_simplification.simplify(
        mesh.vertices.astype(np.float64), mesh.faces.astype(np.int64), target_count=target_faces
    )
    return Mesh(vertices.astype(np.float32), faces.astype(np.int32))


def merge_coincident_vertices(mesh: Mesh) -> Mesh:
    """Merge vertices at identical positions and drop the faces that collapse with them.

    Marching cubes and decimation now and then leave an edge of zero length; its two faces have
    no area, and libigl's flattening then fails on the whole face chart (a PanoHead head test file
    fell back to 219 xatlas charts over 12 such faces). Collapsing the edge removes them.
    """
    unique, inverse = np.unique(mesh.vertices, axis=0, return_inverse=True)
    if len(unique) == len(mesh.vertices):
        return mesh
    faces = inverse.reshape(-1)[mesh.faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])
    used, remap = np.unique(faces[keep], return_inverse=True)
    return Mesh(unique[used], remap.reshape(-1, 3).astype(np.int32))


def drop_paired_faces(mesh: Mesh) -> Mesh:
    """Remove faces that occur twice on the same three vertices (back-to-back slivers that
    decimation sometimes leaves); both copies go, which keeps a closed surface closed."""
    keys = np.sort(mesh.faces, axis=1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    keep = counts[inverse.reshape(-1)] == 1
    if keep.all():
        return mesh
    used, remap = np.unique(mesh.faces[keep], return_inverse=True)
    return Mesh(mesh.vertices[used], remap.reshape(-1, 3).astype(np.int32))


def orient_outward(mesh: Mesh) -> Mesh:
    """Make winding consistent and flip it if the enclosed volume comes out negative."""
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    if not tm.is_winding_consistent:
        trimesh.repair.fix_winding(tm)
    faces = np.asarray(tm.faces, dtype=np.int32)
    if tm.volume < 0:
        faces = faces[:, ::-1].copy()
    return Mesh(mesh.vertices, faces)


def vertex_normals(mesh: Mesh) -> np.ndarray:
    """[V,3] float32 unit normals, face normals averaged with area weights."""
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    return np.asarray(tm.vertex_normals, dtype=np.float32)


def clean_mesh(
    mesh: Mesh,
    target_faces: int = DEFAULT_TARGET_FACES,
    min_component_fraction: float = DEFAULT_MIN_COMPONENT_FRACTION,
) -> tuple[Mesh, CleanStats]:
    """Floaters out, decimate, zero-length edges collapsed, orient outward.

    Raises:
        InputError: for a face budget below 100.
        EmptySurfaceError: for a mesh without faces.
    """
    if isinstance(target_faces, bool) or not isinstance(target_faces, int) or target_faces < 100:
        raise InputError(f"the face budget must be an integer of at least 100, got {target_faces!r}")
    if len(mesh.faces) == 0:
        raise EmptySurfaceError("the mesh has no faces to clean")
    before = len(mesh.faces)
    kept, num_components, num_removed = remove_floaters(mesh, min_component_fraction)
    # Decimation can tear tiny pieces off a rough surface; each would become a UV island of its own.
    decimated = drop_paired_faces(merge_coincident_vertices(decimate(kept, target_faces)))
    decimated, _, num_debris = remove_floaters(decimated, min_component_fraction)
    result = orient_outward(decimated)
    tm = trimesh.Trimesh(result.vertices, result.faces, process=False)
    stats = CleanStats(
        num_components=num_components,
        num_removed_components=num_removed + num_debris,
        num_faces_before=before,
        num_faces=len(result.faces),
        watertight=bool(tm.is_watertight),
        volume=float(tm.volume),
    )
    return result, stats
