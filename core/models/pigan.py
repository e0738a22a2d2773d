"""pi-GAN (Chan et al., CVPR 2021): official ``generator.pth`` + ``ema.pth``, our own inference.

Facts from the official repository (marcoamonteiro/pi-GAN): ``generator.pth`` is a whole pickled
``generators.generators.ImplicitGenerator3d`` holding ``siren`` (``siren.siren.SPATIALSIRENBASELINE``
for CelebA and Cats, ``TALLSIREN`` for CARLA); ``ema.pth`` is a pickled
``torch_ema.ema.ExponentialMovingAverage`` whose ``shadow_params`` follow
``generator.parameters()``. The field (``siren/siren.py``):

* points are scaled by ``UniformBoxWarp(0.24)`` (x 2/0.24) for SPATIALSIRENBASELINE, not for TALLSIREN;
* eight FiLM-SIREN layers, modulated by the mapping network's frequencies (x15 + 30) and phases;
* raw density = ``final_layer(x)``; density = relu(raw) (``clamp_mode='relu'`` in every curriculum);
* colour = sigmoid(``color_layer_linear(sin(FiLM(color_layer_sine, [view_dir, x])))``).

Meshing: pi-GAN's ``extract_shapes.py`` samples the cube [-0.15, 0.15]^3; the authors suggest a
level "around 30" on the raw density (issue #3), so the default level is 30 (relu keeps it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..cameras import PIGAN_CONVENTION, CameraSpec
from ..checkpoints import TORCH_NN_CLASSES, PickleSummary, file_sha256, module_parameters, safe_load
from ..device import DeviceLike, resolve_device
from ..errors import CheckpointError, InputError
from ..fields import Y_UP_METRES, BaseField, Bounds, FieldSample
from ..render import RenderSettings
from . import releases
from .base import Generator
from .layers import linear_from
from .registry import FamilySpec
from .siren import (
    EMA_GLOBAL,
    EMA_OPTION,
    apply_ema,
    average_mapping,
    check_ema_choice,
    ema_companions,
    film,
    mapping_layers,
    truncated_modulation,
)

PIGAN_CLASSES = (
    "generators.generators.ImplicitGenerator3d",
    "siren.siren.SPATIALSIRENBASELINE",
    "siren.siren.TALLSIREN",
    "siren.siren.FiLMLayer",
    "siren.siren.CustomMappingNetwork",
    "siren.siren.UniformBoxWarp",
) + TORCH_NN_CLASSES
"""Every class an official pi-GAN generator.pth names (``siren/siren.py``, ``generators/generators.py``)."""

NUM_FILM_LAYERS = 8
DEFAULT_LEVEL = 30.0
"""The pi-GAN authors' suggested level on the raw density (issue #3); density = relu(raw)."""

FRAME = Y_UP_METRES
"""A CelebA head spans about 0.24 units: pi-GAN's world is already life-size in metres, y up."""


_VARIANTS = {
    # curriculums.py: CelebA/Cats fov 12, ray 0.88-1.12 (Cats 0.8-1.2), black background;
    # CARLA fov 30, ray 0.7-1.3, white background. Eval scripts use 24 + 24 samples; face
    # previews lock the view dependence (colour seen from the front), as the paper's renders do.
    "SPATIALSIRENBASELINE": dict(
        camera=CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=12.0), bounds=Bounds((-0.15,) * 3, (0.15,) * 3),
        settings=RenderSettings(num_coarse=24, num_fine=24, background=(0.0, 0.0, 0.0), lock_view_dependence=True),
    ),
    "TALLSIREN": dict(
        camera=CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=30.0), bounds=Bounds((-0.3,) * 3, (0.3,) * 3),
        settings=RenderSettings(num_coarse=48, num_fine=48, background=(1.0, 1.0, 1.0)),
    ),
}


class PiganWeights:
    """The SIREN's weights, read from a parameter dict named as in the official module."""

    def __init__(self, params: dict[str, torch.Tensor], warp_scale: float | None) -> None:
        prefix = "siren."
        self.film = [linear_from(params, f"{prefix}network.{i}.layer") for i in range(NUM_FILM_LAYERS)]
        hidden = self.film[0].shape[0]
        self.final = linear_from(params, f"{prefix}final_layer", (1, hidden))
        self.color_film = linear_from(params, f"{prefix}color_layer_sine.layer", (hidden, hidden + 3))
        self.color_out = linear_from(params, f"{prefix}color_layer_linear.0", (3, hidden))
        self.mapping = mapping_layers(params, f"{prefix}mapping_network")
        if self.mapping[-1].shape[0] != (NUM_FILM_LAYERS + 1) * hidden * 2:
            raise CheckpointError(
                f"the mapping network outputs {self.mapping[-1].shape[0]} values; "
                f"{(NUM_FILM_LAYERS + 1) * hidden * 2} are needed for {NUM_FILM_LAYERS + 1} FiLM layers of width {hidden}"
            )
        self.hidden = hidden
        self.z_dim = self.mapping[0].shape[1]
        self.warp_scale = warp_scale

    def to(self, device: torch.device) -> "PiganWeights":
        for name in ("final", "color_film", "color_out"):
            setattr(self, name, getattr(self, name).to(device))
        self.film = [layer.to(device) for layer in self.film]
        self.mapping = [layer.to(device) for layer in self.mapping]
        return self


