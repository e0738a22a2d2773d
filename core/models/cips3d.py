"""CIPS-3D (Zhou et al., 2021): the released ``G_ema.pth`` state dicts, aware3d's own inference.

Facts (PeterouZh/CIPS-3D ``exp/cips3d/models/generator.py``, ``exp/comm/models/film_layer.py``,
``multi_head_mapping.py``, ``cips_net.py``, ``exp/pigan/pigan_utils.py``; read for conventions):

* ``siren`` (the NeRF): points times 2/0.24, FiLM-SIREN layers ``sin((gain_fc(s) * 15 + 30) *
  linear(x) + bias_fc(s))``, ``final_layer`` -> raw sigma (relu at render time), then a FiLM layer
  to half the width and ``color_layer_linear`` -> a 32-channel feature (no activation); ray
  directions are not used;
* ``mapping_network_nerf``: PixelNorm(z_nerf), Linear/LeakyReLU(0.2) layers; its heads are
  identities, so one style drives every NeRF layer;
* ``inr_net`` (CIPSNet): nine blocks ``'4' ... '1024'``, each two modulated 1x1 layers
  (``w = weight * (modulation(s) + 1)``, demodulated over the inputs, no bias) with LeakyReLU(0.2);
  blocks from index 4 add their input; ToRGB linears from index 3 are summed; tanh. It maps each
  pixel's integrated feature to colour independently (a 2-D network);
* ``mapping_network_inr``: PixelNorm(z_inr), Linear/LayerNorm/LeakyReLU layers ending in a
  LayerNorm; one style drives every INR layer;
* ``aux_to_rbg``: tanh(Linear(32, 3)), a colour per 3-D point (used in training);
* latents z_nerf (256) and z_inr (512); truncation ``avg + psi (style - avg)`` per style, the
  average over 10 000 random latents (aware3d draws them once from a fixed seed);
* images: pi-GAN's camera (radius 1, fov 12, rays 0.88-1.12), the feature integrated along each ray,
  then the INR; images map tanh's [-1, 1] to [0, 1].

aware3d's latent is z_nerf ++ z_inr (768 numbers). Meshes take their colour from ``aux_to_rbg``,
the 3-D-consistent head; previews are CIPS-3D's own images (features integrated, then the INR).
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..cameras import PIGAN_CONVENTION, Camera, CameraSpec, Pose, pose_to_camera
from ..checkpoints import PickleSummary, check_finite_weights, file_sha256, safe_load
from ..device import DeviceLike, resolve_device
from ..errors import CheckpointError, InputError
from ..fields import Y_UP_METRES, BaseField, Bounds, FieldSample
from ..progress import ProgressCallback
from ..render import (
    RenderResult,
    RenderSettings,
    VolumeSamples,
    alpha_weights,
    density_query,
    expected_depth,
    inside_bounds,
    query_along,
    render_features,
    sample_pdf,
    select_rays,
)
from . import releases
from .base import TRUNCATION_NUM_SAMPLES, TRUNCATION_SEED, Generator
from .layers import linear_from
from .registry import FamilySpec

BOX_WARP = 2 / 0.24
FILM_GAIN_SCALE, FILM_GAIN_BIAS = 15.0, 30.0
SLOPE = 0.2
INR_SKIP_FROM, INR_RGB_FROM = 4, 3
"""CIPSNet adds a block's input from block index 4 and sums ToRGB outputs from index 3."""

NUM_STEPS = 24
"""Coarse and fine samples per ray in aware3d's previews (the web demo's ``num_steps``)."""

DEFAULT_LEVEL = 30.0
"""CIPS-3D ships no mesh script; its NeRF, camera, ray range and relu density are pi-GAN's, so the
level is the pi-GAN authors' suggestion for pi-GAN's raw density (issue #3: "around 30"). One of
the 24 intervals over the 0.24-long rays is then 27 % opaque."""

BOUNDS = Bounds((-0.15,) * 3, (0.15,) * 3)
"""pi-GAN's ``extract_shapes.py`` cube, which CIPS-3D's repository carries; its rays span +-0.12."""

