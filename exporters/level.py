"""The automatic surface level: which density level makes a mesh that agrees with the model's own
volume renderer.

Every user of these generators asks which level is the surface. Here the answer is measured: at a
few poses the volume renderer gives each pixel an opacity and an expected depth, and shares the
density at the samples it took along the pixel's ray (:meth:`Generator.volume_samples`: one pass
through the model; one ray per 2x2 pixels away from the outline). For each candidate level the
level set's first crossing along each ray (what marching cubes would mesh; interpolated in log
density between samples) gives a silhouette and a depth. The level kept is the one whose depth
agrees best with the renderer's among those whose silhouette does not contradict it:

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
from dataclasses import asdict, astuple, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from aware3d.cameras import Pose
from aware3d.errors import EmptySurfaceError
from aware3d.fields import Field
from aware3d.models.base import Generator
from aware3d.render import VolumeSamples

from .fidelity import SILHOUETTE_OPACITY

IOU_TOLERANCE = 0.035
"""Levels whose silhouette IoU is this close to the best do not contradict the renderer's outline.
A sharp surface's own level sits up to 3 % below the best (the demo's analytic level: 0.97-0.98
against 0.99-1.0 on 48^2 probes); a wider margin lets a soft, thick surface's depth pull the level
far inside its outline (the EG3D head test file: 0.936 IoU at 256 px with 0.05 on 32^2 probes)."""

DEPTH_TOLERANCE = 0.2
"""Depth differences below a fifth of a marching-cubes cell count as ties: a sharp surface leaves a
range of levels whose depths agree that well (on the demo's heads at 256^3, about 310-870 around the
analytic 554.5, whose own depth difference is within 0.002 mm of the best level's on seeds 0-7)."""

PROBE_SIZE = 48
"""Probe images are 48^2, their outline resolved at every pixel (:data:`OUTLINE_BAND`): fine
enough (a pixel of it moves a head's IoU by ~1.5 %) for :data:`IOU_TOLERANCE`. On 32^2 probes the
CIPS-3D head test file got a level whose mesh the 256 px previews outline at IoU 0.92 (0.97 at 48^2)."""

OUTLINE_BAND = 2
"""Probes render one ray per 2x2 block of pixels, then every pixel of the blocks within this many
blocks (4 pixels) of the renderer's outline: levels whose outlines differ by more than that are far
apart in IoU whatever the resolution, and holes or fog show at one ray per block. About half the
rays of a full probe, for a head that fills half the image."""

NUM_CANDIDATES = 64
"""Candidate levels, spaced evenly in log density over the densities the probe rays meet."""

LEVEL_RANGE = 1e4
"""The lowest candidate is the highest one divided by this."""

TOP_FRACTION = 0.9
"""The highest candidate is 90 % of the highest density the probe rays meet, so the surface it
gives does not hang on a single sample."""


def probe_poses(full_circle: bool = False) -> list[Pose]:
    """Where the search looks: the front and +-0.4 rad of yaw; for full-head models the front and
    +-120 degrees, which see the sides and the back (as well as four poses did on the PanoHead head
    test files, for three quarters of the rays)."""
    if full_circle:
        return [Pose(yaw=yaw) for yaw in (0.0, 2 * math.pi / 3, -2 * math.pi / 3)]
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


def _first_crossings(probe: VolumeSamples, levels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For every ray and every level [K] at once: [R,K] bool, the ray reaches the level; [R,K] depth of
    its first crossing (interpolated in log density between the samples either side)."""
    # A ray first reaches a level where its running maximum does; running maxima are sorted, so one
    # searchsorted finds every level's first crossing.
    peaks = torch.cummax(probe.density, dim=1).values
    index = torch.searchsorted(peaks, levels.expand(len(peaks), -1).contiguous())  # [R,K]; S where never reached
    hit = index < peaks.shape[1]
    index = index.clamp_max(peaks.shape[1] - 1)
    before = (index - 1).clamp_min(0)
    s0, s1 = probe.density.gather(1, before), probe.density.gather(1, index)
    t0, t1 = probe.depths.gather(1, before), probe.depths.gather(1, index)
    # Interpolate in log density: densities rise roughly exponentially into a surface, so a linear
    # interpolation across a sample interval wider than the surface's blur would land outside it.
    l0, l1, target = (torch.log(torch.clamp_min(x, 1e-30)) for x in (s0, s1, levels.expand_as(s0)))
    fraction = ((target - l0) / torch.where(l1 - l0 > 0, l1 - l0, torch.ones_like(l1))).clamp(0, 1)
    return hit, torch.where(index > 0, t0 + fraction * (t1 - t0), t1)


def _agreement(probes: list[tuple[VolumeSamples, torch.Tensor]], levels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per level [K]: pooled silhouette IoU and mean depth difference (world units; inf with no
    shared silhouette), each ray weighted by the pixels it stands for, and the rays reaching it."""
    shared = union = hits = depth_total = 0
    for probe, weights in probes:
        hit, depth = _first_crossings(probe, torch.as_tensor(levels, dtype=probe.density.dtype, device=probe.density.device))
        opacity = (probe.alpha >= SILHOUETTE_OPACITY)[:, None]
        both = hit & opacity
        weights = weights.double()[:, None]
        shared = shared + (both * weights).sum(dim=0)
        union = union + ((hit | opacity) * weights).sum(dim=0)
        hits = hits + hit.sum(dim=0)
        depth_total = depth_total + (torch.where(both, (depth - probe.depth[:, None]).abs(), torch.zeros_like(depth)) * weights).sum(dim=0)
    shared, union, hits, depth_total = (x.cpu().numpy() for x in (shared, union, hits, depth_total))
    iou = np.where(union > 0, shared / np.maximum(union, 1), 1.0)
    return iou, np.where(shared > 0, depth_total / np.maximum(shared, 1), np.inf), hits


def _probe(generator: Generator, field: Field, pose: Pose) -> tuple[VolumeSamples, torch.Tensor]:
    """The renderer's samples at ``pose`` and the pixels [R] each ray stands for: one ray per 2x2
    block of the ``PROBE_SIZE``^2 image, then the other three of every block within
    :data:`OUTLINE_BAND` blocks of the renderer's outline, where levels' outlines differ."""
    blocks = PROBE_SIZE // 2
    pixels = torch.arange(PROBE_SIZE * PROBE_SIZE, device=field.device)
    pixels = pixels.reshape(blocks, 2, blocks, 2).permute(0, 2, 1, 3).reshape(blocks * blocks, 4)  # each block's four pixels
    first = generator.volume_samples(field, pose, PROBE_SIZE, pixels[:, 0])
    inside = (first.alpha >= SILHOUETTE_OPACITY).float().reshape(1, 1, blocks, blocks)
    side = 2 * OUTLINE_BAND + 1
    near_outline = (F.max_pool2d(inside, side, 1, OUTLINE_BAND) + F.max_pool2d(-inside, side, 1, OUTLINE_BAND) > 0).reshape(-1)
    weights = torch.where(near_outline, 1.0, 4.0).to(field.device)
    if not near_outline.any():
        return first, weights
    rest = generator.volume_samples(field, pose, PROBE_SIZE, pixels[near_outline, 1:].reshape(-1))
    merged = VolumeSamples(*(torch.cat([a, b]) for a, b in zip(astuple(first), astuple(rest), strict=True)))
    return merged, torch.cat([weights, torch.ones(len(rest.alpha), device=field.device)])


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
        resolution: the marching-cubes resolution the mesh will use (sets the depth tolerance).
        hint: the family's documented level, preferred among equally good ones.
        poses: probe poses; default :func:`probe_poses`.

    Raises:
        EmptySurfaceError: when the probes see no density at all.
    """
    started = time.perf_counter()
    extent = float(max(field.bounds.size))
    cell = extent / resolution
    probes = [_probe(generator, field, pose) for pose in (poses or probe_poses(generator.full_circle))]
    highest = max(float(p.density.max()) for p, _ in probes)
    if not highest > 0:
        raise EmptySurfaceError("the probe rays meet no density at all: the field is empty inside its box")
    top = highest * TOP_FRACTION
    candidates = np.geomspace(top / LEVEL_RANGE, top, NUM_CANDIDATES)
    if hint is not None and top / LEVEL_RANGE < hint < top:
        candidates = np.sort(np.append(candidates, hint))
    ious, errors, hits = _agreement(probes, candidates)
    meshable = hits > 0  # a level no probe ray reaches would mesh nothing
    good = meshable & (ious >= ious[meshable].max() - IOU_TOLERANCE)
    good &= errors <= errors[good].min() + DEPTH_TOLERANCE * cell
    kept = candidates[good]
    target = math.log(hint) if hint is not None and hint > 0 else float(np.mean(np.log(kept)))
    choice = int(np.flatnonzero(good)[np.argmin(np.abs(np.log(kept) - target))])
    return LevelSearch(
        level=float(candidates[choice]), iou=float(ious[choice]), depth_error=float(errors[choice]),
        plateau=(float(kept.min()), float(kept.max())), hint=hint, seconds=time.perf_counter() - started,
    )
