"""PanoHead: official-format snapshots load through the EG3D safe reader and aware3d's inference equals
the official algorithm (:mod:`panohead_official`, a literal re-implementation written in the tests)."""

from __future__ import annotations

import math

import panohead_official as official
import pytest
import torch
import trimesh
from support import glb_extras

import aware3d
from aware3d.app.cli import main
from aware3d.cameras import Pose, pose_to_eg3d_angles
from aware3d.models import inspect_checkpoint, panohead

RELEASES = ("easy-khair-180-gpc0.8-trans10-025000", "ablation-trigridD-1-025000")


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = {}
    for name in RELEASES:
        folder = tmp_path_factory.mktemp("panohead")
        model = official.make_generator(name, canary=str(folder / "CANARY"))
        path = folder / f"{name}.pkl"
        official.save_snapshot(path, model)
        out[name] = (model, path, aware3d.load_generator(path, device="cpu"))
    return out


def _z(gen, seed=1):
    return torch.randn(gen.z_dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", RELEASES)
@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_field_equals_the_official_sample(released, name, psi):
    model, _, gen = released[name]
    z = _z(gen)
    label = gen.conditioning_label(None)[None]
    field = gen.field(z=z, truncation=psi)
    points = (torch.rand(3000, 3, generator=torch.Generator().manual_seed(2)) - 0.5) * 1.1
    ours = field.query(points)
    with torch.no_grad():
        ref = model.sample(points[None], torch.zeros(1, len(points), 3), z[None], label, truncation_psi=psi, noise_mode="const")
        ws = model.mapping(z[None], label, truncation_psi=psi)
        colour = official.point_colour(model, ref["rgb"], ws)[0]
    sigma = ref["sigma"][0, :, 0]
    assert (sigma > 10).any() and (sigma < 10).any()
    torch.testing.assert_close(ours.raw_density, sigma, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.features, ref["rgb"][0], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.rgb, colour, rtol=0, atol=1e-4)
    torch.testing.assert_close(field.query_density(points), ours.density, rtol=1e-5, atol=1e-4)


def test_detected_as_panohead_with_depth_and_nothing_runs(released, capsys):
    for name, depth in zip(RELEASES, (3, 1)):
        _, path, gen = released[name]
        info = inspect_checkpoint(path)
        assert info.family == "panohead" and info.loadable and f"tri-grid depth {depth}" in info.variant
        assert gen.family == "panohead" and gen.info["triplane_depth"] == depth
        assert main(["info", str(path)]) == 0 and "family    panohead" in capsys.readouterr().out
        assert not (path.parent / "CANARY").exists()


def test_previews_from_every_side_are_deterministic_and_close_to_official_renders(released):
    model, _, gen = released[RELEASES[0]]
    z = _z(gen, 4)
    field = gen.field(z=z, truncation=0.7)
    back = gen.render(field, Pose(yaw=3.14), size=32)
    assert back.shape == (32, 32, 3) and (back == gen.render(field, Pose(yaw=3.14), size=32)).all()
    pose = Pose(yaw=-0.8, pitch=0.2)
    h, v = pose_to_eg3d_angles(pose)
    label = gen.conditioning_label(None)[None]
    camera = torch.cat([official.eg3d.lookat_cam2world(h, v, [0, 0, 0], gen.camera.radius).reshape(1, 16), label[:, 16:]], 1)
    ours = gen.synthesize(field, camera[0, :16].view(4, 4), camera[0, 16:].view(3, 3), offset=False)
    with torch.no_grad():
        renders = []
        for seed in (0, 1):
            torch.manual_seed(seed)
            renders.append(model.synthesis(field.ws, camera, noise_mode="const"))
    spread = (renders[0]["image_raw"] - renders[1]["image_raw"]).abs().mean().item()
    assert (ours["image_raw"] - renders[0]["image_raw"]).abs().mean().item() < max(0.01, 1.5 * spread)
    assert (ours["image"] - renders[0]["image"]).abs().mean().item() < max(0.01, 1.5 * (renders[0]["image"] - renders[1]["image"]).abs().mean().item())
    # the camera offset G.forward applies (gen_videos.py renders without it) comes from t_mapping with psi 1
    with torch.no_grad():
        _, delta = model.apply_delta_c(z[None], label, truncation_psi=1.0)
    torch.testing.assert_close(field.camera_offset, delta[0], rtol=1e-5, atol=1e-5)
    assert math.isfinite(float(field.camera_offset.abs().sum()))


def test_generate_writes_a_valid_glb(released, tmp_path, validate_glb):
    _, path, _ = released[RELEASES[1]]
    out = tmp_path / "head.glb"
    assert main(["generate", "--checkpoint", str(path), "--seed", "3", "--resolution", "64", "--texture-size", "128", "-o", str(out)]) == 0
    report = validate_glb(out)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0
    extras = glb_extras(out)
    assert extras["family"] == "panohead" and extras["scale"] == pytest.approx(panohead.FRAME.metres_per_unit)
    assert len(trimesh.load(out, force="mesh").faces) > 100
    assert not (path.parent / "CANARY").exists()


def test_views_and_fidelity_go_round_the_whole_head(released, tmp_path, validate_glb):
    """PanoHead's view bake renders the back of the head too, and its fidelity poses circle it."""
    from aware3d.exporters import build_asset, viewbake

    _, path, gen = released[RELEASES[1]]
    yaws = sorted(p.yaw for p in viewbake.view_poses(gen.full_circle) if p.pitch == 0)
    assert gen.full_circle and len(yaws) == 8 and max(abs(y) for y in yaws) == pytest.approx(math.pi)
    seen = []
    real_render = gen.render_result

    def render(field, pose, size=256, *args, **kwargs):
        seen.append((round(pose.yaw, 4), size))
        return real_render(field, pose, size, *args, **kwargs)

    gen.render_result, image_size = render, gen.image_size
    gen.image_size = 32
    try:
        asset = build_asset(gen.field(seed=3), generator=gen, resolution=64, texture_size=64, target_faces=3000, level=9.0,
                            bake_mode="views", fidelity=True, fidelity_poses=4, fidelity_size=32)
    finally:
        del gen.render_result
        gen.image_size = image_size
    fidelity_yaws = [p["yaw"] for p in asset.stats.fidelity["poses"]]
    assert fidelity_yaws == pytest.approx([-3 * math.pi / 4, -math.pi / 4, math.pi / 4, 3 * math.pi / 4], abs=1e-4)
    assert {yaw for yaw, size in seen if size == 32} >= {round(y, 4) for y in yaws}  # every view rendered, the back included
    out = tmp_path / "views.glb"
    out.write_bytes(asset.glb)
    report = validate_glb(out)["issues"]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0
