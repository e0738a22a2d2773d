"""A deterministic volume renderer for previews.

Rays are clipped to the field's bounds, sampled at fixed stratified depths (bin centres, no
jitter), then resampled by inverse-CDF importance sampling at fixed quantiles, and composited
with the alpha rule of NeRF / pi-GAN (``fancy_integration``): alpha = 1 - exp(-delta * density).
Unlike the papers' infinitely long last interval (1e10), the last interval here ends where the ray
leaves the field's box: a field with soft density (softplus) would otherwise turn faint density at
the box edge opaque. The same inputs give the same pixels on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .cameras import Camera
from .errors import InputError
from .fields import Bounds, Field
from .progress import ProgressCallback
from .resources import check_memory, render_estimate

_PDF_EPS = 1e-5
"""Added to coarse weights before building the PDF (as NeRF and pi-GAN do), so empty rays still resample."""

_TRANSMITTANCE_EPS = 1e-10
"""NeRF's guard against a zero product in the transmittance cumprod."""


@dataclass(frozen=True)
class RenderSettings:
    """How many samples per ray and what lies behind the object.

    Attributes:
        num_coarse: stratified samples per ray (bin centres between the box entry and exit).
        num_fine: importance samples per ray drawn from the coarse weights (0 disables).
        background: RGB in [0, 1] composited behind the field.
        rays_per_chunk: rays evaluated together; bounds peak memory.
        lock_view_dependence: query colour with the canonical frontal direction (0, 0, -1) for every
            ray, as the papers' face renders do (``lock_view_dependence``), instead of the ray's own.
    """

    num_coarse: int = 48
    num_fine: int = 48
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rays_per_chunk: int = 4096
    lock_view_dependence: bool = False

    def __post_init__(self) -> None:
        if self.num_coarse < 2:
            raise InputError(f"num_coarse must be at least 2, got {self.num_coarse}")
        if self.num_fine < 0:
            raise InputError(f"num_fine must be non-negative, got {self.num_fine}")
        if self.rays_per_chunk <= 0:
            raise InputError(f"rays_per_chunk must be positive, got {self.rays_per_chunk}")


@dataclass(frozen=True)
class RenderResult:
    """A rendered image.

    Attributes:
        rgb: [H,W,3] float32 in [0, 1], background composited.
        alpha: [H,W] float32 in [0, 1], accumulated opacity of the object (the silhouette; a
            family's background plane or network is not part of it).
        depth: [H,W] float32 expected distance along each pixel's unit ray (compositing weights
            times depths over their sum), model world units; 0 where nothing is hit. Fidelity
            measures and the automatic level compare a mesh with it.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor

    def to_uint8(self) -> np.ndarray:
        """Return the colour image as an [H,W,3] uint8 numpy array."""
        return (self.rgb.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def camera_rays(camera: Camera, height: int, width: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Return ray origins and unit directions through the pixel centres of an image.

    Returns:
        origins: [H*W,3] float32, GAN world; directions: [H*W,3] float32 unit vectors, row-major
        pixels, row 0 at the top of the image.
    """
    tan_half = math.tan(math.radians(camera.fov_deg) / 2)
    aspect = width / height
    cols = (torch.arange(width, dtype=torch.float64) + 0.5) / width * 2 - 1
    rows = 1 - (torch.arange(height, dtype=torch.float64) + 0.5) / height * 2
    y, x = torch.meshgrid(rows * tan_half, cols * tan_half * aspect, indexing="ij")
    dirs_cam = torch.stack([x, y, -torch.ones_like(x)], dim=-1).reshape(-1, 3)
    rotation = torch.from_numpy(camera.cam2world[:3, :3])
    dirs = torch.nn.functional.normalize(dirs_cam @ rotation.T, dim=-1)
    origins = torch.from_numpy(camera.cam2world[:3, 3]).expand_as(dirs)
    return origins.to(device, torch.float32), dirs.to(device, torch.float32)


