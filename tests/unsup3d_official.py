"""Unsup3d Trainer checkpoints in the official format, built small, and the official demo's
inference as a reference.

The networks follow the official layer order (``unsup3d/networks.py``: ``EDDeconv`` for depth and
albedo, ``Encoder`` for light and view; every convolution without bias, the layers in a
``network`` Sequential, so the keys are ``network.<i>.weight``) at narrow widths. The file is what
``Trainer.save_checkpoint`` writes: the five state dicts, one Adam state per network, a pickled
``unsup3d.meters.MetricsTrace`` and the epoch, optionally in torch's pre-1.6 format with its
storages tagged ``cuda:0``, as files written on the authors' GPUs are.
"""

from __future__ import annotations

import copy
import math
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image
from torch import nn


class _Net(nn.Module):
    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.network = nn.Sequential(*layers)

    def forward(self, x):
        return self.network(x)


def encoder(cout: int, nf: int) -> _Net:
    """The official ``Encoder(cin=3, cout, nf)``."""
    layers = [nn.Conv2d(3, nf, 4, 2, 1, bias=False), nn.ReLU(),
              nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False), nn.ReLU(),
              nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False), nn.ReLU(),
              nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False), nn.ReLU(),
              nn.Conv2d(nf * 8, nf * 8, 4, 1, 0, bias=False), nn.ReLU(),
              nn.Conv2d(nf * 8, cout, 1, 1, 0, bias=False), nn.Tanh()]
    return _Net(layers)


def ed_deconv(cout: int, nf: int, zdim: int, tanh: bool) -> _Net:
    """The official ``EDDeconv(cin=3, cout, zdim, nf, activation)``; GroupNorm groups 16, 32, 64."""
    def gn(groups, channels):
        return nn.GroupNorm(groups, channels)

    layers = [
        nn.Conv2d(3, nf, 4, 2, 1, bias=False), gn(16, nf), nn.LeakyReLU(0.2),
        nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False), gn(32, nf * 2), nn.LeakyReLU(0.2),
        nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False), gn(64, nf * 4), nn.LeakyReLU(0.2),
        nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
        nn.Conv2d(nf * 8, zdim, 4, 1, 0, bias=False), nn.ReLU(),
        nn.ConvTranspose2d(zdim, nf * 8, 4, 1, 0, bias=False), nn.ReLU(),
        nn.Conv2d(nf * 8, nf * 8, 3, 1, 1, bias=False), nn.ReLU(),
        nn.ConvTranspose2d(nf * 8, nf * 4, 4, 2, 1, bias=False), gn(64, nf * 4), nn.ReLU(),
        nn.Conv2d(nf * 4, nf * 4, 3, 1, 1, bias=False), gn(64, nf * 4), nn.ReLU(),
        nn.ConvTranspose2d(nf * 4, nf * 2, 4, 2, 1, bias=False), gn(32, nf * 2), nn.ReLU(),
        nn.Conv2d(nf * 2, nf * 2, 3, 1, 1, bias=False), gn(32, nf * 2), nn.ReLU(),
        nn.ConvTranspose2d(nf * 2, nf, 4, 2, 1, bias=False), gn(16, nf), nn.ReLU(),
        nn.Conv2d(nf, nf, 3, 1, 1, bias=False), gn(16, nf), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.Conv2d(nf, nf, 3, 1, 1, bias=False), gn(16, nf), nn.ReLU(),
        nn.Conv2d(nf, nf, 5, 1, 2, bias=False), gn(16, nf), nn.ReLU(),
        nn.Conv2d(nf, cout, 5, 1, 2, bias=False),
    ]
    if tanh:
        layers.append(nn.Tanh())
    return _Net(layers)


def make_networks(seed: int = 0, nf: int = 16, zdim: int = 32, encoder_nf: int = 8) -> dict[str, _Net]:
    """Random-weight networks at narrow widths (the release: nf 64, zdim 256, encoder nf 32).
    Group norms get random affine parameters too, so a wrong group count would show."""
    torch.manual_seed(seed)
    nets = {"netD": ed_deconv(1, nf, zdim, tanh=False), "netA": ed_deconv(3, nf, zdim, tanh=True),
            "netL": encoder(4, encoder_nf), "netV": encoder(6, encoder_nf), "netC": ed_deconv(2, nf, zdim, tanh=False)}
    with torch.no_grad():
        for net in nets.values():
            for module in net.modules():
                if isinstance(module, nn.GroupNorm):
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.2, 0.2)
    return {name: net.eval() for name, net in nets.items()}


