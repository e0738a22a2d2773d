"""EG3D (Chan et al., CVPR 2022): NVIDIA's network pickles, read safely, run by aware3d's own code.

Loading: the snapshot is read without running its embedded code
(:mod:`aware3d.models.persistence`); only ``G_ema`` is used. Its state holds ``_init_kwargs``,
``rendering_kwargs`` (box_warp, ray range, samples, camera radius and pivot, ...) and
``neural_rendering_resolution`` (64 or 128); the ``superresolution`` child's class tells the
output size (``SuperresolutionHybrid2X/4X/8X/8XDC``). The networks are rebuilt from the records'
tensors and attributes by :mod:`.stylegan2` and :mod:`.triplane`.

An identity runs the backbone once: ``field()`` maps z and the camera label to w and synthesises
the three planes; ``query`` only samples the planes and runs the small decoder (the official
``gen_samples.py --shapes`` re-runs the whole backbone for every million points).

Defaults, and where they come from:

* conditioning: the frontal camera at the pickled ``avg_camera_radius`` looking at
  ``avg_camera_pivot`` (``gen_samples.py``), with the focal of the FFHQ training labels and
  ``gen_videos.py``, 4.2647 (fov_deg 18.837). ``gen_samples.py`` declares ``--fov-deg`` as an int,
  so its 18.837 becomes 18 (focal 4.4652); aware3d follows the labels the model was trained on.
* seeds: ``np.random.RandomState(seed).randn(z_dim)``, as the official scripts draw z, so seed 3
  here is seed 3 there.
* truncation: ``w_avg.lerp(w, psi)`` on all 14 latents (the scripts' ``--trunc-cutoff 14``);
  ``gen.truncation_cutoff`` sets another cutoff.
* meshing: level 10 on the raw sigma (``gen_samples.py --shapes``; the README's "usually between
  2 and 20"), which is ``softplus(10 - 1)`` on the activated density; the box is ``box_warp``
  wide, and the official border padding (``30 * res / 256`` voxels of every wall set empty) is
  honoured by meshing only the inner box.
* size: a face crop of FFHQ is about 0.25 m tall at the pivot, and the frontal camera sees
  ``radius / focal`` = 0.633 units there, so a unit is 0.40 m (cats: 0.2 m, cars: 2.8 m).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..cameras import EG3D_CONVENTION, Camera, CameraSpec, Pose, eg3d_intrinsics, pose_to_camera, pose_to_eg3d_cam2world
from ..checkpoints import PickleSummary, check_finite_weights, file_sha256
from ..device import DeviceLike, resolve_device
from ..errors import CheckpointError, InputError
from ..fields import BaseField, Bounds, FieldSample, WorldFrame
from ..progress import ProgressCallback
from ..render import RenderResult, RenderSettings, VolumeSamples, inside_bounds, select_rays
from . import releases
from .base import Generator
from .persistence import PersistentRecord, code_hashes, read_network_pickle, reader_globals
from .registry import FamilySpec
from .stylegan2 import MappingNetwork, SynthesisNetwork, attribute, child
from .triplane import NUM_PLANES, PLANE_CHANNELS, SuperResolution, TriPlaneDecoder, camera_rays, render_rays, sample_planes, sample_rays

BY_REFERENCE = (
    "training.triplane.OSGDecoder",
    "training.volumetric_rendering.renderer.ImportanceRenderer",
    "training.volumetric_rendering.ray_marcher.MipRayMarcher2",
    "training.volumetric_rendering.ray_sampler.RaySampler",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.activation.Softplus",
    "torch.nn.modules.linear.Linear",
)
"""The non-persistent classes an EG3D snapshot pickles by reference (``training/triplane.py``)."""

RAW_LEVEL = 10.0
"""The official meshing level on the raw decoder sigma (``gen_samples.py``, ChimeraX level 10)."""

DEFAULT_LEVEL = math.log1p(math.exp(RAW_LEVEL - 1.0))
"""The same surface on the activated density ``softplus(sigma - 1)``: about 9.0001."""

BORDER_PADDING = 30 / 256
"""``gen_samples.py`` empties ``int(30 * res / 256)`` voxels along every wall of its grid."""

FOV_DEG = 18.837
"""EG3D's ``fov_deg`` (FFHQ camera, ``gen_videos.py`` and the dataset labels)."""

CONDITIONING_FOCAL = 4.2647
"""Normalised focal of the FFHQ training labels and ``gen_videos.py``; see the module docstring."""

FACE_METRES_PER_UNIT = 0.40
FRAMES = {"cats": WorldFrame("y", 0.20), "cars": WorldFrame("y", 2.8)}
"""Life-size scale per kind of subject; faces are the default (see the module docstring)."""

