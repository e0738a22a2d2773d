"""``load_generator``: from a family name or a checkpoint file to a ready Generator.

One path for every family (timm's ``build_model_with_cfg`` idea): the registry says how to
recognise the file and which loader and options to use; the family module does the rest.
"""

from __future__ import annotations

import os
from typing import Any

from .checkpoints import check_file
from .device import DeviceLike, resolve_device
from .errors import CheckpointError, InputError
from .models import builtin_families, family_loader, get_family
from .models.base import Generator
from .models.registry import detect


def load_generator(
    path: str | os.PathLike | None = None,
    family: str | None = None,
    device: DeviceLike = "auto",
    **family_options: Any,
) -> Generator:
    """Load a generator.

    Args:
        path: an official checkpoint file; None for a built-in family (``aware3d models`` marks them).
        family: a registry name (see ``aware3d models``); None detects it from the file.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or a torch.device.
        **family_options: the options the family's registry entry declares, e.g. ``ema="ema2"``
            for pi-GAN and GRAM (``aware3d models`` lists them).

    Raises:
        UnknownFamilyError: for a family name not in the registry.
        InputError: for no path and no family, a checkpoint given to a built-in family, a
            checkpoint missing for one that needs it, or an option the family does not take.
        CheckpointError: for a missing, unreadable or wrong-family file.
        UnsupportedFamilyError: for a recognised family whose loader is not written yet.
        DeviceError: for an unavailable device.
    """
    if path is None and family is None:
        builtin = " or ".join(f"family={name!r}" for name in builtin_families()) or "a family name"
        raise InputError(f"give a checkpoint path, or {builtin} for a built-in model")
    spec = get_family(family) if family is not None else None
    if spec is not None:
        family_loader(spec)  # a family that cannot load yet says so before anything else
    if spec is not None and spec.builtin and path is not None:
        raise InputError(f"the {spec.name} model is built in and takes no checkpoint; leave out the checkpoint path")
    if spec is not None and not spec.builtin and path is None:
        raise InputError(f"the {spec.name} model needs its checkpoint file ({spec.files}); pass --checkpoint PATH")
    if path is not None:
        check_file(path)
        detected = detect(path).family  # opcodes only: the family module hashes and loads once
        if spec is not None and detected.name != spec.name:
            raise CheckpointError(f"{path} is a {detected.name} checkpoint, not {spec.name}; pass --model {detected.name}")
        spec = detected
    loader = family_loader(spec)
    options = spec.resolve_options(family_options)
    return loader(None if path is None else str(path), resolve_device(device), **options)
