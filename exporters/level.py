"""The automatic surface level: which density level makes a mesh that agrees with the model's own
volume renderer.

Every user of these generators asks which level is the surface. Here the answer is measured: at a
few poses the volume renderer gives each pixel an opacity and an expected depth; the same pixels'
rays are sampled through the meshing box, and for each candidate level the level set's first
crossing along each ray (what marching cubes would mesh; interpolated in log density between
samples) gives a silhouette and a depth. The level kept is the one whose depth agrees best with the renderer's
among those whose silhouette does not contradict it:

1. keep the levels whose pooled silhouette IoU is within ``IOU_TOLERANCE`` of the best (a level
   that punches holes or grows fog loses more than that);
2. of those, keep the ones whose mean depth difference is within ``DEPTH_TOLERANCE`` marching-cubes
   cells of the smallest;
3. of those, take the one nearest (in log density) to the family's documented level, or the
   middle of the range (in log density) when there is none.

Depth, not the silhouette, places the surface: the opacity of a ray grazing a sharp surface reaches
one half a millimetre or two outside it, so the best-IoU level lies well below the surface, while
a ray meeting the surface head-on puts its expected depth just inside it. Rule 3 only settles
ties: sharp surfaces leave a range of levels whose depths differ by less than a fifth of a cell.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from aware3d.cameras import Pose, pose_to_camera
from aware3d.errors import EmptySurfaceError
from aware3d.fields import Field
from aware3d.models.base import Generator
from aware3d.render import camera_rays, intersect_box

from .fidelity import SILHOUETTE_OPACITY

IOU_TOLERANCE = 0.035
"""Levels whose silhouette IoU is this close to the best do not contradict the renderer's outline.
A sharp surface's own level sits up to 3 % below the best (the demo's analytic level: 0.97-0.98
against 0.99-1.0 on 48^2 probes); a wider margin lets a soft, thick surface's depth pull the level
far inside its outline (the EG3D head test file: 0.936 IoU at 256 px with 0.05 on 32^2 probes)."""

DEPTH_TOLERANCE = 0.2
"""Depth differences below a fifth of a marching-cubes cell count as ties: the probe samples every
second cell, and on the demo's heads the analytic surface's depth difference exceeds the best
level's by up to 0.16 mm (seeds 1, 3, 7 at 256^3), more than a tenth of a 1.33 mm cell."""

PROBE_SIZE = 48
"""Probe images are 48^2: 2304 rays per pose, enough to see holes and fog at the scale of a nose,
and an outline fine enough (a pixel of it moves a head's IoU by ~1.5 %) for :data:`IOU_TOLERANCE`:
on 32^2 probes the CIPS-3D head test file got a level whose mesh the 256 px previews outline at
IoU 0.92 (0.97 at 48^2). The price is 2.25x the probes' time (GRAF: 35 % of its export)."""

NUM_CANDIDATES = 64
"""Candidate levels, spaced evenly in log density over the densities the probe rays meet."""

LEVEL_RANGE = 1e4
"""The lowest candidate is the highest one divided by this."""

TOP_FRACTION = 0.9
"""The highest candidate is 90 % of the highest density the probe rays meet, so the surface it
gives does not hang on a single sample."""

MAX_SAMPLES_PER_RAY = 96
"""Samples per probe ray: one per two marching-cubes cells of the box, 64 to 96."""


def probe_poses(full_circle: bool = False) -> list[Pose]:
    """Where the search looks: the front and +-0.4 rad of yaw (four sides for full-head models)."""
    if full_circle:
        return [Pose(yaw=yaw) for yaw in (0.0, math.pi / 2, math.pi - 1e-3, -math.pi / 2)]
    return [Pose(yaw=yaw) for yaw in (0.0, 0.4, -0.4)]


