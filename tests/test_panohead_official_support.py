"""Self-checks of tests/panohead_official.py: its snapshots read safely, and its reference is what it claims."""

from __future__ import annotations

import copy
import hashlib
import math

import numpy as np
import panohead_official as official
import pytest
import torch

from aware3d.models.persistence import PersistentRecord, code_hashes, module_tensors, read_network_pickle

RELEASED = ("easy-khair-180-gpc0.8-trans10-025000", "ablation-trigridD-1-025000")


def _sha(canary, module):
    return hashlib.sha256(official.canary_source(canary, module).encode()).hexdigest()


def test_a_snapshot_is_read_without_running_anything(tmp_path):
    canary = tmp_path / "CANARY"
    G = official.make_generator(canary=canary)
    path = tmp_path / "easy-khair-180-gpc0.8-trans10-025000.pkl"
    official.save_snapshot(path, G)
    snapshot = read_network_pickle(path, official.BY_REFERENCE)
    assert set(snapshot) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}
    assert snapshot["training_set_kwargs"]["class_name"] == "training.dataset.MaskLabeledDataset"
    record = snapshot["G_ema"]
    assert isinstance(record, PersistentRecord) and record.class_name == "TriPlaneGenerator"
    tensors, expected = module_tensors(record), G.state_dict()
    assert list(tensors) == list(expected)
    for name in ("torgb.weight", "bcg_synthesis.b128.torgb.weight", "t_mapping.fc1.weight", "t_mapping.w_avg", "decoder.net.0.weight"):
        assert name in tensors, name
    for name, value in expected.items():
        assert torch.equal(tensors[name], value), name
    hashes = code_hashes(record)
    assert set(hashes) == {"TriPlaneGenerator", "OSGDecoder", "ImportanceRenderer", "MipRayMarcher2", "Generator", "SynthesisNetwork", "SynthesisBlock",
                           "SynthesisLayer", "ToRGBLayer", "FullyConnectedLayer", "MappingNetwork", "SuperresolutionHybrid8XDC"}
    for name, module in official.PERSISTENT_MODULES.items():
        assert hashes[name] == _sha(canary, module), name
    state = record.state
    modules = state["_modules"]
    assert all(isinstance(modules[name], PersistentRecord) for name in ("renderer", "decoder", "torgb", "bcg_synthesis", "t_mapping"))
    assert type(modules["ray_sampler"]).__name__ == "RaySampler" and not isinstance(modules["ray_sampler"], PersistentRecord)
    renderer = modules["renderer"].state
    assert torch.equal(renderer["plane_axes"], official.generate_planes()) and renderer["_modules"]["ray_marcher"].class_name == "MipRayMarcher2"
    decoder = modules["decoder"].state
    assert decoder["activation"] == "none" and decoder["_init_args"][1]["decoder_activation"] == "none"
    t_mapping = modules["t_mapping"].state
    assert t_mapping["_init_kwargs"] == {"z_dim": G.z_dim, "c_dim": 25, "w_dim": 3, "num_ws": 1, "last_activation": "linear", "lr_multiplier": 1.0,
                                         "num_layers": 2}
    assert t_mapping["_modules"]["fc1"].state["activation"] == "linear" and t_mapping["_modules"]["fc0"].state["activation"] == "lrelu"
    assert modules["torgb"].state["_init_args"] == (32, 3, 512)
    bcg = modules["bcg_synthesis"].state
    assert bcg["_init_kwargs"]["channel_base"] == 2048 and bcg["_init_kwargs"]["img_resolution"] == 128 and bcg["_init_kwargs"]["img_channels"] == 32
    backbone = modules["backbone"].state
    assert backbone["_init_kwargs"]["img_channels"] == 288 and backbone["_init_kwargs"]["img_resolution"] == 256
    options = state["rendering_kwargs"]
    assert options["triplane_depth"] == 3 and options["use_torgb_raw"] is True and options["use_background"] is True and options["density_noise"] == 0
    assert "density_noise" not in state["_init_kwargs"]["rendering_kwargs"] and state["neural_rendering_resolution"] == 64
    assert not canary.exists()


def _trilinear(volume, point):
    """Hand-written align_corners=False trilinear lookup of volume [C, D, H, W] at (u->W, v->H, s->D) in [-1, 1], zero outside."""
    c, d, h, w = volume.shape
    coords = [((float(q) + 1) * size - 1) / 2 for q, size in zip(point, (w, h, d))]
    out = torch.zeros(c, dtype=torch.float64)
    lows = [math.floor(x) for x in coords]
    for corner in range(8):
        idx, weight = [], 1.0
        for axis in range(3):
            bit = (corner >> axis) & 1
            i = lows[axis] + bit
            frac = coords[axis] - lows[axis]
            weight *= frac if bit else 1 - frac
            idx.append(i)
        x, y, z = idx
        if 0 <= x < w and 0 <= y < h and 0 <= z < d:
            out += weight * volume[:, z, y, x].double()
    return out


