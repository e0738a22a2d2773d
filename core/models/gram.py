"""GRAM (Deng et al., CVPR 2022): official ``generator.pth`` (a state dict) + ``ema.pth``.

Facts from the official repository (microsoft/GRAM, ``generators/representations/gram.py``,
``generators/renderers/manifold_renderer.py``, ``configs.py``):

* The **sample network** ``s(x)`` is an MLP (3 -> h -> h -> h, ReLU, then h -> 1) on
  ``x * 2/0.24 - center``; its iso-surfaces ``s = l`` are the radiance manifolds. h = 128 (FFHQ),
  64 (CATS), 256 (CARLA); center (0, 0, -1.5) for FFHQ and CATS, the origin for CARLA.
* The **radiance field** is pi-GAN's FiLM-SIREN (``x * 2/normalize``; normalize 0.24, CARLA 2) with
  a density head and a colour head after each of layers 1..7, summed; the last colour head reads
  ``FiLM(color_layer, [view_dir, x])``. density = softplus(sum), colour = sigmoid(sum) * 1.002 - 0.001
  (clamped to [0, 1] here).
* **Rendering** (deterministic in the original): 64 uniform samples per ray between the near and
  far distances; for each level the first crossing ``s_prev >= l >= s_next`` along the ray is the
  manifold point (linear interpolation where |s_next - s_prev| > 0.05, else the far sample); FFHQ
  and CATS add a background plane at z = -0.12. Points are composited in depth order with a
  constant interval of 0.04 (CARLA 0.02) and an infinite last/background interval.

Meshing follows the authors (issue #1): marching cubes on the density with an empirical level; the
default, 17.33 = ln 2 / 0.04, is where one manifold sample becomes half opaque.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import PIGAN_CONVENTION, Camera, CameraSpec
from ..checkpoints import PickleSummary, file_sha256, safe_load
from ..device import DeviceLike, resolve_device
from ..errors import CheckpointError, InputError
from ..fields import CANONICAL_VIEW_DIR, Y_UP_METRES, BaseField, Bounds, FieldSample
from ..progress import ProgressCallback
from ..render import RenderResult, RenderSettings, alpha_weights, camera_rays, expected_depth
from ..resources import check_memory, render_estimate
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

NUM_FILM_LAYERS = 8
SAMPLE_WARP = 2 / 0.24
"""``GramSample.gridwarper = UniformBoxWarp(0.24)`` in every configuration."""
RGB_WIDEN = 1e-3
"""``widen_sigmoid``: sigmoid * (1 + 2e-3) - 1e-3."""
INTERSECTION_MIN_STEP = 0.05
"""``calculate_intersection`` interpolates only where the sample network changes by more than this."""
DEFAULT_LEVEL = math.log(2) / 0.04
"""Density at which one manifold sample (interval 0.04) is half opaque."""

FRAME = Y_UP_METRES
"""GRAM keeps pi-GAN's world: y up, a face about 0.24 units (metres) tall."""


@dataclass(frozen=True)
class GramConfig:
    """One released configuration (``configs.py``)."""

    name: str
    center: tuple[float, float, float]
    normalize: float
    levels: tuple[float, float, int]  # start, end, count (without the background)
    background: bool
    delta: float
    white_back: bool
    camera: CameraSpec
    half_depth: float  # ray_start/ray_end = radius -/+ half_depth
    bounds: Bounds
    lock_view_dependence: bool  # render_multiview_images.py locks it for faces (FFHQ, CATS)


_CONFIGS = {
    128: GramConfig("FFHQ", (0.0, 0.0, -1.5), 0.24, (23.0, 8.0, 23), True, 0.04, False,
                    CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=12.0), 0.12, Bounds((-0.15,) * 3, (0.15,) * 3), True),
    64: GramConfig("CATS", (0.0, 0.0, -1.5), 0.24, (23.0, 8.0, 23), True, 0.04, False,
                   CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=12.0), 0.12, Bounds((-0.15,) * 3, (0.15,) * 3), True),
    256: GramConfig("CARLA", (0.0, 0.0, 0.0), 2.0, (35.0, 5.0, 48), False, 0.02, True,
                    CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=30.0), 0.3, Bounds((-0.3,) * 3, (0.3,) * 3), False),
}
"""Keyed by the sample network's width, which tells the configurations apart."""

_BACKGROUND_Z = -0.12
_FINAL_DELTA = 1e10
"""``delta_final``: the background (and, with one, the last) interval is opaque."""
_NUM_RAY_SAMPLES = 64
_PREFIX = "representation."


