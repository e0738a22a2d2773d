"""EG3D's tri-plane field, neural renderer and super-resolution, rebuilt from a snapshot's records.

Facts (Chan et al., CVPR 2022; NVlabs/eg3d ``training/triplane.py``,
``training/volumetric_rendering/*.py``, ``training/superresolution.py``, read for conventions):

* the backbone's 96 channels are three 32-channel planes; a point ``p`` is scaled by
  ``2 / box_warp`` and projected onto the planes as (x, y), (x, z) and **(z, x)** (the released
  weights were trained with that third projection, eg3d #30/#53/#67); features are read with
  ``grid_sample(bilinear, zeros, align_corners=False)`` and averaged over the planes;
* the decoder (``OSGDecoder``): FC(32, 64), softplus, FC(64, 1 + 32); channel 0 is the raw
  density sigma, the rest go through ``sigmoid * 1.002 - 0.001`` (32 features, the first three
  the low-resolution colour); it ignores view directions;
* the ray marcher composites between consecutive samples: midpoint features, density
  ``softplus(mean(sigma) - 1)``, transmittance with a 1e-10 floor, features scaled to [-1, 1];
* importance sampling smooths the coarse weights (max-pool 2, average-pool 2, + 0.01) and draws
  ``depth_resolution_importance`` depths from their piecewise-linear CDF over the midpoints;
* super-resolution resizes the raw image and the 32-channel feature image to the network's input
  size (bilinear, antialiased) and runs two StyleGAN2 synthesis blocks fed ``ws[:, -1]`` three times.

The official renderer jitters its stratified samples and draws importance samples at random;
aware3d's is deterministic: strata centres and evenly spaced CDF quantiles (``det=True``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..progress import ProgressCallback
from ..render import alpha_weights, sample_pdf
from .stylegan2 import FullyConnected, SynthesisBlock, attribute, child, class_of, state_of

PLANE_CHANNELS = 32
NUM_PLANES = 3

SUPERRESOLUTION_CLASSES = {
    # class -> (resize only when smaller than the input size, antialias read from the record)
    "SuperresolutionHybrid8XDC": (False, True),
    "SuperresolutionHybrid8X": (False, True),
    "SuperresolutionHybrid4X": (True, True),
    "SuperresolutionHybrid2X": (False, True),
    "SuperresolutionHybridDeepfp32": (True, False),
}
"""The super-resolution classes of ``training/superresolution.py`` and how each resizes its input."""


def project_onto_planes(points: torch.Tensor) -> torch.Tensor:
    """[M,3] -> [3,M,2] plane coordinates (x, y), (x, z), (z, x): EG3D's axes, kept for its weights."""
    x, y, z = points.unbind(-1)
    return torch.stack([torch.stack([x, y], -1), torch.stack([x, z], -1), torch.stack([z, x], -1)])


def sample_planes(planes: torch.Tensor, points: torch.Tensor, box_warp: float) -> torch.Tensor:
    """Bilinear features of ``points`` [M,3] on ``planes`` [3,C,R,R] -> [M,C], averaged over the planes."""
    grid = project_onto_planes(points * (2.0 / box_warp)).unsqueeze(1)  # [3,1,M,2]
    features = F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # [3,C,1,M]
    return features[:, :, 0].mean(dim=0).t()


def sample_grids(grids: torch.Tensor, depth: int, points: torch.Tensor, box_warp: float, axes: torch.Tensor) -> torch.Tensor:
    """PanoHead's tri-grid: ``points`` [M,3] -> [M,C] features, averaged over the three grids.

    ``grids`` [3, C*D, H, W] (channel ``c * D + d``: the backbone's layout). Each grid reads
    ``points * 2 / box_warp`` in its own axes (``p @ inverse(axes[i])``; the coordinates index W, H
    and D). PanoHead samples with a 5-D trilinear ``grid_sample`` (zeros outside,
    ``align_corners=False``); this computes the same sum as a bilinear ``grid_sample`` of every depth
    slice followed by the linear weights along D (slices outside the grid weigh nothing, as zeros
    padding does), because the 2-D kernel on channels-last planes is about 10x faster on CPU.
    """
    coords = (points * (2.0 / box_warp)) @ torch.linalg.inv(axes)  # [3,M,3]
    slices = F.grid_sample(grids, coords[:, None, :, :2], mode="bilinear", padding_mode="zeros", align_corners=False)  # [3,C*D,1,M]
    slices = slices.reshape(grids.shape[0], -1, depth, coords.shape[1])  # [3,C,D,M]
    position = ((coords[..., 2] + 1) * depth - 1) / 2  # [3,M] in slice units
    offsets = torch.arange(depth, device=points.device, dtype=points.dtype)
    weights = (1 - (position[:, None, :] - offsets[None, :, None]).abs()).clamp_min(0)  # [3,D,M]
    return (slices * weights[:, None]).sum(dim=2).mean(dim=0).t()


