"""StyleGAN2 in rosinality's ``stylegan2-pytorch`` layout (the ``g_ema`` state dict LiftedGAN
lifts), rebuilt from the state dict's keys and shapes: aware3d's own code, with the primitive
operations of :mod:`aware3d.models.stylegan2`.

Facts (rosinality ``model.py`` as LiftedGAN vendors it, read for key names and conventions only):

* ``style.0`` is pixel norm; ``style.1`` ... ``style.n`` are equalised linear layers that store
  ``weight / lr_mul`` (lr_mul 0.01) and apply ``lr_mul / sqrt(in)``, their bias times lr_mul, then
  leaky ReLU 0.2 with gain sqrt(2);
* ``input.input`` is the 4x4 constant; ``conv1`` and each pair ``convs.{2k}`` (upsampling),
  ``convs.{2k+1}`` are modulated 3x3 convolutions (``conv.weight`` [1,out,in,3,3] scaled by
  1/sqrt(in*9), ``conv.modulation`` an equalised linear with bias, demodulated), then
  ``noise.weight`` times the layer's noise, then ``activate.bias`` and leaky ReLU with gain sqrt(2);
* ``to_rgb1`` and ``to_rgbs.{k}`` are 1x1 modulated convolutions without demodulation plus
  ``bias`` [1,3,1,1], each adding the 2x FIR-upsampled running image;
* the FIR kernels are stored pre-multiplied by 4 (``conv.blur.kernel``, ``upsample.kernel``);
* ``noises.noise_{i}`` hold the fixed noise ``randomize_noise=False`` uses, one per layer;
* LiftedGAN's slim release uses the channel table {4: 512, 8: 512, 16: 256, 32: 128, 64: 64,
  128: 32, 256: 16}: it is read from the shapes here, never assumed.

Written here because the official code compiles NVIDIA's CUDA kernels at import (and they are
licensed non-commercially); inference needs none of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import nn

from ..errors import CheckpointError
from .stylegan2 import bias_act, modulated_conv, normalize_2nd_moment, upsample2d

MAPPING_LR_MUL = 0.01
"""rosinality's ``lr_mlp`` default, which LiftedGAN's generator keeps; a state dict cannot tell it."""

ACTIVATION_GAIN = math.sqrt(2.0)


def _tensor(state: Mapping[str, torch.Tensor], key: str, where: str) -> torch.Tensor:
    try:
        return state[key].detach().to(torch.float32)
    except KeyError:
        raise CheckpointError(f"{where} has no tensor {key!r}: it is not a rosinality StyleGAN2 g_ema of the expected layout") from None


def _fir_kernel(state: Mapping[str, torch.Tensor], key: str, where: str) -> torch.Tensor:
    """A stored FIR kernel normalised to sum 1 (rosinality stores it times the upsampling gain)."""
    kernel = _tensor(state, key, where)
    return kernel / kernel.sum()


class EqualLinear(nn.Module):
    """An equalised linear layer with its gains folded in; ``lrelu`` adds leaky ReLU with gain sqrt(2)."""

    def __init__(self, state: Mapping[str, torch.Tensor], prefix: str, where: str, lr_mul: float = 1.0, lrelu: bool = False) -> None:
        super().__init__()
        weight = _tensor(state, f"{prefix}.weight", where)
        self.register_buffer("weight", weight * (lr_mul / math.sqrt(weight.shape[1])))
        self.register_buffer("bias", _tensor(state, f"{prefix}.bias", where) * lr_mul)
        self.lrelu = lrelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.lrelu:
            return bias_act(x @ self.weight.t(), self.bias, "lrelu", ACTIVATION_GAIN, None)
        return nn.functional.linear(x, self.weight, self.bias)


class StyledConv(nn.Module):
    """Modulated 3x3 convolution (optionally upsampling 2x), fixed noise, bias, leaky ReLU."""

    def __init__(self, state: Mapping[str, torch.Tensor], prefix: str, where: str, upsample: bool) -> None:
        super().__init__()
        weight = _tensor(state, f"{prefix}.conv.weight", where)[0]
        self.register_buffer("weight", weight / math.sqrt(weight[0].numel()))
        self.modulation = EqualLinear(state, f"{prefix}.conv.modulation", where)
        self.register_buffer("noise_strength", _tensor(state, f"{prefix}.noise.weight", where))
        self.register_buffer("bias", _tensor(state, f"{prefix}.activate.bias", where))
        self.register_buffer("kernel", _fir_kernel(state, f"{prefix}.conv.blur.kernel", where) if upsample else None)

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        up = 1 if self.kernel is None else 2
        x = modulated_conv(x, self.weight, self.modulation(w), demodulate=True, up=up, padding=1, kernel=self.kernel)
        if noise is not None:
            x = x + self.noise_strength * noise
        return bias_act(x, self.bias, "lrelu", ACTIVATION_GAIN, None)


class ToRGB(nn.Module):
    """1x1 modulated convolution to RGB, no demodulation, plus bias and the upsampled skip image."""

    def __init__(self, state: Mapping[str, torch.Tensor], prefix: str, where: str, upsample: bool) -> None:
        super().__init__()
        weight = _tensor(state, f"{prefix}.conv.weight", where)[0]
        self.register_buffer("weight", weight / math.sqrt(weight.shape[1]))
        self.modulation = EqualLinear(state, f"{prefix}.conv.modulation", where)
        self.register_buffer("bias", _tensor(state, f"{prefix}.bias", where))
        self.register_buffer("kernel", _fir_kernel(state, f"{prefix}.upsample.kernel", where) if upsample else None)

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = modulated_conv(x, self.weight, self.modulation(w), demodulate=False) + self.bias
        if skip is not None:
            out = out + upsample2d(skip, self.kernel)
        return out


class RosinalityGenerator(nn.Module):
    """A rosinality StyleGAN2 generator from its state dict: ``mapping(z)`` gives w,
    ``forward(w)`` the image and the last layer's features (LiftedGAN's ``return_feat``)."""

    def __init__(self, state: Mapping[str, torch.Tensor], where: str = "g_ema", lr_mul: float = MAPPING_LR_MUL) -> None:
        super().__init__()
        depth = 0
        while f"style.{depth + 1}.weight" in state:
            depth += 1
        if depth == 0:
            raise CheckpointError(f"{where} has no mapping layers (style.1.weight): it is not a rosinality StyleGAN2 g_ema")
        self.style = nn.ModuleList(EqualLinear(state, f"style.{i}", where, lr_mul, lrelu=True) for i in range(1, depth + 1))
        self.style_dim = self.style[0].weight.shape[1]
        self.register_buffer("constant", _tensor(state, "input.input", where))
        self.conv1 = StyledConv(state, "conv1", where, upsample=False)
        self.to_rgb1 = ToRGB(state, "to_rgb1", where, upsample=False)
        blocks = 0
        while f"convs.{2 * blocks}.conv.weight" in state:
            blocks += 1
        self.convs = nn.ModuleList(StyledConv(state, f"convs.{i}", where, upsample=i % 2 == 0) for i in range(2 * blocks))
        self.to_rgbs = nn.ModuleList(ToRGB(state, f"to_rgbs.{i}", where, upsample=True) for i in range(blocks))
        self.size = 4 * 2**blocks
        self.num_layers = 2 * blocks + 1
        self.n_latent = 2 * blocks + 2
        missing = [f"noises.noise_{i}" for i in range(self.num_layers) if f"noises.noise_{i}" not in state]
        if missing:
            raise CheckpointError(f"{where} has no fixed noise {missing[0]!r}; LiftedGAN renders with the noise the generator stores")
        for i in range(self.num_layers):
            self.register_buffer(f"noise_{i}", _tensor(state, f"noises.noise_{i}", where))
        self.channels = {4: self.conv1.out_channels, **{4 * 2 ** (k + 1): self.convs[2 * k].out_channels for k in range(blocks)}}

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """[N,style_dim] z to [N,style_dim] w (pixel norm, then the equalised MLP)."""
        x = normalize_2nd_moment(z)
        for layer in self.style:
            x = layer(x)
        return x

    def forward(self, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[N,style_dim] w (the same latent for every layer) to the [N,3,S,S] image in about
        [-1,1] and the [N,C,S,S] features of the last layer, with the stored noise."""
        noise = [getattr(self, f"noise_{i}") for i in range(self.num_layers)]
        x = self.conv1(self.constant.expand(w.shape[0], -1, -1, -1), w, noise[0])
        image = self.to_rgb1(x, w, None)
        for k, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * k](x, w, noise[2 * k + 1])
            x = self.convs[2 * k + 1](x, w, noise[2 * k + 2])
            image = to_rgb(x, w, image)
        return image, x
