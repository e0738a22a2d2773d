"""PanoHead (An et al., CVPR 2023): full 360-degree heads from the official network pickles.

The pickle is EG3D's (``torch_utils.persistence``, read without running it); the generator is
EG3D's with these differences (SizheAn/PanoHead ``training/triplane.py``,
``training/volumetric_rendering/renderer.py``, read for conventions):

* a tri-grid: the backbone gives ``32 * 3 * D`` channels (D = ``triplane_depth``: 3 in the release,
  1 in the ablation), viewed as three ``[32, D, H, W]`` grids read by a 5-D trilinear
  ``grid_sample``; the grids' axes are the renderer's pickled ``plane_axes`` (XY, XZ, YZ);
* the decoder keeps its 32 features without activation (``decoder_activation 'none'``);
  the ray marcher composites them as they are (no ``* 2 - 1``);
* colour: ``torgb`` (a 1x1 modulated convolution with ``ws[:, -1]``) maps the composited feature
  image to the raw RGB; per point, aware3d applies the same linear map to the point's features and
  maps [-1, 1] to [0, 1] as the official scripts map images (``clamp((x + 1) / 2, 0, 1)``);
* a 2-D background network (``bcg_synthesis``) is composited behind the head in images only,
  ``feature + (1 - opacity) * background``; it is not part of the 3-D field;
* ``t_mapping`` predicts a camera offset from z and the label, which ``G.forward`` (training)
  adds to the camera's translation (entries 3, 7, 11 of the label). ``gen_videos.py`` hard-codes
  ``entangle = 'camera'`` and renders with plain ``G.synthesis``, i.e. without it, and so do
  aware3d's previews; ``field.camera_offset`` holds it and ``synthesize(..., offset=True)`` applies it;
* images crop the density outside ``|x|, |z| <= box_warp / 2 - 0.1`` (``triplane_crop``);
  ``G.sample`` (meshing) does not.

Defaults: conditioning is the frontal camera aimed at the origin (``--pose_cond 90``, pivot
(0, 0, 0) as ``gen_samples.py`` and ``gen_videos.py --cfg Head``) with the training focal 4.2647
(``gen_videos.py``; ``gen_samples.py``'s int ``--fov-deg`` gives 18 and 4.4652). Level 10 on the raw
sigma, the border padding and the seed draw are EG3D's. Scale: a full head (about 0.25 m with hair)
fills most of the 0.633 units the frontal camera sees at the origin, so one unit is 0.55 m.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..cameras import EG3D_CONVENTION, CameraSpec
from ..checkpoints import PickleSummary
from ..errors import CheckpointError, InputError
from ..fields import FieldSample, WorldFrame
from ..progress import ProgressCallback
from . import releases
from .eg3d import DEFAULT_LEVEL, FOV_DEG, EG3DField, EG3DGenerator
from .persistence import PersistentRecord, read_network_pickle, reader_globals
from .registry import FamilySpec
from .stylegan2 import MappingNetwork, SynthesisNetwork, ToRGB, child, has_child, state_of
from .triplane import NUM_PLANES, PLANE_CHANNELS, camera_rays, render_rays, sample_grids

BY_REFERENCE = (
    "training.volumetric_rendering.ray_sampler.RaySampler",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.activation.Softplus",
)
"""PanoHead pickles only these by reference; its decoder, renderer and ray marcher are persistent."""

TRIPLANE_CROP = 0.1
"""``ImportanceRenderer.forward``'s default ``triplane_crop``."""

FRAME = WorldFrame("y", 0.55)


def read_snapshot_generator(path: Path) -> PersistentRecord:
    """``G_ema`` of a PanoHead snapshot, as an inert record.

    Raises:
        CheckpointError: for a file that is not a snapshot with a persistent ``TriPlaneGenerator``.
    """
    snapshot = read_network_pickle(path, BY_REFERENCE)
    generator = snapshot.get("G_ema")
    if not isinstance(generator, PersistentRecord) or generator.class_name != "TriPlaneGenerator":
        keys = ", ".join(sorted(map(str, snapshot))) or "nothing"
        raise CheckpointError(f"{path} is not a PanoHead snapshot with a TriPlaneGenerator G_ema (it holds {keys})")
    return generator


def describe(generator: PersistentRecord) -> str:
    """Tri-grid depth, output size, neural-rendering resolution."""
    options = generator.state.get("rendering_kwargs") or {}
    parts = [f"tri-grid depth {options.get('triplane_depth', '?')}"]
    init = generator.state.get("_init_kwargs") or {}
    if isinstance(init, dict) and init.get("img_resolution"):
        parts.append(f"{init['img_resolution']}px")
    if generator.state.get("neural_rendering_resolution"):
        parts.append(f"neural rendering {generator.state['neural_rendering_resolution']}")
    return ", ".join(parts)


