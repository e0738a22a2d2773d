"""Tiny checkpoints in the exact official on-disk formats, built the way the official code saves them.

pi-GAN: ``torch.save(generator)`` of a whole ``generators.generators.ImplicitGenerator3d`` module
whose ``siren`` is a ``siren.siren.SPATIALSIRENBASELINE`` (or ``TALLSIREN``); GRAM:
``torch.save(generator.state_dict())``; both: ``torch.save(ema)`` of a
``torch_ema.ema.ExponentialMovingAverage`` with ``decay``, ``num_updates``, ``shadow_params`` and
``collected_params``. The classes below mirror the official layouts (attribute names, module order,
shapes) with small widths; they are registered under the official module names only while saving.
"""

from __future__ import annotations

import contextlib
import math
import sys
import types
from pathlib import Path

import torch
from torch import nn


class FiLMLayer(nn.Module):
    def __init__(self, input_dim, hidden_dim):
        super().__init__()
        self.layer = nn.Linear(input_dim, hidden_dim)


class CustomMappingNetwork(nn.Module):
    def __init__(self, z_dim, map_hidden_dim, map_output_dim):
        super().__init__()
        self.network = nn.Sequential(
            nn.Linear(z_dim, map_hidden_dim), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(map_hidden_dim, map_hidden_dim), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(map_hidden_dim, map_hidden_dim), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(map_hidden_dim, map_output_dim),
        )


class UniformBoxWarp(nn.Module):
    def __init__(self, sidelength):
        super().__init__()
        self.scale_factor = 2 / sidelength


class SPATIALSIRENBASELINE(nn.Module):
    def __init__(self, input_dim=3, z_dim=16, hidden_dim=32, output_dim=4, tall=False):
        super().__init__()
        self.network = nn.ModuleList([FiLMLayer(3, hidden_dim)] + [FiLMLayer(hidden_dim, hidden_dim) for _ in range(7)])
        self.final_layer = nn.Linear(hidden_dim, 1)
        self.color_layer_sine = FiLMLayer(hidden_dim + 3, hidden_dim)
        self.color_layer_linear = nn.Sequential(nn.Linear(hidden_dim, 3), *([nn.Sigmoid()] if tall else []))
        self.mapping_network = CustomMappingNetwork(z_dim, 24, (8 + 1) * hidden_dim * 2)
        if not tall:
            self.gridwarper = UniformBoxWarp(0.24)


class TALLSIREN(SPATIALSIRENBASELINE):
    def __init__(self, **kwargs):
        super().__init__(tall=True, **kwargs)


class ImplicitGenerator3d(nn.Module):
    def __init__(self, siren, z_dim, **kwargs):
        super().__init__()
        self.z_dim = z_dim
        self.siren = siren(output_dim=4, z_dim=z_dim, input_dim=3, **kwargs)
        self.epoch = 0
        self.step = 0
        self.device = torch.device("cpu")
        self.avg_frequencies = torch.zeros(1)
        self.avg_phase_shifts = torch.zeros(1)


class ExponentialMovingAverage:
    """fadel/pytorch_ema @3950a7b: the pickled object's __dict__ is exactly these four attributes."""

    def __init__(self, parameters, decay):
        self.decay = decay
        self.num_updates = 0
        self.shadow_params = [p.clone().detach() for p in parameters if p.requires_grad]
        self.collected_params = []


_OFFICIAL = {
    "siren.siren": (FiLMLayer, CustomMappingNetwork, UniformBoxWarp, SPATIALSIRENBASELINE, TALLSIREN),
    "generators.generators": (ImplicitGenerator3d,),
    "torch_ema.ema": (ExponentialMovingAverage,),
}


