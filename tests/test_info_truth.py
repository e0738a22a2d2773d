"""``aware3d info`` tells the truth: ``loadable yes`` only when ``load_generator`` would load the
file, ``loadable no: <global> in <file>`` and exit 2 for anything it would refuse, including
what hides in an object's state, in a companion file, or behind a nested pickle. Nothing runs."""

from __future__ import annotations

import builtins
import importlib
import io
import os
import pickle
import subprocess
import sys

import official_formats as of
import pytest
import torch

import aware3d
from aware3d.app.cli import main
from aware3d.errors import CheckpointError


class _Payload:
    """Pickles as ``function(*args)``: what a tampered file would carry."""

    def __init__(self, function, args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _payloads(canary) -> dict[str, tuple[object, str]]:
    """Each hostile object, and the global the refusal must name."""
    touch = f"open({str(canary)!r}, 'w').close()"
    nested = pickle.dumps(_Payload(os.system, (f"touch {canary}",)))
    return {
        "os.system in state": (_Payload(os.system, (f"touch {canary}",)), "posix.system"),
        "builtins.getattr": (_Payload(builtins.getattr, ("", "join")), "builtins.getattr"),
        "importlib.import_module": (_Payload(importlib.import_module, ("subprocess",)), "importlib.import_module"),
        "pickle.loads of bytes": (_Payload(pickle.loads, (nested,)), "pickle.loads"),
        "torch.storage._load_from_bytes": (_Payload(torch.storage._load_from_bytes, (nested,)), "torch.storage._load_from_bytes"),
        "builtins.exec": (_Payload(builtins.exec, (touch,)), "builtins.exec"),
    }


CASES = sorted(_payloads("x"))


def _tampered_generator(folder, payload) -> None:
    """A genuine official-format pi-GAN whose SIREN module carries ``payload`` in its state."""
    of.save_pigan(folder)
    generator = of.ImplicitGenerator3d(of.SPATIALSIRENBASELINE, 16, hidden_dim=32)
    generator.siren.payload = payload  # deep inside an allowed object's state
    with of.official_names():
        torch.save(generator, folder / "generator.pth")


def _info(path, capsys) -> tuple[int, dict]:
    code = main(["info", str(path)])
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    return code, lines


@pytest.mark.parametrize("case", CASES)
def test_info_refuses_a_global_hidden_in_the_state(case, tmp_path, capsys):
    canary = tmp_path / "CANARY"
    payload, name = _payloads(canary)[case]
    _tampered_generator(tmp_path, payload)
    code, lines = _info(tmp_path / "generator.pth", capsys)
    assert code == 2 and lines["family"] == "pigan"
    assert lines["loadable"] == f"no: {name} in {tmp_path / 'generator.pth'}"
    with pytest.raises(CheckpointError, match="refuses to load it"):
        aware3d.load_generator(tmp_path / "generator.pth", device="cpu")
    assert not canary.exists()


@pytest.mark.parametrize("companion", ["ema.pth", "ema2.pth"])
def test_info_checks_the_companion_files_the_loader_reads(companion, tmp_path, capsys):
    canary = tmp_path / "CANARY"
    of.save_pigan(tmp_path)
    with open(tmp_path / companion, "wb") as handle:  # a hostile EMA file beside a genuine generator
        pickle.dump(_Payload(os.system, (f"touch {canary}",)), handle)
    code, lines = _info(tmp_path / "generator.pth", capsys)
    assert code == 2 and lines["loadable"] == f"no: posix.system in {tmp_path / companion}"
    with pytest.raises(CheckpointError, match="posix.system"):
        aware3d.load_generator(tmp_path / "generator.pth", device="cpu", ema=companion.removesuffix(".pth"))
    assert not canary.exists()


def test_info_says_yes_only_for_what_loads(tmp_path, capsys):
    path = of.save_pigan(tmp_path)
    code, lines = _info(path, capsys)
    assert code == 0 and lines["loadable"] == "yes"
    aware3d.load_generator(path, device="cpu")  # and it does load
    (tmp_path / "ema2.pth").unlink()  # ema2 is optional: still loadable with the defaults
    assert _info(path, capsys)[1]["loadable"] == "yes"
    (tmp_path / "ema.pth").unlink()  # the default EMA file is not
    code, lines = _info(path, capsys)
    assert code == 2 and lines["loadable"].startswith("no: ema.pth is missing")


def test_a_stack_global_with_computed_names_is_refused(tmp_path, capsys):
    """STACK_GLOBAL whose module and name are not plain strings cannot be checked, so it is refused."""
    from aware3d.checkpoints import UNRESOLVED_GLOBAL, summarize_pickle

    # Build ("posix", "sys" + "tem") at unpickling time: the name is the result of a call, not a string in the file.
    body = io.BytesIO()
    body.write(b"\x80\x04")
    body.write(b"\x8c\x05posix\x94")  # SHORT_BINUNICODE 'posix', MEMOIZE
    body.write(b"\x8c\x08builtins\x8c\x03str\x93")  # builtins.str (allowed-looking) via STACK_GLOBAL
    body.write(b"\x8c\x06system\x85R")  # str('system') -> computed string
    body.write(b"\x93")  # STACK_GLOBAL on ('posix', <computed>)
    body.write(b")R.")  # call it with no args, STOP
    summary = summarize_pickle(body.getvalue())
    assert UNRESOLVED_GLOBAL in summary.globals
    path = tmp_path / "sneaky.pkl"
    path.write_bytes(body.getvalue())
    from aware3d.checkpoints import check_globals

    with pytest.raises(CheckpointError, match="computed while unpickling"):
        check_globals(path)


def test_info_runs_nothing_in_a_fresh_process(tmp_path):
    canary = tmp_path / "CANARY"
    payload, _ = _payloads(canary)["os.system in state"]
    _tampered_generator(tmp_path, payload)
    result = subprocess.run([sys.executable, "-m", "aware3d", "info", str(tmp_path / "generator.pth")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "loadable  no: posix.system" in result.stdout
    assert not canary.exists()