def intersect_box(origins: torch.Tensor, dirs: torch.Tensor, bounds: Bounds) -> tuple[torch.Tensor, torch.Tensor]:
    """Slab test of rays against an axis-aligned box.

    Returns:
        near, far: [R] float32 distances along each ray; ``far <= near`` where the ray misses.
    """
    lo = torch.tensor(bounds.lo, dtype=origins.dtype, device=origins.device)
    hi = torch.tensor(bounds.hi, dtype=origins.dtype, device=origins.device)
    safe = torch.where(dirs.abs() < 1e-12, torch.full_like(dirs, 1e-12), dirs)
    t0 = (lo - origins) / safe
    t1 = (hi - origins) / safe
    near = torch.minimum(t0, t1).amax(dim=-1).clamp_min(0)
    far = torch.maximum(t0, t1).amin(dim=-1)
    return near, far


def alpha_weights(alpha: torch.Tensor) -> torch.Tensor:
    """Front-to-back compositing weights: ``alpha_i * prod_{j<i} (1 - alpha_j)``.

    The one place aware3d composites: the volume renderer, GRAM's manifold renderer and the
    texture baker's short rays all call it.

    Args:
        alpha: [R,S] opacity of each sample, sorted front to back.

    Returns:
        [R,S] weights; their sum per ray is the ray's accumulated opacity.
    """
    transmittance = torch.cumprod(
        torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha + _TRANSMITTANCE_EPS], dim=1), dim=1
    )[:, :-1]
    return alpha * transmittance


def expected_depth(weights: torch.Tensor, depths: torch.Tensor) -> torch.Tensor:
    """[R,S] compositing weights and their depths -> [R] weighted mean depth, 0 where the weights vanish."""
    total = weights.sum(dim=1)
    return torch.where(total > 1e-6, (weights * depths).sum(dim=1) / total.clamp_min(1e-6), torch.zeros_like(total))


def composite(
    density: torch.Tensor, rgb: torch.Tensor, depths: torch.Tensor, far: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Alpha-composite samples front to back.

    Args:
        density: [R,S] activated density.
        rgb: [R,S,3] colour in [0, 1].
        depths: [R,S] sorted distances along each ray.
        far: [R] where each ray leaves the field (ends the last interval).

    Returns:
        colour [R,3] (no background) and weights [R,S].
    """
    weights = _interval_weights(density, depths, far)
    return (weights.unsqueeze(-1) * rgb).sum(dim=1), weights


def _interval_weights(density: torch.Tensor, depths: torch.Tensor, far: torch.Tensor) -> torch.Tensor:
    deltas = torch.cat([depths[:, 1:] - depths[:, :-1], (far.unsqueeze(1) - depths[:, -1:]).clamp_min(0)], dim=1)
    return alpha_weights(1 - torch.exp(-deltas * density))


def importance_depths(depths: torch.Tensor, weights: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Draw ``num_samples`` depths per ray from the coarse weights at fixed quantiles (no randomness).

    Args:
        depths: [R,S] sorted coarse depths.
        weights: [R,S] their compositing weights.
        num_samples: depths to draw per ray.

    Returns:
        [R,num_samples] depths, sorted.
    """
    edges = 0.5 * (depths[:, 1:] + depths[:, :-1])  # [R,S-1]
    pdf = weights[:, 1:-1] + _PDF_EPS  # [R,S-2], one per interval between edges
    pdf = pdf / pdf.sum(dim=1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=1)], dim=1)  # [R,S-1]
    quantiles = (torch.arange(num_samples, device=depths.device, dtype=depths.dtype) + 0.5) / num_samples
    quantiles = quantiles.expand(depths.shape[0], num_samples).contiguous()
    upper = torch.searchsorted(cdf, quantiles, right=True).clamp(1, cdf.shape[1] - 1)
    lower = upper - 1
    cdf_lo, cdf_hi = cdf.gather(1, lower), cdf.gather(1, upper)
    edge_lo, edge_hi = edges.gather(1, lower), edges.gather(1, upper)
    span = torch.where(cdf_hi - cdf_lo < 1e-12, torch.ones_like(cdf_hi), cdf_hi - cdf_lo)
    return edge_lo + (quantiles - cdf_lo) / span * (edge_hi - edge_lo)


