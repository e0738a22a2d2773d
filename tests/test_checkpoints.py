"""Tests for aware3d.checkpoints: format sniffing, family detection, hashing and safety.

The checkpoints here are tiny stand-ins written the way the official projects write theirs
(``torch.save`` of a whole module, of a state dict, of a torch_ema object, ``pickle.dump`` of
a dict of persistent objects). Their classes are registered under the official module names
in ``sys.modules`` only for the duration of each test, so the pickles name exactly the
globals the real files name.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from aware3d.app.cli import main
from aware3d.checkpoints import check_file, file_sha256, summarize_pickle
from aware3d.errors import CheckpointError, InputError
from aware3d.models import CheckpointInfo, inspect_checkpoint

# torch.save of a whole module warns when it cannot find the class's source; our stand-ins
# live in fake modules on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Couldn't retrieve source code")


@pytest.fixture
def ckpt_dir(tmp_path_factory) -> Path:
    """A fresh directory whose path says nothing about the test.

    pytest's ``tmp_path`` contains the test's name (``.../test_directory0``), and the error
    messages quote the file's path, so ``match="directory"`` or ``match="truncated"`` would
    succeed on the path alone.
    """
    return tmp_path_factory.mktemp("ck")


# --- helpers: fake official modules -------------------------------------------------------


def _register(monkeypatch: pytest.MonkeyPatch, dotted: str, **classes: type) -> types.ModuleType:
    """Create module ``dotted`` (and its parents) in sys.modules and put ``classes`` in it.

    Each class gets ``__module__ = dotted`` and ``__qualname__ = its key``, so pickle names it
    as ``dotted.key``. monkeypatch removes every module again after the test.
    """
    parts = dotted.split(".")
    parent = None
    for i in range(1, len(parts) + 1):
        name = ".".join(parts[:i])
        module = sys.modules.get(name)
        if module is None or not getattr(module, "_aware3d_test_stub", False):
            module = types.ModuleType(name)
            module._aware3d_test_stub = True
            monkeypatch.setitem(sys.modules, name, module)
        if parent is not None:
            setattr(parent, parts[i - 1], module)
        parent = module
    for qualname, cls in classes.items():
        cls.__module__ = dotted
        cls.__qualname__ = qualname
        cls.__name__ = qualname
        setattr(parent, qualname, cls)
    return parent


def _make_pigan_generator(monkeypatch: pytest.MonkeyPatch, variant: str = "SPATIALSIRENBASELINE") -> nn.Module:
    """A tiny ImplicitGenerator3d whose ``siren`` is a ``siren.siren.<variant>``, like pi-GAN's."""

    class FiLMLayer(nn.Module):
        def __init__(self, dim_in: int, dim_out: int):
            super().__init__()
            self.layer = nn.Linear(dim_in, dim_out)

    class CustomMappingNetwork(nn.Module):
        def __init__(self, z_dim: int, out_dim: int):
            super().__init__()
            self.network = nn.Sequential(nn.Linear(z_dim, 4), nn.LeakyReLU(0.2), nn.Linear(4, out_dim))

    class UniformBoxWarp(nn.Module):
        def __init__(self, sidelength: float):
            super().__init__()
            self.scale_factor = 2 / sidelength

    class Siren(nn.Module):
        def __init__(self):
            super().__init__()
            self.network = nn.ModuleList([FiLMLayer(3, 4), FiLMLayer(4, 4)])
            self.final_layer = nn.Linear(4, 1)
            self.color_layer_linear = nn.Sequential(nn.Linear(4, 3))
            self.mapping_network = CustomMappingNetwork(2, 2 * 2 * 4)
            self.gridwarper = UniformBoxWarp(0.24)

    class ImplicitGenerator3d(nn.Module):
        def __init__(self, siren: type, z_dim: int):
            super().__init__()
            self.z_dim = z_dim
            self.siren = siren()
            self.epoch = 0
            self.step = 0

    _register(
        monkeypatch,
        "siren.siren",
        FiLMLayer=FiLMLayer,
        CustomMappingNetwork=CustomMappingNetwork,
        UniformBoxWarp=UniformBoxWarp,
        **{variant: Siren},
    )
    _register(monkeypatch, "generators.generators", ImplicitGenerator3d=ImplicitGenerator3d)
    return ImplicitGenerator3d(Siren, z_dim=2)


