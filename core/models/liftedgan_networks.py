"""LiftedGAN's four networks, built from their state dicts' shapes (aware3d's own code; the layer
order, read from the official ``models/networks.py``, is what makes the keys match).

* ``netSD`` (StyleDecomposeNet): three MLPs from the style w: ``model_style`` (group norm, no
  activation) to the neutral style, ``model_light`` (tanh) to 4 light values, ``model_view``
  (tanh) to 6 view values.
* ``netSC`` (StyleComposeNet): ``embed_style``, ``embed_light``, ``embed_view`` (MLPs with group
  norm ending in a per-channel scale and shift), summed, then ``model`` (group norm MLP).
* ``netD`` (DepthNet): an MLP, then transposed convolutions from 1x1 to 128x128 (group norm,
  ReLU), a nearest 2x upsample, plus a 1x1 convolution of the StyleGAN2's last features, then a
  3x3/5x5/5x5 head to one channel.
* ``netT`` (TransformationNet): an MLP, transposed convolutions to 128x128, a nearest 2x
  upsample and a 3x3/5x5 head to one channel.

MLP layers sit at their official Sequential indices (Linear, [GroupNorm], LeakyReLU 0.2, ...);
group norms use ``channels // 4`` groups as the official code fixes them. Every width is read
from the tensors, never from the release's numbers.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import CheckpointError
from .layers import layout_mismatch

NETWORKS = ("netD", "netT", "netSD", "netSC")
"""The state dicts a LiftedGAN checkpoint holds (its ``save_model`` writes these four)."""

STAGES = 5
"""Transposed-convolution stages of the depth and transformation networks (4x4 to 128x128)."""


class ScaleShift(nn.Module):
    """A learned per-channel scale and shift (``weight``, ``bias`` [1,C])."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels))
        self.bias = nn.Parameter(torch.zeros(1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias + self.weight * x


class MLP(nn.Module):
    """The official ``MLP`` wrapper: its layers under ``mlp`` (so the keys read ``<name>.mlp.<i>``)."""

    def __init__(self, layers: nn.Sequential) -> None:
        super().__init__()
        self.mlp = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


def _shape(state: Mapping[str, torch.Tensor], key: str, where: str) -> tuple[int, ...]:
    try:
        return tuple(state[key].shape)
    except KeyError:
        raise CheckpointError(f"{where} has no tensor {key!r}: it does not have the released LiftedGAN layout") from None


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(channels // 4, channels)


def mlp(state: Mapping[str, torch.Tensor], prefix: str, where: str, final: nn.Module | None = None) -> nn.Sequential:
    """The official ``MLP`` (or DepthNet's plain Linear/LeakyReLU stack) under ``prefix``: layers
    at their Sequential indices; an index without tensors is a LeakyReLU, a 1-D weight a group
    norm, a [1,C] weight with a [1,C] bias a ScaleShift; ``final`` (tanh) closes it."""
    indices = sorted({int(key[len(prefix) + 1:].split(".")[0]) for key in state if key.startswith(prefix + ".")})
    if not indices:
        raise CheckpointError(f"{where} has no layers under {prefix!r}: it does not have the released LiftedGAN layout")
    layers: list[nn.Module] = []
    for index in range(indices[-1] + 1):
        if index not in indices:
            layers.append(nn.LeakyReLU(0.2))
            continue
        weight = _shape(state, f"{prefix}.{index}.weight", where)
        bias = _shape(state, f"{prefix}.{index}.bias", where)
        if len(weight) == 1:
            layers.append(_norm(weight[0]))
        elif len(bias) == 2:
            layers.append(ScaleShift(weight[1]))
        else:
            layers.append(nn.Linear(weight[1], weight[0]))
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


def _up_stage(cin: int, cout: int, with_conv: bool) -> list[nn.Module]:
    """One 2x transposed-convolution stage: ConvT, norm, ReLU (then conv, norm, ReLU for DepthNet)."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), _norm(cout), nn.ReLU()]
    if with_conv:
        layers += [nn.Conv2d(cout, cout, 3, 1, 1, bias=False), _norm(cout), nn.ReLU()]
    return layers


class StyleDecomposeNet(nn.Module):
    """w to (neutral style, light [4] in (-1,1), view [6] in (-1,1))."""

    def __init__(self, state: Mapping[str, torch.Tensor], where: str = "netSD") -> None:
        super().__init__()
        self.model_style = MLP(mlp(state, "model_style.mlp", where))
        self.model_light = MLP(mlp(state, "model_light.mlp", where, nn.Tanh()))
        self.model_view = MLP(mlp(state, "model_view.mlp", where, nn.Tanh()))

    def forward(self, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model_style(style), self.model_light(style), self.model_view(style)


class StyleComposeNet(nn.Module):
    """(style, light, view) to a style: three embeddings summed, then an MLP."""

    def __init__(self, state: Mapping[str, torch.Tensor], where: str = "netSC") -> None:
        super().__init__()
        self.embed_style = MLP(mlp(state, "embed_style.mlp", where))
        self.embed_light = MLP(mlp(state, "embed_light.mlp", where))
        self.embed_view = MLP(mlp(state, "embed_view.mlp", where))
        self.model = MLP(mlp(state, "model.mlp", where))

    def forward(self, style: torch.Tensor, light: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
        return self.model(self.embed_style(style) + self.embed_light(light) + self.embed_view(view))


class DepthNet(nn.Module):
    """(neutral style, StyleGAN2 features [B,C,256,256]) to raw depth [B,1,256,256]."""

    def __init__(self, state: Mapping[str, torch.Tensor], where: str = "netD") -> None:
        super().__init__()
        self.mlp = mlp(state, "mlp", where, nn.LeakyReLU(0.2))  # this stack ends in an activation
        z_dim, width = _shape(state, "network.0.weight", where)[:2]
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False), nn.ReLU(),
                                   nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.ReLU()]
        for _ in range(STAGES):
            layers += _up_stage(width, width // 2, with_conv=True)
            width //= 2
        self.network = nn.Sequential(*layers, nn.Upsample(scale_factor=2, mode="nearest"))
        self.inject = nn.Conv2d(_shape(state, "inject.weight", where)[1], width, 1, bias=False)
        self.head = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=False), _norm(width), nn.ReLU(),
            nn.Conv2d(width, width, 5, 1, 2, bias=False), _norm(width), nn.ReLU(),
            nn.Conv2d(width, _shape(state, "head.6.weight", where)[0], 5, 1, 2, bias="head.6.bias" in state))

    def forward(self, style: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        code = self.mlp(style)
        return self.head(self.network(code[:, :, None, None]) + self.inject(features))


class TransformationNet(nn.Module):
    """Neutral style to the raw transparency map [B,1,256,256]."""

    def __init__(self, state: Mapping[str, torch.Tensor], where: str = "netT") -> None:
        super().__init__()
        self.mlp = mlp(state, "mlp", where, nn.LeakyReLU(0.2))  # this stack ends in an activation
        z_dim, width = _shape(state, "network.0.weight", where)[:2]
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False), nn.ReLU()]
        for _ in range(STAGES):
            layers += _up_stage(width, width // 2, with_conv=False)
            width //= 2
        out = _shape(state, f"network.{len(layers) + 4}.weight", where)[0]
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, 1, 1, bias=False), _norm(width),
                   nn.ReLU(), nn.Conv2d(width, out, 5, 1, 2, bias=False)]
        self.network = nn.Sequential(*layers)

    def forward(self, style: torch.Tensor) -> torch.Tensor:
        return self.network(self.mlp(style)[:, :, None, None])


BUILDERS = {"netD": DepthNet, "netT": TransformationNet, "netSD": StyleDecomposeNet, "netSC": StyleComposeNet}


def build_network(name: str, state: Mapping[str, torch.Tensor], path: str) -> nn.Module:
    """Network ``name`` built from its state dict's shapes, loaded, in eval mode.

    Raises:
        CheckpointError: naming the first key that is missing, unexpected or of the wrong shape.
    """
    module = BUILDERS[name](state, name)
    problem = layout_mismatch(module.state_dict(), state)
    if problem is not None:
        raise CheckpointError(f"{path}: {name} does not have the released LiftedGAN layout ({problem})")
    module.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    return module.eval()
