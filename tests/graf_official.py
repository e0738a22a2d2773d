"""GRAF in its official on-disk format, and a slow, literal reference of its test-time inference.

Two jobs, written from the facts of autonomousvision/graf @ c50d342fb567 (2021-02-05), which vendors its
submodules ``submodules/nerf_pytorch`` and ``submodules/GAN_stability`` (no ``.gitmodules``; the code is in
the tree). GRAF and both submodules are MIT; nothing here is copied, only the behaviour is reproduced.

1. **Checkpoints in the official format** (:func:`save_checkpoint`). GAN_stability's
   ``gan_training/checkpoints.py`` ``CheckpointIO.save(filename, **kwargs)`` starts from ``kwargs`` (the
   scalars, in call order) and adds ``module.state_dict()`` for every registered module, in registration
   order, then ``torch.save``\\ s that dict. ``train.py`` calls ``save(..., it=, epoch_idx=, fid_best=,
   kid_best=)`` and registers ``discriminator``, ``g_optimizer``, ``d_optimizer``, then
   ``**generator.module_dict`` (= ``{'generator': network_fn}``, the bare NeRF, so **no key prefix**) and
   ``generator_test`` (the EMA copy, ``{k + '_test': ...}``). ``eval.py`` registers only ``generator`` and
   ``generator_test`` and renders with ``generator_test``. Training ran on ``cuda:0`` under torch 1.7.0
   (``environment.yml``), so every storage is tagged ``'cuda:0'``; ``fid_best`` is the ``numpy.float64``
   that ``calculate_frechet_distance`` returns, ``kid_best`` stays ``float('inf')`` (``save_best: fid``),
   ``it``/``epoch_idx`` are ints. A plain ``torch.load`` on a CPU-only machine therefore fails
   (CUDA deserialisation), and ``weights_only=True`` fails on the numpy global.

2. **A reference implementation** of the conditional NeRF (``run_nerf_helpers_mod.NeRF``, ``Embedder``,
   ``get_rays``) and of GRAF's deterministic test-time renderer (``graf/models/generator.py``
   ``Generator.__call__`` with ``render_kwargs_test``: ``perturb=False``, ``raw_noise_std=0``,
   ``N_importance=0``; ``run_nerf_mod.render``/``render_rays``/``run_network``/``raw2outputs``), and the
   camera code of ``graf/utils.py``/``graf/config.py``. Tests treat it as "the official code".
   Checked once against the official code itself (graf @ c50d342 run on CPU with its unused imports stubbed,
   outside this repo): eval poses, rays, field outputs and whole images for celebA_64 (W 256), celebA_hq_256,
   cats_64, carla_64 and cub_64 (W 64), at eval.py's pose and at a float32 pose with a near/far shift, agree
   bit for bit.

Weights are random (``nn.Linear``'s default init, seeded) except for a planted density, see
:func:`_plant_density`: ``relu(raw sigma)`` is positive in a ball of radius ``density_radius`` (0.75 by
default: the eval image spans only about +-0.92 world units at the origin, fov 10 deg at distance 10.5, so a
larger ball would leave no background) and zero further out, with a z-dependent random ripple.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OFFICIAL_COMMIT = "c50d342fb567aec335b92e3f867c54b4dc4e1d09"  # autonomousvision/graf, the commit these facts were read at

# --------------------------------------------------------------------------------------------
# Released configurations.
#
# configs/default.yaml merged with each dataset's yaml (GAN_stability ``load_config`` with default_path
# 'configs/default.yaml'); ``imsize`` chosen among configs/pretrained_models.yaml's entries (eval.py looks the
# URL up under ``config['data']['type']`` and ``config['data']['imsize']``). Values exactly as the yaml files
# spell them (radius strings 'a,b' are parsed to tuples by graf/config.py ``get_data``; ints stay ints).

_DEFAULT = {  # configs/default.yaml
    "white_bkgd": True, "near": 1.0, "far": 6.0, "radius": 3.4, "fov": 90.0, "orthographic": False,
    "umin": 0.0, "umax": 1.0, "vmin": 0.0, "vmax": 0.45642212862617093,
    "N_samples": 64, "N_importance": 0, "use_viewdirs": True, "multires": 10, "multires_views": 4,
    "netdepth": 8, "netwidth": 256, "z_dim": 256, "dim_appearance": 128, "chunk": 32768, "netchunk": 65536, "batch_size": 8,
}
_CELEBA = {  # configs/celebA.yaml
    "type": "celebA", "white_bkgd": False, "radius": (9.5, 10.5), "near": 7.5, "far": 12.5, "fov": 10.0,
    "umin": 0, "umax": 0.25, "vmin": 0.32898992833716556, "vmax": 0.45642212862617093,
}
_CELEBA_HQ = {  # configs/celebAHQ.yaml (fov written as the int 10; eval.py/train.py cast it with float())
    "type": "celebA_hq", "white_bkgd": False, "radius": (9.5, 10.5), "near": 7.5, "far": 12.5, "fov": 10,
    "umin": 0, "umax": 0.25, "vmin": 0.32898992833716556, "vmax": 0.45642212862617093,
}
_CARLA = {"type": "carla", "radius": 10.0, "near": 7.5, "far": 12.5, "fov": 30.0}  # configs/carla.yaml (rest from default)
_CATS = {  # configs/cats.yaml (radius written as the int 10: a scalar, so no near/far shift)
    "type": "cats", "white_bkgd": False, "radius": 10, "near": 7.5, "far": 12.5, "fov": 10,
    "umin": 0, "umax": 0.19444444444444445, "vmin": 0.32898992833716556, "vmax": 0.45642212862617093,
}
_CUB = {  # configs/cub.yaml: note nerf.use_viewdirs False (the view branch then sees only z_app)
    "type": "cub", "radius": (9.0, 11.0), "near": 7.5, "far": 12.5, "fov": 30,
    "vmin": 0.24999999999999994, "vmax": 0.5435778713738291, "use_viewdirs": False,
}

_URL = "https://s3.eu-central-1.amazonaws.com/avg-projects/graf/models/"  # configs/pretrained_models.yaml


def _variant(dataset: dict, imsize: int, url_path: str) -> dict:
    cfg = {**_DEFAULT, **dataset, "imsize": imsize, "url": _URL + url_path}
    cfg["fov"] = float(cfg["fov"])  # eval.py: config['data']['fov'] = float(config['data']['fov'])
    return cfg


VARIANTS = {
    "celebA_64": _variant(_CELEBA, 64, "faces/celebA_64.pt"),
    "celebA_128": _variant(_CELEBA, 128, "faces/celebA_128.pt"),
    "celebA_hq_256": _variant(_CELEBA_HQ, 256, "faces/celebA_hq_256.pt"),
    "celebA_hq_512": _variant(_CELEBA_HQ, 512, "faces/celebA_hq_512.pt"),
    "carla_64": _variant(_CARLA, 64, "carla/carla_64.pt"),
    "carla_128": _variant(_CARLA, 128, "carla/carla_128.pt"),
    "carla_256": _variant(_CARLA, 256, "carla/carla_256.pt"),
    "carla_512": _variant(_CARLA, 512, "carla/carla_512.pt"),
    "cats_64": _variant(_CATS, 64, "cats/cats_64.pt"),
    "cub_64": _variant(_CUB, 64, "birds/cub_64.pt"),
}
"""Per released checkpoint: imsize, fov (deg), radius (scalar or (min, max)), near, far, umin/umax/vmin/vmax,
white_bkgd, N_samples, use_viewdirs, z_dim/dim_appearance, url, ... (see the comments above for the files)."""

CHECKPOINT_KEYS_FULL = ("it", "epoch_idx", "fid_best", "kid_best", "discriminator", "g_optimizer", "d_optimizer", "generator", "generator_test")
CHECKPOINT_KEYS_EVAL = ("generator", "generator_test")
FID_BEST = np.float64(33.6123)
"""Default ``fid_best``: a numpy float64, as GAN_stability's ``calculate_frechet_distance`` returns it."""


