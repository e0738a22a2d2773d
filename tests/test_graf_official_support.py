"""Self-checks of tests/graf_official.py: its checkpoints look like GRAF's GPU-written files, and its reference is what it claims."""

from __future__ import annotations

import math
import pickle
import time
import zipfile

import graf_official as official
import numpy as np
import pytest
import torch

NEEDS_NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="on a CUDA machine the cuda:0-tagged file loads as is")

OFFICIAL_SHAPES = {
    "pts_linears.0.weight": (256, 191), "pts_linears.5.weight": (256, 447), "pts_linears.7.weight": (256, 256),
    "views_linears.0.weight": (128, 411), "feature_linear.weight": (256, 256), "alpha_linear.weight": (1, 256), "rgb_linear.weight": (3, 128),
}


@pytest.fixture(scope="module")
def nerf():
    return official.make_nerf(0)


@pytest.fixture(scope="module")
def z():
    return torch.randn(256, generator=torch.Generator().manual_seed(5))


def _locations(path) -> set[str]:
    seen = set()

    def record(storage, location):
        seen.add(location)
        return storage

    torch.load(path, map_location=record, weights_only=False)
    return seen


# ---------------------------------------------------------------------------------------------- checkpoints


@NEEDS_NO_CUDA
def test_a_gpu_written_checkpoint_is_refused_by_plain_and_weights_only_loads(tmp_path, nerf):
    path = tmp_path / "celebA_64.pt"
    official.save_checkpoint(path, nerf, keys="full", disc_ndf=8)
    with pytest.raises(RuntimeError, match="CUDA device"):
        torch.load(path, weights_only=False)
    with pytest.raises(pickle.UnpicklingError, match="numpy"):
        torch.load(path, map_location="cpu", weights_only=True)
    with pytest.raises(pickle.UnpicklingError, match="numpy"):
        torch.load(path)  # torch's default is weights_only=True now: the numpy scalar stops it first


@NEEDS_NO_CUDA
def test_an_eval_checkpoint_has_no_numpy_but_still_needs_a_map_location(tmp_path, nerf):
    path = tmp_path / "eval.pt"
    official.save_checkpoint(path, nerf, keys="eval")
    with pytest.raises(RuntimeError, match="CUDA device"):
        torch.load(path)
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    assert list(loaded) == ["generator", "generator_test"]


def test_the_full_checkpoint_has_the_official_keys_order_and_values(tmp_path, nerf):
    path = tmp_path / "model_best.pt"
    official.save_checkpoint(path, nerf, keys="full", disc_ndf=8)
    assert _locations(path) == {"cuda:0"}
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    assert tuple(ckpt) == official.CHECKPOINT_KEYS_FULL
    assert type(ckpt["fid_best"]) is np.float64 and ckpt["kid_best"] == math.inf and type(ckpt["it"]) is int and type(ckpt["epoch_idx"]) is int
    expected = nerf.state_dict()
    assert list(ckpt["generator_test"]) == list(expected)
    for name, value in expected.items():
        assert torch.equal(ckpt["generator_test"][name], value), name
        assert ckpt["generator"][name].shape == value.shape
    assert not torch.equal(ckpt["generator"]["alpha_linear.weight"], expected["alpha_linear.weight"])  # the raw generator is not the EMA
    assert {k: tuple(ckpt["generator_test"][k].shape) for k in OFFICIAL_SHAPES} == OFFICIAL_SHAPES
    assert sorted(ckpt["discriminator"]) == sorted(f"main.{i}.weight_{s}" for i in (0, 3, 6, 9) for s in ("orig", "u", "v"))
    g_opt, d_opt = ckpt["g_optimizer"], ckpt["d_optimizer"]
    assert len(g_opt["state"]) == len(expected) and g_opt["param_groups"][0]["lr"] == 5e-4 and d_opt["param_groups"][0]["lr"] == 1e-4
    assert isinstance(g_opt["state"][0]["step"], int) and g_opt["state"][0]["square_avg"].shape == expected["pts_linears.0.weight"].shape
    assert len(d_opt["state"]) == 4


SCALARS = ("it", "epoch_idx", "fid_best", "kid_best")


@pytest.mark.parametrize("keys, expected", [("eval", official.CHECKPOINT_KEYS_EVAL), ("scalars+eval", (*SCALARS, *official.CHECKPOINT_KEYS_EVAL)),
                                            ("generator_test", ("generator_test",)), ("generator", ("generator",))])
def test_other_key_sets(tmp_path, nerf, keys, expected):
    path = tmp_path / "x.pt"
    official.save_checkpoint(path, nerf, keys=keys, extra_key="ignored")
    assert tuple(torch.load(path, map_location="cpu", weights_only=False)) == (*expected, "extra_key")