def sample_pdf(bins: torch.Tensor, weights: torch.Tensor, u: torch.Tensor, right: bool = False, eps: float = 1e-5) -> torch.Tensor:
    """NeRF's inverse-CDF sampling (``sample_pdf`` of nerf_pytorch, pi-GAN and EG3D) at given quantiles.

    Args:
        bins: [R,B+1] interval edges along each ray.
        weights: [R,B] non-negative weights of the intervals (``eps`` is added).
        u: [R,N] quantiles in [0, 1] (``linspace(0, 1, N)`` for the official ``det=True``).
        right: ``searchsorted``'s side (EG3D uses ``right=True``).
        eps: added to the weights, and the smallest CDF step that is interpolated.

    Returns:
        [R,N] depths.
    """
    pdf = weights + eps
    pdf = pdf / pdf.sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=-1)], dim=-1)
    index = torch.searchsorted(cdf, u.contiguous(), right=right)
    below, above = (index - 1).clamp_min(0), index.clamp_max(pdf.shape[1])
    cdf_below, cdf_above = cdf.gather(1, below), cdf.gather(1, above)
    bins_below, bins_above = bins.gather(1, below), bins.gather(1, above)
    denom = cdf_above - cdf_below
    denom = torch.where(denom < eps, torch.ones_like(denom), denom)
    return bins_below + (u - cdf_below) / denom * (bins_above - bins_below)


