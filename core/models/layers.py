"""Plain linear layers read from a flat parameter dict, shape-checked (pi-GAN, GRAM, GRAF)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import CheckpointError


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