@contextlib.contextmanager
def official_names():
    """Make the classes above pickle as the official ones (``siren.siren.FiLMLayer``, ...)."""
    saved_modules = {}
    originals = {}
    try:
        for module_name, classes in _OFFICIAL.items():
            parts = module_name.split(".")
            for depth in range(1, len(parts) + 1):
                name = ".".join(parts[:depth])
                saved_modules[name] = sys.modules.get(name)
                sys.modules[name] = sys.modules.get(name) or types.ModuleType(name)
            for cls in classes:
                originals[cls] = (cls.__module__, cls.__qualname__)
                cls.__module__, cls.__qualname__ = module_name, cls.__name__
                setattr(sys.modules[module_name], cls.__name__, cls)
        yield
    finally:
        for cls, (module, qualname) in originals.items():
            cls.__module__, cls.__qualname__ = module, qualname
        for name, module in saved_modules.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _randomize(module: nn.Module, seed: int) -> None:
    """pi-GAN's and GRAM's own initialisation (siren.py / gram.py), seeded: SIREN layers
    U(+-sqrt(6/fan_in)/25), the first FiLM layer U(+-1/fan_in), mapping layers Kaiming (a=0.2)
    with the last one x0.25, biases U(+-1/sqrt(fan_in)) as torch's default."""
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            fan_in = p.shape[-1]
            if name.endswith("bias"):
                p.copy_((torch.rand(p.shape, generator=rng) * 2 - 1) / fan_in**0.5 if p.ndim else p)
                continue
            if "mapping_network" in name:
                bound = (2 / (1 + 0.2**2)) ** 0.5 / fan_in**0.5
                p.copy_(torch.randn(p.shape, generator=rng) * bound * (0.25 if name.endswith("6.weight") else 1.0))
            elif "network.0." in name and "sample" not in name:
                p.copy_((torch.rand(p.shape, generator=rng) * 2 - 1) / fan_in)
            else:
                p.copy_((torch.rand(p.shape, generator=rng) * 2 - 1) * (6 / fan_in) ** 0.5 / 25)


def save_pigan(folder: Path, tall: bool = False, z_dim: int = 16, hidden_dim: int = 32, seed: int = 0,
               head: bool = False) -> Path:
    """Write ``generator.pth``, ``ema.pth`` and ``ema2.pth`` as pi-GAN's train.py does; EMA differs from raw.

    ``head=True`` plants a smooth closed head (see :func:`_plant_head`) in the raw weights and in
    both EMA files, whose shadow weights then differ from the raw ones by 0.3 % of each weight.
    """
    folder.mkdir(parents=True, exist_ok=True)
    generator = ImplicitGenerator3d(TALLSIREN if tall else SPATIALSIRENBASELINE, z_dim, hidden_dim=hidden_dim)
    _randomize(generator, seed)
    if head:
        siren = generator.siren
        _plant_head(list(siren.network), siren.color_layer_sine, siren.mapping_network.network[6], siren.final_layer,
                    siren.color_layer_linear[0], warp=1.0 if tall else 2 / 0.24, size=2.0 if tall else 1.0, level=30.0,
                    sharpness=PIGAN_HEAD_SHARPNESS)
    with official_names():
        for name, shift in (("ema", 1), ("ema2", 2)):
            ema = ExponentialMovingAverage(generator.parameters(), 0.999)
            if head:
                _nudge_list(ema.shadow_params, seed + shift)
            else:
                _randomize_list(ema.shadow_params, seed + shift)
            torch.save(ema, folder / f"{name}.pth")
        torch.save(generator, folder / "generator.pth")
    return folder / "generator.pth"


HEAD_SEMI_AXES = (0.05, 0.065, 0.055)
"""The planted head's half width, height and depth in world units (metres) for a face box of
+-0.12 (UniformBoxWarp(0.24)): about half the box, taller than wide."""

HEAD_SKIN = (0.86, 0.66, 0.54)
"""The planted head's colour (sRGB, 0..1): a skin tone."""

_HEAD_Q = 0.5
"""The surface is sum_i (1 - cos(k_i u_i)) = 0.5 (k_i u_i = pi/3 on each axis)."""

_HEAD_GAIN = 0.5
"""Sine argument per unit of q in the density carrier: +0.25 rad at the centre, about -2.6 rad
at the box's corners (still negative: no density outside)."""

PIGAN_HEAD_SHARPNESS = 1.5e4
GRAM_HEAD_SHARPNESS = 2.2e3
"""Raw density per unit of the carried value (which changes by about 5 per metre of depth at a
face-sized head's surface): pi-GAN's density rises by about 80 per mm, GRAM's by about 12 per mm.
Steeper fields put the relu (softplus) floor less than a marching-cubes cell (1.2 mm at 256^3)
outside the level, so the mesh snaps to the lattice (terraced faces, seams across the face
chart); gentler ones blur pi-GAN's volume-rendered silhouette."""

_HEAD_Z_VARIATION = 0.05
"""The mapping network's last weights are scaled by this: each latent gives nearly the same head."""