# --------------------------------------------------------------------------------------------
# Camera helpers (graf/utils.py, graf/config.py).


def to_phi(u):
    """Azimuth in degrees of the sampling parameter u (graf/utils.py: 360 u)."""
    return 360.0 * u


def to_theta(v):
    """Polar angle in degrees of the sampling parameter v (graf/utils.py: arccos(1 - 2 v))."""
    return float(np.degrees(np.arccos(1.0 - 2.0 * v)))


def focal_from_fov(imsize: int, fov_deg: float) -> float:
    """graf/config.py ``get_data``: ``W/2 / tan(fov/2)`` in pixels."""
    return imsize / 2 / float(np.tan(0.5 * fov_deg * np.pi / 180.0))


def camera_location(radius, azimuth_deg, polar_deg) -> np.ndarray:
    """Z-up spherical coordinates: (sin p cos a, sin p sin a, cos p) * r (``polar_to_cartesian(r, a, p)``)."""
    a, p = azimuth_deg * np.pi / 180, polar_deg * np.pi / 180  # (deg * pi) / 180: np.radians rounds differently
    return radius * np.array([np.sin(p) * np.cos(a), np.sin(p) * np.sin(a), np.cos(p)])


def look_at(eye, at=(0.0, 0.0, 0.0), up=(0.0, 0.0, 1.0), eps=1e-5) -> np.ndarray:
    """Camera-to-world rotation (columns x, y, z) of an OpenGL camera at ``eye`` whose -z looks at ``at``; world z up."""
    eye, at, up = (np.asarray(v, dtype=np.float64).reshape(3) for v in (eye, at, up))

    def unit(v):
        return v / max(float(np.sqrt((v * v).sum())), eps)  # sum of squares, not a dot product: same rounding as graf/utils.py

    back = unit(eye - at)
    right = unit(np.cross(up, back))
    cam_up = unit(np.cross(back, right))
    return np.stack([right, cam_up, back], axis=1)


def pose_matrix(radius, azimuth_deg, polar_deg) -> torch.Tensor:
    """The 3x4 camera-to-world ``[R | t]`` eval.py renders with: float64, as ``get_render_poses`` returns it."""
    loc = camera_location(radius, azimuth_deg, polar_deg)
    return torch.from_numpy(np.concatenate([look_at(loc), loc.reshape(3, 1)], axis=1))


def render_poses(radius, angle_range=(0.0, 360.0), theta=0.0, N=40, swap_angles=False) -> torch.Tensor:
    """graf/config.py ``get_render_poses``: N poses at polar ``theta``, azimuths linspace(range, N+1)[:-1].

    Both angles are clamped to at least 0.1 deg as officially; ``swap_angles`` sweeps the polar angle instead.
    """
    theta = max(0.1, theta)
    out = []
    for angle in np.linspace(angle_range[0], angle_range[1], N + 1)[:-1]:
        angle = max(0.1, angle)
        out.append(pose_matrix(radius, theta, angle) if swap_angles else pose_matrix(radius, angle, theta))
    return torch.stack(out)


def render_radius(variant: str):
    """The radius eval.py renders at: the config radius, or its maximum for a radius range."""
    radius = VARIANTS[variant]["radius"]
    return max(radius) if isinstance(radius, tuple) else radius


def eval_angles(variant: str) -> tuple[float, float, float]:
    """(radius, azimuth_deg, polar_deg) of eval.py ``--shape_appearance``: ``render_poses[len // 2]`` of get_data's 40 poses.

    Azimuth = middle of (360 umin, 360 umax), polar = mean of the polar angles of vmin and vmax, radius = max radius.
    celebA*: (10.5, 45, 77.5); cats: (10, 35, 77.5); carla: (10, 180, 42.5); cub: (11, 180, 77.5).
    """
    cfg = VARIANTS[variant]
    theta = max(0.1, 0.5 * (to_theta(cfg["vmin"]) + to_theta(cfg["vmax"])))
    angles = np.linspace(to_phi(cfg["umin"]), to_phi(cfg["umax"]), 41)[:-1]
    return render_radius(variant), float(max(0.1, angles[20])), float(theta)


def eval_pose(variant: str) -> torch.Tensor:
    """The 3x4 float64 pose of :func:`eval_angles` (bit-identical to ``render_poses(...)[20]``)."""
    return pose_matrix(*eval_angles(variant))


