"""LiftedGAN releases in the official file formats, built small, and the official ``LiftedGAN.estimate``
as an independent reference.

LiftedGAN (Shi et al., CVPR 2021; seasonSH/LiftedGAN, MIT) distils a pretrained StyleGAN2 into a 3D
generator. A release is a folder with ``checkpoint_{epoch:03}.pth`` (the state dicts of the four
LiftedGAN networks ``netD``, ``netT``, ``netSD``, ``netSC``, one Adam state over all of them,
``global_step`` and ``epoch``; ``models/lifted_gan.py`` ``save_model``), ``config.py`` (the training
configuration, read back with ``imp.load_source``) and the rosinality StyleGAN2 checkpoint that
``config.generator_path`` names (``stylegan2-pytorch/train.py``: ``g``, ``d``, ``g_ema``, both Adam
states, the ``argparse`` namespace and ``ada_aug_p``; LiftedGAN loads ``g_ema``).

Everything here is written from the official code's layer order, attribute names and formulas, in
plain torch on the CPU: ``upfirdn2d`` as zero insertion, padding and a true convolution with the FIR
kernel; the fused leaky ReLU as ``leaky_relu(x + bias, 0.2) * sqrt(2)``; the modulated convolution
as a loop over the batch. Widths are narrow (``TEST_CHANNELS``), the MLPs of the style
decomposition/composition keep the official hidden width 512 (``networks.MLP``'s default ``dim``,
which ``StyleDecomposeNet``/``StyleComposeNet`` never override).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import torch
import torch.nn.functional as F
from torch import nn

TEST_CHANNELS = {4: 32, 8: 32, 16: 16, 32: 16, 64: 8, 128: 8, 256: 8}
RELEASE_CHANNELS = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 32, 256: 16}
BLUR_FIR = (1, 3, 3, 1)

# --------------------------------------------------------------------------------------------------
# StyleGAN2 generator, rosinality layout as in LiftedGAN's models/networks_stylegan2.py (a slim
# variant: a fixed channel table up to 256 px, no channel multiplier).
# --------------------------------------------------------------------------------------------------


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample by inserting ``up - 1`` zeros after every sample, pad ``pad`` on both sides of both
    axes, convolve (true convolution) with the 2D FIR ``kernel``, keep every ``down``-th sample."""
    b, c, h, w = x.shape
    if up > 1:
        spread = x.new_zeros(b, c, h * up, w * up)
        spread[:, :, ::up, ::up] = x
        x = spread
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    taps = torch.flip(kernel, [0, 1]).to(x)
    x = F.conv2d(x, taps.expand(c, 1, *taps.shape).contiguous(), groups=c)
    return x[:, :, ::down, ::down]


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor, negative_slope: float = 0.2, scale: float = math.sqrt(2)) -> torch.Tensor:
    shape = [1, bias.shape[0]] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.view(shape), negative_slope) * scale


def fir_kernel(taps=BLUR_FIR) -> torch.Tensor:
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias_init=0.0, lr_mul=1.0, activation=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.activation = activation
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x):
        out = F.linear(x, self.weight * self.scale)
        if self.activation:
            return fused_leaky_relu(out, self.bias * self.lr_mul)
        return out + self.bias * self.lr_mul


class FusedLeakyReLU(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel))

    def forward(self, x):
        return fused_leaky_relu(x, self.bias)


class Blur(nn.Module):
    def __init__(self, pad, upsample_factor=1):
        super().__init__()
        self.register_buffer("kernel", fir_kernel() * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x):
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    def __init__(self, factor=2):
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", fir_kernel() * factor ** 2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x):
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    def __init__(self, in_channel, out_channel, kernel_size, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.upsample, self.demodulate = upsample, demodulate
        if upsample:  # transposed conv (stride 2, no padding) then the FIR blur, (p+1)//2+1 / p//2+1 with p = (4-2)-(k-1)
            p = (len(BLUR_FIR) - 2) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + 1, p // 2 + 1), upsample_factor=2)
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)

    def forward(self, x, style):
        s = self.modulation(style)
        outs = []
        for i in range(x.shape[0]):  # one sample at a time: the grouped convolution of the original, unrolled
            w = self.scale * self.weight[0] * s[i].view(1, -1, 1, 1)
            if self.demodulate:
                w = w * torch.rsqrt(w.pow(2).sum([1, 2, 3], keepdim=True) + 1e-8)
            xi = x[i:i + 1]
            if self.upsample:
                out = self.blur(F.conv_transpose2d(xi, w.transpose(0, 1), stride=2, padding=0))
            else:
                out = F.conv2d(xi, w, padding=self.padding)
            outs.append(out)
        return torch.cat(outs, 0)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise=None):
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], dtype=x.dtype)
        return x + self.weight * noise


class ConstantInput(nn.Module):
    def __init__(self, channel, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch):
        return self.input.repeat(batch, 1, 1, 1)


class StyledConv(nn.Module):
    def __init__(self, in_channel, out_channel, kernel_size, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x, style, noise=None):
        return self.activate(self.noise(self.conv(x, style), noise=noise))


class ToRGB(nn.Module):
    def __init__(self, in_channel, style_dim, upsample=True):
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    """``Generator(size, style_dim, n_mlp)`` of LiftedGAN's ``models/networks_stylegan2.py`` with a
    given channel table (the release's is ``RELEASE_CHANNELS``)."""

    def __init__(self, size=256, style_dim=512, n_mlp=8, channels=None, lr_mlp=0.01):
        super().__init__()
        self.size, self.style_dim, self.n_mlp = size, style_dim, n_mlp
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)])
        self.channels = dict(channels or RELEASE_CHANNELS)
        self.input = ConstantInput(self.channels[4])
        self.conv1 = StyledConv(self.channels[4], self.channels[4], 3, style_dim)
        self.to_rgb1 = ToRGB(self.channels[4], style_dim, upsample=False)
        self.log_size = int(math.log(size, 2))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()  # present and empty in the official class
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer in range(self.num_layers):
            res = 2 ** ((layer + 5) // 2)
            self.noises.register_buffer(f"noise_{layer}", torch.randn(1, 1, res, res))
        in_channel = self.channels[4]
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2 ** i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim))
            self.to_rgbs.append(ToRGB(out_channel, style_dim))
            in_channel = out_channel
        self.n_latent = self.log_size * 2 - 2

    def forward(self, styles, input_is_latent=False, noise=None, randomize_noise=True, return_feat=False):
        """One style (``[B, style_dim]``, or ``[B, n_latent, style_dim]`` per layer); returns the image,
        and with ``return_feat`` also the last (full-resolution) feature map."""
        if isinstance(styles, (list, tuple)):
            if len(styles) != 1:
                raise NotImplementedError("style mixing is not needed here")
            styles = styles[0]
        if not input_is_latent:
            styles = self.style(styles)
        if noise is None:
            noise = [None] * self.num_layers if randomize_noise else [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        latent = styles if styles.ndim == 3 else styles.unsqueeze(1).repeat(1, self.n_latent, 1)
        out = self.conv1(self.input(latent.shape[0]), latent[:, 0], noise=noise[0])
        skip = self.to_rgb1(out, latent[:, 1])
        i = 1
        for k, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * k](out, latent[:, i], noise=noise[2 * k + 1])
            out = self.convs[2 * k + 1](out, latent[:, i + 1], noise=noise[2 * k + 2])
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2
        return (skip, out) if return_feat else skip


