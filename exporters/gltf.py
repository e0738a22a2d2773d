"""GLB writer (pygltflib): positions, normals, UVs, uint32 indices, an image texture with an
explicit sampler, an unlit or PBR material, and metadata in extras. Returns bytes; the caller
writes them (atomically) with :func:`aware3d.io.write_atomic`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pygltflib

from aware3d.errors import InputError, ShapeError

Material = Literal["unlit", "pbr"]

_UNLIT = "KHR_materials_unlit"
_F32 = np.dtype("<f4")
_U32 = np.dtype("<u4")
DEFAULT_ROUGHNESS = 0.6
"""Skin reads as moderately rough under a lit PBR material."""


@dataclass(frozen=True)
class GLBMesh:
    """Everything that goes into the GLB, already in glTF's frame (y up, metres).

    Attributes:
        positions: [V,3] float32.
        normals: [V,3] float32 unit vectors.
        faces: [F,3] integer indices, counter-clockwise seen from outside.
        uv: [V,2] float32 texture coordinates (0, 0 at the image's top-left), or None.
        texture_png: PNG bytes of the base-colour texture, or None.
        vertex_colors: [V,3] float32 in [0,1] for COLOR_0, or None.
        material: ``"unlit"`` (KHR_materials_unlit) or ``"pbr"`` (metallic 0, ``roughness``).
        roughness: PBR roughness factor.
        extras: JSON-serialisable metadata put on the asset, the scene, the node and the mesh.
        name: name of the node, mesh and material.
    """

    positions: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    texture_png: bytes | None = None
    vertex_colors: np.ndarray | None = None
    material: Material = "unlit"
    roughness: float = DEFAULT_ROUGHNESS
    extras: dict[str, Any] = field(default_factory=dict)
    name: str = "aware3d"


def _check(mesh: GLBMesh) -> None:
    num_vertices = len(mesh.positions)
    for name, array, width in (("positions", mesh.positions, 3), ("normals", mesh.normals, 3), ("faces", mesh.faces, 3)):
        if array.ndim != 2 or array.shape[1] != width:
            raise ShapeError(f"{name} must have shape [N,{width}], got {list(array.shape)}")
    if len(mesh.normals) != num_vertices:
        raise ShapeError(f"normals must have one row per vertex ({num_vertices}), got {len(mesh.normals)}")
    if mesh.uv is not None and mesh.uv.shape != (num_vertices, 2):
        raise ShapeError(f"uv must have shape [{num_vertices},2], got {list(mesh.uv.shape)}")
    if mesh.vertex_colors is not None and mesh.vertex_colors.shape != (num_vertices, 3):
        raise ShapeError(f"vertex_colors must have shape [{num_vertices},3], got {list(mesh.vertex_colors.shape)}")
    if (mesh.texture_png is None) != (mesh.uv is None):
        raise InputError("a texture needs UVs and UVs need a texture: give both or neither")
    if len(mesh.faces) == 0 or mesh.faces.min() < 0 or mesh.faces.max() >= num_vertices:
        raise InputError("faces must be non-empty and index existing vertices")
    if mesh.material not in ("unlit", "pbr"):
        raise InputError(f"material must be 'unlit' or 'pbr', got {mesh.material!r}")
    try:
        json.dumps(mesh.extras, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise InputError(f"metadata must be JSON-serialisable without NaN: {err}") from err


class _Buffer:
    """One binary buffer with 4-byte aligned views, as the glTF spec requires."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.length = 0
        self.views: list[pygltflib.BufferView] = []

    def add(self, data: bytes, target: int | None = None) -> int:
        pad = (-self.length) % 4
        if pad:
            self.chunks.append(b"\x00" * pad)
            self.length += pad
        self.views.append(pygltflib.BufferView(buffer=0, byteOffset=self.length, byteLength=len(data), target=target))
        self.chunks.append(data)
        self.length += len(data)
        return len(self.views) - 1

    def blob(self) -> bytes:
        data = b"".join(self.chunks)
        return data + b"\x00" * ((-len(data)) % 4)


def build_glb(mesh: GLBMesh) -> bytes:
    """Assemble a GLB from ``mesh``.

    Raises:
        ShapeError: for arrays of the wrong shape.
        InputError: for a texture without UVs, bad indices, an unknown material or metadata that
            does not serialise.
    """
    _check(mesh)
    buffer = _Buffer()
    accessors: list[pygltflib.Accessor] = []

    def vertex_accessor(array: np.ndarray, kind: str, with_bounds: bool = False) -> int:
        data = np.ascontiguousarray(array, dtype=_F32)
        view = buffer.add(data.tobytes(), pygltflib.ARRAY_BUFFER)
        accessor = pygltflib.Accessor(
            bufferView=view, componentType=pygltflib.FLOAT, count=len(data), type=kind,
            min=data.min(axis=0).tolist() if with_bounds else None,
            max=data.max(axis=0).tolist() if with_bounds else None,
        )
        accessors.append(accessor)
        return len(accessors) - 1

    attributes = pygltflib.Attributes(
        POSITION=vertex_accessor(mesh.positions, pygltflib.VEC3, with_bounds=True),
        NORMAL=vertex_accessor(mesh.normals, pygltflib.VEC3),
    )
    if mesh.uv is not None:
        attributes.TEXCOORD_0 = vertex_accessor(mesh.uv, pygltflib.VEC2)
    if mesh.vertex_colors is not None:
        attributes.COLOR_0 = vertex_accessor(np.clip(mesh.vertex_colors, 0, 1), pygltflib.VEC3)
    indices = np.ascontiguousarray(mesh.faces, dtype=_U32).reshape(-1)
    index_view = buffer.add(indices.tobytes(), pygltflib.ELEMENT_ARRAY_BUFFER)
    accessors.append(
        pygltflib.Accessor(
            bufferView=index_view, componentType=pygltflib.UNSIGNED_INT, count=len(indices), type=pygltflib.SCALAR,
            min=[int(indices.min())], max=[int(indices.max())],
        )
    )

    pbr = pygltflib.PbrMetallicRoughness(
        baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=float(mesh.roughness)
    )
    images, textures, samplers = [], [], []
    if mesh.texture_png is not None:
        image_view = buffer.add(mesh.texture_png)
        images.append(pygltflib.Image(bufferView=image_view, mimeType="image/png", name=f"{mesh.name}_basecolor"))
        samplers.append(
            pygltflib.Sampler(
                magFilter=pygltflib.LINEAR, minFilter=pygltflib.LINEAR_MIPMAP_LINEAR,
                wrapS=pygltflib.CLAMP_TO_EDGE, wrapT=pygltflib.CLAMP_TO_EDGE,
            )
        )
        textures.append(pygltflib.Texture(sampler=0, source=0))
        pbr.baseColorTexture = pygltflib.TextureInfo(index=0)
    material = pygltflib.Material(name=mesh.name, pbrMetallicRoughness=pbr, doubleSided=False)
    extensions_used = []
    if mesh.material == "unlit":
        material.extensions = {_UNLIT: {}}
        extensions_used.append(_UNLIT)

    extras = dict(mesh.extras)
    gltf = pygltflib.GLTF2(
        asset=pygltflib.Asset(version="2.0", generator=f"aware3d {extras.get('aware3d_version', '')}".strip(), extras=extras),
        scene=0,
        scenes=[pygltflib.Scene(name=mesh.name, nodes=[0], extras=extras)],
        nodes=[pygltflib.Node(name=mesh.name, mesh=0, extras=extras)],
        meshes=[
            pygltflib.Mesh(
                name=mesh.name,
                primitives=[pygltflib.Primitive(attributes=attributes, indices=len(accessors) - 1, material=0, mode=pygltflib.TRIANGLES)],
                extras=extras,
            )
        ],
        materials=[material],
        textures=textures,
        images=images,
        samplers=samplers,
        accessors=accessors,
        bufferViews=buffer.views,
        buffers=[pygltflib.Buffer(byteLength=0)],
        extensionsUsed=extensions_used,
    )
    blob = buffer.blob()
    gltf.buffers[0].byteLength = len(blob)
    gltf.set_binary_blob(blob)
    return b"".join(gltf.save_to_bytes())