def get_rays(H: int, W: int, focal: float, c2w: torch.Tensor):
    """Rays through pixel corners (no half-pixel offset): camera dirs ``[(i - W/2)/f, -(j - H/2)/f, -1]``.

    ``i`` is the column, ``j`` the row; directions are *not* normalised. Returns ``rays_o, rays_d`` of shape
    [H, W, 3] in ``c2w``'s dtype (the float32 camera directions are promoted, as officially).
    """
    rows = torch.linspace(0, H - 1, H)
    cols = torch.linspace(0, W - 1, W)
    jj, ii = torch.meshgrid(rows, cols, indexing="ij")
    cam = torch.stack([(ii - W * 0.5) / focal, -(jj - H * 0.5) / focal, -torch.ones_like(ii)], dim=-1)
    rot = c2w[:3, :3]
    rays_d = (cam.to(rot.dtype)[..., None, :] * rot).sum(dim=-1)  # R @ d per pixel, as a product-then-sum (same rounding)
    rays_o = c2w[:3, 3].expand(rays_d.shape)
    return rays_o, rays_d


# --------------------------------------------------------------------------------------------
# The conditional NeRF (submodules/nerf_pytorch/run_nerf_helpers_mod.py, run_nerf_mod.create_nerf).


class Embedder:
    """NeRF positional encoding: ``[x, sin(2^0 x), cos(2^0 x), sin(2^1 x), cos(2^1 x), ..., cos(2^(L-1) x)]``.

    include_input, log-sampled frequencies ``2 ** linspace(0, L-1, L)``; each block is 3 wide (x, y, z).
    Width ``3 + 6 L``: 63 for points (L = 10), 27 for view directions (L = 4).
    """

    def __init__(self, n_freqs: int, input_dims: int = 3):
        self.n_freqs = n_freqs
        self.input_dims = input_dims
        self.freqs = [float(f) for f in 2.0 ** torch.linspace(0.0, n_freqs - 1, steps=n_freqs)]
        self.out_dim = input_dims * (1 + 2 * n_freqs)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x]
        for f in self.freqs:
            scaled = x * f
            parts.append(torch.sin(scaled))
            parts.append(torch.cos(scaled))
        return torch.cat(parts, dim=-1)


def input_widths(*, z_dim=256, dim_appearance=128, multires=10, multires_views=4, use_viewdirs=True) -> tuple[int, int]:
    """``create_nerf``: input_ch = PE(x) + z_shape, input_ch_views = PE(d) (only with use_viewdirs) + z_app."""
    input_ch = 3 * (1 + 2 * multires) + z_dim - dim_appearance
    input_ch_views = (3 * (1 + 2 * multires_views) if use_viewdirs else 0) + dim_appearance
    return input_ch, input_ch_views