FRAME = WorldFrame("y", FACE_METRES_PER_UNIT)

_REQUIRED_RENDERING = ("box_warp", "ray_start", "ray_end", "depth_resolution", "avg_camera_radius", "avg_camera_pivot")


def read_snapshot_generator(path: Path) -> PersistentRecord:
    """``G_ema`` of an EG3D snapshot, as an inert record (``G``, ``D`` and ``augment_pipe`` are dropped).

    Raises:
        CheckpointError: for a file that is not a snapshot with a persistent ``G_ema``.
    """
    snapshot = read_network_pickle(path, BY_REFERENCE)
    generator = snapshot.get("G_ema")
    if not isinstance(generator, PersistentRecord):
        keys = ", ".join(sorted(map(str, snapshot))) or "nothing"
        raise CheckpointError(f"{path} is not an EG3D snapshot with a G_ema network (it holds {keys})")
    if generator.class_name != "TriPlaneGenerator":
        raise CheckpointError(f"{path} holds a {generator.class_name} network, not EG3D's TriPlaneGenerator")
    return generator


def describe(generator: PersistentRecord) -> str:
    """Class, output size, super-resolution, neural-rendering resolution and a code hash."""
    state = generator.state
    init = state.get("_init_kwargs") or {}
    modules: dict[str, Any] = state.get("_modules") or {}
    upsampler = modules.get("superresolution")
    parts = [generator.class_name]
    if isinstance(init, dict) and init.get("img_resolution"):
        parts.append(f"{init['img_resolution']}px")
    if isinstance(upsampler, PersistentRecord):
        parts.append(upsampler.class_name)
    if state.get("neural_rendering_resolution"):
        parts.append(f"neural rendering {state['neural_rendering_resolution']}")
    parts.append(f"code {code_hashes(generator)[generator.class_name][:12]}")
    return ", ".join(parts)


def variant(path: Path, summary: PickleSummary) -> str | None:
    """What ``aware3d info`` names: read from the snapshot's ``G_ema``, running nothing."""
    return describe(read_snapshot_generator(path))


def _rendering_options(generator: PersistentRecord, path: str | Path) -> dict[str, Any]:
    options = generator.state.get("rendering_kwargs")
    if not isinstance(options, Mapping):
        raise CheckpointError(f"{path}: the EG3D generator has no rendering_kwargs")
    options = {key: (value.item() if isinstance(value, np.generic) else value) for key, value in options.items()}
    missing = [key for key in _REQUIRED_RENDERING if key not in options]
    if missing:
        raise CheckpointError(f"{path}: the EG3D generator's rendering_kwargs lack {', '.join(missing)}")
    if options.get("clamp_mode", "softplus") != "softplus":
        raise CheckpointError(f"{path}: EG3D's ray marcher only takes clamp_mode 'softplus', the snapshot says {options['clamp_mode']!r}")
    return options


def _frame_for(options: Mapping[str, Any], path: str) -> WorldFrame:
    """Cars (white background, box 1.6) and cats (pivot below the origin) differ from faces."""
    if options.get("white_back"):
        return FRAMES["cars"]
    if "afhq" in Path(path).name.lower() or float(options["avg_camera_pivot"][2]) < 0:
        return FRAMES["cats"]
    return FRAME


