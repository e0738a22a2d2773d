"""PanoHead in its official on-disk format, and a slow, literal reference of its inference, without its code.

Built on :mod:`eg3d_official` (the pickling machinery, every StyleGAN2 layer, the super-resolution
modules, the ray sampler, the camera helpers): only what PanoHead (SizheAn/PanoHead @17ad915) changes
is written here. Tests treat it as "the official code". Facts, read from ``training/triplane.py``,
``training/volumetric_rendering/{renderer,ray_marcher}.py``, ``training/networks_stylegan2.py``,
``train.py``, ``training/loss.py``, ``training/training_loop.py``, ``gen_samples.py`` and ``gen_videos.py``:

* **Pickled identity.** ``TriPlaneGenerator`` and ``OSGDecoder`` (``training/triplane.py``),
  ``ImportanceRenderer`` (``renderer.py``) and ``MipRayMarcher2`` (``ray_marcher.py``) are all
  ``@persistence.persistent_class`` in PanoHead, so they pickle as persistence records (EG3D pickles
  the last three by reference); only ``RaySampler`` (and ``dnnlib.util.EasyDict``) stay by reference.
  ``camera_utils.py``, ``ray_sampler.py``, ``math_utils.py``, ``superresolution.py`` and
  ``persistence.py`` are byte-identical to EG3D's; ``networks_stylegan2.py`` only adds
  ``MappingNetwork(last_activation=None)`` (the last ``fc`` gets that activation when truthy).
* **Tri-grid.** The backbone (``img_resolution=triplane_size``, ``img_channels=32*3*triplane_depth``)
  output is viewed ``(N, 3, 32*D, H, W)`` in ``synthesis``/``sample``/``sample_mixed``, then in
  ``sample_from_planes`` viewed ``(N*3, 32, D, H, W)`` (so channel ``k*D + d`` of plane ``p`` is
  feature ``k`` at depth slice ``d``). Points are scaled by ``2/box_warp`` and multiplied (row
  vectors) by the inverse of each ``plane_axes`` matrix, keeping **all three** components: the 5-D
  ``grid_sample`` grid is ``(N*3, 1, 1, M, 3)`` whose last axis is ``(x->W, y->H, z->D)``;
  bilinear (i.e. trilinear), zeros padding, ``align_corners=False``. ``plane_axes`` =
  ``[[1,0,0],[0,1,0],[0,0,1]]``, ``[[1,0,0],[0,0,1],[0,1,0]]``, ``[[0,1,0],[0,0,1],[1,0,0]]``: the
  projected triples (``point @ inv(P)`` = ``P @ point``, P a permutation) are ``(x, y, z)``, ``(x, z, y)``,
  ``(y, z, x)``: planes XY, XZ, YZ with depth along z, y, x. It is read from the renderer instance (``self.plane_axes``, a plain
  tensor attribute in the pickled state, not a buffer).
* **Decoder.** ``OSGDecoder(32, {decoder_lr_mul, decoder_output_dim: 32, decoder_activation})``
  keeps ``self.activation``; mean over the 3 planes, FC(32,64) softplus FC(64,33); ``sigma = x[..., :1]``
  raw; ``rgb = x[..., 1:]`` (32 features) is: ``sigmoid*(1.002)-0.001`` for 'sigmoid', ``lrelu(0.2)*sqrt 2``
  for 'lrelu', **untouched for 'none'** (the release).
* **Renderer.** ``forward(..., triplane_crop=0.1, cull_clouds=None, binarize_clouds=None)``; the
  generator calls it without them, so the crop **is** applied when rendering images: raw sigma is
  set to ``-1e3`` where ``not (|x| <= box_warp/2 - 0.1 and |z| <= box_warp/2 - 0.1)`` (coordinates are
  first multiplied by ``(-1, 1, -1)``; the ``allow_bottom`` clause ORs a subset of the same condition,
  so it changes nothing). ``run_model`` (hence ``G.sample``/``sample_mixed``) never crops, and adds
  ``density_noise`` only when > 0.
* **Ray marcher.** As EG3D's but **without** ``composite_rgb * 2 - 1``; density ``softplus(sigma - 1)``.
  (Officially the sample xyz are marched along as 3 extra channels and dropped: no effect.)
* **Synthesis.** feature image (composited, ``(N, 32, R, R)``) and weights image; if
  ``decoder.activation == 'sigmoid'`` the features get ``*2-1``; if ``bcg_synthesis``:
  ``ws_bcg = ws[:, :bcg.num_ws]`` (padded with its last w if short), ``bcg = bcg_synthesis(ws_bcg,
  **synthesis_kwargs)`` at the super-resolution's ``input_resolution`` (128), bilinearly resized to R
  (``align_corners=False, antialias=sr_antialias``), ``feature_image += (1 - weights) * bcg``; then
  ``image_raw = torgb(feature_image, ws[:, -1], fused_modconv=False)`` when ``use_torgb_raw`` (else
  ``feature_image[:, :3]``); the super-resolution gets ``(image_raw, feature_image, ws)``;
  ``image_mask = weights*(1.002) - 0.001``. ``bcg_synthesis = SynthesisNetwork(w_dim,
  img_resolution=superresolution.input_resolution, img_channels=32, **synthesis_kwargs with
  channel_base // 2)``.
* **Self-adaptive camera.** ``t_mapping = MappingNetwork(z_dim, c_dim, w_dim=3, num_ws=1,
  last_activation='linear', lr_multiplier=1.0, **mapping_kwargs)``; ``apply_delta_c(z, c, psi, cutoff)``
  zeroes ``c`` if ``c_gen_conditioning_zero``, maps ``(z, c * c_scale)``, squeezes to ``(N, 3)`` and
  returns ``(c_new, delta)`` with ``c_new[:, 3/7/11] += delta`` (the cam2world translation; note the
  returned ``c_new`` is the *zeroed* c when conditioning is zeroed). Only ``forward`` uses it.
  ``gen_samples.py`` calls ``G.mapping`` + ``G.synthesis``; ``gen_videos.py`` hard-codes
  ``entangle = 'camera'`` whose branch calls ``G.synthesis`` with the plain camera: **neither applies
  the delta** (the 'both' branch that would is dead code).
* **Snapshot.** ``training_loop.py`` sets ``G_ema.rendering_kwargs = G.rendering_kwargs.copy()`` after
  every step and ``loss.py`` writes ``G.rendering_kwargs['density_noise']`` each step
  (``max(1 - nimg / (fade*1e3), 0)``, the int ``0`` after the 200 kimg fade of the release command), so
  the released ``G_ema.rendering_kwargs`` carries ``density_noise: 0`` beside train.py's keys (the
  recorded ``_init_kwargs['rendering_kwargs']`` does not). The neural rendering resolution stays 64
  (``--neural_rendering_resolution_final`` defaults to None); the 8XDC super-resolution resizes 64 -> 128.

Weights (see :func:`_liven`): :func:`eg3d_official._liven` (non-zero biases/noise, ``w_avg``, a decoder
whose raw sigma crosses 10 inside the box, a clamp probe in the super-resolution; here with a lower
median sigma so that some rays pass through the box) plus the parts
PanoHead adds: random biases/noise strengths in ``bcg_synthesis``/``torgb``, and a ``t_mapping`` whose
translation offsets are a few hundredths (as after training with ``trans_reg``), ``w_avg`` set.
"""

