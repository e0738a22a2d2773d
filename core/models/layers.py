"""Plain linear layers read from a flat parameter dict, shape-checked (pi-GAN, GRAM, GRAF), and the
layout check of whole state dicts (Unsup3d, LiftedGAN)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import CheckpointError


def layout_mismatch(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> str | None:
    """How a state dict differs from the one a module expects (``"missing KEY"``, ``"unexpected
    KEY"`` or ``"wrong shape for KEY"``, the first in key order), or None when every key and shape match."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    for problem, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape for", mismatched)):
        if keys:
            return f"{problem} {keys[0]}"
    return None


@dataclass(frozen=True)
class Linear:
    """One linear layer's weights: ``weight`` [out,in], ``bias`` [out]."""

    weight: torch.Tensor
    bias: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weight.shape)  # type: ignore[return-value]

    def to(self, device: torch.device) -> "Linear":
        return Linear(self.weight.to(device, torch.float32), self.bias.to(device, torch.float32))


def linear_from(params: dict[str, torch.Tensor], prefix: str, shape: tuple[int, int] | None = None) -> Linear:
    """The Linear ``prefix.weight``/``prefix.bias`` from a flat parameter dict, shape-checked.

    Raises:
        CheckpointError: naming the missing key or the wrong shape.
    """
    try:
        weight, bias = params[f"{prefix}.weight"], params[f"{prefix}.bias"]
    except KeyError as err:
        raise CheckpointError(f"the checkpoint has no parameter {err.args[0]}; is it the right model family?") from None
    if weight.ndim != 2 or bias.shape != (weight.shape[0],) or (shape is not None and tuple(weight.shape) != shape):
        want = f"{list(shape)}" if shape is not None else "[out,in] with a matching bias"
        raise CheckpointError(f"{prefix}.weight has shape {list(weight.shape)}, expected {want}")
    return Linear(weight.detach().to(torch.float32), bias.detach().to(torch.float32))
