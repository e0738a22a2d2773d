"""Self-checks of tests/eg3d_official.py: its snapshots read safely, and its reference is what it claims."""

from __future__ import annotations

import hashlib
import math

import eg3d_official as official
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aware3d.models.eg3d import BY_REFERENCE, read_snapshot_generator
from aware3d.models.persistence import PersistentRecord, code_hashes, module_tensors, read_network_pickle

MODULE_OF = {"TriPlaneGenerator": "training/triplane.py", "SynthesisBlockNoUp": "training/superresolution.py",
             "DualDiscriminator": "training/dual_discriminator.py", "AugmentPipe": "training/augment.py"}


def _sha(canary, class_name):
    module = MODULE_OF.get(class_name, "training/superresolution.py" if class_name.startswith("Superresolution") else "training/networks_stylegan2.py")
    return hashlib.sha256(official.canary_source(canary, module).encode()).hexdigest()


def test_a_snapshot_is_read_without_running_anything(tmp_path):
    canary = tmp_path / "CANARY"
    G = official.make_generator("ffhq512-128", canary=canary)
    path = tmp_path / "ffhq512-128.pkl"
    official.save_snapshot(path, G, augment_pipe=official.make_augment_pipe(G))
    record = read_snapshot_generator(path)
    assert isinstance(record, PersistentRecord) and record.class_name == "TriPlaneGenerator"
    tensors, expected = module_tensors(record), G.state_dict()
    assert list(tensors) == list(expected) and "dataset_label_std" in tensors and "superresolution.block1.conv1.noise_const" in tensors
    for name, value in expected.items():
        assert torch.equal(tensors[name], value), name
    hashes = code_hashes(record)
    assert set(hashes) == {"TriPlaneGenerator", "Generator", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer", "ToRGBLayer",
                           "FullyConnectedLayer", "MappingNetwork", "SuperresolutionHybrid8XDC"}
    assert all(sha == _sha(canary, name) for name, sha in hashes.items())
    # the state is the official __dict__: constructor arguments as the decorator records them, numpy gains, the options
    state = record.state
    assert state["_init_args"] == () and state["_init_kwargs"]["img_resolution"] == 512 and state["_init_kwargs"]["sr_num_fp16_res"] == 4
    assert state["neural_rendering_resolution"] == 128 and state["rendering_kwargs"]["c_scale"] == 1.0 and state["_last_planes"] is None
    fc = state["_modules"]["backbone"].state["_modules"]["mapping"].state["_modules"]["fc0"].state
    assert isinstance(fc["weight_gain"], np.float64) and fc["bias_gain"] == 0.01 and fc["_init_kwargs"] == {"activation": "lrelu", "lr_multiplier": 0.01}
    decoder = state["_modules"]["decoder"]
    assert type(decoder).__name__ == "OSGDecoder" and decoder.__dict__["hidden_dim"] == 64
    renderer = state["_modules"]["renderer"].__dict__
    assert torch.equal(renderer["plane_axes"], official.generate_planes())
    snapshot = read_network_pickle(path, BY_REFERENCE)
    assert set(snapshot) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"} and type(snapshot["training_set_kwargs"]) is dict
    assert snapshot["D"].class_name == "DualDiscriminator" and snapshot["augment_pipe"].class_name == "AugmentPipe"
    assert code_hashes(snapshot["D"])["DualDiscriminator"] == _sha(canary, "DualDiscriminator")
    assert not canary.exists()
    dropped = tmp_path / "dropped.pkl"
    official.save_snapshot(dropped, G, D=official.DROP, augment_pipe=official.DROP)
    assert set(read_network_pickle(dropped, BY_REFERENCE)) == {"training_set_kwargs", "G", "G_ema"}


def test_the_up_sampling_modulated_conv_is_a_flipped_convolution_of_the_zero_stuffed_input():
    torch.manual_seed(0)
    x, weight, styles = torch.randn(2, 5, 8, 8), torch.randn(7, 5, 3, 3), torch.randn(2, 5)
    noise = torch.randn(16, 16)
    f = official.setup_filter([1, 3, 3, 1])
    ours = official.modulated_conv2d(x, weight, styles, noise=noise, up=2, padding=1, resample_filter=f, flip_weight=False)
    # independently: transposed convolution with the un-flipped weight, then pad 1 and the 4x4 filter with gain 4
    y = F.conv_transpose2d(x * styles[:, :, None, None], weight.transpose(0, 1), stride=2)
    y = F.conv2d(F.pad(y, [1, 1, 1, 1]), (4 * f).expand(7, 1, 4, 4), groups=7)
    dcoefs = ((weight[None] * styles[:, None, :, None, None]).square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    expected = y * dcoefs[:, :, None, None] + noise
    assert ours.shape == (2, 7, 16, 16)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    wrong = official.modulated_conv2d(x, weight, styles, noise=noise, up=2, padding=1, resample_filter=f, flip_weight=True)
    assert (wrong - expected).abs().max() > 1e-2  # the flip matters for a random kernel


def test_planes_and_sample():
    G = official.make_generator("ffhq512-128", sr_width_scale=0.25)
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3))
    c = official.front_camera(G)
    ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=14)
    assert ws.shape == (1, 14, 512) and G.backbone.synthesis.num_ws == 14
    assert G.planes(ws, noise_mode="const").shape == (1, 3, 32, 256, 256)
    points = torch.rand(1, 500, 3) - 0.5
    first = G.sample(points, torch.zeros_like(points), z, c, truncation_psi=0.7, truncation_cutoff=14, noise_mode="const")
    again = G.sample(points, torch.zeros_like(points), z, c, truncation_psi=0.7, truncation_cutoff=14, noise_mode="const")
    assert first["sigma"].shape == (1, 500, 1) and first["rgb"].shape == (1, 500, 32)
    assert torch.equal(first["sigma"], again["sigma"]) and torch.equal(first["rgb"], again["rgb"])
    noisy = G.sample(points, torch.zeros_like(points), z, c, truncation_psi=0.7, truncation_cutoff=14, noise_mode="random")
    assert not torch.equal(noisy["sigma"], first["sigma"])  # noise strengths are non-zero
    assert G.mapping(z, c * 2).ne(ws).any() and G.mapping(z, c, truncation_psi=0.5, truncation_cutoff=14).ne(ws).any()


