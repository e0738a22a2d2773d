"""GRAF (Schwarz et al., NeurIPS 2020): the released ``.pt`` checkpoints, aware3d's own inference.

Facts (autonomousvision/graf and its vendored ``nerf_pytorch``/``GAN_stability``, read for
conventions only):

* the file is GAN_stability's ``CheckpointIO`` dict (``it``, ``epoch_idx``, ``fid_best``,
  ``kid_best``, ``discriminator``, optimisers, ``generator`` and ``generator_test``, the EMA);
  files written on a GPU hold CUDA storages and a ``numpy.float64``;
* the NeRF MLP reads ``[PE(x) (63) | z_shape (128)]``: 8 ReLU layers of 256 with the input
  concatenated again after layer 4, a raw density head, then ``[feature (256) | PE(d) (27) |
  z_app (128)]`` through one ReLU layer of 128 to the colour logits; PE is ``[x, sin(2^k x),
  cos(2^k x)]`` for k < 10 (points) and k < 4 (view directions, normalised);
* density ``relu(sigma)``, colour ``sigmoid``; z is 256 Gaussian numbers, the first 128 shape and
  the last 128 appearance; GRAF has no truncation (aware3d's scales z toward 0: ``z * psi``);
* the world is z up; cameras sit on a sphere (``to_sphere(u, v)``: azimuth 360 u from +x toward
  +y, polar angle arccos(1 - 2 v) from +z) and look at the origin; rays go through pixel corners
  ``[(i - W/2)/f, -(j - H/2)/f, -1]`` and are not normalised, so sample depths are distances along
  the camera axis; ``eval.py`` renders 64 samples evenly from near to far (no jitter, no noise, no
  importance sampling), the last interval 1e10, near and far shifted by ``r_max - |o|``.

The variant (camera, box, scale) is not in the file: it comes from the release file name
(``celebA_64.pt``, ``carla_128.pt``, ...) or ``--variant``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import PIGAN_CONVENTION, Camera, CameraSpec, Pose, pose_to_camera
from ..checkpoints import NUMPY_SCALARS, PickleSummary, check_finite_weights, file_sha256, safe_load
from ..device import DeviceLike, resolve_device
from ..errors import CheckpointError, InputError
from ..fields import BaseField, Bounds, FieldSample, WorldFrame
from ..progress import ProgressCallback
from ..render import RenderResult, RenderSettings, VolumeSamples, alpha_weights, expected_depth, inside_bounds, select_rays
from . import releases
from .base import Generator
from .layers import linear_from
from .registry import FamilySpec, LoaderOption

POINT_FREQUENCIES = 10
VIEW_FREQUENCIES = 4
NUM_SAMPLES = 64
"""``N_samples`` of every GRAF config; the released models have no fine network."""

LAST_INTERVAL = 1e10


@dataclass(frozen=True)
class GrafVariant:
    """One family of releases: its camera (``configs/*.yaml``) and a life-size scale.

    ``azimuth`` and ``polar`` are the training ranges in degrees; ``eval.py`` renders at their
    middles from the largest radius, and aware3d's frontal pose (yaw 0) looks from the middle azimuth.
    """

    name: str
    fov: float
    radius: tuple[float, float]
    near: float
    far: float
    azimuth: tuple[float, float]
    polar: tuple[float, float]
    white_background: bool
    metres_per_unit: float

    @property
    def eval_polar(self) -> float:
        return sum(self.polar) / 2

    @property
    def front_azimuth(self) -> float:
        return sum(self.azimuth) / 2

    @property
    def half_extent(self) -> float:
        """Half the height the eval camera sees at the origin: the meshing box's half side."""
        return self.radius[1] * math.tan(math.radians(self.fov) / 2)

    def frame(self) -> WorldFrame:
        azimuth = math.radians(self.front_azimuth)
        return WorldFrame("z", self.metres_per_unit, facing=(math.cos(azimuth), math.sin(azimuth), 0.0))

    def eval_pose(self) -> Pose:
        """``eval.py``'s pose as an aware3d Pose: the middle azimuth and polar angle, largest radius."""
        return Pose(yaw=0.0, pitch=math.radians(self.eval_polar - 90.0), radius=self.radius[1], fov=self.fov)


_POLAR_70, _POLAR_85 = 70.0, 85.0
VARIANTS = {
    # configs/celebA.yaml, celebAHQ.yaml: radius 9.5,10.5, near 7.5, far 12.5, fov 10, u 0-0.25, v 70-85 deg.
    # A 108-px (650-px for HQ) centre crop is about 0.17 m of face; the eval camera sees 1.84 units.
    "celebA": GrafVariant("celebA", 10.0, (9.5, 10.5), 7.5, 12.5, (0.0, 90.0), (_POLAR_70, _POLAR_85), False, 0.09),
    "celebA_hq": GrafVariant("celebA_hq", 10.0, (9.5, 10.5), 7.5, 12.5, (0.0, 90.0), (_POLAR_70, _POLAR_85), False, 0.09),
    # configs/cats.yaml: radius 10, fov 10, u 0-0.194 (70 deg); a cat's face is about 0.12 m.
    "cats": GrafVariant("cats", 10.0, (10.0, 10.0), 7.5, 12.5, (0.0, 70.0), (_POLAR_70, _POLAR_85), False, 0.065),
    # configs/carla.yaml (+ default.yaml): radius 10, fov 30, u 0-1, v 0-85 deg, white background; a car ~4.5 m.
    "carla": GrafVariant("carla", 30.0, (10.0, 10.0), 7.5, 12.5, (0.0, 360.0), (0.0, _POLAR_85), True, 1.0),
    # configs/cub.yaml (+ default.yaml): radius 9,11, fov 30, u 0-1, v 60-95 deg, white background; a bird ~0.15 m.
    "cub": GrafVariant("cub", 30.0, (9.0, 11.0), 7.5, 12.5, (0.0, 360.0), (60.0, 95.0), True, 0.03),
}

EMA_OPTION = LoaderOption("ema", ("ema", "none"), "ema", "ema: generator_test (the EMA weights, as eval.py uses); none: generator")
VARIANT_OPTION = LoaderOption("variant", ("auto", *VARIANTS), "auto",
                              "the release the file belongs to (camera, box, scale); auto reads it from the file name")

CHECKPOINT_GLOBALS = tuple(NUMPY_SCALARS)
"""Beyond torch's weights-only list, a GRAF file names only numpy's scalar rebuilders (``fid_best``)."""


def variant_from_name(path: str | Path) -> str | None:
    """``celebA_hq_256.pt`` -> ``celebA_hq``; None when the name is not a release's."""
    match = re.match(r"(celebA_hq|celebA|cats|carla|cub)_\d+", Path(path).stem, re.IGNORECASE)
    if match is None:
        return None
    return next(name for name in VARIANTS if name.lower() == match.group(1).lower())


def positional_encoding(x: torch.Tensor, num_freqs: int) -> torch.Tensor:
    """``[x, sin(x), cos(x), sin(2x), cos(2x), ...]`` up to ``2^(num_freqs-1)``, as nerf_pytorch orders it."""
    parts = [x]
    for k in range(num_freqs):
        scaled = x * (2.0**k)
        parts += [torch.sin(scaled), torch.cos(scaled)]
    return torch.cat(parts, dim=-1)


class GrafNetwork:
    """GRAF's conditional NeRF, read from a ``generator`` state dict (widths from the shapes)."""

    def __init__(self, params: dict[str, torch.Tensor]) -> None:
        count = sum(1 for key in params if re.fullmatch(r"pts_linears\.\d+\.weight", key))
        if count == 0:
            raise CheckpointError("the generator has no pts_linears: it is not a GRAF NeRF")
        self.pts = [linear_from(params, f"pts_linears.{i}") for i in range(count)]
        width, self.input_ch = self.pts[0].shape
        self.skips = [i - 1 for i, layer in enumerate(self.pts) if i > 0 and layer.shape[1] == width + self.input_ch]
        for i, layer in enumerate(self.pts[1:], start=1):
            if layer.shape != (width, width + (self.input_ch if i - 1 in self.skips else 0)):
                raise CheckpointError(f"pts_linears.{i}.weight has shape {list(layer.shape)}, which no GRAF NeRF of width {width} has")
        self.alpha = linear_from(params, "alpha_linear", (1, width))
        self.feature = linear_from(params, "feature_linear", (width, width))
        self.views = linear_from(params, "views_linears.0")
        self.rgb = linear_from(params, "rgb_linear", (3, self.views.shape[0]))
        self.z_shape = self.input_ch - 3 * (1 + 2 * POINT_FREQUENCIES)
        view_inputs = self.views.shape[1] - width
        # The released configs split z in halves. CUB was trained with use_viewdirs False: its
        # colour branch sees [feature | z_app] without the encoded view direction.
        self.uses_view_dirs = view_inputs != self.z_shape
        self.z_appearance = view_inputs - (3 * (1 + 2 * VIEW_FREQUENCIES) if self.uses_view_dirs else 0)
        if self.z_shape <= 0 or self.z_appearance < 0:
            raise CheckpointError(f"the NeRF's inputs ({self.input_ch}, {view_inputs}) are too narrow for GRAF's encodings")
        self.width = width

    @property
    def z_dim(self) -> int:
        return self.z_shape + self.z_appearance

    def to(self, device: torch.device) -> "GrafNetwork":
        for name in ("alpha", "feature", "views", "rgb"):
            setattr(self, name, getattr(self, name).to(device))
        self.pts = [layer.to(device) for layer in self.pts]
        return self

    def _trunk(self, points: torch.Tensor, z_shape: torch.Tensor) -> torch.Tensor:
        inputs = torch.cat([positional_encoding(points, POINT_FREQUENCIES), z_shape.expand(len(points), -1)], dim=-1)
        h = inputs
        for i, layer in enumerate(self.pts):
            h = F.relu(layer(h))
            if i in self.skips:
                h = torch.cat([inputs, h], dim=-1)
        return h

    def sigma(self, points: torch.Tensor, z_shape: torch.Tensor) -> torch.Tensor:
        """Raw density [N] at ``points`` [N,3]."""
        return self.alpha(self._trunk(points, z_shape))[:, 0]

    def __call__(self, points: torch.Tensor, view_dirs: torch.Tensor, z_shape: torch.Tensor, z_app: torch.Tensor):
        """Raw density [N] and colour logits [N,3]; ``view_dirs`` [N,3] unit vectors."""
        h = self._trunk(points, z_shape)
        encoded = [positional_encoding(view_dirs, VIEW_FREQUENCIES)] if self.uses_view_dirs else []
        views = torch.cat([self.feature(h), *encoded, z_app.expand(len(points), -1)], dim=-1)
        return self.alpha(h)[:, 0], self.rgb(F.relu(self.views(views)))


def read_checkpoint(path: str | Path, ema: str) -> dict[str, torch.Tensor]:
    """The NeRF state dict of a GRAF ``.pt``: ``generator_test`` (the EMA) or, with ``ema='none'``, ``generator``.

    Raises:
        CheckpointError: for a file that is not a GRAF checkpoint or lacks the chosen weights.
    """
    data = safe_load(path, CHECKPOINT_GLOBALS)
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a GRAF checkpoint (it holds a {type(data).__name__}, not CheckpointIO's dict)")
    key = "generator_test" if ema == "ema" else "generator"
    state = data.get(key)
    if not isinstance(state, dict):
        other = " (pass --ema none to use 'generator')" if key == "generator_test" and isinstance(data.get("generator"), dict) else ""
        raise CheckpointError(f"{path} has no {key!r} weights{other}; it holds {', '.join(sorted(map(str, data))) or 'nothing'}")
    prefix = "module." if state and all(str(k).startswith("module.") for k in state) else ""
    return {str(k)[len(prefix):]: v for k, v in state.items() if isinstance(v, torch.Tensor)}


class GrafField(BaseField):
    """One GRAF identity in GRAF's world (z up, the face toward the variant's middle azimuth)."""

    def __init__(self, network: GrafNetwork, z: torch.Tensor, variant: GrafVariant, device: torch.device) -> None:
        half = variant.half_extent
        super().__init__(Bounds((-half,) * 3, (half,) * 3), device)
        self.network, self.variant, self.frame = network, variant, variant.frame()
        self.z_shape = z[: network.z_shape].to(device).reshape(1, -1)
        self.z_app = z[network.z_shape :].to(device).reshape(1, -1)
        self.default_level = default_level(variant)
        facing = np.asarray(self.frame.facing)
        self.canonical_view_dir = tuple(float(v) for v in -facing)  # the frontal camera looks along -facing

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        raw, logits = self.network(points, F.normalize(view_dirs, dim=-1), self.z_shape, self.z_app)
        return FieldSample(density=F.relu(raw), rgb=torch.sigmoid(logits), raw_density=raw)

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return F.relu(self.network.sigma(points, self.z_shape))


def default_level(variant: GrafVariant) -> float:
    """The density at which one of eval.py's 64 sample intervals is half opaque: ln 2 / delta."""
    return math.log(2.0) / ((variant.far - variant.near) / (NUM_SAMPLES - 1))


def render_graf(field: GrafField, camera: Camera, size: int, chunk_rays: int = 4096,
                progress: ProgressCallback | None = None) -> RenderResult:
    """GRAF's test-time renderer, as ``eval.py`` runs it: rays through pixel corners, 64 evenly spaced
    depths between near and far (shifted by ``r_max - |o|``), relu density, last interval 1e10."""
    origin, dirs, depths = _graf_rays(field, camera, size)
    colour = torch.zeros(size * size, 3, device=field.device)
    alpha = torch.zeros(size * size, device=field.device)
    depth = torch.zeros(size * size, device=field.device)
    with torch.inference_mode():
        for start in range(0, size * size, chunk_rays):
            d = dirs[start : start + chunk_rays]
            points = origin + d[:, None] * depths[None, :, None]
            view = F.normalize(d, dim=-1)[:, None].expand(-1, NUM_SAMPLES, -1)
            raw, logits = field.network(points.reshape(-1, 3), view.reshape(-1, 3), field.z_shape, field.z_app)
            weights = _graf_weights(raw.reshape(len(d), -1), depths, d)
            colour[start : start + len(d)] = (weights[..., None] * torch.sigmoid(logits.reshape(len(d), NUM_SAMPLES, 3))).sum(dim=1)
            alpha[start : start + len(d)] = weights.sum(dim=1)
            depth[start : start + len(d)] = expected_depth(weights, depths[None] * d.norm(dim=-1, keepdim=True))
            if progress is not None:
                progress("render", min(start + chunk_rays, size * size), size * size)
    if field.variant.white_background:
        colour = colour + (1 - alpha[:, None])
    return RenderResult(rgb=colour.reshape(size, size, 3), alpha=alpha.reshape(size, size), depth=depth.reshape(size, size))


@torch.inference_mode()
def graf_samples(field: GrafField, camera: Camera, size: int, pixels: torch.Tensor | None = None, chunk_rays: int = 4096) -> VolumeSamples:
    """:func:`render_graf`'s opacity and depth (at ``pixels``, row-major indices; default all) with the
    density at its 64 samples (density only: the colour branch is skipped)."""
    origin, dirs, depths = _graf_rays(field, camera, size)
    (dirs,) = select_rays(pixels, dirs)
    points = origin + dirs[:, None] * depths[None, :, None]  # [R,64,3]
    raw = torch.cat([field.network.sigma(chunk.reshape(-1, 3), field.z_shape).reshape(len(chunk), NUM_SAMPLES)
                     for chunk in points.split(chunk_rays)])
    weights = _graf_weights(raw, depths, dirs)
    unit_depths = depths[None] * dirs.norm(dim=-1, keepdim=True)  # along unit rays
    density = torch.where(inside_bounds(points, field.bounds), F.relu(raw), torch.zeros_like(raw))
    return VolumeSamples(weights.sum(dim=1), expected_depth(weights, unit_depths), unit_depths, density)


def _graf_rays(field: GrafField, camera: Camera, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """eval.py's rays: the camera's origin [3], directions through pixel corners [size*size,3] (not
    unit: their z is -1 in the camera) and the 64 sample depths along them, shifted as GRAF shifts them."""
    variant, device = field.variant, field.device
    focal = size / 2 / math.tan(math.radians(camera.fov_deg) / 2)
    j, i = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    local = torch.stack([(i - size * 0.5) / focal, -(j - size * 0.5) / focal, -torch.ones_like(i)], dim=-1).reshape(-1, 3)
    rotation = torch.as_tensor(camera.cam2world[:3, :3], dtype=torch.float32)
    dirs = (local @ rotation.t()).to(device)
    origin = torch.as_tensor(camera.cam2world[:3, 3], dtype=torch.float32).to(device)
    shift = variant.radius[1] - origin.norm()
    depths = torch.linspace(0.0, 1.0, NUM_SAMPLES, device=device)
    return origin, dirs, (variant.near - shift) * (1 - depths) + (variant.far - shift) * depths


def _graf_weights(raw: torch.Tensor, depths: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Compositing weights of raw densities [R,64] at ``depths`` [64] along ``dirs`` [R,3]: relu
    density, intervals scaled by the directions' lengths, the last one 1e10."""
    intervals = torch.cat([depths[1:] - depths[:-1], depths.new_tensor([LAST_INTERVAL])])
    return alpha_weights(1 - torch.exp(-F.relu(raw) * intervals[None] * dirs.norm(dim=-1, keepdim=True)))


class GrafGenerator(Generator):
    """GRAF from a released ``.pt`` (``generator_test`` by default)."""

    family = "graf"

    def __init__(self, path: str | Path, device: DeviceLike = "auto", ema: str = "ema", variant: str = "auto") -> None:
        if ema not in EMA_OPTION.choices:
            raise InputError(f"ema must be one of {', '.join(EMA_OPTION.choices)}, got {ema!r}")
        if variant not in VARIANT_OPTION.choices:
            raise InputError(f"variant must be one of {', '.join(VARIANT_OPTION.choices)}, got {variant!r}")
        if variant == "auto":
            variant = variant_from_name(path)
            if variant is None:
                raise InputError(f"the GRAF release cannot be told from the file name {Path(path).name!r}; "
                                 f"pass --variant {'|'.join(VARIANTS)}")
        self.variant = VARIANTS[variant]
        self.device = resolve_device(device)
        params = read_checkpoint(path, ema)
        self.network = GrafNetwork(params).to(self.device)
        check_finite_weights(path, params.items())
        self.z_dim = self.network.z_dim
        self.frame = self.variant.frame()
        self.camera = CameraSpec(PIGAN_CONVENTION, radius=self.variant.radius[1], fov=self.variant.fov,
                                 rotation=tuple(tuple(row) for row in self.frame.rotation().tolist()))
        self.render_settings = RenderSettings()
        eval_pose = self.variant.eval_pose()
        self.info = {
            "family": self.family, "variant": self.variant.name, "learned": True, "checkpoint_sha256": file_sha256(path),
            "ema": ema, "z_dim": self.z_dim, "z_shape": self.network.z_shape, "z_appearance": self.network.z_appearance,
            "default_level": default_level(self.variant),
            "default_pose": {"yaw": 0.0, "pitch": 0.0, "radius": self.camera.radius, "fov": self.camera.fov},
            "eval_pose": {"yaw": eval_pose.yaw, "pitch": eval_pose.pitch, "radius": eval_pose.radius, "fov": eval_pose.fov},
            "units": f"GRAF world units ({self.variant.metres_per_unit} m each at life size)", "device": str(self.device),
        }

    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> GrafField:
        if conditioning is not None:
            raise InputError("GRAF takes no conditioning; pass conditioning=None")
        # GRAF has no mapping network and no truncation of its own. aware3d's truncation moves the
        # latent toward the prior's mean, 0, as it moves other families' latents toward their
        # average: z * psi. truncation=1 is the latent as drawn, which is what eval.py renders.
        return GrafField(self.network, z * truncation, self.variant, self.device)

    def _render_preview(self, field: GrafField, camera: Camera, size: int | tuple[int, int],
                        settings: RenderSettings | None, progress: ProgressCallback | None) -> RenderResult:
        """GRAF's own deterministic test-time renderer; its sampling is GRAF's, so volume-rendering
        settings are refused rather than ignored."""
        if settings is not None:
            raise InputError("GRAF previews use GRAF's own renderer, which takes no RenderSettings; pass settings=None")
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise InputError(f"GRAF previews are square: the image size must be a positive integer, got {size!r}")
        return render_graf(field, camera, size, progress=progress)

    def volume_samples(self, field: GrafField, pose: Pose, size: int = 48, pixels: torch.Tensor | None = None) -> VolumeSamples:
        """GRAF's renderer, sharing its 64 samples (see :meth:`Generator.volume_samples`)."""
        return graf_samples(field, pose_to_camera(pose, self.camera), size, pixels)


def load(path: str | None, device: DeviceLike = "auto", ema: str = "ema", variant: str = "auto") -> GrafGenerator:
    """Build GRAF from ``path`` (a released .pt); ``ema`` picks generator_test or generator."""
    if path is None:
        raise InputError("GRAF needs its checkpoint: pass --checkpoint PATH/celebA_64.pt")
    return GrafGenerator(path, device, ema, variant)


def variant(path: Path, summary: PickleSummary) -> str | None:
    """The release, from the file name (the file itself does not say)."""
    return variant_from_name(path)


FAMILY = FamilySpec(
    name="graf",
    title="GRAF (Schwarz et al., NeurIPS 2020)",
    files="the released .pt checkpoint (celebA_64.pt, celebA_hq_256.pt, carla_128.pt, ...)",
    licence=releases.GRAF_LICENCE,
    loader=load,
    convention=PIGAN_CONVENTION,
    frame=VARIANTS["celebA"].frame(),
    default_level=default_level(VARIANTS["celebA"]),
    options=(EMA_OPTION, VARIANT_OPTION),
    state_keys=("generator_test", "pts_linears."),
    variant=variant,
    standins=CHECKPOINT_GLOBALS,
    releases=releases.GRAF_RELEASES,
)
