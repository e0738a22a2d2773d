"""CIPS-3D in its official on-disk format, and a slow, literal reference of its inference, without its code.

Two jobs:

1. **``G_ema.pth`` files in the official format.** The stand-in modules below carry the official class
   names, constructor signatures and attribute names of ``exp/cips3d/models/generator.py``
   (``GeneratorNerfINR``, ``NeRFNetwork``, ``SinBlock``, ``ToRGB``, ``CIPSNet``),
   ``exp/comm/models/film_layer.py`` (``FiLMLayer``, ``LinearScale``), ``exp/comm/models/nerf_network.py``
   (``UniformBoxWarp``), ``exp/comm/models/mod_conv_fc.py`` (``SinStyleMod``, ``SinAct``) and
   ``exp/cips3d/models/multi_head_mapping.py`` (``MultiHeadMappingNetwork``, ``PixelNorm``), including the
   parameterless children, so ``state_dict()`` has the official keys in the official order (and the same
   ``_metadata`` prefixes). Training saves with tl2 ``torch_utils.save_models``, which does
   ``torch.save(model.state_dict(), f"{save_dir}/{name}.pth")`` (plus ``{name}_model.pth``, a whole-module
   pickle, for every ``nn.Module``; read from the tl2 0.1.0/0.1.2 wheels). ``G_ema`` lives on the training GPU
   (``build_model(...).to(torch.device(rank))`` then ``copy.deepcopy``), so the released files' storages are
   tagged ``cuda:0``: :func:`save_g_ema` writes that tag by default (loading then needs ``map_location``
   where there is no GPU, as for the real files); ``device_tag=None`` writes ordinary CPU tensors.
   No buffers exist anywhere in the generator (``UniformBoxWarp``, ``LinearScale``, ``PixelNorm``,
   ``SinAct``, ``SkipLayer``, the ``nn.Identity`` heads and ``filters`` hold nothing).

2. **A reference implementation** (tests treat it as "the official code"): ``forward`` methods and the
   functions :func:`query`, :func:`features_to_rgb`, :func:`render_image` follow the official algorithms
   step by step (``GeneratorNerfINR.forward`` -> ``whole_grad_forward`` -> ``points_forward``,
   ``exp/comm/comm_utils.py`` for rays and cameras, ``exp/pigan/pigan_utils.py`` for ``fancy_integration``
   and ``sample_pdf``, ``exp/dev/nerf_inr/models/generator_nerf_inr.py`` for ``get_fine_points_and_direction``,
   ``generate_avg_frequencies`` and ``get_truncated_freq_phase``), drawing random numbers from torch's
   global RNG in the official order.

Widths: the official constructors read every width from the config (``exp/cips3d/configs/ffhq_exp.yaml``,
:data:`OFFICIAL_CFG`) except these, which are hard-coded: the colour FiLM layer's width ``hidden_dim // 2``,
``final_layer``'s single output, ``UniformBoxWarp(0.24)``, the nine INR blocks ``'4' ... '1024'`` (skip from
block index 4 on, ``to_rgbs`` summed from index 3 on), LeakyReLU slopes 0.2, ``aux_to_rbg``'s 3 outputs and
the INR input width (forced to ``nerf_cfg.rgb_dim``). With ``head_layers: 0`` the heads are identities, so
the mapping width must equal the style width it feeds (128 for the NeRF, 512 for the INR); :func:`config`
therefore has one knob for both.

Weights (:func:`_liven`) are random but shaped so renders look like a head: see its docstring.
"""

from __future__ import annotations

import contextlib
import math
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

INR_BLOCKS = ("4", "8", "16", "32", "64", "128", "256", "512", "1024")

#: ``G_cfg_3D2D`` of ``exp/cips3d/configs/ffhq_exp.yaml`` (the same widths as ``configs/web_demo.yaml``).
OFFICIAL_CFG = {
    "z_dim": 256,
    "nerf_cfg": {"in_dim": 3, "hidden_dim": 128, "hidden_layers": 2, "rgb_dim": 32, "style_dim": 128},
    "mapping_nerf_cfg": {"z_dim": 256, "hidden_dim": 128, "base_layers": 4, "head_layers": 0},
    "inr_cfg": {"input_dim": 32, "style_dim": 512, "hidden_dim": 512, "pre_rgb_dim": 3},
    "mapping_inr_cfg": {"z_dim": 512, "hidden_dim": 512, "base_layers": 8, "head_layers": 0, "add_norm": True, "norm_out": True},
}

#: ``G_kwargs`` of ``ffhq_exp.yaml``; ``GeneratorNerfINR.forward`` defaults add ``h_mean = v_mean = pi/2``,
#: ``clamp_mode='relu'``, ``nerf_noise=0``, ``white_back=False``, ``last_back=False``. The web demo renders
#: with ``num_steps 24`` and its ``last_back`` checkbox defaults to True.
G_KWARGS = {"fov": 12, "ray_start": 0.88, "ray_end": 1.12, "num_steps": 12, "h_stddev": 0.3, "v_stddev": 0.155,
            "hierarchical_sample": True, "psi": 1.0, "sample_dist": "gaussian"}

#: Narrow INR widths for cheap tests (the NeRF half is small already at official widths).
SMALL = {"inr_hidden_dim": 32, "inr_style_dim": 32, "inr_z_dim": 32}


# --------------------------------------------------------------------------------------------
# Stand-in modules: official names, attributes and forward passes.


class LinearScale(nn.Module):
    """``film_layer.LinearScale``: ``x * scale + bias`` (no parameters)."""

    def __init__(self, scale, bias):
        super().__init__()
        self.scale_v = scale
        self.bias_v = bias

    def forward(self, x):
        return x * self.scale_v + self.bias_v


class FiLMLayer(nn.Module):
    """``film_layer.FiLMLayer``: ``sin((gain_fc(style) * 15 + 30) * linear(x) + bias_fc(style))``."""

    def __init__(self, in_dim, out_dim, style_dim, use_style_fc=True):
        super().__init__()
        assert use_style_fc, "CIPS-3D only builds FiLM layers with style FCs"
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.style_dim = style_dim
        self.use_style_fc = use_style_fc
        self.linear = nn.Linear(in_dim, out_dim)
        self.gain_scale = LinearScale(scale=15, bias=30)
        self.gain_fc = nn.Linear(style_dim, out_dim)
        self.bias_fc = nn.Linear(style_dim, out_dim)

    def forward(self, x, style):
        gain = self.gain_scale(self.gain_fc(style))
        bias = self.bias_fc(style)
        if x.dim() == 3:
            gain = gain.unsqueeze(1)
            bias = bias.unsqueeze(1)
        x = self.linear(x)
        return torch.sin(gain * x + bias)


