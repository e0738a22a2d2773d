"""EG3D: official-format snapshots load safely and aware3d's inference equals the official algorithm.

"The official code" here is :mod:`tests.eg3d_official`: stand-ins with NVIDIA's class names and
state layout whose forward passes follow the official algorithms literally (slow reference paths:
zero-insertion upsampling with flipped convolutions, non-fused modulation, the jittered renderer).
aware3d runs its own implementation from the pickled records (transposed convolutions, fused
grouped modulation, a deterministic renderer), so agreement is between two different computations.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest
import torch
import trimesh
from eg3d_official import DROP, front_camera, lookat_cam2world, make_generator, save_snapshot
from support import glb_extras, serve_lines

import aware3d
from aware3d.app.cli import main
from aware3d.cameras import Pose, pose_to_eg3d_angles
from aware3d.errors import CheckpointError, InputError
from aware3d.models import eg3d, inspect_checkpoint

VARIANTS = ("ffhq512-128", "ffhq512-64", "afhqcats512-128", "shapenetcars128-64", "ffhq256-128-4x", "ffhq512-8x")
SUPERRESOLUTION = {"ffhq512-128": "SuperresolutionHybrid8XDC", "ffhq512-64": "SuperresolutionHybrid8XDC",
                   "afhqcats512-128": "SuperresolutionHybrid8XDC", "shapenetcars128-64": "SuperresolutionHybrid2X",
                   "ffhq256-128-4x": "SuperresolutionHybrid4X", "ffhq512-8x": "SuperresolutionHybrid8X"}


def _snapshot(tmp_path_factory, variant, **kwargs):
    folder = tmp_path_factory.mktemp(variant)
    official = make_generator(variant, canary=str(folder / "CANARY"), **kwargs)
    path = folder / f"{variant}.pkl"
    save_snapshot(path, official)
    return official, path


_LOADED: dict[str, tuple] = {}


def _released(tmp_path_factory, variant):
    if variant not in _LOADED:
        official, path = _snapshot(tmp_path_factory, variant)
        _LOADED[variant] = (variant, official, path, aware3d.load_generator(path, device="cpu"))
    return _LOADED[variant]


@pytest.fixture(scope="module", params=VARIANTS)
def released(request, tmp_path_factory):
    """Every released configuration (and the two other super-resolution classes), official widths."""
    return _released(tmp_path_factory, request.param)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """ffhq512-128 with narrower super-resolution (cheap previews) for the CLI, worker and asset tests."""
    official, path = _snapshot(tmp_path_factory, "ffhq512-128", sr_width_scale=0.25)
    return official, path


def _latent(seed, z_dim):
    return torch.randn(z_dim, generator=torch.Generator().manual_seed(seed))


# --- faithful inference -----------------------------------------------------------------------


@pytest.mark.parametrize("psi, cutoff", [(1.0, None), (0.7, None), (0.5, 6)])
def test_field_equals_the_official_sample(released, psi, cutoff):
    """raw sigma, density softplus(sigma - 1), the 32 features and rgb equal ``G.sample`` within 1e-4."""
    variant, official, _, gen = released
    gen.truncation_cutoff = cutoff
    z = _latent(3, gen.z_dim)
    label = front_camera(official)
    field = gen.field(z=z, truncation=psi, conditioning=label[0])
    box = float(official.rendering_kwargs["box_warp"])
    points = (torch.rand(4000, 3, generator=torch.Generator().manual_seed(1)) - 0.5) * 1.2 * box  # some outside the planes
    ours = field.query(points)
    with torch.no_grad():
        ref = official.sample(points[None], torch.zeros(1, len(points), 3), z[None], label, truncation_psi=psi,
                              truncation_cutoff=cutoff, noise_mode="const")
    sigma, features = ref["sigma"][0, :, 0], ref["rgb"][0]
    assert (sigma > eg3d.RAW_LEVEL).any() and (sigma < 0).any()  # a field worth comparing: the level crossed, empty space
    torch.testing.assert_close(ours.raw_density, sigma, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.density, torch.nn.functional.softplus(sigma - 1), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.features, features, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.rgb, features[:, :3].clamp(0, 1), rtol=0, atol=1e-5)
    torch.testing.assert_close(field.query_density(points), ours.density, rtol=1e-5, atol=1e-4)  # the sigma-only path
    gen.truncation_cutoff = None


@pytest.mark.parametrize("variant", ["ffhq512-128", "shapenetcars128-64", "ffhq256-128-4x", "ffhq512-8x"])  # one per class
def test_superresolution_equals_the_official_network(variant, tmp_path_factory):
    _, official, _, gen = _released(tmp_path_factory, variant)
    assert gen.superresolution.kind == SUPERRESOLUTION[variant]
    n = official.neural_rendering_resolution
    rng = torch.Generator().manual_seed(2)
    features = torch.randn(1, 32, n, n, generator=rng)
    ws = torch.randn(1, 14, 512, generator=rng)
    with torch.no_grad():  # clones: the official NoUp block (2X, 4X) adds to its image argument in place
        expected = official.superresolution(features[:, :3].clone(), features.clone(), ws, noise_mode="none")
    ours = gen.superresolution(features[:, :3], features, ws, "none")
    assert ours.shape == expected.shape == (1, 3, official.img_resolution, official.img_resolution)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-4)


def test_every_device_gives_the_cpu_field(small, device):
    _, path = small
    cpu = aware3d.load_generator(path, device="cpu").field(seed=5)
    here = aware3d.load_generator(path, device=device).field(seed=5)
    points = torch.rand(3000, 3, generator=torch.Generator().manual_seed(3)) - 0.5
    expected, ours = cpu.query(points), here.query(points)
    assert ours.raw_density.device.type == device.type
    torch.testing.assert_close(ours.raw_density.cpu(), expected.raw_density, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(ours.features.cpu(), expected.features, rtol=0, atol=1e-4)


def test_the_backbone_runs_once_per_identity(small, monkeypatch):
    _, path = small
    gen = aware3d.load_generator(path, device="cpu")
    calls = []
    forward = gen.synthesis.forward
    monkeypatch.setattr(gen.synthesis, "forward", lambda *a, **k: calls.append(1) or forward(*a, **k))
    field = gen.field(seed=1)
    for _ in range(3):
        field.query(torch.rand(70_000, 3) - 0.5)  # two chunks each
    assert len(calls) == 1


def test_previews_are_deterministic_and_as_close_to_the_official_render_as_two_official_renders(small):
    official, path = small
    gen = aware3d.load_generator(path, device="cpu")
    z = _latent(4, gen.z_dim)
    field = gen.field(z=z, truncation=0.7)
    camera = front_camera(official, yaw=0.3)
    ours = gen.synthesize(field, camera[0, :16].view(4, 4), camera[0, 16:].view(3, 3))
    again = gen.synthesize(field, camera[0, :16].view(4, 4), camera[0, 16:].view(3, 3))
    assert torch.equal(ours["image"], again["image"])
    with torch.no_grad():
        renders = []
        for seed in (0, 1):
            torch.manual_seed(seed)  # the official renderer jitters its samples
            renders.append(official.synthesis(field.ws, camera, noise_mode="const"))
    official_spread = (renders[0]["image_raw"] - renders[1]["image_raw"]).abs().mean().item()
    ours_vs_official = (ours["image_raw"] - renders[0]["image_raw"]).abs().mean().item()
    assert ours_vs_official < 0.01 and ours_vs_official < 1.5 * official_spread, (ours_vs_official, official_spread)
    final = (ours["image"] - renders[0]["image"]).abs().mean().item()
    assert final < 0.01 + (renders[0]["image"] - renders[1]["image"]).abs().mean().item()
    assert ours["image"].shape == (1, 3, 512, 512) and ours["image_raw"].shape == (1, 3, 128, 128)


# --- cameras, conditioning, seeds --------------------------------------------------------------


def test_default_conditioning_is_gen_samples_camera_with_the_training_focal(small):
    official, path = small
    gen = aware3d.load_generator(path, device="cpu")
    options = official.rendering_kwargs
    expected = lookat_cam2world(math.pi / 2, math.pi / 2, options["avg_camera_pivot"], options["avg_camera_radius"])[0]
    label = gen.conditioning_label(None)
    torch.testing.assert_close(label[:16].view(4, 4), expected, rtol=0, atol=1e-6)
    assert label[16] == pytest.approx(eg3d.CONDITIONING_FOCAL) and label[20] == pytest.approx(eg3d.CONDITIONING_FOCAL)
    assert label[16 + 2] == 0.5 and label[16 + 5] == 0.5 and label[24] == 1
    for pose in (Pose(yaw=0.4, pitch=-0.2), Pose(yaw=-0.9, pitch=0.3, fov=18)):
        h, v = pose_to_eg3d_angles(pose)
        torch.testing.assert_close(gen.conditioning_label(pose)[:16].view(4, 4),
                                   lookat_cam2world(h, v, options["avg_camera_pivot"], options["avg_camera_radius"])[0], rtol=0, atol=1e-5)
    assert gen.conditioning_label(Pose(fov=18))[16] == pytest.approx(4.4652, abs=1e-3)  # gen_samples.py's int fov
    torch.testing.assert_close(gen.conditioning_label(label.tolist()), label)
    with pytest.raises(InputError, match="25 finite floats"):
        gen.field(seed=0, conditioning=[0.0] * 24)
    with pytest.raises(InputError, match="a Pose or 25 floats"):
        gen.field(seed=0, conditioning="front")


def test_seeds_draw_z_as_the_official_scripts(small):
    _, path = small
    gen = aware3d.load_generator(path, device="cpu")
    field = gen.field(seed=3, truncation=1.0)
    direct = gen.field(z=torch.from_numpy(np.random.RandomState(3).randn(gen.z_dim)), truncation=1.0)
    assert torch.equal(field.planes, direct.planes) and field.identity["seed"] == 3
    with pytest.raises(InputError, match="below 2\\*\\*32"):
        gen.field(seed=2**40)


def test_preview_camera_is_lookat_pose_sampler(small):
    """The preview's rays come from the same OpenCV cam2world and intrinsics as EG3D's label."""
    official, path = small
    gen = aware3d.load_generator(path, device="cpu")
    camera = aware3d.cameras.pose_to_camera(Pose(yaw=0.3, pitch=0.1), gen.camera)
    h, v = pose_to_eg3d_angles(Pose(yaw=0.3, pitch=0.1))
    options = official.rendering_kwargs
    expected = lookat_cam2world(h, v, options["avg_camera_pivot"], options["avg_camera_radius"])[0].double().numpy()
    np.testing.assert_allclose(camera.cam2world @ np.diag([1.0, -1, -1, 1]), expected, atol=1e-5)


# --- loading, info, bad input ------------------------------------------------------------------


def test_load_detects_eg3d_and_info_names_the_variant(released, capsys):
    variant, official, path, gen = released
    assert gen.family == "eg3d" and gen.z_dim == official.z_dim
    assert gen.neural_rendering_resolution == official.neural_rendering_resolution
    assert gen.info["superresolution"] == SUPERRESOLUTION[variant] and gen.info["img_resolution"] == official.img_resolution
    assert gen.camera.radius == official.rendering_kwargs["avg_camera_radius"]
    assert gen.camera.pivot == tuple(official.rendering_kwargs["avg_camera_pivot"]) and gen.camera.centre == (0.0, 0.0, 0.0)
    info = inspect_checkpoint(path)
    assert info.family == "eg3d" and info.loadable and SUPERRESOLUTION[variant] in info.variant
    assert f"neural rendering {official.neural_rendering_resolution}" in info.variant and "code " in info.variant
    assert main(["info", str(path)]) == 0
    assert "loadable  yes" in capsys.readouterr().out
    assert not (path.parent / "CANARY").exists()


def test_nothing_embedded_runs_for_load_info_preview_generate(small, tmp_path):
    _, path = small
    canary = path.parent / "CANARY"
    aware3d.load_generator(path, device="cpu")
    assert main(["info", str(path)]) == 0
    assert main(["preview", "--checkpoint", str(path), "--size", "64", "-o", str(tmp_path / "p.png")]) == 0
    assert main(["generate", "--checkpoint", str(path), "--resolution", "64", "--texture-size", "64", "-o", str(tmp_path / "g.glb")]) == 0
    assert (tmp_path / "p.png").exists() and (tmp_path / "g.glb").exists() and not canary.exists()


def _cheap():
    return make_generator("shapenetcars128-64", sr_width_scale=0.25)


def test_bad_snapshots_get_one_sentence_and_exit_2(tmp_path, capsys):
    path = tmp_path / "no_ema.pkl"
    save_snapshot(path, DROP, G=_cheap(), D=None)
    full, cut = tmp_path / "full.pkl", tmp_path / "cut.pkl"
    save_snapshot(full, _cheap())
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    broken = _cheap()
    with torch.no_grad():
        broken.decoder.net[0].weight[0, 0] = float("nan")
    nan = tmp_path / "nan.pkl"
    save_snapshot(nan, broken)
    stylegan = tmp_path / "stylegan2.pkl"  # the same persistence format, but a 2-D StyleGAN2 generator
    save_snapshot(stylegan, _cheap().backbone, D=None)
    expectations = {
        path: "not an EG3D snapshot with a G_ema network",
        stylegan: "holds a Generator network, not EG3D's TriPlaneGenerator",
        cut: "truncated",
        nan: "NaN or infinite weights (decoder.hidden.weight)",
    }
    for bad, message in expectations.items():
        with pytest.raises(CheckpointError, match=message.replace("(", "\\(").replace(")", "\\)")):
            aware3d.load_generator(bad, device="cpu")
        out = tmp_path / f"{bad.stem}.glb"
        assert main(["generate", "--checkpoint", str(bad), "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and not out.exists()


def test_unknown_classes_in_the_network_are_named(tmp_path, capsys):
    official = _cheap()
    official.superresolution.__class__ = type("SuperresolutionFancy16X", (type(official.superresolution),), {})
    path = tmp_path / "fancy.pkl"
    save_snapshot(path, official)
    with pytest.raises(CheckpointError, match="SuperresolutionFancy16X; aware3d runs SuperresolutionHybrid8XDC"):
        aware3d.load_generator(path, device="cpu")
    assert main(["info", str(path)]) == 2
    capsys.readouterr()
    assert main(["preview", "--checkpoint", str(path), "-o", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SuperresolutionFancy16X" in err[0] and not (tmp_path / "p.png").exists()


def test_no_surface_exits_1(small, tmp_path, capsys):
    _, path = small
    out = tmp_path / "none.glb"
    assert main(["generate", "--checkpoint", str(path), "--level", "1e9", "--resolution", "32", "-o", str(out)]) == 1
    assert "no surface" in capsys.readouterr().err and not out.exists()


# --- assets, batch, worker -------------------------------------------------------------------


def test_generate_writes_a_valid_life_size_glb(small, tmp_path, validate_glb):
    _, path = small
    out = tmp_path / "head.glb"
    assert main(["generate", "--checkpoint", str(path), "--seed", "3", "--resolution", "128", "--texture-size", "256", "-o", str(out)]) == 0
    report = validate_glb(out)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0
    mesh = trimesh.load(out, force="mesh")
    extras = glb_extras(out)
    assert extras["family"] == "eg3d" and extras["level_source"] == "auto" and extras["level"] > 0  # searched (exporters.level)
    assert extras["scale"] == pytest.approx(eg3d.FACE_METRES_PER_UNIT)
    label = aware3d.load_generator(path, device="cpu").conditioning_label(None)
    assert extras["conditioning"] == pytest.approx(label.tolist(), abs=1e-6)  # the camera the identity was conditioned on
    inner = 1 - 2 * eg3d.BORDER_PADDING
    voxel = inner / 127 * eg3d.FACE_METRES_PER_UNIT
    assert mesh.extents.max() <= inner * eg3d.FACE_METRES_PER_UNIT + voxel  # the border padding keeps walls out
    assert len(mesh.faces) > 100 and mesh.visual.uv is not None


def test_batch_and_worker_run_eg3d(small, tmp_path):
    _, path = small
    out = tmp_path / "batch"
    assert main(["batch", "--checkpoint", str(path), "--seeds", "0-1", "--resolution", "64", "--texture-size", "64", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["assets"]) == ["0", "1"] and all(a["status"] == "ok" and (out / a["file"]).exists() for a in manifest["assets"].values())
    request = {"id": 1, "method": "preview", "params": {"checkpoint": str(path), "seed": 2, "size": 32, "yaw": 0.2, "output": str(tmp_path / "w.png")}}
    final = serve_lines([json.dumps(request)])[1]
    assert final["event"] == "result", final
    spec = final["result"]["spec"]
    assert spec["convention"] == "eg3d" and spec["orbit_centre"] == [0.0, 0.0, 0.0] and spec["pivot"] == [0.0, 0.0, 0.2]
    assert os.path.getsize(tmp_path / "w.png") > 0
