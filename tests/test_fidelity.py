"""Fidelity measures, the automatic level and view bakes (exporters.fidelity, .level, .viewbake, .raycast)."""

import json
import math

import numpy as np
import official_formats as of
import pytest
import torch
import trimesh

import aware3d
from aware3d.app.cli import main
from aware3d.cameras import Pose, pose_to_camera
from aware3d.errors import EmptySurfaceError, InputError
from aware3d.exporters import build_asset, fidelity, level, viewbake
from aware3d.exporters.raycast import MeshRaycaster, TexturedMesh, render_mesh, sample_texture
from aware3d.models import demo


@pytest.fixture(scope="module")
def demo_gen():
    return aware3d.load_generator(None, "demo", "cpu")


def test_fidelity_poses_span_the_front_or_the_whole_circle():
    poses = fidelity.fidelity_poses()
    assert len(poses) == 5 and len({(p.yaw, p.pitch) for p in poses}) == 5
    assert min(p.yaw for p in poses) == -0.5 and max(p.yaw for p in poses) == 0.5
    assert max(abs(p.pitch) for p in poses) <= 0.2 + 1e-12 and max(abs(p.pitch) for p in poses) > 0.15
    circle = sorted(p.yaw for p in fidelity.fidelity_poses(full_circle=True))
    assert np.allclose(np.diff(circle), 2 * math.pi / 5) and circle[0] > -math.pi and circle[-1] < math.pi
    held_out = {(round(p.yaw, 6), round(p.pitch, 6)) for full in (False, True) for p in fidelity.fidelity_poses(full_circle=full)}
    baked = {(round(p.yaw, 6), round(p.pitch, 6)) for full in (False, True) for p in viewbake.view_poses(full)}
    assert not held_out & baked  # the default fidelity poses are never baked from
    with pytest.raises(InputError):
        fidelity.fidelity_poses(0)