class TriPlaneDecoder(nn.Module):
    """EG3D's ``OSGDecoder``: averaged plane features -> raw sigma [M] and 32 features [M,32]."""

    def __init__(self, node: Any, where: str = "decoder") -> None:
        super().__init__()
        net = child(node, "net", where)
        layers = [(state_of(net).get("_modules") or {}).get(str(i)) for i in range(3)]
        if any(layer is None for layer in layers) or class_of(layers[1]) != "Softplus":
            raise CheckpointError(f"{where}.net is not EG3D's FC, Softplus, FC decoder")
        self.hidden = FullyConnected(layers[0], f"{where}.net.0")
        self.out = FullyConnected(layers[2], f"{where}.net.2")
        self.activation = attribute(node, "activation", where, "sigmoid")  # PanoHead's decoder_activation; EG3D has none
        if self.activation not in ("sigmoid", "none", "lrelu"):
            raise CheckpointError(f"{where} uses the feature activation {self.activation!r}; aware3d runs sigmoid, none and lrelu")
        self.beta = float(attribute(layers[1], "beta", f"{where}.net.1", 1.0))
        self.threshold = float(attribute(layers[1], "threshold", f"{where}.net.1", 20.0))
        if self.hidden.activation != "linear" or self.out.activation != "linear":
            raise CheckpointError(f"{where}'s layers are not linear (the decoder's only activation is its softplus)")
        if self.hidden.in_features != PLANE_CHANNELS:
            raise CheckpointError(f"{where} reads {self.hidden.in_features} plane channels; EG3D's planes have {PLANE_CHANNELS}")

    def _hidden(self, features: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.hidden(features), beta=self.beta, threshold=self.threshold)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.out(self._hidden(features))
        features = x[:, 1:]
        if self.activation == "sigmoid":
            features = torch.sigmoid(features) * (1 + 2 * 0.001) - 0.001
        elif self.activation == "lrelu":
            features = F.leaky_relu(features, 0.2) * math.sqrt(2)
        return x[:, 0], features

    def sigma(self, features: torch.Tensor) -> torch.Tensor:
        """Raw sigma only (meshing): the output layer's first row, without the 32 features."""
        bias = None if self.out.bias is None else self.out.bias[:1]
        return F.linear(self._hidden(features), self.out.weight[:1], bias)[:, 0]