class EG3DField(BaseField):
    """One EG3D identity: its tri-planes (computed once) and the decoder; points in EG3D's world
    (y up, the face toward +z, the box ``[-box_warp/2, box_warp/2]^3``)."""

    default_level = DEFAULT_LEVEL

    def __init__(self, planes: torch.Tensor, ws: torch.Tensor, decoder: TriPlaneDecoder, box_warp: float,
                 frame: WorldFrame, device: torch.device) -> None:
        inner = box_warp / 2 * (1 - 2 * BORDER_PADDING)
        super().__init__(Bounds((-inner,) * 3, (inner,) * 3), device)
        # channels-last: grid_sample then reads each texel's 32 channels contiguously (7x faster on CPU)
        self.planes = planes.contiguous(memory_format=torch.channels_last)
        self.ws, self.decoder, self.box_warp, self.frame = ws, decoder, box_warp, frame

    def decode(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw sigma [M] and the 32 features [M,32] at ``points`` [M,3] (no chunking, no checks)."""
        return self.decoder(sample_planes(self.planes, points, self.box_warp))

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        raw, features = self.decode(points)
        return FieldSample(density=F.softplus(raw - 1), rgb=features[:, :3].clamp(0, 1), raw_density=raw, features=features)

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return F.softplus(self.decoder.sigma(sample_planes(self.planes, points, self.box_warp)) - 1)


class EG3DGenerator(Generator):
    """EG3D from an official network pickle (``G_ema`` of a training snapshot)."""

    family = "eg3d"

    def __init__(self, path: str | Path, device: DeviceLike = "auto") -> None:
        self.device = resolve_device(device)
        record = self._read(Path(path))
        self.options = _rendering_options(record, path)
        where = "G_ema"
        try:
            backbone = child(record, "backbone", where)
            self.mapping = MappingNetwork(child(backbone, "mapping", f"{where}.backbone"), f"{where}.backbone.mapping")
            self.synthesis = SynthesisNetwork(child(backbone, "synthesis", f"{where}.backbone"), f"{where}.backbone.synthesis")
            self.decoder = TriPlaneDecoder(child(record, "decoder", where), f"{where}.decoder")
            self.superresolution = SuperResolution(child(record, "superresolution", where), f"{where}.superresolution")
            self._build_more(record, where)
        except CheckpointError as err:
            raise CheckpointError(f"{path}: {err}") from err
        except (TypeError, ValueError, RuntimeError, IndexError) as err:
            raise CheckpointError(f"{path}: the {self.family} network does not have the official layout ({err})") from err
        self._check_shapes(path)
        self._check_finite(path)
        for module in self._modules().values():
            module.to(self.device).eval()
        init = record.state.get("_init_kwargs") or {}
        self.img_resolution = int(init.get("img_resolution") or 0) or None
        self.image_size = self.img_resolution or 512
        self.neural_rendering_resolution = int(attribute(record, "neural_rendering_resolution", where, 64))
        self.z_dim = self.mapping.z_dim
        self.truncation_cutoff: int | None = None
        """Latents truncated from the first (None: all of them, as the official scripts' 14)."""
        self.frame = _frame_for(self.options, str(path))
        pivot = tuple(float(v) for v in self.options["avg_camera_pivot"])
        self.camera = CameraSpec(EG3D_CONVENTION, radius=float(self.options["avg_camera_radius"]), fov=FOV_DEG,
                                 pivot=pivot, orbit_centre=(0.0, 0.0, 0.0))
        self.render_settings = RenderSettings()
        self.info = {
            "family": self.family, "variant": describe(record), "learned": True, "checkpoint_sha256": file_sha256(path),
            "z_dim": self.z_dim, "c_dim": self.mapping.c_dim, "num_ws": self.mapping.num_ws,
            "superresolution": self.superresolution.kind, "img_resolution": self.img_resolution,
            "neural_rendering_resolution": self.neural_rendering_resolution, "box_warp": float(self.options["box_warp"]),
            "default_level": DEFAULT_LEVEL, "raw_level": RAW_LEVEL, "conditioning_focal": CONDITIONING_FOCAL,
            "default_pose": {"yaw": 0.0, "pitch": 0.0, "radius": self.camera.radius, "fov": self.camera.fov},
            "units": f"EG3D world units ({self.frame.metres_per_unit} m each at life size)", "device": str(self.device),
        }

    def _read(self, path: Path) -> PersistentRecord:
        """The snapshot's ``G_ema`` record (PanoHead reads its own by-reference classes)."""
        return read_snapshot_generator(path)

    def _build_more(self, record: PersistentRecord, where: str) -> None:
        """Networks beyond EG3D's (PanoHead: ToRGB, background, camera offset)."""

    def _modules(self) -> dict[str, torch.nn.Module]:
        """Every network the generator runs, by the name its NaN check reports."""
        return {"mapping": self.mapping, "synthesis": self.synthesis, "decoder": self.decoder, "superresolution": self.superresolution}

    @property
    def plane_channels(self) -> int:
        """Channels per plane in the backbone's output (PanoHead: 32 per depth slice)."""
        return PLANE_CHANNELS

    def _check_shapes(self, path) -> None:
        planes = self.synthesis.blocks[-1].torgb
        if planes is None or planes.weight.shape[0] != NUM_PLANES * self.plane_channels:
            raise CheckpointError(f"{path}: the backbone does not output {NUM_PLANES} planes of {self.plane_channels} channels")
        if self.synthesis.num_ws != self.mapping.num_ws:
            raise CheckpointError(f"{path}: the mapping gives {self.mapping.num_ws} latents, the synthesis takes {self.synthesis.num_ws}")
        if self.mapping.c_dim not in (0, 25):
            raise CheckpointError(f"{path}: the mapping takes a {self.mapping.c_dim}-float label; EG3D's camera label has 25")

    def _check_finite(self, path) -> None:
        check_finite_weights(path, ((f"{prefix}.{name}", value) for prefix, module in self._modules().items()
                                    for name, value in module.named_buffers()))

    # --- identities ---------------------------------------------------------------------------

    def _z_from_seed(self, seed: int) -> torch.Tensor:
        """The official scripts' z: ``np.random.RandomState(seed).randn(z_dim)``."""
        if seed >= 2**32:
            raise InputError(f"EG3D seeds are numpy RandomState seeds, below 2**32; got {seed}")
        return torch.from_numpy(np.random.RandomState(seed).randn(self.z_dim)).to(torch.float32)

    def conditioning_label(self, conditioning: Any = None) -> torch.Tensor:
        """The [25] camera label: None (frontal, see the module docstring), a Pose, or 25 floats."""
        if conditioning is None:
            conditioning = Pose()
        if isinstance(conditioning, Pose):
            cam2world = pose_to_eg3d_cam2world(conditioning, self.camera)
            intrinsics = eg3d_intrinsics(conditioning.fov) if conditioning.fov is not None else _intrinsics(CONDITIONING_FOCAL)
            label = np.concatenate([cam2world.reshape(-1), intrinsics.reshape(-1)])
        else:
            try:
                label = np.asarray(torch.as_tensor(conditioning, dtype=torch.float64).cpu(), dtype=np.float64).reshape(-1)
            except (TypeError, ValueError, RuntimeError) as err:
                raise InputError(f"conditioning must be a Pose or 25 floats (cam2world 16, intrinsics 9), got {type(conditioning).__name__}") from err
            if label.size != 25 or not np.isfinite(label).all():
                raise InputError(f"conditioning must be 25 finite floats (cam2world 16, intrinsics 9), got {label.size} values")
        return torch.as_tensor(label, dtype=torch.float32, device=self.device)

    @torch.inference_mode()
    def mapping_ws(self, z: torch.Tensor, truncation: float, conditioning: Any = None) -> torch.Tensor:
        """w for ``z`` [z_dim]: [1, num_ws, w_dim] (the official ``G.mapping``)."""
        label = self.conditioning_label(conditioning)[None]
        if self.options.get("c_gen_conditioning_zero", False):
            label = torch.zeros_like(label)
        label = label * float(self.options.get("c_scale", 0))  # triplane.py's default, for snapshots that lack it
        return self.mapping(z.to(self.device).reshape(1, -1), label, truncation, self.truncation_cutoff)

    @torch.inference_mode()
    def _make_field(self, z: torch.Tensor, truncation: float, conditioning: Any) -> EG3DField:
        ws = self.mapping_ws(z, truncation, conditioning)
        planes = self.synthesis(ws, noise_mode="const")
        planes = planes.reshape(NUM_PLANES, PLANE_CHANNELS, *planes.shape[-2:])
        field = EG3DField(planes, ws, self.decoder, float(self.options["box_warp"]), self.frame, self.device)
        field.identity = {"conditioning": [round(v, 6) for v in self.conditioning_label(conditioning).tolist()]}
        return field

    # --- previews -------------------------------------------------------------------------------

    @torch.inference_mode()
    def synthesize(self, field: EG3DField, cam2world: torch.Tensor, intrinsics: torch.Tensor,
                   progress: ProgressCallback | None = None) -> dict[str, torch.Tensor]:
        """EG3D's image synthesis for one camera (OpenCV ``cam2world`` [4,4], normalised ``intrinsics`` [3,3]).

        Returns:
            ``image`` [1,3,R,R] (super-resolved), ``image_raw`` [1,3,n,n], ``image_features``
            [1,32,n,n] (all in about [-1, 1]), ``image_depth`` [1,1,n,n], ``alpha`` [1,1,n,n];
            n is the neural-rendering resolution.
        """
        n = self.neural_rendering_resolution
        origins, dirs = camera_rays(cam2world.to(self.device, torch.float32), intrinsics.to(self.device, torch.float32), n)
        features, depth, alpha = render_rays(self._volume_decode(field), origins, dirs, self.options, progress=progress)
        feature_image = features.t().reshape(1, -1, n, n)
        rgb = feature_image[:, :3]
        noise_mode = self.options.get("superresolution_noise_mode", "none")
        image = self.superresolution(rgb, feature_image, field.ws, "const" if noise_mode == "const" else "none")
        return {"image": image, "image_raw": rgb, "image_features": feature_image,
                "image_depth": depth.reshape(1, 1, n, n), "alpha": alpha.reshape(1, 1, n, n)}

    _signed_marcher = True
    """EG3D's marcher maps the composite to [-1, 1]; PanoHead's keeps it as is."""

    def _volume_decode(self, field: EG3DField):
        """What the neural renderer decodes: points -> (raw sigma, features) (PanoHead adds its crop)."""
        return field.decode

    def _render_preview(self, field: EG3DField, camera: Camera, size: int | tuple[int, int],
                        settings: RenderSettings | None, progress: ProgressCallback | None) -> RenderResult:
        """EG3D's own neural renderer and super-resolution, deterministic; its sampling comes from
        the snapshot, so volume-rendering settings are refused rather than ignored."""
        if settings is not None:
            raise InputError(f"{self.family} previews use the model's neural renderer and super-resolution, which take no RenderSettings; "
                             "pass settings=None")
        _check_square(size)
        out = self.synthesize(field, *_opencv_camera(camera), progress)
        image = ((out["image"] + 1) / 2).clamp(0, 1)
        if image.shape[-1] != size:
            image = F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        alpha = _resize_map(out["alpha"], size).clamp(0, 1)
        # Depth resized with opacity weights: empty neighbours' (meaningless) depths stay out of edge pixels.
        depth = _resize_map(out["image_depth"] * out["alpha"], size) / alpha.clamp_min(1e-6)
        return RenderResult(rgb=image[0].permute(1, 2, 0).contiguous(), alpha=alpha, depth=depth * (alpha > 1e-6))

    @torch.inference_mode()
    def volume_samples(self, field: EG3DField, pose: Pose, size: int = 48, pixels: torch.Tensor | None = None) -> VolumeSamples:
        """The neural renderer alone (no super-resolution) at ``size``^2 rays, sharing its samples
        (see :meth:`Generator.volume_samples`): the activated density ``softplus(sigma - 1)``
        at each, as the field gives it, inside the box."""
        _check_square(size)
        origins, dirs = camera_rays(*(t.to(self.device) for t in _opencv_camera(pose_to_camera(pose, self.camera))), size)
        origins, dirs = select_rays(pixels, origins, dirs)
        alpha, depth, depths, sigma = sample_rays(self._volume_decode(field), origins, dirs, self.options)
        alpha = alpha.clamp(0, 1)
        inside = inside_bounds(origins[:, None] + dirs[:, None] * depths[..., None], field.bounds)
        return VolumeSamples(alpha, depth * (alpha > 0), depths, torch.where(inside, F.softplus(sigma - 1), torch.zeros_like(sigma)))


def _check_square(size: Any) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise InputError(f"tri-plane previews are square: the image size must be a positive integer, got {size!r}")


def _opencv_camera(camera: Camera) -> tuple[torch.Tensor, torch.Tensor]:
    """aware3d's OpenGL camera as EG3D's OpenCV ``cam2world`` [4,4] and normalised intrinsics [3,3]."""
    cam2world = torch.as_tensor(camera.cam2world @ np.diag([1.0, -1.0, -1.0, 1.0]), dtype=torch.float32)
    intrinsics = torch.as_tensor(_intrinsics(0.5 / math.tan(math.radians(camera.fov_deg) / 2)), dtype=torch.float32)
    return cam2world, intrinsics


def _resize_map(image: torch.Tensor, size: int) -> torch.Tensor:
    """[1,1,n,n] -> [size,size], bilinear (antialiased when shrinking)."""
    if image.shape[-1] == size:
        return image[0, 0]
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=image.shape[-1] > size)[0, 0]


def _intrinsics(focal: float) -> np.ndarray:
    return np.array([[focal, 0.0, 0.5], [0.0, focal, 0.5], [0.0, 0.0, 1.0]])


def load(path: str | None, device: DeviceLike = "auto") -> EG3DGenerator:
    """Build EG3D from ``path`` (an official network .pkl)."""
    if path is None:
        raise InputError("EG3D needs its network pickle: pass --checkpoint PATH/ffhq512-128.pkl")
    return EG3DGenerator(path, device)


FAMILY = FamilySpec(
    name="eg3d",
    title="EG3D (Chan et al., CVPR 2022)",
    files="the network .pkl from NVIDIA NGC (e.g. ffhq512-128.pkl)",
    licence=releases.EG3D_LICENCE,
    loader=load,
    convention=EG3D_CONVENTION,
    frame=FRAME,
    default_level=DEFAULT_LEVEL,
    pickle_globals=("torch_utils.persistence", "training.triplane"),
    variant=variant,
    standins=reader_globals(BY_REFERENCE),
    releases=releases.EG3D_RELEASES,
)