def test_cpu_and_legacy_files_and_the_tagger_is_off_outside_save(tmp_path, nerf):
    cpu = tmp_path / "cpu.pt"
    official.save_checkpoint(cpu, nerf, keys="eval", on_gpu=False)
    assert _locations(cpu) == {"cpu"}
    assert list(torch.load(cpu)) == ["generator", "generator_test"]  # readable as is
    legacy = tmp_path / "legacy.pt"
    official.save_checkpoint(legacy, nerf, keys="eval", zipfile=False)
    assert not zipfile.is_zipfile(legacy) and _locations(legacy) == {"cuda:0"}
    plain = tmp_path / "plain.pt"
    torch.save({"t": torch.zeros(3)}, plain)
    assert _locations(plain) == {"cpu"}


# ---------------------------------------------------------------------------------------------- the network


def test_widths_and_layout():
    assert official.Embedder(10).out_dim == 63 and official.Embedder(4).out_dim == 27
    assert official.input_widths() == (191, 155)
    assert official.input_widths(use_viewdirs=False) == (191, 128)  # cub_64
    nerf = official.make_nerf(0)
    assert sum(p.numel() for p in nerf.parameters()) == 677_764
    assert [n for n, _ in nerf.named_parameters()][-8:] == ["views_linears.0.weight", "views_linears.0.bias", "feature_linear.weight", "feature_linear.bias",
                                                             "alpha_linear.weight", "alpha_linear.bias", "rgb_linear.weight", "rgb_linear.bias"]
    assert official.make_nerf(0, use_viewdirs=False).views_linears[0].weight.shape == (128, 384)


def test_positional_encoding_order():
    x = torch.tensor([[0.1, -0.2, 0.3]])
    pe = official.Embedder(4)(x)[0]
    expected = [x[0]]
    for k in range(4):
        expected += [torch.sin(x[0] * 2**k), torch.cos(x[0] * 2**k)]
    assert torch.allclose(pe, torch.cat(expected), atol=0)


def test_sigma_ignores_the_view_inputs_and_rgb_uses_them(nerf, z):
    pts = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)) * 0.5
    d1 = torch.nn.functional.normalize(torch.randn(64, 3, generator=torch.Generator().manual_seed(1)), dim=-1)
    s1, c1 = official.query(nerf, pts, d1, z)
    s2, c2 = official.query(nerf, pts, -d1, z)
    assert torch.equal(s1, s2) and not torch.allclose(c1, c2, atol=1e-3)
    z_app = z.clone()
    z_app[128:] = -z_app[128:]
    s3, c3 = official.query(nerf, pts, d1, z_app)
    assert torch.equal(s1, s3) and not torch.allclose(c1, c3, atol=1e-3)  # the last 128 of z are appearance only
    z_shape = z.clone()
    z_shape[:128] = -z_shape[:128]
    s4, _ = official.query(nerf, pts, d1, z_shape)
    assert not torch.allclose(s1, s4, atol=1e-2)


def test_the_planted_density_is_a_ball(nerf):
    dirs = official._fibonacci_directions(300).float()
    for seed in range(3):
        zz = torch.randn(256, generator=torch.Generator().manual_seed(100 + seed))
        inside, _ = official.query(nerf, dirs * 0.4, -dirs, zz)
        outside, _ = official.query(nerf, torch.cat([dirs * r for r in (1.0, 1.5, 2.5, 3.5)]), -dirs.repeat(4, 1), zz)
        centre, _ = official.query(nerf, torch.zeros(1, 3), -dirs[:1], zz)
        assert (inside > 0).all() and (outside <= 0).all() and centre.item() > 20


# ---------------------------------------------------------------------------------------------- cameras and rendering


def test_variants_and_eval_pose():
    assert set(official.VARIANTS) == {"celebA_64", "celebA_128", "celebA_hq_256", "celebA_hq_512", "carla_64", "carla_128", "carla_256",
                                      "carla_512", "cats_64", "cub_64"}
    cfg = official.VARIANTS["celebA_64"]
    got = (cfg["imsize"], cfg["fov"], cfg["radius"], cfg["near"], cfg["far"], cfg["white_bkgd"], cfg["N_samples"])
    assert got == (64, 10.0, (9.5, 10.5), 7.5, 12.5, False, 64)
    assert official.to_theta(cfg["vmin"]) == pytest.approx(70) and official.to_theta(cfg["vmax"]) == pytest.approx(85)
    assert official.eval_angles("celebA_64") == pytest.approx((10.5, 45.0, 77.5))
    assert official.VARIANTS["cub_64"]["use_viewdirs"] is False and official.VARIANTS["carla_128"]["white_bkgd"] is True
    poses = official.render_poses(10.5, angle_range=(0.0, 90.0), theta=0.5 * (official.to_theta(cfg["vmin"]) + official.to_theta(cfg["vmax"])))
    assert torch.equal(poses[20], official.eval_pose("celebA_64")) and poses.dtype == torch.float64
    assert official.focal_from_fov(64, 10.0) == pytest.approx(32 / math.tan(math.radians(5)))


