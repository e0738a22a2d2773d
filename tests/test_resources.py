"""Resources are checked before work: requests whose memory estimate exceeds the limit are refused
with the estimate and the limit, in the library, the worker and the CLI; zip bombs are refused
before anything is read or extracted."""

from __future__ import annotations

import json
import zipfile

import pytest
import torch
from support import serve_lines

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError
from aware3d.exporters import export_glb
from aware3d.resources import MEMORY_LIMIT_ENV, ResourceError, memory_limit, parse_bytes, render_estimate


def test_the_limit_is_configurable(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "512M")
    assert memory_limit() == 512 * 2**20
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(aware3d.SettingsError, match="must be a size such as 8G"):
        memory_limit()
    monkeypatch.delenv(MEMORY_LIMIT_ENV)
    assert memory_limit() > 2**26  # the machine's available memory
    assert parse_bytes("2g") == 2 * 2**30 and parse_bytes("100") == 100


def test_library_refuses_a_huge_preview_before_allocating(monkeypatch):
    gen = aware3d.load_generator(family="demo", device="cpu")
    field = gen.field(seed=0)
    with pytest.raises(ResourceError, match=r"needs about .* GiB of memory, more than the .* GiB available") as caught:
        gen.render(field, aware3d.Pose(), size=1_000_000)  # 10^12 pixels: refused at once, nothing allocated
    assert caught.value.key == "size"
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "600M")
    assert render_estimate(256, 256) < 600 * 2**20
    assert gen.render(field, aware3d.Pose(), size=8).shape == (8, 8, 3)  # small work still runs


@pytest.mark.parametrize("key, value", [("resolution", 1024), ("texture_size", 4096)])
def test_library_refuses_an_export_too_large_for_the_limit(monkeypatch, tmp_path, key, value):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300M")
    field = aware3d.load_generator(family="demo", device="cpu").field(seed=0)
    calls = []
    monkeypatch.setattr(type(field), "query_density", lambda self, p: calls.append(1) or torch.zeros(len(p)))
    with pytest.raises(ResourceError, match=f"lower {key}") as caught:
        export_glb(field, tmp_path / "x.glb", **{key: value})
    assert caught.value.key == key and calls == [] and list(tmp_path.iterdir()) == []


def test_worker_and_cli_refuse_with_the_estimate_and_the_limit(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "300M")
    request = {"id": 1, "method": "preview", "params": {"model": "demo", "size": 4096, "output": str(tmp_path / "p.png")}}
    answer = serve_lines([json.dumps(request)])[1]
    assert (answer["kind"], answer["key"]) == ("BadRequest", "size") and "GiB" in answer["message"]
    assert main(["generate", "--model", "demo", "--resolution", "2048", "-o", str(tmp_path / "x.glb")]) == 2
    err = capsys.readouterr().err
    assert "needs about" in err and MEMORY_LIMIT_ENV in err and "lower resolution" in err
    assert list(tmp_path.iterdir()) == []


def _zip_bomb(path, member_bytes: int = 32 << 20) -> None:
    """A torch-zip-looking file whose one extra member inflates 1000-fold."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")  # an empty dict
        archive.writestr("archive/data/0", b"\x00" * member_bytes)


def test_a_checkpoint_zip_bomb_is_refused_before_reading(tmp_path):
    path = tmp_path / "generator.pth"
    _zip_bomb(path)
    assert path.stat().st_size < (1 << 20)
    with pytest.raises(CheckpointError, match="zip bomb"):
        aware3d.load_generator(path, device="cpu")
    assert main(["info", str(path)]) == 2


def test_a_release_zip_bomb_is_refused_before_extracting(tmp_path):
    from aware3d.app.download import _extract_zip, _FetchFailed

    archive = tmp_path / "release.zip"
    _zip_bomb(archive)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(_FetchFailed, match="nothing was extracted"):
        _extract_zip(archive, folder)
    assert list(folder.iterdir()) == []
