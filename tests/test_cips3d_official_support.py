"""Self-checks of tests/cips3d_official.py: its G_ema.pth files are official state dicts, and its reference is what it claims."""

from __future__ import annotations

import itertools
import math
import time
import zipfile
from collections import OrderedDict

import cips3d_official as official
import pytest
import torch

WB = ("weight", "bias")


def expected_keys(hidden_layers=2, nerf_base_layers=4, inr_base_layers=8):
    """The official key order, written out from the official constructors (not from the stand-ins)."""
    keys = []
    for i in range(hidden_layers):
        keys += [f"siren.network.{i}.{m}.{p}" for m in ("linear", "gain_fc", "bias_fc") for p in WB]
    keys += [f"siren.final_layer.{p}" for p in WB]
    keys += [f"siren.color_layer_sine.{m}.{p}" for m in ("linear", "gain_fc", "bias_fc") for p in WB]
    keys += [f"siren.color_layer_linear.0.{p}" for p in WB]
    keys += [f"mapping_network_nerf.base_net.{2 * i}.{p}" for i in range(nerf_base_layers) for p in WB]
    blocks = ("4", "8", "16", "32", "64", "128", "256", "512", "1024")
    for res in blocks:
        for mod in ("mod1", "mod2"):
            keys += [f"inr_net.network.{res}.{mod}.{p}" for p in ("weight", "modulation.weight", "modulation.bias", "norm.weight", "norm.bias")]
    keys += [f"inr_net.to_rgbs.{res}.linear.{p}" for res in blocks for p in WB]
    # Linear, LayerNorm, LeakyReLU per hidden layer; the last Linear; then the norm_out LayerNorm
    indices = []
    for i in range(inr_base_layers):
        indices.append(3 * i)
        if i != inr_base_layers - 1:
            indices.append(3 * i + 1)
    indices.append(3 * (inr_base_layers - 1) + 1)
    keys += [f"mapping_network_inr.base_net.{i}.{p}" for i in indices for p in WB]
    keys += [f"aux_to_rbg.0.{p}" for p in WB]
    return keys


OFFICIAL_SHAPES = {
    "siren.network.0.linear.weight": (128, 3), "siren.network.1.linear.weight": (128, 128), "siren.network.0.gain_fc.weight": (128, 128),
    "siren.network.1.bias_fc.bias": (128,), "siren.final_layer.weight": (1, 128), "siren.final_layer.bias": (1,),
    "siren.color_layer_sine.linear.weight": (64, 128), "siren.color_layer_sine.gain_fc.weight": (64, 128),
    "siren.color_layer_linear.0.weight": (32, 64), "mapping_network_nerf.base_net.0.weight": (128, 256),
    "mapping_network_nerf.base_net.6.weight": (128, 128), "inr_net.network.4.mod1.weight": (1, 32, 512),
    "inr_net.network.4.mod1.modulation.weight": (32, 512), "inr_net.network.4.mod1.norm.weight": (32,),
    "inr_net.network.4.mod2.weight": (1, 512, 512), "inr_net.network.1024.mod2.modulation.bias": (512,),
    "inr_net.to_rgbs.4.linear.weight": (3, 512), "inr_net.to_rgbs.1024.linear.bias": (3,),
    "mapping_network_inr.base_net.0.weight": (512, 512), "mapping_network_inr.base_net.1.weight": (512,),
    "mapping_network_inr.base_net.21.weight": (512, 512), "mapping_network_inr.base_net.22.bias": (512,),
    "aux_to_rbg.0.weight": (3, 32),
}


@pytest.fixture(scope="module")
def G():
    return official.make_generator(seed=0, **official.SMALL)