def read_generator(path: str | Path) -> tuple[str, dict[str, torch.Tensor], float | None]:
    """Read an official pi-GAN ``generator.pth`` safely.

    Returns:
        The SIREN variant (class name), the parameters in ``generator.parameters()`` order, and the
        box-warp scale (None when the model has no warp).

    Raises:
        CheckpointError: for a file that is not a pi-GAN generator.
    """
    generator = safe_load(path, PIGAN_CLASSES)
    if type(generator).__qualname__ != "ImplicitGenerator3d":
        raise CheckpointError(f"{path} is not a pi-GAN generator.pth (it holds {type(generator).__name__})")
    siren = (getattr(generator, "_modules", None) or {}).get("siren")
    variant = type(siren).__qualname__ if siren is not None else None
    if variant not in _VARIANTS:
        raise CheckpointError(f"{path} holds a pi-GAN SIREN of type {variant}; aware3d reads SPATIALSIRENBASELINE and TALLSIREN")
    warper = (getattr(siren, "_modules", None) or {}).get("gridwarper")
    warp_scale = float(warper.scale_factor) if warper is not None else None
    return variant, module_parameters(generator), warp_scale


class PiganField(BaseField):
    """One pi-GAN identity; points in pi-GAN's world (y up, face toward +z, camera at radius 1)."""

    default_level = DEFAULT_LEVEL
    frame = FRAME

    def __init__(self, weights: PiganWeights, frequencies, phases, bounds: Bounds, device: torch.device) -> None:
        super().__init__(bounds, device)
        self.weights, self.frequencies, self.phases = weights, frequencies, phases

    def _modulation(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.weights.hidden
        return self.frequencies[index * hidden : (index + 1) * hidden], self.phases[index * hidden : (index + 1) * hidden]

    def _trunk(self, points: torch.Tensor) -> torch.Tensor:
        x = points * self.weights.warp_scale if self.weights.warp_scale is not None else points
        for index, layer in enumerate(self.weights.film):
            x = film(layer, x, *self._modulation(index))
        return x

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.weights.final(self._trunk(points))[:, 0])

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        x = self._trunk(points)
        raw = self.weights.final(x)[:, 0]
        colour = film(self.weights.color_film, torch.cat([view_dirs, x], dim=-1), *self._modulation(NUM_FILM_LAYERS))
        rgb = torch.sigmoid(self.weights.color_out(colour))
        return FieldSample(density=torch.relu(raw), rgb=rgb, raw_density=raw)


class PiganGenerator(Generator):
    """pi-GAN from an official ``generator.pth`` (with ``ema.pth`` beside it)."""

    family = "pigan"

    def __init__(self, path: str | Path, device: DeviceLike = "auto", ema: str = "ema") -> None:
        check_ema_choice(ema)
        self.device = resolve_device(device)
        variant, params, warp_scale = read_generator(path)
        params = apply_ema(path, params, ema)
        self.weights = PiganWeights(params, warp_scale).to(self.device)
        config = _VARIANTS[variant]
        self.camera, self.render_settings, self._bounds = config["camera"], config["settings"], config["bounds"]
        self.z_dim = self.weights.z_dim
        with torch.inference_mode():
            self._average = average_mapping(self.weights.mapping, self.z_dim)
        self.info = {
            "family": self.family, "variant": variant, "learned": True, "checkpoint_sha256": file_sha256(path),
            "ema": ema, "z_dim": self.z_dim, "hidden_dim": self.weights.hidden, "default_level": DEFAULT_LEVEL,
            "default_pose": {"yaw": 0.0, "pitch": 0.0, "radius": self.camera.radius, "fov": self.camera.fov},
            "units": "pi-GAN world units (about metres for faces)", "device": str(self.device),
        }

    @torch.inference_mode()
    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> PiganField:
        if conditioning is not None:
            raise InputError("pi-GAN takes no conditioning; pass conditioning=None")
        frequencies, phases = truncated_modulation(self.weights.mapping, z, truncation, self._average)
        return PiganField(self.weights, frequencies, phases, self._bounds, self.device)


def load(path: str | None, device: DeviceLike = "auto", ema: str = "ema") -> PiganGenerator:
    """Build pi-GAN from ``path`` (a generator.pth); ``ema`` picks ema.pth, ema2.pth or none."""
    if path is None:
        raise InputError("pi-GAN needs its generator.pth: pass --checkpoint PATH/generator.pth")
    return PiganGenerator(path, device, ema)


_HELPER_CLASSES = ("FiLMLayer", "CustomMappingNetwork", "UniformBoxWarp")


def variant(path: Path, summary: PickleSummary) -> str | None:
    """The SIREN class a generator.pth names (SPATIALSIRENBASELINE or TALLSIREN), from its opcodes."""
    for name in sorted(summary.globals):
        if name.startswith("siren.siren.") and name.split(".")[-1] not in _HELPER_CLASSES:
            return name.split(".")[-1]
    return None


FAMILY = FamilySpec(
    name="pigan",
    title="pi-GAN (Chan et al., CVPR 2021)",
    files="generator.pth with ema.pth beside it (CelebA, Cats, CARLA zips)",
    licence=releases.PIGAN_LICENCE,
    loader=load,
    convention=PIGAN_CONVENTION,
    frame=FRAME,
    options=(EMA_OPTION,),
    default_level=DEFAULT_LEVEL,
    pickle_globals=("siren.siren", "generators.generators"),
    companions={EMA_GLOBAL: "EMA weights (torch_ema)"},
    variant=variant,
    standins=PIGAN_CLASSES,
    companion_files=ema_companions,
    releases=releases.PIGAN_RELEASES,
)
