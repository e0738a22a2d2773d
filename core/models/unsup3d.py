"""Unsup3d (Wu et al., CVPR 2020): any face image to a canonical depth map and albedo (a relief).

The released Trainer checkpoints (``checkpoint030.pth``) hold the state dicts of four small
networks: ``netD`` (depth) and ``netA`` (albedo), encoder-decoders from the 64x64 image to a 64x64
map; ``netL`` (light) and ``netV`` (view), encoders to 4 and 6 numbers. They also hold optimizer
states (ignored), a confidence network ``netC`` (not needed for the relief) and a pickled
``unsup3d.meters.MetricsTrace`` object, rebuilt here as an inert stand-in: the ``unsup3d`` module
is never imported. Every width is read from the tensor shapes, not from the release's numbers.

:meth:`Unsup3dGenerator.relief` runs the official demo's inference: the image resized to 64x64
(through 128x128 when it is over 256 pixels on both sides), scaled to [-1, 1]; depth =
``tanh(netD(x) - mean)`` mapped to [0.9, 1.1] with the two border columns on each side set to
1.05; albedo = ``netA(x) / 2 + 0.5``; light raw; view rotations in radians (x 60 degrees) and
translations x 0.1 (x, y) and x 0 (z).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

from ..cameras import PIGAN_CONVENTION, CameraSpec
from ..checkpoints import PickleSummary, check_finite_weights, file_sha256, safe_load
from ..device import DeviceLike, resolve_device
from ..errors import CheckpointError, InputError
from ..fields import Relief, WorldFrame
from ..render import RenderSettings
from . import releases
from .base import Generator
from .depth_lift import canonical_depth, foreground, relief_camera, relief_fov, view_scale
from .layers import layout_mismatch
from .registry import FamilySpec

IMAGE_SIZE = 64
"""The networks' input and output side, as the official demo sets it."""

MIN_IMAGE_SIZE = 64
"""Images smaller than the networks' own input hold too few pixels for a face: refused."""

MIN_DEPTH, MAX_DEPTH, BORDER_DEPTH = 0.9, 1.1, 1.05
"""The demo's canonical depth range and the depth it gives the border columns."""

FOV_DEG = 10.0
"""The official camera's field of view (its intrinsics put the principal point at (S - 1) / 2)."""

ROTATION_RANGE_DEG, XY_TRANSLATION_RANGE, Z_TRANSLATION_RANGE = 60.0, 0.1, 0.0
"""How the demo scales the view network's tanh outputs."""

NETWORKS = ("netD", "netA", "netL", "netV")
"""The state dicts the relief needs; the checkpoint's other entries are never used."""

STANDINS = ("unsup3d.meters.MetricsTrace",)
"""The one official class a Trainer checkpoint pickles: training metrics, rebuilt inert."""


FRAME = WorldFrame(up_axis="y", metres_per_unit=1.0)
"""The relief's world is the camera's (y up, the face toward +z at depth about 1). The 64-pixel
crop spans 2 tan(5 deg) = 0.175 units at depth 1, and the demo crops 1.1 times the face box, so a
unit is about a metre at life size."""


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)


def _deconv(cin: int, cout: int, stride: int, padding: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 4, stride, padding, bias=False)


def _width(state: dict[str, torch.Tensor], key: str, dim: int, net: str) -> int:
    try:
        return int(state[key].shape[dim])
    except (KeyError, IndexError):
        raise CheckpointError(f"{net} has no tensor {key!r}: this is not an Unsup3d checkpoint of the released layout") from None