def variant(path: Path, summary: PickleSummary) -> str | None:
    """What ``aware3d info`` names: the tri-grid depth and sizes, read without running anything."""
    return describe(read_snapshot_generator(path))


class PanoHeadField(EG3DField):
    """One PanoHead identity: its tri-grids (computed once) and decoder; ``rgb`` through ``torgb``."""

    def __init__(self, grids: torch.Tensor, ws: torch.Tensor, generator: PanoHeadGenerator) -> None:
        super().__init__(grids, ws, generator.decoder, float(generator.options["box_warp"]), generator.frame, generator.device)
        self.axes, self.depth = generator.plane_axes, generator.depth
        self.colour = generator.point_colour(ws)

    def decode(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.decoder(sample_grids(self.planes, self.depth, points, self.box_warp, self.axes))

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.decoder.sigma(sample_grids(self.planes, self.depth, points, self.box_warp, self.axes)) - 1)

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        raw, features = self.decode(points)
        return FieldSample(density=F.softplus(raw - 1), rgb=self.colour(features), raw_density=raw, features=features)


class PanoHeadGenerator(EG3DGenerator):
    """PanoHead from an official network pickle."""

    family = "panohead"

    def __init__(self, path: str | Path, device="auto") -> None:
        super().__init__(path, device)
        self.plane_axes = self.plane_axes.to(self.device)
        self.frame = FRAME
        radius = float(self.options["avg_camera_radius"])
        self.camera = CameraSpec(EG3D_CONVENTION, radius=radius, fov=FOV_DEG, pivot=(0.0, 0.0, 0.0), orbit_centre=(0.0, 0.0, 0.0))
        self.info.update(variant=self._variant_text, triplane_depth=self.depth,
                         units=f"PanoHead world units ({FRAME.metres_per_unit} m each at life size)",
                         default_pose={"yaw": 0.0, "pitch": 0.0, "radius": radius, "fov": FOV_DEG})

    def _read(self, path: Path) -> PersistentRecord:
        return read_snapshot_generator(path)

    def _build_more(self, record: PersistentRecord, where: str) -> None:
        self.depth = int(self.options.get("triplane_depth", 1))
        self.torgb = ToRGB(child(record, "torgb", where), f"{where}.torgb") if has_child(record, "torgb") else None
        self.background = (SynthesisNetwork(child(record, "bcg_synthesis", where), f"{where}.bcg_synthesis")
                           if has_child(record, "bcg_synthesis") else None)
        self.t_mapping = MappingNetwork(child(record, "t_mapping", where), f"{where}.t_mapping") if has_child(record, "t_mapping") else None
        renderer = child(record, "renderer", where)
        axes = state_of(renderer).get("plane_axes")
        if not isinstance(axes, torch.Tensor) or axes.shape != (NUM_PLANES, 3, 3):
            raise CheckpointError(f"{where}.renderer has no [3,3,3] plane_axes")
        self.plane_axes = axes.detach().to(torch.float32)
        self._variant_text = describe(record)

    def _modules(self) -> dict[str, torch.nn.Module]:
        extra = {"torgb": self.torgb, "background": self.background, "t_mapping": self.t_mapping}
        return {**super()._modules(), **{name: module for name, module in extra.items() if module is not None}}

    @property
    def plane_channels(self) -> int:
        return PLANE_CHANNELS * int(self.options.get("triplane_depth", 1))

    # --- identities ---------------------------------------------------------------------------

    def point_colour(self, ws: torch.Tensor):
        """Features [M,32] -> [M,3] in [0,1]: ``torgb`` with ``ws[:, -1]`` (a linear map per point),
        then ``clamp((x + 1) / 2, 0, 1)``; without ``torgb`` the first three features (already in
        [0, 1] after a sigmoid decoder, in [-1, 1] otherwise, as the official raw image)."""
        if self.torgb is None:
            if self.decoder.activation == "sigmoid":
                return lambda features: features[:, :3].clamp(0, 1)
            return lambda features: ((features[:, :3] + 1) / 2).clamp(0, 1)
        styles = self.torgb.affine(ws[:, -1]) * self.torgb.weight_gain  # [1,32]
        weight = self.torgb.weight[:, :, 0, 0] * styles  # [3,32]
        bias, clamp = self.torgb.bias, self.torgb.conv_clamp

        def colour(features: torch.Tensor) -> torch.Tensor:
            rgb = F.linear(features, weight, bias)
            if clamp is not None:
                rgb = rgb.clamp(-clamp, clamp)
            return ((rgb + 1) / 2).clamp(0, 1)

        return colour

    @torch.inference_mode()
    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> PanoHeadField:
        ws = self.mapping_ws(z, truncation, conditioning)
        grids = self.synthesis(ws, noise_mode="const")
        grids = grids.reshape(NUM_PLANES, PLANE_CHANNELS * self.depth, *grids.shape[-2:])
        field = PanoHeadField(grids, ws, self)
        label = self.conditioning_label(conditioning)
        field.identity = {"conditioning": [round(v, 6) for v in label.tolist()]}
        field.camera_offset = self.camera_offset(z, label)
        return field

    @torch.inference_mode()
    def camera_offset(self, z: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        """``t_mapping``'s [3] translation offset for ``z`` and the conditioning label (psi 1, as the
        dead ``entangle='both'`` branch of ``gen_videos.py`` computes it); zeros without ``t_mapping``."""
        if self.t_mapping is None:
            return torch.zeros(3, device=self.device)
        label = label[None]
        if self.options.get("c_gen_conditioning_zero", False):
            label = torch.zeros_like(label)
        label = label * float(self.options.get("c_scale", 0))
        return self.t_mapping(z.to(self.device).reshape(1, -1), label, 1.0, None)[0, 0]

    # --- previews -------------------------------------------------------------------------------

    @torch.inference_mode()
    def synthesize(self, field: PanoHeadField, cam2world: torch.Tensor, intrinsics: torch.Tensor,
                   progress: ProgressCallback | None = None, offset: bool = False) -> dict[str, torch.Tensor]:
        """PanoHead's image synthesis for one camera, deterministic (see :meth:`EG3DGenerator.synthesize`);
        ``offset`` adds the identity's ``t_mapping`` camera offset as ``G.forward`` does (``gen_videos.py``
        and ``gen_samples.py`` render without it)."""
        cam2world = cam2world.to(self.device, torch.float32).clone()
        if offset:
            cam2world[:3, 3] += field.camera_offset
        n = self.neural_rendering_resolution
        origins, dirs = camera_rays(cam2world, intrinsics.to(self.device, torch.float32), n)
        features, depth, alpha = render_rays(self._volume_decode(field), origins, dirs, self.options, progress=progress, signed=False)
        feature_image = features.t().reshape(1, -1, n, n)
        weights = alpha.reshape(1, 1, n, n)
        if self.decoder.activation == "sigmoid":
            feature_image = feature_image * 2 - 1
        if self.background is not None:
            count = self.background.num_ws
            ws = field.ws[:, :count]
            if ws.shape[1] < count:
                ws = torch.cat([ws, ws[:, -1:].repeat(1, count - ws.shape[1], 1)], dim=1)
            background = F.interpolate(self.background(ws, noise_mode="const"), size=(n, n), mode="bilinear", align_corners=False,
                                       antialias=bool(self.options.get("sr_antialias", True)))
            feature_image = feature_image + (1 - weights) * background
        rgb = self.torgb(feature_image, field.ws[:, -1]) if self.torgb is not None else feature_image[:, :3]
        noise_mode = self.options.get("superresolution_noise_mode", "none")
        image = self.superresolution(rgb, feature_image, field.ws, "const" if noise_mode == "const" else "none")
        return {"image": image, "image_raw": rgb, "image_features": feature_image, "image_depth": depth.reshape(1, 1, n, n),
                "alpha": weights}

    _signed_marcher = False
    full_circle = True

    def _volume_decode(self, field: PanoHeadField):
        """The field with PanoHead's crop: no density within ``TRIPLANE_CROP`` of the box's side walls."""
        box = float(self.options["box_warp"]) / 2 - TRIPLANE_CROP

        def decode(points: torch.Tensor):
            sigma, features = field.decode(points)
            outside = (points[:, [0, 2]].abs() > box).any(dim=-1)  # triplane_crop_mask (its bottom clause adds nothing)
            return torch.where(outside, torch.full_like(sigma, -1e3), sigma), features

        return decode


def load(path: str | None, device="auto") -> PanoHeadGenerator:
    """Build PanoHead from ``path`` (an official network .pkl)."""
    if path is None:
        raise InputError("PanoHead needs its network pickle: pass --checkpoint PATH/easy-khair-180-gpc0.8-trans10-025000.pkl")
    return PanoHeadGenerator(path, device)


FAMILY = FamilySpec(
    name="panohead",
    title="PanoHead (An et al., CVPR 2023)",
    files="the network .pkl (easy-khair-180-gpc0.8-trans10-025000.pkl, ablation-trigridD-1-025000.pkl)",
    licence=releases.PANOHEAD_LICENCE,
    loader=load,
    convention=EG3D_CONVENTION,
    frame=FRAME,
    default_level=DEFAULT_LEVEL,
    state_keys=("t_mapping", "bcg_synthesis", "triplane_depth"),
    variant=variant,
    standins=reader_globals(BY_REFERENCE),
    releases=releases.PANOHEAD_RELEASES,
)
