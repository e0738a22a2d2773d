"""LiftedGAN (Shi et al., CVPR 2021): a latent z to a relief, through the StyleGAN2 it lifts.

A release is a checkpoint (``checkpoint_010.pth``: the state dicts of ``netD``, ``netT``, ``netSD``
and ``netSC``, an Adam state, ``global_step`` and ``epoch``) beside its ``config.py``, which names
the rosinality-format StyleGAN2 file the networks lift (``generator_path``, only its ``g_ema`` is
used). The official loader runs ``config.py`` (``imp.load_source``); aware3d never does:
:func:`read_config` takes only assignments of literals, and of names assigned before them.

:meth:`LiftedGANGenerator.relief` runs the official ``estimate`` (``models/lifted_gan.py``):

1. ``w = style(z)``, truncated as ``psi * w + (1 - psi) * w_mu`` with ``w_mu`` the mean of 50 000
   mapped latents (drawn from a fixed seed here, so it is reproducible; the official code redraws
   them at every load);
2. ``netSD(w)`` gives the neutral style, the light [4] and the view [6]; the light is neutralised to
   ``[a, b, 0, 0]`` and ``netSC(w, light, 0 * view)`` gives the style of the canonical face;
3. the StyleGAN2 renders that style with its stored noise: the canonical image and its last features;
4. ``netD(style, features)`` gives the depth: ``tanh(raw - mean)`` onto [0.9, 1.1], the two border
   columns on each side set to 1.05;
5. the transparency map ``sigmoid(netT(style) + 5)``, 1 on the face, blurred with the official
   kernel ``exp(-((x - 10) / (2 * 4))^2)`` (not the usual Gaussian ``exp(-x^2 / (2 sigma^2))``);
6. the albedo de-lit under the frontal light: ``(image / 2 + 0.5) / (a + b * max(0, n_z))``, with
   normals from summed neighbour cross products of the depth's 3-D grid.

The de-lit albedo can leave [0, 1] where the shading is dark or the image bright: the relief's
albedo is clamped to [0, 1] (a colour texture holds nothing else); :meth:`estimate` keeps the
unclamped values.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import PIGAN_CONVENTION, CameraSpec
from ..checkpoints import PickleSummary, check_finite_weights, file_sha256, safe_load
from ..device import DeviceLike, resolve_device
from ..errors import CheckpointError, InputError
from ..fields import Relief, WorldFrame
from ..render import RenderSettings
from . import releases
from .base import TRUNCATION_SEED, Generator, check_truncation
from .depth_lift import canonical_depth, foreground, relief_camera, relief_fov, view_scale
from .liftedgan_networks import NETWORKS, build_network
from .registry import CompanionFile, FamilySpec
from .rosinality import RosinalityGenerator

CONFIG_NAME = "config.py"
"""The file the official loader reads beside a checkpoint."""


def read_config(path: str | Path) -> dict[str, Any]:
    """The settings a LiftedGAN ``config.py`` assigns, read as data: nothing in it runs.

    Each top-level ``name = value`` whose value is built from literals (numbers, strings, None,
    booleans, lists, tuples, dicts, sets, a leading minus) and names assigned above it is kept;
    any other statement (imports, calls, expressions) is skipped, and so is any name it assigns.

    Raises:
        InputError: for a missing file or one that is not Python.
    """
    path = Path(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except FileNotFoundError:
        raise InputError(f"LiftedGAN needs the config.py beside its checkpoint; {path} does not exist") from None
    except (SyntaxError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path} is not a LiftedGAN config.py ({type(err).__name__}: {err})") from None
    values: dict[str, Any] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            try:
                values[statement.targets[0].id] = _literal(statement.value, values)
            except ValueError:
                values.pop(statement.targets[0].id, None)
    return values


def _literal(node: ast.AST, names: dict[str, Any]) -> Any:
    """The value of a literal expression, resolving names from ``names``; ValueError otherwise.
    Written by hand because ``ast.literal_eval`` cannot resolve the config's own names
    (``'min_depth': min_depth``) and nothing else may evaluate it without running it."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ValueError(node.id)
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, names)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError("a sign before a non-number")
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_literal(item, names) for item in node.elts]
        return {ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_literal(k, names): _literal(v, names) for k, v in zip(node.keys, node.values)}
    raise ValueError(type(node).__name__)




# --- settings -------------------------------------------------------------------------------

STYLEGAN2_STANDINS = ("argparse.Namespace",)
"""The StyleGAN2 training file pickles its command-line ``args``; rebuilt inert, never used."""