def _plant_head(film_layers, colour_film, mapping_last, density_head, colour_head, warp: float, size: float,
                level: float, sharpness: float) -> None:
    """Set a FiLM-SIREN's weights so its density is a smooth closed ellipsoid with skin colour.

    Every FiLM layer runs at frequency 30 (raw mapping output 0, as ``*15 + 30`` turns it) with
    its weights divided by 30. Layer 0's units 0-2 are ``cos(k_i u_i)`` (phase pi/2) on the warped
    point ``u = warp * x``; layer 1's unit 0 is ``sin(g (q_s - q))`` with
    ``q = sum_i (1 - cos(k_i u_i))``, positive inside the ellipsoid ``q < q_s``; layers 2-7 carry it
    on with unit gain (``sin(t)``, monotone), and ``density_head`` reads it as
    ``sharpness * t + level``, so the surface at ``level`` is the ellipsoid. Layer 0's
    unit 3, ``sin(k u_y)``, is carried the same way (unit 1) to the colour layer, which shades the
    skin a little lighter toward the crown. The other units keep their random weights but no
    planted unit reads them; the colour head's random weights add a faint texture.

    Args:
        film_layers: the eight FiLM layers (``.layer`` Linear each).
        colour_film: the FiLM colour layer on ``[view_dir, x]``.
        mapping_last: the mapping network's last Linear (frequencies, then phase shifts).
        density_head: Linear(hidden, 1) reading the last FiLM layer.
        colour_head: Linear(hidden, 3) reading the colour FiLM layer (before the sigmoid).
        warp: the radiance network's input scale (2/0.24 for faces, 1 without a box warp).
        size: the head's size relative to :data:`HEAD_SEMI_AXES`.
        level: the family's documented density level, put on the surface.
        sharpness: raw density per unit of the carried value (:data:`PIGAN_HEAD_SHARPNESS`).
    """
    hidden = film_layers[0].layer.weight.shape[0]
    frequency = 30.0
    with torch.no_grad():
        mapping_last.weight.mul_(_HEAD_Z_VARIATION)

        def modulate(index: int, unit: int, phase: float) -> None:
            mapping_last.bias[index * hidden + unit] = 0.0  # frequency 0 * 15 + 30
            mapping_last.bias[(len(film_layers) + 1) * hidden + index * hidden + unit] = phase

        def unit_row(layer: nn.Linear, unit: int, weights: dict[int, float], bias: float = 0.0) -> None:
            layer.weight[unit].zero_()
            for column, value in weights.items():
                layer.weight[unit, column] = value / frequency
            layer.bias[unit] = bias / frequency

        first = film_layers[0].layer
        for axis, semi_axis in enumerate(HEAD_SEMI_AXES):
            wavenumber = math.acos(1 - _HEAD_Q) / (semi_axis * size * warp)
            unit_row(first, axis, {axis: wavenumber})
            modulate(0, axis, math.pi / 2)
        box = 0.15 * size * warp  # the meshing box's half side, warped
        unit_row(first, 3, {1: 1.0 / box})
        modulate(0, 3, 0.0)
        unit_row(film_layers[1].layer, 0, {0: _HEAD_GAIN, 1: _HEAD_GAIN, 2: _HEAD_GAIN}, -_HEAD_GAIN * (3 - _HEAD_Q))
        unit_row(film_layers[1].layer, 1, {3: 1.0})
        for index in (1, 2, 3, 4, 5, 6, 7):
            if index > 1:
                unit_row(film_layers[index].layer, 0, {0: 1.0})
                unit_row(film_layers[index].layer, 1, {1: 1.0})
            modulate(index, 0, 0.0)
            modulate(index, 1, 0.0)
        unit_row(colour_film.layer, 0, {3 + 1: 1.0})  # after the view direction's three inputs
        modulate(len(film_layers), 0, 0.0)
        density_head.weight.zero_()
        density_head.weight[0, 0] = sharpness
        density_head.bias.fill_(level)
        colour_head.weight[:, 0] = 0.4  # lighter toward the crown
        colour_head.bias.copy_(torch.logit(torch.tensor(HEAD_SKIN)))


def _nudge_list(tensors, seed: int, scale: float = 0.003) -> None:
    """Move every shadow tensor by ``scale`` of each of its own values: EMA weights that keep a planted shape."""
    rng = torch.Generator().manual_seed(seed)
    for t in tensors:
        t.add_(torch.randn(t.shape, generator=rng) * scale * t)


def _randomize_list(tensors, seed: int) -> None:
    """Move every shadow tensor by 20 % of its own spread: EMA weights close to, but not equal to, the raw ones."""
    rng = torch.Generator().manual_seed(seed)
    for t in tensors:
        t.add_(torch.randn(t.shape, generator=rng) * 0.2 * (t.std() if t.numel() > 1 else t.abs()))