def query_along(field: Field, origins: torch.Tensor, dirs: torch.Tensor, depths: torch.Tensor, lock_view: bool,
                features: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The field at ``depths`` [R,S] along rays ``origins``/``dirs`` [R,3]: activated density [R,S] and
    colour [R,S,3] (or, with ``features``, the feature channels [R,S,C]); ``lock_view`` queries with
    the field's frontal direction instead of the rays'."""
    num_rays, num_samples = depths.shape
    points = origins.unsqueeze(1) + dirs.unsqueeze(1) * depths.unsqueeze(-1)
    if lock_view:
        sample = field.query(points.reshape(-1, 3))  # the field's canonical direction
    else:
        view_dirs = dirs.unsqueeze(1).expand(num_rays, num_samples, 3)
        sample = field.query(points.reshape(-1, 3), view_dirs.reshape(-1, 3))
    values = sample.features if features else sample.rgb
    if values is None:
        raise InputError("this field has no feature channels to composite")
    return sample.density.reshape(num_rays, num_samples), values.reshape(num_rays, num_samples, -1)


def render_rays(field: Field, origins: torch.Tensor, dirs: torch.Tensor, settings: RenderSettings,
                features: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render rays that are already known to cross the field's bounds.

    Args:
        field: the field to render.
        origins: [R,3] float32 ray origins, GAN world.
        dirs: [R,3] float32 unit directions.
        settings: samples per ray and view-dependence locking.
        features: composite the field's feature channels instead of its colour (CIPS-3D).

    Returns:
        colour [R,3] (or features [R,C]; without background), accumulated opacity [R] and
        expected depth [R] (see :func:`expected_depth`).
    """
    near, far = intersect_box(origins, dirs, field.bounds)

    def query(depths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return query_along(field, origins, dirs, depths, settings.lock_view_dependence, features)

    depths, _, values, weights = _march(query, near, far, settings)
    return (weights.unsqueeze(-1) * values).sum(dim=1), weights.sum(dim=1), expected_depth(weights, depths)


def _march(query, near: torch.Tensor, far: torch.Tensor, settings: RenderSettings):
    """The renderer's sampling: stratified bin centres in [near, far] (far kept a hair beyond near),
    then importance samples drawn from their weights. ``query(depths [R,S]) -> (density [R,S],
    values [R,S,C] or None)``.

    Returns:
        sorted depths [R,S], density [R,S], values [R,S,C] or None, compositing weights [R,S].
    """
    far = torch.maximum(far, near + 1e-6)
    steps = (torch.arange(settings.num_coarse, device=near.device, dtype=near.dtype) + 0.5) / settings.num_coarse
    depths = near.unsqueeze(1) + (far - near).unsqueeze(1) * steps
    density, values = query(depths)
    weights = _interval_weights(density, depths, far)
    if settings.num_fine > 0:
        fine_depths = importance_depths(depths, weights, settings.num_fine)
        fine_density, fine_values = query(fine_depths)
        depths, order = torch.sort(torch.cat([depths, fine_depths], dim=1), dim=1)
        density = torch.cat([density, fine_density], dim=1).gather(1, order)
        if values is not None:
            values = torch.cat([values, fine_values], dim=1).gather(1, order.unsqueeze(-1).expand(-1, -1, values.shape[-1]))
        weights = _interval_weights(density, depths, far)
    return depths, density, values, weights


@dataclass(frozen=True)
class VolumeSamples:
    """What a volume renderer saw along the rays of a square image (row-major): the automatic level
    matches level sets of ``density`` to ``alpha`` and ``depth`` without querying the field again.

    Attributes:
        alpha: [R] accumulated opacity.
        depth: [R] expected depth along each pixel's unit ray, world units (0 where nothing is hit).
        depths: [R,S] the renderer's sample depths along the same unit rays, sorted.
        density: [R,S] activated density at those samples; 0 outside the field's bounds (where no
            mesh is made) and on rays that miss them.
    """

    alpha: torch.Tensor
    depth: torch.Tensor
    depths: torch.Tensor
    density: torch.Tensor


def inside_bounds(points: torch.Tensor, bounds: Bounds) -> torch.Tensor:
    """[...,3] points -> [...] bool: inside the box (edges included)."""
    lo = torch.tensor(bounds.lo, dtype=points.dtype, device=points.device)
    hi = torch.tensor(bounds.hi, dtype=points.dtype, device=points.device)
    return ((points >= lo) & (points <= hi)).all(dim=-1)


def select_rays(pixels: torch.Tensor | None, *rays: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-pixel tensors (ray origins, directions, ...) restricted to ``pixels`` (all when None)."""
    return rays if pixels is None else tuple(values[pixels] for values in rays)


def density_query(field: Field, origins: torch.Tensor, dirs: torch.Tensor):
    """A renderer's query for density alone along rays ``origins`` [R,3] (or [3]) and ``dirs``
    [R,3]: depths [R,S] -> (density [R,S], None)."""
    def query(depths: torch.Tensor) -> tuple[torch.Tensor, None]:
        points = origins.unsqueeze(-2) + dirs.unsqueeze(1) * depths.unsqueeze(-1)
        return field.query_density(points.reshape(-1, 3)).reshape(depths.shape), None

    return query


@torch.inference_mode()
def render_samples(field: Field, camera: Camera, size: int, settings: RenderSettings = RenderSettings(),
                   pixels: torch.Tensor | None = None) -> VolumeSamples:
    """:func:`render_image`'s opacity and depth on a ``size``^2 image (or its ``pixels``, row-major
    indices), with the density at each of its samples (density only: no colour is queried)."""
    origins, dirs = select_rays(pixels, *camera_rays(camera, size, size, field.device))
    near, far = intersect_box(origins, dirs, field.bounds)
    rays, count = len(origins), settings.num_coarse + settings.num_fine
    alpha, depth = torch.zeros(rays, device=field.device), torch.zeros(rays, device=field.device)
    depths, density = torch.zeros(rays, count, device=field.device), torch.zeros(rays, count, device=field.device)
    for index in torch.nonzero(far > near).squeeze(1).split(settings.rays_per_chunk):
        query = density_query(field, origins[index], dirs[index])
        depths[index], density[index], _, weights = _march(query, near[index], far[index], settings)
        alpha[index], depth[index] = weights.sum(dim=1), expected_depth(weights, depths[index])
    return VolumeSamples(alpha, depth, depths, density)


@torch.inference_mode()
def box_samples(field: Field, origins: torch.Tensor, dirs: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` depths [R,count] evenly from where each ray enters the field's box to where it
    leaves, and the density there (0 on rays that miss the box): samples for a renderer that keeps none."""
    near, far = intersect_box(origins, dirs, field.bounds)
    far = torch.maximum(far, near)  # rays that miss the box get no extent, so never cross a level
    depths = near[:, None] + (far - near)[:, None] * torch.linspace(0, 1, count, device=origins.device)
    points = origins[:, None] + dirs[:, None] * depths[..., None]
    density = field.query_density(points.reshape(-1, 3)).reshape(len(origins), count)
    return depths, torch.where((far > near)[:, None], density, torch.zeros_like(density))


@torch.inference_mode()
def render_image(
    field: Field,
    camera: Camera,
    size: int | tuple[int, int],
    settings: RenderSettings = RenderSettings(),
    device: torch.device | str | None = None,
    progress: ProgressCallback | None = None,
) -> RenderResult:
    """Render ``field`` seen by ``camera``.

    Args:
        field: the field to render.
        camera: a resolved camera in the field's world.
        size: image side in pixels, or (height, width).
        settings: samples per ray, background and chunking; every one is honoured.
        device: where rays are built; defaults to the field's device.
        progress: called as ``progress("render", rays_done, rays_total)`` after each chunk.

    Raises:
        InputError: for a non-positive image size.
        ResourceError: for an image whose buffers would not fit in memory.
    """
    colour, alpha, depth = _render(field, camera, size, settings, device, progress, features=False)
    background = torch.tensor(settings.background, device=colour.device, dtype=torch.float32)
    rgb = colour + (1 - alpha).clamp(0, 1).unsqueeze(-1) * background
    return RenderResult(rgb=rgb, alpha=alpha, depth=depth)


@torch.inference_mode()
def render_features(
    field: Field,
    camera: Camera,
    size: int | tuple[int, int],
    settings: RenderSettings = RenderSettings(),
    device: torch.device | str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Composite the field's feature channels along each pixel's ray, as :func:`render_image`
    composites colour (CIPS-3D maps each pixel's feature to colour with its 2-D network afterwards).

    Returns:
        features [H,W,C] (zero where nothing is hit; the background setting is not used),
        accumulated opacity [H,W] and expected depth [H,W].

    Raises:
        InputError: for a non-positive image size or a field without features.
        ResourceError: for an image whose buffers would not fit in memory.
    """
    return _render(field, camera, size, settings, device, progress, features=True)


def _render(field, camera, size, settings, device, progress, features: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    height, width = (size, size) if isinstance(size, int) else size
    if height <= 0 or width <= 0:
        raise InputError(f"image size must be positive, got {height}x{width}")
    check_memory("size", f"a {height}x{width} preview", render_estimate(height, width))
    device = torch.device(device) if device is not None else field.device
    origins, dirs = camera_rays(camera, height, width, device)
    near, far = intersect_box(origins, dirs, field.bounds)
    hit = torch.nonzero(far > near).squeeze(1)
    values = None
    alpha = torch.zeros(height * width, device=device)
    depth = torch.zeros(height * width, device=device)
    total = int(hit.numel())
    for start in range(0, total, settings.rays_per_chunk):
        index = hit[start : start + settings.rays_per_chunk]
        chunk, alpha[index], depth[index] = render_rays(field, origins[index], dirs[index], settings, features)
        if values is None:
            values = torch.zeros(height * width, chunk.shape[-1], device=device)
        values[index] = chunk
        if progress is not None:
            progress("render", min(start + settings.rays_per_chunk, total), total)
    if values is None:  # no ray meets the field's box
        channels = 3 if not features else int(field.query(torch.zeros(1, 3, device=device)).features.shape[-1])
        values = torch.zeros(height * width, channels, device=device)
    return values.reshape(height, width, -1), alpha.reshape(height, width), depth.reshape(height, width)
