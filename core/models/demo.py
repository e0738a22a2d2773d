"""The built-in ``demo`` family: a procedural, seeded, head-like radiance field.

It is **not learned**: a head is built from signed distance functions (skull, jaw, nose, eyes,
ears, lips, neck, hair) whose proportions and colours come from the latent ``z``. It exists so
that every feature (preview, export, Blender add-on) can be tried and tested without weights,
and it behaves like a learned model: a mapping from ``z`` to parameters, truncation toward the
average head, density with an activation, and colour with baked lighting.

Units are metres at life size (a head about 0.23 m from chin to crown), y up, face toward +z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..cameras import PIGAN_CONVENTION, CameraSpec
from ..device import DeviceLike, resolve_device
from ..errors import InputError
from ..fields import DEFAULT_CHUNK_SIZE, Y_UP_METRES, BaseField, Bounds, FieldSample
from ..render import RenderSettings
from . import releases
from .base import TRUNCATION_NUM_SAMPLES, TRUNCATION_SEED, Generator
from .registry import FamilySpec

Z_DIM = 16
"""One latent dimension per head trait (see ``_TRAITS``)."""

_TRAITS = (
    "head_width", "head_height", "jaw_width", "chin_length", "nose_length", "nose_width",
    "eye_spacing", "eye_size", "ear_size", "hair_volume", "hair_length", "lip_size",
    "skin_tone", "hair_colour", "eye_colour", "brow_height",
)

SURFACE_SHARPNESS = 0.0005
"""Metres of signed distance per unit of raw density: the surface blurs over about a millimetre."""

DENSITY_SCALE = 800.0
"""Activated density per unit softplus; ~550 per metre at the surface, opaque within ~2 mm inside."""

DEFAULT_LEVEL = DENSITY_SCALE * math.log(2.0)
"""Density on the zero level set of the signed distance (softplus(0) = ln 2): the surface for meshing."""

BOUNDS = Bounds(lo=(-0.15, -0.17, -0.16), hi=(0.15, 0.17, 0.17))
"""Holds every head the traits can make; the neck is cut flat at y = -0.16 so surfaces close."""

CAMERA = CameraSpec(PIGAN_CONVENTION, radius=1.5, fov=14.0)
"""pi-GAN's camera model, pulled back so the whole head and neck fit the frame."""

FRAME = Y_UP_METRES
"""Built in metres at life size, y up, face toward +z."""
"""pi-GAN's camera model, pulled back so the whole head and neck fit the frame."""

_LIGHT_DIR = (-0.45, 0.6, 0.66)
"""Key light from the upper front, on the head's right: baked into colour, as a GAN bakes radiance."""

_NORMAL_BAND = 0.01
"""Only points within 1 cm of the surface get shaded normals; farther ones are invisible anyway."""

_SKIN_PALETTE = ((0.98, 0.85, 0.74), (0.90, 0.70, 0.56), (0.72, 0.50, 0.36), (0.45, 0.30, 0.20))
_HAIR_PALETTE = ((0.08, 0.06, 0.05), (0.30, 0.18, 0.09), (0.62, 0.28, 0.10), (0.85, 0.70, 0.42), (0.72, 0.72, 0.70))
_EYE_PALETTE = ((0.30, 0.17, 0.08), (0.35, 0.45, 0.25), (0.25, 0.45, 0.70))


@dataclass(frozen=True)
class HeadParams:
    """Traits of one head, each in [-1, 1] (0 is the average head)."""

    values: tuple[float, ...]

    def __getattr__(self, name: str) -> float:
        try:
            return self.values[_TRAITS.index(name)]
        except ValueError:
            raise AttributeError(name) from None


def map_latent(z: torch.Tensor) -> torch.Tensor:
    """The demo's 'mapping network': [..., Z_DIM] latent -> [..., Z_DIM] traits in (-1, 1)."""
    return torch.tanh(0.8 * z)


def _palette(palette, t: float) -> torch.Tensor:
    """Interpolate a colour palette at t in [-1, 1]."""
    colours = torch.tensor(palette, dtype=torch.float32)
    x = (t + 1) / 2 * (len(palette) - 1)
    i = min(int(x), len(palette) - 2)
    return torch.lerp(colours[i], colours[i + 1], x - i)


# --- signed distance primitives ([N,3] points -> [N] distances, metres) ----------------------


