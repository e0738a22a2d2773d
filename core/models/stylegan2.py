"""StyleGAN2 inference (mapping, modulated convolutions, skip synthesis), rebuilt from a network
pickle's inert records: aware3d's own code, written from the published algorithm.

Facts (Karras et al., CVPR 2020; NVlabs ``training/networks_stylegan2.py`` as EG3D ships it,
read for layer names and conventions only):

* fully connected layers store ``weight / lr_multiplier`` and apply ``weight_gain =
  lr_multiplier / sqrt(in)`` and ``bias_gain = lr_multiplier``; leaky ReLU has slope 0.2 and gain
  sqrt(2); a layer may clamp its output (``conv_clamp``, applied in fp32 too);
* the mapping network normalises z and the embedded label to unit second moment, concatenates
  them, and truncates toward ``w_avg`` on the first ``cutoff`` of ``num_ws`` latents;
* a synthesis layer modulates its 3x3 weight by an affine style, demodulates it, convolves
  (``up = 2``: a transposed convolution with the weight used as a true convolution, then the
  [1,3,3,1] FIR low-pass with gain 4), adds ``noise_const * noise_strength``, bias, activation;
* ToRGB is a 1x1 modulated convolution without demodulation (styles scaled by 1/sqrt(in));
* skip architecture: each block upsamples the running image with the same FIR filter and adds its
  ToRGB; a block consumes ``num_conv + num_torgb`` latents and advances by ``num_conv``.

Written here because no maintained library loads these pickles without running NVIDIA's code,
and the custom CUDA kernels of the official repository are not needed for inference.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from .persistence import PersistentRecord

LRELU_SLOPE = 0.2
ACTIVATION_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0), "relu": math.sqrt(2.0)}
NOISE_MODES = ("const", "none")
"""Noise modes aware3d runs: both deterministic (the official 'random' redraws noise every call)."""


# --- reading records ------------------------------------------------------------------------


def state_of(node: Any) -> Mapping[str, Any]:
    """The ``__dict__`` of a persistent record or a by-reference stand-in."""
    if isinstance(node, PersistentRecord):
        return node.state
    return getattr(node, "__dict__", {}) or {}


def class_of(node: Any) -> str:
    """The class name a node was pickled as."""
    return node.class_name if isinstance(node, PersistentRecord) else type(node).__name__


def child(node: Any, name: str, where: str) -> Any:
    """A sub-module of ``node``; a missing one is a CheckpointError naming its path."""
    found = (state_of(node).get("_modules") or {}).get(name)
    if found is None:
        raise CheckpointError(f"the network has no {where}.{name} module")
    return found


def has_child(node: Any, name: str) -> bool:
    return (state_of(node).get("_modules") or {}).get(name) is not None


def tensor(node: Any, name: str, where: str) -> torch.Tensor:
    """A parameter or buffer of ``node`` as a float32 tensor."""
    state = state_of(node)
    for group in ("_parameters", "_buffers"):
        value = (state.get(group) or {}).get(name)
        if value is not None:
            return torch.as_tensor(value).detach().to(torch.float32).clone()
    raise CheckpointError(f"the network has no tensor {where}.{name}")


def attribute(node: Any, name: str, where: str, default: Any = ...) -> Any:
    """A plain attribute of ``node`` (numpy scalars become Python numbers)."""
    state = state_of(node)
    if name not in state:
        if default is ...:
            raise CheckpointError(f"the network's {where} has no attribute {name!r}")
        return default
    value = state[name]
    return value.item() if hasattr(value, "item") and not isinstance(value, torch.Tensor) else value


# --- primitive operations -------------------------------------------------------------------


def bias_act(x: torch.Tensor, bias: torch.Tensor | None, activation: str, gain: float, clamp: float | None) -> torch.Tensor:
    """Bias, activation, gain and clamp in that order, along dim 1."""
    if bias is not None:
        x = x + bias.reshape([1, -1] + [1] * (x.ndim - 2))
    if activation == "lrelu":
        x = F.leaky_relu(x, LRELU_SLOPE)
    elif activation == "relu":
        x = F.relu(x)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit mean square."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def fir_filter(x: torch.Tensor, kernel: torch.Tensor, padding: tuple[int, int, int, int], gain: float) -> torch.Tensor:
    """Pad (x0, x1, y0, y1; negative crops), then convolve every channel with the 2-D FIR ``kernel`` times ``gain``."""
    x = F.pad(x, list(padding))
    channels = x.shape[1]
    weight = (kernel.flip([0, 1]) * gain).to(x.dtype)[None, None].expand(channels, 1, *kernel.shape)
    return F.conv2d(x, weight, groups=channels)


def upsample2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x FIR upsampling (zero insertion, then the filter with gain 4), as the skip images use."""
    batch, channels, height, width = x.shape
    taps = kernel.shape[-1]
    up = x.new_zeros(batch, channels, height, 2, width, 2)
    up[:, :, :, 0, :, 0] = x
    up = up.reshape(batch, channels, 2 * height, 2 * width)
    return fir_filter(up, kernel, ((taps + 1) // 2, (taps - 2) // 2, (taps + 1) // 2, (taps - 2) // 2), 4.0)


def as_2d_kernel(kernel: torch.Tensor) -> torch.Tensor:
    """A stored resample filter as a 2-D kernel (separable ones are stored 1-D)."""
    return torch.outer(kernel, kernel) if kernel.ndim == 1 else kernel


# --- layers -----------------------------------------------------------------------------------


class FullyConnected(nn.Module):
    """A StyleGAN2 fully connected layer with its learning-rate gains folded into the weights."""

    def __init__(self, node: Any, where: str) -> None:
        super().__init__()
        weight = tensor(node, "weight", where) * float(attribute(node, "weight_gain", where))
        self.register_buffer("weight", weight)
        bias = None
        if state_of(node).get("_parameters", {}).get("bias") is not None:
            bias = tensor(node, "bias", where) * float(attribute(node, "bias_gain", where, 1.0))
        self.register_buffer("bias", bias)
        self.activation = attribute(node, "activation", where, "linear")
        if self.activation not in ACTIVATION_GAIN:
            raise CheckpointError(f"{where} uses the activation {self.activation!r}; aware3d runs linear, relu and lrelu")

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation == "linear":
            return F.linear(x, self.weight, self.bias)
        return bias_act(x @ self.weight.t(), self.bias, self.activation, ACTIVATION_GAIN[self.activation], None)


class MappingNetwork(nn.Module):
    """z (and the camera label) to ``num_ws`` latents w, with truncation toward ``w_avg``."""

    def __init__(self, node: Any, where: str = "backbone.mapping") -> None:
        super().__init__()
        self.z_dim = int(attribute(node, "z_dim", where))
        self.c_dim = int(attribute(node, "c_dim", where))
        self.num_ws = int(attribute(node, "num_ws", where))
        num_layers = int(attribute(node, "num_layers", where))
        self.embed = FullyConnected(child(node, "embed", where), f"{where}.embed") if self.c_dim > 0 else None
        self.layers = nn.ModuleList(FullyConnected(child(node, f"fc{i}", where), f"{where}.fc{i}") for i in range(num_layers))
        self.register_buffer("w_avg", tensor(node, "w_avg", where))
        self.w_dim = self.w_avg.shape[0]

    def forward(self, z: torch.Tensor, c: torch.Tensor, psi: float, cutoff: int | None) -> torch.Tensor:
        """[N,z_dim], [N,c_dim] -> [N,num_ws,w_dim]."""
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.embed is not None:
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1)
        for layer in self.layers:
            x = layer(x)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if psi != 1:
            cut = self.num_ws if cutoff is None else cutoff
            ws[:, :cut] = self.w_avg.lerp(ws[:, :cut], psi)
        return ws


def modulated_conv(
    x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *, demodulate: bool, up: int = 1, padding: int = 0,
    kernel: torch.Tensor | None = None,
) -> torch.Tensor:
    """Modulated (and demodulated) convolution for a batch, as one grouped convolution.

    ``up = 2`` follows StyleGAN2's fast path: a stride-2 transposed convolution (the weight acting
    as a true convolution), then the FIR filter with gain 4, with the padding arranged so the result
    equals "upsample with the filter, then convolve".
    """
    batch, in_channels, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, in_channels, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, out_channels, 1, 1, 1)
    x = x.reshape(1, batch * in_channels, height, width)
    if up == 1:
        out = F.conv2d(x, w.reshape(batch * out_channels, in_channels, kh, kw), padding=padding, groups=batch)
    else:
        taps = kernel.shape[-1]
        pad0 = padding + (taps + up - 1) // 2 - (kw - 1)
        pad1 = padding + (taps - up) // 2 - (kw - up)
        w = w.transpose(1, 2).reshape(batch * in_channels, out_channels, kh, kw)
        out = F.conv_transpose2d(x, w, stride=up, groups=batch)
        out = fir_filter(out, kernel, (pad0, pad1, pad0, pad1), float(up * up))
    return out.reshape(batch, out_channels, *out.shape[2:])