from __future__ import annotations

import copy
import math

import eg3d_official as eg3d
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

EasyDict = eg3d.EasyDict
Persistent = eg3d.Persistent
DROP = eg3d.DROP
official_modules = eg3d.official_modules
canary_source = eg3d.canary_source
front_camera = eg3d.front_camera
lookat_cam2world = eg3d.lookat_cam2world
fov_to_intrinsics = eg3d.fov_to_intrinsics
conditioning = eg3d.conditioning

BY_REFERENCE = ("training.volumetric_rendering.ray_sampler.RaySampler", "torch.nn.modules.container.Sequential", "torch.nn.modules.activation.Softplus")
"""The classes a PanoHead snapshot pickles by reference (besides ``dnnlib.util.EasyDict``): the ray sampler and the
torch modules inside the (persistent) decoder."""

PERSISTENT_MODULES = {"TriPlaneGenerator": "training/triplane.py", "OSGDecoder": "training/triplane.py",
                      "ImportanceRenderer": "training/volumetric_rendering/renderer.py",
                      "MipRayMarcher2": "training/volumetric_rendering/ray_marcher.py"}
"""Where PanoHead's own persistent classes live (their ``module_src`` stand-ins name these files)."""


# --------------------------------------------------------------------------------------------
# training/networks_stylegan2.py: MappingNetwork gained ``last_activation``

class MappingNetwork(eg3d.MappingNetwork):
    """PanoHead's ``MappingNetwork``: the last ``fc`` uses ``last_activation`` when it is truthy (forward unchanged)."""

    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, embed_features=None, layer_features=None, activation="lrelu",
                 last_activation=None, lr_multiplier=0.01, w_avg_beta=0.998):
        nn.Module.__init__(self)
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = 0 if c_dim == 0 else w_dim if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        widths = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = eg3d.FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            act = last_activation if idx == num_layers - 1 and last_activation else activation
            setattr(self, f"fc{idx}", eg3d.FullyConnectedLayer(widths[idx], widths[idx + 1], activation=act, lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))


# --------------------------------------------------------------------------------------------
# training/volumetric_rendering/renderer.py and ray_marcher.py (persistent in PanoHead)

