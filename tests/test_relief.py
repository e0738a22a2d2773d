"""Relief -> mesh -> GLB, checked against an analytic sphere whose depth map is known exactly.

The synthetic relief is the visible cap of a sphere of radius R, centred at distance D in front of
a camera that is neither at the origin nor axis-aligned, with a checker albedo whose cells all have
different colours (so a texture offset by whole cells would also be caught).
"""

from __future__ import annotations

import io
import math

import numpy as np
import pygltflib
import pytest
import trimesh
from PIL import Image

from aware3d.cameras import Camera, look_at
from aware3d.errors import EmptySurfaceError, InputError, ShapeError
from aware3d.exporters.relief import (
    DEFAULT_MAX_DEPTH_JUMP,
    ReliefMesh,
    build_relief_asset,
    default_texture_size,
    mesh_relief,
    relief_texture,
)
from aware3d.fields import Relief, WorldFrame

RADIUS = 0.25
DISTANCE = 1.0
CENTER = np.array([0.1, -0.2, 0.3])
EYE = CENTER + DISTANCE * np.array([0.36, 0.48, 0.8])  # unit offset: the camera sits DISTANCE from the centre
FOV_DEG = 40.0
CELL = 8
"""Checker cell side in pixels."""


def _camera() -> Camera:
    return Camera(cam2world=look_at(EYE, CENTER), fov_deg=FOV_DEG)


def _pixel_rays(camera: Camera, height: int, width: int) -> np.ndarray:
    """[H,W,3] world directions through the pixel centres, scaled so their camera-space z is -1."""
    tan_half = math.tan(math.radians(camera.fov_deg) / 2)
    cols = ((np.arange(width) + 0.5) / width * 2 - 1) * tan_half * width / height
    rows = (1 - (np.arange(height) + 0.5) / height * 2) * tan_half
    y, x = np.meshgrid(rows, cols, indexing="ij")
    dirs_cam = np.stack([x, y, -np.ones_like(x)], axis=-1)
    return dirs_cam @ camera.cam2world[:3, :3].T


