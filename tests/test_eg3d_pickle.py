"""EG3D network pickles are read without running their embedded code.

The tests build snapshots in the official format without NVIDIA's code: persistent classes reduce
to ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` exactly as ``persistence.py``
pickles them (``meta`` = type, version, module_src, class_name, state), the non-persistent classes
are pickled by reference under their official names, tensors as plain pickles (storages as nested
legacy blobs), and the whole snapshot dict with ``pickle.dump``, as ``training_loop.py`` does. The
embedded ``module_src`` would create a canary file if anything executed it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError
from aware3d.models import inspect_checkpoint
from aware3d.models.eg3d import read_snapshot_generator
from aware3d.models.persistence import PersistentRecord, code_hashes, module_tensors, read_network_pickle


def _canary_source(canary) -> str:
    return f"open({str(canary)!r}, 'w').close()\nclass TriPlaneGenerator: pass\n"


@contextlib.contextmanager
def _official_modules():
    """Register the official module names while pickling, as NVIDIA's classes would be importable."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "training", "training.triplane",
             "training.volumetric_rendering", "training.volumetric_rendering.renderer", "training.volumetric_rendering.ray_marcher")
    saved = {n: sys.modules.get(n) for n in names}
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    try:
        def _reconstruct_persistent_obj(meta):  # never called by aware3d
            raise AssertionError("the reconstructor ran")

        _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
        for module, cls in (("dnnlib.util", EasyDict), ("training.triplane", OSGDecoder),
                            ("training.volumetric_rendering.renderer", ImportanceRenderer),
                            ("training.volumetric_rendering.ray_marcher", MipRayMarcher2)):
            cls.__module__ = module
            setattr(sys.modules[module], cls.__name__, cls)
        yield _reconstruct_persistent_obj
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


class EasyDict(dict):
    pass


class OSGDecoder(nn.Module):
    def __init__(self, n_features=4, hidden=8):
        super().__init__()
        self.hidden_dim = hidden
        self.net = nn.Sequential(nn.Linear(n_features, hidden), nn.Softplus(), nn.Linear(hidden, 1 + 4))


class MipRayMarcher2(nn.Module):
    pass


class ImportanceRenderer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ray_marcher = MipRayMarcher2()


class Persistent(nn.Module):
    """Pickles as ``torch_utils.persistence`` pickles a persistent class instance."""

    source = "class X: pass\n"

    def __reduce_ex__(self, protocol):
        reconstruct = sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj
        meta = dict(type="class", version=6, module_src=self.source, class_name=type(self).__name__, state=dict(self.__dict__))
        return reconstruct, (meta,)


class MappingNetwork(Persistent):
    def __init__(self):
        super().__init__()
        self.fc0 = nn.Linear(8, 8)
        self.register_buffer("w_avg", torch.linspace(0, 1, 8))


class Generator(Persistent):
    def __init__(self):
        super().__init__()
        self.mapping = MappingNetwork()


class SuperresolutionHybrid8XDC(Persistent):
    def __init__(self):
        super().__init__()
        self.conv = nn.Linear(2, 2)


class TriPlaneGenerator(Persistent):
    def __init__(self, canary):
        super().__init__()
        self.source = _canary_source(canary)
        self._init_kwargs = EasyDict(z_dim=8, c_dim=25, w_dim=8, img_resolution=512, img_channels=3)
        self.rendering_kwargs = {"box_warp": 1, "ray_start": 2.25, "ray_end": 3.3, "avg_camera_radius": 2.7,
                                 "avg_camera_pivot": [0, 0, 0.2], "density_reg": np.float64(0.25)}
        self.neural_rendering_resolution = 128
        self.backbone = Generator()
        self.renderer = ImportanceRenderer()
        self.decoder = OSGDecoder()
        self.superresolution = SuperresolutionHybrid8XDC()


class DualDiscriminator(Persistent):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1)


def _save_snapshot(path, canary, **replace):
    torch.manual_seed(0)
    with _official_modules():
        snapshot = dict(training_set_kwargs=EasyDict(resolution=512), G=TriPlaneGenerator(canary), D=DualDiscriminator(),
                        G_ema=TriPlaneGenerator(canary), augment_pipe=None)
        snapshot.update(replace)
        with open(path, "wb") as handle:
            pickle.dump(snapshot, handle)
    return snapshot


@pytest.fixture
def snapshot_path(tmp_path):
    path = tmp_path / "ffhq512-128.pkl"
    _save_snapshot(path, tmp_path / "CANARY")
    return path


def test_the_snapshot_is_read_into_inert_records(snapshot_path, tmp_path):
    saved_ema = _save_snapshot(tmp_path / "again.pkl", tmp_path / "CANARY")["G_ema"]
    generator = read_snapshot_generator(snapshot_path)
    assert isinstance(generator, PersistentRecord) and generator.class_name == "TriPlaneGenerator"
    assert generator.module_src_sha256 == hashlib.sha256(_canary_source(tmp_path / "CANARY").encode()).hexdigest()
    tensors = module_tensors(generator)
    expected = saved_ema.state_dict()
    assert set(tensors) == set(expected)  # backbone.mapping.fc0.weight, backbone.mapping.w_avg, decoder.net.0.weight, ...
    for name, value in expected.items():
        assert torch.equal(tensors[name], value), name
    assert generator.state["_init_kwargs"]["img_resolution"] == 512 and generator.state["neural_rendering_resolution"] == 128
    assert generator.state["rendering_kwargs"]["density_reg"] == 0.25
    assert type(generator.state["_modules"]["decoder"]).__name__ == "OSGDecoder"  # by reference: an inert stand-in
    assert set(code_hashes(generator)) == {"TriPlaneGenerator", "Generator", "MappingNetwork", "SuperresolutionHybrid8XDC"}
    assert not (tmp_path / "CANARY").exists()


def test_info_names_the_variant_and_code_and_runs_nothing(snapshot_path, tmp_path, capsys):
    info = inspect_checkpoint(snapshot_path)
    code = hashlib.sha256(_canary_source(tmp_path / "CANARY").encode()).hexdigest()[:12]
    assert info.family == "eg3d" and info.format == "pickle"
    assert info.variant == f"TriPlaneGenerator, 512px, SuperresolutionHybrid8XDC, neural rendering 128, code {code}"
    assert info.loadable is False and "rendering_kwargs lack depth_resolution" in info.refusal  # a deliberately incomplete network
    assert main(["info", str(snapshot_path)]) == 2
    assert f"loadable  no: {snapshot_path}: the EG3D generator's rendering_kwargs lack" in capsys.readouterr().out
    assert not (tmp_path / "CANARY").exists()


def test_loading_preview_and_generate_run_nothing(snapshot_path, tmp_path, capsys):
    with pytest.raises(CheckpointError, match="rendering_kwargs lack"):
        aware3d.load_generator(snapshot_path, device="cpu")
    assert main(["preview", "--checkpoint", str(snapshot_path), "-o", str(tmp_path / "p.png")]) == 2
    assert main(["generate", "--checkpoint", str(snapshot_path), "-o", str(tmp_path / "g.glb")]) == 2
    assert "rendering_kwargs lack" in capsys.readouterr().err
    assert not (tmp_path / "CANARY").exists() and not (tmp_path / "p.png").exists() and not (tmp_path / "g.glb").exists()


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
    _save_snapshot(path, tmp_path / "CANARY", G_ema=None)
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