@pytest.mark.parametrize("depth", [3, 1])
def test_the_trigrid_lookup_is_trilinear_on_xy_xz_yz(depth):
    gen = torch.Generator().manual_seed(depth)
    n, res, box_warp = 2, 8, 1.0
    planes = torch.randn(n, 3, 32 * depth, res, res, generator=gen)
    points = (torch.rand(n, 5, 3, generator=gen) - 0.5) * 1.1  # a few outside the box too
    points[0, 0] = torch.tensor([0.1, -0.2, 0.3])
    got = official.sample_from_planes(official.generate_planes(), planes, points, box_warp, triplane_depth=depth)
    assert got.shape == (n, 3, 5, 32)
    for b in range(n):
        for m in range(5):
            x, y, z = (2 / box_warp * points[b, m]).tolist()
            for p, triple in enumerate(((x, y, z), (x, z, y), (y, z, x))):  # plane p's (W, H, D) coordinates
                volume = planes[b, p].reshape(32, depth, res, res)  # channel k*D + d is feature k at depth d
                torch.testing.assert_close(got[b, p, m].double(), _trilinear(volume, triple), atol=1e-5, rtol=0)


def test_the_crop_and_the_delta_c():
    xyz = torch.tensor([[[0.39, 0.45, -0.39], [0.41, 0.0, 0.0], [0.0, -0.49, -0.41], [0.0, 0.49, 0.0]]])
    assert official.triplane_crop_mask(xyz, 0.1, 1).squeeze(-1).tolist() == [[False, True, True, False]]
    G = _generator(RELEASED[0])
    z, c = torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(1)), official.front_camera(G).repeat(3, 1)
    c_new, delta = G.apply_delta_c(z, c)
    changed = (c_new != c).any(0).nonzero().flatten().tolist()
    assert changed == [3, 7, 11]
    torch.testing.assert_close(c_new[:, [3, 7, 11]], c[:, [3, 7, 11]] + delta, atol=0, rtol=0)
    assert 0.005 < delta.abs().mean() < 0.2  # small, like learned offsets
    features = torch.randn(2, 7, 32)
    ws = torch.randn(2, G.backbone.mapping.num_ws, 512)
    image = features.permute(0, 2, 1).reshape(2, 32, 7, 1)
    expected = G.torgb(image, ws[:, -1]).reshape(2, 3, 7).permute(0, 2, 1)
    torch.testing.assert_close(official.point_rgb(G, features, ws), expected)
    colour = official.point_colour(G, features, ws)
    assert colour.min() >= 0 and colour.max() <= 1


_GENERATORS = {}


def _generator(variant):
    """One tiny generator per variant for the module (copied: synthesis may change its state)."""
    if variant not in _GENERATORS:
        _GENERATORS[variant] = official.make_generator(variant)
    return copy.deepcopy(_GENERATORS[variant])


@pytest.mark.parametrize("variant", RELEASED)
def test_synthesis_of_the_released_variants(variant):
    torch.manual_seed(0)
    G = _generator(variant)
    depth = 3 if "easy" in variant else 1
    assert G.rendering_kwargs["triplane_depth"] == depth and G.backbone.synthesis.img_channels == 96 * depth
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5))
    c = official.gen_samples_conditioning(G)
    ws = G.mapping(z, c, truncation_psi=0.7, truncation_cutoff=14)
    assert G.neural_rendering_resolution == 64
    out = G.synthesis(ws, official.gen_samples_cameras(G)[0], noise_mode="const", neural_rendering_resolution=32)  # 64 officially; 32 is cheaper
    assert out["image"].shape == (1, 3, 512, 512) and out["image_raw"].shape == (1, 3, 32, 32) and out["image_features"].shape == (1, 32, 32, 32)
    assert out["image_background"].shape == (1, 32, 32, 32) and out["image_mask"].shape == (1, 1, 32, 32)
    for key in ("image", "image_raw", "image_depth", "image_mask"):
        assert torch.isfinite(out[key]).all(), key
    weights = out["image_weights"]
    assert weights.min() < 0.5 and weights.max() > 0.9  # some rays hit, some (partly) pass
    # background compositing and the raw image as the official code composes them
    composed = out["image_features"] + (1 - weights) * out["image_background"]
    torch.testing.assert_close(out["image_raw"], G.torgb(composed, ws[:, -1]))
    # the density field: raw sigma crosses the meshing level 10 inside the box, not far outside it; no crop in sample()
    axis = torch.linspace(-0.45, 0.45, 12)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    sample = G.sample(grid, torch.zeros_like(grid), z, c, truncation_psi=0.7, truncation_cutoff=14, noise_mode="const")
    sigma = sample["sigma"]
    assert sample["rgb"].shape == (1, grid.shape[1], 32)
    assert sigma.max() > 10 and sigma.min() < 10
    outside = G.sample(torch.full((1, 4, 3), 0.9), torch.zeros(1, 4, 3), z, c, noise_mode="const")["sigma"]
    assert outside.max() < 10


def test_conditioning_defaults():
    G = _generator(RELEASED[0])
    c = official.gen_samples_conditioning(G)
    assert c.shape == (1, 25) and math.isclose(c[0, 16].item(), 1 / (math.tan(18 * 3.14159 / 360) * 1.414), rel_tol=1e-6)
    torch.testing.assert_close(c[0, [3, 7, 11]], torch.tensor([0.0, 0.0, 2.7]), atol=1e-5, rtol=0)  # on +z, facing the origin
    video = official.gen_videos_conditioning()
    assert video[0, 16].item() == pytest.approx(4.2647)
    assert np.isclose(video[0, 11].item(), 2.7 * math.sin(math.acos(1 - 2 * 1.57 / math.pi)), atol=1e-5)