FRAME = Y_UP_METRES
"""pi-GAN's world (radius-1 camera, fov 12): already about metres for faces."""


class FiLM:
    """A FiLM-SIREN layer of ``film_layer.FiLMLayer``."""

    def __init__(self, params: dict[str, torch.Tensor], prefix: str) -> None:
        self.linear = linear_from(params, f"{prefix}.linear")
        self.gain = linear_from(params, f"{prefix}.gain_fc")
        self.bias = linear_from(params, f"{prefix}.bias_fc")
        if self.gain.shape[0] != self.linear.shape[0] or self.bias.shape != self.gain.shape:
            raise CheckpointError(f"{prefix}: the style layers do not match the layer's width {self.linear.shape[0]}")

    def to(self, device: torch.device) -> "FiLM":
        self.linear, self.gain, self.bias = self.linear.to(device), self.gain.to(device), self.bias.to(device)
        return self

    def __call__(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return torch.sin((self.gain(style) * FILM_GAIN_SCALE + FILM_GAIN_BIAS) * self.linear(x) + self.bias(style))


class MappingMLP:
    """A ``MultiHeadMappingNetwork`` base: PixelNorm, then its ``base_net`` Sequential rebuilt from the
    state dict: 2-D weights are Linear layers, 1-D ones LayerNorms, and the parameter-free indices
    between them the LeakyReLU(0.2) activations."""

    def __init__(self, params: dict[str, torch.Tensor], prefix: str) -> None:
        indices = sorted({int(m.group(1)) for key in params if (m := re.fullmatch(rf"{re.escape(prefix)}\.(\d+)\.weight", key))})
        if not indices:
            raise CheckpointError(f"the checkpoint has no {prefix} layers; is it a CIPS-3D G_ema.pth?")
        self.steps: list[tuple[str, Any]] = []
        for index in range(indices[-1] + 1):
            weight = params.get(f"{prefix}.{index}.weight")
            if weight is None:
                self.steps.append(("lrelu", None))
            elif weight.ndim == 2:
                self.steps.append(("linear", linear_from(params, f"{prefix}.{index}")))
            else:
                self.steps.append(("norm", (weight.detach().float(), params[f"{prefix}.{index}.bias"].detach().float())))
        self.in_features = next(step[1].shape[1] for step in self.steps if step[0] == "linear")

    def to(self, device: torch.device) -> "MappingMLP":
        self.steps = [(kind, value.to(device) if kind == "linear" else tuple(t.to(device) for t in value) if kind == "norm" else None)
                      for kind, value in self.steps]
        return self

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for kind, value in self.steps:
            if kind == "linear":
                x = value(x)
            elif kind == "norm":
                x = F.layer_norm(x, (x.shape[-1],), value[0], value[1], 1e-5)
            else:
                x = F.leaky_relu(x, SLOPE)
        return x


class StyleMod:
    """``SinStyleMod``: a modulated, demodulated 1x1 layer without bias (its LayerNorm is unused)."""

    def __init__(self, params: dict[str, torch.Tensor], prefix: str) -> None:
        weight = params.get(f"{prefix}.weight")
        if weight is None or weight.ndim != 3 or weight.shape[0] != 1:
            raise CheckpointError(f"the checkpoint has no [1,in,out] {prefix}.weight; is it a CIPS-3D G_ema.pth?")
        self.weight = weight.detach().float()[0]  # [in,out]
        self.modulation = linear_from(params, f"{prefix}.modulation")
        if self.modulation.shape[0] != self.weight.shape[0]:
            raise CheckpointError(f"{prefix}.modulation has {self.modulation.shape[0]} outputs for {self.weight.shape[0]} inputs")

    def to(self, device: torch.device) -> "StyleMod":
        self.weight, self.modulation = self.weight.to(device), self.modulation.to(device)
        return self

    def modulated(self, style: torch.Tensor) -> torch.Tensor:
        """The [in,out] weight for one style [style_dim] (computed once per identity)."""
        weight = self.weight * (self.modulation(style) + 1).reshape(-1, 1)
        return weight * torch.rsqrt(weight.square().sum(dim=0, keepdim=True) + 1e-8)


class Cips3DWeights:
    """Every network of a ``G_ema.pth``, widths read from the shapes."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        count = sum(1 for key in params if re.fullmatch(r"siren\.network\.\d+\.linear\.weight", key))
        if count == 0:
            raise CheckpointError("the checkpoint has no siren.network layers; is it a CIPS-3D G_ema.pth?")
        self.nerf = [FiLM(params, f"siren.network.{i}") for i in range(count)]
        hidden = self.nerf[-1].linear.shape[0]
        self.final = linear_from(params, "siren.final_layer", (1, hidden))
        self.colour_film = FiLM(params, "siren.color_layer_sine")
        self.colour_linear = linear_from(params, "siren.color_layer_linear.0")
        self.mapping_nerf = MappingMLP(params, "mapping_network_nerf.base_net")
        self.mapping_inr = MappingMLP(params, "mapping_network_inr.base_net")
        names = sorted({m.group(1) for key in params if (m := re.fullmatch(r"inr_net\.network\.(\d+)\.mod1\.weight", key))}, key=int)
        if not names:
            raise CheckpointError("the checkpoint has no inr_net blocks; is it a CIPS-3D G_ema.pth?")
        self.inr_blocks = [(StyleMod(params, f"inr_net.network.{n}.mod1"), StyleMod(params, f"inr_net.network.{n}.mod2")) for n in names]
        self.to_rgbs = [linear_from(params, f"inr_net.to_rgbs.{n}.linear") for n in names]
        self.pre_tanh = linear_from(params, "inr_net.tanh.0") if "inr_net.tanh.0.weight" in params else None
        self.aux = linear_from(params, "aux_to_rbg.0", (3, self.colour_linear.shape[0]))
        self.feature_dim = self.colour_linear.shape[0]
        if self.inr_blocks[0][0].weight.shape[0] != self.feature_dim:
            raise CheckpointError(f"the INR reads {self.inr_blocks[0][0].weight.shape[0]} channels, the NeRF gives {self.feature_dim}")
        self.z_nerf, self.z_inr = self.mapping_nerf.in_features, self.mapping_inr.in_features

    def to(self, device: torch.device) -> "Cips3DWeights":
        for film in (*self.nerf, self.colour_film):
            film.to(device)
        for name in ("final", "colour_linear", "aux"):
            setattr(self, name, getattr(self, name).to(device))
        self.mapping_nerf.to(device)
        self.mapping_inr.to(device)
        for mod1, mod2 in self.inr_blocks:
            mod1.to(device)
            mod2.to(device)
        self.to_rgbs = [layer.to(device) for layer in self.to_rgbs]
        self.pre_tanh = None if self.pre_tanh is None else self.pre_tanh.to(device)
        return self


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A ``G_ema.pth`` (a state dict, CUDA storages mapped to the CPU), read weights-only.

    Raises:
        CheckpointError: for a file that is not a state dict.
    """
    state = safe_load(path)
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a CIPS-3D G_ema.pth state dict (it holds a {type(state).__name__})")
    return {str(k): v for k, v in state.items() if isinstance(v, torch.Tensor)}


class Cips3DField(BaseField):
    """One CIPS-3D identity in pi-GAN's world: relu density, the 32-channel feature, and the
    auxiliary 3-D colour; ``features_to_rgb`` is its INR (per pixel, per point)."""

    default_level = DEFAULT_LEVEL
    frame = FRAME

    def __init__(self, weights: Cips3DWeights, nerf_style: torch.Tensor, inr_style: torch.Tensor, device: torch.device) -> None:
        super().__init__(BOUNDS, device)
        self.weights, self.nerf_style = weights, nerf_style
        self.inr_layers = [(mod1.modulated(inr_style), mod2.modulated(inr_style)) for mod1, mod2 in weights.inr_blocks]

    def _trunk(self, points: torch.Tensor) -> torch.Tensor:
        x = points * BOX_WARP
        for layer in self.weights.nerf:
            x = layer(x, self.nerf_style)
        return x

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        x = self._trunk(points)
        raw = self.weights.final(x)[:, 0]
        features = self.weights.colour_linear(self.weights.colour_film(x, self.nerf_style))
        rgb = (torch.tanh(self.weights.aux(features)) + 1) / 2
        return FieldSample(density=F.relu(raw), rgb=rgb, raw_density=raw, features=features)

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return F.relu(self.weights.final(self._trunk(points))[:, 0])

    @torch.inference_mode()
    def features_to_rgb(self, features: torch.Tensor) -> torch.Tensor:
        """CIPS-3D's INR on [N,32] features -> [N,3] colour in [0, 1] (each row independently)."""
        x = features.to(self.device, torch.float32)
        rgb = None
        for index, ((mod1, mod2), to_rgb) in enumerate(zip(self.inr_layers, self.weights.to_rgbs)):
            out = F.leaky_relu(F.leaky_relu(x @ mod1, SLOPE) @ mod2, SLOPE)
            x = out + x if index >= INR_SKIP_FROM and out.shape[-1] == x.shape[-1] else out
            if index >= INR_RGB_FROM:
                rgb = to_rgb(x) if rgb is None else rgb + to_rgb(x)
        if self.weights.pre_tanh is not None:
            rgb = self.weights.pre_tanh(rgb)
        return (torch.tanh(rgb) + 1) / 2


class Cips3DGenerator(Generator):
    """CIPS-3D from a released ``G_ema.pth``."""

    family = "cips3d"

    def __init__(self, path: str | Path, device: DeviceLike = "auto") -> None:
        self.device = resolve_device(device)
        params = read_state_dict(path)
        check_finite_weights(path, params.items())
        self.weights = Cips3DWeights(params).to(self.device)
        self.z_dim = self.weights.z_nerf + self.weights.z_inr
        self.camera = CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=12.0)
        self.render_settings = RenderSettings(num_coarse=NUM_STEPS, num_fine=NUM_STEPS, lock_view_dependence=True)
        """Used when a caller asks for aware3d's box renderer; previews use :func:`render_cips3d`."""
        with torch.inference_mode():
            self._averages = self._average_styles()
        self.info = {
            "family": self.family, "variant": f"CIPSNet {len(self.weights.inr_blocks)} blocks, feature {self.weights.feature_dim}",
            "learned": True, "checkpoint_sha256": file_sha256(path), "z_dim": self.z_dim,
            "z_nerf": self.weights.z_nerf, "z_inr": self.weights.z_inr, "default_level": DEFAULT_LEVEL,
            "default_pose": {"yaw": 0.0, "pitch": 0.0, "radius": self.camera.radius, "fov": self.camera.fov},
            "units": "pi-GAN world units (about metres for faces)", "device": str(self.device),
        }

    def _average_styles(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean NeRF and INR styles of 10 000 latents drawn once from a fixed seed (z_nerf, then z_inr)."""
        rng = torch.Generator(device="cpu").manual_seed(TRUNCATION_SEED)
        z_nerf = torch.randn(TRUNCATION_NUM_SAMPLES, self.weights.z_nerf, generator=rng).to(self.device)
        z_inr = torch.randn(TRUNCATION_NUM_SAMPLES, self.weights.z_inr, generator=rng).to(self.device)
        return self.weights.mapping_nerf(z_nerf).mean(dim=0), self.weights.mapping_inr(z_inr).mean(dim=0)

    def styles(self, z: torch.Tensor, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The NeRF and INR styles of ``z`` (z_nerf ++ z_inr), truncated toward the averages."""
        z = z.to(self.device, torch.float32).reshape(1, -1)
        nerf = self.weights.mapping_nerf(z[:, : self.weights.z_nerf])[0]
        inr = self.weights.mapping_inr(z[:, self.weights.z_nerf :])[0]
        average_nerf, average_inr = self._averages
        return average_nerf + truncation * (nerf - average_nerf), average_inr + truncation * (inr - average_inr)

    @torch.inference_mode()
    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> Cips3DField:
        if conditioning is not None:
            raise InputError("CIPS-3D takes no conditioning; pass conditioning=None")
        nerf, inr = self.styles(z, truncation)
        return Cips3DField(self.weights, nerf, inr, self.device)

    def _render_preview(self, field: Cips3DField, camera: Camera, size: int | tuple[int, int],
                        settings: RenderSettings | None, progress: ProgressCallback | None) -> RenderResult:
        """CIPS-3D's images: the 32-channel feature integrated along each ray, then the INR per pixel.

        Without settings, CIPS-3D's own sampling, deterministic (:func:`render_cips3d`); with
        settings, aware3d's volume renderer in the field's box, with those samples.
        """
        if settings is None:
            return render_cips3d(field, camera, size, progress=progress)
        features, alpha, depth = render_features(field, camera, size, settings, self.device, progress)
        height, width, channels = features.shape
        rgb = field.features_to_rgb(features.reshape(-1, channels)).reshape(height, width, 3)
        return RenderResult(rgb=rgb, alpha=alpha, depth=depth)

    def volume_samples(self, field: Cips3DField, pose: Pose, size: int = 48, pixels: torch.Tensor | None = None) -> VolumeSamples:
        """CIPS-3D's own sampling, sharing its 48 samples (see :meth:`Generator.volume_samples`)."""
        return cips3d_samples(field, pose_to_camera(pose, self.camera), size, pixels)


RAY_HALF_DEPTH = 0.12
"""CIPS-3D samples from 0.88 to 1.12 along rays from a radius-1 camera: the radius +- 0.12."""


@torch.inference_mode()
def render_cips3d(field: Cips3DField, camera: Camera, size: int | tuple[int, int], chunk_rays: int = 4096,
                  progress: ProgressCallback | None = None) -> RenderResult:
    """CIPS-3D's image pipeline (pi-GAN's rays and integration, then the INR), deterministic.

    Pixels look along ``(x, y, -1/tan(fov/2))`` with x and y evenly from -1 to 1 (the fov spans the
    edge pixels' centres); 24 depths evenly over the camera distance +- 0.12 (the official jitter's
    centres), then 24 more at evenly spaced quantiles of the coarse weights (``sample_pdf(det=True)``);
    relu density, the last interval 1e10; features integrated, then mapped by the INR.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InputError(f"CIPS-3D previews are square: the image size must be a positive integer, got {size!r}")
    origin, dirs, coarse = _cips3d_rays(field, camera, size)
    features = torch.zeros(size * size, field.weights.feature_dim, device=field.device)
    alpha = torch.zeros(size * size, device=field.device)
    depth = torch.zeros(size * size, device=field.device)
    for start in range(0, size * size, chunk_rays):
        d = dirs[start : start + chunk_rays]
        query = functools.partial(query_along, field, origin.expand(len(d), 3), d, lock_view=True, features=True)
        depths, _, values, weights = _cips3d_march(query, coarse.expand(len(d), -1))
        features[start : start + len(d)] = (weights[..., None] * values).sum(dim=1)
        alpha[start : start + len(d)] = weights.sum(dim=1)
        depth[start : start + len(d)] = expected_depth(weights, depths)
        if progress is not None:
            progress("render", min(start + chunk_rays, size * size), size * size)
    rgb = field.features_to_rgb(features)
    return RenderResult(rgb=rgb.reshape(size, size, 3), alpha=alpha.reshape(size, size), depth=depth.reshape(size, size))


@torch.inference_mode()
def cips3d_samples(field: Cips3DField, camera: Camera, size: int, pixels: torch.Tensor | None = None) -> VolumeSamples:
    """:func:`render_cips3d`'s opacity and depth (at ``pixels``, row-major indices; default all) with
    the density at its 48 samples (density only: no features, no INR)."""
    origin, dirs, coarse = _cips3d_rays(field, camera, size)
    (dirs,) = select_rays(pixels, dirs)
    depths, density, _, weights = _cips3d_march(density_query(field, origin, dirs), coarse.expand(len(dirs), -1))
    inside = inside_bounds(origin + dirs[:, None] * depths[..., None], field.bounds)
    return VolumeSamples(weights.sum(dim=1), expected_depth(weights, depths), depths, torch.where(inside, density, torch.zeros_like(density)))


def _cips3d_rays(field: Cips3DField, camera: Camera, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The camera's origin [3], unit directions [size*size,3] and the 24 coarse depths [24]."""
    device = field.device
    steps = torch.linspace(-1, 1, size, device=device)
    y, x = torch.meshgrid(-steps, steps, indexing="ij")
    focal = -1 / math.tan(math.radians(camera.fov_deg) / 2)
    local = F.normalize(torch.stack([x, y, torch.full_like(x, focal)], dim=-1).reshape(-1, 3), dim=-1)
    dirs = local @ torch.as_tensor(camera.cam2world[:3, :3], dtype=torch.float32, device=device).t()
    origin = torch.as_tensor(camera.cam2world[:3, 3], dtype=torch.float32, device=device)
    distance = float(origin.norm())
    return origin, dirs, torch.linspace(distance - RAY_HALF_DEPTH, distance + RAY_HALF_DEPTH, NUM_STEPS, device=device)


def _cips3d_march(query, coarse: torch.Tensor):
    """Coarse depths [R,24], then 24 at evenly spaced quantiles of their weights; ``query(depths) ->
    (density, values or None)``. Returns sorted depths, density, values, weights [R,48]."""
    density, values = query(coarse)
    weights = _integration_weights(density, coarse)
    bins = 0.5 * (coarse[:, 1:] + coarse[:, :-1])
    u = torch.linspace(0, 1, NUM_STEPS, device=coarse.device).expand(len(coarse), -1)
    fine = sample_pdf(bins, weights[:, 1:-1] + 1e-5, u)
    fine_density, fine_values = query(fine)
    depths, order = torch.sort(torch.cat([fine, coarse], dim=1), dim=1)
    density = torch.cat([fine_density, density], dim=1).gather(1, order)
    if values is not None:
        values = torch.cat([fine_values, values], dim=1).gather(1, order[..., None].expand(-1, -1, values.shape[-1]))
    return depths, density, values, _integration_weights(density, depths)


def _integration_weights(density: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """pi-GAN's ``fancy_integration`` weights for relu density [R,S]: the last interval 1e10."""
    deltas = torch.cat([depths[:, 1:] - depths[:, :-1], torch.full_like(depths[:, :1], 1e10)], dim=1)
    return alpha_weights(1 - torch.exp(-deltas * density))


def load(path: str | None, device: DeviceLike = "auto") -> Cips3DGenerator:
    """Build CIPS-3D from ``path`` (a G_ema.pth)."""
    if path is None:
        raise InputError("CIPS-3D needs its G_ema.pth: pass --checkpoint PATH/G_ema.pth")
    return Cips3DGenerator(path, device)


def variant(path: Path, summary: PickleSummary) -> str | None:
    """The release, when the path names one (the state dict does not)."""
    text = str(path).lower()
    for name in ("ffhq", "afhq", "cartoon"):
        if name in text:
            return name
    return None


FAMILY = FamilySpec(
    name="cips3d",
    title="CIPS-3D (Zhou et al., 2021)",
    files="G_ema.pth from the release zip (FFHQ, AFHQ, cartoon)",
    licence=releases.CIPS3D_LICENCE,
    loader=load,
    convention=PIGAN_CONVENTION,
    frame=FRAME,
    default_level=DEFAULT_LEVEL,
    state_keys=("mapping_network_nerf.", "inr_net.", "aux_to_rbg."),
    variant=variant,
    releases=releases.CIPS3D_RELEASES,
)
