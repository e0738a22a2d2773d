"""LiftedGAN (Shi et al., CVPR 2021): recognised, and its ``config.py`` read as data; the networks
are not re-implemented yet, so its files are reported as not yet loadable.

A release is a checkpoint (``checkpoint_010.pth``: the state dicts of ``netD``, ``netT``, ``netSD``
and ``netSC``, an Adam state, ``global_step`` and ``epoch``) beside its ``config.py``, which names
the rosinality-format StyleGAN2 file the networks lift (``generator_path``, only its ``g_ema`` is
used). The official loader runs ``config.py`` (``imp.load_source``); aware3d never does:
:func:`read_config` takes only assignments of literals, and of names assigned before them.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from ..cameras import PIGAN_CONVENTION
from ..errors import InputError
from . import releases
from .registry import FamilySpec

CONFIG_NAME = "config.py"
"""The file the official loader reads beside a checkpoint."""


def read_config(path: str | Path) -> dict[str, Any]:
    """The settings a LiftedGAN ``config.py`` assigns, read as data: nothing in it runs.

    Each top-level ``name = value`` whose value is built from literals (numbers, strings, None,
    booleans, lists, tuples, dicts, sets, a leading minus) and names assigned above it is kept;
    any other statement (imports, calls, expressions) is skipped, and so is any name it assigns.

    Raises:
        InputError: for a missing file or one that is not Python.
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except FileNotFoundError:
        raise InputError(f"LiftedGAN needs the config.py beside its checkpoint; {path} does not exist") from None
    except (SyntaxError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path} is not a LiftedGAN config.py ({type(err).__name__}: {err})") from None
    values: dict[str, Any] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            try:
                values[statement.targets[0].id] = _literal(statement.value, values)
            except ValueError:
                values.pop(statement.targets[0].id, None)
    return values


def _literal(node: ast.AST, names: dict[str, Any]) -> Any:
    """The value of a literal expression, resolving names from ``names``; ValueError otherwise.
    Written by hand because ``ast.literal_eval`` cannot resolve the config's own names
    (``'min_depth': min_depth``) and nothing else may evaluate it without running it."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ValueError(node.id)
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, names)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError("a sign before a non-number")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(item, names) for item in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values)}
    raise ValueError(type(node).__name__)


FAMILY = FamilySpec(
    name="liftedgan",
    title="LiftedGAN (Shi et al., CVPR 2021)",
    files="checkpoint_010.pth beside its config.py, with the StyleGAN2 file the config names",
    licence=releases.LIFTEDGAN_LICENCE,
    loader=None,
    convention=PIGAN_CONVENTION,
    kind="relief",
    state_keys=("netSD", "netSC"),
    companions={"argparse.Namespace": "the rosinality StyleGAN2 training state (g, d, g_ema, args) that LiftedGAN lifts"},
)