def generate_planes():
    """PanoHead's plane bases: XY, XZ and YZ (EG3D's third is ZX)."""
    return torch.tensor([[[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                         [[1, 0, 0], [0, 0, 1], [0, 1, 0]],
                         [[0, 1, 0], [0, 0, 1], [1, 0, 0]]], dtype=torch.float32)


def project_onto_planes(planes, coordinates):
    """[N, M, 3] -> [N * n_planes, M, 3]: row vectors times each basis' inverse, all three components kept."""
    n, m, _ = coordinates.shape
    k = planes.shape[0]
    points = coordinates.unsqueeze(1).expand(-1, k, -1, -1).reshape(n * k, m, 3)
    inverses = torch.linalg.inv(planes).unsqueeze(0).expand(n, -1, -1, -1).reshape(n * k, 3, 3)
    return torch.bmm(points, inverses)


def sample_from_planes(plane_axes, plane_features, coordinates, box_warp, triplane_depth=1):
    """Trilinear, zero-padded, ``align_corners=False`` lookups of the tri-grid -> [N, 3, M, 32].

    ``plane_features`` [N, 3, 32*D, H, W] is viewed [N*3, 32, D, H, W]; the 5-D grid's last axis is
    the projected (first -> W, second -> H, third -> D) triple of the points scaled by ``2/box_warp``.
    """
    n, k, cd, h, w = plane_features.shape
    m = coordinates.shape[1]
    c, d = cd // triplane_depth, triplane_depth
    grid = project_onto_planes(plane_axes, (2 / box_warp) * coordinates).unsqueeze(1).unsqueeze(2)  # [N*k, 1, 1, M, 3]
    out = F.grid_sample(plane_features.view(n * k, c, d, h, w), grid.float(), mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.permute(0, 4, 3, 2, 1).reshape(n, k, m, c)


def triplane_crop_mask(xyz, thresh, box_warp, allow_bottom=True):
    """True where the renderer zeroes density: outside ``|x|, |z| <= box_warp/2 - thresh`` (raw world coordinates)."""
    xyz = xyz * torch.tensor([-1, 1, -1], dtype=xyz.dtype, device=xyz.device)
    limit = box_warp / 2 - thresh
    inside = (xyz[:, :, [0, 2]].abs() <= limit).all(dim=-1, keepdim=True)
    if allow_bottom:  # as officially; a subset of ``inside``, so it changes nothing
        inside = inside | ((xyz[:, :, 1:2] <= -limit) & (xyz[:, :, [0, 2]].abs() <= limit).all(dim=-1, keepdim=True))
    return ~inside


def cull_clouds_mask(densities, thresh):
    return 1 - torch.exp(-F.softplus(densities - 1)) < thresh


class MipRayMarcher2(Persistent):
    official_module = PERSISTENT_MODULES["MipRayMarcher2"]

    def __init__(self):
        super().__init__()

    def run_forward(self, colors, densities, depths, rendering_options):
        """EG3D's mid-point quadrature without the final ``* 2 - 1``: colours are composited as they are."""
        deltas = depths[:, :, 1:] - depths[:, :, :-1]
        colors_mid = (colors[:, :, :-1] + colors[:, :, 1:]) / 2
        densities_mid = (densities[:, :, :-1] + densities[:, :, 1:]) / 2
        depths_mid = (depths[:, :, :-1] + depths[:, :, 1:]) / 2
        assert rendering_options["clamp_mode"] == "softplus", "MipRayMarcher only supports `clamp_mode`=`softplus`!"
        alpha = 1 - torch.exp(-F.softplus(densities_mid - 1) * deltas)
        transmit = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :, :1]), 1 - alpha + 1e-10], -2), -2)[:, :, :-1]
        weights = alpha * transmit
        rgb = torch.sum(weights * colors_mid, -2)
        total = weights.sum(2)
        depth = torch.nan_to_num(torch.sum(weights * depths_mid, -2) / total, float("inf"))
        depth = torch.clamp(depth, torch.min(depths), torch.max(depths))
        if rendering_options.get("white_back", False):
            rgb = rgb + 1 - total
        return rgb, depth, weights

    def forward(self, colors, densities, depths, rendering_options):
        return self.run_forward(colors, densities, depths, rendering_options)


