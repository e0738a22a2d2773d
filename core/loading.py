"""``load_generator``: from a family name or a checkpoint file to a ready Generator."""

from __future__ import annotations

import os

from .checkpoints import check_file, detect_family
from .device import DeviceLike, resolve_device
from .errors import CheckpointError, InputError
from .models import family_module, get_family
from .models.base import Generator


def load_generator(
    path: str | os.PathLike | None = None,
    family: str | None = None,
    device: DeviceLike = "auto",
    ema: str = "ema",
) -> Generator:
    """Load a generator.

    Args:
        path: an official checkpoint file; None for the built-in ``demo`` family.
        family: a registry name (see ``aware3d models``); None detects it from the file.
        device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or a torch.device.
        ema: for pi-GAN and GRAM, which EMA file beside the generator to apply: ``"ema"``
            (ema.pth, the authors' default), ``"ema2"`` or ``"none"`` (raw weights).

    Raises:
        UnknownFamilyError: for a family name not in the registry.
        CheckpointError: for a missing, unreadable or wrong-family file.
        UnsupportedFamilyError: for a recognised family whose loader is not written yet.
        DeviceError: for an unavailable device.
    """
    if path is None and family is None:
        raise InputError("give a checkpoint path, or family='demo' for the built-in model")
    spec = get_family(family) if family is not None else None
    resolved = resolve_device(device)
    if path is not None:
        check_file(path)
        if spec is None or spec.name != "demo":
            detected = detect_family(path)  # opcodes only: the family module hashes and loads once
            if spec is not None and detected != spec.name:
                raise CheckpointError(f"{path} is a {detected} checkpoint, not {spec.name}; pass --model {detected}")
            spec = get_family(detected)
    module = family_module(spec)
    path = None if path is None else str(path)
    if spec.name in ("pigan", "gram"):
        return module.load(path, resolved, ema=ema)
    return module.load(path, resolved)