def _save_pigan(monkeypatch, path: Path, variant: str = "SPATIALSIRENBASELINE", **save_kwargs) -> Path:
    torch.save(_make_pigan_generator(monkeypatch, variant), path, **save_kwargs)
    return path


def _gram_state_dict() -> dict[str, torch.Tensor]:
    return {
        "representation.sample_network.x.weight": torch.zeros(2, 2),
        "representation.rf_network.y.weight": torch.ones(2, 2),
        "representation.rf_network.y.bias": torch.ones(2),
    }


def _save_gram(path: Path, **save_kwargs) -> Path:
    torch.save(_gram_state_dict(), path, **save_kwargs)
    return path


def _eg3d_classes(monkeypatch):
    """Stand-ins for EG3D's training.triplane classes and torch_utils.persistence's reconstructor."""

    class OSGDecoder:
        def __init__(self):
            self.hidden_dim = 4
            self.weight = [0.5, 0.25]

    class TriPlaneGenerator:
        def __init__(self):
            self.z_dim = 8
            self.decoder = OSGDecoder()

    def _reconstruct_persistent_obj(meta):  # never called: nothing is unpickled
        raise AssertionError("inspect_checkpoint unpickled the EG3D stand-in")

    _register(monkeypatch, "training.triplane", OSGDecoder=OSGDecoder, TriPlaneGenerator=TriPlaneGenerator)
    persistence = _register(monkeypatch, "torch_utils.persistence")
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class Persistent:
        """Pickles the way torch_utils.persistence does: a call to _reconstruct_persistent_obj(meta)."""

        def __reduce__(self):
            meta = {"type": "class", "version": 4, "module_src": "class X: pass", "class_name": "X", "state": {}}
            return (_reconstruct_persistent_obj, (meta,))

    return OSGDecoder, TriPlaneGenerator, Persistent


# --- pi-GAN --------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["SPATIALSIRENBASELINE", "TALLSIREN"])
def test_pigan_whole_module_zip(monkeypatch, ckpt_dir, variant):
    path = _save_pigan(monkeypatch, ckpt_dir / "generator.pth", variant)
    assert zipfile.is_zipfile(path)

    info = inspect_checkpoint(path)

    assert isinstance(info, CheckpointInfo)
    assert info.family == "pigan"
    assert info.variant == variant
    assert info.format == "torch-zip"
    assert info.path == path
    assert f"siren.siren.{variant}" in info.globals
    assert "generators.generators.ImplicitGenerator3d" in info.globals
    assert "siren.siren.FiLMLayer" in info.globals
    assert list(info.globals) == sorted(info.globals)


def test_pigan_whole_module_legacy(monkeypatch, ckpt_dir):
    path = _save_pigan(monkeypatch, ckpt_dir / "generator.pth", "TALLSIREN", _use_new_zipfile_serialization=False)
    assert not zipfile.is_zipfile(path)

    info = inspect_checkpoint(path)

    assert info.format == "torch-legacy"
    assert info.family == "pigan"
    assert info.variant == "TALLSIREN"
    assert "generators.generators.ImplicitGenerator3d" in info.globals


def test_pigan_file_still_loads_with_torch(monkeypatch, ckpt_dir):
    """Sanity check of the stand-in itself: torch can load it back while the fake modules exist."""
    path = _save_pigan(monkeypatch, ckpt_dir / "generator.pth")
    loaded = torch.load(path, weights_only=False)
    assert type(loaded).__module__ == "generators.generators"
    assert type(loaded.siren).__qualname__ == "SPATIALSIRENBASELINE"


def test_inspect_does_not_need_the_model_source(monkeypatch, ckpt_dir):
    """Detection works after the official modules are gone again (it never imports them)."""
    path = ckpt_dir / "generator.pth"
    with monkeypatch.context() as patch:
        _save_pigan(patch, path)
    assert "siren.siren" not in sys.modules
    assert "generators.generators" not in sys.modules

    info = inspect_checkpoint(path)

    assert (info.family, info.variant) == ("pigan", "SPATIALSIRENBASELINE")
    assert "siren.siren" not in sys.modules


# --- GRAM, EMA, EG3D, unknown ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("save_kwargs", "fmt"),
    [({}, "torch-zip"), ({"_use_new_zipfile_serialization": False}, "torch-legacy")],
)
def test_gram_state_dict(ckpt_dir, save_kwargs, fmt):
    path = _save_gram(ckpt_dir / "generator.pth", **save_kwargs)

    info = inspect_checkpoint(path)

    assert info.family == "gram"
    assert info.format == fmt
    assert info.variant is None
    assert not any(g.startswith(("siren.", "generators.", "training.")) for g in info.globals)


