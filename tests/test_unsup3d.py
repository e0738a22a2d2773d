"""Unsup3d: official-format Trainer checkpoints load safely and lift images exactly as the
official demo does; ``aware3d generate --image`` writes a valid relief GLB; bad input is one
sentence."""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from support import glb_extras
from unsup3d_official import face_image, make_networks, official_demo, save_checkpoint, save_png

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError, InputError
from aware3d.models import detect_family, inspect_checkpoint
from aware3d.models.unsup3d import BORDER_DEPTH


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """Narrow networks saved as the authors' GPUs wrote them (legacy format, cuda:0 storages) and
    as newer torch writes them (zip), in the folder the official zip unpacks to."""
    folder = tmp_path_factory.mktemp("unsup3d") / "pretrained_celeba"
    nets = make_networks(seed=3)
    files = {"legacy": save_checkpoint(folder / "checkpoint030.pth", nets, legacy=True, cuda_tags=True),
             "zip": save_checkpoint(folder / "checkpoint030_zip.pth", nets)}
    return nets, files


@pytest.mark.parametrize("fmt", ["legacy", "zip"])
@pytest.mark.parametrize("source", ["array", "tensor_large", "png"])
def test_relief_equals_the_official_demo(release, tmp_path, fmt, source):
    nets, files = release
    gen = aware3d.load_generator(files[fmt], device="cpu")
    if source == "array":
        image = given = face_image(96, seed=1)
    elif source == "tensor_large":  # over 256 pixels: the demo resizes through 128x128
        image = face_image(300, seed=2)
        given = torch.from_numpy(image)
    else:
        path = save_png(tmp_path / "face.png", face_image(120, seed=4))
        image, given = np.asarray(Image.open(path), dtype=np.float32) / 255.0, path
    relief, expected = gen.relief(image=given), official_demo(nets, image)
    for key in ("depth", "albedo", "light", "view"):
        np.testing.assert_allclose(getattr(relief, key), expected[key], atol=1e-4, rtol=0, err_msg=key)
    assert relief.depth.shape == (64, 64) and relief.albedo.shape == (64, 64, 3)
    assert (relief.depth[:, [0, 1, 62, 63]] == np.float32(BORDER_DEPTH)).all()
    assert 0.9 <= relief.depth.min() and relief.depth.max() <= 1.1
    assert not relief.mask[:, [0, 1, 62, 63]].any() and relief.mask[:, 2:62].mean() > 0.5
    assert "unsup3d" not in sys.modules  # the pickled MetricsTrace's module was never imported


def test_files_are_recognised_and_inspected_without_running_them(release, tmp_path):
    _, files = release
    info = inspect_checkpoint(files["legacy"])
    assert (info.family, info.variant, info.format, info.loadable) == ("unsup3d", "celeba", "torch-legacy", True)
    assert "unsup3d.meters.MetricsTrace" in info.globals
    clean = tmp_path / "clean.pth"  # the Trainer's save_clean_checkpoint: state dicts only, no class named
    torch.save({name: net.state_dict() for name, net in release[0].items()}, clean)
    assert detect_family(clean) == "unsup3d"
    assert aware3d.load_generator(clean).info["widths"] == {"netD": 16, "netA": 16, "netL": 8, "netV": 8}


class _Hostile:
    def __reduce__(self):
        return (os.system, ("touch unsup3d-canary",))


