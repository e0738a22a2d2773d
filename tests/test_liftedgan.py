"""LiftedGAN: official-format releases (checkpoint, config.py read as data, the rosinality
StyleGAN2 file it names) load safely, and ``estimate`` equals the official code's; seeds become
valid relief GLBs through generate, preview, batch and the worker; bad input is one sentence."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap

import numpy as np
import pytest
import torch
from liftedgan_official import TEST_CHANNELS, make_models, official_estimate, official_styles, save_release, trans_map_safe
from PIL import Image
from support import glb_extras, serve_lines

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError, InputError
from aware3d.models import inspect_checkpoint
from aware3d.models.base import z_from_seed
from aware3d.models.liftedgan import W_MU_SAMPLES, blur_kernel, read_config

CONFIG = textwrap.dedent('''
    \'\'\' Config Proto \'\'\'
    import os

    # The path to the pretrained StyleGAN2 checkpoint
    generator_path = './pretrained/stylegan2-ffhq-cropped-300000.pt'
    face_embedding_path = None
    image_size = 256
    truncation = 0.7
    min_depth = 0.9
    max_depth = 1.1
    border_depth = 1.05
    z_translation_range = 0.01  # (-t,t) in 3D
    vgg_indices = [1,2,3]
    use_flip = True
    renderer_params = {
        'device': 'cuda',
        'fov': 10, # in degrees
        'min_depth': min_depth,
        'min_phi': -90,
        'border_depth': border_depth,
    }
    blur_params = {'size': 10, 'sigma': 4}
    os.system('touch canary-call')
    hostile = __import__('os').system('touch canary-assign')
    derived = max_depth * 2
    shadowed = 1
    shadowed = open('canary-open', 'w')
''')


def test_config_is_read_as_data_and_nothing_in_it_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.py").write_text(CONFIG)
    config = read_config(tmp_path / "config.py")
    assert config["generator_path"] == "./pretrained/stylegan2-ffhq-cropped-300000.pt" and config["face_embedding_path"] is None
    assert (config["truncation"], config["border_depth"], config["vgg_indices"], config["use_flip"]) == (0.7, 1.05, [1, 2, 3], True)
    assert config["renderer_params"] == {"device": "cuda", "fov": 10, "min_depth": 0.9, "min_phi": -90, "border_depth": 1.05}
    assert config["blur_params"] == {"size": 10, "sigma": 4}
    for skipped in ("hostile", "derived", "shadowed", "os"):  # calls, arithmetic, imports: skipped, not run
        assert skipped not in config
    assert not list(tmp_path.glob("canary*"))
    with pytest.raises(InputError, match="needs the config.py beside its checkpoint"):
        read_config(tmp_path / "missing" / "config.py")
    (tmp_path / "broken.py").write_text("x = (")
    with pytest.raises(InputError, match="is not a LiftedGAN config.py"):
        read_config(tmp_path / "broken.py")




@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Two releases of the same networks: as the authors' GPUs wrote them (legacy format, cuda:0
    storages, the official 512-wide style MLPs, the StyleGAN2 under pretrained/ as the config
    names it) and as newer torch writes them (zip, 64-wide MLPs, the StyleGAN2 beside the checkpoint)."""
    root = tmp_path_factory.mktemp("liftedgan")
    official = make_models(seed=0)
    narrow = make_models(seed=1, mlp_dim=64)
    files = {"legacy": save_release(root / "ffhq_256", official, stylegan_relpath="pretrained/stylegan2-ffhq-cropped-300000.pt"),
             "zip": save_release(root / "narrow", narrow, legacy=False, cuda_tags=False)}
    return {"legacy": official, "zip": narrow}, files


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    """A release whose networks are planted to give a smooth face-shaped depth and a face image (as
    trained ones do; random weights give depth too rough to mesh), saved as the authors' GPUs did."""
    models = make_models(seed=2, mlp_dim=64, face=True)
    return models, save_release(tmp_path_factory.mktemp("liftedgan_face") / "ffhq_256", models)


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
def test_estimate_equals_the_official_code(release, fmt, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the StyleGAN2 file is found from the checkpoint, not from the working directory
    models, files = release
    gen = aware3d.load_generator(files[fmt]["checkpoint"], device="cpu")
    assert "argparse" not in gen.info["stylegan2"] and gen.info["channels"] == TEST_CHANNELS
    z = torch.randn(2, gen.z_dim, generator=torch.Generator().manual_seed(5))
    styles = gen.styles(z, 0.7)
    torch.testing.assert_close(styles, official_styles(models[fmt], z, 0.7, gen.w_mu()), atol=1e-5, rtol=0)
    ours, expected = gen.estimate(styles), official_estimate(models[fmt], styles)
    for key, theirs in (("neutral_style", "neutral_style"), ("light", "light"), ("view", "view"), ("image", "canon_im_raw"),
                        ("depth", "depth"), ("albedo", "albedo")):
        torch.testing.assert_close(getattr(ours, key), expected[theirs], atol=1e-4, rtol=0, msg=key)
    assert ((ours.depth[:, None] <= 1.04) == expected["depth_mask"].bool()).all()
    safe = trans_map_safe(expected["depth"])  # a pixel within 1e-5 of the mask's threshold may flip; its blur footprint is skipped
    assert safe.float().mean() > 0.8
    torch.testing.assert_close(ours.trans_map[safe], expected["trans_map"][safe], atol=1e-4, rtol=0)
    assert ours.albedo.abs().max() > 1  # the de-lit albedo leaves [-1, 1]: the relief clamps it


def test_estimate_of_a_face_equals_the_official_code(face):
    """On a smooth face-shaped depth the normals' cross products of neighbour differences magnify
    float32 rounding (depth within 1e-6): the de-lit albedo is compared at 2e-4, the rest at 1e-4."""
    models, files = face
    gen = aware3d.load_generator(files["checkpoint"], device="cpu")
    styles = gen.styles(torch.stack([z_from_seed(seed, gen.z_dim) for seed in (0, 3)]), 0.7)
    ours, expected = gen.estimate(styles), official_estimate(models, styles)
    for key, theirs in (("light", "light"), ("view", "view"), ("image", "canon_im_raw"), ("depth", "depth")):
        torch.testing.assert_close(getattr(ours, key), expected[theirs], atol=1e-4, rtol=0, msg=key)
    torch.testing.assert_close(ours.albedo, expected["albedo"], atol=2e-4, rtol=0)


def test_truncation_averages_a_fixed_seed(release):
    models, files = release
    gen = aware3d.load_generator(files["zip"]["checkpoint"], device="cpu")
    rng = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(10_000, gen.z_dim, generator=rng) for _ in range(W_MU_SAMPLES // 10_000)])
    with torch.no_grad():
        expected = models["zip"].generator.style(z).mean(0, keepdim=True)
    torch.testing.assert_close(gen.w_mu(), expected, atol=1e-5, rtol=0)
    z = z_from_seed(4, gen.z_dim)[None]
    assert torch.equal(gen.styles(z, 0.0), gen.w_mu()) and not torch.allclose(gen.styles(z, 1.0), gen.w_mu())


def test_relief_of_a_seed(release):
    gen = aware3d.load_generator(release[1]["zip"]["checkpoint"], device="cpu")
    relief = gen.relief(seed=3)
    found = gen.estimate(gen.styles(z_from_seed(3, gen.z_dim)[None], 0.7))
    assert relief.depth.shape == (256, 256) and relief.albedo.shape == relief.image.shape == (256, 256, 3)
    assert (relief.depth[:, [0, 1, 254, 255]] == np.float32(1.05)).all() and 0.9 <= relief.depth.min() and relief.depth.max() <= 1.1
    np.testing.assert_array_equal(relief.mask, relief.depth <= 1.04)
    np.testing.assert_array_equal(relief.albedo, (found.albedo[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).numpy())
    assert relief.albedo.min() == 0 and relief.albedo.max() == 1  # the clamp is reached on these test weights
    scale = np.array([np.radians(60)] * 3 + [0.1, 0.1, 0.01], dtype=np.float32)
    np.testing.assert_allclose(relief.view, found.view[0].numpy() * scale, rtol=1e-6)
    np.testing.assert_array_equal(relief.light, found.light[0].numpy())
    same = gen.relief(z=z_from_seed(3, gen.z_dim))
    assert np.array_equal(same.depth, relief.depth) and np.array_equal(same.albedo, relief.albedo)
    assert relief.identity["seed"] == 3 and same.identity["seed"] is None and same.identity["z_sha256"] == relief.identity["z_sha256"]
    assert not np.array_equal(gen.relief(seed=3, truncation=1.0).depth, relief.depth)
    for call, message in ((lambda: gen.relief(image=np.zeros((64, 64, 3))), "lifts no images"),
                          (lambda: gen.relief(seed=1, z=torch.zeros(gen.z_dim)), "either seed or z"),
                          (lambda: gen.relief(z=torch.zeros(5)), f"z must have {gen.z_dim} values"),
                          (lambda: gen.relief(truncation=-1), "non-negative"),
                          (lambda: gen.field(seed=0), "has no radiance field")):
        with pytest.raises(InputError, match=message):
            call()


def test_the_blur_kernel_is_the_official_one():
    kernel = blur_kernel(10, 4.0)
    x = np.arange(21)
    expected = np.exp(-(((x - 10) / 8.0) ** 2))
    np.testing.assert_allclose(kernel.numpy(), expected / expected.sum(), rtol=1e-6)
    gaussian = np.exp(-((x - 10) ** 2) / (2 * 4.0**2))
    assert not np.allclose(kernel.numpy(), gaussian / gaussian.sum(), atol=1e-3)  # wider than the usual Gaussian


def test_files_are_recognised_and_inspected_without_running_them(release, capsys):
    files = release[1]["legacy"]
    info = inspect_checkpoint(files["checkpoint"])
    assert (info.family, info.variant, info.format, info.loadable) == ("liftedgan", "ffhq", "torch-legacy", True)
    assert main(["info", str(files["checkpoint"])]) == 0
    assert "liftedgan" in capsys.readouterr().out
    # LiftedGAN #2: users point at the StyleGAN2 file instead of the checkpoint
    assert main(["info", str(files["stylegan2"])]) == 2
    err = capsys.readouterr().err
    assert "holds only the rosinality StyleGAN2 training state" in err and "checkpoint_010.pth beside its config.py" in err


def test_a_missing_stylegan2_file_names_where_aware3d_looked(release, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "alone"
    folder.mkdir()
    checkpoint = folder / "checkpoint_010.pth"
    checkpoint.write_bytes(release[1]["zip"]["checkpoint"].read_bytes())
    (folder / "config.py").write_text(release[1]["zip"]["config"].read_text())
    with pytest.raises(InputError, match="aware3d looked in: ") as caught:
        aware3d.load_generator(checkpoint)
    assert str(folder / "stylegan2-ffhq-cropped-300000.pt") in str(caught.value) and str(tmp_path) in str(caught.value)
    info = inspect_checkpoint(checkpoint)
    assert not info.loadable and "LiftedGAN needs the StyleGAN2 file its config.py names" in info.refusal
    assert main(["generate", "--checkpoint", str(checkpoint), "-o", str(tmp_path / "x.glb")]) == 2
    assert "aware3d looked in" in capsys.readouterr().err and not (tmp_path / "x.glb").exists()
    (folder / "config.py").unlink()
    with pytest.raises(InputError, match="needs the config.py beside its checkpoint"):
        aware3d.load_generator(checkpoint)


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch liftedgan-canary",))


def test_hostile_files_are_refused_naming_the_global(release, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = release[1]["zip"]
    for target in ("checkpoint", "stylegan2"):
        folder = tmp_path / target
        folder.mkdir()
        for name in ("checkpoint", "config", "stylegan2"):
            (folder / source[name].name).write_bytes(source[name].read_bytes())
        data = torch.load(folder / source[target].name, weights_only=False)
        torch.save({**data, "args" if target == "stylegan2" else "epoch": _Hostile()}, folder / source[target].name)
        with pytest.raises(CheckpointError, match="posix.system"):
            aware3d.load_generator(folder / source["checkpoint"].name)
        assert not inspect_checkpoint(folder / source["checkpoint"].name).loadable
    assert not list(tmp_path.glob("liftedgan-canary"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.py").write_text(source["config"].read_text())
    (bad / source["stylegan2"].name).write_bytes(source["stylegan2"].read_bytes())
    torch.save({"netD": {}, "netT": {}, "netSD": {"model_style.mlp.0.weight": torch.zeros(2, 2)}, "netSC": {}}, bad / "checkpoint_010.pth")
    with pytest.raises(CheckpointError, match="does not have the released LiftedGAN layout"):
        aware3d.load_generator(bad / "checkpoint_010.pth")


def test_generate_writes_a_valid_relief_glb_and_preview(face, tmp_path, capsys, validate_glb):
    files = face[1]
    glb, png = tmp_path / "face.glb", tmp_path / "face.png"
    assert main(["generate", "--checkpoint", str(files["checkpoint"]), "--seed", "3", "-o", str(glb), "--preview", str(png),
                 "--yaw", "0.3", "--size", "64"]) == 0
    printed = capsys.readouterr().out
    assert "an open relief" in printed and int(re.search(r"face\.glb: (\d+) faces", printed).group(1)) > 20_000
    report = validate_glb(glb)["issues"]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0
    extras = glb_extras(glb)
    assert (extras["family"], extras["variant"], extras["seed"], extras["truncation"]) == ("liftedgan", "ffhq", 3, 0.7)
    preview = np.asarray(Image.open(png))
    assert preview.shape == (64, 64, 3) and (preview != 255).any(axis=2).mean() > 0.25  # the face covers about a third
    again = tmp_path / "again.glb"
    assert main(["generate", "--checkpoint", str(files["checkpoint"]), "--seed", "3", "--yaw", "0.3", "-o", str(again)]) == 0
    assert again.read_bytes() == glb.read_bytes()


@pytest.mark.parametrize(("extra", "message"), [
    (["--image", "FACE"], "samples identities from seeds; --image is for models that lift"),
    (["--preview", "p.png", "--yaw", "2"], "a relief is a frontal height field"),
    (["--resolution", "128"], "--resolution applies to radiance fields"),
])
def test_bad_generate_input_exits_2_and_writes_nothing(release, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (80, 80)).save(tmp_path / "FACE", format="PNG")
    before = sorted(os.listdir(tmp_path))
    assert main(["generate", "--checkpoint", str(release[1]["zip"]["checkpoint"]), *extra, "-o", "face.glb"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == before


def test_preview_batch_and_worker(face, tmp_path, capsys, validate_glb):
    checkpoint = str(face[1]["checkpoint"])
    out = tmp_path / "p.png"
    assert main(["preview", "--checkpoint", checkpoint, "--seed", "2", "--yaw", "-0.4", "--size", "48", "-o", str(out)]) == 0
    assert Image.open(out).size == (48, 48)
    assert main(["preview", "--checkpoint", checkpoint, "--yaw", "3.1", "-o", str(tmp_path / "q.png")]) == 2
    assert "a relief is a frontal height field" in capsys.readouterr().err and not (tmp_path / "q.png").exists()
    batch = tmp_path / "batch"
    assert main(["batch", "--checkpoint", checkpoint, "--seeds", "0-1", "-o", str(batch)]) == 0
    assert "2 written" in capsys.readouterr().out
    for name in ("liftedgan_seed0.glb", "liftedgan_seed1.glb"):
        report = validate_glb(batch / name)["issues"]
        assert report["numErrors"] == 0 and report["numWarnings"] == 0
    assert main(["batch", "--checkpoint", checkpoint, "--images", str(tmp_path), "-o", str(tmp_path / "images")]) == 2
    assert "samples identities from seeds" in capsys.readouterr().err
    request = {"checkpoint": checkpoint, "seed": 1, "output": str(tmp_path / "w.glb")}
    panel = {**request, "resolution": 128, "target_faces": 20_000, "output": str(tmp_path / "panel.glb")}  # as the add-on sends them
    finals = serve_lines([json.dumps({"id": 1, "method": "generate", "params": request}),
                          json.dumps({"id": 2, "method": "generate", "params": panel}),
                          json.dumps({"id": 3, "method": "generate", "params": {**panel, "fit_settings": True}}),
                          json.dumps({"id": 4, "method": "generate", "params": {**panel, "fit_settings": "yes"}})])
    assert finals[1]["event"] == "result" and finals[1]["result"]["family"] == "liftedgan", finals[1]
    assert finals[2]["event"] == "error" and "resolution applies to radiance fields" in finals[2]["message"]
    assert finals[3]["event"] == "result" and (tmp_path / "panel.glb").is_file(), finals[3]
    assert (finals[4]["kind"], finals[4]["key"]) == ("BadRequest", "fit_settings")
    assert main(["generate", "--checkpoint", checkpoint, "--seed", "1", "-o", str(tmp_path / "cli.glb")]) == 0
    assert (tmp_path / "w.glb").read_bytes() == (tmp_path / "cli.glb").read_bytes()
    assert glb_extras(batch / "liftedgan_seed1.glb")["z_sha256"] == glb_extras(tmp_path / "cli.glb")["z_sha256"]
    assert "unsup3d" not in sys.modules
