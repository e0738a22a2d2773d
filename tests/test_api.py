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
    for name in ("load_generator", "Pose", "FieldSample", "Field", "Aware3DError", "CheckpointError", "__version__"):
        assert name in aware3d.__all__ and hasattr(aware3d, name)
    assert re.match(r"\d+\.\d+", aware3d.__version__)


def test_signatures_match_the_design():
    params = inspect.signature(aware3d.load_generator).parameters
    assert [(p.name, p.default) for p in params.values()][:3] == [("path", None), ("family", None), ("device", "auto")]
    assert params["ema"].default == "ema"  # pi-GAN/GRAM: which EMA file to apply
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
    out = field.query(torch.zeros(4, 3))
    assert isinstance(out, aware3d.FieldSample)
    assert {"density", "rgb", "raw_density"} <= set(vars(out))
    image = gen.render(field, aware3d.Pose(yaw=0.3, pitch=0.0), size=16)
    assert isinstance(image, np.ndarray) and image.shape == (16, 16, 3) and image.dtype == np.uint8


def test_load_generator_errors():
    with pytest.raises(aware3d.UnknownFamilyError, match="unknown model family 'nope'"):
        aware3d.load_generator(family="nope")
    with pytest.raises(aware3d.UnsupportedFamilyError, match="eg3d"):
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


@pytest.mark.parametrize("module", ["aware3d", "aware3d.cameras", "aware3d.device", "aware3d.models.base"])
def test_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def _imports(path: Path) -> list[str]:
    return re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), re.M)


def test_dependency_direction():
    """Models never import exporters (DESIGN.md: exporters -> core, never the reverse)."""
    for path in (ROOT / "core" / "models").rglob("*.py"):
        assert not [m for m in _imports(path) if "exporters" in m], path