class UniformBoxWarp(nn.Module):
    """``nerf_network.UniformBoxWarp``: multiply by ``2 / sidelength`` (no parameters or buffers)."""

    def __init__(self, sidelength):
        super().__init__()
        self.scale_factor = 2 / sidelength

    def forward(self, coordinates):
        return coordinates * self.scale_factor


class NeRFNetwork(nn.Module):
    """``generator.NeRFNetwork``: FiLM-SIREN trunk, raw sigma head and a 32-channel feature head. Ignores ray directions."""

    def __init__(self, in_dim=3, hidden_dim=256, hidden_layers=2, style_dim=512, rgb_dim=3, name_prefix="nerf"):
        super().__init__()
        self.in_dim = in_dim
        self.hidden_dim = hidden_dim
        self.rgb_dim = rgb_dim
        self.style_dim = style_dim
        self.hidden_layers = hidden_layers
        self.name_prefix = name_prefix
        self.style_dim_dict = {}
        self.network = nn.ModuleList()
        out_dim = in_dim
        for idx in range(hidden_layers):
            layer = FiLMLayer(in_dim=out_dim, out_dim=hidden_dim, style_dim=style_dim)
            out_dim = hidden_dim
            self.network.append(layer)
            self.style_dim_dict[f"{name_prefix}_w{idx}"] = layer.style_dim
        self.final_layer = nn.Linear(hidden_dim, 1)
        self.color_layer_sine = FiLMLayer(in_dim=hidden_dim, out_dim=hidden_dim // 2, style_dim=style_dim)
        self.style_dim_dict[f"{name_prefix}_rgb"] = self.color_layer_sine.style_dim
        self.color_layer_linear = nn.Sequential(nn.Linear(hidden_dim // 2, rgb_dim))
        self.gridwarper = UniformBoxWarp(0.24)

    def forward(self, input, style_dict, ray_directions=None):
        """``input`` (b, n, 3) world points -> (b, n, rgb_dim + 1): features then raw sigma."""
        x = self.gridwarper(input)
        for index, layer in enumerate(self.network):
            x = layer(x, style_dict[f"{self.name_prefix}_w{index}"])
        sigma = self.final_layer(x)
        x = self.color_layer_sine(x, style_dict[f"{self.name_prefix}_rgb"])
        rbg = self.color_layer_linear(x)
        return torch.cat([rbg, sigma], dim=-1)


class PixelNorm(nn.Module):
    """``multi_head_mapping.PixelNorm``: ``z * rsqrt(mean(z^2, dim=1) + 1e-8)``."""

    def forward(self, input):
        assert input.dim() == 2
        return input * torch.rsqrt(torch.mean(input ** 2, dim=1, keepdim=True) + 1e-8)


class MultiHeadMappingNetwork(nn.Module):
    """``exp/cips3d/models/multi_head_mapping.MultiHeadMappingNetwork`` (plain ``nn.Linear`` layers)."""

    def __init__(self, z_dim, hidden_dim, base_layers, head_layers, head_dim_dict, add_norm=False, norm_out=False):
        super().__init__()
        self.z_dim = z_dim
        self.head_dim_dict = head_dim_dict
        self.norm = PixelNorm()
        out_dim = z_dim
        base_net = []
        for i in range(base_layers):
            in_dim, out_dim = out_dim, hidden_dim
            base_net.append(nn.Linear(in_dim, out_dim))
            if head_layers > 0 or i != base_layers - 1:
                if add_norm:
                    base_net.append(nn.LayerNorm(out_dim))
                base_net.append(nn.LeakyReLU(0.2, inplace=True))
        if base_net:
            if norm_out and head_layers <= 0:
                base_net.append(nn.LayerNorm(out_dim))
            self.base_net = nn.Sequential(*base_net)
        else:
            self.base_net = None
        head_in_dim = out_dim
        for name, head_dim in head_dim_dict.items():
            if head_layers > 0:
                head_net = []
                out_dim = head_in_dim
                for i in range(head_layers):
                    in_dim, out_dim = out_dim, (head_dim if i == head_layers - 1 else hidden_dim)
                    head_net.append(nn.Linear(in_dim, out_dim))
                    if i != head_layers - 1:
                        head_net.append(nn.LeakyReLU(0.2, inplace=True))
                    elif norm_out:
                        head_net.append(nn.LayerNorm(out_dim))
                head = nn.Sequential(*head_net)
            else:
                head = nn.Identity()
            self.add_module(name, head)

    def forward(self, z):
        if self.base_net is not None:
            base = self.base_net(self.norm(z))
            inputs = {name: base for name in self.head_dim_dict}
        else:
            inputs = {name: self.norm(z[idx]) for idx, name in enumerate(self.head_dim_dict)}
        return {name: getattr(self, name)(inputs[name]) for name in self.head_dim_dict}


class SinAct(nn.Module):
    def forward(self, x):
        return torch.sin(x)


class SkipLayer(nn.Module):
    def forward(self, x0, x1):
        return x0 + x1


class SinStyleMod(nn.Module):
    """``mod_conv_fc.SinStyleMod`` (bmm path): modulated, demodulated 1x1 "conv" without bias.

    ``w' = weight * (modulation(style) + 1)`` per input channel, ``w'' = w' * rsqrt(sum_in w'^2 + 1e-8)``
    per output channel, ``out = x @ w''``. ``sin`` and ``norm`` (a LayerNorm) are built but never called.
    """

    def __init__(self, in_channel, out_channel, kernel_size=1, style_dim=None, use_style_fc=False, demodulate=True, eps=1e-8):
        super().__init__()
        assert kernel_size == 1 and use_style_fc and demodulate
        self.eps = eps
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.kernel_size = kernel_size
        self.style_dim = style_dim
        self.use_style_fc = use_style_fc
        self.demodulate = demodulate
        self.weight = nn.Parameter(torch.randn(1, in_channel, out_channel))
        self.modulation = nn.Linear(style_dim, in_channel)
        self.sin = SinAct()
        self.norm = nn.LayerNorm(in_channel)

    def forward(self, x, style):
        input = x.unsqueeze(1) if x.dim() == 2 else x
        batch, _, in_channel = input.shape
        style = self.modulation(style).view(-1, in_channel, 1)
        weight = self.weight * (style + 1)
        demod = torch.rsqrt(weight.pow(2).sum([1]) + self.eps)
        weight = weight * demod.view(batch, 1, self.out_channel)
        out = torch.bmm(input, weight)
        return out.squeeze(1) if x.dim() == 2 else out


class SinBlock(nn.Module):
    """``generator.SinBlock``: mod1 -> LeakyReLU(0.2) -> mod2 -> LeakyReLU(0.2), plus the input when ``skip``."""

    def __init__(self, in_dim, out_dim, style_dim, name_prefix):
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        self.style_dim = style_dim
        self.name_prefix = name_prefix
        self.style_dim_dict = {}
        self.mod1 = SinStyleMod(in_channel=in_dim, out_channel=out_dim, style_dim=style_dim, use_style_fc=True)
        self.style_dim_dict[f"{name_prefix}_0"] = self.mod1.style_dim
        self.act1 = nn.LeakyReLU(0.2, inplace=True)
        self.mod2 = SinStyleMod(in_channel=out_dim, out_channel=out_dim, style_dim=style_dim, use_style_fc=True)
        self.style_dim_dict[f"{name_prefix}_1"] = self.mod2.style_dim
        self.act2 = nn.LeakyReLU(0.2, inplace=True)
        self.skip = SkipLayer()

    def forward(self, x, style_dict, skip=False):
        x_orig = x
        x = self.act1(self.mod1(x, style_dict[f"{self.name_prefix}_0"]))
        out = self.act2(self.mod2(x, style_dict[f"{self.name_prefix}_1"]))
        if skip and out.shape[-1] == x_orig.shape[-1]:
            out = self.skip(out, x_orig)
        return out


class ToRGB(nn.Module):
    """``generator.ToRGB`` (``use_equal_fc=False``): ``linear(x) + skip``."""

    def __init__(self, in_dim, dim_rgb=3):
        super().__init__()
        self.in_dim = in_dim
        self.dim_rgb = dim_rgb
        self.linear = nn.Linear(in_dim, dim_rgb)

    def forward(self, input, skip=None):
        out = self.linear(input)
        if skip is not None:
            out = out + skip
        return out


class CIPSNet(nn.Module):
    """``generator.CIPSNet``: nine SinBlocks keyed by resolution name, ToRGBs summed from block index 3, tanh."""

    def __init__(self, input_dim, style_dim, hidden_dim=256, pre_rgb_dim=32, name_prefix="inr"):
        super().__init__()
        self.pre_rgb_dim = pre_rgb_dim
        self.name_prefix = name_prefix
        self.channels = {name: hidden_dim for name in INR_BLOCKS}
        self.style_dim_dict = {}
        network, to_rgbs = OrderedDict(), OrderedDict()
        out_dim = input_dim
        for name, channel in self.channels.items():
            in_dim, out_dim = out_dim, channel
            block = SinBlock(in_dim=in_dim, out_dim=out_dim, style_dim=style_dim, name_prefix=f"{name_prefix}_w{name}")
            self.style_dim_dict.update(block.style_dim_dict)
            network[name] = block
            to_rgbs[name] = ToRGB(in_dim=out_dim, dim_rgb=pre_rgb_dim)
        self.network = nn.ModuleDict(network)
        self.to_rgbs = nn.ModuleDict(to_rgbs)
        out_layers = [nn.Linear(pre_rgb_dim, 3)] if pre_rgb_dim > 3 else []
        self.tanh = nn.Sequential(*out_layers, nn.Tanh())

    def forward(self, input, style_dict, img_size=1024):
        x = input
        img_size = str(2 ** int(np.log2(img_size)))
        rgb = 0
        for idx, (name, block) in enumerate(self.network.items()):
            x = block(x, style_dict, skip=idx >= 4)
            if idx >= 3:
                rgb = self.to_rgbs[name](x, skip=rgb)
            if name == img_size:
                break
        return self.tanh(rgb)


class GeneratorNerfINR(nn.Module):
    """``exp.cips3d.models.generator.GeneratorNerfINR`` (its state_dict layout; inference is in the functions below)."""

    def __init__(self, z_dim, nerf_cfg, mapping_nerf_cfg, inr_cfg, mapping_inr_cfg, device="cpu"):
        super().__init__()
        self.epoch = 0
        self.step = 0
        self.z_dim = z_dim
        self.device = device
        self.siren = NeRFNetwork(**nerf_cfg)
        self.mapping_network_nerf = MultiHeadMappingNetwork(**{**mapping_nerf_cfg, "head_dim_dict": self.siren.style_dim_dict})
        self.inr_net = CIPSNet(**{**inr_cfg, "input_dim": self.siren.rgb_dim})
        self.mapping_network_inr = MultiHeadMappingNetwork(**{**mapping_inr_cfg, "head_dim_dict": self.inr_net.style_dim_dict})
        self.aux_to_rbg = nn.Sequential(nn.Linear(self.siren.rgb_dim, 3), nn.Tanh())
        self.filters = nn.Identity()

    def mapping_network(self, z_nerf, z_inr):
        style_dict = {}
        style_dict.update(self.mapping_network_nerf(z_nerf))
        style_dict.update(self.mapping_network_inr(z_inr))
        return style_dict


class GeneratorNerfINR_freeze_NeRF(GeneratorNerfINR):
    """The class ``train_ffhq_high`` (the released FFHQ r256 run) trains: same parameters, NeRF under no_grad."""


# --------------------------------------------------------------------------------------------
# Building and saving.


def config(*, nerf_hidden_dim=128, nerf_hidden_layers=2, nerf_style_dim=128, rgb_dim=32, nerf_z_dim=256, nerf_base_layers=4,
           inr_hidden_dim=512, inr_style_dim=512, inr_z_dim=512, inr_base_layers=8, pre_rgb_dim=3, add_norm=True, norm_out=True):
    """The ``GeneratorNerfINR`` keyword arguments for these widths (defaults: :data:`OFFICIAL_CFG`).

    ``nerf_style_dim`` is both the NeRF FiLM style width and ``mapping_nerf_cfg.hidden_dim``;
    ``inr_style_dim`` both the INR style width and ``mapping_inr_cfg.hidden_dim`` (identity heads).
    """
    return {
        "z_dim": nerf_z_dim,
        "nerf_cfg": {"in_dim": 3, "hidden_dim": nerf_hidden_dim, "hidden_layers": nerf_hidden_layers, "rgb_dim": rgb_dim, "style_dim": nerf_style_dim},
        "mapping_nerf_cfg": {"z_dim": nerf_z_dim, "hidden_dim": nerf_style_dim, "base_layers": nerf_base_layers, "head_layers": 0},
        "inr_cfg": {"input_dim": rgb_dim, "style_dim": inr_style_dim, "hidden_dim": inr_hidden_dim, "pre_rgb_dim": pre_rgb_dim},
        "mapping_inr_cfg": {"z_dim": inr_z_dim, "hidden_dim": inr_style_dim, "base_layers": inr_base_layers, "head_layers": 0,
                            "add_norm": add_norm, "norm_out": norm_out},
    }


def make_generator(seed=0, *, freeze_nerf=False, live=True, head=False, **widths) -> GeneratorNerfINR:
    """A stand-in ``G_ema`` (eval mode, CPU) with the widths of :func:`config`; ``live`` shapes the weights (:func:`_liven`).

    ``head`` leaves out the hidden layers' noise, so the density is the smooth closed ellipsoid alone, as a
    trained model's head is smooth (the default's lumpy surface meshes into hundreds of UV charts). Construction
    does not touch torch's global RNG.
    """
    cls = GeneratorNerfINR_freeze_NeRF if freeze_nerf else GeneratorNerfINR
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = cls(**config(**widths))
    if live or head:
        _liven(G, seed, lumps=0.0 if head else _LUMPS)
    return G.eval().requires_grad_(False)


def _fibonacci_directions(n):
    i = torch.arange(n, dtype=torch.float64) + 0.5
    y = 1 - 2 * i / n
    r = torch.sqrt(1 - y * y)
    phi = math.pi * (3 - math.sqrt(5)) * i
    return torch.stack([r * torch.cos(phi), y, r * torch.sin(phi)], -1)


#: Semi-axes of the head ellipsoid in ``UniformBoxWarp`` units (world = 0.12 x these): x, y, z.
HEAD_AXES = (0.85, 1.0, 0.85)
_KAPPA = 2.0
_DETAIL_KAPPA = 6.0
_LUMPS = 0.8
"""Weight of the hidden layers' random part: makes the surface lumpy and the features not radial."""


@torch.no_grad()
def _liven(G, seed, lumps=_LUMPS):
    """Random weights with a head-shaped density and varied features (all drawn from ``torch.Generator(seed)``).

    NeRF (writing ``p' = p / 0.12`` for the ``UniformBoxWarp`` coordinates):

    * layer 0: ``linear.weight[i] = omega_i / 30``, ``linear.bias`` ~ 0, ``gain_fc`` near 0 (gains ~ 30 +- a few %,
      z-dependent) and ``bias_fc.bias ~ pi/2`` (+ small z-dependent phases), so unit ``i`` is ``~cos(omega_i . p')``.
      For the first half of the units ``omega_i = 2 d_i / HEAD_AXES`` (well-spread unit directions ``d_i``): their mean
      is ``~sinc(2 |p' / HEAD_AXES|)``, 1 at the origin, 0.45 on the ellipsoid surface, about -0.2 beyond it (the sinc
      minimum lies past every point a face camera samples). The second half has ``|omega| ~ 6``: detail for the colours;
    * later hidden layers: ``linear.weight = (a_j * mean over the first half + lumps N(0,1)/sqrt(n)) / 30`` with ``a_j``
      in [0.5, 1] and small phases (``lumps``, 0.8 by default), i.e. ``~sin(a_j * mean + noise(p))``: monotone in the layer-0 mean, while the noise
      makes the surface lumpy and gives the features structure that is not radial;
    * ``final_layer``: positive weights (sum ~150) and a bias calibrated on the ellipsoid surface (world semi-axes
      0.102, 0.12, 0.102) over a few random z, so raw sigma is about +30 near the origin, 0 on average over that surface and
      strongly negative (relu -> 0) outside, e.g. at the corners of [-0.12, 0.12]^3;
    * colour FiLM and linear: random, with z-dependent phases of order 1, so features vary over the head and with z.

    Mappings: kaiming-normal Linear weights, biases N(0, 0.1); their LayerNorms (which the official forward applies)
    weight 1 + N(0, 0.2), bias N(0, 0.1). ``SinStyleMod.norm`` (never called officially): weight 1 + N(0, 0.5), bias N(0, 0.5).
    INR: random ``SinStyleMod.weight``, modulations ``(style + 1)`` within about [0.4, 1.6]; ``to_rgbs`` (the unused
    '4', '8', '16' too) scaled so the pre-tanh colour has a standard deviation of about 0.8 over the head.
    """
    g = torch.Generator().manual_seed(int(seed) + 12345)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    def rand(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    def put(param, value):
        param.copy_(value.to(param.dtype).reshape(param.shape))

    def kaiming(linear, a=0.2):
        fan_in = linear.weight.shape[1]
        put(linear.weight, randn(*linear.weight.shape) * math.sqrt(2 / (1 + a * a) / fan_in))
        put(linear.bias, 0.1 * randn(linear.bias.shape[0]))

    def layer_norm(norm):
        put(norm.weight, 1 + 0.2 * randn(norm.weight.shape[0]))
        put(norm.bias, 0.1 * randn(norm.bias.shape[0]))

    for mapping in (G.mapping_network_nerf, G.mapping_network_inr):
        for module in mapping.modules():
            if isinstance(module, nn.Linear):
                kaiming(module)
            elif isinstance(module, nn.LayerNorm):
                layer_norm(module)

    siren = G.siren
    style_dim = siren.style_dim
    n = siren.hidden_dim
    # layer 0: cos(omega_i . p')
    first = siren.network[0]
    low = (n + 1) // 2
    kappa = torch.full((n, 1), _KAPPA, dtype=torch.float64)
    kappa[low:] = _DETAIL_KAPPA
    omega = kappa * torch.cat([_fibonacci_directions(low), _fibonacci_directions(n - low)]) / torch.tensor(HEAD_AXES, dtype=torch.float64)
    put(first.linear.weight, omega / 30)
    put(first.linear.bias, 0.001 * randn(n))
    put(first.gain_fc.weight, 0.05 / math.sqrt(style_dim) * randn(n, style_dim))
    put(first.gain_fc.bias, 0.005 * randn(n))
    put(first.bias_fc.weight, 0.1 / math.sqrt(style_dim) * randn(n, style_dim))
    put(first.bias_fc.bias, math.pi / 2 + 0.05 * randn(n))
    # later layers: monotone in the previous mean
    for layer in list(siren.network)[1:]:
        a = 0.5 + 0.5 * rand(n)
        mean = torch.zeros(n, n, dtype=torch.float64)
        mean[:, :low] = a[:, None] / low
        put(layer.linear.weight, (mean + lumps * randn(n, n) / math.sqrt(n)) / 30)
        low = n
        put(layer.linear.bias, 0.001 * randn(n))
        put(layer.gain_fc.weight, 0.05 / math.sqrt(style_dim) * randn(n, style_dim))
        put(layer.gain_fc.bias, 0.005 * randn(n))
        put(layer.bias_fc.weight, 0.1 / math.sqrt(style_dim) * randn(n, style_dim))
        put(layer.bias_fc.bias, 0.05 * randn(n))
    put(siren.final_layer.weight, 150 / n * (1 + 0.1 * randn(n)))
    put(siren.final_layer.bias, torch.zeros(1))
    # colour branch
    colour = siren.color_layer_sine
    m = colour.out_dim
    put(colour.linear.weight, 1.5 / (30 * math.sqrt(n)) * randn(m, n))
    put(colour.linear.bias, 0.02 * randn(m))
    put(colour.gain_fc.weight, 0.1 / math.sqrt(style_dim) * randn(m, style_dim))
    put(colour.gain_fc.bias, 0.01 * randn(m))
    put(colour.bias_fc.weight, 1.0 / math.sqrt(style_dim) * randn(m, style_dim))
    put(colour.bias_fc.bias, (2 * rand(m) - 1) * math.pi)
    linear = siren.color_layer_linear[0]
    put(linear.weight, randn(*linear.weight.shape) / math.sqrt(m) * 1.5)
    put(linear.bias, 0.1 * randn(linear.bias.shape[0]))
    aux = G.aux_to_rbg[0]
    put(aux.weight, randn(*aux.weight.shape) / math.sqrt(aux.weight.shape[1]))
    put(aux.bias, 0.1 * randn(3))
    # INR
    inr = G.inr_net
    for block in inr.network.values():
        for mod in (block.mod1, block.mod2):
            put(mod.weight, randn(*mod.weight.shape) / math.sqrt(mod.in_channel))
            put(mod.modulation.weight, 0.3 / math.sqrt(mod.style_dim) * randn(*mod.modulation.weight.shape))
            put(mod.modulation.bias, 0.1 * randn(mod.in_channel))
            put(mod.norm.weight, 1 + 0.5 * randn(mod.in_channel))
            put(mod.norm.bias, 0.5 * randn(mod.in_channel))
    for to_rgb in inr.to_rgbs.values():
        put(to_rgb.linear.weight, randn(*to_rgb.linear.weight.shape) / math.sqrt(to_rgb.in_dim))
        put(to_rgb.linear.bias, 0.05 * randn(to_rgb.dim_rgb))
    for module in inr.tanh.modules():
        if isinstance(module, nn.Linear):
            put(module.weight, randn(*module.weight.shape) / math.sqrt(module.weight.shape[1]))
            put(module.bias, 0.05 * randn(3))

    # calibration: a few z drawn from the same generator
    zs_nerf = randn(4, G.mapping_network_nerf.z_dim).float()
    zs_inr = randn(4, G.mapping_network_inr.z_dim).float()
    dirs = _fibonacci_directions(200).float()
    surface = dirs / torch.linalg.norm(dirs / torch.tensor(HEAD_AXES), dim=-1, keepdim=True) * 0.12
    levels = []
    for z in zs_nerf:
        sigma, _ = query(G, surface, z)
        levels.append(sigma)
    put(siren.final_layer.bias, -torch.cat(levels).mean().double().reshape(1))
    inside = _fibonacci_directions(256).float() * rand(256, 1).float() * 0.09
    pre = []
    for z_nerf, z_inr in zip(zs_nerf[:2], zs_inr[:2]):
        _, features = query(G, inside, z_nerf)
        styles = G.mapping_network_inr(z_inr[None])
        rgb, x = 0, features[None]
        for idx, (name, block) in enumerate(inr.network.items()):
            x = block(x, styles, skip=idx >= 4)
            if idx >= 3:
                rgb = inr.to_rgbs[name](x, skip=rgb)
        pre.append(rgb[0])
    scale = 0.8 / torch.cat(pre).std().item()
    if len(inr.tanh) == 1:
        for to_rgb in inr.to_rgbs.values():
            to_rgb.linear.weight.mul_(scale)
            to_rgb.linear.bias.mul_(scale)


class _CudaTag:
    """Temporarily tag every storage ``torch.save`` writes with a CUDA location (tensors stay on the CPU)."""

    def __init__(self, tag):
        self.tag = tag

    def __enter__(self):
        import torch.serialization as serialization

        self._saved = serialization.location_tag
        serialization.location_tag = lambda storage: self.tag
        return self

    def __exit__(self, *exc):
        import torch.serialization as serialization

        serialization.location_tag = self._saved
        return False


def save_g_ema(path, generator, *, device_tag="cuda:0") -> None:
    """``torch.save(generator.state_dict(), path)``, as tl2 ``save_models`` writes ``G_ema.pth``.

    ``device_tag="cuda:0"`` (default) records the storages as CUDA storages, like files saved from the training GPU:
    ``torch.load`` then needs ``map_location`` on a machine without CUDA. ``device_tag=None`` saves CPU storages.
    """
    state = generator.state_dict()
    context = _CudaTag(device_tag) if device_tag else contextlib.nullcontext()
    with context:
        torch.save(state, str(path))


# --------------------------------------------------------------------------------------------
# Mapping, truncation, point queries.


def _device(G):
    return next(G.parameters()).device


def _as_batch(z, G):
    z = torch.as_tensor(z, dtype=torch.float32, device=_device(G))
    return z.reshape(1, -1) if z.dim() == 1 else z


def truncate(raw_styles, avg_styles, psi):
    """``get_truncated_freq_phase``: ``avg + psi * (raw - avg)`` per style name."""
    return {name: avg_styles[name] + psi * (raw - avg_styles[name]) for name, raw in raw_styles.items()}


@torch.no_grad()
def average_styles(G, num_samples=10000, seed=0):
    """Per-name mean styles over ``num_samples`` random zs (shape (1, style_dim) each).

    As ``GeneratorNerfINR.generate_avg_frequencies`` (which ``forward`` calls afresh whenever ``psi < 1``): ``get_zs``
    draws ``z_nerf = randn(n, 256)`` then ``z_inr = randn(n, 512)`` (standard normal, global RNG, on the model device),
    maps both and averages over the batch. Here the draws come from ``torch.Generator().manual_seed(seed)`` on the CPU.
    """
    g = torch.Generator().manual_seed(int(seed))
    z_nerf = torch.randn((num_samples, G.mapping_network_nerf.z_dim), generator=g).to(_device(G))
    z_inr = torch.randn((num_samples, G.mapping_network_inr.z_dim), generator=g).to(_device(G))
    return {name: style.mean(0, keepdim=True) for name, style in G.mapping_network(z_nerf, z_inr).items()}


def _official_average(G, num_samples=10000):
    """``generate_avg_frequencies`` exactly: zs from torch's global RNG on the model device."""
    device = _device(G)
    z_nerf = torch.randn((num_samples, G.mapping_network_nerf.z_dim), device=device)
    z_inr = torch.randn((num_samples, G.mapping_network_inr.z_dim), device=device)
    return {name: style.mean(0, keepdim=True) for name, style in G.mapping_network(z_nerf, z_inr).items()}


def _styles(mapping, z, G, psi, avg):
    styles = mapping(_as_batch(z, G))
    if psi < 1:
        if avg is None:
            raise ValueError("psi < 1 needs avg (average_styles)")
        styles = truncate(styles, avg, psi)
    return styles


@torch.no_grad()
def query(G, points, z_nerf, psi=1.0, avg=None):
    """Raw sigma [N] and the ``rgb_dim`` features [N, 32] at world points [N, 3] (``G.siren``; no view directions)."""
    styles = _styles(G.mapping_network_nerf, z_nerf, G, psi, avg)
    points = torch.as_tensor(points, dtype=torch.float32, device=_device(G)).reshape(1, -1, 3)
    out = G.siren(points, styles)[0]
    return out[:, -1], out[:, :G.siren.rgb_dim]


@torch.no_grad()
def features_to_rgb(G, features, z_inr, psi=1.0, avg=None, signed=False):
    """``inr_net`` per pixel on features [N, 32] -> RGB [N, 3], in [0, 1] (``(x + 1) / 2``, as the scripts save images) or tanh's [-1, 1]."""
    styles = _styles(G.mapping_network_inr, z_inr, G, psi, avg)
    features = torch.as_tensor(features, dtype=torch.float32, device=_device(G)).reshape(1, -1, G.siren.rgb_dim)
    rgb = G.inr_net(features, styles)[0]
    return rgb if signed else (rgb + 1) * 0.5


@torch.no_grad()
def aux_rgb(G, features, signed=False):
    """The auxiliary 3-D-consistent head ``aux_to_rbg`` (Linear(32, 3) + tanh) on features [N, 32]."""
    features = torch.as_tensor(features, dtype=torch.float32, device=_device(G))
    rgb = G.aux_to_rbg(features)
    return rgb if signed else (rgb + 1) * 0.5


# --------------------------------------------------------------------------------------------
# Rendering: pi-GAN cameras and volume integration (exp/comm/comm_utils.py, exp/pigan/pigan_utils.py).


def normalize_vecs(vectors):
    return vectors / torch.norm(vectors, dim=-1, keepdim=True)


def initial_rays(size, fov, ray_start, ray_end, num_steps, device):
    """``get_initial_rays_trig`` for one image: camera-space points (1, HW, S, 3), z_vals (1, HW, S, 1), directions (1, HW, 3).

    Pixel (row j, column i) looks along ``(x_i, y_j, -1/tan(fov/2))`` normalised, ``x = linspace(-1, 1)``,
    ``y = linspace(1, -1)`` (so ``fov`` spans the edge pixels' centres); z_vals are distances along the unit ray.
    """
    W = H = size
    x, y = torch.meshgrid(torch.linspace(-1, 1, W, device=device), torch.linspace(1, -1, H, device=device), indexing="ij")
    x = x.T.flatten()
    y = y.T.flatten()
    z = -torch.ones_like(x) / np.tan((2 * math.pi * fov / 360) / 2)
    rays_d_cam = normalize_vecs(torch.stack([x, y, z], -1))
    z_vals = torch.linspace(ray_start, ray_end, num_steps, device=device).reshape(1, num_steps, 1).repeat(W * H, 1, 1)
    points = rays_d_cam.unsqueeze(1).repeat(1, num_steps, 1) * z_vals
    return points[None], z_vals[None], rays_d_cam[None]


def perturb_points(points, z_vals, ray_directions, deterministic=False):
    """``perturb_points``: every sample moves by ``(U[0,1) - 0.5) * (z_1 - z_0)`` along its ray (strata centred on the
    linspace values, so the first and last reach half a step beyond ``ray_start``/``ray_end``). The official code always
    jitters, even at inference; ``deterministic`` keeps the centres (``U = 0.5``) and draws nothing."""
    if deterministic:
        return points, z_vals
    distance_between_points = z_vals[:, :, 1:2, :] - z_vals[:, :, 0:1, :]
    offset = (torch.rand(z_vals.shape, device=z_vals.device) - 0.5) * distance_between_points
    return points + offset * ray_directions.unsqueeze(2), z_vals + offset


def camera_position(yaw=0.0, pitch=0.0, device="cpu", draw=True, h_stddev=0.0, v_stddev=0.0):
    """``sample_camera_positions(mode='gaussian', r=1)`` with ``h_mean = pi/2 + yaw``, ``v_mean = pi/2 + pitch``.

    Returns origin (1, 3), phi (pitch, polar angle from +y) and theta (yaw, azimuth) as (1, 1) tensors. ``draw``
    consumes the two ``randn((1, 1))`` the official code draws even with zero deviations (theta first).
    """
    h_mean, v_mean = math.pi * 0.5 + yaw, math.pi * 0.5 + pitch
    if draw:
        theta = torch.randn((1, 1), device=device) * h_stddev + h_mean
        phi = torch.randn((1, 1), device=device) * v_stddev + v_mean
    else:
        theta = torch.full((1, 1), h_mean, device=device)
        phi = torch.full((1, 1), v_mean, device=device)
    phi = torch.clamp(phi, 1e-5, math.pi - 1e-5)
    origin = torch.zeros((1, 3), device=device)
    origin[:, 0:1] = torch.sin(phi) * torch.cos(theta)
    origin[:, 2:3] = torch.sin(phi) * torch.sin(theta)
    origin[:, 1:2] = torch.cos(phi)
    return origin, phi, theta


def cam2world_matrix(forward_vector, origin, up_vector=None):
    """``create_cam2world_matrix``: columns ``(-left, up, -forward)`` with ``left = cross(up, forward)``, world up +y."""
    forward_vector = normalize_vecs(forward_vector)
    if up_vector is None:
        up_vector = torch.tensor([0, 1, 0], dtype=torch.float, device=origin.device).expand_as(forward_vector)
    left_vector = normalize_vecs(torch.cross(up_vector, forward_vector, dim=-1))
    up_vector = normalize_vecs(torch.cross(forward_vector, left_vector, dim=-1))
    rotation = torch.eye(4, device=origin.device).unsqueeze(0).repeat(forward_vector.shape[0], 1, 1)
    rotation[:, :3, :3] = torch.stack((-left_vector, up_vector, -forward_vector), dim=-1)
    translation = torch.eye(4, device=origin.device).unsqueeze(0).repeat(forward_vector.shape[0], 1, 1)
    translation[:, :3, 3] = origin
    return translation @ rotation


def transform_sampled_points(points, z_vals, ray_directions, *, yaw, pitch, deterministic=False):
    """``transform_sampled_points``: jitter, place the camera, move points/rays to the world (homogeneous bmm)."""
    bs, num_rays, num_steps, _ = points.shape
    device = points.device
    points, z_vals = perturb_points(points, z_vals, ray_directions, deterministic)
    origin, pitch_t, yaw_t = camera_position(yaw, pitch, device, draw=not deterministic)
    c2w = cam2world_matrix(normalize_vecs(-origin), origin)
    homogeneous = torch.ones((bs, num_rays, num_steps, 4), device=device)
    homogeneous[..., :3] = points
    world_points = torch.bmm(c2w, homogeneous.reshape(bs, -1, 4).permute(0, 2, 1)).permute(0, 2, 1).reshape(bs, num_rays, num_steps, 4)[..., :3]
    world_dirs = torch.bmm(c2w[..., :3, :3], ray_directions.reshape(bs, -1, 3).permute(0, 2, 1)).permute(0, 2, 1).reshape(bs, num_rays, 3)
    homogeneous_origins = torch.zeros((bs, 4, num_rays), device=device)
    homogeneous_origins[:, 3, :] = 1
    world_origins = torch.bmm(c2w, homogeneous_origins).permute(0, 2, 1).reshape(bs, num_rays, 4)[..., :3]
    return world_points, z_vals, world_dirs, world_origins, pitch_t, yaw_t


def fancy_integration(rgb_sigma, z_vals, dim_rgb=32, noise_std=0.0, last_back=False, white_back=False, clamp_mode="relu", draw=True):
    """``pigan_utils.fancy_integration``: features (b, n, dim), depth (b, n, 1), weights (b, n, s, 1).

    ``delta_last = 1e10``; ``alpha = 1 - exp(-delta * relu(sigma + noise))``; transmittance ``cumprod(1 - alpha + 1e-10)``;
    ``last_back`` adds ``1 - sum(w)`` to the last weight, ``white_back`` adds it to every channel. The noise
    ``randn(sigma.shape) * noise_std`` is drawn even when ``noise_std`` is 0 (``draw=False`` skips it then).
    """
    rgbs = rgb_sigma[..., :dim_rgb]
    sigmas = rgb_sigma[..., dim_rgb:]
    deltas = z_vals[:, :, 1:] - z_vals[:, :, :-1]
    delta_inf = 1e10 * torch.ones_like(deltas[:, :, :1])
    deltas = torch.cat([deltas, delta_inf], -2)
    if draw:
        noise = torch.randn(sigmas.shape, device=sigmas.device) * noise_std
    else:
        if noise_std:
            raise ValueError("nerf noise needs random draws")
        noise = torch.zeros_like(sigmas)
    if clamp_mode == "softplus":
        alphas = 1 - torch.exp(-deltas * torch.nn.functional.softplus(sigmas + noise))
    elif clamp_mode == "relu":
        alphas = 1 - torch.exp(-deltas * torch.relu(sigmas + noise))
    else:
        raise ValueError(clamp_mode)
    alphas_shifted = torch.cat([torch.ones_like(alphas[:, :, :1]), 1 - alphas + 1e-10], -2)
    weights = alphas * torch.cumprod(alphas_shifted, -2)[:, :, :-1]
    weights_sum = weights.sum(2)
    if last_back:
        weights[:, :, -1] += 1 - weights_sum
    rgb_final = torch.sum(weights * rgbs, -2)
    depth_final = torch.sum(weights * z_vals, -2)
    if white_back:
        rgb_final = rgb_final + 1 - weights_sum
    return rgb_final, depth_final, weights


def sample_pdf(bins, weights, N_importance, det=False, eps=1e-5):
    """``pigan_utils.sample_pdf`` (from nerf_pl): inverse-CDF samples; ``det`` uses ``u = linspace(0, 1, N)``, else ``rand``."""
    N_rays, N_samples_ = weights.shape
    weights = weights + eps
    pdf = weights / torch.sum(weights, -1, keepdim=True)
    cdf = torch.cumsum(pdf, -1)
    cdf = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], -1)
    if det:
        u = torch.linspace(0, 1, N_importance, device=bins.device).expand(N_rays, N_importance)
    else:
        u = torch.rand(N_rays, N_importance, device=bins.device)
    u = u.contiguous()
    inds = torch.searchsorted(cdf, u)
    below = torch.clamp_min(inds - 1, 0)
    above = torch.clamp_max(inds, N_samples_)
    inds_sampled = torch.stack([below, above], -1).view(N_rays, 2 * N_importance)
    cdf_g = torch.gather(cdf, 1, inds_sampled).view(N_rays, N_importance, 2)
    bins_g = torch.gather(bins, 1, inds_sampled).view(N_rays, N_importance, 2)
    denom = cdf_g[..., 1] - cdf_g[..., 0]
    denom[denom < eps] = 1
    return bins_g[..., 0] + (u - cdf_g[..., 0]) / denom * (bins_g[..., 1] - bins_g[..., 0])


def _points_forward(G, styles, points, z_vals, origins, directions, *, num_steps, hierarchical_sample, clamp_mode, nerf_noise,
                    last_back, white_back, deterministic):
    """``GeneratorNerfINR.points_forward`` for one chunk of rays: coarse, fine, merge, integrate, INR."""
    b, n = points.shape[:2]
    rgb_dim = G.siren.rgb_dim
    coarse = G.siren(points.reshape(b, n * num_steps, 3), styles).reshape(b, n, num_steps, rgb_dim + 1)
    if hierarchical_sample:
        _, _, weights = fancy_integration(coarse, z_vals, rgb_dim, noise_std=nerf_noise, clamp_mode=clamp_mode, draw=not deterministic)
        weights = weights.reshape(b * n, num_steps) + 1e-5
        flat_z = z_vals.reshape(b * n, num_steps)
        z_vals_mid = 0.5 * (flat_z[:, :-1] + flat_z[:, 1:])
        fine_z = sample_pdf(z_vals_mid, weights[:, 1:-1], num_steps, det=deterministic).reshape(b, n, num_steps, 1)
        fine_points = origins.unsqueeze(2).contiguous() + directions.unsqueeze(2).contiguous() * fine_z.expand(-1, -1, -1, 3).contiguous()
        fine = G.siren(fine_points.reshape(b, n * num_steps, 3), styles).reshape(b, n, num_steps, rgb_dim + 1)
        all_outputs = torch.cat([fine, coarse], dim=-2)
        all_z = torch.cat([fine_z, z_vals], dim=-2)
        _, indices = torch.sort(all_z, dim=-2)
        all_z = torch.gather(all_z, -2, indices)
        all_outputs = torch.gather(all_outputs, -2, indices.expand(-1, -1, -1, all_outputs.shape[-1]))
    else:
        all_outputs, all_z = coarse, z_vals
    features, depth, weights = fancy_integration(all_outputs, all_z, rgb_dim, noise_std=nerf_noise, last_back=last_back, white_back=white_back,
                                                 clamp_mode=clamp_mode, draw=not deterministic)
    rgb = G.inr_net(features, styles)
    return rgb, features, depth, weights.sum(2)


@torch.no_grad()
def render(G, z_nerf, z_inr, *, yaw=0.0, pitch=0.0, size=64, num_steps=24, psi=1.0, avg=None, fov=12.0, ray_start=0.88, ray_end=1.12,
           hierarchical_sample=True, clamp_mode="relu", nerf_noise=0.0, last_back=False, white_back=False, deterministic=False, forward_points=None):
    """``GeneratorNerfINR.forward`` (``h_stddev = v_stddev = 0``, ``sample_dist='gaussian'``), drawing from the current global RNG.

    Returns a dict of [H, W, ...] tensors: ``image`` (INR RGB in [0, 1]), ``features`` (integrated, 32 ch),
    ``depth``, ``weight_sum``, ``aux`` (``aux_to_rbg`` on the features, in [0, 1]), and ``yaw``/``pitch`` as sampled.
    Random draws, in order: (psi < 1 and no ``avg``) the 10 000 + 10 000 zs of ``generate_avg_frequencies``; then
    ``perturb_points``' rand (1, HW, S, 1); the camera's two randn (1, 1); then per chunk of ``forward_points`` rays
    (one chunk when None): the coarse integration's noise randn (1, n, S, 1), ``sample_pdf``'s rand (n, S) and the
    final integration's noise randn (1, n, 2S, 1). ``deterministic`` draws nothing: strata centres, no camera draws,
    ``sample_pdf(det=True)`` (the official code never renders this way).
    """
    device = _device(G)
    styles = G.mapping_network(_as_batch(z_nerf, G), _as_batch(z_inr, G))
    if psi < 1:
        if avg is None:
            if deterministic:
                raise ValueError("deterministic rendering with psi < 1 needs avg")
            avg = _official_average(G)
        styles = truncate(styles, avg, psi)
    points, z_vals, dirs = initial_rays(size, fov, ray_start, ray_end, num_steps, device)
    points, z_vals, world_dirs, origins, pitch_t, yaw_t = transform_sampled_points(points, z_vals, dirs, yaw=yaw, pitch=pitch, deterministic=deterministic)
    num_rays = size * size
    chunk = num_rays if forward_points is None else forward_points
    outputs = []
    for head in range(0, num_rays, chunk):
        tail = head + chunk
        outputs.append(_points_forward(G, styles, points[:, head:tail], z_vals[:, head:tail], origins[:, head:tail], world_dirs[:, head:tail],
                                       num_steps=num_steps, hierarchical_sample=hierarchical_sample, clamp_mode=clamp_mode, nerf_noise=nerf_noise,
                                       last_back=last_back, white_back=white_back, deterministic=deterministic))
    rgb, features, depth, weight_sum = (torch.cat(parts, dim=1)[0].reshape(size, size, -1) for parts in zip(*outputs))
    return {"image": (rgb + 1) * 0.5, "features": features, "depth": depth[..., 0], "weight_sum": weight_sum[..., 0],
            "aux": (G.aux_to_rbg(features) + 1) * 0.5, "yaw": yaw_t.item() - math.pi / 2, "pitch": pitch_t.item() - math.pi / 2}


def render_image(G, z_nerf, z_inr, *, yaw=0.0, pitch=0.0, size=64, num_steps=24, psi=1.0, avg=None, seed=0, deterministic=False, **options):
    """The INR image [H, W, 3] in [0, 1] (``(img + 1) / 2``) for a camera at yaw/pitch offsets from frontal.

    ``torch.manual_seed(seed)`` then :func:`render` inside ``torch.random.fork_rng`` (the caller's RNG state is
    untouched; ``seed=None`` uses and advances the current state instead). Options: see :func:`render`.
    """
    kwargs = dict(yaw=yaw, pitch=pitch, size=size, num_steps=num_steps, psi=psi, avg=avg, deterministic=deterministic, **options)
    if seed is None:
        return render(G, z_nerf, z_inr, **kwargs)["image"]
    device = _device(G)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return render(G, z_nerf, z_inr, **kwargs)["image"]
