"""EG3D network pickles are read without running their embedded code.

Snapshots come from :mod:`eg3d_official` (the official format, built without NVIDIA's code); the
embedded ``module_src`` would create a canary file if anything executed it. These tests put
hostile payloads and incomplete networks into such snapshots.
"""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict

import pytest
import torch
from eg3d_official import DROP, make_generator, save_snapshot

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError
from aware3d.models import inspect_checkpoint
from aware3d.models.eg3d import read_snapshot_generator
from aware3d.models.persistence import read_network_pickle


def _save_snapshot(path, canary, strip_rendering=(), **replace):
    """A cheap official-format snapshot; ``strip_rendering`` removes keys of ``rendering_kwargs``."""
    G = make_generator("shapenetcars128-64", sr_width_scale=0.25, canary=canary)
    for key in strip_rendering:
        G.rendering_kwargs.pop(key)
    return save_snapshot(path, G, **replace)


@pytest.fixture
def snapshot_path(tmp_path):
    path = tmp_path / "shapenetcars128-64.pkl"
    _save_snapshot(path, tmp_path / "CANARY")
    return path


def test_an_incomplete_network_is_refused_naming_what_it_lacks_and_runs_nothing(tmp_path, capsys):
    canary = tmp_path / "CANARY"
    path = tmp_path / "shapenetcars128-64.pkl"
    _save_snapshot(path, canary, strip_rendering=("depth_resolution",))
    info = inspect_checkpoint(path)
    assert info.family == "eg3d" and info.format == "pickle" and "SuperresolutionHybrid2X" in info.variant
    assert info.loadable is False and "rendering_kwargs lack depth_resolution" in info.refusal
    assert main(["info", str(path)]) == 2
    assert f"loadable  no: {path}: the EG3D generator's rendering_kwargs lack" in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="rendering_kwargs lack"):
        aware3d.load_generator(path, device="cpu")
    assert main(["preview", "--checkpoint", str(path), "-o", str(tmp_path / "p.png")]) == 2
    assert main(["generate", "--checkpoint", str(path), "-o", str(tmp_path / "g.glb")]) == 2
    assert "rendering_kwargs lack" in capsys.readouterr().err
    assert not canary.exists() and not (tmp_path / "p.png").exists() and not (tmp_path / "g.glb").exists()


class _Payload:
    def __init__(self, function, args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def test_hostile_state_and_hostile_nested_blobs_are_refused(tmp_path, capsys):
    canary = tmp_path / "CANARY"
    path = tmp_path / "state.pkl"
    _save_snapshot(path, canary, training_set_kwargs=_Payload(os.system, (f"touch {canary}",)))
    with pytest.raises(CheckpointError, match="posix.system"):
        read_snapshot_generator(path)
    assert main(["info", str(path)]) == 2 and f"loadable  no: posix.system in {path}" in capsys.readouterr().out
    # a nested "storage" blob that is itself a hostile pickle: the blob reader refuses it
    blob = tmp_path / "blob.pkl"
    evil = pickle.dumps(_Payload(os.system, (f"touch {canary}",)))
    _save_snapshot(blob, canary, training_set_kwargs=_Payload(torch.storage._load_from_bytes, (evil,)))
    with pytest.raises(CheckpointError, match="nested tensor blob could not be read safely.*posix.system"):
        read_snapshot_generator(blob)
    assert not canary.exists()


def test_not_a_snapshot_and_truncated_files(tmp_path, snapshot_path):
    path = tmp_path / "no_ema.pkl"
    save_snapshot(path, DROP, G=make_generator("shapenetcars128-64", sr_width_scale=0.25), D=None)
    with pytest.raises(CheckpointError, match="not an EG3D snapshot with a G_ema network"):
        read_snapshot_generator(path)
    assert inspect_checkpoint(path).variant is None
    cut = tmp_path / "cut.pkl"
    data = snapshot_path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        inspect_checkpoint(cut)
    listed = tmp_path / "list.pkl"
    listed.write_bytes(pickle.dumps([OrderedDict(a=torch.zeros(2))]))
    with pytest.raises(CheckpointError, match="refers to torch.storage._load_from_bytes"):
        inspect_checkpoint(listed)  # a plain pickle of no known family: its globals are not allowed
    with pytest.raises(CheckpointError, match="is not a training snapshot"):
        read_network_pickle(listed)
