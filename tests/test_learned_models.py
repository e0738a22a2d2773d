"""pi-GAN and GRAM from files in the official formats: loading, EMA, field parity with an
independent evaluation of the published formulas, previews, export, and bad files."""

from __future__ import annotations

import math

import numpy as np
import official_formats as of
import pytest
import torch
import torch.nn.functional as F

import aware3d
from aware3d import CheckpointError, InputError, Pose
from aware3d.exporters import export_glb
from aware3d.models import inspect_checkpoint
from aware3d.models.base import TRUNCATION_NUM_SAMPLES, TRUNCATION_SEED, z_from_seed

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def pigan_path(tmp_path_factory):
    return of.save_pigan(tmp_path_factory.mktemp("pigan"))


@pytest.fixture(scope="module")
def gram_path(tmp_path_factory):
    return of.save_gram(tmp_path_factory.mktemp("gram"))


def _named_ema(module: torch.nn.Module, ema_path) -> dict[str, torch.Tensor]:
    """The EMA weights by name, applied by position as ``ema.copy_to(generator.parameters())`` does."""
    with of.official_names():
        ema = torch.load(ema_path, weights_only=False)  # our own test-built file, not a user's
    names = [name for name, _ in module.named_parameters()]
    assert len(names) == len(ema.shadow_params)
    return dict(zip(names, ema.shadow_params))


def _sine_film(w, b, x, freq, phase):
    return torch.sin(freq * (x @ w.T + b) + phase)