def image_encoder(state: dict[str, torch.Tensor], net: str) -> nn.Sequential:
    """``netL``/``netV``: four stride-2 4x4 convolutions (widths nf, 2nf, 4nf, 8nf) with ReLU, a 4x4
    convolution to 1x1, a 1x1 convolution to the outputs, tanh. The layer indices are the state
    dict's keys (``network.<i>.weight``)."""
    nf, cout = _width(state, "network.0.weight", 0, net), _width(state, "network.10.weight", 0, net)
    cin = _width(state, "network.0.weight", 1, net)
    layers: list[nn.Module] = []
    for a, b in ((cin, nf), (nf, 2 * nf), (2 * nf, 4 * nf), (4 * nf, 8 * nf)):
        layers += [_conv(a, b, 4, 2, 1), nn.ReLU()]
    layers += [_conv(8 * nf, 8 * nf, 4), nn.ReLU(), _conv(8 * nf, cout, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def image_to_map(state: dict[str, torch.Tensor], net: str, tanh: bool) -> nn.Sequential:
    """``netD``/``netA``: an encoder (4x4 stride-2 convolutions with group norm and leaky ReLU) to a
    ``zdim`` code, then transposed convolutions back to 32x32, a nearest 2x upsample and 3x3/5x5
    convolutions to the 64x64 map; tanh for the albedo, none for the depth. Group counts are the
    official fixed 16, 32, 64 (they do not scale with the width)."""
    nf, zdim = _width(state, "network.0.weight", 0, net), _width(state, "network.11.weight", 0, net)
    cin, cout = _width(state, "network.0.weight", 1, net), _width(state, "network.42.weight", 0, net)
    norm, relu, leaky = nn.GroupNorm, nn.ReLU, (lambda: nn.LeakyReLU(0.2))
    layers: list[nn.Module] = [
        _conv(cin, nf, 4, 2, 1), norm(16, nf), leaky(),
        _conv(nf, 2 * nf, 4, 2, 1), norm(32, 2 * nf), leaky(),
        _conv(2 * nf, 4 * nf, 4, 2, 1), norm(64, 4 * nf), leaky(),
        _conv(4 * nf, 8 * nf, 4, 2, 1), leaky(),
        _conv(8 * nf, zdim, 4), relu(),
        _deconv(zdim, 8 * nf, 1, 0), relu(),
        _conv(8 * nf, 8 * nf, 3, 1, 1), relu(),
    ]
    for groups, a, b in ((64, 8 * nf, 4 * nf), (32, 4 * nf, 2 * nf), (16, 2 * nf, nf)):
        layers += [_deconv(a, b, 2, 1), norm(groups, b), relu(), _conv(b, b, 3, 1, 1), norm(groups, b), relu()]
    layers += [
        nn.Upsample(scale_factor=2, mode="nearest"),
        _conv(nf, nf, 3, 1, 1), norm(16, nf), relu(),
        _conv(nf, nf, 5, 1, 2), norm(16, nf), relu(),
        _conv(nf, cout, 5, 1, 2),
    ]
    if tanh:
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def read_checkpoint(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The four networks' state dicts (keys ``network.<i>.weight`` as saved), read with the allow-list.

    Raises:
        CheckpointError: for a file that is not an Unsup3d Trainer checkpoint, or holds NaN weights.
    """
    data = safe_load(path, STANDINS)
    if not isinstance(data, dict) or not all(isinstance(data.get(net), dict) for net in NETWORKS):
        found = sorted(data)[:8] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path} is not an Unsup3d checkpoint: it needs the state dicts {', '.join(NETWORKS)}, "
                              f"found {found}; point at pretrained_celeba/checkpoint030.pth or the like")
    states = {net: {k: v for k, v in data[net].items() if isinstance(v, torch.Tensor)} for net in NETWORKS}
    for net, state in states.items():
        check_finite_weights(path, ((f"{net}.{k}", v) for k, v in state.items()))
    return states


def build_network(state: dict[str, torch.Tensor], net: str, path: str | Path) -> nn.Module:
    """``net`` (one of ``NETWORKS``) built from its state dict's shapes, loaded and in eval mode."""
    module = image_encoder(state, net) if net in ("netL", "netV") else image_to_map(state, net, tanh=net == "netA")
    return _load_state(module, state, net, path)


def _load_state(module: nn.Module, state: dict[str, torch.Tensor], net: str, path: str | Path) -> nn.Module:
    problem = layout_mismatch({f"network.{k}": v for k, v in module.state_dict().items()}, state)
    if problem is not None:
        raise CheckpointError(f"{path}: {net} does not have the released Unsup3d layout ({problem})")
    module.load_state_dict({k[len("network."):]: v for k, v in state.items()})
    return module.eval()


def load_image(image: Any) -> np.ndarray:
    """``image`` as an [H,W,3] float32 array in [0,1]: a path (any image Pillow reads; RGB, with
    alpha dropped) or an [H,W,3] array or tensor already in [0,1].

    Raises:
        InputError: for a file that is not an image, a wrong shape or range, or an image smaller
            than 64 pixels on a side.
    """
    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as opened:
                array = np.asarray(opened.convert("RGB"), dtype=np.float32) / 255.0
        except FileNotFoundError:
            raise InputError(f"image file not found: {image}") from None
        except (UnidentifiedImageError, OSError) as err:
            raise InputError(f"{image} is not an image Pillow can read ({err.__class__.__name__}); give a PNG or JPEG") from None
    else:
        array = np.asarray(image.detach().cpu() if isinstance(image, torch.Tensor) else image, dtype=np.float32)
        if array.ndim != 3 or array.shape[2] != 3:
            raise InputError(f"image must be [H,W,3] (RGB), got shape {list(array.shape)}")
        if not np.isfinite(array).all() or array.min() < 0.0 or array.max() > 1.0:
            raise InputError("image values must be finite and in [0, 1]; divide 8-bit images by 255")
    height, width = array.shape[:2]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise InputError(f"the image is {width}x{height} pixels, too small to hold a face: Unsup3d needs at least "
                         f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} (a face crop, like its 64x64 training images)")
    return array


def network_input(image: np.ndarray) -> torch.Tensor:
    """[1,3,64,64] in [-1,1], resized as the official demo resizes (bilinear, through 128x128 when
    both sides exceed 256 to avoid downsampling artefacts)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0)
    height, width = image.shape[:2]
    if height > 4 * IMAGE_SIZE and width > 4 * IMAGE_SIZE:
        x = nn.functional.interpolate(x, (2 * IMAGE_SIZE, 2 * IMAGE_SIZE), mode="bilinear", align_corners=False)
    x = nn.functional.interpolate(x, (IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", align_corners=False)
    return x * 2.0 - 1.0


class Unsup3dGenerator(Generator):
    """A loaded Unsup3d model: lifts a face image into a relief (it samples no identities)."""

    family = "unsup3d"
    z_dim = 0

    def __init__(self, path: str | Path, device: DeviceLike = "auto") -> None:
        self.device = resolve_device(device)
        states = read_checkpoint(path)
        self.depth_net, self.albedo_net, self.light_net, self.view_net = (
            build_network(states[net], net, path).to(self.device) for net in NETWORKS)
        # Previews orbit the official renderer's rotation centre (depth 1) from the official camera;
        # with the relief camera's fov a frontal 64x64 preview's pixel centres are the relief's.
        self.camera = CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=relief_fov(IMAGE_SIZE, FOV_DEG), pivot=(0.0, 0.0, -1.0))
        self.render_settings = RenderSettings()
        self.info = {
            "family": self.family, "variant": None, "learned": True, "checkpoint_sha256": file_sha256(path),
            "kind": "relief", "image_size": IMAGE_SIZE, "fov": FOV_DEG, "depth_range": [MIN_DEPTH, MAX_DEPTH],
            "widths": {net: int(states[net]["network.0.weight"].shape[0]) for net in NETWORKS}, "device": str(self.device),
        }

    def field(self, *args: Any, **kwargs: Any):
        raise InputError("Unsup3d lifts an image into a relief and has no radiance field: call relief(image=...) "
                         "(aware3d generate --image PHOTO)")

    @torch.no_grad()
    def relief(self, image: Any = None) -> Relief:
        """Lift ``image`` (an [H,W,3] float image in [0,1], numpy or torch, or a path) into its
        canonical depth, albedo, light and view.

        Returns:
            A 64x64 relief: ``depth`` in [0.9, 1.1] (border columns 1.05), ``albedo`` in [0, 1],
            ``light`` [4] raw, ``view`` [6] (radians, then translations), ``image`` the network's
            64x64 input, ``mask`` the pixels in front of the border depth.

        Raises:
            InputError: for a missing image, a file that is not an image, or one too small.
        """
        if image is None:
            raise InputError("Unsup3d needs a face image: relief(image=PATH or an [H,W,3] array in [0,1])")
        pixels = load_image(image)
        x = network_input(pixels).to(self.device)
        depth = canonical_depth(self.depth_net(x)[:, 0], MIN_DEPTH, MAX_DEPTH, BORDER_DEPTH)
        albedo = self.albedo_net(x) / 2 + 0.5
        light = self.light_net(x).reshape(-1)
        view = self.view_net(x).reshape(-1) * view_scale(ROTATION_RANGE_DEG, XY_TRANSLATION_RANGE, Z_TRANSLATION_RANGE).to(x.device)
        depth_np = depth[0].cpu().numpy()
        return Relief(
            depth=depth_np,
            albedo=albedo[0].permute(1, 2, 0).cpu().numpy(),
            camera=relief_camera(IMAGE_SIZE, FOV_DEG),
            mask=foreground(depth_np, BORDER_DEPTH),
            light=light.cpu().numpy(),
            view=view.cpu().numpy(),
            image=((x[0] + 1) / 2).permute(1, 2, 0).cpu().numpy(),
            world_to_asset=FRAME.world_to_asset(),
            identity={"family": self.family, "image_sha256": hashlib.sha256(pixels.tobytes()).hexdigest()[:16],
                      "checkpoint_sha256": self.info["checkpoint_sha256"]},
        )


def load(path: str | None, device: DeviceLike = "auto") -> Unsup3dGenerator:
    """Build Unsup3d from ``path`` (a released Trainer checkpoint such as checkpoint030.pth)."""
    if path is None:
        raise InputError("Unsup3d needs its checkpoint: pass --checkpoint PATH/pretrained_celeba/checkpoint030.pth")
    return Unsup3dGenerator(path, device)


def variant(path: Path, summary: PickleSummary) -> str | None:
    """The release (celeba, cat, synface, syncar), from the folder the official zip unpacks to."""
    name = Path(path).parent.name
    return name[len("pretrained_"):] if name.startswith("pretrained_") else None


FAMILY = FamilySpec(
    name="unsup3d",
    title="Unsup3d (Wu et al., CVPR 2020)",
    files="a released Trainer checkpoint (pretrained_celeba/checkpoint030.pth, cat/syncar checkpoint100.pth)",
    licence=releases.UNSUP3D_LICENCE,
    loader=load,
    convention=PIGAN_CONVENTION,
    frame=FRAME,
    kind="relief",
    lifts_images=True,
    pickle_globals=("unsup3d.",),
    state_keys=("netA", "netL"),  # a state-dicts-only file (the Trainer's save_clean_checkpoint) names no class
    variant=variant,
    standins=STANDINS,
    releases=releases.UNSUP3D_RELEASES,
)