@contextmanager
def _official_modules():
    """``unsup3d.meters.MetricsTrace`` as the official code defines it (a plain class holding a
    dict), importable only while the file is written."""
    package, meters = types.ModuleType("unsup3d"), types.ModuleType("unsup3d.meters")

    class MetricsTrace:
        def __init__(self):
            self.data = {}

        def append(self, dataset, metric):
            self.data.setdefault(dataset, []).append(metric)

    MetricsTrace.__module__, MetricsTrace.__qualname__ = "unsup3d.meters", "MetricsTrace"
    meters.MetricsTrace = MetricsTrace
    package.meters = meters
    with mock.patch.dict(sys.modules, {"unsup3d": package, "unsup3d.meters": meters}):
        yield MetricsTrace


def save_checkpoint(path: Path, nets: dict[str, _Net], legacy: bool = False, cuda_tags: bool = False, epoch: int = 30) -> Path:
    """Write ``nets`` as ``Trainer.save_checkpoint`` does (``checkpoint{epoch:03}.pth``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    optimizers = {}
    for name, net in nets.items():  # one Adam step each (on a copy), so the optimizer states hold tensors as trained ones do
        trained = copy.deepcopy(net)
        optimizer = torch.optim.Adam(trained.parameters(), lr=1e-4, betas=(0.9, 0.999))
        trained(torch.zeros(1, 3, 64, 64)).sum().backward()
        optimizer.step()
        optimizers[name.replace("net", "optimizer")] = optimizer.state_dict()
    state = {**{name: net.state_dict() for name, net in nets.items()}, **optimizers, "epoch": epoch}
    tag = (lambda storage: "cuda:0") if cuda_tags else torch.serialization.location_tag
    with _official_modules() as MetricsTrace, mock.patch.object(torch.serialization, "location_tag", tag):
        trace = MetricsTrace()
        trace.append("train", {"loss": 0.25, "epoch": epoch})
        torch.save({**state, "metrics_trace": trace}, path, _use_new_zipfile_serialization=not legacy)
    return path


@torch.no_grad()
def official_demo(nets: dict[str, _Net], image: np.ndarray) -> dict[str, np.ndarray]:
    """What the official ``Demo.run`` computes for an [H,W,3] float image in [0,1] (no face
    detection): the canonical depth, albedo (/2 + 0.5), raw light and scaled view."""
    im = torch.FloatTensor(image).permute(2, 0, 1).unsqueeze(0)
    h, w = image.shape[:2]
    if h > 64 * 4 and w > 64 * 4:
        im = nn.functional.interpolate(im, (128, 128), mode="bilinear", align_corners=False)
    im = nn.functional.interpolate(im, (64, 64), mode="bilinear", align_corners=False)
    x = im * 2.0 - 1.0
    raw = nets["netD"](x).squeeze(1)
    depth = (raw - raw.view(1, -1).mean(1).view(1, 1, 1)).tanh()
    depth = (1 + depth) / 2 * 1.1 + (1 - depth) / 2 * 0.9
    border = nn.functional.pad(torch.zeros(1, 64, 60), (2, 2), mode="constant", value=1)
    depth = depth * (1 - border) + border * 1.05
    view = nets["netV"](x).reshape(1, -1)
    view = torch.cat([view[:, :3] * math.pi / 180 * 60, view[:, 3:5] * 0.1, view[:, 5:] * 0], 1)
    return {"depth": depth[0].numpy(), "albedo": (nets["netA"](x) / 2 + 0.5)[0].permute(1, 2, 0).numpy(),
            "light": nets["netL"](x).reshape(-1).numpy(), "view": view[0].numpy()}


def face_image(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth [size,size,3] test image in [0,1]: a bright oval on a darker ground, with noise."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size] / (size - 1) * 2 - 1
    oval = np.clip(1.2 - (xs / 0.7) ** 2 - (ys / 0.9) ** 2, 0, 1)
    image = 0.25 + 0.55 * oval[..., None] * np.array([1.0, 0.8, 0.7]) + 0.05 * rng.standard_normal((size, size, 3))
    return np.clip(image, 0, 1).astype(np.float32)


def save_png(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(path, format="PNG")
    return path
