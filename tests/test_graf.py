"""GRAF: the released checkpoint format loads safely and aware3d's inference equals the official algorithm.

"The official code" is :mod:`graf_official`: GRAF's NeRF, encodings, rays and test-time renderer
written out literally in the tests, and checkpoints written as GAN_stability's ``CheckpointIO``
writes them on a GPU (CUDA storages, a numpy ``fid_best``).
"""

from __future__ import annotations

import json
import math

import graf_official as official
import numpy as np
import pytest
import torch
import trimesh
from support import glb_extras, serve_lines

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError, InputError
from aware3d.models import graf, inspect_checkpoint

RELEASES = {"celebA_64": {}, "cats_64": {}, "carla_64": {}, "cub_64": {"use_viewdirs": False}}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """One official-format file per camera family of releases (faces, cats, cars, birds)."""
    folder = tmp_path_factory.mktemp("graf")
    out = {}
    for name, kwargs in RELEASES.items():
        nerf = official.make_nerf(seed=1, **kwargs)
        path = folder / f"{name}.pt"
        official.save_checkpoint(path, nerf, generator=official.make_nerf(seed=2, **kwargs))
        out[name] = (nerf, path)
    return out


def _z(seed=0):
    return torch.randn(256, generator=torch.Generator().manual_seed(seed))


