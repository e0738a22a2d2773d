"""Ray casting against an exported mesh with open3d's ``RaycastingScene`` (Embree on the CPU, no
OpenGL): renders of an asset for fidelity measures, and per-texel visibility for view bakes."""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from aware3d.cameras import Camera
from aware3d.errors import Aware3DError
from aware3d.render import camera_rays

_RAYS_PER_CAST = 1 << 20
"""Rays handed to Embree at once: bounds the [R,6] ray buffer and its results to ~60 MB."""


@functools.cache
def open3d() -> ModuleType:
    """Import open3d, loading the libusb it links against from ``libusb-package`` where the system has none.

    The Linux wheels of open3d 0.20 link ``libusb-1.0.so.0`` (for RealSense cameras) although
    ray casting never uses it; slim images and CI runners lack it.

    Raises:
        Aware3DError: when open3d cannot be imported at all, saying how to install it.
    """
    try:
        import open3d as o3d
    except ImportError as err:
        if "libusb" not in str(err):
            raise Aware3DError(f"open3d is needed for fidelity measures and view bakes and failed to import ({err}); "
                               "reinstall aware3d (pip install -e .)") from err
        try:
            import libusb_package
        except ImportError:
            raise Aware3DError("open3d needs libusb-1.0, which this system lacks: pip install libusb-package") from err
        ctypes.CDLL(str(libusb_package.get_library_path()), mode=ctypes.RTLD_GLOBAL)
        import open3d as o3d
    return o3d


@dataclass(frozen=True)
class RayHits:
    """Where rays first meet a mesh.

    Attributes:
        distance: [R] float32 distance along each (unit) ray; inf where the ray misses.
        face: [R] int64 face index; -1 where the ray misses.
        barycentric: [R,3] float32 weights of the face's three vertices at the hit (0 on a miss).
    """

    distance: np.ndarray
    face: np.ndarray
    barycentric: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        """[R] bool: the ray meets the mesh."""
        return self.face >= 0


class MeshRaycaster:
    """A triangle mesh ready for ray queries (builds Embree's BVH once)."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray) -> None:
        """``vertices`` [V,3] and ``faces`` [F,3]; rays are then cast in the vertices' frame."""
        o3d = open3d()
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(
            o3d.core.Tensor(np.ascontiguousarray(vertices, dtype=np.float32)),
            o3d.core.Tensor(np.ascontiguousarray(faces, dtype=np.uint32)),
        )

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> RayHits:
        """First hits of rays ``origins`` [R,3] along unit ``directions`` [R,3]."""
        o3d = open3d()
        rays = np.concatenate([origins, directions], axis=1).astype(np.float32)
        distance, face, uv = [], [], []
        for start in range(0, len(rays), _RAYS_PER_CAST):
            out = self.scene.cast_rays(o3d.core.Tensor(rays[start : start + _RAYS_PER_CAST]))
            distance.append(out["t_hit"].numpy())
            face.append(out["primitive_ids"].numpy())
            uv.append(out["primitive_uvs"].numpy())
        distance, face, uv = (np.concatenate(x) if x else np.zeros(shape) for x, shape in ((distance, 0), (face, 0), (uv, (0, 2))))
        miss = ~np.isfinite(distance)
        face = np.where(miss, -1, face.astype(np.int64))
        # open3d's primitive uvs (u, v) weight the triangle's second and third vertices.
        barycentric = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1).astype(np.float32)
        barycentric[miss] = 0
        return RayHits(distance=distance.astype(np.float32), face=face, barycentric=barycentric)


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of ``texture`` [S,S,C] (uint8 or float) at glTF ``uv`` [N,2] ((0,0) the top-left
    corner, clamp to edge, as the GLB's sampler does at full resolution) -> [N,C] float32 in [0,1]."""
    image = texture.astype(np.float32) / (255.0 if texture.dtype == np.uint8 else 1.0)
    height, width = image.shape[:2]
    x = np.clip(uv[:, 0] * width - 0.5, 0, width - 1)
    y = np.clip(uv[:, 1] * height - 0.5, 0, height - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


@dataclass(frozen=True)
class TexturedMesh:
    """An exported asset's surface in the model's world: what fidelity measures render.

    Attributes:
        vertices: [V,3] float32, model world coordinates.
        faces: [F,3] int32.
        uv: [V,2] float32 glTF UVs.
        texture: [S,S,3] uint8, row 0 at the top.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray
    texture: np.ndarray


@dataclass(frozen=True)
class MeshRender:
    """An unlit render of a textured mesh.

    Attributes:
        rgb: [H,W,3] float32 in [0,1] (0 where nothing is hit).
        hit: [H,W] bool silhouette.
        depth: [H,W] float32 distance along each pixel's unit ray, model world units (0 on a miss).
    """

    rgb: np.ndarray
    hit: np.ndarray
    depth: np.ndarray


def render_mesh(mesh: TexturedMesh, camera: Camera, size: int, raycaster: MeshRaycaster | None = None) -> MeshRender:
    """Render ``mesh`` unlit (texture colour as is, like the GLB's KHR_materials_unlit) through the
    pixel centres of ``camera``, the rays aware3d's own volume renderer casts."""
    raycaster = raycaster or MeshRaycaster(mesh.vertices, mesh.faces)
    origins, dirs = camera_rays(camera, size, size)
    hits = raycaster.cast(origins.numpy(), dirs.numpy())
    rgb = np.zeros((size * size, 3), dtype=np.float32)
    if hits.hit.any():
        corners = mesh.faces[hits.face[hits.hit]]
        uv = np.einsum("rk,rkd->rd", hits.barycentric[hits.hit], mesh.uv[corners])
        rgb[hits.hit] = sample_texture(mesh.texture, uv)
    depth = np.where(hits.hit, hits.distance, 0).astype(np.float32)
    return MeshRender(rgb=rgb.reshape(size, size, 3), hit=hits.hit.reshape(size, size), depth=depth.reshape(size, size))