def _mapping(p, prefix, z):
    x = z
    for i in (0, 2, 4):
        x = F.leaky_relu(x @ p[f"{prefix}.network.{i}.weight"].T + p[f"{prefix}.network.{i}.bias"], 0.2)
    out = x @ p[f"{prefix}.network.6.weight"].T + p[f"{prefix}.network.6.bias"]
    return out[..., : out.shape[-1] // 2], out[..., out.shape[-1] // 2 :]


def _truncate(p, prefix, z, psi, z_dim):
    freq, phase = _mapping(p, prefix, z[None])
    zs = torch.randn(TRUNCATION_NUM_SAMPLES, z_dim, generator=torch.Generator().manual_seed(TRUNCATION_SEED))
    avg_f, avg_p = _mapping(p, prefix, zs)
    freq = avg_f.mean(0) + psi * (freq[0] - avg_f.mean(0))
    phase = avg_p.mean(0) + psi * (phase[0] - avg_p.mean(0))
    return freq * 15 + 30, phase


def pigan_reference(p, z, psi, points, dirs, warp=2 / 0.24, hidden=32):
    """pi-GAN's SIREN written out from the paper and siren.py's published layout."""
    freq, phase = _truncate(p, "siren.mapping_network", z, psi, z.numel())
    x = points * warp
    for i in range(8):
        x = _sine_film(p[f"siren.network.{i}.layer.weight"], p[f"siren.network.{i}.layer.bias"], x,
                       freq[i * hidden : (i + 1) * hidden], phase[i * hidden : (i + 1) * hidden])
    sigma = (x @ p["siren.final_layer.weight"].T + p["siren.final_layer.bias"])[:, 0]
    c = _sine_film(p["siren.color_layer_sine.layer.weight"], p["siren.color_layer_sine.layer.bias"],
                   torch.cat([dirs, x], -1), freq[8 * hidden :], phase[8 * hidden :])
    rgb = torch.sigmoid(c @ p["siren.color_layer_linear.0.weight"].T + p["siren.color_layer_linear.0.bias"])
    return torch.relu(sigma), rgb, sigma


def gram_reference(p, z, psi, points, dirs, hidden=32):
    """GRAM's radiance field (gram.py's GramRF) and sample network written out from the formulas."""
    rf = "representation.rf_network"
    freq, phase = _truncate(p, f"{rf}.mapping_network", z, psi, z.numel())
    x = points * (2 / 0.24)
    sigma, rgb = 0, 0
    for i in range(8):
        x = _sine_film(p[f"{rf}.network.{i}.layer.weight"], p[f"{rf}.network.{i}.layer.bias"], x,
                       freq[i * hidden : (i + 1) * hidden], phase[i * hidden : (i + 1) * hidden])
        if i == 0:
            continue
        sigma = sigma + x @ p[f"{rf}.output_sigma.{i - 1}.weight"].T + p[f"{rf}.output_sigma.{i - 1}.bias"]
        feature = x if i < 7 else _sine_film(p[f"{rf}.color_layer.0.layer.weight"], p[f"{rf}.color_layer.0.layer.bias"],
                                             torch.cat([dirs, x], -1), freq[8 * hidden :], phase[8 * hidden :])
        rgb = rgb + feature @ p[f"{rf}.output_color.{i - 1}.weight"].T + p[f"{rf}.output_color.{i - 1}.bias"]
    s = points * (2 / 0.24) - torch.tensor([0.0, 0.0, -1.5])
    sn = "representation.sample_network"
    for i in (0, 2, 4):
        s = torch.relu(s @ p[f"{sn}.network.{i}.weight"].T + p[f"{sn}.network.{i}.bias"])
    s = (s @ p[f"{sn}.output_layer.weight"].T + p[f"{sn}.output_layer.bias"])[:, 0]
    return F.softplus(sigma[:, 0]), (torch.sigmoid(rgb) * 1.002 - 0.001).clamp(0, 1), sigma[:, 0], s


def _points(n=64, seed=0):
    rng = torch.Generator().manual_seed(seed)
    points = torch.rand(n, 3, generator=rng) * 0.24 - 0.12
    dirs = F.normalize(torch.randn(n, 3, generator=rng), dim=-1)
    return points, dirs


# --- pi-GAN ---------------------------------------------------------------------------------------


def test_pigan_is_detected_without_building_it(pigan_path):
    info = inspect_checkpoint(pigan_path)
    assert (info.family, info.variant, info.format) == ("pigan", "SPATIALSIRENBASELINE", "torch-zip")


@pytest.mark.parametrize("ema, psi", [("ema", 1.0), ("ema", 0.5), ("ema2", 0.7), ("none", 0.7)])
def test_pigan_field_matches_the_published_formulas(pigan_path, ema, psi):
    gen = aware3d.load_generator(pigan_path, device="cpu", ema=ema)
    assert gen.family == "pigan" and gen.info["variant"] == "SPATIALSIRENBASELINE" and gen.z_dim == 16
    with of.official_names():
        saved = torch.load(pigan_path, weights_only=False)  # our own test-built file
    weights = dict(saved.named_parameters()) if ema == "none" else _named_ema(saved, pigan_path.with_name(f"{ema}.pth"))
    points, dirs = _points()
    z = z_from_seed(3, 16)
    out = gen.field(seed=3, truncation=psi).query(points, dirs)
    density, rgb, raw = pigan_reference({k: v.detach() for k, v in weights.items()}, z, psi, points, dirs)
    torch.testing.assert_close(out.raw_density, raw, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(out.density, density, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(out.rgb, rgb, atol=TOLERANCE, rtol=0)


def test_pigan_ema_really_replaces_the_raw_weights(pigan_path):
    points, dirs = _points()
    with_ema = aware3d.load_generator(pigan_path, device="cpu").field(seed=1).query(points, dirs)
    raw = aware3d.load_generator(pigan_path, device="cpu", ema="none").field(seed=1).query(points, dirs)
    assert (with_ema.raw_density - raw.raw_density).abs().max() > 1e-3


def test_pigan_view_dirs_are_honoured_and_default_to_frontal(pigan_path):
    field = aware3d.load_generator(pigan_path, device="cpu").field(seed=2)
    points, dirs = _points()
    default = field.query(points)
    frontal = field.query(points, torch.tensor([0.0, 0.0, -1.0]))
    other = field.query(points, dirs)
    torch.testing.assert_close(default.rgb, frontal.rgb)
    assert (other.rgb - default.rgb).abs().max() > 1e-4
    torch.testing.assert_close(other.density, default.density)  # density ignores the view


def test_legacy_format_generator_loads_the_same(pigan_path, tmp_path):
    """pi-GAN was trained with torch 1.8, whose torch.save may use the legacy (non-zip) format."""
    import shutil

    with of.official_names():
        saved = torch.load(pigan_path, weights_only=False)  # our own test-built file
        torch.save(saved, tmp_path / "generator.pth", _use_new_zipfile_serialization=False)
    shutil.copy(pigan_path.with_name("ema.pth"), tmp_path / "ema.pth")
    assert inspect_checkpoint(tmp_path / "generator.pth").format == "torch-legacy"
    points, dirs = _points()
    legacy = aware3d.load_generator(tmp_path / "generator.pth", device="cpu").field(seed=5).query(points, dirs)
    modern = aware3d.load_generator(pigan_path, device="cpu").field(seed=5).query(points, dirs)
    torch.testing.assert_close(legacy.rgb, modern.rgb, atol=0, rtol=0)


def test_tallsiren_carla_variant(tmp_path):
    path = of.save_pigan(tmp_path, tall=True)
    gen = aware3d.load_generator(path, device="cpu")
    assert gen.info["variant"] == "TALLSIREN" and gen.camera.fov == 30.0
    with of.official_names():
        saved = torch.load(path, weights_only=False)
    weights = {k: v.detach() for k, v in _named_ema(saved, path.with_name("ema.pth")).items()}
    points, dirs = _points()
    out = gen.field(seed=0, truncation=1.0).query(points, dirs)
    _, rgb, raw = pigan_reference(weights, z_from_seed(0, 16), 1.0, points, dirs, warp=1.0)
    torch.testing.assert_close(out.raw_density, raw, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(out.rgb, rgb, atol=TOLERANCE, rtol=0)


def test_pigan_preview_and_export(pigan_path, tmp_path, validate_glb):
    gen = aware3d.load_generator(pigan_path, device="cpu")
    field = gen.field(seed=0)
    image = gen.render(field, Pose(yaw=0.3), size=24)
    assert image.shape == (24, 24, 3) and image.dtype == np.uint8
    level = float(np.quantile(field.query(_points(4096)[0]).density.numpy(), 0.7))  # random weights: pick a level
    stats = export_glb(field, tmp_path / "a.glb", resolution=64, texture_size=128, level=level, target_faces=3000)
    assert stats.num_faces > 100
    report = validate_glb(tmp_path / "a.glb")
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0


# --- GRAM -----------------------------------------------------------------------------------------


def test_gram_is_detected_and_configured(gram_path, tmp_path):
    assert inspect_checkpoint(gram_path).family == "gram"
    gen = aware3d.load_generator(gram_path, device="cpu")
    assert gen.family == "gram" and gen.info["variant"] == "FFHQ" and gen.camera.fov == 12.0
    cats = aware3d.load_generator(of.save_gram(tmp_path / "cats", hidden_dim_sample=64), device="cpu")
    carla = aware3d.load_generator(of.save_gram(tmp_path / "carla", hidden_dim_sample=256), device="cpu")
    assert cats.info["variant"] == "CATS" and carla.info["variant"] == "CARLA" and carla.camera.fov == 30.0


@pytest.mark.parametrize("ema, psi", [("ema", 1.0), ("ema", 0.6), ("none", 1.0)])
def test_gram_field_and_manifold_match_the_published_formulas(gram_path, ema, psi):
    gen = aware3d.load_generator(gram_path, device="cpu", ema=ema)
    module = of.GramGenerator()
    state = torch.load(gram_path, weights_only=True)
    module.load_state_dict(state)
    weights = dict(module.named_parameters()) if ema == "none" else _named_ema(module, gram_path.with_name(f"{ema}.pth"))
    weights = {k: v.detach() for k, v in weights.items()}
    points, dirs = _points()
    field = gen.field(seed=4, truncation=psi)
    out = field.query(points, dirs)
    density, rgb, raw, s = gram_reference(weights, z_from_seed(4, 16), psi, points, dirs)
    torch.testing.assert_close(out.raw_density, raw, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(out.density, density, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(out.rgb, rgb, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(field.manifold(points), s, atol=TOLERANCE, rtol=0)


def test_gram_manifold_renderer_composites_the_intersections(gram_path):
    """A frontal ray crosses the 23 planar test manifolds where s = 12 z' - 2 meets each level."""
    from aware3d.models.gram import manifold_points

    gen = aware3d.load_generator(gram_path, device="cpu")
    field = gen.field(seed=0)
    origins = torch.tensor([[0.0, 0.0, 1.0]])
    dirs = torch.tensor([[0.0, 0.0, -1.0]])
    points, valid = manifold_points(field, origins, dirs, 0.88, 1.12)
    assert valid.shape == (1, 23) and valid.all()
    levels = torch.linspace(23, 8, 23)
    expected_z = ((levels + 2) / 12 - 1.5) * 0.24 / 2  # invert s = 12 (z * 2/0.24 + 1.5) - 2
    torch.testing.assert_close(points[0, :, 2], expected_z, atol=2e-4, rtol=0)
    result = gen.render_result(field, Pose(), size=16)
    # The background plane is composited into the colour but is not part of the head's opacity or depth.
    assert result.alpha.max() < 0.99
    hit = result.alpha > 1e-3
    assert hit.any() and ((result.depth[hit] > 0.88) & (result.depth[hit] < 1.12)).all()
    again = gen.render_result(field, Pose(), size=16)
    assert torch.equal(result.rgb, again.rgb)


def test_gram_preview_and_export(gram_path, tmp_path, validate_glb):
    gen = aware3d.load_generator(gram_path, device="cpu")
    image = gen.render(gen.field(seed=0), Pose(yaw=-0.3), size=24)
    assert image.shape == (24, 24, 3) and image.std() > 1
    field = gen.field(seed=0)
    # GRAM's own renderer cannot honour volume-rendering settings, so it refuses them instead of ignoring them
    from aware3d.render import RenderSettings

    with pytest.raises(aware3d.InputError, match="takes no RenderSettings"):
        gen.render(field, Pose(), size=8, settings=RenderSettings(num_coarse=8))
    with pytest.raises(aware3d.InputError, match="square"):
        gen.render(field, Pose(), size=(8, 16))
    level = float(np.quantile(field.query(_points(4096)[0]).density.numpy(), 0.6))
    stats = export_glb(field, tmp_path / "g.glb", resolution=64, texture_size=128, level=level, target_faces=3000)
    assert stats.num_faces > 100
    assert validate_glb(tmp_path / "g.glb")["issues"]["numErrors"] == 0


# --- bad files ------------------------------------------------------------------------------------


def test_missing_or_broken_ema_is_an_error_never_a_fallback(pigan_path, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    folder.mkdir()
    shutil.copy(pigan_path, folder / "generator.pth")
    with pytest.raises(CheckpointError, match="ema.pth is missing"):
        aware3d.load_generator(folder / "generator.pth", device="cpu")
    (folder / "ema.pth").write_bytes(pigan_path.with_name("ema.pth").read_bytes()[:500])
    with pytest.raises(CheckpointError, match="download it again|damaged|truncated"):
        aware3d.load_generator(folder / "generator.pth", device="cpu")
    shutil.copy(pigan_path.with_name("generator.pth"), folder / "ema.pth")  # a generator where the EMA belongs
    with pytest.raises(CheckpointError, match="not a torch_ema|refers to"):
        aware3d.load_generator(folder / "generator.pth", device="cpu")
    with pytest.raises(InputError, match="ema must be one of"):
        aware3d.load_generator(pigan_path, device="cpu", ema="latest")


def test_ema_of_another_shape_is_refused(pigan_path, tmp_path):
    other = of.save_pigan(tmp_path / "wide", hidden_dim=48)
    import shutil

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(pigan_path, folder / "generator.pth")
    shutil.copy(other.with_name("ema.pth"), folder / "ema.pth")
    with pytest.raises(CheckpointError, match="has shape"):
        aware3d.load_generator(folder / "generator.pth", device="cpu")


def test_wrong_family_and_truncated_generators(pigan_path, gram_path, tmp_path):
    with pytest.raises(CheckpointError, match="is a pigan checkpoint, not gram"):
        aware3d.load_generator(pigan_path, family="gram", device="cpu")
    cut = tmp_path / "generator.pth"
    cut.write_bytes(pigan_path.read_bytes()[: len(pigan_path.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        aware3d.load_generator(cut, device="cpu")


# --- hostile files: refused, and nothing runs -----------------------------------------------------


class _Payload:
    def __init__(self, function, args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _hostile(canary):
    import builtins
    import os
    import posix
    import subprocess

    touch = f"open({str(canary)!r}, 'w').close()"
    return {
        "os.system": _Payload(os.system, (f"touch {canary}",)),
        "posix.system": _Payload(posix.system, (f"touch {canary}",)),
        "builtins.eval": _Payload(builtins.eval, (touch,)),
        "builtins.exec": _Payload(builtins.exec, (touch,)),
        "subprocess.call": _Payload(subprocess.call, (["touch", str(canary)],)),
        "unexpected module": _Payload(math.floor, (1.5,)),  # harmless itself, but not on any allow-list
    }


HOSTILE = ["os.system", "posix.system", "builtins.eval", "builtins.exec", "subprocess.call", "unexpected module"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_generator_is_refused_and_runs_nothing(tmp_path, kind):
    canary = tmp_path / "CANARY"
    generator = of.ImplicitGenerator3d(of.SPATIALSIRENBASELINE, 16, hidden_dim=32)
    generator.payload = _hostile(canary)[kind]  # an extra attribute, as a tampered file would carry
    with of.official_names():
        torch.save(generator, tmp_path / "generator.pth")
    assert not canary.exists()
    with pytest.raises(CheckpointError, match="refuses to load it") as caught:
        aware3d.load_generator(tmp_path / "generator.pth", device="cpu")
    assert "math.floor" in str(caught.value) if kind == "unexpected module" else "refers to" in str(caught.value)
    assert not canary.exists()


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_ema_file_is_refused_and_runs_nothing(gram_path, tmp_path, kind):
    import shutil

    canary = tmp_path / "CANARY"
    shutil.copy(gram_path, tmp_path / "generator.pth")
    with of.official_names():
        ema = of.ExponentialMovingAverage([torch.zeros(1)], 0.999)
        ema.collected_params = [_hostile(canary)[kind]]
        torch.save(ema, tmp_path / "ema.pth")
    with pytest.raises(CheckpointError, match="refuses to load it"):
        aware3d.load_generator(tmp_path / "generator.pth", device="cpu")
    assert not canary.exists()


def test_cli_generate_and_preview_with_official_format_files(pigan_path, gram_path, tmp_path, validate_glb):
    import json
    import subprocess
    import sys

    for name, path, extra in (("pigan", pigan_path, ["--level", "0.1"]), ("gram", gram_path, ["--level", "1"])):
        out = tmp_path / f"{name}.glb"
        proc = subprocess.run(
            [sys.executable, "-m", "aware3d", "generate", "--model", name, "--checkpoint", str(path), "--seed", "0",
             "--resolution", "64", "--texture-size", "128", "--faces", "3000", "--json", "-o", str(out), *extra],
            capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["num_faces"] > 100
        assert validate_glb(out)["issues"]["numErrors"] == 0
        import pygltflib

        extras = pygltflib.GLTF2().load(str(out)).asset.extras
        assert extras["family"] == name and extras["checkpoint_sha256"] == inspect_checkpoint(path).sha256
        png = tmp_path / f"{name}.png"
        proc = subprocess.run(
            [sys.executable, "-m", "aware3d", "preview", "--checkpoint", str(path), "--ema", "ema2", "--yaw", "0.3",
             "--size", "16", "-o", str(png)], capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stderr and png.exists()


def test_face_previews_lock_the_view_dependence(pigan_path, gram_path):
    """The papers' face renders read colour from the front (lock_view_dependence); so do previews."""
    from dataclasses import replace

    assert inspect_checkpoint(gram_path).variant == "FFHQ"
    gen = aware3d.load_generator(pigan_path, device="cpu")
    assert gen.render_settings.lock_view_dependence
    field = gen.field(seed=1)
    pose = Pose(yaw=0.5)
    default = gen.render_result(field, pose, size=12)
    unlocked = gen.render_result(field, pose, size=12, settings=replace(gen.render_settings, lock_view_dependence=False))
    assert not torch.equal(default.rgb, unlocked.rgb)
    torch.testing.assert_close(default.alpha, unlocked.alpha)  # only colour depends on the view


def test_legacy_format_state_dict_and_ema(gram_path, tmp_path):
    state = torch.load(gram_path, weights_only=True)
    torch.save(state, tmp_path / "generator.pth", _use_new_zipfile_serialization=False)
    with of.official_names():
        ema = torch.load(gram_path.with_name("ema.pth"), weights_only=False)  # our own test-built file
        torch.save(ema, tmp_path / "ema.pth", _use_new_zipfile_serialization=False)
    points, dirs = _points()
    legacy = aware3d.load_generator(tmp_path / "generator.pth", device="cpu").field(seed=2).query(points, dirs)
    modern = aware3d.load_generator(gram_path, device="cpu").field(seed=2).query(points, dirs)
    torch.testing.assert_close(legacy.density, modern.density, atol=0, rtol=0)


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec"])
def test_hostile_legacy_file_is_refused(tmp_path, kind):
    canary = tmp_path / "CANARY"
    generator = of.ImplicitGenerator3d(of.SPATIALSIRENBASELINE, 16, hidden_dim=32)
    generator.payload = _hostile(canary)[kind]
    with of.official_names():
        torch.save(generator, tmp_path / "generator.pth", _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match="refuses to load it"):
        aware3d.load_generator(tmp_path / "generator.pth", device="cpu")
    assert not canary.exists()


def test_legacy_unpickler_refuses_what_the_scan_might_miss(tmp_path):
    """Defence in depth: the legacy reader's own find_class refuses names outside its allow-list."""
    import pickle

    from aware3d.checkpoints import _LegacyUnpickler

    data = pickle.dumps(_hostile(tmp_path / "CANARY")["os.system"], protocol=2)
    import io

    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        _LegacyUnpickler(io.BytesIO(data), {}).load()
    assert not (tmp_path / "CANARY").exists()