class NeRF(nn.Module):
    """The view-dependent NeRF MLP GRAF builds (``use_viewdirs=True`` always, since dim_appearance > 0).

    Input ``[input_pts | input_views]`` of widths (input_ch, input_ch_views); D ReLU layers of width W on
    ``input_pts`` with ``cat([input_pts, h])`` after layer 4 (so ``pts_linears.5`` is W + input_ch wide);
    ``alpha_linear`` gives raw sigma, ``feature_linear`` feeds ``views_linears.0`` on ``cat([feature,
    input_views])`` (+ReLU), then ``rgb_linear``. Output ``cat([rgb_logits, sigma])``. Submodules are created in
    the official order so ``state_dict()``/``parameters()`` order matches: pts_linears, views_linears,
    feature_linear, alpha_linear, rgb_linear.
    """

    skips = (4,)

    def __init__(self, D=8, W=256, input_ch=191, input_ch_views=155):
        super().__init__()
        self.D, self.W, self.input_ch, self.input_ch_views = D, W, input_ch, input_ch_views
        widths_in = [input_ch] + [W + input_ch if (i - 1) in self.skips else W for i in range(1, D)]
        self.pts_linears = nn.ModuleList(nn.Linear(n, W) for n in widths_in)
        self.views_linears = nn.ModuleList([nn.Linear(input_ch_views + W, W // 2)])
        self.feature_linear = nn.Linear(W, W)
        self.alpha_linear = nn.Linear(W, 1)
        self.rgb_linear = nn.Linear(W // 2, 3)

    def trunk(self, input_pts: torch.Tensor) -> torch.Tensor:
        """The point MLP's last features (ReLU layers, the input concatenated after each skip)."""
        h = input_pts
        for i, layer in enumerate(self.pts_linears):
            h = F.relu(layer(h))
            if i in self.skips:
                h = torch.cat([input_pts, h], dim=-1)
        return h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        input_pts = x[..., : self.input_ch]
        input_views = x[..., self.input_ch : self.input_ch + self.input_ch_views]
        h = self.trunk(input_pts)
        sigma = self.alpha_linear(h)
        h = torch.cat([self.feature_linear(h), input_views], dim=-1)
        for layer in self.views_linears:
            h = F.relu(layer(h))
        return torch.cat([self.rgb_linear(h), sigma], dim=-1)


def _fibonacci_directions(n: int) -> torch.Tensor:
    """n unit vectors spread evenly over the sphere (golden-angle spiral)."""
    k = torch.arange(n, dtype=torch.float64) + 0.5
    cos_p = 1.0 - 2.0 * k / n
    sin_p = torch.sqrt(1.0 - cos_p**2)
    a = math.pi * (3.0 - math.sqrt(5.0)) * k
    return torch.stack([sin_p * torch.cos(a), sin_p * torch.sin(a), cos_p], dim=-1)


def _skip_offset(nerf: NeRF, index: int) -> int:
    """Column where layer ``index``'s input from the previous layer starts (after the points at a skip)."""
    return nerf.input_ch if (index - 1) in nerf.skips else 0


def _carry_units(nerf: NeRF, count: int) -> None:
    """Make the first ``count`` units of every layer after the first copy the previous layer's (relu keeps
    them, being non-negative), so what layer 0 plants reaches the trunk's output unchanged."""
    for index, layer in enumerate(nerf.pts_linears):
        if index == 0:
            continue
        offset = _skip_offset(nerf, index)
        layer.weight[:count] = 0.0
        layer.weight[torch.arange(count), offset + torch.arange(count)] = 1.0
        layer.bias[:count] = 0.0


@torch.no_grad()
def _plant_density(nerf: NeRF, generator: torch.Generator, *, radius: float, peak: float, ripple: float, colour_gain: float) -> None:
    """Give the random NeRF a head-like density without changing its architecture.

    * ``K = min(64, W // 4)`` units of ``pts_linears.0`` read only the raw-x columns of PE(x) (include_input puts
      them first): unit k = relu(u_k . x) for K directions u_k evenly spread on the sphere. Summed over k this is
      ~ K |x| / 4 (mean of relu(cos) over the sphere is 1/4), i.e. an almost isotropic distance to the origin.
    * The same K units of every later layer copy their input unit (weight 1, bias 0; in ``pts_linears.5`` the
      copy reads column input_ch + k because of the skip concat). ReLU of a non-negative value is itself, so the
      distance estimate reaches the last layer unchanged. The other units keep their random weights (and read
      the distance units too).
    * ``alpha_linear``: weights -peak/radius * 4/K on those K units, bias +peak, the remaining weights random with
      a gain that gives a z-dependent ripple of std ~``ripple``: raw sigma ~ peak (1 - |x|/radius) + ripple.
      So relu(raw sigma) is ~``peak`` at the origin, falls to 0 near |x| = radius and stays 0 beyond.
    * ``rgb_linear`` weights scaled by ``colour_gain`` so colours vary visibly (not all ~sigmoid(0) = 0.5).
    """
    K = min(64, nerf.W // 4)
    dirs = _fibonacci_directions(K).to(torch.float32)
    first = nerf.pts_linears[0]
    first.weight[:K] = 0.0
    first.weight[:K, :3] = dirs
    first.bias[:K] = 0.0
    _carry_units(nerf, K)
    # Ripple gain: std of alpha's random part over probe points |x| ~ 0.5 with random z_shape (seeded).
    probe = torch.randn(4096, 3, generator=generator) * 0.5
    x = torch.cat([Embedder(10)(probe), torch.randn(4096, nerf.input_ch - 63, generator=generator)], dim=-1)
    h = nerf.trunk(x)
    w = nerf.alpha_linear.weight
    w[0, :K] = 0.0
    rand_part = h @ w[0]
    w[0] *= ripple / max(float(rand_part.std()), 1e-12)
    w[0, :K] = -peak / radius * 4.0 / K
    nerf.alpha_linear.bias.fill_(peak)
    nerf.rgb_linear.weight *= colour_gain


# Head mode (``make_nerf(head=True)``): a smooth, closed head instead of the ripple ball. Sizes are fractions of
# ``density_radius`` (the vertical semi-axis); directions are GRAF's: z up, the face toward azimuth 45 deg.
HEAD_WIDTH = 0.8
"""Horizontal semi-axis of the head over its vertical one."""
HEAD_STEEPNESS = 1250.0
"""Raw sigma per unit of ``body + 0.35 nose`` (see :func:`_plant_head`): with q rising ~2.5-3.2 per world unit through
the surface, sigma climbs 3000-4000 per world unit there."""
HEAD_DENSITY = 40.0
"""Inside the head sigma is capped at this (opacity 0.96 per eval.py sample interval), reached ~0.01 world units (1.4
marching-cubes cells at 256^3) inside the surface. The cap matters: eval.py's renderer puts a sharp surface's expected
depth half a sample interval (~0.04 units) behind it, and a level search that matches depths would then mesh 0.04
units inside the rendered silhouette; with every level between 0 and the cap within 0.01 units of the surface, no
level is more than that inside it."""
HEAD_FLOOR = 2.0
"""Raw sigma outside the head and nose (before the ripple): ``-HEAD_FLOOR``, 40 ripple standard deviations below 0."""
HEAD_RIPPLE = 0.05
"""Std of the random units' share of raw sigma (their mean is folded into the bias): keeps every layer in play."""
HEAD_COLOUR_RIPPLE = 0.05
"""Std of the random units' share of the colour logits."""
HEAD_SIZE_VARIATION = 0.05
"""Std of the z_shape-driven change of q's threshold (the head's size varies by about half this, relatively)."""
HEAD_TONE_VARIATION = 0.25
"""Std of the z_app-driven shift of the skin's logits (lighter or darker skin)."""
_SKIN, _HAIR, _EYE, _LIPS = (0.86, 0.64, 0.53), (0.22, 0.15, 0.11), (0.12, 0.10, 0.10), (0.62, 0.30, 0.30)


def _logit(rgb) -> torch.Tensor:
    p = torch.tensor(rgb, dtype=torch.float64)
    return torch.log(p / (1 - p))


def _bump(center, half_widths) -> tuple[torch.Tensor, float]:
    """(weights over the 6 columns [sin x, sin y, sin z, cos x, cos y, cos z], bias) of ``1 - sum_i m_i (1 - cos(x_i - c_i))``.

    ``cos(x - c) = cos c cos x + sin c sin x`` is linear in PE(x)'s lowest-frequency block, so a smooth bump (a
    rounded box: ``m_i = 1 / (1 - cos w_i)`` makes it 0 at ``c_i +- w_i`` on each axis) is one linear unit. Period
    2 pi: no copy within the +-3 units rays reach.
    """
    c = torch.tensor(center, dtype=torch.float64)
    m = 1.0 / (1.0 - torch.cos(torch.tensor(half_widths, dtype=torch.float64)))
    return torch.cat([m * torch.sin(c), m * torch.cos(c)]), float(1.0 - m.sum())


def _surface_point(direction, semi_axes) -> np.ndarray:
    """Where the ray from the origin along ``direction`` leaves ``sum_i (1 - cos x_i) / (1 - cos a_i) = 1`` (bisection)."""
    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    k = 1.0 / (1.0 - np.cos(np.asarray(semi_axes, dtype=np.float64)))
    lo, hi = 0.0, 3.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if (k * (1.0 - np.cos(mid * d))).sum() < 1.0 else (lo, mid)
    return lo * d


@torch.no_grad()
def _plant_head(nerf: NeRF, generator: torch.Generator, *, radius: float, dim_appearance: int) -> None:
    """A smooth, closed, skin-coloured head, varying a little with z (see ``make_nerf(head=True)``).

    Everything the head needs is computed by a few "carrier" units of ``pts_linears.0`` from PE(x)'s raw-x and
    lowest-frequency (sin x, cos x) columns and z_shape, and copied unchanged through the later layers (weight 1,
    bias 0; every carrier is a ReLU output, so non-negative, so the copies are exact):

    * ``body = relu(1 - q(x) + e z_shape)``, ``q = sum_i (1 - cos x_i) / (1 - cos a_i)``: 1 at the centre, 0 on and
      outside the ellipsoid-like surface of semi-axes a = (0.8 R, 0.8 R, R) (R = ``radius``, z up: taller than wide);
      ``e`` a random unit vector times HEAD_SIZE_VARIATION;
    * ``nose``: a smooth bump (:func:`_bump`) just outside the surface toward azimuth 45 deg, a little below the middle;
    * ``hair`` (two units, clamped to [0, 1] as their difference): above a plane rising from the back to the forehead;
    * ``eyes`` (two bumps) and ``mouth`` (a flat bump), for colour only.

    ``pts_linears.1`` turns units 0 and 1 into ``relu(u)`` and ``relu(u - cap)``, u = body + 0.35 nose (exact: u >= 0),
    and ``alpha_linear`` = HEAD_STEEPNESS (relu(u) - relu(u - cap)) - HEAD_FLOOR + a random part of std HEAD_RIPPLE
    (zero mean): relu(sigma) is 0 everywhere outside a smooth, closed surface, rises ~3000-4000 per unit through it
    and stays at HEAD_DENSITY from ~0.01 units inside.
    ``feature_linear``'s first rows carry hair, eyes and mouth; ``views_linears.0``'s first units pass them and a
    z_app tone (4 + z_app . w, never negative) to ``rgb_linear``, which mixes skin, hair, eye and lip colours;
    the other (random) units add a little colour noise of std HEAD_COLOUR_RIPPLE. No view dependence beyond that.
    """
    semi = (HEAD_WIDTH * radius, HEAD_WIDTH * radius, radius)
    face = np.array([math.sqrt(0.5), math.sqrt(0.5), 0.0])  # azimuth 45 deg
    side = np.array([-math.sqrt(0.5), math.sqrt(0.5), 0.0])
    up = np.array([0.0, 0.0, 1.0])

    def on_surface(yaw, height, out=0.0):  # the surface point at a yaw from the face and a height (fraction of R)
        direction = math.cos(yaw) * face + math.sin(yaw) * side
        horizontal = np.linalg.norm(_surface_point(direction, semi)) * math.sqrt(max(0.0, 1.0 - height**2))
        return tuple(((horizontal + out * radius) * direction + height * radius * up).tolist())

    n_shape = nerf.input_ch - 63
    first = nerf.pts_linears[0]
    rows = []  # (weight over the first 9 PE columns [x | sin x | cos x], bias, z_shape weights or None)
    k = 1.0 / (1.0 - torch.cos(torch.tensor(semi, dtype=torch.float64)))
    body = torch.zeros(9, dtype=torch.float64)
    body[6:9] = k
    e = torch.randn(n_shape, generator=generator, dtype=torch.float64) if n_shape > 0 else torch.zeros(0, dtype=torch.float64)
    e = e * HEAD_SIZE_VARIATION / max(float(e.norm()), 1e-12)
    rows.append((body, float(1.0 - k.sum()), e))
    bumps = [
        (on_surface(0.0, -0.12, out=0.06), (0.13 * radius, 0.13 * radius, 0.28 * radius)),  # nose
        (on_surface(0.42, 0.15), (0.09 * radius,) * 3),  # eyes
        (on_surface(-0.42, 0.15), (0.09 * radius,) * 3),
        (on_surface(0.0, -0.45), (0.17 * radius, 0.17 * radius, 0.05 * radius)),  # mouth
    ]
    for center, widths in bumps:
        w, b = _bump(center, widths)
        rows.append((torch.cat([torch.zeros(3, dtype=torch.float64), w]), b, None))
    gain, tilt, hairline = 12.0 / radius, 0.7, 0.25 * radius
    plane = torch.tensor([-tilt * face[0], -tilt * face[1], 1.0, 0, 0, 0, 0, 0, 0], dtype=torch.float64) * gain
    rows.append((plane, -gain * hairline, None))
    rows.append((plane, -gain * hairline - 1.0, None))
    EYE_L, EYE_R, MOUTH, HAIR_A, HAIR_B = 2, 3, 4, 5, 6  # 0 body, 1 nose
    K = len(rows)
    first.weight[:K] = 0.0
    for unit, (w, b, zw) in enumerate(rows):
        first.weight[unit, :9] = w.to(torch.float32)
        if zw is not None:
            first.weight[unit, 63:63 + n_shape] = zw.to(torch.float32)
        first.bias[unit] = b
    cap = (HEAD_DENSITY + HEAD_FLOOR) / HEAD_STEEPNESS
    _carry_units(nerf, K)
    # Units 0 and 1 become relu(body + 0.35 nose) and relu(body + 0.35 nose - cap): their difference is capped.
    second, offset = nerf.pts_linears[1], _skip_offset(nerf, 1)
    second.weight[:2, offset:offset + 2] = torch.tensor([[1.0, 0.35], [1.0, 0.35]])
    second.bias[1] = -cap
    # Colour: feature rows 0-2 = hair, eyes, mouth; views units 0-3 = those and the tone.
    W = nerf.W
    feat = nerf.feature_linear
    feat.weight[:3] = 0.0
    feat.bias[:3] = 0.0
    feat.weight[0, HAIR_A], feat.weight[0, HAIR_B] = 1.0, -1.0
    feat.weight[1, EYE_L] = feat.weight[1, EYE_R] = 1.0
    feat.weight[2, MOUTH] = 1.0
    views = nerf.views_linears[0]
    views.weight[:4] = 0.0
    views.bias[:4] = 0.0
    for unit in range(3):
        views.weight[unit, unit] = 1.0
    n_app = min(dim_appearance, nerf.input_ch_views)  # z_app: the last columns of views_linears.0's input, after PE(d) if any
    if n_app > 0:
        w_app = torch.randn(n_app, generator=generator)
        views.weight[3, W + nerf.input_ch_views - n_app:] = w_app / w_app.norm()
    views.bias[3] = 4.0
    # Random parts, measured at probe points in and around the head with random z (seeded), then scaled.
    probe = (torch.rand(8192, 3, generator=generator) * 2 - 1) * 1.3 * radius
    z_s = torch.randn(8192, n_shape, generator=generator)
    dirs = F.normalize(torch.randn(8192, 3, generator=generator), dim=-1)
    z_a = torch.randn(8192, max(n_app, 0), generator=generator)
    x = torch.cat([Embedder(10)(probe), z_s], dim=-1)
    h = nerf.trunk(x)
    alpha_w = nerf.alpha_linear.weight
    alpha_w[0, :K] = 0.0
    rand = h @ alpha_w[0]
    alpha_w[0] *= HEAD_RIPPLE / max(float(rand.std()), 1e-12)
    mean = float((h @ alpha_w[0]).mean())
    alpha_w[0, 0] = HEAD_STEEPNESS
    alpha_w[0, 1] = -HEAD_STEEPNESS
    nerf.alpha_linear.bias.fill_(-HEAD_FLOOR - mean)
    view_in = [Embedder(4)(dirs)] if nerf.input_ch_views > n_app else []
    v = F.relu(views(torch.cat([feat(h), *view_in, z_a], dim=-1)))
    rgb_w = nerf.rgb_linear.weight
    rgb_w[:, :4] = 0.0
    rand = v @ rgb_w.t()
    rgb_w *= HEAD_COLOUR_RIPPLE / max(float(rand.std()), 1e-12)
    mean = (v @ rgb_w.t()).mean(dim=0)
    skin, hair, eye, lips = (_logit(c) for c in (_SKIN, _HAIR, _EYE, _LIPS))
    tone = torch.full((3,), HEAD_TONE_VARIATION, dtype=torch.float64)
    rgb_w[:, 0] = (hair - skin).float()
    rgb_w[:, 1] = (eye - skin).float()
    rgb_w[:, 2] = (lips - skin).float()
    rgb_w[:, 3] = tone.float()
    nerf.rgb_linear.bias.copy_((skin - 4.0 * tone).float() - mean)


def make_nerf(seed=0, *, W=256, D=8, z_dim=256, dim_appearance=128, use_viewdirs=True, density_radius=0.75, peak=30.0, ripple=3.0,
              colour_gain=6.0, head=False) -> NeRF:
    """A seeded NeRF in the official layout (official widths by default: 0.678 M parameters) with a planted density.

    ``use_viewdirs=False`` gives the cub_64 layout (views_linears.0 reads feature + z_app only).
    Set ``peak=None`` to keep nn.Linear's plain random init everywhere.
    ``head=True`` plants a smooth, closed, skin-coloured head (:func:`_plant_head`) of height ``2 density_radius``
    instead of the rippled ball (``peak``, ``ripple`` and ``colour_gain`` are then unused), as a trained model's
    heads mesh: one closed surface, a sharp silhouette. The default, False, leaves the weights exactly as before.
    """
    input_ch, input_ch_views = input_widths(z_dim=z_dim, dim_appearance=dim_appearance, use_viewdirs=use_viewdirs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        nerf = NeRF(D=D, W=W, input_ch=input_ch, input_ch_views=input_ch_views)
    if head:
        _plant_head(nerf, torch.Generator().manual_seed(seed + 7919), radius=density_radius, dim_appearance=dim_appearance)
    elif peak is not None:
        gen = torch.Generator().manual_seed(seed + 7919)
        _plant_density(nerf, gen, radius=density_radius, peak=peak, ripple=ripple, colour_gain=colour_gain)
    nerf.use_viewdirs = use_viewdirs
    nerf.dim_appearance = dim_appearance
    return nerf.eval()


# --------------------------------------------------------------------------------------------
# Inference (submodules/nerf_pytorch/run_nerf_mod.py: run_network, render, render_rays, raw2outputs).


def network_input(points, view_dirs, z, *, dim_appearance=128, use_viewdirs=True, multires=10, multires_views=4) -> torch.Tensor:
    """``run_network``'s ``embedded`` for points [..., 3], view dirs [..., 3] (used as given) and z [..., Z].

    Leading dimensions broadcast (e.g. points [N, S, 3], dirs and z [N, 1, .]): every sample of a ray gets its
    ray's direction and z, as ``run_network`` expands them. With view dirs the result is
    ``[PE(x) | z[..., :-dim_app] | PE(d) | z[..., -dim_app:]]``; without (cub) ``[PE(x) | z]``, and the NeRF's own
    split then hands z's last ``input_ch_views`` entries to the view branch.
    """
    lead = torch.broadcast_shapes(points.shape[:-1], z.shape[:-1], *([view_dirs.shape[:-1]] if use_viewdirs else []))

    def full(t):
        return t.expand(*lead, t.shape[-1])

    parts = [full(Embedder(multires)(points))]
    if use_viewdirs and dim_appearance > 0:
        parts += [full(z[..., :-dim_appearance]), full(Embedder(multires_views)(view_dirs)), full(z[..., -dim_appearance:])]
    elif use_viewdirs:
        parts += [full(z), full(Embedder(multires_views)(view_dirs))]
    else:
        parts.append(full(z))
    return torch.cat(parts, dim=-1)


@torch.no_grad()
def query(nerf: NeRF, points, view_dirs, z, *, dim_appearance=None, use_viewdirs=None):
    """The field at points [N,3] seen along view_dirs [N,3] (not normalised here; render normalises) with z [Z] or [N,Z].

    Returns ``(raw_sigma [N], rgb [N,3])``: sigma before the ReLU, rgb = sigmoid(logits).
    """
    dim_appearance = getattr(nerf, "dim_appearance", 128) if dim_appearance is None else dim_appearance
    use_viewdirs = getattr(nerf, "use_viewdirs", True) if use_viewdirs is None else use_viewdirs
    z = z.reshape(1, -1) if z.dim() == 1 else z
    raw = nerf(network_input(points, view_dirs, z, dim_appearance=dim_appearance, use_viewdirs=use_viewdirs))
    return raw[:, 3], torch.sigmoid(raw[:, :3])


def raw2outputs(raw, z_vals, rays_d, white_bkgd=False) -> dict:
    """Volume rendering of raw [N,S,4] at depths z_vals [N,S] along unnormalised rays_d [N,3] (raw_noise_std = 0).

    delta = diff(z) with a last delta of 1e10, times |rays_d|; alpha = 1 - exp(-relu(sigma) delta); transmittance is
    the exclusive cumprod of (1 - alpha + 1e-10); rgb = sigmoid. ``white_bkgd`` adds (1 - acc) to every channel.
    """
    deltas = z_vals[..., 1:] - z_vals[..., :-1]
    deltas = torch.cat([deltas, torch.full_like(deltas[..., :1], 1e10)], dim=-1)
    deltas = deltas * rays_d.norm(dim=-1, keepdim=True)
    rgb = torch.sigmoid(raw[..., :3])
    alpha = 1.0 - torch.exp(-F.relu(raw[..., 3]) * deltas)
    survive = torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], dim=-1)
    weights = alpha * torch.cumprod(survive, dim=-1)[:, :-1]
    rgb_map = (weights[..., None] * rgb).sum(dim=-2)
    depth_map = (weights * z_vals).sum(dim=-1)
    acc_map = weights.sum(dim=-1)
    disp_map = 1.0 / torch.clamp(depth_map / (acc_map + 1e-10), min=1e-10)
    if white_bkgd:
        rgb_map = rgb_map + (1.0 - acc_map[..., None])
    return {"rgb_map": rgb_map, "disp_map": disp_map, "acc_map": acc_map, "weights": weights, "depth_map": depth_map}


def ray_bounds(rays_o, near, far, radius_max=None):
    """Per-ray (near, far) [N,1] float32, as ``Generator.__call__`` sets them.

    With a radius range (``radius_max`` = its maximum) both bounds move by ``-(radius_max - |rays_o|)``, so the
    sampled shell stays fixed relative to the origin for every camera distance; with a scalar radius they are
    the config constants.
    """
    n = rays_o.shape[0]
    ones = torch.ones(n, 1)
    if radius_max is None:
        return near * ones, far * ones
    shift = (radius_max - rays_o.norm(dim=-1)).reshape(-1, 1).float()
    return (near - shift) * ones, (far - shift) * ones


@torch.no_grad()
def render_rays(nerf, rays_o, rays_d, viewdirs, z, near, far, *, N_samples=64, white_bkgd=False, dim_appearance=None, chunk=1024) -> dict:
    """``render_rays`` at test time for float32 rays [N,3], viewdirs [N,3] (unit) or None, z [N,Z], near/far [N,1]."""
    dim_appearance = getattr(nerf, "dim_appearance", 128) if dim_appearance is None else dim_appearance
    t_vals = torch.linspace(0.0, 1.0, steps=N_samples)
    out: dict[str, list] = {}
    for start in range(0, rays_o.shape[0], chunk):
        sl = slice(start, start + chunk)
        o, d, zs = rays_o[sl], rays_d[sl], z[sl]
        z_vals = near[sl] * (1.0 - t_vals) + far[sl] * t_vals
        pts = o[:, None, :] + d[:, None, :] * z_vals[..., None]
        dirs = viewdirs[sl][:, None, :] if viewdirs is not None else None
        raw = nerf(network_input(pts, dirs, zs[:, None, :], dim_appearance=dim_appearance, use_viewdirs=viewdirs is not None))
        for key, value in raw2outputs(raw, z_vals, d, white_bkgd).items():
            out.setdefault(key, []).append(value)
    return {key: torch.cat(values) for key, values in out.items()}


@torch.no_grad()
def render_image(nerf, z, *, imsize, fov=10.0, radius=10.5, azimuth_deg=45.0, polar_deg=77.5, near=7.5, far=12.5, radius_max=None,
                 white_bkgd=False, N_samples=64, use_viewdirs=None, dim_appearance=None, pose=None, chunk=1024, return_extras=False):
    """One image as eval.py renders it with ``generator_test``: [H, W, 3] in [-1, 1] (``rgb * 2 - 1``).

    ``z`` [256] (or [1, 256]). The pose is ``pose`` (3x4, float64 as eval.py's render poses) or the one at
    (radius, azimuth, polar). ``radius_max``: the max of the config's radius range (None for scalar radii, then
    no near/far shift). Camera rays are computed in the pose's dtype and then cast to float32 (``render``);
    view directions are the normalised rays. With ``return_extras`` also returns raw2outputs' maps (not rescaled),
    reshaped to [H, W(, ...)].
    """
    use_viewdirs = getattr(nerf, "use_viewdirs", True) if use_viewdirs is None else use_viewdirs
    H = W = int(imsize)
    c2w = pose_matrix(radius, azimuth_deg, polar_deg) if pose is None else pose
    rays_o, rays_d = get_rays(H, W, focal_from_fov(W, fov), c2w)
    rays_o, rays_d = rays_o.reshape(-1, 3), rays_d.reshape(-1, 3)
    near_t, far_t = ray_bounds(rays_o, near, far, radius_max)
    viewdirs = (rays_d / rays_d.norm(dim=-1, keepdim=True)).float() if use_viewdirs else None
    rays_o, rays_d = rays_o.float(), rays_d.float()
    zz = z.reshape(1, -1).float().expand(rays_o.shape[0], -1)
    ret = render_rays(nerf, rays_o, rays_d, viewdirs, zz, near_t, far_t, N_samples=N_samples, white_bkgd=white_bkgd,
                      dim_appearance=dim_appearance, chunk=chunk)
    image = (ret["rgb_map"] * 2 - 1).reshape(H, W, 3)
    if return_extras:
        return image, {k: v.reshape(H, W, *v.shape[1:]) for k, v in ret.items()}
    return image


def render_variant(nerf, z, variant: str, *, imsize=None, pose=None, **overrides):
    """:func:`render_image` with a released configuration's settings at eval.py's shape/appearance pose."""
    cfg = VARIANTS[variant]
    radius, azimuth, polar = eval_angles(variant)
    kwargs = dict(imsize=cfg["imsize"] if imsize is None else imsize, fov=cfg["fov"], radius=radius, azimuth_deg=azimuth, polar_deg=polar,
                  near=cfg["near"], far=cfg["far"], radius_max=max(cfg["radius"]) if isinstance(cfg["radius"], tuple) else None,
                  white_bkgd=cfg["white_bkgd"], N_samples=cfg["N_samples"], use_viewdirs=cfg["use_viewdirs"],
                  dim_appearance=cfg["dim_appearance"], pose=pose)
    kwargs.update(overrides)
    return render_image(nerf, z, **kwargs)


# --------------------------------------------------------------------------------------------
# Discriminator and optimisers (graf/models/discriminator.py, GAN_stability gan_training/config.py).


class Discriminator(nn.Module):
    """The patch discriminator's parameter layout: ``main`` = spectral-normed 4x4 convs (no bias), InstanceNorm, LReLU.

    GRAF builds it with imsize = sqrt(ray_sampler.N_samples) = 32 (all released configs), nc 3, ndf 64. Its
    ``state_dict`` holds ``main.{i}.weight_orig`` / ``weight_u`` / ``weight_v`` for each conv (InstanceNorm2d has
    no state). Only the layout matters here; ``forward`` is not needed.
    """

    def __init__(self, nc=3, ndf=64, imsize=32):
        super().__init__()
        sn = nn.utils.spectral_norm

        def down(cin, cout, norm=True):
            return [sn(nn.Conv2d(cin, cout, 4, 2, 1, bias=False))] + ([nn.InstanceNorm2d(cout)] if norm else []) + [nn.LeakyReLU(0.2, inplace=True)]

        if imsize == 128:
            layers = down(nc, ndf // 2, norm=False) + down(ndf // 2, ndf) + down(ndf, ndf * 2)
        elif imsize == 64:
            layers = down(nc, ndf, norm=False) + down(ndf, ndf * 2)
        elif imsize == 32:
            layers = down(nc, ndf * 2)
        else:
            raise ValueError(imsize)
        layers += down(ndf * 2, ndf * 4) + down(ndf * 4, ndf * 8) + [sn(nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))]
        self.main = nn.Sequential(*layers)


def _trained_optimizer_state(module: nn.Module, lr: float, steps: int, seed: int) -> dict:
    """A real ``torch.optim.RMSprop(lr, alpha=0.99, eps=1e-8)`` state after one step on random gradients, in torch 1.7's shape.

    Run on a throw-away copy so the saved module is untouched. As torch 1.7 wrote it: ``state[i]`` =
    ``{'step': int, 'square_avg': tensor}``, param groups with only the 1.7 keys plus the ``initial_lr`` that
    train.py's MultiStepLR adds.
    """
    twin = copy.deepcopy(module)
    opt = torch.optim.RMSprop(twin.parameters(), lr=lr, alpha=0.99, eps=1e-8)
    gen = torch.Generator().manual_seed(seed)
    for p in twin.parameters():
        p.grad = torch.randn(p.shape, generator=gen) * 1e-3
    opt.step()
    sd = opt.state_dict()
    state = {i: {"step": int(steps), "square_avg": s["square_avg"]} for i, s in sd["state"].items()}
    keep = ("lr", "momentum", "alpha", "eps", "centered", "weight_decay")
    groups = [{**{k: g[k] for k in keep}, "initial_lr": g["lr"], "params": list(g["params"])} for g in sd["param_groups"]]
    return {"state": state, "param_groups": groups}


# --------------------------------------------------------------------------------------------
# Writing checkpoints.

_AS_CUDA: contextvars.ContextVar[bool] = contextvars.ContextVar("graf_official_as_cuda", default=False)
_TAGGER_PRIORITY = -7301  # before torch's own taggers (cpu is 10); unique so the registry's sort never compares functions
_tagger_registered = False


def _cuda_tagger(storage):
    if _AS_CUDA.get() and storage.device.type == "cpu":
        return "cuda:0"
    return None


def _no_deserializer(obj, location):
    return None  # loading is left entirely to torch's own deserializers


@contextlib.contextmanager
def storages_tagged_as_cuda():
    """While active (in this thread/context), ``torch.save`` records CPU storages with location ``'cuda:0'``.

    Uses the public ``torch.serialization.register_package``: a tagger registered once, ahead of torch's, that
    answers ``'cuda:0'`` for CPU storages only inside this context and defers (``None``) otherwise. The bytes
    are unchanged; only the location string in the pickle differs, exactly as when saving real CUDA tensors.
    """
    global _tagger_registered
    if not _tagger_registered:
        torch.serialization.register_package(_TAGGER_PRIORITY, _cuda_tagger, _no_deserializer)
        _tagger_registered = True
    token = _AS_CUDA.set(True)
    try:
        yield
    finally:
        _AS_CUDA.reset(token)


def _perturbed(nerf: NeRF, seed: int) -> NeRF:
    """The "training" generator: generator_test plus small noise (so loading the wrong key is detectable)."""
    twin = copy.deepcopy(nerf)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.01 * (float(p.std()) if p.numel() > 1 else 1.0))
    return twin


def checkpoint_dict(generator_test: NeRF, *, generator: NeRF | None = None, keys="full", it=149999, epoch_idx=59, fid_best=FID_BEST,
                    kid_best=float("inf"), disc_ndf=64, seed=0, **extra) -> dict:
    """The dict ``CheckpointIO.save`` would ``torch.save``, in the official key order.

    keys: ``"full"`` (train.py: it, epoch_idx, fid_best, kid_best, discriminator, g_optimizer, d_optimizer,
    generator, generator_test), ``"eval"`` (generator, generator_test: what eval.py registers), ``"scalars+eval"``
    (the scalars, then generator, generator_test), ``"generator_test"`` or ``"generator"`` (that one entry only).
    ``extra`` entries are appended at the end (e.g. unknown keys a loader must ignore).
    """
    if generator is None:
        generator = _perturbed(generator_test, seed + 1)
    scalars = {"it": it, "epoch_idx": epoch_idx, "fid_best": fid_best, "kid_best": kid_best}
    nets = {"generator": generator.state_dict(), "generator_test": generator_test.state_dict()}
    if keys == "full":
        disc = Discriminator(ndf=disc_ndf)
        out = {**scalars, "discriminator": disc.state_dict(),
               "g_optimizer": _trained_optimizer_state(generator, 5e-4, it + 1, seed + 2),
               "d_optimizer": _trained_optimizer_state(disc, 1e-4, it + 1, seed + 3), **nets}
    elif keys == "eval":
        out = dict(nets)
    elif keys == "scalars+eval":
        out = {**scalars, **nets}
    elif keys in ("generator", "generator_test"):
        out = {keys: nets[keys]}
    else:
        raise ValueError(f"unknown keys={keys!r}")
    out.update(extra)
    return out


def save_checkpoint(path, generator_test: NeRF, *, generator: NeRF | None = None, keys="full", on_gpu=True, zipfile=True,
                    fid_best=FID_BEST, **extra) -> None:
    """Write an official-format GRAF checkpoint (see :func:`checkpoint_dict` for ``keys``/scalars/extra).

    ``on_gpu``: storages tagged ``'cuda:0'`` as GRAF's GPU training wrote them (:func:`storages_tagged_as_cuda`).
    ``zipfile=False`` writes torch's legacy (pre-1.6) format instead of the zip format torch 1.7 used.
    """
    obj = checkpoint_dict(generator_test, generator=generator, keys=keys, fid_best=fid_best, **extra)
    ctx = storages_tagged_as_cuda() if on_gpu else contextlib.nullcontext()
    with ctx:
        torch.save(obj, path, _use_new_zipfile_serialization=zipfile)