def test_ema_file_alone_is_refused(monkeypatch, ckpt_dir):
    class ExponentialMovingAverage:
        def __init__(self, parameters):
            self.decay = 0.999
            self.num_updates = 10
            self.shadow_params = [p.detach().clone() for p in parameters]
            self.collected_params = None

    _register(monkeypatch, "torch_ema.ema", ExponentialMovingAverage=ExponentialMovingAverage)
    path = ckpt_dir / "ema.pth"
    torch.save(ExponentialMovingAverage([torch.zeros(2, 2), torch.ones(3)]), path)

    with pytest.raises(CheckpointError, match=r"generator\.pth") as caught:
        inspect_checkpoint(path)
    assert "EMA" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("which", ["triplane", "persistence", "both"])
def test_eg3d_plain_pickle(monkeypatch, ckpt_dir, which):
    OSGDecoder, TriPlaneGenerator, Persistent = _eg3d_classes(monkeypatch)
    data = {"training_set_kwargs": {"resolution": 512}, "augment_pipe": None}
    if which in ("triplane", "both"):
        data["G_ema"] = TriPlaneGenerator()
    if which in ("persistence", "both"):
        data["D"] = Persistent()
    path = ckpt_dir / "ffhq512-128.pkl"
    with open(path, "wb") as handle:
        pickle.dump(data, handle)

    info = inspect_checkpoint(path)

    assert info.family == "eg3d"
    assert info.format == "pickle"
    assert info.variant is None
    if which in ("triplane", "both"):
        assert "training.triplane.TriPlaneGenerator" in info.globals
    if which in ("persistence", "both"):
        assert "torch_utils.persistence._reconstruct_persistent_obj" in info.globals


def test_unknown_state_dict_asks_for_model(ckpt_dir):
    path = ckpt_dir / "mystery.pth"
    torch.save({"encoder.block.0.weight": torch.zeros(2, 2), "decoder.out.bias": torch.zeros(2)}, path)

    with pytest.raises(CheckpointError, match="--model"):
        inspect_checkpoint(path)


def test_checkpoint_error_is_an_input_error(ckpt_dir):
    with pytest.raises(InputError):
        inspect_checkpoint(ckpt_dir / "nope.pth")
    assert CheckpointError.exit_code == 2


# --- sha256, size, check_file --------------------------------------------------------------


def test_sha256_and_size_match_the_file(ckpt_dir):
    path = _save_gram(ckpt_dir / "generator.pth")
    raw = path.read_bytes()

    info = inspect_checkpoint(path)

    assert info.sha256 == hashlib.sha256(raw).hexdigest()
    assert info.size == len(raw) == path.stat().st_size
    assert file_sha256(path) == info.sha256


def test_file_sha256_spans_several_blocks(ckpt_dir):
    data = os.urandom((1 << 20) * 2 + 12345)  # more than two 1 MiB read blocks
    path = ckpt_dir / "blob.bin"
    path.write_bytes(data)

    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


def test_file_sha256_of_empty_file(ckpt_dir):
    path = ckpt_dir / "empty"
    path.write_bytes(b"")
    assert file_sha256(path) == hashlib.sha256(b"").hexdigest()


def test_file_sha256_missing_file(ckpt_dir):
    with pytest.raises(CheckpointError, match="not found"):
        file_sha256(ckpt_dir / "missing.pth")


def test_check_file_returns_path(ckpt_dir):
    path = ckpt_dir / "generator.pth"
    path.write_bytes(b"x")
    result = check_file(str(path))
    assert isinstance(result, Path)
    assert result == path


def test_check_file_expands_user(ckpt_dir, monkeypatch):
    monkeypatch.setenv("HOME", str(ckpt_dir))
    (ckpt_dir / "generator.pth").write_bytes(b"x")
    assert check_file("~/generator.pth") == ckpt_dir / "generator.pth"


def test_missing_path(ckpt_dir):
    with pytest.raises(CheckpointError, match="not found"):
        check_file(ckpt_dir / "missing.pth")
    with pytest.raises(CheckpointError, match="not found"):
        inspect_checkpoint(ckpt_dir / "missing.pth")