def _sphere_hits(camera: Camera, height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ray-sphere hits: z-depth [H,W] (the ray parameter, since the rays have z = -1), hit mask, points."""
    dirs = _pixel_rays(camera, height, width)
    offset = camera.position - CENTER
    a = (dirs * dirs).sum(-1)
    b = dirs @ offset
    c = offset @ offset - RADIUS**2
    disc = b * b - a * c
    hit = disc > 0
    depth = np.where(hit, (-b - np.sqrt(np.where(hit, disc, 0.0))) / a, 0.0)
    points = camera.position + depth[..., None] * dirs
    return depth, hit, points


def _checker(height: int, width: int) -> np.ndarray:
    """[H,W,3] float32 checker: light and dark cells, each cell its own colour (seeded)."""
    rng = np.random.default_rng(0)
    cells_y, cells_x = -(-height // CELL), -(-width // CELL)
    tint = rng.uniform(0.0, 0.35, size=(cells_y, cells_x, 3))
    light = (np.add.outer(np.arange(cells_y), np.arange(cells_x)) % 2 == 0)[..., None]
    colours = np.where(light, 0.65 + tint, tint)
    return colours.repeat(CELL, axis=0).repeat(CELL, axis=1)[:height, :width].astype(np.float32)


def _sphere_relief(height: int = 96, width: int = 128, **options) -> Relief:
    camera = _camera()
    depth, hit, _ = _sphere_hits(camera, height, width)
    options.setdefault("mask", hit)
    return Relief(depth=depth.astype(np.float32), albedo=_checker(height, width), camera=camera, **options)


def _read_glb(data: bytes) -> tuple[pygltflib.GLTF2, dict[str, np.ndarray], np.ndarray]:
    """The glTF, its positions/normals/uv/faces arrays and the texture (RGB uint8), read independently."""
    gltf = pygltflib.GLTF2.load_from_bytes(data)
    blob = gltf.binary_blob()

    def view_bytes(index: int) -> bytes:
        view = gltf.bufferViews[index]
        return blob[view.byteOffset : view.byteOffset + view.byteLength]

    def accessor(index: int, dtype: str, width: int) -> np.ndarray:
        acc = gltf.accessors[index]
        return np.frombuffer(view_bytes(acc.bufferView), dtype=dtype).reshape(acc.count, width) if width > 1 else (
            np.frombuffer(view_bytes(acc.bufferView), dtype=dtype)
        )

    primitive = gltf.meshes[0].primitives[0]
    arrays = {
        "positions": accessor(primitive.attributes.POSITION, "<f4", 3),
        "normals": accessor(primitive.attributes.NORMAL, "<f4", 3),
        "uv": accessor(primitive.attributes.TEXCOORD_0, "<f4", 2),
        "faces": accessor(primitive.indices, "<u4", 1).reshape(-1, 3),
    }
    texture = np.asarray(Image.open(io.BytesIO(view_bytes(gltf.images[0].bufferView))).convert("RGB"))
    return gltf, arrays, texture


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces].astype(np.float64)
    return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])


def _full_quad_pixels(mask: np.ndarray) -> np.ndarray:
    """[H,W] bool: pixels that are a corner of at least one 2x2 block of mask pixels."""
    quads = mask[:-1, :-1] & mask[:-1, 1:] & mask[1:, :-1] & mask[1:, 1:]
    used = np.zeros_like(mask)
    for dr in (0, 1):
        for dc in (0, 1):
            used[dr : dr + quads.shape[0], dc : dc + quads.shape[1]] |= quads
    return used


def test_every_vertex_lies_on_the_sphere():
    mesh = mesh_relief(_sphere_relief())
    assert isinstance(mesh, ReliefMesh)
    assert mesh.vertices.dtype == np.float32 and mesh.faces.dtype == np.int32
    assert mesh.uv.dtype == np.float32 and mesh.normals.dtype == np.float32
    radial = np.linalg.norm(mesh.vertices.astype(np.float64) - CENTER, axis=1)
    assert np.abs(radial / RADIUS - 1).max() < 1e-5
    assert len(mesh.vertices) > 3000  # the cap covers most of the 96x128 image's middle


def test_vertices_are_the_exact_hits_of_their_pixels():
    relief = _sphere_relief()
    mesh = mesh_relief(relief, max_depth_jump=None)
    _, _, points = _sphere_hits(relief.camera, 96, 128)
    expected = points[mesh.pixels[:, 0], mesh.pixels[:, 1]]
    assert np.abs(mesh.vertices - expected).max() < 1e-5 * RADIUS
    # with no depth cut, exactly the corners of all-foreground 2x2 blocks become vertices
    used = _full_quad_pixels(relief.mask)
    assert len(mesh.vertices) == int(used.sum())
    assert used[mesh.pixels[:, 0], mesh.pixels[:, 1]].all()
    quads = relief.mask[:-1, :-1] & relief.mask[:-1, 1:] & relief.mask[1:, :-1] & relief.mask[1:, 1:]
    assert len(mesh.faces) == 2 * int(quads.sum())


def test_no_unused_vertices():
    mesh = mesh_relief(_sphere_relief())
    assert np.array_equal(np.unique(mesh.faces), np.arange(len(mesh.vertices)))


def test_visible_extent_matches_the_sphere():
    relief = _sphere_relief()
    mesh = mesh_relief(relief, max_depth_jump=None)
    world2cam = np.linalg.inv(relief.camera.cam2world)
    mesh_cam = mesh.vertices.astype(np.float64) @ world2cam[:3, :3].T + world2cam[:3, 3]
    # the exact hits of every pixel that is a corner of a foreground quad, computed here, not by the code
    _, _, points = _sphere_hits(relief.camera, 96, 128)
    expected = points[_full_quad_pixels(relief.mask)] @ world2cam[:3, :3].T + world2cam[:3, 3]
    assert np.allclose(mesh_cam.min(axis=0), expected.min(axis=0), atol=1e-5)
    assert np.allclose(mesh_cam.max(axis=0), expected.max(axis=0), atol=1e-5)
    # and close to the analytic cap: silhouette circle of radius R*sqrt(1 - R^2/D^2) across, R/D*R deep
    silhouette = RADIUS * math.sqrt(1 - (RADIUS / DISTANCE) ** 2)
    width_x, width_y = np.ptp(mesh_cam[:, 0]), np.ptp(mesh_cam[:, 1])
    for width in (width_x, width_y):
        assert 0.8 * 2 * silhouette < width <= 2 * silhouette + 1e-6
    near = -mesh_cam[:, 2].max()
    assert near == pytest.approx(DISTANCE - RADIUS, abs=2e-3)  # the pixel nearest the centre sees the front point
    assert np.array_equal(mesh_relief(relief).faces, mesh.faces)  # at this size no quad is steep enough to cut


def test_default_depth_cut_only_trims_grazing_quads_at_the_rim():
    relief = _sphere_relief(192, 256)  # finer pixels: rim quads grow steeper than 8 pixel footprints
    whole = mesh_relief(relief, max_depth_jump=None)
    cut = mesh_relief(relief)
    assert 0.97 * len(whole.faces) < len(cut.faces) < len(whole.faces)
    # what went is at the rim: every cut vertex sees the surface at more than 80 degrees
    to_camera = relief.camera.position - whole.vertices
    to_camera /= np.linalg.norm(to_camera, axis=1, keepdims=True)
    cosine = np.einsum("ij,ij->i", (whole.vertices - CENTER) / RADIUS, to_camera)
    kept = np.zeros(192 * 256, bool)
    kept[cut.pixels[:, 0] * 256 + cut.pixels[:, 1]] = True
    gone = ~kept[whole.pixels[:, 0] * 256 + whole.pixels[:, 1]]
    assert gone.any() and cosine[gone].max() < math.cos(math.radians(80))
    world2cam = np.linalg.inv(relief.camera.cam2world)[:3, :3]
    assert np.ptp(cut.vertices @ world2cam.T, axis=0)[0] > 0.9 * np.ptp(whole.vertices @ world2cam.T, axis=0)[0]


def test_faces_face_the_camera():
    relief = _sphere_relief()
    for max_depth_jump in (None, DEFAULT_MAX_DEPTH_JUMP):
        mesh = mesh_relief(relief, max_depth_jump)
        normals = _face_normals(mesh.vertices, mesh.faces)
        view = mesh.vertices[mesh.faces].mean(axis=1) - relief.camera.position
        assert (np.einsum("ij,ij->i", normals, view) < 0).all()
        # vertex normals agree: on the camera's side, and close to the sphere's outward normal
        to_camera = relief.camera.position - mesh.vertices
        assert (np.einsum("ij,ij->i", mesh.normals, to_camera) > 0).all()
        outward = (mesh.vertices - CENTER) / RADIUS
        assert np.einsum("ij,ij->i", mesh.normals, outward).min() > 0.9


def test_uvs_are_the_pixel_centres():
    relief = _sphere_relief()
    mesh = mesh_relief(relief)
    rows, cols = mesh.pixels[:, 0], mesh.pixels[:, 1]
    assert np.allclose(mesh.uv[:, 0], (cols + 0.5) / 128) and np.allclose(mesh.uv[:, 1], (rows + 0.5) / 96)
    assert relief.mask[rows, cols].all()


def _sample_nearest(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Nearest-texel lookup at glTF UVs ((0, 0) at the top-left corner)."""
    size_y, size_x = texture.shape[:2]
    cols = np.clip((uv[:, 0] * size_x).astype(int), 0, size_x - 1)
    rows = np.clip((uv[:, 1] * size_y).astype(int), 0, size_y - 1)
    return texture[rows, cols]


def test_texture_at_each_uv_is_the_checker_cell_of_its_pixel_square():
    relief = _sphere_relief(64, 64)
    asset = build_relief_asset(relief)
    _, arrays, texture = _read_glb(asset.glb)
    assert texture.shape == (64, 64, 3) and asset.stats.texture_size == 64
    mesh = mesh_relief(relief)
    assert np.array_equal(arrays["uv"], mesh.uv)
    expected = (relief.albedo[mesh.pixels[:, 0], mesh.pixels[:, 1]] * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(_sample_nearest(texture, arrays["uv"]), expected)


def test_texture_at_each_uv_is_the_checker_cell_of_its_pixel_resampled():
    relief = _sphere_relief()  # 96x128 -> a 128x128 texture: rows are stretched by 4/3, columns kept
    asset = build_relief_asset(relief)
    _, arrays, texture = _read_glb(asset.glb)
    assert texture.shape == (128, 128, 3)
    mesh = mesh_relief(relief)
    rows, cols = mesh.pixels[:, 0], mesh.pixels[:, 1]
    covered = np.zeros((96, 128), dtype=bool)
    covered[rows, cols] = True
    padded_cov = np.pad(covered, ((2, 2), (0, 0)))
    window_covered = np.all([padded_cov[rows + dr, cols] for dr in range(5)], axis=0)
    # bicubic upsampling reads two source rows each side: where those are one cell, the colour is exact
    same_cell = np.all([(rows + dr - 2) // CELL == rows // CELL for dr in range(5)], axis=0)
    exact = window_covered & same_cell
    assert exact.sum() > 1500
    sampled = _sample_nearest(texture, arrays["uv"]).astype(int)
    expected = np.round(relief.albedo[rows, cols] * 255).astype(int)
    assert np.abs(sampled[exact] - expected[exact]).max() <= 1
    # near a cell's top or bottom edge the colour blends its own cell's with the one across that edge
    cells = np.round(_checker(96 + CELL, 128)[::CELL, ::CELL] * 255).astype(int)
    own = cells[rows // CELL, cols // CELL]
    across = cells[np.where(rows % CELL < CELL // 2, rows // CELL - 1, rows // CELL + 1), cols // CELL]
    slack = 0.1 * np.abs(own - across) + 2  # bicubic overshoot (at most about 7 %) and rounding
    lo, hi = np.minimum(own, across) - slack, np.maximum(own, across) + slack
    inside = ((sampled >= lo) & (sampled <= hi)).all(axis=1)
    assert inside[window_covered].all()


def test_glb_passes_the_validator(validate_glb, tmp_path):
    for material in ("unlit", "pbr"):
        path = tmp_path / f"relief_{material}.glb"
        asset = build_relief_asset(_sphere_relief(), material=material)
        path.write_bytes(asset.glb)
        report = validate_glb(path)
        assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0, report["issues"]["messages"]
        assert report["info"]["totalVertexCount"] == asset.stats.num_vertices
        assert report["info"]["totalTriangleCount"] == asset.stats.num_faces


def test_life_size_and_centring_follow_world_to_asset():
    frame = WorldFrame("z", 0.5)  # a rotation of -90 degrees about x and a scale of 0.5
    relief = _sphere_relief(world_to_asset=frame.world_to_asset())
    asset = build_relief_asset(relief)
    gltf, arrays, _ = _read_glb(asset.glb)
    positions = arrays["positions"].astype(np.float64)
    mesh = mesh_relief(relief)
    linear = frame.world_to_asset()[:3, :3]
    expected_extent = np.ptp(mesh.vertices.astype(np.float64) @ linear.T, axis=0)
    assert np.allclose(np.ptp(positions, axis=0), expected_extent, atol=1e-6)
    assert np.allclose(positions.min(axis=0), -positions.max(axis=0), atol=1e-6)  # centred on the box centre
    extras = gltf.asset.extras
    assert extras["scale"] == pytest.approx(0.5) and asset.stats.scale == pytest.approx(0.5)
    assert np.allclose((mesh.vertices - np.array(extras["center"])) @ linear.T, positions, atol=1e-6)
    # the same sphere in metres: the model-world cap's extent, times 0.5, with y and z swapped
    unscaled = mesh_relief(_sphere_relief())
    assert np.allclose(np.ptp(positions, axis=0), 0.5 * np.ptp(unscaled.vertices, axis=0)[[0, 2, 1]], atol=1e-6)
    assert asset.stats.height_m == pytest.approx(0.5 * np.ptp(unscaled.vertices[:, 2]), abs=1e-6)
    # winding and normals survive the rotation: face normals agree with vertex normals
    face_normals = _face_normals(positions, arrays["faces"].astype(np.int64))
    vertex_normals = arrays["normals"][arrays["faces"]].mean(axis=1)
    assert (np.einsum("ij,ij->i", face_normals, vertex_normals) > 0).all()


def test_a_mirroring_frame_keeps_faces_front_facing():
    mirror = np.diag([-2.0, 2.0, 2.0, 1.0])
    asset = build_relief_asset(_sphere_relief(world_to_asset=mirror))
    _, arrays, _ = _read_glb(asset.glb)
    face_normals = _face_normals(arrays["positions"], arrays["faces"].astype(np.int64))
    vertex_normals = arrays["normals"][arrays["faces"]].mean(axis=1)
    assert (np.einsum("ij,ij->i", face_normals, vertex_normals) > 0).all()
    assert np.allclose(np.linalg.norm(arrays["normals"], axis=1), 1, atol=1e-5)
    assert asset.stats.scale == pytest.approx(2.0)


def test_trimesh_loads_the_same_counts(tmp_path):
    asset = build_relief_asset(_sphere_relief())
    path = tmp_path / "relief.glb"
    path.write_bytes(asset.glb)
    loaded = trimesh.load(path, force="mesh", process=False)
    mesh = mesh_relief(_sphere_relief())
    assert len(loaded.vertices) == len(mesh.vertices) == asset.stats.num_vertices
    assert len(loaded.faces) == len(mesh.faces) == asset.stats.num_faces
    assert not loaded.is_watertight and not asset.stats.watertight


def test_stats_and_extras_describe_a_relief():
    stages = []
    relief = _sphere_relief(identity={"family": "unsup3d", "seed": 7})
    asset = build_relief_asset(relief, texture_size=256, metadata={"pose": [0.1, 0.0]},
                               progress=lambda stage, done, total: stages.append((stage, done, total)))
    stats = asset.stats
    assert (stats.num_queries, stats.num_dense_queries, stats.num_removed_components) == (0, 0, 0)
    assert stats.resolution == 128 and stats.level == 0.0 and stats.volume_m3 == 0.0
    assert stats.texture_size == 256 and stats.file_size == len(asset.glb)
    assert set(stats.seconds) == {"mesh", "texture", "write"}
    assert [stage for stage, _, _ in stages] == ["mesh", "texture", "write"]
    gltf, _, texture = _read_glb(asset.glb)
    assert texture.shape == (256, 256, 3)
    extras = gltf.asset.extras
    assert extras["source"] == "relief" and extras["family"] == "unsup3d" and extras["seed"] == 7
    assert extras["pose"] == [0.1, 0.0] and extras["resolution"] == 128 and extras["aware3d_version"]
    assert extras["camera"]["fov_deg"] == FOV_DEG
    assert gltf.nodes[0].name == "unsup3d_seed7"
    assert "KHR_materials_unlit" in gltf.extensionsUsed


def test_depth_jumps_cut_occlusion_edges():
    # no mask: a near plane on the left half, a far plane on the right, seen head-on
    height, width = 32, 40
    depth = np.where(np.arange(width)[None, :] < width // 2, 1.0, 1.5) * np.ones((height, 1))
    camera = Camera(cam2world=np.eye(4), fov_deg=30.0)
    relief = Relief(depth=depth.astype(np.float32), albedo=np.full((height, width, 3), 0.5, np.float32), camera=camera)
    whole = mesh_relief(relief, max_depth_jump=None)
    assert len(whole.faces) == 2 * (height - 1) * (width - 1)
    cut = mesh_relief(relief)
    assert len(cut.faces) == 2 * (height - 1) * (width - 2)  # the column of quads across the step is gone
    face_depths = -cut.vertices[cut.faces][:, :, 2]
    assert (np.ptp(face_depths, axis=1) < 1e-6).all()
    # both planes keep their exact depths
    assert np.allclose(np.unique(np.round(-cut.vertices[:, 2], 6)), [1.0, 1.5])


def test_empty_mask_raises():
    relief = _sphere_relief(mask=np.zeros((96, 128), dtype=bool))
    with pytest.raises(EmptySurfaceError, match="no 2x2 block of foreground pixels"):
        mesh_relief(relief)
    with pytest.raises(EmptySurfaceError, match="0 of 96x128 pixels"):
        build_relief_asset(relief)
    hit = _sphere_relief().mask
    scattered = hit & (np.add.outer(np.arange(96), np.arange(128)) % 2 == 0)  # no quad has four corners on
    with pytest.raises(EmptySurfaceError, match="no 2x2 block"):
        mesh_relief(_sphere_relief(mask=scattered))


def test_mismatched_shapes_raise():
    camera = _camera()
    with pytest.raises(ShapeError, match=r"albedo must be \[8,8,3\], got \[8, 7, 3\]"):
        Relief(depth=np.ones((8, 8), np.float32), albedo=np.zeros((8, 7, 3), np.float32), camera=camera)
    with pytest.raises(ShapeError, match=r"mask must be \[8,8\]"):
        Relief(depth=np.ones((8, 8), np.float32), albedo=np.zeros((8, 8, 3), np.float32), camera=camera,
               mask=np.ones((8, 9), bool))
    with pytest.raises(ShapeError, match=r"depth must be \[H,W\]"):
        Relief(depth=np.ones((8, 8, 1), np.float32), albedo=np.zeros((8, 8, 3), np.float32), camera=camera)


def test_bad_input_raises_one_clear_error():
    depth = np.ones((16, 16), np.float32)
    depth[3, 5] = np.nan
    relief = Relief(depth=depth, albedo=np.zeros((16, 16, 3), np.float32), camera=_camera())
    with pytest.raises(InputError, match="row 3, col 5"):
        mesh_relief(relief)
    masked = Relief(depth=depth, albedo=np.zeros((16, 16, 3), np.float32), camera=_camera(),
                    mask=np.isfinite(depth))
    assert len(mesh_relief(masked).faces) == 2 * (15 * 15 - 4)  # background depth may be NaN
    with pytest.raises(InputError, match="max_depth_jump"):
        mesh_relief(_sphere_relief(), max_depth_jump=-1.0)
    with pytest.raises(InputError, match="power of two"):
        build_relief_asset(_sphere_relief(), texture_size=100)
    with pytest.raises(InputError, match="material"):
        build_relief_asset(_sphere_relief(), material="toon")
    with pytest.raises(InputError, match="invertible"):
        build_relief_asset(_sphere_relief(world_to_asset=np.zeros((4, 4))))


def test_default_texture_size_is_the_next_power_of_two():
    shapes = ((64, 64), (96, 128), (100, 50), (3, 2), (256, 257), (9000, 10))
    assert [default_texture_size(h, w) for h, w in shapes] == [64, 128, 128, 16, 512, 4096]


def test_gutters_take_the_nearest_meshed_colour():
    albedo = np.zeros((16, 16, 3), np.float32)
    albedo[:, :8] = (1.0, 0.0, 0.0)
    covered = np.zeros((16, 16), bool)
    covered[:, :8] = True
    texture = relief_texture(albedo, covered, 16)
    assert (texture == (255, 0, 0)).all()  # the black background took the red of the meshed half


def test_same_relief_gives_identical_bytes():
    first = build_relief_asset(_sphere_relief(identity={"family": "liftedgan", "seed": 3}))
    second = build_relief_asset(_sphere_relief(identity={"family": "liftedgan", "seed": 3}))
    assert first.glb == second.glb
    other = build_relief_asset(_sphere_relief(identity={"family": "liftedgan", "seed": 4}))
    assert other.glb != first.glb


def test_export_glb_takes_a_relief_and_honours_or_refuses_each_setting(tmp_path, validate_glb):
    from aware3d.exporters import ExportSettings, export_glb
    from aware3d.settings import SettingsError

    relief = _sphere_relief(32, 32)
    out = tmp_path / "relief.glb"
    stats = export_glb(relief, out, ExportSettings(texture_size=64, material="pbr"))
    assert out.exists() and stats.texture_size == 64 and stats.num_faces > 0 and stats.num_queries == 0
    gltf = pygltflib.GLTF2().load(str(out))
    assert gltf.materials[0].extensions == {} and gltf.asset.extras["source"] == "relief"  # pbr: no unlit extension
    report = validate_glb(out)["issues"]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0
    # Settings that only shape field meshing are refused by name, not silently ignored.
    for key, value in (("resolution", 512), ("level", 3.0), ("vertex_colors", True), ("textured", False)):
        with pytest.raises(SettingsError, match=key) as caught:
            export_glb(relief, tmp_path / f"{key}.glb", **{key: value})
        assert caught.value.key == key and not (tmp_path / f"{key}.glb").exists()
