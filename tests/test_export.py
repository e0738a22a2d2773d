"""Field to GLB: sparse marching cubes, clean-up, texture, writer, validator and re-import."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import trimesh

import aware3d
from aware3d import InputError
from aware3d.errors import EmptySurfaceError
from aware3d.exporters import (
    GLBMesh,
    build_asset,
    build_glb,
    clean_mesh,
    export_glb,
    extract_mesh,
    extract_mesh_dense,
    fill_gutters,
    rasterize_uv,
)
from aware3d.exporters.cleanup import merge_coincident_vertices
from aware3d.exporters.marching import Mesh
from aware3d.exporters.texture import sample_colour
from aware3d.fields import BaseField, Bounds, FieldSample
from aware3d.models import demo

LEVEL = demo.DEFAULT_LEVEL


@pytest.fixture(scope="module")
def gen():
    return aware3d.load_generator(family="demo", device="cpu")


class SmoothSphere(BaseField):
    """A sphere with a soft density ramp and a colour that varies with position."""

    default_level = 0.5

    def __init__(self, radius=0.1, center=(0.01, -0.02, 0.0)):
        super().__init__(Bounds((-0.15,) * 3, (0.15,) * 3), torch.device("cpu"))
        self.radius, self.center = radius, torch.tensor(center)
        self.identity = {"family": "sphere", "seed": None}

    def _query(self, points, view_dirs):
        raw = (self.radius - (points - self.center).norm(dim=-1)) / 0.002
        density = torch.sigmoid(raw)
        rgb = (points - self.center) / (2 * self.radius) + 0.5
        return FieldSample(density=density, rgb=rgb.clamp(0, 1), raw_density=raw)


# --- sparse marching cubes -------------------------------------------------------------


def test_sparse_equals_dense_at_256_with_15x_fewer_queries(gen):
    field = gen.field(seed=7)
    sparse = extract_mesh(field, LEVEL, resolution=256, return_values=True)
    dense = extract_mesh_dense(field, LEVEL, resolution=256)
    assert np.array_equal(sparse.values > LEVEL, dense.values > LEVEL)  # same sign grid
    assert len(sparse.mesh.faces) == len(dense.mesh.faces)
    np.testing.assert_array_equal(np.sort(sparse.mesh.vertices, axis=0), np.sort(dense.mesh.vertices, axis=0))
    assert dense.num_queries == 257**3
    assert dense.num_queries / sparse.num_queries >= 15


def test_sparse_at_512_queries_40x_fewer_points_than_dense(gen):
    sparse = extract_mesh(gen.field(seed=7), LEVEL, resolution=512)
    assert sparse.num_dense_queries == 513**3
    assert sparse.num_dense_queries / sparse.num_queries >= 40
    mesh = trimesh.Trimesh(sparse.mesh.vertices, sparse.mesh.faces, process=False)
    assert mesh.is_watertight and mesh.volume > 0


@pytest.mark.parametrize("seed", [0, 3])
def test_sparse_equals_dense_on_other_heads(gen, seed):
    field = gen.field(seed=seed)
    sparse = extract_mesh(field, LEVEL, resolution=128, return_values=True)
    dense = extract_mesh_dense(field, LEVEL, resolution=128)
    assert np.array_equal(sparse.values > LEVEL, dense.values > LEVEL)
    assert len(sparse.mesh.faces) == len(dense.mesh.faces)


def test_sphere_mesh_has_the_right_radius_and_is_closed():
    sphere = SmoothSphere()
    extraction = extract_mesh(sphere, 0.5, resolution=128, block_size=64)  # several blocks
    mesh = trimesh.Trimesh(extraction.mesh.vertices, extraction.mesh.faces, process=False)
    radii = np.linalg.norm(mesh.vertices - sphere.center.numpy(), axis=1)
    assert radii.mean() == pytest.approx(0.1, abs=2e-4)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * 0.1**3, rel=0.01)  # positive: outward
    assert mesh.area == pytest.approx(4 * math.pi * 0.1**2, rel=0.01)


def test_marching_errors():
    with pytest.raises(InputError, match="power of two"):
        extract_mesh(SmoothSphere(), 0.5, resolution=100)
    with pytest.raises(EmptySurfaceError, match="no surface at density level 2"):
        extract_mesh(SmoothSphere(), 2.0, resolution=64)


# --- clean-up and texture ------------------------------------------------------------------


def test_clean_mesh_drops_floaters_and_decimates():
    big = trimesh.creation.icosphere(subdivisions=5, radius=0.1)
    small = trimesh.creation.icosphere(subdivisions=1, radius=0.005)
    small.apply_translation([0.3, 0, 0])
    both = trimesh.util.concatenate([big, small])
    mesh, stats = clean_mesh(Mesh(both.vertices.astype(np.float32), both.faces.astype(np.int32)), target_faces=5000)
    assert stats.num_components == 2 and stats.num_removed_components == 1
    assert 4500 <= stats.num_faces <= 5000 and stats.watertight and stats.volume > 0
    assert mesh.vertices[:, 0].max() < 0.15  # the floater is gone
    flipped = Mesh(big.vertices.astype(np.float32), big.faces[:, ::-1].astype(np.int32).copy())
    _, stats = clean_mesh(flipped, target_faces=100_000)
    assert stats.volume > 0  # inverted winding is turned outward
    with pytest.raises(InputError, match="face budget"):
        clean_mesh(flipped, target_faces=10)


def _split_vertex(sphere: trimesh.Trimesh) -> Mesh:
    """``sphere`` with vertex 0 split into two coincident vertices joined by a zero-length edge
    (two zero-area faces close the split): still closed, as marching cubes can leave it."""
    fan = np.nonzero((sphere.faces == 0).any(axis=1))[0]
    # Walk the fan in order: each face shares an edge with the next.
    order, faces = [fan[0]], sphere.faces.copy()
    while len(order) < len(fan):
        last = set(faces[order[-1]])
        order.append(next(f for f in fan if f not in order and len(last & set(faces[f])) == 2))
    half = order[: len(order) // 2]
    twin = len(sphere.vertices)
    faces[half] = np.where(faces[half] == 0, twin, faces[half])
    first_shared = (set(faces[half[0]]) & set(faces[order[-1]])) - {0, twin}
    last_shared = (set(faces[half[-1]]) & set(faces[order[len(half)]])) - {0, twin}
    a, b = first_shared.pop(), last_shared.pop()
    extra = np.array([[0, twin, a], [twin, 0, b]])
    vertices = np.vstack([sphere.vertices, sphere.vertices[:1]])
    return Mesh(vertices.astype(np.float32), np.vstack([faces, extra]).astype(np.int32))


def test_zero_length_edges_are_collapsed():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    split = _split_vertex(sphere)
    trimesh.repair.fix_winding(before := trimesh.Trimesh(split.vertices, split.faces, process=False))
    assert before.is_watertight and (before.area_faces == 0).sum() == 2
    merged = merge_coincident_vertices(split)
    after = trimesh.Trimesh(merged.vertices, merged.faces, process=False)
    assert len(merged.faces) == len(sphere.faces) and after.is_watertight and after.area_faces.min() > 0
    assert merge_coincident_vertices(Mesh(sphere.vertices.astype(np.float32), sphere.faces.astype(np.int32))).faces.shape == sphere.faces.shape
    _, stats = clean_mesh(split, target_faces=100_000)
    assert stats.num_faces == len(sphere.faces) and stats.watertight


def test_fill_gutters_reaches_every_texel():
    image = np.full((64, 64, 3), np.nan, dtype=np.float32)
    filled = np.zeros((64, 64), dtype=bool)
    image[10:20, 10:20] = 0.25
    image[40:50, 40:50] = 0.75
    filled[10:20, 10:20] = filled[40:50, 40:50] = True
    out = fill_gutters(image, filled)
    assert not np.isnan(out).any()
    assert (out[0:8, 0:8] == 0.25).all() and (out[56:, 56:] == 0.75).all()  # gutters far beyond 8 px


def test_rasterize_covers_a_triangle_exactly():
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    raster = rasterize_uv(uv, np.array([[0, 1, 2]]), 32)
    # Texel centres (c + 0.5, r + 0.5) inside the lower-left half of a 32 x 32 texture.
    assert len(raster.rows) == sum(1 for r in range(32) for c in range(32) if c + r + 1 <= 32)
    np.testing.assert_allclose(raster.barycentric.sum(axis=1), 1, atol=1e-6)


@pytest.fixture(scope="module")
def sphere_asset():
    return build_asset(SmoothSphere(), resolution=64, texture_size=256, target_faces=4000)


def test_every_covered_texel_holds_the_fields_colour(sphere_asset, tmp_path):
    path = tmp_path / "sphere.glb"
    path.write_bytes(sphere_asset.glb)
    scene = trimesh.load(path, force="mesh", process=False)
    image = np.asarray(scene.visual.material.baseColorTexture.convert("RGB"), dtype=np.float32) / 255
    uv = np.asarray(scene.visual.uv, dtype=np.float32)
    uv[:, 1] = 1 - uv[:, 1]  # trimesh flips V to OpenGL's bottom-left origin on load
    raster = rasterize_uv(uv, scene.faces, image.shape[0])
    assert len(raster.rows) > 0.2 * image.shape[0] ** 2
    centre, scale = np.array(sphere_asset.stats.center), sphere_asset.stats.scale
    points = (scene.vertices[scene.faces[raster.faces]] * raster.barycentric[..., None]).sum(axis=1) / scale + centre
    expected = sample_colour(SmoothSphere(), points.astype(np.float32))
    np.testing.assert_allclose(image[raster.rows, raster.cols], expected, atol=1.5 / 255)


# --- GLB ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def face_glb(gen, tmp_path_factory):
    path = tmp_path_factory.mktemp("glb") / "face.glb"
    stats = export_glb(gen.field(seed=7), path, metadata={"pose": {"yaw": 0.0, "pitch": 0.0}})
    return path, stats


def test_default_export_is_valid_and_complete(face_glb, validate_glb):
    path, stats = face_glb
    report = validate_glb(path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    info = report["info"]
    assert info["totalTriangleCount"] == stats.num_faces and info["totalVertexCount"] == stats.num_vertices
    assert stats.watertight and stats.num_faces <= 50_000 and stats.volume_m3 > 0
    assert 0.22 < stats.height_m < 0.35  # life-size head with neck
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(path))
    prim = gltf.meshes[0].primitives[0]
    assert prim.attributes.POSITION is not None and prim.attributes.NORMAL is not None and prim.attributes.TEXCOORD_0 is not None
    assert gltf.accessors[prim.indices].componentType == pygltflib.UNSIGNED_INT
    assert {v.target for v in gltf.bufferViews if v.target} == {pygltflib.ARRAY_BUFFER, pygltflib.ELEMENT_ARRAY_BUFFER}
    sampler = gltf.samplers[0]
    assert sampler.magFilter == pygltflib.LINEAR and sampler.wrapS == pygltflib.CLAMP_TO_EDGE
    assert "KHR_materials_unlit" in gltf.extensionsUsed and "KHR_materials_unlit" in gltf.materials[0].extensions
    extras = gltf.asset.extras
    for key in ("family", "seed", "truncation", "resolution", "level", "scale", "pose", "aware3d_version", "z_sha256"):
        assert key in extras, key
    assert extras["family"] == "demo" and extras["seed"] == 7 and extras == gltf.scenes[0].extras
    positions = np.frombuffer(gltf.binary_blob(), dtype="<f4", count=3 * stats.num_vertices,
                              offset=gltf.bufferViews[gltf.accessors[prim.attributes.POSITION].bufferView].byteOffset)
    positions = positions.reshape(-1, 3)
    np.testing.assert_allclose((positions.min(axis=0) + positions.max(axis=0)) / 2, 0, atol=1e-6)  # centred


def test_reimport_with_trimesh_keeps_counts_and_outward_normals(face_glb):
    path, stats = face_glb
    mesh = trimesh.load(path, force="mesh", process=False)
    assert len(mesh.faces) == stats.num_faces and len(mesh.vertices) == stats.num_vertices
    assert mesh.visual.uv is not None and mesh.visual.material.baseColorTexture is not None
    assert mesh.visual.material.baseColorTexture.size == (1024, 1024)
    welded = trimesh.Trimesh(mesh.vertices, mesh.faces)  # merge the UV-seam copies
    assert welded.is_watertight and welded.volume > 0
    # The stored normals agree with the winding: they point the same way as the face normals.
    stored = mesh.vertex_normals[mesh.faces].mean(axis=1)
    assert (np.einsum("ij,ij->i", stored, mesh.face_normals) > 0).mean() > 0.99
    # The face looks toward +z: the nose tip is the frontmost point, near the middle.
    front = mesh.vertices[mesh.vertices[:, 2].argmax()]
    assert abs(front[0]) < 0.01


def test_reimport_with_blender(face_glb, bpy_module):
    bpy = bpy_module
    path, stats = face_glb
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.import_scene.gltf(filepath=str(path)) == {"FINISHED"}
    meshes = [o for o in bpy.data.objects if o.type == "MESH"]
    assert len(meshes) == 1
    obj = meshes[0]
    assert len(obj.data.polygons) == stats.num_faces
    assert len(obj.data.vertices) == stats.num_vertices
    assert len(obj.data.uv_layers) == 1
    material = obj.active_material
    images = [n.image for n in material.node_tree.nodes if n.type == "TEX_IMAGE"]
    assert images and images[0].size[0] == 1024
    assert obj["family"] == "demo" and obj["seed"] == 7 and obj["resolution"] == 256
    # Blender turned y-up into z-up: the head is taller along z, the face looks toward -y.
    coords = np.array([v.co[:] for v in obj.data.vertices])
    assert np.ptp(coords[:, 2]) > np.ptp(coords[:, 1])
    assert coords[coords[:, 1].argmin()][2] > -0.05  # the frontmost point is the nose, not the neck


@pytest.mark.parametrize("options", [{"material": "pbr"}, {"vertex_colors": True}, {"textured": False, "vertex_colors": True}])
def test_export_variants_are_valid(options, validate_glb, tmp_path):
    path = tmp_path / "variant.glb"
    export_glb(SmoothSphere(), path, resolution=64, texture_size=128, target_faces=2000, **options)
    report = validate_glb(path)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(path))
    material = gltf.materials[0]
    assert material.pbrMetallicRoughness.metallicFactor == 0
    if options.get("material") == "pbr":
        assert not gltf.extensionsUsed and material.pbrMetallicRoughness.roughnessFactor > 0
    if options.get("vertex_colors"):
        assert gltf.meshes[0].primitives[0].attributes.COLOR_0 is not None
    if options.get("textured") is False:
        assert not gltf.images and gltf.meshes[0].primitives[0].attributes.TEXCOORD_0 is None


def test_ray_and_average_bakes_are_valid(validate_glb, tmp_path):
    path = tmp_path / "ray.glb"
    export_glb(SmoothSphere(), path, resolution=64, texture_size=128, target_faces=2000, bake_mode="ray", view="average")
    assert validate_glb(path)["issues"]["numErrors"] == 0


def test_same_seed_gives_identical_bytes_across_processes(tmp_path):
    code = (
        "import sys, aware3d; from aware3d.exporters import export_glb; "
        "g = aware3d.load_generator(family='demo', device='cpu'); "
        "export_glb(g.field(seed=5), sys.argv[1], resolution=128, texture_size=256)"
    )
    paths = [tmp_path / "a.glb", tmp_path / "b.glb"]
    for path in paths:
        subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_writer_rejects_bad_input():
    positions = np.zeros((3, 3), np.float32)
    faces = np.array([[0, 1, 2]])
    with pytest.raises(InputError, match="JSON"):
        build_glb(GLBMesh(positions, positions, faces, extras={"bad": float("nan")}))
    with pytest.raises(InputError, match="index existing vertices"):
        build_glb(GLBMesh(positions, positions, np.array([[0, 1, 5]])))
    with pytest.raises(InputError, match="texture needs UVs"):
        build_glb(GLBMesh(positions, positions, faces, texture_png=b"png"))
    with pytest.raises(aware3d.ShapeError, match="normals"):
        build_glb(GLBMesh(positions, positions[:2], faces))


def test_export_errors(tmp_path):
    with pytest.raises(InputError, match=".glb"):
        export_glb(SmoothSphere(), tmp_path / "x.obj")
    with pytest.raises(InputError, match="does not exist"):
        export_glb(SmoothSphere(), tmp_path / "missing" / "x.glb")
    with pytest.raises(InputError, match="power of two"):
        export_glb(SmoothSphere(), tmp_path / "x.glb", texture_size=1000)
    with pytest.raises(EmptySurfaceError):
        export_glb(SmoothSphere(), tmp_path / "x.glb", level=5.0, resolution=64)
    assert list(tmp_path.iterdir()) == []  # nothing half-written