class GramSample(nn.Module):
    def __init__(self, hidden_dim_sample=128):
        super().__init__()
        h = hidden_dim_sample
        self.network = nn.Sequential(nn.Linear(3, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.output_layer = nn.Linear(h, 1)


class GramRF(nn.Module):
    def __init__(self, z_dim=16, hidden_dim=32):
        super().__init__()
        self.network = nn.ModuleList([FiLMLayer(3, hidden_dim)] + [FiLMLayer(hidden_dim, hidden_dim) for _ in range(7)])
        self.color_layer = nn.ModuleList([FiLMLayer(hidden_dim + 3, hidden_dim)])
        self.output_sigma = nn.ModuleList([nn.Linear(hidden_dim, 1) for _ in range(7)])
        self.output_color = nn.ModuleList([nn.Linear(hidden_dim, 3) for _ in range(7)])
        self.mapping_network = CustomMappingNetwork(z_dim, 24, 9 * hidden_dim * 2)


class Gram(nn.Module):
    def __init__(self, z_dim, hidden_dim, hidden_dim_sample):
        super().__init__()
        self.sample_network = GramSample(hidden_dim_sample)
        self.rf_network = GramRF(z_dim, hidden_dim)


class GramGenerator(nn.Module):
    def __init__(self, z_dim=16, hidden_dim=32, hidden_dim_sample=128):
        super().__init__()
        self.representation = Gram(z_dim, hidden_dim, hidden_dim_sample)


def save_gram(folder: Path, hidden_dim_sample: int = 128, z_dim: int = 16, hidden_dim: int = 32, seed: int = 0,
              head: bool = False) -> Path:
    """Write ``generator.pth`` (a state dict) and ``ema.pth``/``ema2.pth`` as GRAM's training loop does.

    The radiance field is random; the sample network is set to ``s = 12 z' - 2`` with
    ``z' = z * 2/0.24 + 1.5`` (the official input transform), so its level sets 23..8 are planes
    across the face box, crossed front to back by every frontal ray, as trained manifolds are.
    ``head=True`` plants a smooth closed head (:func:`_plant_head`) in the radiance field, read by
    the last density and colour heads (the others are zeroed), at GRAM's level ln 2 / 0.04; the EMA
    files then differ from the raw weights by 0.3 % of each weight.
    """
    folder.mkdir(parents=True, exist_ok=True)
    generator = GramGenerator(z_dim, hidden_dim, hidden_dim_sample)
    _randomize(generator, seed)
    with torch.no_grad():
        for p in generator.representation.rf_network.output_sigma.parameters():
            p.mul_(4.0)  # denser fields, so renders and meshes have something to show
        sample = generator.representation.sample_network
        for layer in (sample.network[0], sample.network[2], sample.network[4], sample.output_layer):
            layer.weight.zero_()
            layer.bias.zero_()
        sample.network[0].weight[0, 2], sample.network[0].weight[1, 2] = 1.0, -1.0  # relu(z'), relu(-z')
        for layer in (sample.network[2], sample.network[4]):
            layer.weight[0, 0], layer.weight[1, 1] = 1.0, 1.0
        sample.output_layer.weight[0, 0], sample.output_layer.weight[0, 1] = 12.0, -12.0
        sample.output_layer.bias[0] = -2.0
        if head:
            rf = generator.representation.rf_network
            for heads in (rf.output_sigma, rf.output_color):
                for layer in heads[:-1]:
                    layer.bias.zero_()
            for layer in rf.output_sigma[:-1]:
                layer.weight.zero_()
            _plant_head(list(rf.network), rf.color_layer[0], rf.mapping_network.network[6], rf.output_sigma[-1],
                        rf.output_color[-1], warp=2 / 0.24, size=1.0, level=math.log(2) / 0.04,
                        sharpness=GRAM_HEAD_SHARPNESS)
    with official_names():
        for name, shift in (("ema", 1), ("ema2", 2)):
            ema = ExponentialMovingAverage(generator.parameters(), 0.999)
            if head:
                _nudge_list(ema.shadow_params, seed + shift)
            else:
                _randomize_list(ema.shadow_params, seed + shift)
            for index, (pname, param) in enumerate(generator.named_parameters()):
                if "output_sigma" in pname and not head:
                    ema.shadow_params[index].mul_(4.0)
                if "sample_network" in pname:
                    ema.shadow_params[index].copy_(param.detach())  # keep the planar manifolds
            torch.save(ema, folder / f"{name}.pth")
    torch.save(generator.state_dict(), folder / "generator.pth")
    return folder / "generator.pth"
