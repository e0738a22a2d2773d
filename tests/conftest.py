"""Shared fixtures: the device matrix and small analytic fields with known answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import torch

# Blender keeps preferences and installed extensions under its user resources; the add-on tests
# install into a throw-away folder. This must be set before bpy is first imported.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="aware3d-blender-"))

from aware3d.fields import BaseField, Bounds, FieldSample


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> torch.device:
    """Run a test on the CPU and, where a GPU is present, on CUDA."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    return torch.device(request.param)


class SphereField(BaseField):
    """An opaque sphere of one colour: density ``sharpness`` inside, 0 outside (ReLU-like)."""

    def __init__(self, radius=0.1, center=(0.0, 0.0, 0.0), colour=(0.2, 0.6, 0.9), density=1e4, device="cpu"):
        half = radius * 1.5
        lo = tuple(c - half for c in center)
        hi = tuple(c + half for c in center)
        super().__init__(Bounds(lo, hi), torch.device(device))
        self.radius = radius
        self.center = torch.tensor(center, device=self.device)
        self.colour = torch.tensor(colour, device=self.device)
        self.inside_density = density

    def _query(self, points, view_dirs):
        raw = self.radius - (points - self.center).norm(dim=-1)
        density = torch.where(raw > 0, torch.full_like(raw, self.inside_density), torch.zeros_like(raw))
        return FieldSample(density=density, rgb=self.colour.expand(points.shape[0], 3), raw_density=raw)


@pytest.fixture
def sphere_field() -> SphereField:
    return SphereField()


ROOT = Path(__file__).resolve().parents[1]
VALIDATOR_SCRIPT = ROOT / "scripts" / "validate_gltf.mjs"


def _missing_tool(reason: str):
    """Skip locally, but fail in CI, where every tool must be installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must install it: see .ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def validate_glb():
    """Run the Khronos glTF-Validator (npm) on a file and return its report (a dict)."""
    node = shutil.which("node")
    if node is None:
        _missing_tool("node is not installed")
    if not (ROOT / "node_modules" / "gltf-validator").is_dir():
        _missing_tool("gltf-validator is not installed; run `npm ci`")

    def run(path) -> dict:
        proc = subprocess.run([node, str(VALIDATOR_SCRIPT), str(path)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"validator failed: {proc.stderr}")
        return json.loads(proc.stdout)[0]

    return run


@pytest.fixture(scope="session")
def bpy_module():
    """The real Blender module (PyPI ``bpy`` 4.5), headless."""
    try:
        import bpy
    except ImportError:
        _missing_tool("bpy is not installed (pip install -e '.[test]')")
    return bpy