def _ellipsoid(p: torch.Tensor, center, radii) -> torch.Tensor:
    """Approximate ellipsoid SDF (exact on the surface, a bound elsewhere)."""
    q = p - p.new_tensor(center)
    r = p.new_tensor(radii)
    k0 = torch.linalg.vector_norm(q / r, dim=-1)
    k1 = torch.linalg.vector_norm(q / (r * r), dim=-1).clamp_min(1e-9)
    return k0 * (k0 - 1) / k1


def _capsule(p: torch.Tensor, a, b, radius: float) -> torch.Tensor:
    a, b = p.new_tensor(a), p.new_tensor(b)
    ab = b - a
    t = ((p - a) @ ab / (ab @ ab)).clamp(0, 1)
    return (p - (a + t.unsqueeze(-1) * ab)).norm(dim=-1) - radius


def _smooth_union(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    h = (k - (a - b).abs()).clamp_min(0) / k
    return torch.minimum(a, b) - h * h * k / 4


def _smooth_subtract(a: torch.Tensor, b: torch.Tensor, k: float) -> torch.Tensor:
    """Remove shape b from shape a."""
    return -_smooth_union(-a, b, k)


def _soft_mask(d: torch.Tensor, width: float) -> torch.Tensor:
    """1 inside a region (d < 0), 0 outside, blended over ``width`` metres."""
    return torch.sigmoid(-d / width)


class DemoField(BaseField):
    """One procedural head. Query points are metres in the GAN world (y up, face toward +z)."""

    default_level = DEFAULT_LEVEL
    exact_level = True
    frame = FRAME

    def __init__(self, params: HeadParams, device: torch.device, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        super().__init__(BOUNDS, device, chunk_size)
        self.params = params
        p = params
        self._eye_x = 0.031 * (1 + 0.12 * p.eye_spacing)
        self._eye_r = 0.0102 * (1 + 0.1 * p.eye_size)
        self._lip_scale = 1 + 0.15 * p.lip_size
        self._skin = _palette(_SKIN_PALETTE, p.skin_tone).to(device)
        self._hair = _palette(_HAIR_PALETTE, p.hair_colour).to(device)
        self._iris = _palette(_EYE_PALETTE, p.eye_colour).to(device)
        self._light = torch.nn.functional.normalize(torch.tensor(_LIGHT_DIR), dim=0).to(device)

    # Geometry ---------------------------------------------------------------------------

    def _parts(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Signed distances of the skin, the eyeballs and the hair."""
        p = self.params
        sym = torch.stack([x[:, 0].abs(), x[:, 1], x[:, 2]], dim=-1)  # mirror features to +x
        width = 1 + 0.07 * p.head_width
        skull = _ellipsoid(x, (0.0, 0.03, -0.012), (0.074 * width, 0.094 * (1 + 0.05 * p.head_height), 0.098))
        jaw = _ellipsoid(
            x, (0.0, -0.028 - 0.006 * p.chin_length, 0.018),
            (0.058 * (1 + 0.1 * p.jaw_width), 0.074 * (1 + 0.08 * p.chin_length), 0.074),
        )
        head = _smooth_union(skull, jaw, 0.03)
        cheeks = _ellipsoid(sym, (0.033, -0.014, 0.052), (0.024, 0.024, 0.032))
        head = _smooth_union(head, cheeks, 0.02)
        brow_ridge = _ellipsoid(x, (0.0, 0.03, 0.066), (0.056, 0.013, 0.024))
        head = _smooth_union(head, brow_ridge, 0.015)
        sockets = _ellipsoid(sym, (self._eye_x, 0.012, 0.088), (0.019, 0.013, 0.014))
        head = _smooth_subtract(head, sockets, 0.008)
        nose_len = 1 + 0.15 * p.nose_length
        nose_w = 1 + 0.2 * p.nose_width
        bridge = _capsule(x, (0.0, 0.018, 0.082), (0.0, -0.026 * nose_len, 0.104 + 0.006 * p.nose_length), 0.007)
        tip = _ellipsoid(x, (0.0, -0.028 * nose_len, 0.102 + 0.006 * p.nose_length), (0.013 * nose_w, 0.012, 0.013))
        nostrils = _ellipsoid(sym, (0.011 * nose_w, -0.032 * nose_len, 0.094), (0.009 * nose_w, 0.008, 0.009))
        nose = _smooth_union(_smooth_union(bridge, tip, 0.01), nostrils, 0.006)
        head = _smooth_union(head, nose, 0.012)
        head = _smooth_union(head, self._lips(x), 0.006)
        chin = _ellipsoid(x, (0.0, -0.09 - 0.008 * p.chin_length, 0.058), (0.022, 0.017, 0.02))
        head = _smooth_union(head, chin, 0.02)
        ear_size = 1 + 0.15 * p.ear_size
        ears = _ellipsoid(sym, (0.074 * width, 0.008, -0.008), (0.012, 0.03 * ear_size, 0.019 * ear_size))
        head = _smooth_union(head, ears, 0.008)
        neck = _capsule(x, (0.0, -0.06, -0.02), (0.0, -0.3, -0.03), 0.047)
        head = _smooth_union(head, neck, 0.03)
        eyes = _ellipsoid(sym, (self._eye_x, 0.012, 0.072), (self._eye_r,) * 3)
        volume = 1 + 0.12 * p.hair_volume
        hair_shell = _ellipsoid(
            x, (0.0, 0.036, -0.018), (0.081 * width * volume, 0.104 * volume, 0.107 * volume)
        )
        # The hairline is a plane tilted back: high over the forehead, low at the nape.
        hairline = 0.02 - 0.02 * p.hair_length + 0.62 * x[:, 2] - 0.2 * (x[:, 0].abs() - 0.05).clamp_min(0)
        fringe = 0.006 * p.brow_height
        hair = torch.maximum(hair_shell, hairline + fringe - x[:, 1])
        neck_cut = BOUNDS.lo[1] + 0.01 - x[:, 1]
        return {
            "skin": torch.maximum(head, neck_cut),
            "eyes": eyes,
            "hair": torch.maximum(hair, neck_cut),
        }

    @staticmethod
    def _union(parts: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.minimum(torch.minimum(parts["skin"], parts["eyes"]), parts["hair"])

    def sdf(self, x: torch.Tensor) -> torch.Tensor:
        """Signed distance to the head surface, [N,3] -> [N] metres (negative inside)."""
        return self._union(self._parts(x))

    def _normals(self, x: torch.Tensor) -> torch.Tensor:
        """Unit outward normals by a tetrahedral finite difference of the SDF."""
        eps = 2e-4
        taps = x.new_tensor([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]])
        values = self.sdf((x.unsqueeze(1) + eps * taps).reshape(-1, 3)).reshape(-1, 4, 1)
        return torch.nn.functional.normalize((values * taps).sum(dim=1), dim=-1)

    def _lips(self, x: torch.Tensor) -> torch.Tensor:
        upper = _ellipsoid(x, (0.0, -0.056, 0.079), (0.019 * self._lip_scale, 0.0048 * self._lip_scale, 0.0095))
        lower = _ellipsoid(x, (0.0, -0.066, 0.077), (0.017 * self._lip_scale, 0.0055 * self._lip_scale, 0.0095))
        return torch.minimum(upper, lower)

    # Colour -----------------------------------------------------------------------------

    def _albedo(self, x: torch.Tensor, parts: dict[str, torch.Tensor]) -> torch.Tensor:
        p = self.params
        sym = torch.stack([x[:, 0].abs(), x[:, 1], x[:, 2]], dim=-1)
        skin = self._skin.expand(x.shape[0], 3).clone()
        blush = _soft_mask(_ellipsoid(sym, (0.04, -0.02, 0.075), (0.02, 0.014, 0.03)), 0.006)
        skin = torch.lerp(skin, skin * x.new_tensor([1.0, 0.8, 0.8]), 0.5 * blush.unsqueeze(-1))
        lip_colour = self._skin * x.new_tensor([0.85, 0.55, 0.55])
        skin = torch.lerp(skin, lip_colour.expand_as(skin), _soft_mask(self._lips(x) - 0.0015, 0.001).unsqueeze(-1))
        mouth_line = _ellipsoid(x, (0.0, -0.061, 0.084), (0.017 * self._lip_scale, 0.0011, 0.02))
        skin = torch.lerp(skin, skin * 0.35, _soft_mask(mouth_line, 0.0006).unsqueeze(-1))
        brow = _ellipsoid(sym, (self._eye_x + 0.002, 0.034 + 0.004 * p.brow_height, 0.082), (0.018, 0.0035, 0.03))
        brow_colour = self._hair * 0.9
        skin = torch.lerp(skin, brow_colour.expand_as(skin), 0.9 * _soft_mask(brow, 0.0015).unsqueeze(-1))
        # Eyes: white sclera, coloured iris and black pupil around the eye's forward (+z) axis.
        to_eye = torch.nn.functional.normalize(sym - sym.new_tensor((self._eye_x, 0.012, 0.072)), dim=-1)
        facing = to_eye[:, 2]
        eye = torch.full_like(skin, 0.86)
        eye = torch.lerp(eye, self._iris.expand_as(eye), _soft_mask(0.91 - facing, 0.01).unsqueeze(-1))
        eye = torch.lerp(eye, torch.full_like(eye, 0.03), _soft_mask(0.975 - facing, 0.005).unsqueeze(-1))
        # Hair darkens a little toward the roots to read as volume.
        hair = self._hair * (0.85 + 0.15 * torch.sigmoid(x[:, 1:2] / 0.03))
        nearest = torch.stack([parts["skin"], parts["eyes"], parts["hair"]], dim=-1).argmin(dim=-1)
        return torch.where(
            (nearest == 0).unsqueeze(-1), skin, torch.where((nearest == 1).unsqueeze(-1), eye, hair)
        )

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return DENSITY_SCALE * torch.nn.functional.softplus(-self.sdf(points) / SURFACE_SHARPNESS)

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        parts = self._parts(points)
        sdf = self._union(parts)
        raw_density = -sdf / SURFACE_SHARPNESS
        density = DENSITY_SCALE * torch.nn.functional.softplus(raw_density)
        albedo = self._albedo(points, parts)
        shade = torch.full_like(sdf, 0.75)
        near = torch.nonzero(sdf.abs() < _NORMAL_BAND).squeeze(1)
        if near.numel():
            normals = self._normals(points[near])
            lambert = (normals @ self._light).clamp_min(0)
            sky = 0.5 + 0.5 * normals[:, 1]  # hemisphere ambient: brighter facing up
            shade[near] = 0.3 + 0.12 * sky + 0.62 * lambert
        rgb = (albedo * shade.unsqueeze(-1)).clamp(0, 1)
        return FieldSample(density=density, rgb=rgb, raw_density=raw_density)


class DemoGenerator(Generator):
    """Procedural heads; see the module docstring. Needs no checkpoint."""

    family = "demo"
    z_dim = Z_DIM
    camera = CAMERA
    render_settings = RenderSettings(num_coarse=48, num_fine=48, background=(1.0, 1.0, 1.0))

    def __init__(self, device: DeviceLike = "auto") -> None:
        self.device = resolve_device(device)
        rng = torch.Generator(device="cpu").manual_seed(TRUNCATION_SEED)
        self._average_traits = map_latent(torch.randn(TRUNCATION_NUM_SAMPLES, Z_DIM, generator=rng)).mean(dim=0)
        self.info = {
            "family": self.family,
            "variant": "procedural",
            "learned": False,
            "checkpoint_sha256": None,
            "z_dim": self.z_dim,
            "default_pose": {"yaw": 0.0, "pitch": 0.0, "radius": CAMERA.radius, "fov": CAMERA.fov},
            "default_level": DEFAULT_LEVEL,
            "units": "metres",
            "device": str(self.device),
        }

    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> DemoField:
        if conditioning is not None:
            raise InputError("the demo model takes no conditioning; pass conditioning=None")
        traits = torch.lerp(self._average_traits, map_latent(z), truncation).clamp(-1, 1)
        return DemoField(HeadParams(tuple(float(t) for t in traits)), self.device)


def load(path: str | None = None, device: DeviceLike = "auto") -> DemoGenerator:
    """Build the demo generator; it takes no checkpoint."""
    if path is not None:
        raise InputError("the demo model takes no checkpoint; leave out the checkpoint path")
    return DemoGenerator(device)


FAMILY = FamilySpec(
    name="demo",
    title="aware3d procedural demo heads (not learned)",
    files="none: built in",
    licence=releases.AWARE3D_LICENCE,
    loader=load,
    convention=CAMERA.convention,
    frame=FRAME,
    default_level=DEFAULT_LEVEL,
    builtin=True,
)