def test_ray_casting_meets_a_sphere_where_geometry_says():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.1)
    caster = MeshRaycaster(sphere.vertices, sphere.faces)
    origins = np.tile([[0.0, 0.0, 1.0]], (3, 1))
    dirs = np.array([[0.0, 0.0, -1.0], [0.05, 0.0, -1.0], [0.5, 0.0, -1.0]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    hits = caster.cast(origins, dirs)
    assert hits.hit.tolist() == [True, True, False] and hits.face[2] == -1 and math.isinf(hits.distance[2])
    assert hits.distance[0] == pytest.approx(0.9, abs=2e-4)
    # The barycentric weights put the hit on the face it reports.
    points = origins[:2] + dirs[:2] * hits.distance[:2, None]
    on_face = np.einsum("rk,rkd->rd", hits.barycentric[:2], sphere.vertices[sphere.faces[hits.face[:2]]])
    assert np.allclose(points, on_face, atol=1e-5)


def test_texture_lookup_is_bilinear_between_texel_centres():
    texture = np.array([[[0, 0, 0], [255, 255, 255]], [[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    at_centres = sample_texture(texture, np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75]]))
    assert np.allclose(at_centres, [[0, 0, 0], [1, 1, 1], [1, 0, 0]])
    assert np.allclose(sample_texture(texture, np.array([[0.5, 0.5]])), [[0.5, 0.25, 0.5]])


def test_an_asset_renders_like_the_demo_and_a_wrong_level_is_caught(demo_gen):
    """The demo asset matches its previews (IoU >= 0.95); one meshed at a wrong level measurably does not."""
    field = demo_gen.field(seed=7)
    poses = fidelity.fidelity_poses(3)
    figures = {}
    for name, lvl in (("right", None), ("wrong", demo.DEFAULT_LEVEL * 40)):
        asset = build_asset(field, generator=demo_gen, resolution=128, texture_size=256, target_faces=8000, level=lvl,
                            fidelity=True, fidelity_poses=3, fidelity_size=80)
        figures[name] = asset.stats.fidelity
        assert [(p["yaw"], p["pitch"]) for p in figures[name]["poses"]] == [(round(p.yaw, 4), round(p.pitch, 4)) for p in poses]
    right, wrong = figures["right"], figures["wrong"]
    assert right["iou"] >= 0.95 and right["depth_mm"] < 2.0 and right["psnr_db"] > 25
    assert wrong["depth_mm"] > right["depth_mm"] + 1.0 and wrong["iou"] < right["iou"]


def test_the_mesh_render_matches_a_volume_render_of_a_sphere(sphere_field):
    """Ray casting a sphere's mesh and volume-rendering the sphere field agree on silhouette and depth."""
    from aware3d.render import RenderSettings, render_image

    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.1)
    mesh = TexturedMesh(sphere.vertices.astype(np.float32), sphere.faces.astype(np.int32),
                        np.zeros((len(sphere.vertices), 2), np.float32), np.full((4, 4, 3), 128, np.uint8))
    camera = pose_to_camera(Pose(yaw=0.3), demo.CAMERA)
    ours = render_mesh(mesh, camera, 64)
    volume = render_image(sphere_field, camera, 64, RenderSettings(num_coarse=96, num_fine=96))
    silhouette = volume.alpha.numpy() >= 0.5
    assert (ours.hit & silhouette).sum() / (ours.hit | silhouette).sum() > 0.97
    shared = ours.hit & silhouette
    assert np.abs(ours.depth[shared] - volume.depth.numpy()[shared]).mean() < 2e-3
    assert np.allclose(ours.rgb[ours.hit], 128 / 255)


def test_auto_level_on_the_demo_lands_on_its_analytic_level(demo_gen):
    field = demo_gen.field(seed=7)
    search = level.search_level(demo_gen, field, 256, hint=demo.DEFAULT_LEVEL)
    assert abs(search.level / demo.DEFAULT_LEVEL - 1) < 0.05 and search.iou > 0.95
    unhinted = level.search_level(demo_gen, field, 256)
    low, high = unhinted.plateau
    assert low <= demo.DEFAULT_LEVEL * 1.01 and high > demo.DEFAULT_LEVEL  # the analytic level is among the best without a hint
    assert low <= unhinted.level <= high


def test_auto_level_is_the_default_for_learned_families_and_reported(tmp_path, capsys):
    path = of.save_pigan(tmp_path)
    gen = aware3d.load_generator(path, device="cpu")
    field = gen.field(seed=1)
    auto = build_asset(field, generator=gen, resolution=64, texture_size=64, target_faces=2000)
    assert auto.stats.level_source == "auto" and auto.stats.level == pytest.approx(auto.stats.level_search["level"], rel=1e-6)
    again = build_asset(field, generator=gen, resolution=64, texture_size=64, target_faces=2000)
    assert again.glb == auto.glb  # deterministic
    fixed = build_asset(field, generator=gen, resolution=64, texture_size=64, target_faces=2000, level=auto.stats.level)
    assert fixed.stats.level_source == "given" and fixed.stats.level_search is None
    # Without the generator the documented pi-GAN level (30) is used, which this random-weight file never reaches.
    with pytest.raises(EmptySurfaceError, match="no surface at density level 30"):
        build_asset(field, resolution=64, texture_size=64, target_faces=2000)
    with pytest.raises(InputError, match="generator"):
        build_asset(field, level="auto", resolution=64)

    out = tmp_path / "p.glb"
    args = ["generate", "--checkpoint", str(path), "--resolution", "64", "--texture-size", "64", "--faces", "2000", "-o", str(out)]
    assert main([*args, "--level", "auto", "--report", "--fidelity-poses", "2", "--fidelity-size", "32"]) == 0
    text = capsys.readouterr().out
    assert "(auto: silhouette IoU" in text and "fidelity vs the model's previews at (yaw, pitch) (-0.50, +0.00), (+0.50, +0.00)" in text
    assert "\nUV layout: " in text and " charts, the face " in text  # --report measures the atlas too
    assert main([*args, "--level", "0.05", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["level"] == 0.05 and stats["level_source"] == "given" and stats["fidelity"] is None
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--level", "high"])
    assert exit_info.value.code == 2 and "expected a number or auto, got 'high'" in capsys.readouterr().err


@pytest.mark.parametrize("family", ["cips3d", "eg3d"])
def test_auto_level_is_no_worse_than_the_documented_one_on_test_files(family, tmp_path):
    """On random-weight test files the searched level's asset agrees with the previews at least as
    well as the family's documented level's (silhouette IoU, 3 held-out poses)."""
    import cips3d_official
    import eg3d_official

    if family == "pigan":
        path = of.save_pigan(tmp_path)
    elif family == "cips3d":
        path = tmp_path / "G_ema.pth"
        cips3d_official.save_g_ema(path, cips3d_official.make_generator(seed=0, **cips3d_official.SMALL))
    else:
        path = tmp_path / "ffhq512-128.pkl"
        eg3d_official.save_snapshot(path, eg3d_official.make_generator("ffhq512-128", sr_width_scale=0.25))
    gen = aware3d.load_generator(path, device="cpu")
    field = gen.field(seed=1)
    common = {"generator": gen, "resolution": 64, "texture_size": 64, "target_faces": 3000, "fidelity": True,
              "fidelity_poses": 3, "fidelity_size": 48}
    auto = build_asset(field, level="auto", **common).stats.fidelity
    documented = build_asset(field, level=float(field.default_level), **common).stats.fidelity
    assert auto["iou"] >= documented["iou"] - 0.01


def test_view_bake_is_at_least_as_close_to_held_out_previews(demo_gen):
    """--bake views on the demo: colour PSNR at the held-out fidelity poses is not worse than the field bake's."""
    gen = aware3d.load_generator(None, "demo", "cpu")
    gen.image_size = 128  # cheaper views for the test
    field = gen.field(seed=3)
    common = {"generator": gen, "resolution": 128, "texture_size": 256, "target_faces": 8000, "fidelity": True,
              "fidelity_poses": 3, "fidelity_size": 96}
    surface = build_asset(field, bake_mode="surface", **common).stats
    views = build_asset(field, bake_mode="views", **common).stats
    assert views.bake == "views" and "views" not in surface.seconds
    assert views.fidelity["psnr_db"] >= surface.fidelity["psnr_db"] - 0.05
    assert views.fidelity["iou"] == surface.fidelity["iou"]  # same mesh, only the colour differs


def test_views_blend_keeps_the_field_colour_where_no_view_sees(demo_gen):
    """Points facing away from every view, or hidden behind the mesh, keep the fallback colour exactly."""
    field = demo_gen.field(seed=1)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.05)
    caster = MeshRaycaster(sphere.vertices, sphere.faces)
    points = np.array([[0.0, 0.0, -0.05], [0.0, 0.0, 0.05]], dtype=np.float32)  # the back and the front pole
    normals = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]], dtype=np.float32)
    fallback = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]], dtype=np.float32)
    colour = viewbake.colour_from_views(demo_gen, field, points, normals, fallback, caster, 1e-3,
                                        poses=[Pose(), Pose(yaw=0.3)], size=32)
    assert np.allclose(colour[0], fallback[0], atol=1e-6)
    assert not np.allclose(colour[1], fallback[1], atol=1e-2)
    assert torch.isfinite(torch.from_numpy(colour)).all()


def test_view_bakes_are_deterministic_and_need_the_generator(tmp_path, validate_glb):
    path = of.save_pigan(tmp_path)
    gen = aware3d.load_generator(path, device="cpu")
    gen.image_size = 32
    field = gen.field(seed=2)
    common = {"resolution": 64, "texture_size": 64, "target_faces": 2000, "bake_mode": "views", "level": 0.05}
    first = build_asset(field, generator=gen, **common)
    assert build_asset(field, generator=gen, **common).glb == first.glb
    assert build_asset(field, generator=gen, **{**common, "bake_mode": "surface"}).glb != first.glb
    out = tmp_path / "views.glb"
    out.write_bytes(first.glb)
    report = validate_glb(out)["issues"]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0
    with pytest.raises(InputError, match="bake_mode='views'.*generator"):
        build_asset(field, **common)