def test_rays_look_at_the_origin_from_a_z_up_camera():
    pose = official.eval_pose("celebA_64")
    loc = pose[:, 3]
    assert loc.norm().item() == pytest.approx(10.5) and loc[2].item() == pytest.approx(10.5 * math.cos(math.radians(77.5)))
    rays_o, rays_d = official.get_rays(64, 64, official.focal_from_fov(64, 10.0), pose)
    centre = rays_d[32, 32]  # pixel (W/2, H/2) is the optical axis: no half-pixel offset
    assert torch.allclose(torch.linalg.cross(centre, -loc), torch.zeros(3, dtype=torch.float64), atol=1e-9) and (centre @ -loc) > 0
    assert rays_d[0, 32, 2] > rays_d[63, 32, 2]  # row 0 is the top of the image (world z up)
    assert torch.allclose(rays_d.reshape(-1, 3) @ pose[:, 2], -torch.ones(64 * 64, dtype=torch.float64))  # camera-space z = -1


def test_near_far_shift_for_a_radius_range():
    rays_o = torch.tensor([[10.5, 0.0, 0.0], [0.0, 9.5, 0.0]], dtype=torch.float64)
    near, far = official.ray_bounds(rays_o, 7.5, 12.5, radius_max=10.5)
    assert torch.allclose(near[:, 0], torch.tensor([7.5, 6.5])) and torch.allclose(far[:, 0], torch.tensor([12.5, 11.5]))
    near, far = official.ray_bounds(rays_o, 7.5, 12.5)
    assert (near == 7.5).all() and (far == 12.5).all()


def test_render_image_is_deterministic_with_foreground_and_background(z):
    small = official.make_nerf(1, W=64)
    cpu0 = time.process_time()
    img, extras = official.render_variant(small, z, "celebA_64", return_extras=True)
    cpu = time.process_time() - cpu0
    assert cpu < 5.0 * torch.get_num_threads(), f"{cpu:.1f} CPU-s for 64x64x64 samples"  # < 5 s of wall time on an unloaded machine
    assert img.shape == (64, 64, 3) and torch.isfinite(img).all() and img.min() >= -1 and img.max() <= 1
    acc = extras["acc_map"]
    assert acc[32, 32] > 0.99 and acc[0, 0] < 0.01 and (acc > 0.99).float().mean() > 0.2 and (acc < 0.01).float().mean() > 0.1
    assert torch.allclose(img[acc < 0.01], torch.full_like(img[acc < 0.01], -1.0), atol=0.02)  # black background (white_bkgd False)
    again = official.render_variant(small, z, "celebA_64")
    assert torch.equal(img, again)


def test_official_width_render_and_white_background(nerf, z):
    img, extras = official.render_variant(nerf, z, "celebA_64", imsize=24, return_extras=True)
    acc = extras["acc_map"]
    assert acc[12, 12] > 0.99 and acc[0, 0] < 0.01
    white = official.render_variant(nerf, z, "celebA_64", imsize=24, white_bkgd=True)
    assert torch.allclose(white[acc < 0.01], torch.ones_like(white[acc < 0.01]), atol=0.02)
    assert torch.allclose(white[acc > 0.999], img[acc > 0.999], atol=2e-3)


def test_the_render_matches_a_direct_quadrature(nerf, z):
    """One ray by hand: samples, the network input layout, deltas scaled by |d| and the exclusive transmittance."""
    pose = official.eval_pose("celebA_64")
    rays_o, rays_d = official.get_rays(16, 16, official.focal_from_fov(16, 10.0), pose)
    o, d = rays_o[8, 7].float(), rays_d[8, 7]
    unit = (d / d.norm()).float()
    d = d.float()
    t = torch.linspace(7.5, 12.5, 64)  # shift ~ 0 at radius 10.5
    pts = o + t[:, None] * d
    sigma, rgb = official.query(nerf, pts, unit.expand(64, 3), z)
    delta = torch.cat([t[1:] - t[:-1], torch.tensor([1e10])]) * d.norm()
    alpha = 1 - torch.exp(-sigma.clamp(min=0) * delta)
    trans = torch.cumprod(torch.cat([torch.ones(1), 1 - alpha + 1e-10]), 0)[:-1]
    expected = (alpha * trans) @ rgb * 2 - 1
    img = official.render_variant(nerf, z, "celebA_64", imsize=16)
    assert torch.allclose(img[8, 7], expected, atol=1e-5)