class ImportanceRenderer(Persistent):
    """PanoHead's renderer: the tri-grid lookup, the crop, and EG3D's stratified + importance sampling."""

    official_module = PERSISTENT_MODULES["ImportanceRenderer"]
    sample_stratified = eg3d.ImportanceRenderer.sample_stratified
    sample_importance = eg3d.ImportanceRenderer.sample_importance
    sample_pdf = eg3d.ImportanceRenderer.sample_pdf

    def __init__(self):
        super().__init__()
        self.ray_marcher = MipRayMarcher2()
        self.plane_axes = generate_planes()

    def _masks(self, out, opts, triplane_crop, cull_clouds, binarize_clouds):
        sigma = out["sigma"]
        if triplane_crop:
            sigma[triplane_crop_mask(out["xyz"], triplane_crop, opts["box_warp"])] = -1e3
        if binarize_clouds:
            cloud = cull_clouds_mask(sigma, binarize_clouds)
            sigma[cloud] = -1e3
            sigma[~cloud] = 1e3
        elif cull_clouds:
            sigma[cull_clouds_mask(sigma, cull_clouds)] = -1e3
        return out["rgb"], sigma

    def _query(self, planes, decoder, origins, directions, depths, opts, masks):
        batch, rays, samples, _ = depths.shape
        points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(batch, -1, 3)
        dirs = directions.unsqueeze(-2).expand(-1, -1, samples, -1).reshape(batch, -1, 3)
        colors, sigma = self._masks(self.run_model(planes, decoder, points, dirs, opts), opts, *masks)
        return colors.reshape(batch, rays, samples, -1), sigma.reshape(batch, rays, samples, 1)

    def forward(self, planes, decoder, ray_origins, ray_directions, rendering_options, triplane_crop=0.1, cull_clouds=None, binarize_clouds=None):
        opts = rendering_options
        masks = (triplane_crop, cull_clouds, binarize_clouds)
        self.plane_axes = self.plane_axes.to(ray_origins.device)
        start, end = opts["ray_start"], opts["ray_end"]
        if start == end == "auto":
            start, end = eg3d.ray_limits_box(ray_origins, ray_directions, opts["box_warp"])
            valid = end > start
            if torch.any(valid).item():
                start[~valid] = start[valid].min()
                end[~valid] = start[valid].max()  # sic, as in EG3D
        depths_coarse = self.sample_stratified(ray_origins, start, end, opts["depth_resolution"], opts["disparity_space_sampling"])
        colors_coarse, densities_coarse = self._query(planes, decoder, ray_origins, ray_directions, depths_coarse, opts, masks)
        n_fine = opts["depth_resolution_importance"]
        if n_fine > 0:
            _, _, weights = self.ray_marcher(colors_coarse, densities_coarse, depths_coarse, opts)
            depths_fine = self.sample_importance(depths_coarse, weights, n_fine)
            colors_fine, densities_fine = self._query(planes, decoder, ray_origins, ray_directions, depths_fine, opts, masks)
            depths, colors, densities = eg3d.ImportanceRenderer.unify_samples(self, depths_coarse, colors_coarse, densities_coarse, depths_fine,
                                                                             colors_fine, densities_fine)
        else:
            depths, colors, densities = depths_coarse, colors_coarse, densities_coarse
        rgb, depth, weights = self.ray_marcher(colors, densities, depths, opts)
        return rgb, depth, weights.sum(2)

    def run_model(self, planes, decoder, sample_coordinates, sample_directions, options):
        """Decoder outputs at the points: ``{'rgb': 32 features, 'sigma': raw, 'xyz': the points}``; never cropped."""
        features = sample_from_planes(self.plane_axes, planes, sample_coordinates, box_warp=options["box_warp"], triplane_depth=options["triplane_depth"])
        out = decoder(features, sample_directions)
        if options.get("density_noise", 0) > 0:
            out["sigma"] = out["sigma"] + torch.randn_like(out["sigma"]) * options["density_noise"]
        out["xyz"] = sample_coordinates
        return out


# --------------------------------------------------------------------------------------------
# training/triplane.py

class OSGDecoder(Persistent):
    official_module = PERSISTENT_MODULES["OSGDecoder"]

    def __init__(self, n_features, options):
        super().__init__()
        self.hidden_dim = 64
        lr = options["decoder_lr_mul"]
        self.net = nn.Sequential(eg3d.FullyConnectedLayer(n_features, self.hidden_dim, lr_multiplier=lr), nn.Softplus(),
                                 eg3d.FullyConnectedLayer(self.hidden_dim, 1 + options["decoder_output_dim"], lr_multiplier=lr))
        self.activation = options["decoder_activation"]

    def forward(self, sampled_features, ray_directions):
        x = sampled_features.mean(1)
        n, m, c = x.shape
        x = self.net(x.reshape(n * m, c)).reshape(n, m, -1)
        rgb, sigma = x[..., 1:], x[..., 0:1]
        if self.activation == "sigmoid":
            rgb = torch.sigmoid(rgb) * (1 + 2 * 0.001) - 0.001
        elif self.activation == "lrelu":
            rgb = F.leaky_relu(rgb, 0.2) * math.sqrt(2)
        return {"rgb": rgb, "sigma": sigma}


