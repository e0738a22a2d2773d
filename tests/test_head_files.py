"""The head-planted official-format test files: each family's ``head=True`` builder gives a field
that meshes into one closed head whose silhouette matches the model's own previews, as trained
models' fields do (random weights give froth). They are what the fidelity and UV layout
requirements are measured on: cheaply at low settings, then at the export defaults."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import trimesh
from head_files import FIELD_FAMILIES, write_head_file

import aware3d
from aware3d.cameras import Pose, pose_to_camera
from aware3d.exporters import build_asset
from aware3d.models import cips3d, eg3d, graf, triplane
from aware3d.models.panohead import TRIPLANE_CROP
from aware3d.render import camera_rays, inside_bounds


@pytest.fixture(scope="module")
def head_file(tmp_path_factory):
    """A family's head file, written once per module."""
    folder = tmp_path_factory.mktemp("heads")
    written = {}

    def write(family: str):
        if family not in written:
            (folder / family).mkdir()
            written[family] = write_head_file(family, folder / family)
        return written[family]

    return write


@pytest.mark.parametrize("family", FIELD_FAMILIES)
def test_head_files_mesh_into_one_closed_head_like_their_previews(family, head_file):
    gen = aware3d.load_generator(head_file(family), device="cpu")
    asset = build_asset(gen.field(seed=1), generator=gen, resolution=64, texture_size=128, target_faces=5000, fidelity=True,
                        fidelity_poses=3, fidelity_size=48)
    mesh = trimesh.load(trimesh.util.wrap_as_stream(asset.glb), file_type="glb", force="mesh")
    mesh.merge_vertices(merge_tex=True, merge_norm=True)  # the GLB splits vertices along UV seams
    parts = mesh.split(only_watertight=False)
    assert len(parts) == 1 and mesh.is_watertight, f"{len(parts)} parts"
    assert asset.stats.level_source == ("model" if family == "gram" else "auto")  # GRAM's manifold level is its own
    assert asset.stats.num_removed_components == 0
    assert asset.stats.fidelity["iou"] >= 0.9, asset.stats.fidelity
    assert 0.1 < asset.stats.height_m < 0.4  # life-size
    assert np.isfinite(asset.stats.fidelity["depth_mm"])


@pytest.mark.parametrize("family", FIELD_FAMILIES)
def test_at_the_defaults_every_family_gives_an_artist_atlas_and_its_previews_outline(family, head_file):
    """The export defaults (256^3, 50k faces, a 1024^2 texture, the automatic or the model's level)
    on each family's head file: a UV layout an artist can work with, and a silhouette within 0.95
    IoU of the model's own previews at the 5 default poses (compared at 128 px to keep CI short)."""
    gen = aware3d.load_generator(head_file(family), device="cpu")
    asset = build_asset(gen.field(seed=0), generator=gen, fidelity=True, fidelity_size=128, uv_report=True)
    layout = asset.stats.uv_layout
    assert asset.stats.num_faces > 45_000 and asset.stats.watertight
    assert layout["num_charts"] <= 40 and layout["front_charts"] == 1 and layout["front_seam_m"] == 0.0, layout
    assert layout["seam_length_m"] <= 3.0, layout
    assert 0.75 <= layout["density_low"] <= layout["density_high"] <= 1.25, layout
    assert layout["utilisation"] >= 0.65, layout
    assert asset.stats.fidelity["iou"] >= 0.95, asset.stats.fidelity
    assert len(asset.stats.fidelity["poses"]) == 5


def test_a_panohead_head_is_one_closed_head_textured_from_every_side(head_file):
    """PanoHead's full head: one closed component, life-size and upright, and with ``--bake views``
    (the model's final images from the whole circle) its asset matches the model's previews in
    outline and colour at four poses round the head, back of the head included."""
    gen = aware3d.load_generator(head_file("panohead"), device="cpu")
    asset = build_asset(gen.field(seed=0), generator=gen, resolution=128, texture_size=256, target_faces=10_000, bake_mode="views",
                        fidelity=True, fidelity_poses=4, fidelity_size=64)
    mesh = trimesh.load(trimesh.util.wrap_as_stream(asset.glb), file_type="glb", force="mesh")
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    assert len(mesh.split(only_watertight=False)) == 1 and mesh.is_watertight
    assert 0.2 < asset.stats.height_m < 0.35 and np.argmax(mesh.extents) == 1  # life-size, y-up
    poses = asset.stats.fidelity["poses"]
    assert max(abs(pose["yaw"]) for pose in poses) > 2.0  # the back is compared too
    for pose in poses:
        assert pose["iou"] >= 0.93 and pose["psnr_db"] >= 20.0, pose


@pytest.mark.parametrize("family", FIELD_FAMILIES)
def test_the_volume_renderer_shares_its_own_samples(family, head_file):
    """``volume_samples`` is the model's volume renderer (its opacity and depth are the preview's; the
    tri-plane families' at their neural-rendering resolution, before super-resolution) and hands over
    the field's density at the points it sampled, sorted along each ray and 0 outside the meshing box:
    the automatic level then needs no second pass through the model. A subset of pixels renders
    those pixels' rays alone."""
    gen = aware3d.load_generator(head_file(family), device="cpu")
    field, pose = gen.field(seed=0), Pose(yaw=0.3)
    size = getattr(gen, "neural_rendering_resolution", 24)
    samples = gen.volume_samples(field, pose, size)
    preview = gen.render_result(field, pose, size)
    opaque = samples.alpha > 0.5
    assert torch.allclose(samples.alpha, preview.alpha.reshape(-1), atol=1e-5)
    assert torch.allclose(samples.depth[opaque], preview.depth.reshape(-1)[opaque], rtol=1e-5, atol=1e-5)
    assert opaque.float().mean() > 0.1
    assert bool((samples.depths[:, 1:] >= samples.depths[:, :-1]).all())

    origins, dirs = _renderer_rays(gen, field, pose, size)
    points = origins[:, None] + dirs[:, None] * samples.depths[..., None]
    inside = inside_bounds(points, field.bounds)
    if family == "panohead":  # its renderer sees no density in the crop along the box's side walls
        inside &= (points[..., [0, 2]].abs() <= field.box_warp / 2 - TRIPLANE_CROP).all(dim=-1)
    assert inside.float().mean() > 0.3
    # Points rebuilt here differ from the renderer's by float rounding (~1e-6), which GRAF's positional encoding amplifies.
    density = field.query_density(points[inside])
    assert torch.allclose(samples.density[inside], density, rtol=1e-3, atol=1e-3 * float(density.max()))
    assert not samples.density[~inside_bounds(points, field.bounds)].any()

    some = torch.tensor([5, size * size // 2, size * size - 1])
    subset = gen.volume_samples(field, pose, size, some)
    assert torch.allclose(subset.alpha, samples.alpha[some], atol=1e-6) and torch.allclose(subset.density, samples.density[some], atol=1e-5)


def _renderer_rays(gen, field, pose: Pose, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The rays each family's renderer casts through a size^2 image: origins, unit directions [R,3]."""
    camera = pose_to_camera(pose, gen.camera)
    if gen.family == "graf":
        origin, dirs, _ = graf._graf_rays(field, camera, size)
        return origin.expand_as(dirs), torch.nn.functional.normalize(dirs, dim=-1)
    if gen.family == "cips3d":
        origin, dirs, _ = cips3d._cips3d_rays(field, camera, size)
        return origin.expand_as(dirs), dirs
    if gen.family in ("eg3d", "panohead"):
        return triplane.camera_rays(*eg3d._opencv_camera(camera), size)
    return camera_rays(camera, size, size)