W_MU_SAMPLES = 50_000
"""Mapped latents averaged for truncation, as the official ``get_statistics`` does."""

EPS = 1e-7
"""The official renderer's epsilon when normalising normals."""


@dataclass(frozen=True)
class LiftSettings:
    """The values ``estimate`` reads from ``config.py`` (defaults: the released FFHQ config)."""

    min_depth: float = 0.9
    max_depth: float = 1.1
    border_depth: float = 1.05
    clamp_border: bool = True
    generator_texture: bool = True
    truncation: float = 0.7
    rotation_range_deg: float = 60.0
    xy_translation_range: float = 0.1
    z_translation_range: float = 0.01
    fov_deg: float = 10.0
    renderer_size: int = 256
    rot_center_depth: float = 1.0
    blur_size: int = 10
    blur_sigma: float = 4.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any], path: Path) -> LiftSettings:
        """The settings ``config`` assigns; a missing one keeps the release's value.

        Raises:
            InputError: for a value of the wrong type, naming it and the file.
        """
        renderer = config.get("renderer_params") or {}
        blur = config.get("blur_params") or {}
        given = {
            "min_depth": config.get("min_depth"), "max_depth": config.get("max_depth"),
            "border_depth": config.get("border_depth"), "clamp_border": config.get("clamp_border"),
            "generator_texture": config.get("generator_texture"), "truncation": config.get("truncation"),
            "rotation_range_deg": config.get("xyz_rotation_range"), "xy_translation_range": config.get("xy_translation_range"),
            "z_translation_range": config.get("z_translation_range"), "fov_deg": renderer.get("fov"),
            # the official Renderer's own default side is 64 when its params name none
            "renderer_size": renderer.get("image_size", 64) if renderer else None,
            "rot_center_depth": renderer.get("rot_center_depth"), "blur_size": blur.get("size"), "blur_sigma": blur.get("sigma"),
        }
        values = {}
        for name, value in given.items():
            if value is None:
                continue
            kind = type(getattr(cls, name))
            is_flag, is_number = isinstance(value, bool), isinstance(value, (int, float)) and not isinstance(value, bool)
            if not (is_flag if kind is bool else is_number):
                raise InputError(f"{path}: {name} must be {'True or False' if kind is bool else 'a number'}, got {value!r}")
            values[name] = kind(value)
        return cls(**values)


# --- files ----------------------------------------------------------------------------------


def config_path(checkpoint: str | Path) -> Path:
    """Where the official loader reads the config: ``config.py`` in the checkpoint's folder."""
    return Path(checkpoint).expanduser().absolute().parent / CONFIG_NAME


def stylegan2_candidates(checkpoint: str | Path, generator_path: str) -> list[Path]:
    """Where the StyleGAN2 file the config names may be, in the order aware3d looks: in the
    checkpoint's folder and the two above it (the downloads unpack the checkpoint and
    ``pretrained/`` side by side), by its name and then by the config's path; last, the config's
    path from the working directory, as the official code resolves it."""
    named = Path(generator_path).expanduser()
    folder = Path(checkpoint).expanduser().absolute().parent
    places = []
    for base in (folder, *list(folder.parents)[:2]):
        places += [base / named.name] + ([] if named.is_absolute() else [base / named])
    places.append(named if named.is_absolute() else Path.cwd() / named)
    return list(dict.fromkeys(p.resolve() for p in places))


def find_stylegan2(checkpoint: str | Path, config: Mapping[str, Any] | None = None) -> Path:
    """The StyleGAN2 file the checkpoint's ``config.py`` names (``config``: that file already read).

    Raises:
        InputError: for a missing config or ``generator_path``, or no such file where aware3d
            looked (every place is named).
    """
    config = read_config(config_path(checkpoint)) if config is None else config
    generator_path = config.get("generator_path")
    if not isinstance(generator_path, str) or not generator_path:
        raise InputError(f"{config_path(checkpoint)} names no generator_path: LiftedGAN needs the StyleGAN2 file it lifts")
    places = stylegan2_candidates(checkpoint, generator_path)
    for place in places:
        if place.is_file():
            return place
    looked = ", ".join(str(p) for p in places)
    raise InputError(f"LiftedGAN needs the StyleGAN2 file its config.py names ({generator_path!r}); aware3d looked in: {looked}. "
                     f"Put {Path(generator_path).name} beside the checkpoint (it comes with the authors' 'pretrained' download)")