def config_for_state(state: object) -> GramConfig:
    """The released configuration a GRAM state dict belongs to, told by its sample network's width.

    Raises:
        CheckpointError: for anything else.
    """
    key = f"{_PREFIX}sample_network.network.0.weight"
    weight = state.get(key) if isinstance(state, dict) else None
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        raise CheckpointError(f"not a GRAM generator state dict: no {key}")
    if weight.shape[0] not in _CONFIGS:
        raise CheckpointError(
            f"a sample network of width {weight.shape[0]} matches no released GRAM configuration (FFHQ 128, CATS 64, CARLA 256)"
        )
    return _CONFIGS[weight.shape[0]]


class GramWeights:
    """The sample network and radiance field weights, from the official state-dict names."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        sample = f"{_PREFIX}sample_network."
        self.sample_layers = [linear_from(params, f"{sample}network.{i}") for i in (0, 2, 4)]
        width = self.sample_layers[0].shape[0]
        self.sample_out = linear_from(params, f"{sample}output_layer", (1, width))
        rf = f"{_PREFIX}rf_network."
        self.film = [linear_from(params, f"{rf}network.{i}.layer") for i in range(NUM_FILM_LAYERS)]
        hidden = self.film[0].shape[0]
        self.color_film = linear_from(params, f"{rf}color_layer.0.layer", (hidden, hidden + 3))
        self.sigma_heads = [linear_from(params, f"{rf}output_sigma.{i}", (1, hidden)) for i in range(NUM_FILM_LAYERS - 1)]
        self.color_heads = [linear_from(params, f"{rf}output_color.{i}", (3, hidden)) for i in range(NUM_FILM_LAYERS - 1)]
        self.mapping = mapping_layers(params, f"{rf}mapping_network")
        self.hidden, self.sample_width, self.z_dim = hidden, width, self.mapping[0].shape[1]

    def to(self, device: torch.device) -> "GramWeights":
        for name in ("sample_layers", "film", "sigma_heads", "color_heads", "mapping"):
            setattr(self, name, [layer.to(device) for layer in getattr(self, name)])
        self.sample_out, self.color_film = self.sample_out.to(device), self.color_film.to(device)
        return self


def read_generator(path: str | Path) -> dict[str, torch.Tensor]:
    """Read an official GRAM ``generator.pth`` (a state dict) safely, in parameter order."""
    state = safe_load(path)
    if not isinstance(state, dict) or not any(str(k).startswith(_PREFIX + "rf_network.") for k in state):
        raise CheckpointError(f"{path} is not a GRAM generator.pth (no representation.rf_network weights)")
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


class GramField(BaseField):
    """One GRAM identity: the radiance field, plus the sample network as :meth:`manifold`."""

    default_level = DEFAULT_LEVEL
    exact_level = True
    """GRAM renders only where rays cross its manifolds, one 0.04 interval each: the level at which
    such a sample is half opaque follows from the renderer itself, and a search over level sets of
    the density (which GRAM never renders between manifolds) has nothing to match."""
    frame = FRAME

    def __init__(self, weights: GramWeights, config: GramConfig, frequencies, phases, device: torch.device) -> None:
        super().__init__(config.bounds, device)
        self.weights, self.config = weights, config
        self.frequencies, self.phases = frequencies, phases
        self._center = torch.tensor(config.center, device=device)

    @torch.inference_mode()
    def manifold(self, points: torch.Tensor) -> torch.Tensor:
        """The sample network's scalar ``s(x)``: [N,3] world points -> [N]; manifolds are its level sets."""
        points = points.to(self.device, torch.float32)
        return torch.cat([self._manifold(p) for p in points.split(self.chunk_size)]) if len(points) else points.new_zeros(0)

    def _manifold(self, points: torch.Tensor) -> torch.Tensor:
        x = points * SAMPLE_WARP - self._center
        for layer in self.weights.sample_layers:
            x = F.relu(layer(x))
        return self.weights.sample_out(x)[:, 0]

    def _modulation(self, index: int):
        h = self.weights.hidden
        return self.frequencies[index * h : (index + 1) * h], self.phases[index * h : (index + 1) * h]

    def _heads(self, points: torch.Tensor, view_dirs: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = points * (2 / self.config.normalize)
        sigma = points.new_zeros(len(points))
        rgb = None if view_dirs is None else points.new_zeros(len(points), 3)
        for index, layer in enumerate(self.weights.film):
            x = film(layer, x, *self._modulation(index))
            if index == 0:
                continue
            sigma = sigma + self.weights.sigma_heads[index - 1](x)[:, 0]
            if rgb is not None:
                feature = x if index < NUM_FILM_LAYERS - 1 else film(
                    self.weights.color_film, torch.cat([view_dirs, x], dim=-1), *self._modulation(NUM_FILM_LAYERS)
                )
                rgb = rgb + self.weights.color_heads[index - 1](feature)
        return sigma, rgb

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return F.softplus(self._heads(points, None)[0])

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        raw, rgb = self._heads(points, view_dirs)
        rgb = (torch.sigmoid(rgb) * (1 + 2 * RGB_WIDEN) - RGB_WIDEN).clamp(0, 1)
        return FieldSample(density=F.softplus(raw), rgb=rgb, raw_density=raw)


def manifold_points(field: GramField, origins: torch.Tensor, dirs: torch.Tensor, near: float, far: float):
    """GRAM's ray-manifold intersections.

    Returns:
        points [R,L,3], validity [R,L] (1 where the ray crosses level l), for the configured levels.
    """
    start, end, count = field.config.levels
    levels = torch.linspace(start, end, count, device=origins.device)
    depths = torch.linspace(near, far, _NUM_RAY_SAMPLES, device=origins.device)
    samples = origins[:, None, :] + dirs[:, None, :] * depths[None, :, None]  # [R,S,3]
    s = field._manifold(samples.reshape(-1, 3)).reshape(len(origins), _NUM_RAY_SAMPLES)
    s_lo, s_hi = s[:, :-1, None], s[:, 1:, None]  # [R,S-1,1]
    crossing = (s_hi <= levels) & (s_lo >= levels)  # [R,S-1,L]
    # The first crossing along the ray; without one, the last interval (as the original picks).
    order = torch.arange(_NUM_RAY_SAMPLES - 1, 0, -1, device=origins.device, dtype=s.dtype)[None, :, None]
    index = torch.where(crossing, order, -order).argmax(dim=1)  # [R,L]
    gather = lambda t: t.gather(1, index)  # noqa: E731
    s_a, s_b = gather(s[:, :-1]), gather(s[:, 1:])
    x_a = samples.gather(1, index[..., None].expand(-1, -1, 3))
    x_b = samples.gather(1, (index + 1)[..., None].expand(-1, -1, 3))
    valid = crossing.gather(1, index[:, None, :])[:, 0, :]
    steep = (s_b - s_a).abs() > INTERSECTION_MIN_STEP
    safe = torch.where(steep, s_b - s_a, torch.full_like(s_a, INTERSECTION_MIN_STEP))
    lerp = ((s_b - levels)[..., None] * x_a + (levels - s_a)[..., None] * x_b) / safe[..., None]
    points = torch.where((valid & steep)[..., None], lerp, x_b)
    return points, valid.to(s.dtype)


def render_manifolds(field: GramField, camera, size: int, rays_per_chunk: int = 2048, progress: ProgressCallback | None = None) -> RenderResult:
    """Render ``field`` with GRAM's manifold renderer (deterministic, as in the original)."""
    config = field.config
    origins, dirs = camera_rays(camera, size, size, field.device)
    radius = float(np.linalg.norm(camera.position - np.asarray(config.camera.centre)))
    near, far = radius - config.half_depth, radius + config.half_depth
    colour = torch.zeros(size * size, 3, device=field.device)
    alpha = torch.zeros(size * size, device=field.device)
    coverage = torch.zeros(size * size, device=field.device)
    depth_image = torch.zeros(size * size, device=field.device)
    for start in range(0, size * size, rays_per_chunk):
        o, d = origins[start : start + rays_per_chunk], dirs[start : start + rays_per_chunk]
        points, valid = manifold_points(field, o, d, near, far)  # [R,L,3], [R,L]
        is_background = torch.zeros_like(valid, dtype=torch.bool)
        if config.background:
            t = (_BACKGROUND_Z - o[:, 2]) / torch.where(d[:, 2].abs() < 1e-9, torch.full_like(d[:, 2], -1e-9), d[:, 2])
            points = torch.cat([points, (o + d * t[:, None])[:, None, :]], dim=1)
            valid = torch.cat([valid, torch.ones_like(valid[:, :1])], dim=1)
            is_background = torch.cat([is_background, torch.ones_like(is_background[:, :1])], dim=1)
        num = points.shape[1]
        view = d[:, None, :].expand(-1, num, -1).reshape(-1, 3)
        if config.lock_view_dependence:
            view = torch.tensor(CANONICAL_VIEW_DIR, device=d.device).expand(len(view), 3)
        sample = field._query(points.reshape(-1, 3), view)
        sigma, rgb = sample.density.reshape(-1, num), sample.rgb.reshape(-1, num, 3)
        depth = (points - o[:, None, :]).norm(dim=-1)
        depth, order = depth.sort(dim=1)
        sigma, valid, is_background = sigma.gather(1, order), valid.gather(1, order), is_background.gather(1, order)
        rgb = rgb.gather(1, order[..., None].expand(-1, -1, 3))
        delta = torch.full_like(sigma, config.delta)
        delta[:, -1] = _FINAL_DELTA if config.background else config.delta
        delta = torch.where(is_background, torch.full_like(delta, _FINAL_DELTA), delta)
        weights = alpha_weights((1 - torch.exp(-delta * sigma)) * valid)
        colour[start : start + rays_per_chunk] = (weights[..., None] * rgb).sum(dim=1)
        coverage[start : start + rays_per_chunk] = weights.sum(dim=1)
        foreground = torch.where(is_background, torch.zeros_like(weights), weights)  # the head, without the background plane
        alpha[start : start + rays_per_chunk] = foreground.sum(dim=1)
        depth_image[start : start + rays_per_chunk] = expected_depth(foreground, depth)
        if progress is not None:
            progress("render", min(start + rays_per_chunk, size * size), size * size)
    if config.white_back:
        colour = colour + (1 - coverage).clamp(0, 1)[:, None]
    return RenderResult(rgb=colour.reshape(size, size, 3), alpha=alpha.reshape(size, size), depth=depth_image.reshape(size, size))


class GramGenerator(Generator):
    """GRAM from an official ``generator.pth`` (with ``ema.pth`` beside it)."""

    family = "gram"

    def __init__(self, path: str | Path, device: DeviceLike = "auto", ema: str = "ema") -> None:
        check_ema_choice(ema)
        self.device = resolve_device(device)
        params = read_generator(path)
        params = apply_ema(path, params, ema)
        self.config = config_for_state(params)
        self.weights = GramWeights(params).to(self.device)
        self.camera = self.config.camera
        self.render_settings = RenderSettings(num_coarse=48, num_fine=48, background=(1.0,) * 3 if self.config.white_back else (0.0,) * 3)
        self.z_dim = self.weights.z_dim
        with torch.inference_mode():
            self._average = average_mapping(self.weights.mapping, self.z_dim)
        self.info = {
            "family": self.family, "variant": self.config.name, "learned": True, "checkpoint_sha256": file_sha256(path),
            "ema": ema, "z_dim": self.z_dim, "default_level": DEFAULT_LEVEL,
            "default_pose": {"yaw": 0.0, "pitch": 0.0, "radius": self.camera.radius, "fov": self.camera.fov},
            "units": "GRAM world units (about metres for faces)", "device": str(self.device),
        }

    @torch.inference_mode()
    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> GramField:
        if conditioning is not None:
            raise InputError("GRAM takes no conditioning; pass conditioning=None")
        frequencies, phases = truncated_modulation(self.weights.mapping, z, truncation, self._average)
        return GramField(self.weights, self.config, frequencies, phases, self.device)

    @torch.inference_mode()
    def _render_preview(self, field: GramField, camera: Camera, size: int | tuple[int, int],
                        settings: RenderSettings | None, progress: ProgressCallback | None) -> RenderResult:
        """Previews use GRAM's own manifold renderer, so they look like the paper's images; its
        sampling is GRAM's, so volume-rendering settings are refused rather than ignored."""
        if settings is not None:
            raise InputError("GRAM previews use GRAM's manifold renderer, which takes no RenderSettings; pass settings=None")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InputError(f"GRAM previews are square: the image size must be a positive integer, got {size!r}")
        check_memory("size", f"a {size}x{size} preview", render_estimate(size, size))
        return render_manifolds(field, camera, size, progress=progress)


def load(path: str | None, device: DeviceLike = "auto", ema: str = "ema") -> GramGenerator:
    """Build GRAM from ``path`` (a generator.pth); ``ema`` picks ema.pth, ema2.pth or none."""
    if path is None:
        raise InputError("GRAM needs its generator.pth: pass --checkpoint PATH/generator.pth")
    return GramGenerator(path, device, ema)


def variant(path: Path, summary: PickleSummary) -> str | None:
    """The released configuration (FFHQ, CATS, CARLA) of a generator.pth, from its sample network's width.

    Reads the state dict (tensors only; nothing is built or run).
    """
    return config_for_state(safe_load(path)).name


FAMILY = FamilySpec(
    name="gram",
    title="GRAM (Deng et al., CVPR 2022)",
    files="generator.pth (a state dict) with ema.pth beside it (FFHQ, CATS, CARLA)",
    licence=releases.GRAM_LICENCE,
    loader=load,
    convention=PIGAN_CONVENTION,
    frame=FRAME,
    options=(EMA_OPTION,),
    default_level=DEFAULT_LEVEL,
    state_keys=("representation.sample_network", "representation.rf_network"),
    companions={EMA_GLOBAL: "EMA weights (torch_ema)"},
    variant=variant,
    companion_files=ema_companions,
    releases=releases.GRAM_RELEASES,
)