class SuperResolution(nn.Module):
    """The two-block StyleGAN2 super-resolution network EG3D appends to its neural renderer."""

    def __init__(self, node: Any, where: str = "superresolution") -> None:
        super().__init__()
        self.kind = class_of(node)
        if self.kind not in SUPERRESOLUTION_CLASSES:
            raise CheckpointError(f"{where} is a {self.kind}; aware3d runs {', '.join(SUPERRESOLUTION_CLASSES)}")
        self.only_upscale, reads_antialias = SUPERRESOLUTION_CLASSES[self.kind]
        self.input_resolution = int(attribute(node, "input_resolution", where))
        self.antialias = bool(attribute(node, "sr_antialias", where, True)) if reads_antialias else False
        self.block0 = SynthesisBlock(child(node, "block0", where), f"{where}.block0")
        self.block1 = SynthesisBlock(child(node, "block1", where), f"{where}.block1")

    def forward(self, rgb: torch.Tensor, features: torch.Tensor, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        """[N,3,n,n] raw image, [N,32,n,n] feature image, [N,num_ws,w] -> [N,3,R,R] in about [-1, 1]."""
        ws = ws[:, -1:].repeat(1, 3, 1)
        size = features.shape[-1]
        if (size < self.input_resolution) if self.only_upscale else (size != self.input_resolution):
            target = (self.input_resolution, self.input_resolution)
            features = F.interpolate(features, size=target, mode="bilinear", align_corners=False, antialias=self.antialias)
            rgb = F.interpolate(rgb, size=target, mode="bilinear", align_corners=False, antialias=self.antialias)
        x, rgb = self.block0(features, rgb, ws, noise_mode)
        _, rgb = self.block1(x, rgb, ws, noise_mode)
        return rgb


# --- the neural renderer ------------------------------------------------------------------------


def camera_rays(cam2world: torch.Tensor, intrinsics: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """EG3D's ray sampler: OpenCV ``cam2world`` [4,4] and normalised ``intrinsics`` [3,3] -> origins, unit
    directions [n*n,3] through the pixel centres, row 0 at the top."""
    device = cam2world.device
    centres = (torch.arange(resolution, dtype=torch.float32, device=device) + 0.5) / resolution
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    u, v = u.reshape(-1), v.reshape(-1)
    fx, fy, cx, cy, skew = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2], intrinsics[0, 1]
    x = (u - cx + cy * skew / fy - skew * v / fy) / fx
    y = (v - cy) / fy
    local = torch.stack([x, y, torch.ones_like(x)], dim=-1)
    dirs = F.normalize(local @ cam2world[:3, :3].t(), dim=-1)
    return cam2world[:3, 3].expand_as(dirs), dirs


def box_ray_limits(origins: torch.Tensor, dirs: torch.Tensor, side: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Where rays enter and leave the cube of side ``side`` around the origin (``ray_start='auto'``);
    rays that miss get the hitting rays' nearest start, as EG3D does, and no samples beyond it."""
    with torch.no_grad():
        inverse = 1.0 / torch.where(dirs == 0, torch.full_like(dirs, 1e-12), dirs)
        t0, t1 = (-side / 2 - origins) * inverse, (side / 2 - origins) * inverse
        near = torch.minimum(t0, t1).amax(dim=-1)
        far = torch.maximum(t0, t1).amin(dim=-1)
        valid = far > near
        if valid.any():
            near = torch.where(valid, near, near[valid].min())
            far = torch.where(valid, far, near[valid].max())
    return near, far


def stratified_depths(near: torch.Tensor, far: torch.Tensor, count: int, disparity: bool) -> torch.Tensor:
    """[R] limits -> [R,count] depths at the centres of EG3D's strata (its jitter's mean)."""
    steps = torch.linspace(0, 1, count, device=near.device)
    offsets = steps + 0.5 / (count - 1)
    if disparity:
        return 1.0 / (1.0 / near[:, None] * (1.0 - offsets) + 1.0 / far[:, None] * offsets)
    return near[:, None] + (far - near)[:, None] * offsets


def march(features: torch.Tensor, sigma: torch.Tensor, depths: torch.Tensor, white_back: bool, signed: bool = True):
    """EG3D's ``MipRayMarcher2`` over [R,S,C], [R,S], [R,S] -> features [R,C], depth [R], weights [R,S-1].

    ``signed`` maps the composite to [-1, 1] as EG3D's marcher does (PanoHead's does not).
    """
    deltas = depths[:, 1:] - depths[:, :-1]
    features_mid = (features[:, :-1] + features[:, 1:]) / 2
    density = F.softplus((sigma[:, :-1] + sigma[:, 1:]) / 2 - 1)
    depths_mid = (depths[:, :-1] + depths[:, 1:]) / 2
    weights = alpha_weights(1 - torch.exp(-density * deltas))
    composite = (weights[..., None] * features_mid).sum(dim=1)
    total = weights.sum(dim=1)
    depth = torch.nan_to_num((weights * depths_mid).sum(dim=1) / total, float("inf")).clamp(depths.min(), depths.max())
    if white_back:
        composite = composite + 1 - total[:, None]
    return (composite * 2 - 1 if signed else composite), depth, weights


def importance_depths(depths: torch.Tensor, weights: torch.Tensor, count: int) -> torch.Tensor:
    """EG3D's ``sample_importance`` with evenly spaced quantiles: [R,S] depths, [R,S-1] weights -> [R,count]."""
    smooth = F.max_pool1d(weights.unsqueeze(1), 2, 1, padding=1)
    smooth = F.avg_pool1d(smooth, 2, 1).squeeze(1) + 0.01
    bins = 0.5 * (depths[:, :-1] + depths[:, 1:])
    u = torch.linspace(0, 1, count, device=depths.device).expand(len(depths), count)
    return sample_pdf(bins, smooth[:, 1:-1], u, right=True)


def render_rays(
    decode, origins: torch.Tensor, dirs: torch.Tensor, options: dict, chunk_rays: int = 4096,
    progress: ProgressCallback | None = None, signed: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EG3D's importance renderer, deterministic.

    Args:
        decode: points [M,3] -> (raw sigma [M], features [M,C]).
        origins: [R,3] ray origins.
        dirs: [R,3] unit ray directions.
        options: the snapshot's ``rendering_kwargs``.
        chunk_rays: rays rendered at once (bounds the memory of the decoder's activations).
        progress: called as ``progress("render", rays_done, rays_total)`` after each chunk.
        signed: map the composite to [-1, 1] (EG3D's marcher; PanoHead's keeps it as is).

    Returns:
        features [R,C], depth [R], accumulated opacity [R].
    """
    out_features, out_depth, out_alpha = [], [], []
    total = len(origins)
    for start in range(0, total, chunk_rays):
        composite, depth, weights, _, _ = _march_chunk(decode, origins[start : start + chunk_rays], dirs[start : start + chunk_rays], options, signed)
        out_features.append(composite)
        out_depth.append(depth)
        out_alpha.append(weights.sum(dim=1))
        if progress is not None:
            progress("render", min(start + chunk_rays, total), total)
    return torch.cat(out_features), torch.cat(out_depth), torch.cat(out_alpha)


def sample_rays(decode, origins: torch.Tensor, dirs: torch.Tensor, options: dict, chunk_rays: int = 4096,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`render_rays`' opacity [R] and depth [R] with its sample depths [R,S] (sorted) and raw
    sigma there [R,S]: what the automatic level matches level sets to."""
    chunks = [_march_chunk(decode, origins[start : start + chunk_rays], dirs[start : start + chunk_rays], options, signed=False)
              for start in range(0, len(origins), chunk_rays)]
    _, depth, weights, depths, sigma = (torch.cat(parts) for parts in zip(*chunks))
    return weights.sum(dim=1), depth, depths, sigma


def _march_chunk(decode, o: torch.Tensor, d: torch.Tensor, options: dict, signed: bool):
    """One chunk of rays through EG3D's importance renderer: composite [R,C], depth [R], weights
    [R,S-1], sorted sample depths [R,S] and raw sigma [R,S]."""
    if options["ray_start"] == options["ray_end"] == "auto":
        near, far = box_ray_limits(o, d, float(options["box_warp"]))
    else:
        near = torch.full((len(o),), float(options["ray_start"]), device=o.device)
        far = torch.full((len(o),), float(options["ray_end"]), device=o.device)
    depths = stratified_depths(near, far, int(options["depth_resolution"]), bool(options.get("disparity_space_sampling", False)))
    sigma, features = _decode_depths(decode, o, d, depths)
    white_back = bool(options.get("white_back", False))
    fine_count = int(options.get("depth_resolution_importance", 0))
    if fine_count > 0:
        _, _, weights = march(features, sigma, depths, white_back, signed)
        fine = importance_depths(depths, weights, fine_count)
        fine_sigma, fine_features = _decode_depths(decode, o, d, fine)
        depths, order = torch.cat([depths, fine], dim=1).sort(dim=1)
        sigma = torch.cat([sigma, fine_sigma], dim=1).gather(1, order)
        features = torch.cat([features, fine_features], dim=1).gather(1, order[..., None].expand(-1, -1, features.shape[-1]))
    composite, depth, weights = march(features, sigma, depths, white_back, signed)
    return composite, depth, weights, depths, sigma


def _decode_depths(decode, origins: torch.Tensor, dirs: torch.Tensor, depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    rays, samples = depths.shape
    points = (origins[:, None] + depths[..., None] * dirs[:, None]).reshape(-1, 3)
    sigma, features = decode(points)
    return sigma.reshape(rays, samples), features.reshape(rays, samples, -1)
