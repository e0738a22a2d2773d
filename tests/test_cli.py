"""The ``aware3d`` command: previews, model listing, and one-sentence errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import aware3d
from aware3d.app.cli import main


def _run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """Run the installed console script as a user would."""
    exe = os.path.join(os.path.dirname(sys.executable), "aware3d")
    return subprocess.run([exe, *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_preview_writes_the_png_the_api_renders(tmp_path):
    out = tmp_path / "p.png"
    result = _run("preview", "--model", "demo", "--seed", "1", "--yaw", "0.4", "--size", "48", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    image = np.asarray(Image.open(out))
    gen = aware3d.load_generator(family="demo", device="cpu")
    expected = gen.render(gen.field(seed=1, truncation=0.7), aware3d.Pose(yaw=0.4), size=48)
    assert image.shape == (48, 48, 3)
    assert np.array_equal(image, expected)
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temp files left


def test_preview_options_change_the_image(tmp_path, capsys):
    paths = {}
    for name, extra in {"base": [], "pitch": ["--pitch", "0.3"], "fov": ["--fov", "20"], "trunc": ["--truncation", "0"]}.items():
        paths[name] = tmp_path / f"{name}.png"
        assert main(["preview", "--model", "demo", "--seed", "5", "--size", "24", "-o", str(paths[name]), *extra]) == 0
    base = np.asarray(Image.open(paths["base"])).astype(int)
    for name in ("pitch", "fov", "trunc"):
        assert np.abs(np.asarray(Image.open(paths[name])).astype(int) - base).mean() > 1, name


def test_python_dash_m_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "aware3d", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == f"aware3d {aware3d.__version__}"


def test_models_lists_families_files_and_licences(capsys):
    assert main(["models"]) == 0
    text = capsys.readouterr().out
    for family in ("demo", "pigan", "gram", "graf", "cips3d", "eg3d"):
        assert family in text
    assert "licence" in text and "generator.pth" in text and "NVIDIA" in text
    assert main(["models", "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)
    assert {r["family"]: r["loads"] for r in rows}["demo"] is True


BAD_INPUTS = {
    "unknown family": (["--model", "nope"], "unknown model family 'nope'"),
    "missing file": (["--checkpoint", "{tmp}/missing.pth"], "not found"),
    "directory as checkpoint": (["--checkpoint", "{tmp}"], "is a directory"),
    "pitch at the pole": (["--model", "demo", "--pitch", "1.5708"], "--pitch must be at most 1.5707963"),
    "pitch beyond the pole": (["--model", "demo", "--pitch=-2"], "pitch"),
    "zero size": (["--model", "demo", "--size", "0"], "--size must be at least 1, got 0"),
    "negative size": (["--model", "demo", "--size=-5"], "--size must be at least 1, got -5"),
    "huge size": (["--model", "demo", "--size", "1000000000"], "--size must be at most 4096"),
    "option the family lacks": (["--model", "demo", "--ema", "none"], "the demo family takes no option 'ema'"),
    "not a number": (["--model", "demo", "--size", "big"], "invalid int value"),
    "no model": ([], "give --model"),
    "bad truncation": (["--model", "demo", "--truncation=-1"], "truncation"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_sentence_and_exit_code_2(tmp_path, case):
    args, message = BAD_INPUTS[case]
    out = tmp_path / "out.png"
    result = _run("preview", *[a.format(tmp=tmp_path) for a in args], "-o", str(out))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() and list(tmp_path.glob("*.png*")) == []


def test_a_family_without_a_loader_says_so(tmp_path, capsys):
    """Every seed-list family loads now; a registered family without a loader still gets one sentence."""
    import aware3d
    from aware3d.cameras import PIGAN_CONVENTION
    from aware3d.models import FamilySpec, register_family, unregister_family
    from aware3d.models.releases import Licence

    register_family(FamilySpec(name="zzlater", title="a family without a loader", files="zzlater.pt",
                               licence=Licence("test", "defined in tests/test_cli.py"), loader=None, convention=PIGAN_CONVENTION))
    try:
        assert main(["preview", "--model", "zzlater", "-o", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "the zzlater family is recognised but this version of aware3d cannot load it yet" in err[0]
        with pytest.raises(aware3d.UnsupportedFamilyError, match="zzlater"):
            aware3d.load_generator(family="zzlater")
    finally:
        unregister_family("zzlater")
    assert not (tmp_path / "x.png").exists()


def test_output_path_that_is_a_directory(tmp_path):
    result = _run("preview", "--model", "demo", "-o", str(tmp_path))
    assert result.returncode == 2 and "is a directory" in result.stderr
    result = _run("preview", "--model", "demo", "-o", str(tmp_path / "no" / "such" / "x.png"))
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = _run("preview", "--model", "nope", "--debug", "-o", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "UnknownFamilyError" in result.stderr


def test_cuda_request_without_a_gpu_is_refused(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = _run("preview", "--model", "demo", "--device", "cuda", "-o", str(tmp_path / "x.png"))
    assert result.returncode == 2 and "no CUDA GPU" in result.stderr


# --- generate and batch ----------------------------------------------------------------------


def test_generate_writes_a_glb_and_a_preview(tmp_path, validate_glb):
    out, preview = tmp_path / "face.glb", tmp_path / "face.png"
    result = _run(
        "generate", "--model", "demo", "--seed", "7", "--resolution", "128", "--texture-size", "256",
        "--preview", str(preview), "--size", "32", "--yaw", "0.3", "--json", "-o", str(out),
    )
    assert result.returncode == 0, result.stderr
    import json

    stats = json.loads(result.stdout)
    assert stats["output"] == str(out) and stats["num_faces"] > 1000 and stats["watertight"] is True
    assert set(stats["seconds"]) == {"extract", "clean", "unwrap", "bake", "write"}
    assert validate_glb(out)["issues"]["numErrors"] == 0
    assert np.asarray(Image.open(preview)).shape == (32, 32, 3)
    import pygltflib

    extras = pygltflib.GLTF2().load(str(out)).asset.extras
    assert extras["pose"]["yaw"] == 0.3 and extras["seed"] == 7


@pytest.mark.parametrize(
    "args, message, code",
    [
        (["--model", "demo", "--texture-size", "1000"], "--texture-size must be a power of two", 2),
        (["--model", "demo", "--resolution", "100"], "power of two", 2),
        (["--model", "demo", "--faces", "5"], "--target-faces must be at least 100, got 5", 2),
        (["--model", "demo", "--level", "1e9"], "no surface", 1),  # valid input, nothing to mesh: a failure
        (["--model", "nope"], "unknown model family", 2),
    ],
)
def test_generate_bad_input(tmp_path, args, message, code):
    out = tmp_path / "x.glb"
    result = _run("generate", *args, "-o", str(out))
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_batch_writes_resumes_and_reports_failures(tmp_path, monkeypatch, capsys):
    import json

    import aware3d.exporters

    out = tmp_path / "out"
    common = ["batch", "--model", "demo", "--resolution", "64", "--texture-size", "64", "--faces", "2000", "-o", str(out)]
    assert main([*common, "--seeds", "0-2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["assets"]) == ["0", "1", "2"]
    assert all(a["status"] == "ok" and (out / a["file"]).exists() for a in manifest["assets"].values())
    assert manifest["assets"]["1"]["stats"]["num_faces"] > 100
    mtime = (out / "demo_seed0.glb").stat().st_mtime_ns
    capsys.readouterr()

    real_export = aware3d.exporters.export_glb

    def flaky(field, path, *args, **kwargs):
        if field.identity["seed"] == 4:
            raise RuntimeError("simulated failure")
        return real_export(field, path, *args, **kwargs)

    monkeypatch.setattr(aware3d.exporters, "export_glb", flaky)
    assert main([*common, "--seeds", "0-5"]) == 1  # seed 4 fails, the others go on
    captured = capsys.readouterr()
    assert "2 written, 3 already done, 1 failed" in captured.out
    assert "seed 4 failed: RuntimeError: simulated failure" in captured.err
    assert (out / "demo_seed0.glb").stat().st_mtime_ns == mtime  # skipped, not redone
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["assets"]["4"]["status"] == "failed" and (out / "demo_seed5.glb").exists()
    monkeypatch.setattr(aware3d.exporters, "export_glb", real_export)
    assert main([*common, "--seeds", "0-5"]) == 0  # only seed 4 is redone
    assert "1 written, 5 already done, 0 failed" in capsys.readouterr().out


def test_batch_bad_seeds(tmp_path):
    result = _run("batch", "--model", "demo", "--seeds", "9-3", "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "runs backwards" in result.stderr
    result = _run("batch", "--model", "demo", "--seeds", "a,b", "-o", str(tmp_path / "o"))
    assert result.returncode == 2 and "cannot read seeds" in result.stderr
    assert not (tmp_path / "o").exists()
