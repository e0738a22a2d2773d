"""The registry is the only plug-in point: a family defined here, in the test, and registered
works through ``load_generator``, ``aware3d preview``/``generate``/``info`` and the worker without
any other file changing. Its z-up, half-size world also proves the frame reaches the asset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import torch
from PIL import Image
from support import serve_lines

import aware3d
from aware3d.app.cli import main
from aware3d.cameras import PIGAN_CONVENTION, CameraSpec
from aware3d.checkpoints import file_sha256, safe_load
from aware3d.fields import BaseField, Bounds, FieldSample, WorldFrame
from aware3d.models import FAMILIES, FamilySpec, LoaderOption, inspect_checkpoint, register_family, unregister_family
from aware3d.models.base import Generator
from aware3d.models.releases import Licence
from aware3d.render import RenderSettings

NAME = "zzegg"
RADII = (0.3, 0.3, 0.6)
"""An egg three units tall along world z, which is this family's up axis."""
FRAME = WorldFrame(up_axis="z", metres_per_unit=0.25)
LEVEL = 50.0
KEY = "zzegg_net.scale"


class EggField(BaseField):
    default_level = LEVEL
    exact_level = True  # the egg's surface is defined at this level
    frame = FRAME

    def __init__(self, scale: float, tint: float, device: torch.device) -> None:
        super().__init__(Bounds((-0.5, -0.5, -0.8), (0.5, 0.5, 0.8)), device)
        self.scale, self.tint = scale, tint

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        radii = points.new_tensor(RADII) * self.scale
        raw = 1 - torch.linalg.vector_norm(points / radii, dim=-1)
        rgb = torch.stack([torch.full_like(raw, self.tint), (points[:, 2] > 0).float(), torch.full_like(raw, 0.5)], dim=-1)
        return FieldSample(density=100 * torch.sigmoid(20 * raw), rgb=rgb, raw_density=raw)


class EggGenerator(Generator):
    family = NAME
    z_dim = 2
    camera = CameraSpec(PIGAN_CONVENTION, radius=4.0, fov=30.0)
    render_settings = RenderSettings(num_coarse=32, num_fine=16, background=(1.0, 1.0, 1.0))

    def __init__(self, scale: float, device: torch.device, tint: str, path: str | None) -> None:
        self.scale, self.device, self.tint = scale, device, {"red": 1.0, "dark": 0.1}[tint]
        self.info = {"family": NAME, "checkpoint_sha256": None if path is None else file_sha256(path)}

    def _make_field(self, z, truncation, conditioning) -> EggField:
        return EggField(self.scale * (1 + 0.1 * truncation * float(torch.tanh(z[0]))), self.tint, self.device)


def _load(path: str | None, device: torch.device, tint: str) -> EggGenerator:
    scale = 1.0 if path is None else float(safe_load(path)[KEY])
    return EggGenerator(scale, device, tint, path)


def _variant(path: Path, summary) -> str:
    return f"scale {float(safe_load(path)[KEY]):g}"


SPEC = FamilySpec(
    name=NAME,
    title="a throw-away family defined in a test",
    files="zzegg.pt, a state dict with zzegg_net.scale",
    licence=Licence("test", "defined in tests/test_registry.py"),
    loader=_load,
    convention=PIGAN_CONVENTION,
    frame=FRAME,
    options=(LoaderOption("tint", ("red", "dark"), "red", "colour of the egg"),),
    default_level=LEVEL,
    state_keys=("zzegg_net.",),
    variant=_variant,
)


@pytest.fixture
def egg_family():
    register_family(SPEC)
    yield SPEC
    unregister_family(NAME)


@pytest.fixture
def egg_checkpoint(tmp_path) -> Path:
    path = tmp_path / "zzegg.pt"
    torch.save({KEY: torch.tensor(0.5)}, path)
    return path


def test_registering_twice_is_refused_and_unregistering_cleans_up(egg_family):
    with pytest.raises(aware3d.InputError, match="registered already"):
        register_family(SPEC)
    unregister_family(NAME)
    assert NAME not in FAMILIES
    with pytest.raises(aware3d.UnknownFamilyError):
        aware3d.load_generator(family=NAME)
    register_family(SPEC)  # the fixture unregisters it again