class TriPlaneGenerator(Persistent):
    official_module = PERSISTENT_MODULES["TriPlaneGenerator"]

    def __init__(self, z_dim, c_dim, w_dim, img_resolution, img_channels, sr_num_fp16_res=0, mapping_kwargs={}, rendering_kwargs={},  # noqa: B006
                 sr_kwargs={}, **synthesis_kwargs):  # noqa: B006 (official signature)
        super().__init__()
        bcg_synthesis_kwargs = synthesis_kwargs.copy()
        bcg_synthesis_kwargs["channel_base"] = bcg_synthesis_kwargs["channel_base"] // 2
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.renderer = ImportanceRenderer()
        self.ray_sampler = eg3d.RaySampler()
        self.backbone = eg3d.Generator(z_dim, c_dim, w_dim, img_resolution=rendering_kwargs["triplane_size"],
                                       img_channels=32 * 3 * rendering_kwargs["triplane_depth"], mapping_kwargs=mapping_kwargs, **synthesis_kwargs)
        self.superresolution = eg3d.SUPERRESOLUTION[rendering_kwargs["superresolution_module"]](
            channels=32, img_resolution=img_resolution, sr_num_fp16_res=sr_num_fp16_res, sr_antialias=rendering_kwargs["sr_antialias"], **sr_kwargs)
        self.decoder = OSGDecoder(32, {"decoder_lr_mul": rendering_kwargs.get("decoder_lr_mul", 1), "decoder_output_dim": 32,
                                       "decoder_activation": rendering_kwargs["decoder_activation"]})
        self.torgb = eg3d.ToRGBLayer(32, 3, w_dim) if rendering_kwargs.get("use_torgb_raw", False) else None
        self.bcg_synthesis = (eg3d.SynthesisNetwork(w_dim, img_resolution=self.superresolution.input_resolution, img_channels=32, **bcg_synthesis_kwargs)
                              if rendering_kwargs.get("use_background", False) else None)
        self.t_mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=3, num_ws=1, last_activation="linear", lr_multiplier=1.0, **mapping_kwargs)
        self.neural_rendering_resolution = 64
        self.rendering_kwargs = rendering_kwargs
        self._last_planes = None

    def _conditioning(self, c):
        if self.rendering_kwargs["c_gen_conditioning_zero"]:
            c = torch.zeros_like(c)
        return c

    def mapping(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        c = self._conditioning(c)
        return self.backbone.mapping(z, c * self.rendering_kwargs.get("c_scale", 0), truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def apply_delta_c(self, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False):
        """``(c_new, delta_c)``: the t_mapping's 3-vector added to the cam2world translation entries 3, 7, 11 of ``c``."""
        c = self._conditioning(c)
        delta_c = self.t_mapping(z, c * self.rendering_kwargs.get("c_scale", 0), truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        delta_c = torch.squeeze(delta_c, 1)
        c_new = c.clone()
        c_new[:, 3] += delta_c[:, 0]
        c_new[:, 7] += delta_c[:, 1]
        c_new[:, 11] += delta_c[:, 2]
        return c_new, delta_c

    def planes(self, ws, **synthesis_kwargs):
        """The backbone's image viewed as the tri-grid ``[N, 3, 32*D, H, W]``."""
        planes = self.backbone.synthesis(ws, **synthesis_kwargs)
        return planes.view(len(planes), 3, 32 * self.rendering_kwargs["triplane_depth"], planes.shape[-2], planes.shape[-1])

    def background(self, ws, ws_bcg=None, size=None, **synthesis_kwargs):
        """The background network's 32-channel image (``None`` without one), bilinearly resized to ``size`` if given."""
        if not self.bcg_synthesis:
            return None
        num = self.bcg_synthesis.num_ws
        ws_bcg = ws[:, :num] if ws_bcg is None else ws_bcg[:, :num]
        if ws_bcg.size(1) < num:
            ws_bcg = torch.cat([ws_bcg, ws_bcg[:, -1:].repeat(1, num - ws_bcg.size(1), 1)], 1)
        image = self.bcg_synthesis(ws_bcg, **synthesis_kwargs)
        if size is not None:
            image = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=self.rendering_kwargs["sr_antialias"])
        return image

    def synthesis(self, ws, c, neural_rendering_resolution=None, update_emas=False, ws_bcg=None, cache_backbone=False, use_cached_backbone=False,
                  **synthesis_kwargs):
        """The official outputs (image, image_raw, image_depth, image_mask) plus, not official: ``image_features`` (the
        rendered 32 features before the background), ``image_background`` (the resized background, or None) and
        ``image_weights`` (accumulated weights)."""
        cam2world, intrinsics = c[:, :16].view(-1, 4, 4), c[:, 16:25].view(-1, 3, 3)
        if neural_rendering_resolution is None:
            neural_rendering_resolution = self.neural_rendering_resolution
        else:
            self.neural_rendering_resolution = neural_rendering_resolution
        origins, directions = self.ray_sampler(cam2world, intrinsics, neural_rendering_resolution)
        n = origins.shape[0]
        if use_cached_backbone and self._last_planes is not None:
            planes = self._last_planes
        else:
            planes = self.backbone.synthesis(ws, **synthesis_kwargs)
        if cache_backbone:
            self._last_planes = planes
        planes = planes.view(len(planes), 3, 32 * self.rendering_kwargs["triplane_depth"], planes.shape[-2], planes.shape[-1])
        features, depth, weights = self.renderer(planes, self.decoder, origins, directions, self.rendering_kwargs)
        res = self.neural_rendering_resolution
        feature_image = features.permute(0, 2, 1).reshape(n, features.shape[-1], res, res).contiguous()
        depth_image = depth.permute(0, 2, 1).reshape(n, 1, res, res)
        weights = weights.permute(0, 2, 1).reshape(n, 1, res, res)
        if self.decoder.activation == "sigmoid":
            feature_image = feature_image * 2 - 1
        rendered = feature_image.clone()
        background = self.background(ws, ws_bcg, size=feature_image.shape[2:], **synthesis_kwargs)
        if background is not None:
            feature_image = feature_image + (1 - weights) * background
        if self.torgb:
            rgb_image = self.torgb(feature_image, ws[:, -1], fused_modconv=False).to(dtype=torch.float32, memory_format=torch.contiguous_format)
        else:
            rgb_image = feature_image[:, :3]
        sr_kwargs = {k: v for k, v in synthesis_kwargs.items() if k != "noise_mode"}
        image = self.superresolution(rgb_image, feature_image, ws, noise_mode=self.rendering_kwargs["superresolution_noise_mode"], **sr_kwargs)
        return {"image": image, "image_raw": rgb_image, "image_depth": depth_image, "image_mask": weights * (1 + 2 * 0.001) - 0.001,
                "image_features": rendered, "image_background": background, "image_weights": weights}

    def sample(self, coordinates, directions, z, c, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        """Raw sigma and the 32 decoder features (officially named 'rgb') at arbitrary points; no crop, no delta_c."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.renderer.run_model(self.planes(ws, **synthesis_kwargs), self.decoder, coordinates, directions, self.rendering_kwargs)

    def sample_mixed(self, coordinates, directions, ws, truncation_psi=1, truncation_cutoff=None, update_emas=False, **synthesis_kwargs):
        return self.renderer.run_model(self.planes(ws, **synthesis_kwargs), self.decoder, coordinates, directions, self.rendering_kwargs)

    def forward(self, z, c, truncation_psi=1, truncation_cutoff=None, neural_rendering_resolution=None, update_emas=False, cache_backbone=False,
                use_cached_backbone=False, **synthesis_kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        c, _ = self.apply_delta_c(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, c, neural_rendering_resolution=neural_rendering_resolution, cache_backbone=cache_backbone,
                              use_cached_backbone=use_cached_backbone, **synthesis_kwargs)


def point_rgb(G, features, ws):
    """NOT an official operation: ``torgb`` (a 1x1 modulated conv + bias with ``ws[:, -1]``) applied to per-point features.

    Officially ``torgb`` only runs on the composited 2-D feature image (``image_raw``). Being a 1x1 conv
    it acts on each pixel's 32 features independently, so applying it to points is the same map; it
    commutes with compositing except for the bias (composited weights sum to < 1). ``features``
    [N, M, 32] (``G.sample(...)['rgb']``), ``ws`` [N, num_ws, 512] -> [N, M, 3], roughly in [-1, 1].
    Without ``torgb`` (``use_torgb_raw`` off) the raw image's rule applies: the first 3 features
    (mapped ``*2-1`` for a sigmoid decoder).
    """
    if G.decoder.activation == "sigmoid":
        features = features * 2 - 1
    if not G.torgb:
        return features[..., :3]
    image = features.permute(0, 2, 1).unsqueeze(-1)  # [N, 32, M, 1]
    return G.torgb(image, ws[:, -1], fused_modconv=False).squeeze(-1).permute(0, 2, 1)


def point_colour(G, features, ws):
    """Not official: the per-point colour our library exposes, ``clamp((point_rgb + 1) / 2, 0, 1)``."""
    return ((point_rgb(G, features, ws) + 1) / 2).clamp(0, 1)


# --------------------------------------------------------------------------------------------
# Released configurations (train.py's rendering_options for the README command) and the builders

def _rendering_options(triplane_depth, gpc_reg_prob):
    """``rendering_options`` as train.py builds them for ``--cfg=ffhq`` at 512 with the README's flags (click makes the
    float options floats); ``density_noise`` is what loss.py adds to G's copy during training (0 after the fade)."""
    options = {
        "image_resolution": 512,
        "disparity_space_sampling": False,
        "clamp_mode": "softplus",
        "superresolution_module": "training.superresolution.SuperresolutionHybrid8XDC",
        "c_gen_conditioning_zero": False,
        "gpc_reg_prob": gpc_reg_prob,
        "c_scale": 1.0,
        "superresolution_noise_mode": "none",
        "density_reg": 0.0,
        "density_reg_p_dist": 0.004,
        "reg_type": "l1",
        "decoder_lr_mul": 1.0,
        "decoder_activation": "none",
        "use_torgb_raw": True,
        "triplane_size": 256,
        "triplane_depth": triplane_depth,
        "trans_reg": 10.0,
        "use_background": True,
        "sr_antialias": True,
        "depth_resolution": 48,
        "depth_resolution_importance": 48,
        "ray_start": 2.25,
        "ray_end": 3.3,
        "box_warp": 1,
        "avg_camera_radius": 2.7,
        "avg_camera_pivot": [0, 0, 0.2],
    }
    return options


VARIANTS = {
    # name: (img_resolution, neural_rendering_resolution, rendering_options)
    "easy-khair-180-gpc0.8-trans10-025000": (512, 64, _rendering_options(3, 0.8)),  # gpc 0.8 and trans_reg 10 from the file name
    "ablation-trigridD-1-025000": (512, 64, _rendering_options(1, 0.8)),  # assumed: the same flags with --triplane_depth 1
}

DENSITY_MEDIAN = -5.0
"""Median raw sigma over the box (EG3D's calibration, shifted down): a tri-grid is denser than tri-planes, and at EG3D's
median of 3 nearly every ray through the box is opaque; at -5 some rays pass, a few percent of the box is above 10."""

TRANSLATION_STD = 0.03
"""Spread of the t_mapping's translation offsets over latents (world units; the camera radius is 2.7)."""


def _liven(G, seed):
    """:func:`eg3d_official._liven` for the shared parts, then PanoHead's additions.

    The decoder's sigma offset moves the median raw sigma over the box to :data:`DENSITY_MEDIAN` (spread
    still :data:`eg3d_official.DENSITY_STD`).
    ``bcg_synthesis`` and ``torgb`` get small random biases (and noise strengths), like the backbone;
    the t_mapping's last layer is rescaled so the offsets have spread :data:`TRANSLATION_STD` around a
    non-zero mean of the same size, and its ``w_avg`` is set to the mean offset (plus noise), so
    truncation changes it a little.
    """
    eg3d._liven(G, seed)
    rng = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():
        last = G.decoder.net[2]
        last.bias[0] += (DENSITY_MEDIAN - eg3d.DENSITY_MEDIAN) / float(last.bias_gain)
        for root in (G.bcg_synthesis, G.torgb, G.t_mapping):
            if root is None:
                continue
            for module in root.modules():
                if isinstance(module, eg3d.FullyConnectedLayer) and module.bias is not None:
                    module.bias.add_(0.2 * torch.randn(module.out_features, generator=rng) / float(module.bias_gain))
                if isinstance(module, (eg3d.SynthesisLayer, eg3d.ToRGBLayer)):
                    module.bias.copy_(0.2 * torch.randn(module.bias.shape[0], generator=rng))
                if isinstance(module, eg3d.SynthesisLayer) and module.use_noise:
                    module.noise_strength.fill_(0.05 + 0.25 * torch.rand([], generator=rng).item())
        t = G.t_mapping
        last = getattr(t, f"fc{t.num_layers - 1}")
        z, c = torch.randn(64, G.z_dim, generator=rng), front_camera(G).repeat(64, 1)
        last.bias.zero_()
        out = G.apply_delta_c(z, c)[1]
        last.weight.mul_(TRANSLATION_STD / out.std().item())
        last.bias.copy_(TRANSLATION_STD * torch.randn(3, generator=rng) / float(last.bias_gain))
        t.w_avg.copy_(G.apply_delta_c(z, c)[1].mean(0) + 0.01 * torch.randn(3, generator=rng))


HEAD_SLOTS = {"x": (1, "u"), "y": (0, "v"), "z": (2, "v")}
"""Which grid carries each axis' profile for ``head=True``: grids XY, XZ, YZ read (u, v) = (x, y), (x, z), (y, z)."""


def _plant_head(G, seed):
    """:func:`eg3d_official._plant_head` on the tri-grid (every depth slice the same image), with the features
    holding ``2 * colour - 1`` and ``torgb`` the identity on the first three (uniform styles, no bias), so the
    raw image is the composited colour as PanoHead's scripts map it (``(x + 1) / 2``); the background network's
    ToRGBs are shrunk 20x, so what shows behind the head is a faint pattern on grey."""
    eg3d._plant_head(G, seed, HEAD_SLOTS, depth=G.rendering_kwargs["triplane_depth"], colour_code=lambda c: 2 * c - 1)
    with torch.no_grad():
        for module in G.bcg_synthesis.modules() if G.bcg_synthesis is not None else ():
            if isinstance(module, eg3d.ToRGBLayer):  # a faint background: about zero features, grey behind the head
                module.weight.mul_(0.05)
                module.bias.mul_(0.05)
        if G.torgb is not None:
            G.torgb.affine.weight.zero_()
            G.torgb.affine.bias.fill_(1.0 / float(G.torgb.affine.bias_gain))
            G.torgb.weight.zero_()
            G.torgb.bias.zero_()
            for c in range(3):
                G.torgb.weight[c, c, 0, 0] = 1.0 / float(G.torgb.weight_gain)


def make_generator(variant="easy-khair-180-gpc0.8-trans10-025000", *, seed=0, channel_base=4096, channel_max=16, z_dim=16, canary=None,
                   sr_width_scale=0.25, head=False, **rendering_overrides):
    """A tiny ``G_ema`` of a released PanoHead configuration, built as train.py + training_loop.py build it.

    The backbone is the real layout (triplane_size 256, 32*3*D channels, 2 mapping layers) at small
    widths; ``bcg_synthesis`` halves ``channel_base`` as officially; the super-resolution keeps
    ``w_dim=512`` (hard-coded there) with its widths times ``sr_width_scale`` (not official).
    ``rendering_overrides`` update ``rendering_kwargs`` before construction. The global torch RNG is
    left untouched. ``head=True`` (not official) re-plants the weights so the field is a smooth, closed,
    head-like shape, whole from every side (:func:`_plant_head`).
    """
    img_resolution, neural_resolution, options = VARIANTS[variant]
    options = {**copy.deepcopy(options), **rendering_overrides}
    G_kwargs = EasyDict(z_dim=z_dim, w_dim=512, mapping_kwargs=EasyDict(num_layers=2), architecture="skip", channel_base=channel_base,
                        channel_max=channel_max, fused_modconv_default="inference_only", rendering_kwargs=options, num_fp16_res=0, sr_num_fp16_res=4,
                        sr_kwargs=EasyDict(channel_base=channel_base, channel_max=channel_max, fused_modconv_default="inference_only"), conv_clamp=None)
    eg3d._SR_WIDTH_SCALE[0] = sr_width_scale
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            G = TriPlaneGenerator(**G_kwargs, c_dim=25, img_resolution=img_resolution, img_channels=3)
    finally:
        eg3d._SR_WIDTH_SCALE[0] = 1.0
    G.register_buffer("dataset_label_std", torch.zeros([25]))  # training_loop.py adds it to G before copying G_ema
    _liven(G, seed)
    if head:
        _plant_head(G, seed)
    G.neural_rendering_resolution = neural_resolution
    G.rendering_kwargs = {**G.rendering_kwargs, "density_noise": 0}  # loss.py's key, copied to G_ema by the training loop
    G = copy.deepcopy(G).eval().requires_grad_(False)
    for module in G.modules():
        if isinstance(module, Persistent):
            module._canary = canary
    return G


def training_set_kwargs(resolution=512):
    """train.py's ``init_dataset_kwargs`` for the masked dataset, as the snapshot stores it (a plain dict)."""
    return dict(EasyDict(class_name="training.dataset.MaskLabeledDataset", img_path="/data/FFHQ_F_img.zip", seg_path="/data/FFHQ_F_seg.zip",
                         use_labels=True, max_size=200000, xflip=True, min_yaw=0, max_yaw=180, back_repeat=4, resolution=resolution, random_seed=0))


def save_snapshot(path, G_ema, **kwargs):
    """:func:`eg3d_official.save_snapshot` with PanoHead's ``training_set_kwargs`` (overridable like every key).

    ``D`` is EG3D's ``DualDiscriminator`` stand-in (PanoHead trains ``MaskDualDiscriminatorV2``; never run).
    """
    kwargs.setdefault("training_set_kwargs", training_set_kwargs(G_ema.img_resolution if isinstance(G_ema, nn.Module) else 512))
    return eg3d.save_snapshot(path, G_ema, **kwargs)


# --------------------------------------------------------------------------------------------
# Conditioning of the official scripts

def gen_samples_conditioning(G, pose_cond=90, fov_deg=18):
    """gen_samples.py's conditioning label: yaw ``pose_cond`` degrees, pitch pi/2, pivot (0,0,0), radius ``avg_camera_radius``.

    ``--fov-deg`` is declared ``type=int`` with ``default=18.837``; click casts the default, so the
    script really uses 18 degrees (and rejects an explicit 18.837).
    """
    pose = lookat_cam2world(pose_cond / 180 * np.pi, np.pi / 2, [0, 0, 0], G.rendering_kwargs.get("avg_camera_radius", 2.7))
    return conditioning(pose, fov_to_intrinsics(fov_deg))


def gen_samples_cameras(G, fov_deg=18):
    """The five views gen_samples.py renders: yaw 0, -45, -90, -135, -180 degrees about pi/2, pitch pi/2 - 0.2, pivot (0,0,0)."""
    radius = G.rendering_kwargs.get("avg_camera_radius", 2.7)
    yaws = (0, -45 / 180 * np.pi, -90 / 180 * np.pi, -135 / 180 * np.pi, -np.pi)
    return [conditioning(lookat_cam2world(np.pi / 2 + yaw, np.pi / 2 - 0.2, [0, 0, 0], radius), fov_to_intrinsics(fov_deg)) for yaw in yaws]


GEN_VIDEOS_INTRINSICS = torch.tensor([[4.2647, 0, 0.5], [0, 4.2647, 0.5], [0, 0, 1]])
"""gen_videos.py hard-codes these intrinsics (and radius 2.7, the pivot (0,0,0.2) for --cfg FFHQ, (0,0,0) for Head)."""


def gen_videos_conditioning(pose_cond=90, cfg="FFHQ"):
    """gen_videos.py's conditioning label: ``LookAtPoseSampler.sample(pose_cond_rad, 3.14/2, pivot, radius=2.7)``."""
    pivot = [0, 0, 0.2] if cfg == "FFHQ" else [0, 0, 0]
    return conditioning(lookat_cam2world(pose_cond / 180 * np.pi, 3.14 / 2, pivot, 2.7), GEN_VIDEOS_INTRINSICS)