class SynthesisLayer(nn.Module):
    """One modulated 3x3 convolution with noise, bias, leaky ReLU and an optional clamp."""

    def __init__(self, node: Any, where: str) -> None:
        super().__init__()
        self.affine = FullyConnected(child(node, "affine", where), f"{where}.affine")
        self.register_buffer("weight", tensor(node, "weight", where))
        self.register_buffer("bias", tensor(node, "bias", where))
        self.up = int(attribute(node, "up", where, 1))
        self.padding = int(attribute(node, "padding", where, self.weight.shape[-1] // 2))
        self.activation = attribute(node, "activation", where, "lrelu")
        self.act_gain = float(attribute(node, "act_gain", where, ACTIVATION_GAIN.get(self.activation, 1.0)))
        clamp = attribute(node, "conv_clamp", where, None)
        self.conv_clamp = None if clamp is None else float(clamp)
        self.use_noise = bool(attribute(node, "use_noise", where, True))
        self.register_buffer("noise", tensor(node, "noise_const", where) * tensor(node, "noise_strength", where) if self.use_noise else None)
        self.register_buffer("kernel", as_2d_kernel(tensor(node, "resample_filter", where)) if self.up > 1 else None)
        if self.up not in (1, 2):
            raise CheckpointError(f"{where} upsamples by {self.up}; StyleGAN2 layers upsample by 1 or 2")

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        styles = self.affine(w)
        x = modulated_conv(x, self.weight, styles, demodulate=True, up=self.up, padding=self.padding, kernel=self.kernel)
        if self.noise is not None and noise_mode == "const":
            x = x + self.noise
        return bias_act(x, self.bias, self.activation, self.act_gain, self.conv_clamp)


class ToRGB(nn.Module):
    """A 1x1 modulated convolution without demodulation (the skip branch's output)."""

    def __init__(self, node: Any, where: str) -> None:
        super().__init__()
        self.affine = FullyConnected(child(node, "affine", where), f"{where}.affine")
        self.register_buffer("weight", tensor(node, "weight", where))
        self.register_buffer("bias", tensor(node, "bias", where))
        in_channels, kernel = self.weight.shape[1], self.weight.shape[-1]
        self.weight_gain = float(attribute(node, "weight_gain", where, 1 / math.sqrt(in_channels * kernel * kernel)))
        clamp = attribute(node, "conv_clamp", where, None)
        self.conv_clamp = None if clamp is None else float(clamp)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, "linear", 1.0, self.conv_clamp)


BLOCK_CLASSES = {"SynthesisBlock": True, "SynthesisBlockNoUp": False}
"""Synthesis block classes and whether they upsample the running image (EG3D's super-resolution
defines ``SynthesisBlockNoUp``, which keeps the resolution)."""


class SynthesisBlock(nn.Module):
    """A skip-architecture block: (const |) conv0, conv1, ToRGB added to the (upsampled) image."""

    def __init__(self, node: Any, where: str) -> None:
        super().__init__()
        kind = class_of(node)
        if kind not in BLOCK_CLASSES:
            raise CheckpointError(f"{where} is a {kind}; aware3d runs {' and '.join(BLOCK_CLASSES)}")
        architecture = attribute(node, "architecture", where, "skip")
        is_last = bool(attribute(node, "is_last", where, False))
        if architecture == "resnet" or (architecture == "orig" and not is_last):
            raise CheckpointError(f"{where} uses the {architecture!r} architecture; EG3D's networks use 'skip'")
        self.upsamples_image = BLOCK_CLASSES[kind]
        self.register_buffer("const", tensor(node, "const", where) if int(attribute(node, "in_channels", where)) == 0 else None)
        self.conv0 = SynthesisLayer(child(node, "conv0", where), f"{where}.conv0") if has_child(node, "conv0") else None
        self.conv1 = SynthesisLayer(child(node, "conv1", where), f"{where}.conv1")
        self.torgb = ToRGB(child(node, "torgb", where), f"{where}.torgb") if has_child(node, "torgb") else None
        self.register_buffer("kernel", as_2d_kernel(tensor(node, "resample_filter", where)))
        self.num_conv = 1 + (self.conv0 is not None)
        self.num_torgb = int(self.torgb is not None)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str):
        """``ws`` [N, num_conv + num_torgb, w_dim] -> (features, image)."""
        index = 0
        if self.const is not None:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        if self.conv0 is not None:
            x = self.conv0(x, ws[:, index], noise_mode)
            index += 1
        x = self.conv1(x, ws[:, index], noise_mode)
        index += 1
        if img is not None and self.upsamples_image:
            img = upsample2d(img, self.kernel)
        if self.torgb is not None:
            y = self.torgb(x, ws[:, index])
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(nn.Module):
    """The backbone's synthesis: blocks b4 ... b{resolution}, each fed its slice of the latents."""

    def __init__(self, node: Any, where: str = "backbone.synthesis") -> None:
        super().__init__()
        self.resolutions = [int(r) for r in attribute(node, "block_resolutions", where)]
        self.blocks = nn.ModuleList(SynthesisBlock(child(node, f"b{res}", where), f"{where}.b{res}") for res in self.resolutions)
        self.num_ws = sum(block.num_conv for block in self.blocks) + self.blocks[-1].num_torgb

    def forward(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """[N,num_ws,w_dim] -> [N,img_channels,R,R]."""
        if ws.shape[1] != self.num_ws:
            raise CheckpointError(f"the synthesis network takes {self.num_ws} latents, the mapping gives {ws.shape[1]}")
        x = img = None
        start = 0
        for block in self.blocks:
            x, img = block(x, img, ws[:, start : start + block.num_conv + block.num_torgb], noise_mode)
            start += block.num_conv
        return img