# --------------------------------------------------------------------------------------------------
# The four LiftedGAN networks (models/networks.py).
# --------------------------------------------------------------------------------------------------


class ScaleShift(nn.Module):
    def __init__(self, num_features, scale=True, shift=True, init_scale=1.0):
        super().__init__()
        self.scale, self.shift = scale, shift
        if scale:
            self.weight = nn.Parameter(init_scale * torch.ones(1, num_features))
        if shift:
            self.bias = nn.Parameter(torch.zeros(1, num_features))

    def forward(self, x):
        if self.scale:
            x = self.weight * x
        if self.shift:
            x = self.bias + x
        return x


class MLP(nn.Module):
    def __init__(self, cin, cout, n_layer=4, dim=512, normalize=False, activation=None):
        super().__init__()
        layers = []
        for i in range(n_layer - 1):
            layers.append(nn.Linear(cin if i == 0 else dim, dim))
            if normalize:
                layers.append(nn.GroupNorm(dim // 4, dim))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Linear(dim, cout))
        if activation is not None:
            layers.append(activation)
        self.mlp = nn.Sequential(*layers)

    def forward(self, x):
        return self.mlp(x)


class StyleDecomposeNet(nn.Module):
    def __init__(self, style_dim, light_dim=4, view_dim=6, n_layer=4, dim=512):  # dim: not a parameter of the original (always 512)
        super().__init__()
        self.model_style = MLP(style_dim, style_dim, n_layer=n_layer, dim=dim, normalize=True)
        self.model_light = MLP(style_dim, light_dim, n_layer=n_layer, dim=dim, activation=nn.Tanh())
        self.model_view = MLP(style_dim, view_dim, n_layer=n_layer, dim=dim, activation=nn.Tanh())

    def forward(self, style):
        return self.model_style(style), self.model_light(style), self.model_view(style)


class StyleComposeNet(nn.Module):
    def __init__(self, style_dim, light_dim=4, view_dim=6, n_layer=4, dim=512):  # dim: not a parameter of the original (always 512)
        super().__init__()
        # n_layer is accepted and ignored, as in the official class (every MLP here has 4 layers)
        self.embed_style = MLP(style_dim, style_dim, n_layer=4, dim=dim, normalize=True, activation=ScaleShift(style_dim))
        self.embed_light = MLP(light_dim, style_dim, n_layer=4, dim=dim, normalize=True, activation=ScaleShift(style_dim))
        self.embed_view = MLP(view_dim, style_dim, n_layer=4, dim=dim, normalize=True, activation=ScaleShift(style_dim))
        self.model = MLP(style_dim, style_dim, n_layer=4, dim=dim, normalize=True)

    def forward(self, neutral_style, light, view):
        return self.model(self.embed_style(neutral_style) + self.embed_light(light) + self.embed_view(view))


def _mapping(in_dim, z_dim, n_mlp):
    layers = []
    for _ in range(n_mlp):
        layers += [nn.Linear(in_dim, z_dim), nn.LeakyReLU(0.2)]
        in_dim = z_dim
    return nn.Sequential(*layers)


class DepthNet(nn.Module):
    def __init__(self, in_dim, out_dim, inject_dim=16, z_dim=128, nf=16, n_mlp=0, activation=nn.Tanh, bias=False):
        super().__init__()
        self.n_mlp = n_mlp
        if n_mlp > 0:
            self.mlp = _mapping(in_dim, z_dim, n_mlp)
        ndim = nf * 32
        layers = [nn.ConvTranspose2d(z_dim, ndim, 4, 1, 0, bias=False), nn.ReLU(),
                  nn.Conv2d(ndim, ndim, 3, 1, 1, bias=False), nn.ReLU()]
        for _ in range(5):
            ndim //= 2
            layers += [nn.ConvTranspose2d(ndim * 2, ndim, 4, 2, 1, bias=False), nn.GroupNorm(ndim // 4, ndim), nn.ReLU(),
                       nn.Conv2d(ndim, ndim, 3, 1, 1, bias=False), nn.GroupNorm(ndim // 4, ndim), nn.ReLU()]
        layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        self.network = nn.Sequential(*layers)
        self.inject = nn.Conv2d(inject_dim, ndim, 1, 1, 0, bias=False)
        head = [nn.Conv2d(ndim, ndim, 3, 1, 1, bias=False), nn.GroupNorm(ndim // 4, ndim), nn.ReLU(),
                nn.Conv2d(ndim, ndim, 5, 1, 2, bias=False), nn.GroupNorm(ndim // 4, ndim), nn.ReLU(),
                nn.Conv2d(ndim, out_dim, 5, 1, 2, bias=True)]  # bias=True whatever ``bias`` says, as in the original
        if activation is not None:
            head.append(activation())
        self.head = nn.Sequential(*head)

    def forward(self, style, feat):
        out = self.mlp(style) if self.n_mlp > 0 else style
        out = self.network(out.view(out.shape[0], out.shape[1], 1, 1)) + self.inject(feat)
        return self.head(out)


class TransformationNet(nn.Module):
    def __init__(self, in_dim, out_dim, z_dim=128, nf=8, n_mlp=0, activation=nn.Tanh):
        super().__init__()
        self.n_mlp = n_mlp
        if n_mlp > 0:
            self.mlp = _mapping(in_dim, z_dim, n_mlp)
        layers = [nn.ConvTranspose2d(z_dim, nf * 32, 4, 1, 0, bias=False), nn.ReLU()]
        cin, cout = nf * 32, nf * 16
        for _ in range(5):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.GroupNorm(cout // 4, cout), nn.ReLU()]
            cin, cout = cout, cout // 2
        layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                   nn.Conv2d(nf, nf, 3, 1, 1, bias=False), nn.GroupNorm(nf // 4, nf), nn.ReLU(),
                   nn.Conv2d(nf, out_dim, 5, 1, 2, bias=False)]
        if activation is not None:
            layers.append(activation())
        self.network = nn.Sequential(*layers)

    def forward(self, style):
        out = self.mlp(style) if self.n_mlp > 0 else style
        return self.network(out.view(out.shape[0], out.shape[1], 1, 1))


@dataclass
class OfficialModels:
    generator: nn.Module
    netD: nn.Module
    netT: nn.Module
    netSD: nn.Module
    netSC: nn.Module

    def nets(self) -> dict[str, nn.Module]:
        """The four LiftedGAN networks in the official order (``vars(self)`` order of ``initialize``)."""
        return {"netD": self.netD, "netT": self.netT, "netSD": self.netSD, "netSC": self.netSC}


def _randomise(generator: Generator, nets: list[nn.Module]) -> None:
    """Non-zero values for every term a zero initialisation would hide."""
    with torch.no_grad():
        for module in generator.modules():
            if isinstance(module, NoiseInjection):
                module.weight.uniform_(-0.2, 0.2)
            elif isinstance(module, (FusedLeakyReLU,)):
                module.bias.uniform_(-0.2, 0.2)
            elif isinstance(module, ToRGB):
                module.bias.uniform_(-0.2, 0.2)
            elif isinstance(module, ModulatedConv2d):
                module.modulation.bias.uniform_(0.8, 1.2)
        for layer in generator.style[1:]:  # stored bias times lr_mul 0.01 is what acts: +-0.2
            layer.bias.uniform_(-20.0, 20.0)
        for net in nets:
            for module in net.modules():
                if isinstance(module, (nn.GroupNorm, ScaleShift)):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
                elif isinstance(module, (nn.Linear, nn.Conv2d)) and module.bias is not None:
                    module.bias.uniform_(-0.1, 0.1)


def _calibrate(models: OfficialModels, style_dim: int) -> None:
    """Scale four output layers so that random weights give sensible, non-degenerate outputs:
    light in (-0.45, 0.45) (shading a + b*max(0, n_z) >= 0.27), the centred raw depth with a
    standard deviation of 0.6 (tanh not saturated; some pixels in front of the border depth, some
    behind) and the transformation map's logits centred at -5 (the last convolution has no bias; its
    weights may change sign), so that sigmoid(logits + 5) spans (0, 1); and the ToRGB layers so the
    image has a standard deviation of 0.5, as a trained generator's in [-1, 1] has."""
    with torch.no_grad():
        z = torch.randn(4, style_dim)
        w = models.generator.style(z)
        styles = 0.7 * w + 0.3 * w.mean(0, keepdim=True)
        light_mlp = models.netSD.model_light.mlp
        pre = light_mlp[:-1](styles)
        light_mlp[-2].weight.mul_(0.45 / pre.abs().max())
        light_mlp[-2].bias.mul_(0.45 / pre.abs().max())
        _, light, view = models.netSD(styles)
        neutral_light = torch.stack([light[:, 0], light[:, 1], light[:, 2] * 0, light[:, 3] * 0], 1)
        neutral_style = models.netSC(styles, neutral_light, 0 * view)
        image, feat = models.generator(neutral_style[:2], input_is_latent=True, randomize_noise=False, return_feat=True)
        for to_rgb in (models.generator.to_rgb1, *models.generator.to_rgbs):  # the image is linear in them: about [-1, 1], as trained
            to_rgb.conv.weight.mul_(0.5 / image.std())
            to_rgb.bias.mul_(0.5 / image.std())
        raw = models.netD(neutral_style[:2], feat)
        centred = raw - raw.mean([1, 2, 3], keepdim=True)
        models.netD.head[-1].weight.mul_(0.6 / centred.std())
        logits = models.netT(neutral_style[:2])  # sigmoid(logits + 5) should not be ~1 everywhere: centre the logits at -5
        scale = -5.0 / logits.mean()
        if abs(scale) * logits.std() > 8.0:
            scale = scale.sign() * 8.0 / logits.std()
        models.netT.network[-1].weight.mul_(scale)


# --------------------------------------------------------------------------------------------------
# Face-like weights (make_models(face=True)): random weights give a depth map that is rough at pixel
# scale, which a relief mesher cuts into nothing. These re-planted weights keep every tensor of the
# official formats but draw, for every style, a smooth face-shaped relief and a face-like picture.
# --------------------------------------------------------------------------------------------------

# channels of the planted StyleGAN2 (16 px up to 256 px): the depth dome's base, the picture's
# skin, hair, dark (eyes, brows, shading) and lips masks, the nose and the eye sockets
_BASE, _SKIN, _HAIR, _DARK, _LIPS, _NOSE, _SOCKETS = range(7)
_FACE_A, _FACE_B = 0.62, 0.76  # the face ellipse's half width and half height, in [-1, 1] image units
_BASE_REACH = 1.5  # the base dome is max(0, 1.5 - s) / 1.5, s = the squared elliptical radius
_KNOTS = (1.0, 0.9, 0.5)  # s where the depth profile bends (ReLU thresholds in netD's head), rim first
_RIM_DEPTH, _CENTRE_DEPTH, _PROFILE = 1.05, 0.93, 0.8  # background (for the smallest face), centre, and the dome (1 - s)^0.8
_SHIFT = 0.04  # the style moves the rim knot outward by up to 2 * _SHIFT base units (a face ~6% wider at most)
_NOSE_NEAR, _SOCKET_DEPTH = 0.12, 0.08  # in units of the dome's height
_SHADE_BAKE = 0.9  # how much of the frontal shading the picture's skin carries (the albedo de-lights it)
_BACKGROUND = (0.36, 0.40, 0.46)
_COLOURS = {_SKIN: (0.86, 0.66, 0.55), _HAIR: (0.28, 0.19, 0.13), _DARK: (0.16, 0.11, 0.10), _LIPS: (0.72, 0.30, 0.30)}
_COLOUR_SPREAD = {_SKIN: 0.08, _HAIR: 0.15, _DARK: 0.1, _LIPS: 0.1}  # relative change of each colour's weight over styles


def _face_coords(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """x (right), y (down) at the pixel centres of an n x n image in [-1, 1], and s, the squared
    elliptical radius of the face (1 on its outline); float64."""
    g = (torch.arange(n, dtype=torch.float64) + 0.5) / n * 2 - 1
    y, x = torch.meshgrid(g, g, indexing="ij")
    return x, y, (x / _FACE_A) ** 2 + (y / _FACE_B) ** 2


def _blob(x, y, cx, cy, sx, sy):
    return torch.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _nose(x, y):
    return _blob(x, y, 0.0, 0.08, 0.08, 0.18)


def _sockets(x, y):
    return _blob(x, y, -0.22, -0.07, 0.13, 0.11) + _blob(x, y, 0.22, -0.07, 0.13, 0.11)


def _face_raw_depth(n: int = 256) -> torch.Tensor:
    """[n,n] the centred raw depth netD should give (``tanh`` of it onto [0.9, 1.1] is the depth) but in
    the two border columns on each side: an elliptical dome, ``_CENTRE_DEPTH`` at its centre, with a
    nose and eye sockets, on a flat background at ``_RIM_DEPTH``. Its mean is positive: the border
    columns (which ``clamp_border`` sets to 1.05) make up the zero mean of ``raw - mean(raw)``."""
    x, y, s = _face_coords(n)
    inside = (s < 1).double()
    near = (1 - s).clamp(min=0) ** _PROFILE + inside * (_NOSE_NEAR * _nose(x, y) - _SOCKET_DEPTH * _sockets(x, y))
    background = math.atanh((_RIM_DEPTH - 1) / 0.1)
    return background - (background - math.atanh((_CENTRE_DEPTH - 1) / 0.1)) * near


def _face_patterns(n: int = 256, ambient: float = 0.56, diffuse: float = 0.65) -> torch.Tensor:
    """[7,n,n] what the planted StyleGAN2 carries (each >= 0 and zero at the border): the base dome
    and the picture's masks, the nose and the sockets. The skin darkens where the designed depth
    turns away from the camera, as a photograph's does under the frontal light the albedo is de-lit
    with (``ambient``, ``diffuse``: about the calibrated light's)."""
    x, y, s = _face_coords(n)
    depth = 1 + 0.1 * _face_raw_depth(n).tanh()
    n_z = _normal_from_depth(depth[None].float(), n, 10.0)[0, :, :, 2].double()
    shade = (ambient + diffuse * n_z) / (ambient + diffuse)
    face = ((1.1 ** 2 - s) / 0.25).clamp(0, 1)
    hair = ((-0.42 + 0.35 * x ** 2 - y) / 0.06).clamp(0, 1) * ((1.15 ** 2 - s) / 0.25).clamp(0, 1)
    skin = face * (1 - hair)
    eyes = _blob(x, y, -0.22, -0.06, 0.075, 0.045) + _blob(x, y, 0.22, -0.06, 0.075, 0.045)
    brows = _blob(x, y, -0.23, -0.21, 0.1, 0.03) + _blob(x, y, 0.23, -0.21, 0.1, 0.03)
    dark = (eyes + 0.6 * brows).clamp(max=1) * skin + _SHADE_BAKE * (1 - shade) * skin
    lips = _blob(x, y, 0.0, 0.42, 0.14, 0.045) * skin
    skin = (skin - dark - lips).clamp(min=0)
    inside = (s < 1).double()
    base = (_BASE_REACH - s).clamp(min=0) / _BASE_REACH
    return torch.stack([base, skin, hair, dark, lips, _nose(x, y) * inside, _sockets(x, y) * inside])


def _blur_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """[n_out,n_in] the 1-D map of ``ModulatedConv2d``'s blur after its stride-2 transposed
    convolution: ``y[i] = sum_t k[t] z[i + t - 1]``, k = [1, 3, 3, 1] / 4 (the 2-D FIR times 4, per axis)."""
    k = torch.tensor(BLUR_FIR, dtype=torch.float64) / 4
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        for t in range(4):
            if 0 <= i + t - 1 < n_in:
                m[i, i + t - 1] = k[t]
    return m


def _deblur(y: torch.Tensor, m: torch.Tensor, lam: float) -> torch.Tensor:
    """Z with ``m Z m^T ~= y``, Tikhonov-regularised (``lam``) through the SVD of ``m``."""
    u, s, vh = torch.linalg.svd(m, full_matrices=False)
    ss = s[:, None] * s[None, :]
    return vh.T @ ((u.T @ y @ u) * ss / (ss ** 2 + lam)) @ vh


def _plant_generator(g: Generator, targets: torch.Tensor) -> None:
    """Make ``g`` draw ``targets`` ([K,16,16], each >= 0) exactly at 16 px in its first K channels and carry
    them, each times a gain, to 256 px (every later layer an identity: centre taps, which the
    upsampling layers' blur turns into linear interpolation). No noise, no biases, every modulation 1;
    every ToRGB zero.

    Spatial detail comes from the 4x4 constant: its channel 4i+j is one at (i, j), so the 8-px
    transposed convolution's 3x3 kernels stamp an arbitrary 9x9 grid per output channel, which the
    blur maps onto 8x8 (solved for exactly). At 16 px the four phases of each target's pre-blur grid
    are four 8-px channels read through four different taps; they are kept >= 0 (the leaky ReLUs must
    stay linear) by an offset that a 29th channel of ones takes back."""
    ch, k_n = g.channels, targets.shape[0]
    ones = 4 * k_n
    if ch[4] < 16 or ch[8] < ones + 1 or min(ch[r] for r in (16, 32, 64, 128, 256)) < k_n:
        raise ValueError(f"face=True needs at least 16 channels at 4 px, {ones + 1} at 8 px and {k_n} above; got {ch}")
    for module in g.modules():
        if isinstance(module, NoiseInjection):
            module.weight.zero_()
        elif isinstance(module, FusedLeakyReLU):
            module.bias.zero_()
        elif isinstance(module, ModulatedConv2d):
            module.weight.zero_()
            module.modulation.weight.zero_()
            module.modulation.bias.fill_(1.0)
        elif isinstance(module, ToRGB):
            module.bias.zero_()

    def identity(layer: StyledConv, n: int, tap: tuple[int, int] = (1, 1)) -> None:
        for c in range(n):
            layer.conv.weight[0, c, c, tap[0], tap[1]] = 1.0

    g.input.input.zero_()
    for i, j in itertools.product(range(4), range(4)):
        g.input.input[0, 4 * i + j, i, j] = 1.0
    identity(g.conv1, 16)
    # 16 px: target k's pre-blur grid (its last row and column zero); phase (a, b) of it is 8-px channel 4k + 2a + b
    z16 = torch.stack([_deblur(t, _blur_matrix(16, 17)[:, :16], 1e-5) for t in targets.double()])
    phases = [(a, b) for a in (0, 1) for b in (0, 1)]
    y8, offsets = [], []
    for k, (a, b) in itertools.product(range(k_n), phases):
        phase = z16[k, a::2, b::2]
        offsets.append(max(0.0, -phase.min().item()) + 0.05 * (phase.abs().max().item() + 1e-3))
        y8.append(phase + offsets[-1])
    y8.append(torch.ones(8, 8, dtype=torch.float64))
    # 8 px: each channel's 9x9 pre-blur grid, one 3x3 stamp per 4-px impulse; demodulation divides it by its norm
    w8, norms = g.convs[0].conv.weight, []
    for o, target in enumerate(y8):
        z8 = _deblur(target, _blur_matrix(8, 9), 1e-7)
        for r, c in itertools.product(range(9), range(9)):
            i, j = min(r // 2, 3), min(c // 2, 3)
            w8[0, o, 4 * i + j, r - 2 * i, c - 2 * j] = z8[r, c]
        norms.append(w8[0, o].double().norm().item())
    identity(g.convs[1], ones + 1)
    w16 = g.convs[2].conv.weight
    for k, (p, (a, b)) in itertools.product(range(k_n), enumerate(phases)):
        w16[0, k, 4 * k + p, a, b] = norms[4 * k + p]
        w16[0, k, ones, a, b] = -offsets[4 * k + p] * norms[ones]
    for layer in g.convs[3:]:
        identity(layer, k_n)


def _upsampled(patterns: torch.Tensor, factor: int) -> torch.Tensor:
    """[K,n,n] to [K,n factor,n factor] as the planted generator's identity stages carry them."""
    x, up = patterns.float()[None], Upsample()
    for _ in range(int(math.log2(factor))):
        x = up(x)
    return x[0]


def _neutral_styles(models: OfficialModels, z: torch.Tensor) -> torch.Tensor:
    """The canonical faces' styles of ``z`` (truncated 0.7 towards their mean), as ``LiftedGAN.estimate`` makes them."""
    w = models.generator.style(z)
    styles = 0.7 * w + 0.3 * w.mean(0, keepdim=True)
    _, light, view = models.netSD(styles)
    neutral_light = torch.stack([light[:, 0], light[:, 1], light[:, 2] * 0, light[:, 3] * 0], 1)
    return models.netSC(styles, neutral_light, 0 * view)


def _plant_constant_path(netD: DepthNet, styles: torch.Tensor) -> None:
    """``netD.network`` maps the style to spatially constant maps: the MLP's last layer gives four
    standardised projections of its input (about 5 +- 1 over ``styles``), which pass every layer
    unchanged (identity centre taps, nearest-neighbour transposed convolutions), each GroupNorm
    normalising them across the four channels. The last keeps channel 0 (the rim knot's shift) in
    [_SHIFT, 3 _SHIFT] for every style (normalised values lie in [-sqrt(3), sqrt(3)]), channels 1 and
    2 at _SHIFT, and the rest at zero."""
    last_linear = netD.mlp[-2]
    hidden = netD.mlp[:-2](styles)
    last_linear.weight.zero_()
    last_linear.bias.zero_()
    for c in range(4):
        direction = torch.randn(hidden.shape[1])
        p = hidden @ direction
        last_linear.weight[c] = direction / p.std()
        last_linear.bias[c] = 5.0 - p.mean() / p.std()
    for layer in netD.network:
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            layer.weight.zero_()
            for c in range(4):
                if isinstance(layer, nn.Conv2d):
                    layer.weight[c, c, 1, 1] = 1.0
                elif layer.stride == (2, 2):
                    layer.weight[c, c, 1:3, 1:3] = 1.0
                else:
                    layer.weight[c, c] = 1.0
        elif isinstance(layer, nn.GroupNorm):
            layer.weight.zero_()
            layer.bias.zero_()
            layer.weight[:4] = 1.0
            layer.bias[:4] = 3.0
    last = [m for m in netD.network if isinstance(m, nn.GroupNorm)][-1]
    last.weight.zero_()
    last.bias.zero_()
    last.weight[0] = _SHIFT / math.sqrt(3)
    last.bias[0] = 2 * _SHIFT
    last.bias[1:3] = _SHIFT


def _plant_face(models: OfficialModels, style_dim: int) -> None:
    """Re-plant the StyleGAN2 and netD (netT, netSD, netSC keep their calibrated random weights).

    The StyleGAN2 draws ``_face_patterns`` (sampled at 16 px, carried smoothly to 256 px) in seven
    channels of its last features; its last ToRGB paints background + sum (colour - background) *
    mask, each mask's weight modulated a little by the style (skin tone, hair and lip colour vary).
    netD reads the base dome and nose - sockets through ``inject``; its head, linear but for the ReLUs
    right after the first GroupNorm, bends the base dome at ``_KNOTS`` (the rim knot, shifted
    outward by the style through ``netD.network``, sets the face's outline: a smooth curve at 256 px
    with the depth continuous across it) and its last convolution is fitted by least squares to
    ``_face_raw_depth``.

    ``raw - mean(raw)`` puts the background as far behind the mean as the face is in front of it, so a
    face a third of the image that is not flattened against 0.9 would leave the background in front
    of the border depth. The last convolution reads the fourth channel as the mean of its values two
    columns to the left and right: inside the image that is a slight blur, but the two border columns
    on each side (which ``clamp_border`` overwrites) lose half of the channel's large constant there,
    and their raw depth, very near, lowers the mean to what puts the background at ``_RIM_DEPTH``."""
    g, netD = models.generator, models.netD
    styles = _neutral_styles(models, torch.randn(8, style_dim))
    targets = F.avg_pool2d(_face_patterns(256)[None], 16)[0]
    _plant_generator(g, targets)
    _, feat = g(styles[:1], input_is_latent=True, randomize_noise=False, return_feat=True)
    carried = _upsampled(targets, 16)
    gains = [((feat[0, k] * carried[k]).sum() / carried[k].square().sum()).item() for k in range(targets.shape[0])]

    to_rgb = g.to_rgbs[-1]
    background = torch.tensor(_BACKGROUND)
    modulation = to_rgb.conv.modulation
    for k, colour in _COLOURS.items():
        to_rgb.conv.weight[0, :, k, 0, 0] = 2 * (torch.tensor(colour) - background) / (gains[k] * to_rgb.conv.scale)
        direction = torch.randn(style_dim)
        p = styles @ direction * modulation.scale
        modulation.weight[k] = direction * _COLOUR_SPREAD[k] / p.std()
        modulation.bias[k] = 1.0 - (p * _COLOUR_SPREAD[k] / p.std()).mean()
    to_rgb.bias.copy_((2 * background - 1).view(1, 3, 1, 1))

    head, n = netD.head, 4  # the first GroupNorm group of the head does everything; any others stay zero
    netD.inject.weight.zero_()
    netD.inject.weight[:3, _BASE] = 1.0 / gains[_BASE]
    netD.inject.weight[3, _NOSE] = -1.0 / gains[_NOSE]  # sockets - nose: the last convolution's weight for it comes out > 0
    netD.inject.weight[3, _SOCKETS] = 1.0 / gains[_SOCKETS]
    _plant_constant_path(netD, styles)
    for conv in (head[0], head[3]):  # binomial blurs; the base channels are zero near the border, or cut there
        conv.weight.zero_()
        size = conv.weight.shape[-1]
        taps = torch.tensor([math.comb(size - 1, i) for i in range(size)], dtype=torch.float32)
        taps = taps[:, None] * taps[None, :] / taps.sum() ** 2
        for o in range(n):
            if o < 3 or conv is head[0]:
                conv.weight[o, o] = taps
            else:
                conv.weight[o, o, size // 2, size // 2] = 1.0
    smallest = torch.tensor([_SHIFT, _SHIFT, _SHIFT, 0.0]).view(1, n, 1, 1)  # the constant path's least output
    x = head[0](F.pad(smallest, (0, 0, 0, 0, 0, head[0].weight.shape[0] - n)) + netD.inject(feat[:1]))
    mu, sigma = x[:, :n].mean().item(), math.sqrt(x[:, :n].var(unbiased=False).item() + head[1].eps)
    for norm in (head[1], head[4]):
        norm.weight.zero_()
        norm.bias.zero_()
        norm.weight[:n] = 1.0
    for i, s in enumerate(_KNOTS):  # the knot channels' ReLUs: zero below (_BASE_REACH - s) / _BASE_REACH
        head[1].bias[i] = (mu - (_BASE_REACH - s) / _BASE_REACH - _SHIFT) / sigma
    # every other ReLU passes everything (what it sees is >= 1; small, so that float error stays small)
    head[1].bias[3] = 1.0 - head[1](x)[0, 3].min()
    head[4].bias[:n] = 1.0 - head[:5](x)[0, :n].amin(dim=(1, 2))
    h = head[:6](x)[0, :n, :, 2:-2].reshape(n, -1).double()  # fitted on the columns clamp_border keeps
    target = _face_raw_depth(256)[:, 2:-2].reshape(-1, 1)
    fit = torch.linalg.lstsq(torch.cat([h, torch.ones(1, h.shape[1], dtype=h.dtype)]).T, target).solution[:, 0]
    assert fit[3] > 0, "the border columns would come out far, not near"
    head[6].weight.zero_()
    head[6].weight[0, :n, 2, 2] = fit[:n].float()
    head[6].weight[0, 3, 2, 2] = 0.0
    head[6].weight[0, 3, 2, 0] = head[6].weight[0, 3, 2, 4] = float(fit[3]) / 2
    head[6].bias.fill_(float(fit[n]))

    def background_raw(bias: float) -> float:  # raw - mean(raw) at the background for the smallest face
        head[4].bias[3] = bias
        raw = head(x)[0, 0]
        return (raw[0, 2] - raw.mean()).item()

    start = head[4].bias[3].item()
    low, high = background_raw(start), background_raw(start + 1.0)
    head[4].bias[3] = start + (math.atanh((_RIM_DEPTH - 1) / 0.1) - low) / (high - low)
    head[6].bias.sub_(head(x)[0, 0, 0, 2] - math.atanh((_RIM_DEPTH - 1) / 0.1))  # raw itself about 0 (only raw - mean matters)


def make_models(seed: int = 0, style_dim: int = 32, channels: dict = TEST_CHANNELS, n_mlp: int = 8,
                depth_nf: int = 4, trans_nf: int = 4, trans_z_dim: int = 8, *, mlp_dim: int = 512, face: bool = False) -> OfficialModels:
    """Random-weight networks as ``LiftedGAN.initialize`` builds them, at narrow widths (the release:
    style_dim 512, ``RELEASE_CHANNELS``, depth nf 16, transformation nf 16 and z_dim 16). The caller's
    RNG state is left untouched.

    ``mlp_dim`` is the hidden width of the seven MLPs in netSD and netSC. The official ``networks.MLP``
    takes it as ``dim=512`` and neither StyleDecomposeNet nor StyleComposeNet passes it, so every
    official checkpoint has 512 there whatever the style width; at 512 those MLPs hold ~4.5M of the
    checkpoint's parameters (~54 MB with the Adam state). A smaller value makes a smaller file that
    the official code itself could not load.

    ``face``: after the calibration, re-plant the StyleGAN2 and netD (``_plant_face``) so that every
    style gives a smooth, face-shaped relief (an elliptical dome 76% of the image high and 62% wide,
    nearest at its centre, about 0.92, with a nose and eye sockets, on a background at 1.050-1.058;
    the two border columns on each side come out very near, for ``clamp_border`` to overwrite) and a
    face-like canonical picture; netT, netSD and netSC keep their calibrated random weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = Generator(256, style_dim, n_mlp, channels=channels)
        netD = DepthNet(in_dim=style_dim, out_dim=1, inject_dim=channels[256], z_dim=style_dim, nf=depth_nf, n_mlp=4, activation=None, bias=True)
        netT = TransformationNet(in_dim=style_dim, out_dim=1, z_dim=trans_z_dim, n_mlp=4, nf=trans_nf, activation=None)
        netSD = StyleDecomposeNet(style_dim, n_layer=4, dim=mlp_dim)
        netSC = StyleComposeNet(style_dim, n_layer=4, dim=mlp_dim)
        _randomise(generator, [netD, netT, netSD, netSC])
        models = OfficialModels(generator.eval(), netD.eval(), netT.eval(), netSD.eval(), netSC.eval())
        for p in generator.parameters():
            p.requires_grad_(False)
        _calibrate(models, style_dim)
        if face:
            with torch.no_grad():
                _plant_face(models, style_dim)
    return models


# --------------------------------------------------------------------------------------------------
# Release files.
# --------------------------------------------------------------------------------------------------

# config/ffhq_256.py of the official repository, verbatim but for ``generator_path`` (a format slot:
# ``CONFIG_TEXT.format(generator_path=...)``; the dict braces are doubled) and ``face_embedding_path``.
CONFIG_TEXT = """''' Config Proto '''

####### INPUT OUTPUT #######

# The name of the project folder
name = 'default'

# The folder to save log and model
log_base_dir = './log_ffhq_256/'

# The interval between display in terminal
print_interval = 10

# The interval between writing summary
summary_interval = 500

# Number of samples to generate for validation
n_samples = 32

# The path to the pretrained StyleGAN2 checkpoint
generator_path = '{generator_path}'

# The path to the pretrained face recognition embedding
face_embedding_path = None

# The resolution of generator
image_size = 256

# Number of workers for data loading
num_workers = 4

# Base random seed for data fetching
base_random_seed = 1



####### TRAINING STRATEGY #######

# Number of samples in a batch
batch_size = 8

# Number of epochs
num_epochs = 10

# Number of steps per epoch
epoch_size = 5000

# learning rate
learning_rate = 1e-4

# The path to the checkpoint
restore_model = None


## Model and Loss
truncation = 0.7
min_depth = 0.9
max_depth = 1.1
border_depth = 1.05
xyz_rotation_range = 60  # (-r,r) in degrees
xy_translation_range = 0.1  # (-t,t) in 3D
z_translation_range = 0.01  # (-t,t) in 3D
n_scale = 3
vgg_indices = [1,2,3]
use_flip = True
lam_rec = 5.0
lam_perc = 1.0
lam_flip = 0.8
lam_perturb_im = 2.0
lam_perturb_param = 4.0
lam_identity_perturb = 1.0
lam_reg_style = 0.5
lam_albedo_rank = 1e-2
rank_downsample = 4
perc_type = 'cosine'
clip_render_grad = True
clamp_border = True
generator_texture = True

renderer_params = {{
    'device': 'cuda',
    'image_size': 256,
    'rot_center_depth': 1.00,
    'fov': 10, # in degrees
    'tex_cube_size': 2,
    'min_depth': min_depth,
    'max_depth': max_depth,
    'min_rho': 0.5,
    'max_rho': 1.0,
    'min_phi': -90,
    'max_phi': 90,
    'scale_x': 0.18,
    'scale_y': 0.12,
    'scale_z': 0.12,
    'scale_xy': 1.0,
    'border_depth': border_depth,
}}

blur_params = {{
    'size': 10,
    'sigma': 4
}}
"""


def _save(obj, path: Path, legacy: bool, cuda_tags: bool) -> None:
    if cuda_tags:  # storages tagged as the authors' GPU ones are
        with mock.patch.object(torch.serialization, "location_tag", lambda storage: "cuda:0"):
            torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)


def _liftedgan_optimizer_state(models: OfficialModels) -> dict:
    """``LiftedGAN.optimizer`` (Adam over netD, netT, netSD, netSC, lr 1e-4, weight decay 5e-4)
    after one step on copies of the networks."""
    nets = {name: copy.deepcopy(net).train() for name, net in models.nets().items()}
    params = list(itertools.chain.from_iterable(net.parameters() for net in nets.values()))
    optimizer = torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.999), weight_decay=5e-4)
    style_dim = models.generator.style_dim
    styles = torch.randn(1, style_dim)
    neutral, light, view = nets["netSD"](styles)
    composed = nets["netSC"](neutral, light, view)
    feat = torch.randn(1, models.generator.channels[256], 256, 256)
    loss = nets["netD"](composed, feat).square().mean() + nets["netT"](composed).square().mean() + light.square().mean() + view.square().mean()
    loss.backward()
    optimizer.step()
    return optimizer.state_dict()


def _discriminator_state(c: int = 4) -> dict[str, torch.Tensor]:
    """A handful of tensors named as rosinality's ``Discriminator`` names them (the keys LiftedGAN never reads)."""
    shapes = {"convs.0.0.weight": (c, 3, 1, 1), "convs.0.1.bias": (c,),
              "convs.1.conv1.0.weight": (c, c, 3, 3), "convs.1.conv1.1.bias": (c,),
              "convs.1.conv2.1.weight": (c, c, 3, 3), "convs.1.conv2.2.bias": (c,),
              "convs.1.skip.1.weight": (c, c, 1, 1),
              "final_conv.0.weight": (c, c + 1, 3, 3), "final_conv.1.bias": (c,),
              "final_linear.0.weight": (c, c * 16), "final_linear.0.bias": (c,),
              "final_linear.1.weight": (1, c), "final_linear.1.bias": (1,)}
    state = {name: torch.randn(shape) for name, shape in shapes.items()}
    state["convs.1.conv2.0.kernel"] = fir_kernel()
    state["convs.1.skip.0.kernel"] = fir_kernel()
    return state


def _adam_state(tensors: list[torch.Tensor], lr: float, betas: tuple[float, float]) -> dict:
    params = [nn.Parameter(t.detach().clone()) for t in tensors]
    optimizer = torch.optim.Adam(params, lr=lr, betas=betas)
    sum(p.square().sum() for p in params).backward()
    optimizer.step()
    return optimizer.state_dict()


def _stylegan2_checkpoint(generator: Generator) -> dict:
    """What rosinality's ``train.py`` saves every 10000 iterations (``g`` a slightly different copy of ``g_ema``)."""
    g = copy.deepcopy(generator)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.01 * torch.randn_like(p))
    d = _discriminator_state()
    g_ratio, d_ratio = 4 / 5, 16 / 17
    args = argparse.Namespace(
        path="/data/ffhq_cropped_lmdb", subfix="", iter=300000, batch=16, n_sample=64, size=generator.size, r1=10.0,
        path_regularize=2.0, path_batch_shrink=2, d_reg_every=16, g_reg_every=4, mixing=0.9, ckpt=None, lr=0.002,
        channel_multiplier=2, wandb=False, local_rank=0, augment=False, augment_p=0.0, ada_target=0.6, ada_length=500000,
        distributed=False, latent=generator.style_dim, n_mlp=generator.n_mlp, start_iter=0)
    return {"g": g.state_dict(), "d": d, "g_ema": generator.state_dict(),
            "g_optim": _adam_state(list(g.parameters()), 0.002 * g_ratio, (0 ** g_ratio, 0.99 ** g_ratio)),
            "d_optim": _adam_state([t for k, t in d.items() if not k.endswith("kernel")], 0.002 * d_ratio, (0 ** d_ratio, 0.99 ** d_ratio)),
            "args": args, "ada_aug_p": 0.0}


def save_release(folder: Path, models: OfficialModels, *, legacy: bool = True, cuda_tags: bool = True,
                 stylegan_relpath: str = "stylegan2-ffhq-cropped-300000.pt",
                 config_text: str | None = None, epoch: int = 10) -> dict[str, Path]:
    """Write a LiftedGAN release into ``folder``: ``checkpoint_{epoch:03}.pth``, ``config.py`` (``CONFIG_TEXT``
    with ``generator_path = './' + stylegan_relpath``, or ``config_text`` verbatim) and the StyleGAN2
    checkpoint at ``folder / stylegan_relpath``. ``legacy``: torch's pre-1.6 format; ``cuda_tags``:
    storages tagged ``cuda:0``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        checkpoint = {name: net.state_dict() for name, net in models.nets().items()}
        checkpoint.update(optimizer=_liftedgan_optimizer_state(models), global_step=50000, epoch=epoch)
        stylegan = _stylegan2_checkpoint(models.generator)
    paths = {"checkpoint": folder / f"checkpoint_{epoch:03}.pth", "config": folder / "config.py", "stylegan2": folder / stylegan_relpath}
    _save(checkpoint, paths["checkpoint"], legacy, cuda_tags)
    paths["stylegan2"].parent.mkdir(parents=True, exist_ok=True)
    _save(stylegan, paths["stylegan2"], legacy, cuda_tags)
    text = config_text if config_text is not None else CONFIG_TEXT.format(generator_path="./" + stylegan_relpath)
    paths["config"].write_text(text)
    return paths


# --------------------------------------------------------------------------------------------------
# Reference inference: LiftedGAN.estimate (models/lifted_gan.py).
# --------------------------------------------------------------------------------------------------

DEFAULT_CONFIG = {"min_depth": 0.9, "max_depth": 1.1, "border_depth": 1.05, "clamp_border": True, "generator_texture": True,
                  "image_size": 256, "blur_params": {"size": 10, "sigma": 4}, "renderer_params": {"image_size": 256, "fov": 10}}


@torch.no_grad()
def official_styles(models: OfficialModels, z: torch.Tensor, truncation: float, w_mu: torch.Tensor) -> torch.Tensor:
    """``LiftedGAN.test``: the mapped style, truncated towards ``w_mu`` (the mean of ``generator.style`` over
    random codes) as ``truncation * s + (1 - truncation) * w_mu``."""
    s = models.generator.style(z)
    return truncation * s + (1 - truncation) * w_mu


def _gaussian_blur(x: torch.Tensor, size: int, sigma: float = 2.0) -> torch.Tensor:
    """``networks.Blur``: a (2 size + 1)^2 kernel, the product of exp(-((i - size) / (2 sigma))^2) along
    both axes (2 sigma, not sqrt(2) sigma), normalised to sum 1, reflect padding, per channel."""
    n = 2 * size + 1
    i = torch.arange(n, dtype=torch.float32)
    g = 1 / (sigma * math.sqrt(2 * math.pi)) * torch.exp(-(((i - (n - 1) / 2) / (2 * sigma)) ** 2))
    kernel = g[:, None] * g[None, :]
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    x = F.pad(x, (size, size, size, size), mode="reflect")
    return F.conv2d(x, kernel.expand(c, 1, n, n).contiguous(), groups=c)


def _normal_from_depth(depth: torch.Tensor, image_size: int, fov: float) -> torch.Tensor:
    """``Renderer.get_normal_from_depth``: back-project every pixel (x = column, y = row) with K^-1 times the
    depth, sum the cross products of the four neighbour pairs, replicate-pad the 1-pixel border, normalise."""
    b, h, w = depth.shape
    f = (image_size - 1) / 2 / math.tan(fov / 2 * math.pi / 180)
    c = (image_size - 1) / 2
    inv_k = torch.inverse(torch.tensor([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]], dtype=torch.float32))
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pix = torch.stack([cols, rows, torch.ones_like(rows)], -1).float()
    pts = (pix @ inv_k.T)[None] * depth[..., None]
    centre = pts[:, 1:-1, 1:-1]
    row_before, row_after = pts[:, :-2, 1:-1] - centre, pts[:, 2:, 1:-1] - centre  # the official "left", "right"
    col_before, col_after = pts[:, 1:-1, :-2] - centre, pts[:, 1:-1, 2:] - centre  # the official "up", "down"
    normal = (torch.cross(col_before, row_before, dim=3) + torch.cross(row_before, col_after, dim=3)
              + torch.cross(col_after, row_after, dim=3) + torch.cross(row_after, col_before, dim=3))
    normal = F.pad(normal.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="replicate").permute(0, 2, 3, 1)
    return normal / (normal.pow(2).sum(3, keepdim=True).sqrt() + 1e-7)


@torch.no_grad()
def official_estimate(models: OfficialModels, styles: torch.Tensor, config: dict | None = None) -> dict[str, torch.Tensor]:
    """``LiftedGAN.estimate(styles)`` (config: ``DEFAULT_CONFIG`` updated with ``config``), plus the normal and
    the frontal-light shading it de-lights with. All outputs on the CPU:

    ``neutral_style`` [B,D] (netSC's), ``light`` [B,4], ``view`` [B,6] (raw tanh output), ``canon_im_raw``
    [B,3,S,S], ``depth`` [B,S,S], ``trans_map`` [B,1,S,S], ``albedo`` [B,3,S,S] (de-lit when
    ``generator_texture``, else the raw image), ``normal`` [B,S,S,3], ``shading`` [B,1,S,S] and
    ``depth_mask`` [B,1,S,S] (``depth <= border_depth - 0.01``: a hard threshold, so a pixel whose
    depth lies within float error of it can flip between implementations and move ``trans_map`` by
    far more than 1e-4 after the blur; compare the masks first, or check the margin).
    """
    cfg = {**DEFAULT_CONFIG, **(config or {})}
    renderer = cfg["renderer_params"]
    blur = cfg["blur_params"]
    lo, hi, border = cfg["min_depth"], cfg["max_depth"], cfg["border_depth"]
    styles = styles.float().cpu()
    b = styles.shape[0]

    _, light, view = models.netSD(styles)
    neutral_light = torch.stack([light[:, 0], light[:, 1], light[:, 2] * 0.0, light[:, 3] * 0.0], 1)
    neutral_style = models.netSC(styles, neutral_light, 0 * view)

    image, feat = models.generator(neutral_style, input_is_latent=True, randomize_noise=False, return_feat=True)

    raw = models.netD(neutral_style, feat).squeeze(1)
    d = (raw - raw.view(b, -1).mean(1).view(b, 1, 1)).tanh()
    depth = (1 + d) / 2 * hi + (1 - d) / 2 * lo
    if cfg["clamp_border"]:
        _, h, w = depth.shape
        edge = F.pad(torch.zeros(1, h, w - 4), (2, 2), value=1.0)
        depth = depth * (1 - edge) + edge * border

    trans = torch.sigmoid(models.netT(neutral_style) + 5)
    inside = (depth[:, None] <= border - 0.01).float()
    trans = inside * torch.ones_like(trans) + (1 - inside) * trans
    trans = _gaussian_blur(trans, blur["size"], blur.get("sigma", 2.0))
    trans = F.pad(trans[:, :, 1:-1, 2:-2], (2, 2, 1, 1), value=0.0)

    normal = _normal_from_depth(depth, renderer.get("image_size", 64), renderer.get("fov", 10))
    a = light[:, :1] / 2 + 0.5
    diffuse_b = light[:, 1:2] / 2 + 0.5
    direction = torch.cat([torch.zeros(b, 2), torch.ones(b, 1)], 1)  # the frontalised light direction
    direction = direction / direction.pow(2).sum(1, keepdim=True).sqrt()
    shading = a.view(-1, 1, 1, 1) + diffuse_b.view(-1, 1, 1, 1) * (normal * direction.view(-1, 1, 1, 3)).sum(3).clamp(min=0).unsqueeze(1)
    albedo = (image / 2 + 0.5) / (shading + 1e-8) * 2 - 1 if cfg["generator_texture"] else image

    return {"neutral_style": neutral_style, "light": light, "view": view, "canon_im_raw": image, "depth": depth,
            "trans_map": trans, "albedo": albedo, "normal": normal, "shading": shading, "depth_mask": inside}


def trans_map_safe(depth: torch.Tensor, border_depth: float = 1.05, eps: float = 1e-5, blur_size: int = 10) -> torch.Tensor:
    """Where a ``trans_map`` comparison is immune to the hard depth threshold: ``[B,1,S,S]`` bool, False within
    the blur's reach (``blur_size`` pixels) of any pixel whose ``depth`` lies within ``eps`` of
    ``border_depth - 0.01``. One such pixel flipping moves up to (2 blur_size + 1)^2 values of the map by up
    to ~0.006 (the blur's centre weight); float error of order 1e-7 in the depth suffices, and with
    131072 pixels per 256^2 map some depth usually lies that close to the threshold."""
    near = ((depth - (border_depth - 0.01)).abs() <= eps).float()[:, None]
    return F.max_pool2d(near, 2 * blur_size + 1, stride=1, padding=blur_size) == 0