def test_a_hostile_metrics_trace_is_refused_naming_it(release, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "checkpoint030.pth"
    torch.save({**{name: net.state_dict() for name, net in release[0].items()}, "metrics_trace": _Hostile()}, path)
    with pytest.raises(CheckpointError, match="posix.system"):
        aware3d.load_generator(path, family="unsup3d")
    assert not (tmp_path / "unsup3d-canary").exists()


def test_wrong_files_get_one_sentence(release, tmp_path):
    nets, _ = release
    partial = tmp_path / "partial.pth"
    torch.save({"netD": nets["netD"].state_dict(), "netA": nets["netA"].state_dict()}, partial)
    with pytest.raises(CheckpointError, match="not an Unsup3d checkpoint: it needs the state dicts netD, netA, netL, netV"):
        aware3d.load_generator(partial, family="unsup3d")
    reshaped = {name: net.state_dict() for name, net in nets.items()}
    reshaped["netD"] = {k: v for k, v in reshaped["netD"].items() if k != "network.39.weight"}
    torch.save(reshaped, tmp_path / "reshaped.pth")
    with pytest.raises(CheckpointError, match="netD does not have the released Unsup3d layout"):
        aware3d.load_generator(tmp_path / "reshaped.pth", family="unsup3d")


def test_bad_images_get_one_sentence(release):
    gen = aware3d.load_generator(release[1]["zip"])
    for image, message in ((np.zeros((64, 64)), "image must be \\[H,W,3\\]"), (np.full((64, 64, 3), 2.0), "in \\[0, 1\\]"),
                           (np.zeros((40, 80, 3)), "80x40 pixels, too small to hold a face"), (None, "needs a face image")):
        with pytest.raises(InputError, match=message):
            gen.relief(image=image)
    with pytest.raises(InputError, match="has no radiance field"):
        gen.field(seed=0)


def test_generate_lifts_a_preview_of_another_family_into_a_valid_glb(release, tmp_path, capsys, validate_glb):
    """``aware3d preview`` of the demo, then ``aware3d generate --image`` with Unsup3d."""
    preview, glb = tmp_path / "demo.png", tmp_path / "face.glb"
    assert main(["preview", "--model", "demo", "--seed", "7", "--size", "96", "-o", str(preview)]) == 0
    assert main(["generate", "--checkpoint", str(release[1]["legacy"]), "--image", str(preview), "-o", str(glb)]) == 0
    assert "an open relief" in capsys.readouterr().out
    report = validate_glb(glb)["issues"]
    assert report["numErrors"] == 0 and report["numWarnings"] == 0
    extras = glb_extras(glb)
    assert extras["family"] == "unsup3d" and extras["checkpoint_sha256"] == inspect_checkpoint(release[1]["legacy"]).sha256


@pytest.mark.parametrize(("extra", "message"), [
    (["--image", "NOT_AN_IMAGE"], "is not an image Pillow can read"),
    (["--image", "SMALL"], "too small to hold a face"),
    ([], "give the image (--image PHOTO.png)"),
    (["--image", "FACE", "--preview", "p.png", "--yaw", "2"], "a relief is a frontal height field"),
    (["--image", "FACE", "--resolution", "128"], "--resolution applies to radiance fields"),
])
def test_bad_generate_input_exits_2_and_writes_nothing(release, tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "NOT_AN_IMAGE").write_text("hello")
    save_png(tmp_path / "SMALL", face_image(40))
    save_png(tmp_path / "FACE", face_image(80))
    before = sorted(os.listdir(tmp_path))
    assert main(["generate", "--checkpoint", str(release[1]["zip"]), *extra, "-o", "face.glb"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == before


def test_an_image_given_to_a_seed_model_is_refused(tmp_path, capsys):
    save_png(tmp_path / "face.png", face_image(80))
    assert main(["generate", "--model", "demo", "--image", str(tmp_path / "face.png"), "-o", str(tmp_path / "f.glb")]) == 2
    assert "samples identities from seeds; --image is for models that lift an image" in capsys.readouterr().err
    assert not (tmp_path / "f.glb").exists()


def test_the_worker_lifts_an_image(release, tmp_path):
    from support import serve_lines

    save_png(tmp_path / "face.png", face_image(80))
    request = {"checkpoint": str(release[1]["zip"]), "image": str(tmp_path / "face.png"), "output": str(tmp_path / "face.glb")}
    bad = {**request, "image": 7}
    finals = serve_lines([json.dumps({"id": 1, "method": "generate", "params": request}),
                          json.dumps({"id": 2, "method": "generate", "params": bad})])
    assert finals[1]["event"] == "result" and finals[1]["result"]["family"] == "unsup3d", finals[1]
    assert finals[1]["result"]["stats"]["level_source"] == "relief" and (tmp_path / "face.glb").exists()
    assert (finals[2]["kind"], finals[2]["key"]) == ("BadRequest", "image")


def _smooth_relief(gen, image):
    """The network's relief of ``image`` with a smooth dome for depth and the input as albedo:
    every quad is kept, so what a preview shows can be checked pixel by pixel."""
    relief = gen.relief(image=image)
    ys, xs = np.mgrid[0:64, 0:64] / 63 * 2 - 1
    depth = (1.0 + 0.03 * (xs**2 + ys**2)).astype(np.float32)
    return dataclasses.replace(relief, depth=depth, albedo=relief.image, mask=np.ones((64, 64), bool))


def test_a_frontal_preview_shows_the_relief_pixel_for_pixel(release):
    from aware3d.app.export import relief_preview
    from aware3d.app.settings import PreviewSettings

    gen = aware3d.load_generator(release[1]["zip"])
    relief = _smooth_relief(gen, face_image(96, seed=5))
    front = relief_preview(gen, relief, PreviewSettings(size=64)).astype(np.float32) / 255
    inner = (slice(1, -1), slice(1, -1))  # the outermost pixel centres lie on the mesh's edge
    np.testing.assert_allclose(front[inner], relief.albedo[inner], atol=1 / 255 + 1e-6)
    side = relief_preview(gen, relief, PreviewSettings(size=64, yaw=0.5))
    assert (side == 255).all(axis=2).mean() > (front == 1.0).all(axis=2).mean() + 0.05  # turned: the square is foreshortened
    with pytest.raises(InputError, match="shown from yaw within ±0.8 rad"):
        relief_preview(gen, relief, PreviewSettings(yaw=1.0))


def test_preview_lifts_and_renders_the_image(release, tmp_path, capsys):
    face = save_png(tmp_path / "face.png", face_image(80))
    out = tmp_path / "p.png"
    assert main(["preview", "--checkpoint", str(release[1]["zip"]), "--image", str(face), "--yaw", "0.4", "--size", "48", "-o", str(out)]) == 0
    assert Image.open(out).size == (48, 48)
    assert main(["preview", "--checkpoint", str(release[1]["zip"]), "--image", str(face), "--yaw", "3.1", "-o", str(tmp_path / "q.png")]) == 2
    assert "a relief is a frontal height field" in capsys.readouterr().err and not (tmp_path / "q.png").exists()


def test_a_folder_of_images_is_batched_resumably(release, tmp_path, capsys, validate_glb):
    images, out = tmp_path / "faces", tmp_path / "out"
    images.mkdir()
    save_png(images / "anna.png", face_image(80, seed=1))
    save_png(images / "ben.jpg", face_image(100, seed=2))
    save_png(images / "tiny.png", face_image(40))
    (images / "notes.txt").write_text("not an image; left alone")
    command = ["batch", "--checkpoint", str(release[1]["zip"]), "--images", str(images), "-o", str(out)]
    assert main(command) == 1  # tiny.png is too small: recorded, the others made
    captured = capsys.readouterr()
    assert "2 written, 0 already done, 1 failed" in captured.out
    assert "image tiny.png failed: InputError: the image is 40x40 pixels" in captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert {k: v["status"] for k, v in manifest["assets"].items()} == {"anna.png": "ok", "ben.jpg": "ok", "tiny.png": "failed"}
    assert manifest["assets"]["anna.png"]["image"] == str(images / "anna.png")
    for name in ("unsup3d_anna.glb", "unsup3d_ben.glb"):
        report = validate_glb(out / name)["issues"]
        assert report["numErrors"] == 0 and report["numWarnings"] == 0
    ben = (out / "unsup3d_ben.glb").stat().st_mtime_ns
    save_png(images / "anna.png", face_image(80, seed=9))  # an edited image is made again; the others are kept
    assert main(command) == 1
    assert "1 written, 1 already done, 1 failed" in capsys.readouterr().out
    assert (out / "unsup3d_ben.glb").stat().st_mtime_ns == ben
    assert main(["batch", "--checkpoint", str(release[1]["zip"]), "--seeds", "0-2", "-o", str(tmp_path / "seeds")]) == 2
    assert "give a folder of images (--images FOLDER), not seeds" in capsys.readouterr().err
    assert not (tmp_path / "seeds").exists()
