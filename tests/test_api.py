"""The public API names and signatures DESIGN.md promises."""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import aware3d

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_are_exported():
    for name in ("load_generator", "Pose", "FieldSample", "Field", "Relief", "Aware3DError", "CheckpointError", "__version__"):
        assert name in aware3d.__all__ and hasattr(aware3d, name)
    # The installed distribution's version, not the source-tree fallback ("0.0.0+unknown").
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert aware3d.__version__ == declared


def test_signatures_match_the_design():
    params = inspect.signature(aware3d.load_generator).parameters
    assert [(p.name, p.default) for p in params.values()][:3] == [("path", None), ("family", None), ("device", "auto")]
    # family options (ema=...) come from the registry entry, so they are keywords, not parameters
    assert [p.kind for p in params.values()][3:] == [inspect.Parameter.VAR_KEYWORD]
    gen = aware3d.load_generator(family="demo", device="cpu")
    params = inspect.signature(gen.field).parameters
    assert [(p.name, p.default) for p in params.values()] == [
        ("seed", None), ("z", None), ("truncation", 0.7), ("conditioning", None)
    ]
    assert list(inspect.signature(gen.render).parameters)[:3] == ["field", "pose", "size"]
    assert list(inspect.signature(aware3d.Pose).parameters) == ["yaw", "pitch", "radius", "fov"]


def test_generator_attributes_and_field_protocol():
    gen = aware3d.load_generator(family="demo", device="cpu")
    assert gen.family == "demo" and gen.z_dim == 16
    assert gen.info["family"] == "demo" and gen.info["learned"] is False
    assert set(gen.info["default_pose"]) == {"yaw", "pitch", "radius", "fov"}
    field = gen.field(seed=0)
    assert isinstance(field, aware3d.Field)
    lo, hi = field.bounds
    assert all(a < b for a, b in zip(lo, hi))
    points = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 0.5], [0.02, 0.03, 0.05], [0.0, 0.3, 0.0]])
    out = field.query(points)
    assert isinstance(out, aware3d.FieldSample)
    assert out.density.shape == (4,) and out.rgb.shape == (4, 3) and out.features is None
    assert out.density[0] > field.default_level > out.density[1] >= 0  # inside the head vs far outside
    assert float(out.rgb.min()) >= 0 and float(out.rgb.max()) <= 1
    # density is the model's activation of raw_density (demo: 800 softplus), not a copy of it
    assert torch.allclose(out.density, 800 * torch.nn.functional.softplus(out.raw_density))
    assert torch.equal(field.query_density(points), out.density)
    assert field.world_to_asset.shape == (4, 4) and field.identity["seed"] == 0
    image = gen.render(field, aware3d.Pose(yaw=0.3, pitch=0.0), size=16)
    assert isinstance(image, np.ndarray) and image.shape == (16, 16, 3) and image.dtype == np.uint8


def test_load_generator_errors():
    with pytest.raises(aware3d.UnknownFamilyError, match="unknown model family 'nope'"):
        aware3d.load_generator(family="nope")
    with pytest.raises(aware3d.InputError, match="ffhq512-128.pkl"):
        aware3d.load_generator(family="eg3d")
    with pytest.raises(aware3d.InputError, match="generator.pth"):
        aware3d.load_generator(family="pigan")
    with pytest.raises(aware3d.InputError, match="family='demo'"):
        aware3d.load_generator()
    with pytest.raises(aware3d.CheckpointError, match="not found"):
        aware3d.load_generator("/no/such/generator.pth")


def test_device_resolution():
    from aware3d.device import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(aware3d.DeviceError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(aware3d.DeviceError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_demo_runs_on_the_requested_device(device):
    gen = aware3d.load_generator(family="demo", device=device)
    out = gen.field(seed=0).query(torch.zeros(2, 3))
    assert out.density.device.type == device.type


@pytest.mark.parametrize(
    "module", ["aware3d", "aware3d.cameras", "aware3d.device", "aware3d.fields", "aware3d.models.base", "aware3d.app.batch"]
)
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
