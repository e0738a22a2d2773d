"""Build the installable Blender extension zip from ``addon/`` and validate it.

    python scripts/build_addon.py [--output-dir dist]

Uses Blender's own extension tool, ``blender_ext.py`` (the code behind ``blender --command
extension build|validate``), which ships inside the PyPI ``bpy`` wheel (the ``test`` extra), so no
Blender binary is needed. Prints the zip's path.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addon"


def find_blender_ext() -> Path:
    """Locate ``blender_ext.py`` inside the installed ``bpy`` module.

    Raises:
        SystemExit: naming what to install when bpy is missing.
    """
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise SystemExit("build_addon: the bpy module is needed for Blender's extension tool; pip install -e '.[test]'")
    matches = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not matches:
        raise SystemExit(f"build_addon: no blender_ext.py under {Path(spec.origin).parent}")
    return matches[-1]


def build(output_dir: Path) -> Path:
    """Validate the source, build the zip, validate the zip; return its path."""
    tool = find_blender_ext()
    manifest = tomllib.loads((ADDON / "blender_manifest.toml").read_text())
    output_dir.mkdir(parents=True, exist_ok=True)
    zip_path = output_dir / f"{manifest['id']}-{manifest['version']}.zip"
    zip_path.unlink(missing_ok=True)
    for args in (
        ["validate", str(ADDON)],
        ["build", "--source-dir", str(ADDON), "--output-filepath", str(zip_path)],
        ["validate", str(zip_path)],
    ):
        proc = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"build_addon: blender_ext {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    return zip_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    print(build(args.output_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
