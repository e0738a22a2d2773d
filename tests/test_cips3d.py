"""CIPS-3D: released-format G_ema.pth files load and aware3d's inference equals the official algorithm.

"The official code" is :mod:`cips3d_official`: GeneratorNerfINR's networks (FiLM NeRF, mapping
networks, CIPSNet) and its image pipeline (pi-GAN rays, jittered integration, the INR) written out
literally in the tests, saved as tl2 saves ``G_ema.pth`` from a GPU.
"""

from __future__ import annotations

import json

import cips3d_official as official
import pytest
import torch
import trimesh
from support import glb_extras, serve_lines

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError
from aware3d.models import inspect_checkpoint


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    official_model = official.make_generator(seed=0, **official.SMALL)
    path = tmp_path_factory.mktemp("cips3d") / "G_ema.pth"
    official.save_g_ema(path, official_model)
    return official_model, path, aware3d.load_generator(path, device="cpu")


def _z(gen, seed=3):
    return torch.randn(gen.z_dim, generator=torch.Generator().manual_seed(seed))


def test_real_key_names_are_detected_and_cuda_files_load(released, capsys):
    official_model, path, gen = released
    assert set(official_model.state_dict()) >= {"siren.final_layer.weight", "mapping_network_nerf.base_net.0.weight",
                                                 "inr_net.network.4.mod1.norm.weight", "aux_to_rbg.0.weight"}
    with pytest.raises(RuntimeError):
        torch.load(path, weights_only=True)  # written from a GPU: plain loading needs CUDA
    info = inspect_checkpoint(path)
    assert info.family == "cips3d" and info.loadable
    assert gen.family == "cips3d" and gen.z_dim == 256 + official.SMALL["inr_z_dim"]
    assert main(["info", str(path)]) == 0 and "family    cips3d" in capsys.readouterr().out


@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_field_features_and_colours_equal_the_official_networks(released, psi):
    official_model, _, gen = released
    average = official.average_styles(official_model, 10000, 0)  # the same draws aware3d makes once
    z = _z(gen)
    z_nerf, z_inr = z[None, :256], z[None, 256:]
    field = gen.field(z=z, truncation=psi)
    points = (torch.rand(4000, 3, generator=torch.Generator().manual_seed(1)) - 0.5) * 0.3
    ours = field.query(points)
    sigma, features = official.query(official_model, points, z_nerf, psi=psi, avg=average)
    assert (sigma > 0).any() and (sigma < 0).any()
    torch.testing.assert_close(ours.raw_density, sigma, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.density, torch.relu(sigma), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.features, features, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.rgb, official.aux_rgb(official_model, features), rtol=0, atol=1e-5)
    pixels = torch.randn(600, 32, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(field.features_to_rgb(pixels), official.features_to_rgb(official_model, pixels, z_inr, psi=psi, avg=average),
                               rtol=0, atol=1e-5)
    # view directions are ignored, as in the official NeRF
    turned = field.query(points, torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(turned.features, ours.features)


def test_previews_are_cips3d_images_deterministically(released):
    official_model, _, gen = released
    z = _z(gen, 5)
    field = gen.field(z=z, truncation=1.0)
    ours = gen.render_result(field, aware3d.Pose(yaw=0.25, pitch=-0.1), size=24).rgb
    assert torch.equal(ours, gen.render_result(field, aware3d.Pose(yaw=0.25, pitch=-0.1), size=24).rgb)
    kwargs = dict(yaw=0.25, pitch=-0.1, size=24)
    det = official.render_image(official_model, z[None, :256], z[None, 256:], deterministic=True, **kwargs)
    torch.testing.assert_close(ours, det, rtol=0, atol=1e-5)  # the official pipeline without its jitter
    jittered = [official.render_image(official_model, z[None, :256], z[None, 256:], seed=seed, **kwargs) for seed in (0, 1)]
    spread = (jittered[0] - jittered[1]).abs().mean().item()
    assert (ours - jittered[0]).abs().mean().item() < 1.5 * spread + 1e-4


def test_generate_writes_a_valid_glb_coloured_by_the_3d_head(released, tmp_path, validate_glb):
    _, path, _ = released
    out = tmp_path / "cips.glb"
    assert main(["generate", "--checkpoint", str(path), "--seed", "2", "--resolution", "64", "--texture-size", "128", "-o", str(out)]) == 0
    report = validate_glb(out)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0
    extras = glb_extras(out)
    assert extras["family"] == "cips3d" and extras["level_source"] == "auto" and extras["level"] > 0  # searched (exporters.level)
    mesh = trimesh.load(out, force="mesh")
    assert len(mesh.faces) > 100 and mesh.extents.max() <= 0.3 + 1e-3


def test_bad_files_get_one_sentence_and_exit_2(released, tmp_path, capsys):
    official_model, path, _ = released
    cut = tmp_path / "cut" / "G_ema.pth"
    cut.parent.mkdir()
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    state = official_model.state_dict()
    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in state.items() if k != "siren.final_layer.weight"}, missing)
    wrong = tmp_path / "wrong.pth"
    torch.save({**state, "aux_to_rbg.0.weight": torch.zeros(3, 16)}, wrong)
    for bad, message in ((cut, "truncated or damaged"), (missing, "siren.final_layer.weight"), (wrong, "aux_to_rbg.0.weight has shape [3, 16]")):
        out = tmp_path / f"{bad.stem}.glb"
        assert main(["generate", "--checkpoint", str(bad), "--model", "cips3d", "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and not out.exists(), err
    with pytest.raises(CheckpointError, match="is a cips3d checkpoint, not gram"):
        aware3d.load_generator(path, family="gram", device="cpu")


def test_batch_and_worker_run_cips3d(released, tmp_path):
    _, path, _ = released
    out = tmp_path / "batch"
    assert main(["batch", "--checkpoint", str(path), "--seeds", "0-1", "--resolution", "32", "--texture-size", "64", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["assets"]) == ["0", "1"] and all(a["status"] == "ok" for a in manifest["assets"].values())
    request = {"id": 1, "method": "preview", "params": {"checkpoint": str(path), "seed": 2, "size": 12, "output": str(tmp_path / "w.png")}}
    final = serve_lines([json.dumps(request)])[1]
    assert final["event"] == "result" and final["result"]["family"] == "cips3d", final