def read_checkpoint(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The four networks' state dicts, read with the allow-list (the Adam state is ignored).

    Raises:
        CheckpointError: for a file without the four state dicts, or with NaN weights.
    """
    data = safe_load(path)
    if not isinstance(data, dict) or not all(isinstance(data.get(net), Mapping) for net in NETWORKS):
        found = sorted(map(str, data))[:8] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path} is not a LiftedGAN checkpoint: it needs the state dicts {', '.join(NETWORKS)}, found {found}; "
                              "point at checkpoint_010.pth beside its config.py")
    states = {net: {k: v for k, v in data[net].items() if isinstance(v, torch.Tensor)} for net in NETWORKS}
    for net, state in states.items():
        check_finite_weights(path, ((f"{net}.{k}", v) for k, v in state.items()))
    return states


def read_stylegan2(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``g_ema`` state dict of a rosinality StyleGAN2 training file (its ``args`` inert).

    Raises:
        CheckpointError: for a file without ``g_ema``, or with NaN weights.
    """
    data = safe_load(path, STYLEGAN2_STANDINS)
    state = data.get("g_ema") if isinstance(data, dict) else None
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} is not a rosinality StyleGAN2 training file: it has no g_ema state dict")
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    check_finite_weights(path, ((f"g_ema.{k}", v) for k, v in state.items()))
    return state


# --- geometry -------------------------------------------------------------------------------


def depth_normals(depth: torch.Tensor, size: int, fov_deg: float) -> torch.Tensor:
    """[B,H,W] depth to [B,H,W,3] unit normals as the official renderer computes them: each pixel's
    3-D point (``depth * K^-1 [col, row, 1]``), the cross products of its four neighbour pairs
    summed, the border rows and columns copied from their neighbours. ``size`` and ``fov_deg``
    define K as the renderer's settings do."""
    batch, height, width = depth.shape
    focal = (size - 1) / 2 / math.tan(math.radians(fov_deg) / 2)
    centre = (size - 1) / 2
    rows, cols = torch.meshgrid(torch.arange(height, device=depth.device, dtype=depth.dtype),
                                torch.arange(width, device=depth.device, dtype=depth.dtype), indexing="ij")
    grid = torch.stack([(cols - centre) / focal, (rows - centre) / focal, torch.ones_like(rows)], dim=-1) * depth[..., None]
    middle = grid[:, 1:-1, 1:-1]
    above, below = grid[:, :-2, 1:-1] - middle, grid[:, 2:, 1:-1] - middle
    west, east = grid[:, 1:-1, :-2] - middle, grid[:, 1:-1, 2:] - middle
    normal = (torch.cross(west, above, dim=-1) + torch.cross(above, east, dim=-1)
              + torch.cross(east, below, dim=-1) + torch.cross(below, west, dim=-1))
    normal = F.pad(normal.permute(0, 3, 1, 2), (1, 1, 1, 1), mode="replicate").permute(0, 2, 3, 1)
    return normal / (normal.square().sum(-1, keepdim=True).sqrt() + EPS)


def blur_kernel(size: int, sigma: float) -> torch.Tensor:
    """The official transparency blur's 1-D factor, ``exp(-((x - size) / (2 sigma))^2)`` over
    ``2 size + 1`` taps, normalised (the 2-D kernel is its outer product)."""
    x = torch.arange(2 * size + 1, dtype=torch.float32)
    kernel = torch.exp(-(((x - size) / (2 * sigma)) ** 2))
    return kernel / kernel.sum()