def test_load_generator_detects_the_file_and_passes_declared_options(egg_family, egg_checkpoint):
    gen = aware3d.load_generator(egg_checkpoint, device="cpu", tint="dark")
    assert gen.family == NAME and gen.scale == 0.5 and gen.tint == 0.1
    assert aware3d.load_generator(family=NAME, device="cpu", path=egg_checkpoint).tint == 1.0  # the declared default
    with pytest.raises(aware3d.InputError, match="takes no option 'ema'"):
        aware3d.load_generator(egg_checkpoint, device="cpu", ema="none")
    with pytest.raises(aware3d.InputError, match="tint must be one of red, dark"):
        aware3d.load_generator(egg_checkpoint, device="cpu", tint="blue")
    info = inspect_checkpoint(egg_checkpoint)
    assert (info.family, info.variant, info.loadable) == (NAME, "scale 0.5", True)


def test_cli_preview_generate_info_and_models(egg_family, egg_checkpoint, tmp_path, capsys, validate_glb):
    png = tmp_path / "egg.png"
    assert main(["preview", "--checkpoint", str(egg_checkpoint), "--tint", "dark", "--size", "24", "-o", str(png)]) == 0
    image = np.asarray(Image.open(png)).astype(int)
    assert image.shape == (24, 24, 3) and image[12, 12, 0] < 60 and image[0, 0].tolist() == [255, 255, 255]
    assert capsys.readouterr().out.strip() == str(png)

    glb = tmp_path / "egg.glb"
    args = ["generate", "--checkpoint", str(egg_checkpoint), "--resolution", "64", "--texture-size", "64", "--faces", "2000"]
    assert main([*args, "--truncation", "0", "--json", "-o", str(glb)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["level"] == LEVEL and stats["scale"] == 0.25 and stats["watertight"] is True
    assert validate_glb(glb)["issues"]["numErrors"] == 0
    gltf = pygltflib.GLTF2().load(str(glb))
    extras = gltf.asset.extras
    assert extras["family"] == NAME and extras["level"] == LEVEL and extras["scale"] == 0.25
    # z-up world at 0.25 m per unit -> glTF y-up metres: the egg's long axis (world z, the
    # checkpoint's scale 0.5 applied) stands along y, life-size.
    accessor = gltf.accessors[gltf.meshes[0].primitives[0].attributes.POSITION]
    extent = np.array(accessor.max) - np.array(accessor.min)
    expected = np.array([RADII[0], RADII[2], RADII[1]]) * 2 * 0.5 * 0.25
    np.testing.assert_allclose(extent, expected, rtol=0.05)

    assert main(["info", str(egg_checkpoint), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["family"] == NAME and record["variant"] == "scale 0.5" and record["loadable"] is True
    assert main(["models", "--json"]) == 0
    rows = {row["family"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows[NAME]["options"][0]["choices"] == ["red", "dark"] and rows[NAME]["up_axis"] == "z"


def test_worker_serves_the_new_family(egg_family, egg_checkpoint, tmp_path):
    requests = [
        {"id": 1, "method": "models"},
        {"id": 2, "method": "preview", "params": {"checkpoint": str(egg_checkpoint), "options": {"tint": "dark"}, "size": 16,
                                                  "output": str(tmp_path / "w.png")}},
        {"id": 3, "method": "generate", "params": {"checkpoint": str(egg_checkpoint), "resolution": 64, "texture_size": 64,
                                                   "target_faces": 2000, "output": str(tmp_path / "w.glb")}},
        {"id": 4, "method": "preview", "params": {"checkpoint": str(egg_checkpoint), "options": {"tint": "blue"},
                                                  "output": str(tmp_path / "x.png")}},
    ]
    events = serve_lines([json.dumps(r) for r in requests])
    assert NAME in [f["family"] for f in events[1]["result"]["families"]]
    assert events[2]["result"]["family"] == NAME and events[2]["result"]["spec"]["metres_per_unit"] == 0.25
    assert np.asarray(Image.open(tmp_path / "w.png")).shape == (16, 16, 3)
    assert events[3]["result"]["stats"]["scale"] == 0.25 and (tmp_path / "w.glb").exists()
    assert events[4]["kind"] == "BadRequest" and events[4]["key"] == "options.tint"
    assert not (tmp_path / "x.png").exists()