@dataclass(frozen=True)
class LevelSearch:
    """The outcome of the search.

    Attributes:
        level: the chosen density level.
        iou: its pooled silhouette IoU against the probes' opacity.
        depth_error: its mean depth difference on the shared silhouette, world units.
        plateau: [lowest, highest] levels that passed rules 1 and 2.
        hint: the family's documented level (None if it has none).
        seconds: wall time of the search.
    """

    level: float
    iou: float
    depth_error: float
    plateau: tuple[float, float]
    hint: float | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: 7 significant digits, None for an infinite depth error (no shared silhouette)."""
        def number(value: float) -> float | None:
            return float(f"{value:.7g}") if math.isfinite(value) else None

        return {k: number(v) if isinstance(v, float) else [number(x) for x in v] if isinstance(v, tuple) else v
                for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _Probe:
    opacity: torch.Tensor  # [R] bool, the renderer's silhouette
    depth: torch.Tensor  # [R] expected depth
    density: torch.Tensor  # [R,S] level-set samples along the rays
    depths: torch.Tensor  # [R,S]


@torch.inference_mode()
def _probe(generator: Generator, field: Field, pose: Pose, samples: int) -> _Probe:
    alpha, expected = generator.volume_opacity(field, pose, PROBE_SIZE)
    origins, dirs = camera_rays(pose_to_camera(pose, generator.camera), PROBE_SIZE, PROBE_SIZE, field.device)
    near, far = intersect_box(origins, dirs, field.bounds)
    far = torch.maximum(far, near)  # rays that miss the box get no extent, so never cross a level
    steps = torch.linspace(0, 1, samples, device=origins.device)
    depths = near[:, None] + (far - near)[:, None] * steps
    points = origins[:, None] + dirs[:, None] * depths[..., None]
    density = field.query_density(points.reshape(-1, 3)).reshape(len(origins), samples)
    density = torch.where((far > near)[:, None], density, torch.zeros_like(density))
    return _Probe(alpha.reshape(-1).to(density.device) >= SILHOUETTE_OPACITY, expected.reshape(-1).to(density.device), density, depths)


def _first_crossing(probe: _Probe, level: float) -> tuple[torch.Tensor, torch.Tensor]:
    """[R] bool: the ray reaches ``level``; [R] depth of the first crossing (linear interpolation)."""
    above = probe.density >= level
    hit = above.any(dim=1)
    index = above.to(torch.int8).argmax(dim=1)
    before = (index - 1).clamp_min(0)
    s0, s1 = probe.density.gather(1, before[:, None])[:, 0], probe.density.gather(1, index[:, None])[:, 0]
    t0, t1 = probe.depths.gather(1, before[:, None])[:, 0], probe.depths.gather(1, index[:, None])[:, 0]
    # Interpolate in log density: densities rise roughly exponentially into a surface, so a linear
    # interpolation across a sample interval wider than the surface's blur would land outside it.
    l0, l1, target = (torch.log(torch.clamp_min(x, 1e-30)) for x in (s0, s1, torch.full_like(s0, level)))
    fraction = ((target - l0) / torch.where(l1 - l0 > 0, l1 - l0, torch.ones_like(l1))).clamp(0, 1)
    return hit, torch.where(index > 0, t0 + fraction * (t1 - t0), t1)


def _agreement(probes: list[_Probe], level: float) -> tuple[float, float, int]:
    """Pooled silhouette IoU, mean depth difference (world units) and rays reaching ``level``."""
    shared = union = hits = 0
    depth_total = 0.0
    for probe in probes:
        hit, depth = _first_crossing(probe, level)
        both = hit & probe.opacity
        shared += int(both.sum())
        hits += int(hit.sum())
        union += int((hit | probe.opacity).sum())
        depth_total += float((depth[both] - probe.depth[both]).abs().sum())
    iou = 1.0 if union == 0 else shared / union
    return iou, depth_total / shared if shared else math.inf, hits


def search_level(
    generator: Generator,
    field: Field,
    resolution: int,
    hint: float | None = None,
    poses: list[Pose] | None = None,
) -> LevelSearch:
    """Choose the density level whose surface agrees best with ``generator``'s volume renderer.

    Args:
        generator: the model (its volume renderer gives the probes' opacity and depth).
        field: the identity to mesh.
        resolution: the marching-cubes resolution the mesh will use (sets the depth tolerance and
            the sampling along rays).
        hint: the family's documented level, preferred among equally good ones.
        poses: probe poses; default :func:`probe_poses`.

    Raises:
        EmptySurfaceError: when the probes see no density at all.
    """
    started = time.perf_counter()
    extent = float(max(field.bounds.size))
    cell = extent / resolution
    samples = min(MAX_SAMPLES_PER_RAY, max(64, resolution // 2))  # 96 at 256^3: 3.5 mm apart on the demo's box
    probes = [_probe(generator, field, pose, samples) for pose in (poses or probe_poses(generator.full_circle))]
    highest = max(float(p.density.max()) for p in probes)
    if not highest > 0:
        raise EmptySurfaceError("the probe rays meet no density at all: the field is empty inside its box")
    top = highest * TOP_FRACTION
    candidates = np.geomspace(top / LEVEL_RANGE, top, NUM_CANDIDATES)
    if hint is not None and top / LEVEL_RANGE < hint < top:
        candidates = np.sort(np.append(candidates, hint))
    scores = [_agreement(probes, float(level)) for level in candidates]
    ious = np.array([s[0] for s in scores])
    errors = np.array([s[1] for s in scores])
    meshable = np.array([s[2] for s in scores]) > 0  # a level no probe ray reaches would mesh nothing
    good = meshable & (ious >= ious[meshable].max() - IOU_TOLERANCE)
    good &= errors <= errors[good].min() + DEPTH_TOLERANCE * cell
    kept = candidates[good]
    target = math.log(hint) if hint is not None and hint > 0 else float(np.mean(np.log(kept)))
    choice = int(np.flatnonzero(good)[np.argmin(np.abs(np.log(kept) - target))])
    return LevelSearch(
        level=float(candidates[choice]), iou=float(ious[choice]), depth_error=float(errors[choice]),
        plateau=(float(kept.min()), float(kept.max())), hint=hint, seconds=time.perf_counter() - started,
    )
