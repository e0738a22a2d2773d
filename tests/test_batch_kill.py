"""Batches survive being killed: SIGKILL during a field query, the texture bake, the GLB write and
the manifest write, then a re-run, leaves every asset once, valid, recorded, and no temp file."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SEEDS = "0-11"
ARGS = ["batch", "--model", "demo", "--seeds", SEEDS, "--resolution", "32", "--texture-size", "16", "--faces", "400"]

_DRIVER = textwrap.dedent('''
    """Run `aware3d batch`, killing this process with SIGKILL at one chosen moment."""
    import os, signal, sys, tempfile
    from pathlib import Path

    import aware3d.app.batch as batch
    import aware3d.exporters.pipeline as pipeline
    import aware3d.exporters.texture as texture
    from aware3d.app.cli import main
    from aware3d.fields import BaseField

    moment, victim = sys.argv[1], int(sys.argv[2])

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def half_written(real):
        """A write_atomic that leaves a half-written temp file behind, as a kill mid-write does."""
        def write(path, data):
            path = Path(path)
            if (moment == "glb" and path.name == f"demo_seed{victim}.glb") or (
                    moment == "manifest" and path.name == "manifest.json" and f'"{victim}"' in data.decode()):
                handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
                os.write(handle, data[: len(data) // 2])
                die()
            return real(path, data)
        return write

    if moment == "query":
        real_density = BaseField.query_density
        def query_density(self, points):
            if self.identity.get("seed") == victim:
                die()
            return real_density(self, points)
        BaseField.query_density = query_density
    elif moment == "bake":
        real_colour = texture.sample_colour
        def colour(field, *args, **kwargs):
            if field.identity.get("seed") == victim:
                die()
            return real_colour(field, *args, **kwargs)
        texture.sample_colour = colour
    pipeline.write_atomic = half_written(pipeline.write_atomic)
    batch.write_atomic = half_written(batch.write_atomic)
    sys.exit(main(sys.argv[3:]))
''')


def _run(out: Path, moment: str = "none", victim: int = -1) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _DRIVER, moment, str(victim), *ARGS, "-o", str(out)],
                          capture_output=True, text=True, timeout=600)


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_killed_batches_resume_to_a_complete_valid_folder(tmp_path, validate_glb):
    out = tmp_path / "out"
    mtimes: dict[str, int] = {}
    for moment, victim in (("query", 2), ("bake", 4), ("glb", 6), ("manifest", 8)):
        result = _run(out, moment, victim)
        assert result.returncode == -signal.SIGKILL, result.stderr
        manifest = _manifest(out)  # parseable after every kill
        done = {seed for seed, entry in manifest["assets"].items() if entry["status"] == "ok"}
        assert str(victim) not in done and all((out / f"demo_seed{s}.glb").exists() for s in done)
        # assets finished by earlier runs were not written again
        for name, mtime in mtimes.items():
            assert (out / name).stat().st_mtime_ns == mtime, name
        mtimes = {f"demo_seed{s}.glb": (out / f"demo_seed{s}.glb").stat().st_mtime_ns for s in done}
    assert list(out.glob(".*.part"))  # the kills mid-write did leave temp files behind
    result = _run(out)
    assert result.returncode == 0, result.stderr
    manifest = _manifest(out)
    assert sorted(int(s) for s in manifest["assets"]) == list(range(12))
    assert all(entry["status"] == "ok" for entry in manifest["assets"].values())
    glbs = sorted(p.name for p in out.glob("*.glb"))
    assert glbs == sorted(f"demo_seed{s}.glb" for s in range(12))  # each asset exactly once
    assert list(out.glob(".*")) == []  # no temporary files left
    for name in glbs:
        report = validate_glb(out / name)["issues"]
        assert report["numErrors"] == 0 and report["numWarnings"] == 0, name
    for name, mtime in mtimes.items():
        assert (out / name).stat().st_mtime_ns == mtime, name


@pytest.mark.parametrize("change", ["settings", "version"])
def test_a_manifest_of_other_settings_or_version_redoes_only_the_affected_assets(tmp_path, change):
    from aware3d.app.cli import main

    out = tmp_path / "out"
    common = ["batch", "--model", "demo", "--resolution", "32", "--texture-size", "16", "--faces", "400", "-o", str(out)]
    assert main([*common, "--seeds", "0-3"]) == 0
    manifest = _manifest(out)
    if change == "version":  # as if seeds 0 and 1 were made by another aware3d version
        for seed in ("0", "1"):
            manifest["assets"][seed]["fingerprint"] = "0123456789abcdef"
        (out / "manifest.json").write_text(json.dumps(manifest))
        before = {s: (out / f"demo_seed{s}.glb").stat().st_mtime_ns for s in range(4)}
        assert main([*common, "--seeds", "0-3"]) == 0
        after = {s: (out / f"demo_seed{s}.glb").stat().st_mtime_ns for s in range(4)}
        assert [s for s in range(4) if after[s] != before[s]] == [0, 1]
    else:  # a new truncation for seeds 2-5: 2 and 3 are redone, 4 and 5 made, 0 and 1 kept as they were
        before = {s: (out / f"demo_seed{s}.glb").stat().st_mtime_ns for s in range(4)}
        assert main([*common, "--seeds", "2-5", "--truncation", "0.5"]) == 0
        manifest = _manifest(out)
        assert sorted(manifest["assets"]) == ["0", "1", "2", "3", "4", "5"]
        assert [s for s in range(4) if (out / f"demo_seed{s}.glb").stat().st_mtime_ns != before[s]] == [2, 3]
        assert manifest["assets"]["0"]["fingerprint"] != manifest["assets"]["2"]["fingerprint"]