def test_directory(ckpt_dir):
    with pytest.raises(CheckpointError, match="directory"):
        check_file(ckpt_dir)
    with pytest.raises(CheckpointError, match=r"directory.*generator\.pth"):
        inspect_checkpoint(ckpt_dir)


# --- damaged files --------------------------------------------------------------------------


def test_truncated_plain_pickle(monkeypatch, ckpt_dir):
    _, TriPlaneGenerator, _ = _eg3d_classes(monkeypatch)
    raw = pickle.dumps({"G_ema": TriPlaneGenerator(), "pad": list(range(100))})
    path = ckpt_dir / "network.pkl"
    path.write_bytes(raw[: len(raw) // 2])

    with pytest.raises(CheckpointError, match="truncated|damaged"):
        inspect_checkpoint(path)


def test_truncated_legacy_torch_pickle_part(ckpt_dir):
    """Cutting a legacy file inside its pickled part is reported as truncated."""
    full = _save_gram(ckpt_dir / "full.pth", _use_new_zipfile_serialization=False).read_bytes()
    path = ckpt_dir / "generator.pth"
    path.write_bytes(full[:40])  # inside the first few pickles, well before the storages

    with pytest.raises(CheckpointError, match="truncated|damaged"):
        inspect_checkpoint(path)


def test_truncated_torch_zip_says_truncated(monkeypatch, ckpt_dir):
    full = _save_pigan(monkeypatch, ckpt_dir / "full.pth").read_bytes()
    path = ckpt_dir / "generator.pth"
    path.write_bytes(full[: len(full) // 2])

    with pytest.raises(CheckpointError, match="truncated|damaged"):
        inspect_checkpoint(path)


def test_damaged_zip_member(monkeypatch, ckpt_dir):
    """A zip whose central directory is intact but whose data.pkl is corrupt is refused."""
    src = _save_gram(ckpt_dir / "full.pth")
    path = ckpt_dir / "generator.pth"
    with zipfile.ZipFile(src) as archive, zipfile.ZipFile(path, "w") as out:
        for item in archive.infolist():
            payload = archive.read(item)
            if item.filename.endswith("data.pkl"):
                payload = payload[: len(payload) // 2]
            out.writestr(item, payload)

    with pytest.raises(CheckpointError, match="truncated|damaged"):
        inspect_checkpoint(path)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(bytes(range(7, 7 + 200)), id="ascending-bytes"),
        pytest.param(b"\x80\x02" + bytes([0xFF, 0xFE, 0x13, 0x37] * 64), id="pickle-header-then-garbage"),
        pytest.param(b"PK\x03\x04" + b"\x00" * 100, id="zip-header-then-zeros"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\x80", id="one-byte"),
    ],
)
def test_garbage_bytes(ckpt_dir, data):
    path = ckpt_dir / "generator.pth"
    path.write_bytes(data)

    with pytest.raises(CheckpointError):
        inspect_checkpoint(path)


def test_random_bytes(ckpt_dir):
    rng = __import__("random").Random(1234)
    for i in range(50):
        path = ckpt_dir / f"random{i}.pth"
        path.write_bytes(rng.randbytes(rng.randint(1, 4096)))
        with pytest.raises(CheckpointError):
            inspect_checkpoint(path)


def test_zip_without_data_pkl(ckpt_dir):
    path = ckpt_dir / "generator.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")

    with pytest.raises(CheckpointError, match="data.pkl"):
        inspect_checkpoint(path)


# --- safety: nothing in the file is executed ------------------------------------------------


class _Payload:
    """Pickles as a call to ``func(*args)``; dumping it runs nothing, loading it would."""

    def __init__(self, func, args):
        self.func = func
        self.args = args

    def __reduce__(self):
        return (self.func, self.args)


def _payloads(canary: Path) -> dict[str, tuple[_Payload, set[str]]]:
    """Each payload with the names its callable may be pickled under.

    Protocols below 3 (torch.save uses 2) write Python 2 names where one exists
    (pickle's ``fix_imports``): ``builtins`` becomes ``__builtin__`` and ``subprocess``
    becomes ``commands``; unpickling maps them back, so they are just as dangerous.
    """
    return {
        "os.system": (_Payload(os.system, (f"touch {canary}",)), {f"{os.system.__module__}.system"}),
        "builtins.eval": (
            _Payload(builtins.eval, (f"open({str(canary)!r}, 'w').close()",)),
            {"builtins.eval", "__builtin__.eval"},
        ),
        "subprocess.call": (
            _Payload(subprocess.call, (["touch", str(canary)],)),
            {"subprocess.call", "commands.call"},
        ),
    }


PAYLOADS = ["os.system", "builtins.eval", "subprocess.call"]


@pytest.mark.parametrize("kind", PAYLOADS)
def test_payload_would_run_if_unpickled(ckpt_dir, kind):
    """Positive control: the payloads below really do create the canary when unpickled."""
    canary = ckpt_dir / "CANARY"
    payload, _ = _payloads(canary)[kind]
    data = pickle.dumps(payload)
    assert not canary.exists()  # dumping ran nothing
    pickle.loads(data)
    assert canary.exists()


@pytest.mark.parametrize("kind", PAYLOADS)
@pytest.mark.parametrize("container", ["pickle", "torch-zip", "torch-legacy"])
def test_malicious_file_is_not_executed(ckpt_dir, monkeypatch, kind, container):
    monkeypatch.chdir(ckpt_dir)
    canary = ckpt_dir / "CANARY"
    payload, global_names = _payloads(canary)[kind]
    path = ckpt_dir / "generator.pth"
    if container == "pickle":
        path.write_bytes(pickle.dumps({"model": payload}))
    elif container == "torch-zip":
        torch.save({"model": payload}, path)
    else:
        torch.save({"model": payload}, path, _use_new_zipfile_serialization=False)
    assert not canary.exists()

    with pytest.raises(CheckpointError, match="refuses to load it") as caught:
        inspect_checkpoint(path)
    assert any(name in str(caught.value) for name in global_names)  # the offending global is named
    assert not canary.exists()

    if container == "torch-zip":
        with zipfile.ZipFile(path) as archive:
            (name,) = [n for n in archive.namelist() if n.endswith("data.pkl")]
            summary = summarize_pickle(archive.read(name))
    else:
        summary = summarize_pickle(path.read_bytes())
        if container == "torch-legacy":  # the first pickle is only the magic number
            with open(path, "rb") as handle:
                for _ in range(4):
                    summary = summarize_pickle(handle)
    assert global_names & summary.globals
    assert not canary.exists()


@pytest.mark.parametrize("kind", PAYLOADS)
def test_malicious_file_of_a_known_family_is_not_executed(ckpt_dir, kind):
    """Even when the file matches a family (here GRAM keys), nothing in it is run."""
    canary = ckpt_dir / "CANARY"
    payload, global_names = _payloads(canary)[kind]
    path = ckpt_dir / "generator.pth"
    torch.save({**_gram_state_dict(), "representation.rf_network.hook": payload}, path)

    info = inspect_checkpoint(path)

    assert info.family == "gram"
    assert global_names & set(info.globals)
    assert not canary.exists()


# --- summarize_pickle ---------------------------------------------------------------------


def test_summarize_pickle_bytes_and_stream(monkeypatch):
    OSGDecoder, _, _ = _eg3d_classes(monkeypatch)
    data = pickle.dumps({"decoder": OSGDecoder(), "key.one": 1, 1 << 80: "big"}, protocol=2)

    for source in (data, io.BytesIO(data)):
        summary = summarize_pickle(source)
        assert "training.triplane.OSGDecoder" in summary.globals
        assert {"decoder", "key.one", "big", "hidden_dim"} <= summary.strings
        assert 1 << 80 in summary.longs


def test_summarize_pickle_reads_one_pickle_from_a_stream():
    stream = io.BytesIO(pickle.dumps("first", protocol=2) + pickle.dumps("second", protocol=2))
    assert summarize_pickle(stream).strings == {"first"}
    assert summarize_pickle(stream).strings == {"second"}


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_summarize_pickle_single_global_any_protocol(monkeypatch, protocol):
    OSGDecoder, _, _ = _eg3d_classes(monkeypatch)
    summary = summarize_pickle(pickle.dumps([OSGDecoder()], protocol=protocol))
    assert "training.triplane.OSGDecoder" in summary.globals


@pytest.mark.parametrize("protocol", [2, 3])
def test_summarize_pickle_several_globals_old_protocols(monkeypatch, protocol):
    OSGDecoder, TriPlaneGenerator, _ = _eg3d_classes(monkeypatch)
    data = pickle.dumps({"a": OSGDecoder(), "b": TriPlaneGenerator(), "c": OSGDecoder()}, protocol=protocol)
    assert summarize_pickle(data).globals == {"training.triplane.OSGDecoder", "training.triplane.TriPlaneGenerator"}


@pytest.mark.parametrize("protocol", [4, 5])
def test_summarize_pickle_several_globals_new_protocols(monkeypatch, protocol):
    OSGDecoder, TriPlaneGenerator, _ = _eg3d_classes(monkeypatch)
    data = pickle.dumps({"a": OSGDecoder(), "b": TriPlaneGenerator(), "c": OSGDecoder()}, protocol=protocol)
    assert summarize_pickle(data).globals == {"training.triplane.OSGDecoder", "training.triplane.TriPlaneGenerator"}


def test_eg3d_detected_when_module_name_is_memoized_first(monkeypatch, ckpt_dir):
    OSGDecoder, _, _ = _eg3d_classes(monkeypatch)
    module_name = OSGDecoder.__module__  # the very string object pickle memoizes for the global
    path = ckpt_dir / "network.pkl"
    path.write_bytes(pickle.dumps({"arch": module_name, "G": OSGDecoder()}, protocol=4))

    info = inspect_checkpoint(path)

    assert info.family == "eg3d"
    assert "training.triplane.OSGDecoder" in info.globals


def test_summarize_pickle_truncated():
    data = pickle.dumps({"key": list(range(100))}, protocol=2)
    with pytest.raises(CheckpointError, match="truncated"):
        summarize_pickle(data[:-5])
    with pytest.raises(CheckpointError, match="truncated"):
        summarize_pickle(b"")


def test_summarize_pickle_stops_at_max_opcodes():
    data = pickle.dumps([f"s{i}" for i in range(100)], protocol=2)
    assert len(summarize_pickle(data).strings) == 100
    assert len(summarize_pickle(data, max_opcodes=10).strings) < 10


# --- the `aware3d info` command --------------------------------------------------------------


def test_cli_info_text(ckpt_dir, capsys):
    import official_formats as of

    path = of.save_pigan(ckpt_dir)  # a complete official-format generator.pth with ema.pth beside it
    expected_sha = hashlib.sha256(path.read_bytes()).hexdigest()

    assert main(["info", str(path)]) == 0

    out, err = capsys.readouterr()
    assert expected_sha in out
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["family"] == "pigan"
    assert lines["variant"] == "SPATIALSIRENBASELINE"
    assert lines["format"] == "torch-zip"
    assert lines["sha256"] == expected_sha
    assert lines["size"] == str(path.stat().st_size)
    assert lines["loadable"] == "yes"
    assert err == ""


def test_cli_info_says_no_when_the_loader_would_refuse(monkeypatch, ckpt_dir, capsys):
    """A pi-GAN file without the ema.pth the loader reads by default is not loadable: exit 2."""
    path = _save_pigan(monkeypatch, ckpt_dir / "generator.pth")
    assert main(["info", str(path)]) == 2
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert lines["family"] == "pigan" and lines["loadable"].startswith("no: ema.pth is missing")


def test_cli_info_json(ckpt_dir, capsys):
    path = _save_gram(ckpt_dir / "generator.pth")  # GRAM's keys, but not a whole network: not loadable

    assert main(["info", "--json", str(path)]) == 2

    out, _ = capsys.readouterr()
    record = json.loads(out)
    assert record["loadable"] is False and record["refusal"].startswith("ema.pth is missing")
    assert record["family"] == "gram"
    assert record["format"] == "torch-zip"
    assert record["variant"] is None
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["size"] == path.stat().st_size
    assert record["path"] == str(path)


def test_cli_info_missing_file(ckpt_dir, capsys):
    missing = ckpt_dir / "missing.pth"

    assert main(["info", str(missing)]) == 2

    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("aware3d info: error:")
    assert "not found" in err
    assert str(missing) in err


@pytest.mark.parametrize("kind", PAYLOADS)
def test_cli_info_malicious_file(ckpt_dir, capsys, kind):
    canary = ckpt_dir / "CANARY"
    payload, _ = _payloads(canary)[kind]
    path = ckpt_dir / "generator.pth"
    torch.save({"model": payload}, path)

    assert main(["info", str(path)]) == 2

    _, err = capsys.readouterr()
    assert "refuses to load it" in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not canary.exists()
