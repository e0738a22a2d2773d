"""Functional pieces shared by pi-GAN and GRAM: the FiLM-SIREN layers and the mapping network.

Written from the papers' published formulas (pi-GAN, Chan et al. 2021, eq. 2; GRAM, Deng et al.
2022, sec. 3): a FiLM layer is ``sin(freq * (W x + b) + phase)``, and the mapping network is an
MLP with LeakyReLU(0.2) whose output is split into frequencies and phase shifts.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoints import safe_load, standin_class
from ..errors import CheckpointError, InputError
from .base import TRUNCATION_NUM_SAMPLES, TRUNCATION_SEED
from .layers import Linear, linear_from
from .registry import CompanionFile, LoaderOption

FREQUENCY_SCALE = 15.0
FREQUENCY_SHIFT = 30.0
"""Both official codes feed ``frequencies * 15 + 30`` to the sine layers."""

MAPPING_SLOPE = 0.2
"""LeakyReLU slope of the mapping network (``CustomMappingNetwork``)."""


def film(layer: Linear, x: torch.Tensor, frequency: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """A FiLM-SIREN layer: ``sin(frequency * (W x + b) + phase)``; ``frequency`` already scaled."""
    return torch.sin(frequency * layer(x) + phase)


def mapping(layers: list[Linear], z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The mapping network: [B,z_dim] -> raw frequencies and phase shifts, each [B,D/2]."""
    x = z
    for layer in layers[:-1]:
        x = F.leaky_relu(layer(x), MAPPING_SLOPE)
    out = layers[-1](x)
    half = out.shape[-1] // 2
    return out[..., :half], out[..., half:]


def average_mapping(layers: list[Linear], z_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean frequencies and phases over 10 000 latents drawn with a fixed seed (for truncation).

    The papers redraw these latents on every call; a fixed seed makes truncation reproducible.
    """
    rng = torch.Generator(device="cpu").manual_seed(TRUNCATION_SEED)
    z = torch.randn(TRUNCATION_NUM_SAMPLES, z_dim, generator=rng).to(layers[0].weight.device)
    frequencies, phases = mapping(layers, z)
    return frequencies.mean(dim=0), phases.mean(dim=0)


def truncated_modulation(
    layers: list[Linear], z: torch.Tensor, truncation: float, average: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frequencies (scaled ``*15+30``) and phases for one latent, truncated toward the average."""
    frequencies, phases = mapping(layers, z.reshape(1, -1).to(layers[0].weight.device))
    frequencies = torch.lerp(average[0], frequencies[0], truncation)
    phases = torch.lerp(average[1], phases[0], truncation)
    return frequencies * FREQUENCY_SCALE + FREQUENCY_SHIFT, phases


def mapping_layers(params: dict[str, torch.Tensor], prefix: str) -> list[Linear]:
    """The four Linear layers of a ``CustomMappingNetwork`` (Sequential indices 0, 2, 4, 6)."""
    return [linear_from(params, f"{prefix}.network.{index}") for index in (0, 2, 4, 6)]


EMA_CHOICES = ("ema", "ema2", "none")
"""``ema.pth`` (decay 0.999, what every official script loads), ``ema2.pth`` (0.9999), or raw weights."""

EMA_OPTION = LoaderOption("ema", EMA_CHOICES, "ema", "which EMA file beside the generator to apply: ema.pth, ema2.pth or none")
"""The loader option pi-GAN and GRAM declare in their registry entries."""

EMA_GLOBAL = "torch_ema.ema"
"""The module of the EMA object both pickle into ema.pth (fadel/pytorch_ema @3950a7b)."""

EMA_CLASS = f"{EMA_GLOBAL}.ExponentialMovingAverage"


def check_ema_choice(ema: str) -> str:
    """Return ``ema`` if it names an EMA choice, else raise InputError."""
    if ema not in EMA_CHOICES:
        raise InputError(f"ema must be one of {', '.join(EMA_CHOICES)}, got {ema!r}")
    return ema


def ema_file(generator_path: str | Path, ema: str) -> Path:
    """Where the loader reads the EMA choice ``ema`` (``ema.pth`` or ``ema2.pth`` beside the generator)."""
    return Path(generator_path).with_name(f"{ema}.pth")


def ema_companions(generator_path: Path) -> list[CompanionFile]:
    """The EMA files the loader may read beside a generator.pth, for ``aware3d info`` to check."""
    return [CompanionFile(ema_file(generator_path, choice), (EMA_CLASS,), required=choice == EMA_OPTION.default)
            for choice in EMA_CHOICES if choice != "none"]


def apply_ema(generator_path: str | Path, params: dict[str, torch.Tensor], ema: str) -> dict[str, torch.Tensor]:
    """The parameters with the chosen EMA file beside ``generator_path`` applied (``none``: unchanged)."""
    if check_ema_choice(ema) == "none":
        return params
    return load_ema(ema_file(generator_path, ema), params)


def load_ema(path: str | os.PathLike, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Read an ``ema.pth`` and return ``expected``'s names with the EMA (shadow) values.

    pi-GAN and GRAM apply EMA by position (``ema.copy_to(generator.parameters())``), so the count
    and every shape must match the generator's parameter order before anything is replaced.

    Raises:
        CheckpointError: for a missing, unreadable, hostile or mismatched EMA file.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"the EMA file {path} is missing; put it beside the generator or pass --ema none")
    ema = safe_load(path, (EMA_CLASS,))
    if type(ema) is not standin_class(EMA_CLASS):
        raise CheckpointError(f"{path} is not a torch_ema ExponentialMovingAverage file")
    shadow = getattr(ema, "shadow_params", None)
    if not isinstance(shadow, list) or not all(isinstance(t, torch.Tensor) for t in shadow):
        raise CheckpointError(f"{path} has no list of shadow parameters")
    if len(shadow) != len(expected):
        raise CheckpointError(f"{path} holds {len(shadow)} EMA tensors but the generator has {len(expected)} parameters")
    for (name, param), value in zip(expected.items(), shadow):
        if tuple(value.shape) != tuple(param.shape):
            raise CheckpointError(
                f"{path}: EMA tensor for {name} has shape {list(value.shape)}, the generator's is {list(param.shape)}"
            )
    return {name: value.detach().to(torch.float32) for name, value in zip(expected, shadow)}
