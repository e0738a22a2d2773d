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


def save_pigan(folder: Path, tall: bool = False, z_dim: int = 16, hidden_dim: int = 32, seed: int = 0) -> Path:
    """Write ``generator.pth``, ``ema.pth`` and ``ema2.pth`` as pi-GAN's train.py does; EMA differs from raw."""
    folder.mkdir(parents=True, exist_ok=True)
    generator = ImplicitGenerator3d(TALLSIREN if tall else SPATIALSIRENBASELINE, z_dim, hidden_dim=hidden_dim)
    _randomize(generator, seed)
    with official_names():
        for name, shift in (("ema", 1), ("ema2", 2)):
            ema = ExponentialMovingAverage(generator.parameters(), 0.999)
            _randomize_list(ema.shadow_params, seed + shift)
            torch.save(ema, folder / f"{name}.pth")
        torch.save(generator, folder / "generator.pth")
    return folder / "generator.pth"


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


def save_gram(folder: Path, hidden_dim_sample: int = 128, z_dim: int = 16, hidden_dim: int = 32, seed: int = 0) -> Path:
    """Write ``generator.pth`` (a state dict) and ``ema.pth``/``ema2.pth`` as GRAM's training loop does.

    The radiance field is random; the sample network is set to ``s = 12 z' - 2`` with
    ``z' = z * 2/0.24 + 1.5`` (the official input transform), so its level sets 23..8 are planes
    across the face box, crossed front to back by every frontal ray, as trained manifolds are.
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
    with official_names():
        for name, shift in (("ema", 1), ("ema2", 2)):
            ema = ExponentialMovingAverage(generator.parameters(), 0.999)
            _randomize_list(ema.shadow_params, seed + shift)
            for index, (pname, param) in enumerate(generator.named_parameters()):
                if "output_sigma" in pname:
                    ema.shadow_params[index].mul_(4.0)
                if "sample_network" in pname:
                    ema.shadow_params[index].copy_(param.detach())  # keep the planar manifolds
            torch.save(ema, folder / f"{name}.pth")
    torch.save(generator.state_dict(), folder / "generator.pth")
    return folder / "generator.pth"
