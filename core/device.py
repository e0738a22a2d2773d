"""Turning the user's device string into a ``torch.device`` (the only place ``"auto"`` is resolved)."""

from __future__ import annotations

import torch

from .errors import DeviceError

DeviceLike = str | torch.device

_DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """Return the torch device to run on.

    ``"auto"`` picks CUDA when a GPU is usable and the CPU otherwise. An explicit
    ``"cuda"`` on a machine without one raises instead of quietly using the CPU.

    Raises:
        DeviceError: for an unknown device name or an unavailable CUDA device.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if isinstance(device, torch.device):
        kind = device.type
    elif isinstance(device, str):
        kind = device.strip().lower().split(":")[0]
        if kind not in _DEVICE_CHOICES:
            raise DeviceError(f"unknown device {device!r}; choose one of auto, cpu, cuda (or cuda:N)")
    else:
        raise DeviceError(f"device must be a string or torch.device, got {type(device).__name__}")
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device 'cuda' was requested but no CUDA GPU is available; use --device cpu or auto")
    return torch.device(device)