@pytest.mark.parametrize("variant", list(official.VARIANTS))
def test_every_variant_synthesises(variant):
    """Narrow super-resolution and 12+12 samples per ray keep this quick; the next test runs one release unchanged."""
    G = official.make_generator(variant, sr_width_scale=0.25, depth_resolution=12, depth_resolution_importance=12)
    resolution, neural, _ = official.VARIANTS[variant]
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)), official.front_camera(G), truncation_psi=0.7)
    torch.manual_seed(0)
    out = G.synthesis(ws, official.front_camera(G, yaw=0.3), noise_mode="const")
    assert out["image"].shape == (1, 3, resolution, resolution) and out["image_raw"].shape == (1, 3, neural, neural)
    assert out["image_depth"].shape == (1, 1, neural, neural) and out["image_features"].shape == (1, 32, neural, neural)
    assert all(torch.isfinite(value).all() for value in out.values())
    # officially the 2X/4X super-resolution adds its first ToRGB into image_raw in place when the render needs no resize
    in_place = variant in ("shapenetcars128-64", "ffhq256-128-4x")
    assert torch.equal(out["image_raw"], out["image_features"][:, :3]) != in_place
    start, end = G.rendering_kwargs["ray_start"], G.rendering_kwargs["ray_end"]
    assert start <= out["image_depth"].min() and out["image_depth"].max() <= end + (end - start) / 11


def test_a_release_configuration_synthesises_unchanged():
    """Official super-resolution widths and 48+48 samples (ffhq512-64: the 128 render costs ~3 s more)."""
    G = official.make_generator("ffhq512-64")
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)), official.front_camera(G), truncation_psi=0.7)
    out = G.synthesis(ws, official.front_camera(G), noise_mode="const")
    assert out["image"].shape == (1, 3, 512, 512) and torch.isfinite(out["image"]).all()
    assert out["image"].std() > 0.1 and out["image_raw"].std() > 0.05  # neither blank nor saturated


def test_the_super_resolution_clamp_is_active():
    G = official.make_generator("shapenetcars128-64")
    features = torch.rand(1, 32, 64, 64) * 2 - 1
    ws = G.backbone.mapping.w_avg.expand(1, 14, -1)
    clamped = G.superresolution(features[:, :3], features, ws, noise_mode="none")
    G.superresolution.block1.conv1.conv_clamp = None
    assert (G.superresolution(features[:, :3], features, ws, noise_mode="none") - clamped).abs().max() > 1e-3


def test_densities_cross_the_meshing_level_inside_the_box_only():
    G = official.make_generator("ffhq512-128")
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0))
    axis = torch.linspace(-0.5, 0.5, 32)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    sigma = G.sample(grid, torch.zeros_like(grid), z, official.front_camera(G), truncation_psi=0.7, truncation_cutoff=14, noise_mode="const")["sigma"]
    assert (sigma > 10).any() and (sigma < 10).any()
    outside = G.sample(grid * 3, torch.zeros_like(grid), z, official.front_camera(G), truncation_psi=0.7, noise_mode="const")["sigma"]
    assert (outside.reshape(32, 32, 32)[[0, -1]] < 0).all()  # zero features beyond the box: no fog
    narrow = official.make_generator("ffhq512-128", sr_width_scale=0.25)  # the same field, a narrower super-resolution
    assert all(torch.equal(value, narrow.state_dict()[name]) for name, value in G.state_dict().items() if not name.startswith("superresolution."))


def test_cameras_follow_camera_utils():
    pose = official.lookat_cam2world(math.pi / 2, math.pi / 2, [0, 0, 0], 2.7)[0]
    torch.testing.assert_close(pose[:3, 3], torch.tensor([0.0, 0.0, 2.7]), atol=1e-6, rtol=0)
    torch.testing.assert_close(pose[:3, :3], torch.tensor([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]]), atol=1e-6, rtol=0)  # OpenCV: y down, z forward
    tilted = official.lookat_cam2world(math.pi / 2 + 0.4, math.pi / 2 - 0.2, [0, 0, 0.2], 2.7)[0]
    assert abs(tilted[:3, 3].norm().item() - 2.7) < 1e-5  # radius about the origin, not the pivot
    to_pivot = torch.tensor([0, 0, 0.2]) - tilted[:3, 3]
    torch.testing.assert_close(tilted[:3, 2], to_pivot / to_pivot.norm(), atol=1e-6, rtol=0)
    intrinsics = official.fov_to_intrinsics(18.837)  # the constants give 4.2634, not the datasets' 4.2647
    assert abs(intrinsics[0, 0].item() - 4.26341) < 1e-4 and intrinsics[0, 2] == 0.5 and intrinsics[2, 2] == 1
    assert official.conditioning(pose[None], intrinsics).shape == (1, 25)