def _zs(G, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(G.mapping_network_nerf.z_dim, generator=g), torch.randn(G.mapping_network_inr.z_dim, generator=g)


def test_official_widths_give_the_official_layout():
    assert official.config() == official.OFFICIAL_CFG
    with torch.random.fork_rng(devices=[]):
        state = official.GeneratorNerfINR(**official.OFFICIAL_CFG).state_dict()
    assert list(state) == expected_keys()
    for name, shape in OFFICIAL_SHAPES.items():
        assert tuple(state[name].shape) == shape, name
    assert len(state) == 172 and sum(t.numel() for t in state.values()) == 11_287_743
    # no buffers anywhere: every entry is a parameter
    G = official.GeneratorNerfINR(**official.OFFICIAL_CFG)
    assert set(state) == {name for name, _ in G.named_parameters()}
    assert official.GeneratorNerfINR_freeze_NeRF(**official.OFFICIAL_CFG).state_dict().keys() == state.keys()


def test_g_ema_is_a_plain_state_dict_tagged_like_a_gpu_save(tmp_path, G):
    path = tmp_path / "G_ema.pth"
    official.save_g_ema(path, G)
    assert zipfile.is_zipfile(path)
    with zipfile.ZipFile(path) as archive:
        pickle_bytes = archive.read(next(name for name in archive.namelist() if name.endswith("/data.pkl")))
    assert b"cuda:0" in pickle_bytes and b"cpu" not in pickle_bytes
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    assert type(loaded) is OrderedDict and list(loaded) == expected_keys()
    for name, value in G.state_dict().items():
        assert loaded[name].device.type == "cpu" and torch.equal(loaded[name], value), name
    assert loaded["inr_net.network.4.mod1.weight"].shape == (1, 32, 32) and loaded["mapping_network_inr.base_net.0.weight"].shape == (32, 32)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    plain = tmp_path / "G_ema_cpu.pth"
    official.save_g_ema(plain, G, device_tag=None)
    loaded = torch.load(plain, weights_only=True)
    assert list(loaded) == expected_keys() and all(torch.equal(loaded[k], v) for k, v in G.state_dict().items())
    # saving did not leave the CUDA tag in place for everyone else
    other = tmp_path / "other.pth"
    torch.save({"x": torch.ones(2)}, other)
    assert torch.load(other, weights_only=True)["x"].device.type == "cpu"


def test_density_is_a_head_around_the_origin(G):
    corners = torch.tensor(list(itertools.product((-0.12, 0.12), repeat=3)))
    inside = torch.tensor([[0, 0, 0], [0.04, 0, 0], [0, -0.05, 0], [0, 0, 0.05], [0.03, 0.03, -0.03]], dtype=torch.float32)
    far = torch.tensor([[0.18, 0, 0], [0, 0.2, 0], [0, 0, -0.18], [0.15, -0.15, 0]])
    for seed in range(3):
        z_nerf, _ = _zs(G, seed)
        sigma, features = official.query(G, torch.cat([inside, corners, far]), z_nerf)
        assert features.shape == (17, 32) and torch.isfinite(features).all()
        assert sigma[0] > 15 and (sigma[:5] > 2).all(), sigma[:5]
        assert (sigma[5:] < -5).all(), sigma[5:]
        assert torch.relu(sigma[5:]).max() == 0


def test_density_and_features_depend_on_z(G):
    points = torch.rand(64, 3, generator=torch.Generator().manual_seed(3)) * 0.2 - 0.1
    (s0, f0), (s1, f1) = (official.query(G, points, _zs(G, seed)[0]) for seed in (0, 1))
    assert (s0 - s1).abs().max() > 0.5 and (f0 - f1).abs().max() > 0.1


def test_film_layer_formula(G):
    z_nerf, _ = _zs(G, 0)
    styles = G.mapping_network_nerf(z_nerf[None])
    assert set(styles) == {"nerf_w0", "nerf_w1", "nerf_rgb"}
    assert all(torch.equal(styles["nerf_w0"], s) for s in styles.values())
    layer = G.siren.network[0]
    x = torch.rand(1, 10, 3) * 0.2 - 0.1
    warped = x * (2 / 0.24)
    s = styles["nerf_w0"]
    gain = (s @ layer.gain_fc.weight.T + layer.gain_fc.bias) * 15 + 30
    phase = s @ layer.bias_fc.weight.T + layer.bias_fc.bias
    manual = torch.sin(gain[:, None] * (warped @ layer.linear.weight.T + layer.linear.bias) + phase[:, None])
    torch.testing.assert_close(layer(G.siren.gridwarper(x), s), manual, rtol=0, atol=1e-5)


def test_mapping_inr_layer_norms_and_style_names(G):
    _, z_inr = _zs(G, 0)
    styles = G.mapping_network_inr(z_inr[None])
    assert list(styles) == [f"inr_w{res}_{i}" for res in official.INR_BLOCKS for i in (0, 1)]
    net = G.mapping_network_inr.base_net
    x = z_inr[None] * torch.rsqrt((z_inr ** 2).mean() + 1e-8)
    for k in range(8):
        x = x @ net[3 * k].weight.T + net[3 * k].bias
        norm = net[3 * k + 1]
        x = torch.nn.functional.layer_norm(x, (x.shape[-1],), norm.weight, norm.bias, 1e-5)
        if k < 7:
            x = torch.nn.functional.leaky_relu(x, 0.2)
    assert all(torch.allclose(style, x, atol=1e-5) for style in styles.values())


def test_inr_block_demodulation_and_skips(G):
    _, z_inr = _zs(G, 0)
    styles = G.mapping_network_inr(z_inr[None])
    features = torch.randn(1, 20, 32, generator=torch.Generator().manual_seed(5))

    def mod(m, x, s):
        w = m.weight[0] * (s[0] @ m.modulation.weight.T + m.modulation.bias + 1)[:, None]
        w = w / torch.sqrt((w ** 2).sum(0, keepdim=True) + 1e-8)
        return x @ w

    x, rgb = features, 0
    for idx, res in enumerate(official.INR_BLOCKS):
        block = G.inr_net.network[res]
        y = torch.nn.functional.leaky_relu(mod(block.mod1, x, styles[f"inr_w{res}_0"]), 0.2)
        y = torch.nn.functional.leaky_relu(mod(block.mod2, y, styles[f"inr_w{res}_1"]), 0.2)
        x = y + x if idx >= 4 else y
        if idx >= 3:
            rgb = rgb + G.inr_net.to_rgbs[res].linear(x)
    torch.testing.assert_close(official.features_to_rgb(G, features[0], z_inr, signed=True), torch.tanh(rgb[0]), rtol=0, atol=1e-5)
    torch.testing.assert_close(official.features_to_rgb(G, features[0], z_inr), (torch.tanh(rgb[0]) + 1) / 2, rtol=0, atol=1e-5)


def test_truncation_and_average(G):
    avg = official.average_styles(G, num_samples=2000, seed=0)
    assert set(avg) == {"nerf_w0", "nerf_w1", "nerf_rgb"} | {f"inr_w{r}_{i}" for r in official.INR_BLOCKS for i in (0, 1)}
    assert all(v.shape == (1, 128) for k, v in avg.items() if k.startswith("nerf"))
    z_nerf, _ = _zs(G, 0)
    at_avg = official.query(G, torch.zeros(1, 3), z_nerf, psi=0.0, avg=avg)[0]
    direct = G.siren(torch.zeros(1, 1, 3), {k: avg[k] for k in ("nerf_w0", "nerf_w1", "nerf_rgb")})[0, :, -1]
    torch.testing.assert_close(at_avg, direct)
    with pytest.raises(ValueError, match="avg"):
        official.query(G, torch.zeros(1, 3), z_nerf, psi=0.5)


def test_render_image(G):
    z_nerf, z_inr = _zs(G, 0)
    state = torch.get_rng_state()
    start = time.perf_counter()
    image = official.render_image(G, z_nerf, z_inr, size=64, num_steps=24, seed=0)
    elapsed = time.perf_counter() - start
    assert torch.equal(torch.get_rng_state(), state)
    assert image.shape == (64, 64, 3) and torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert image.std() > 0.05 and elapsed < 30, elapsed
    assert torch.equal(official.render_image(G, z_nerf, z_inr, size=64, seed=0), image)
    other = official.render_image(G, z_nerf, z_inr, size=64, seed=1)
    assert 0 < (other - image).abs().mean() < 0.03
    still = official.render_image(G, z_nerf, z_inr, size=64, deterministic=True, seed=0)
    assert torch.equal(still, official.render_image(G, z_nerf, z_inr, size=64, deterministic=True, seed=7))
    assert (still - image).abs().mean() < 0.03
    turned = official.render_image(G, z_nerf, z_inr, size=64, yaw=0.4, seed=0)
    assert (turned - image).abs().mean() > 0.01


def test_render_parts_agree(G):
    z_nerf, z_inr = _zs(G, 1)
    out = official.render(G, z_nerf, z_inr, size=24, num_steps=12, deterministic=True)
    assert out["features"].shape == (24, 24, 32) and out["depth"].shape == (24, 24)
    flat = out["features"].reshape(-1, 32)
    torch.testing.assert_close(official.features_to_rgb(G, flat, z_inr).reshape(24, 24, 3), out["image"], rtol=0, atol=1e-6)
    torch.testing.assert_close(official.aux_rgb(G, flat).reshape(24, 24, 3), out["aux"], rtol=0, atol=1e-6)
    # the head covers the centre and not the corners; depth of the centre pixel is in front of the origin
    assert out["weight_sum"][12, 12] > 0.9 and out["weight_sum"][0, 0] < 0.05
    assert 0.88 < out["depth"][12, 12] < 1.0
    # chunked rendering (the scripts' forward_points) gives the same image
    chunked = official.render(G, z_nerf, z_inr, size=24, num_steps=12, deterministic=True, forward_points=100)
    torch.testing.assert_close(chunked["image"], out["image"], rtol=0, atol=1e-6)


def test_render_draws_in_the_official_order(G):
    z_nerf, z_inr = _zs(G, 2)
    size, steps = 8, 6
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        official.render(G, z_nerf, z_inr, size=size, num_steps=steps)
        after_render = torch.get_rng_state()
        torch.manual_seed(11)
        n = size * size
        torch.rand(1, n, steps, 1)  # perturb_points
        torch.randn(1, 1)  # camera theta
        torch.randn(1, 1)  # camera phi
        torch.randn(1, n, steps, 1)  # coarse integration noise (times nerf_noise = 0)
        torch.rand(n, steps)  # sample_pdf
        torch.randn(1, n, 2 * steps, 1)  # final integration noise
        assert torch.equal(torch.get_rng_state(), after_render)


def test_truncated_render_draws_a_fresh_average(G):
    z_nerf, z_inr = _zs(G, 0)
    fresh = official.render_image(G, z_nerf, z_inr, size=32, psi=0.5, seed=3)
    plain = official.render_image(G, z_nerf, z_inr, size=32, seed=3)
    given = official.render_image(G, z_nerf, z_inr, size=32, psi=0.5, avg=official.average_styles(G, seed=4), seed=3)
    assert torch.isfinite(fresh).all() and (fresh - plain).abs().mean() > 1e-3
    # both averages estimate the same mean from 10 000 zs; the jitter differs (the fresh one consumed the RNG first)
    assert (fresh - given).abs().mean() < 0.05


def test_camera_is_pi_gan(G):
    origin, phi, theta = official.camera_position(0.3, -0.2, draw=False)
    torch.testing.assert_close(origin[0], torch.tensor([math.sin(math.pi / 2 - 0.2) * math.cos(math.pi / 2 + 0.3), math.cos(math.pi / 2 - 0.2),
                                                        math.sin(math.pi / 2 - 0.2) * math.sin(math.pi / 2 + 0.3)]))
    c2w = official.cam2world_matrix(-origin, origin)[0]
    torch.testing.assert_close(c2w[:3, 2], origin[0], atol=1e-6, rtol=0)  # camera looks down its -z axis at the origin
    points, z_vals, dirs = official.initial_rays(3, 12, 0.88, 1.12, 4, "cpu")
    assert dirs[0, 0, 0] < 0 and dirs[0, 0, 1] > 0  # first pixel: top left
    torch.testing.assert_close(torch.atan2(-dirs[0, 3, 0], -dirs[0, 3, 2]), torch.tensor(math.radians(6)))  # fov spans the edge pixel centres
    torch.testing.assert_close(z_vals[0, 0, :, 0], torch.linspace(0.88, 1.12, 4))
