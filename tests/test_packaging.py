"""Packaging: a plain (non-editable) wheel of aware3d installs and imports on its own.

The package's source lives in ``core/`` and ``exporters/`` and is mapped to ``aware3d`` and
``aware3d.exporters`` by ``[tool.setuptools.package-dir]``; an editable install hides mistakes
in that mapping, so this builds a real wheel and imports from it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "node_modules", "__pycache__", "build", "dist", "*.egg-info", ".pytest_cache"
)
_BUILD_OUTPUTS = re.compile(r"^(build|dist|.*\.egg-info)$")

EXPECTED_FILES = (
    "aware3d/__init__.py",
    "aware3d/app/cli.py",
    "aware3d/app/serve.py",
    "aware3d/models/registry.py",
    "aware3d/models/releases.py",
    "aware3d/checkpoints.py",
    "aware3d/models/__init__.py",
    "aware3d/models/demo.py",
    "aware3d/exporters/__init__.py",
)


def _version(dist: str) -> tuple[int, ...] | None:
    try:
        text = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _backend_installed() -> bool:
    """Whether this interpreter has what pyproject's [build-system] needs (setuptools>=68, wheel).

    The test venv normally does; a fresh Python 3.11 venv has only the bundled setuptools
    65.5 and no ``wheel``, where ``--no-build-isolation`` fails with "invalid command
    'bdist_wheel'".
    """
    setuptools = _version("setuptools")
    if setuptools is None or setuptools < (68,):
        return False
    return setuptools >= (70, 1) or _version("wheel") is not None


def _build_outputs() -> set[str]:
    return {p.name for p in REPO_ROOT.iterdir() if _BUILD_OUTPUTS.match(p.name)} | {
        p.name for p in (REPO_ROOT / "core").glob("*.egg-info")
    }


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a clean copy of the tree, so the checkout gets no build/ or egg-info."""
    before = _build_outputs()
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    shutil.copytree(REPO_ROOT, src, ignore=_IGNORE)
    out = tmp / "wheel"
    # Offline with the venv's own setuptools where it has them; else let pip fetch the backend.
    isolation = ["--no-build-isolation"] if _backend_installed() else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--no-cache-dir", str(src), "-w", str(out)])
    wheels = sorted(out.glob("aware3d-*.whl"))
    assert len(wheels) == 1, f"expected one aware3d wheel, found {wheels}"
    assert _build_outputs() <= before, "building the wheel wrote build output into the checkout"
    return wheels[0]


def test_wheel_contents(wheel):
    """The wheel holds every package of the mapping and the console script entry point."""
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for expected in EXPECTED_FILES:
            assert expected in names, f"{expected} missing from {wheel.name}"
        assert not any(n.startswith(("core/", "exporters/", "tests/")) for n in names), sorted(names)
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        text = archive.read(entry_points).decode()
    lines = [line.replace(" ", "") for line in text.splitlines()]
    assert "[console_scripts]" in lines
    assert "aware3d=aware3d.app.cli:main" in lines


def test_wheel_installs_and_imports_outside_the_source_tree(wheel, tmp_path):
    """``pip install --target`` the wheel and import aware3d from there, not from the checkout.

    Takes tens of seconds (a wheel build and an import of torch).
    """
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "--target", str(site), str(wheel)])
    assert (site / "aware3d" / "__init__.py").is_file()
    assert (site / "aware3d" / "exporters" / "__init__.py").is_file()

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONPATH"] = str(site)
    code = (
        "import aware3d, aware3d.exporters, aware3d.models.demo, aware3d.app.cli, aware3d.checkpoints\n"
        "print(aware3d.__file__)\n"
        "print(aware3d.exporters.__file__)\n"
        "print(aware3d.models.demo.__file__)\n"
        "print(aware3d.__version__)\n"
    )
    result = _run([sys.executable, "-c", code], cwd=tmp_path, env=env)

    *paths, version = result.stdout.split()
    for printed in paths:
        path = Path(printed).resolve()
        assert path.is_relative_to(site.resolve()), f"imported {path}, not from {site}"
        assert not path.is_relative_to(REPO_ROOT), f"imported the source tree: {path}"
    assert version == "0.1.0"