def blur(x: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """[B,C,H,W] blurred with :func:`blur_kernel` (separably), reflect-padded as the official Blur."""
    kernel = blur_kernel(size, sigma).to(x)
    channels = x.shape[1]
    x = F.pad(x, (size, size, size, size), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """What the official ``estimate`` returns, batched, on the model's device.

    Attributes:
        depth: [B,H,W] canonical depth.
        albedo: [B,3,H,W] de-lit albedo in the generator's [-1, 1] scale, unclamped.
        light: [B,4] (ambient, diffuse, dx, dy), tanh outputs.
        view: [B,6] the view network's tanh outputs (unscaled).
        neutral_style: [B,style_dim] the canonical face's style.
        trans_map: [B,1,H,W] the transparency map.
        image: [B,3,H,W] the StyleGAN2 image of the neutral style, in about [-1, 1].
    """

    depth: torch.Tensor
    albedo: torch.Tensor
    light: torch.Tensor
    view: torch.Tensor
    neutral_style: torch.Tensor
    trans_map: torch.Tensor
    image: torch.Tensor


FRAME = WorldFrame(up_axis="y", metres_per_unit=1.0)
"""The relief's world is the camera's (y up, the face toward +z at depth about 1); the crop spans
2 tan(5 deg) = 0.175 units at depth 1, about a face's width, so a unit is taken as a metre."""


class LiftedGANGenerator(Generator):
    """A loaded LiftedGAN: samples identities as reliefs (it has no radiance field)."""

    family = "liftedgan"

    def __init__(self, path: str | Path, device: DeviceLike = "auto") -> None:
        self.device = resolve_device(device)
        config = read_config(config_path(path))
        self.settings = LiftSettings.from_config(config, config_path(path))
        stylegan2 = find_stylegan2(path, config)
        states = read_checkpoint(path)
        self.generator = RosinalityGenerator(read_stylegan2(stylegan2), where=f"{stylegan2} g_ema").to(self.device).eval()
        self.nets = {net: build_network(net, states[net], str(path)).to(self.device) for net in NETWORKS}
        self.z_dim = self.generator.style_dim
        self._w_mu: torch.Tensor | None = None
        size = self.generator.size
        self.camera = CameraSpec(PIGAN_CONVENTION, radius=self.settings.rot_center_depth, fov=relief_fov(size, self.settings.fov_deg),
                                 pivot=(0.0, 0.0, -self.settings.rot_center_depth))
        self.render_settings = RenderSettings()
        self.info = {
            "family": self.family, "variant": variant_of(stylegan2), "learned": True, "checkpoint_sha256": file_sha256(path),
            "stylegan2": str(stylegan2), "stylegan2_sha256": file_sha256(stylegan2), "kind": "relief", "image_size": size,
            "fov": self.settings.fov_deg, "depth_range": [self.settings.min_depth, self.settings.max_depth],
            "style_dim": self.z_dim, "channels": self.generator.channels, "truncation": self.settings.truncation,
            "device": str(self.device),
        }

    def field(self, *args: Any, **kwargs: Any):
        raise InputError("LiftedGAN samples identities as reliefs and has no radiance field: call relief(seed=...)")

    @torch.no_grad()
    def w_mu(self) -> torch.Tensor:
        """[1,style_dim] the mean mapped latent of 50 000 z drawn from a fixed seed (computed once)."""
        if self._w_mu is None:
            rng = torch.Generator(device="cpu").manual_seed(TRUNCATION_SEED)
            total = torch.zeros(1, self.z_dim, dtype=torch.float64, device=self.device)
            for start in range(0, W_MU_SAMPLES, 10_000):
                z = torch.randn(min(10_000, W_MU_SAMPLES - start), self.z_dim, generator=rng).to(self.device)
                total += self.generator.mapping(z).sum(dim=0, keepdim=True, dtype=torch.float64)
            self._w_mu = (total / W_MU_SAMPLES).to(torch.float32)
        return self._w_mu

    @torch.no_grad()
    def styles(self, z: torch.Tensor, truncation: float) -> torch.Tensor:
        """[B,z_dim] z to the truncated styles ``psi * w + (1 - psi) * w_mu``."""
        w = self.generator.mapping(z.to(self.device, torch.float32))
        return w if truncation == 1 else truncation * w + (1 - truncation) * self.w_mu()

    @torch.no_grad()
    def estimate(self, styles: torch.Tensor) -> Estimate:
        """The official ``estimate`` of [B,style_dim] styles (see the module docstring)."""
        settings, nets = self.settings, self.nets
        neutral_style, light, view = nets["netSD"](styles)
        neutral_light = torch.cat([light[:, :2], torch.zeros_like(light[:, 2:])], dim=1)
        neutral_style = nets["netSC"](styles, neutral_light, torch.zeros_like(view))
        image, features = self.generator(neutral_style)
        border = settings.border_depth if settings.clamp_border else None
        depth = canonical_depth(nets["netD"](neutral_style, features)[:, 0], settings.min_depth, settings.max_depth, border)
        face = (depth[:, None] <= settings.border_depth - 0.01).to(depth.dtype)
        trans_map = face + (1 - face) * torch.sigmoid(nets["netT"](neutral_style) + 5)
        trans_map = blur(trans_map, settings.blur_size, settings.blur_sigma)
        trans_map = F.pad(trans_map[:, :, 1:-1, 2:-2], (2, 2, 1, 1), value=0.0)
        albedo = image
        if settings.generator_texture:
            normal = depth_normals(depth, settings.renderer_size, settings.fov_deg)
            ambient, diffuse = light[:, 0] / 2 + 0.5, light[:, 1] / 2 + 0.5
            shading = ambient[:, None, None, None] + diffuse[:, None, None, None] * normal[..., 2].clamp(min=0)[:, None]
            albedo = (image / 2 + 0.5) / (shading + 1e-8) * 2 - 1
        return Estimate(depth=depth, albedo=albedo, light=light, view=view, neutral_style=neutral_style, trans_map=trans_map, image=image)

    def relief(self, seed: int | None = None, z: torch.Tensor | np.ndarray | None = None, truncation: float = 0.7,
               image: Any = None) -> Relief:
        """Sample one identity as a relief.

        Args:
            seed: picks z (``torch.Generator`` seeded on the CPU); None with no ``z`` means seed 0.
            z: an explicit [style_dim] latent.
            truncation: psi (the release's config uses 0.7); 1 keeps the sample.
            image: refused: LiftedGAN lifts no images (the argument exists so the mistake is one sentence).

        Returns:
            A relief at the StyleGAN2's resolution (256x256 for the release): ``depth`` in
            [0.9, 1.1], ``albedo`` the de-lit albedo clamped to [0, 1], ``light`` [4], ``view`` [6]
            (radians, then translations), ``image`` the StyleGAN2 image of the canonical face in
            [0, 1], ``mask`` the pixels in front of the border depth.

        Raises:
            InputError: for an image (LiftedGAN samples seeds), both seed and z, or a bad latent
                or truncation.
        """
        if image is not None:
            raise InputError("LiftedGAN samples identities from seeds and lifts no images: call relief(seed=...)")
        seed, z = self.latent(seed, z)
        truncation = check_truncation(truncation)
        found = self.estimate(self.styles(z[None], truncation))
        settings = self.settings
        scale = view_scale(settings.rotation_range_deg, settings.xy_translation_range, settings.z_translation_range).to(self.device)
        depth = found.depth[0].cpu().numpy()
        return Relief(
            depth=depth,
            albedo=(found.albedo[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).cpu().numpy(),
            camera=relief_camera(depth.shape[0], settings.fov_deg),
            mask=foreground(depth, settings.border_depth),
            light=found.light[0].cpu().numpy(),
            view=(found.view[0] * scale).cpu().numpy(),
            image=(found.image[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).cpu().numpy(),
            world_to_asset=FRAME.world_to_asset(),
            identity=self.identity(seed, z, truncation),
        )


def variant_of(stylegan2: Path) -> str | None:
    """The release (ffhq, cats) from the StyleGAN2 file's name (``stylegan2-ffhq-cropped-300000.pt``)."""
    found = re.match(r"stylegan2-([a-z0-9]+)", Path(stylegan2).name)
    return found.group(1) if found else None


def variant(path: Path, summary: PickleSummary) -> str | None:
    """The release, from the StyleGAN2 file the checkpoint's config names (None when it has none)."""
    try:
        generator_path = read_config(config_path(path)).get("generator_path")
    except InputError:
        return None
    return variant_of(Path(generator_path)) if isinstance(generator_path, str) else None


def companion_files(path: Path) -> list[CompanionFile]:
    """The StyleGAN2 file the loader will read, where it is found (its ``args`` Namespace rebuilt inert)."""
    try:
        return [CompanionFile(find_stylegan2(path), STYLEGAN2_STANDINS, required=True)]
    except InputError:
        return []  # the loader's own message says what is missing and where it looked


def load(path: str | None, device: DeviceLike = "auto") -> LiftedGANGenerator:
    """Build LiftedGAN from ``path`` (checkpoint_010.pth beside its config.py)."""
    if path is None:
        raise InputError("LiftedGAN needs its checkpoint: pass --checkpoint PATH/checkpoint_010.pth (its config.py beside it)")
    return LiftedGANGenerator(path, device)


FAMILY = FamilySpec(
    name="liftedgan",
    title="LiftedGAN (Shi et al., CVPR 2021)",
    files="checkpoint_010.pth beside its config.py, with the StyleGAN2 file the config names",
    licence=releases.LIFTEDGAN_LICENCE,
    loader=load,
    convention=PIGAN_CONVENTION,
    frame=FRAME,
    kind="relief",
    state_keys=("netSD", "netSC"),
    companions={"argparse.Namespace": "the rosinality StyleGAN2 training state (g, d, g_ema, args) that LiftedGAN lifts"},
    variant=variant,
    companion_files=companion_files,
    releases=releases.LIFTEDGAN_RELEASES,
)