def test_gpu_written_files_need_the_allow_list(released):
    _, path = released["celebA_64"]
    with pytest.raises(Exception):  # noqa: B017 (either CUDA deserialisation or the numpy global, depending on torch)
        torch.load(path, weights_only=True)
    gen = aware3d.load_generator(path, device="cpu")
    assert gen.family == "graf" and gen.info["variant"] == "celebA" and gen.z_dim == 256


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_field_equals_the_official_network(released, name):
    nerf, path = released[name]
    gen = aware3d.load_generator(path, device="cpu")
    z = _z(3)
    field = gen.field(z=z, truncation=1.0)
    points = (torch.rand(3000, 3, generator=torch.Generator().manual_seed(4)) - 0.5) * 3
    dirs = torch.nn.functional.normalize(torch.randn(3000, 3, generator=torch.Generator().manual_seed(5)), dim=-1)
    ours = field.query(points, dirs)
    raw, rgb = official.query(nerf, points, dirs, z)
    assert (raw > 0).any() and (raw <= 0).any()
    torch.testing.assert_close(ours.raw_density, raw, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.density, torch.relu(raw), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.rgb, rgb, rtol=0, atol=1e-5)
    torch.testing.assert_close(field.query_density(points), ours.density, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_preview_at_eval_pose_reproduces_the_official_test_renderer(released, name):
    nerf, path = released[name]
    gen = aware3d.load_generator(path, device="cpu")
    z = _z(6)
    field = gen.field(z=z, truncation=1.0)
    radius, azimuth, polar = official.eval_angles(name)
    pose = gen.variant.eval_pose()
    assert (pose.radius, math.degrees(pose.pitch) + 90) == pytest.approx((radius, polar))
    ours = gen.render_result(field, pose, size=16)
    expected = (official.render_variant(nerf, z, name, imsize=16) + 1) / 2
    assert expected.std() > 0.02  # foreground and background
    torch.testing.assert_close(ours.rgb, expected, rtol=0, atol=1e-4)
    again = gen.render_result(field, pose, size=16)
    assert torch.equal(ours.rgb, again.rgb)


def test_ema_choice_and_key_sets(released, tmp_path):
    nerf, _ = released["celebA_64"]
    other = official.make_nerf(seed=9)
    points = torch.rand(500, 3) - 0.5
    expected = {"ema": official.query(nerf, points, torch.tensor([0.0, 0.0, -1.0]).expand(500, 3), _z())[0],
                "none": official.query(other, points, torch.tensor([0.0, 0.0, -1.0]).expand(500, 3), _z())[0]}
    for keys in ("full", "eval", "scalars+eval"):
        path = tmp_path / f"celebA_64_{keys}.pt"
        official.save_checkpoint(path, nerf, generator=other, keys=keys, unknown_extra=3)
        for ema, sigma in expected.items():
            field = aware3d.load_generator(path, device="cpu", ema=ema).field(z=_z(), truncation=1.0)
            torch.testing.assert_close(field.query(points, torch.tensor([0.0, 0.0, -1.0])).raw_density, sigma, rtol=1e-5, atol=1e-4)
    legacy = tmp_path / "celebA_128.pt"
    official.save_checkpoint(legacy, nerf, zipfile=False)
    assert aware3d.load_generator(legacy, device="cpu").info["variant"] == "celebA"
    only = tmp_path / "celebA_hq_256.pt"
    official.save_checkpoint(only, nerf, keys="generator")
    with pytest.raises(CheckpointError, match="no 'generator_test' weights \\(pass --ema none"):
        aware3d.load_generator(only, device="cpu")
    assert aware3d.load_generator(only, device="cpu", ema="none").info["ema"] == "none"


def test_variant_comes_from_the_file_name_or_the_option(released, tmp_path, capsys):
    nerf, path = released["cats_64"]
    renamed = tmp_path / "my_model.pt"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(InputError, match="--variant auto\\|celebA\\|celebA_hq\\|cats\\|carla\\|cub|pass --variant celebA"):
        aware3d.load_generator(renamed, device="cpu")
    gen = aware3d.load_generator(renamed, device="cpu", variant="cats")
    assert gen.camera.radius == 10.0 and gen.variant.front_azimuth == 35.0
    assert inspect_checkpoint(path).variant == "cats" and inspect_checkpoint(renamed).variant is None
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "family    graf" in out and "variant   cats" in out and "loadable  yes" in out


def test_truncation_scales_the_latent_and_one_is_raw(released, tmp_path):
    _, path = released["celebA_64"]
    gen = aware3d.load_generator(path, device="cpu")
    z = _z(2)
    raw = gen.field(z=z, truncation=1.0)
    assert torch.equal(raw.z_shape[0], z[:128]) and torch.equal(raw.z_app[0], z[128:])
    half = gen.field(z=z, truncation=0.5)
    assert torch.allclose(half.z_shape[0], z[:128] * 0.5)
    # the CLI's --truncation reaches the field as the API's truncation
    png = tmp_path / "p.png"
    assert main(["preview", "--checkpoint", str(path), "--seed", "4", "--truncation", "1", "--size", "12", "-o", str(png)]) == 0
    from PIL import Image

    expected = gen.render(gen.field(seed=4, truncation=1.0), aware3d.Pose(), size=12)
    assert np.array_equal(np.asarray(Image.open(png).convert("RGB")), expected)


def test_frame_puts_the_face_toward_plus_z_and_z_up(released):
    _, path = released["celebA_64"]
    gen = aware3d.load_generator(path, device="cpu")
    field = gen.field(seed=0)
    rotation = field.world_to_asset[:3, :3] / field.frame.metres_per_unit
    np.testing.assert_allclose(rotation @ [math.sqrt(0.5), math.sqrt(0.5), 0], [0, 0, 1], atol=1e-12)  # azimuth 45 deg -> front
    np.testing.assert_allclose(rotation @ [0, 0, 1], [0, 1, 0], atol=1e-12)  # GRAF's z is up
    frontal = aware3d.cameras.pose_to_camera(aware3d.Pose(), gen.camera)
    np.testing.assert_allclose(frontal.position, 10.5 * np.array([math.sqrt(0.5), math.sqrt(0.5), 0]), atol=1e-9)
    np.testing.assert_allclose(frontal.cam2world[:3, 1], [0, 0, 1], atol=1e-12)  # no roll: image up is world up
    np.testing.assert_allclose(field.canonical_view_dir, [-math.sqrt(0.5), -math.sqrt(0.5), 0], atol=1e-12)


def test_generate_writes_a_valid_upright_glb(released, tmp_path, validate_glb):
    _, path = released["celebA_64"]
    out = tmp_path / "graf.glb"
    assert main(["generate", "--checkpoint", str(path), "--seed", "1", "--resolution", "64", "--texture-size", "128", "-o", str(out)]) == 0
    report = validate_glb(out)
    assert report["issues"]["numErrors"] == 0 and report["issues"]["numWarnings"] == 0
    extras = glb_extras(out)
    assert extras["family"] == "graf" and extras["variant"] == "celebA"
    assert extras["level_source"] == "auto" and extras["level"] > 0  # searched (exporters.level)
    mesh = trimesh.load(out, force="mesh")
    assert len(mesh.faces) > 100 and mesh.extents.max() <= 2 * graf.VARIANTS["celebA"].half_extent * 0.09 + 1e-3


def test_bad_files_get_one_sentence_and_exit_2(released, tmp_path, capsys):
    nerf, path = released["celebA_64"]
    cut = tmp_path / "celebA_64.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    narrow = official.make_nerf(seed=1)
    state = narrow.state_dict()
    state["pts_linears.5.weight"] = state["pts_linears.5.weight"][:, :300]
    shape = tmp_path / "celebA_128.pt"
    torch.save({"generator": state, "generator_test": state}, shape)
    for bad, message in ((cut, "truncated or damaged"), (shape, "pts_linears.5.weight has shape [256, 300]")):
        out = tmp_path / f"{bad.stem}.glb"
        assert main(["generate", "--checkpoint", str(bad), "--model", "graf", "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0] and not out.exists()
    assert main(["preview", "--checkpoint", str(path), "--model", "pigan", "-o", str(tmp_path / "p.png")]) == 2
    assert "is a graf checkpoint, not pigan" in capsys.readouterr().err


def test_batch_and_worker_run_graf(released, tmp_path):
    _, path = released["cats_64"]
    out = tmp_path / "batch"
    assert main(["batch", "--checkpoint", str(path), "--seeds", "0-1", "--resolution", "32", "--texture-size", "64", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["assets"]) == ["0", "1"] and all(a["status"] == "ok" for a in manifest["assets"].values())
    request = {"id": 1, "method": "preview", "params": {"checkpoint": str(path), "seed": 2, "size": 12, "options": {"variant": "cats"},
                                                         "output": str(tmp_path / "w.png")}}
    final = serve_lines([json.dumps(request)])[1]
    assert final["event"] == "result", final
    spec = final["result"]["spec"]
    assert spec["radius"] == 10.0 and spec["fov"] == 10.0 and spec["metres_per_unit"] == graf.VARIANTS["cats"].metres_per_unit
    assert spec["rotation"][1] == [0.0, 0.0, 1.0]  # z up
