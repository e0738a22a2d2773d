"""The contract between sources and their consumers: what renderers and exporters may use.

A model family exposes one sampled identity either as a **field** (density and colour at any
3-D point: :class:`Field`, implemented by :class:`BaseField`) or as a **relief** (a depth map and
albedo seen by a known camera: :class:`Relief`). The renderer and the exporters use exactly what
is declared here, never a model family and never an undeclared attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch

from .cameras import Camera
from .errors import FieldError, InputError, ShapeError

DEFAULT_CHUNK_SIZE = 65536
"""Points per field call: about 100 MB of activations for the larger models, safe on CPU and GPU."""

CANONICAL_VIEW_DIR = (0.0, 0.0, -1.0)
"""The frontal viewing direction (camera on +z looking toward -z) used when a query gives none,
as pi-GAN's ``lock_view_dependence`` does for faces."""


class Bounds(NamedTuple):
    """An axis-aligned world box that holds the object, in the model's world coordinates."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    @property
    def center(self) -> tuple[float, float, float]:
        """The box centre."""
        return tuple((a + b) / 2 for a, b in zip(self.lo, self.hi))  # type: ignore[return-value]

    @property
    def size(self) -> tuple[float, float, float]:
        """The box edge lengths."""
        return tuple(b - a for a, b in zip(self.lo, self.hi))  # type: ignore[return-value]


@dataclass(frozen=True)
class WorldFrame:
    """A family's world frame: which axis is up, where the face looks and how long a world unit is.

    Exported assets are glTF y-up metres with the face toward +z; this says how to get there.

    Attributes:
        up_axis: ``"y"`` (pi-GAN, GRAM, EG3D, demo) or ``"z"`` (GRAF).
        metres_per_unit: life-size scale of one world unit.
        facing: the model-world direction the face looks toward, perpendicular to the up axis;
            None means +z for y-up worlds and -y for z-up ones. GRAF's faces look toward azimuth
            45 degrees, (1, 1, 0) / sqrt(2).

    Example:
        >>> WorldFrame("z", 0.5).world_to_asset()[:3, :3].round(6).tolist()
        [[0.5, 0.0, 0.0], [0.0, 0.0, 0.5], [0.0, -0.5, 0.0]]
    """

    up_axis: Literal["y", "z"] = "y"
    metres_per_unit: float = 1.0
    facing: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        if self.up_axis not in _UP_VECTORS:
            raise InputError(f"up_axis must be 'y' or 'z', got {self.up_axis!r}")
        if not (isinstance(self.metres_per_unit, (int, float)) and math.isfinite(self.metres_per_unit) and self.metres_per_unit > 0):
            raise InputError(f"metres_per_unit must be a positive number, got {self.metres_per_unit!r}")
        if self.facing is not None:
            facing = np.asarray(self.facing, dtype=np.float64)
            if facing.shape != (3,) or not np.isfinite(facing).all() or np.linalg.norm(facing) == 0:
                raise InputError(f"facing must be a non-zero 3-vector, got {self.facing!r}")
            if abs(facing @ np.asarray(_UP_VECTORS[self.up_axis])) > 1e-9 * np.linalg.norm(facing):
                raise InputError(f"facing {self.facing!r} must be perpendicular to the {self.up_axis} axis")

    def rotation(self) -> np.ndarray:
        """[3,3] float64 rotation from model world to the asset's axes (y up, the face toward +z)."""
        up = np.asarray(_UP_VECTORS[self.up_axis])
        facing = np.asarray(self.facing if self.facing is not None else _DEFAULT_FACING[self.up_axis], dtype=np.float64)
        facing = facing / np.linalg.norm(facing)
        return np.stack([np.cross(up, facing), up, facing]) + 0.0  # + 0.0 turns -0.0 into 0.0

    def world_to_asset(self) -> np.ndarray:
        """[4,4] float64 linear map (rotation times scale, no translation) from model world to glTF metres."""
        matrix = np.eye(4)
        matrix[:3, :3] = self.rotation() * self.metres_per_unit
        return matrix


_UP_VECTORS = {"y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}
_DEFAULT_FACING = {"y": (0.0, 0.0, 1.0), "z": (0.0, -1.0, 0.0)}

Y_UP_METRES = WorldFrame()
"""The frame of models already y-up and life-size in metres (pi-GAN, GRAM, demo)."""


@dataclass(frozen=True)
class FieldSample:
    """What a field returns for ``N`` query points.

    Attributes:
        density: [N] float32, activated volume density (>= 0), per world unit.
        rgb: [N,3] float32 colour in [0, 1] (baked radiance).
        raw_density: [N] float32, the density before the model's activation.
        features: [N,C] float32, the model's per-point feature channels (CIPS-3D, EG3D,
            PanoHead: C = 32), or None for models without them.
    """

    density: torch.Tensor
    rgb: torch.Tensor
    raw_density: torch.Tensor
    features: torch.Tensor | None = None


@runtime_checkable
class Field(Protocol):
    """Everything a renderer or exporter may use of one sampled identity.

    Attributes:
        bounds: a world box that holds the object.
        device: where the model runs; queries return tensors there.
        default_level: activated density of the surface for meshing, or None if the family has
            no documented level (then the caller must give one).
        exact_level: True where ``default_level`` follows exactly from the model (the demo's SDF),
            False where it is an estimate (exports then search for the level).
        world_to_asset: [4,4] float64 linear map from model world to glTF y-up metres.
        identity: who this is (family, seed, z hash, truncation, checkpoint sha256), recorded in
            exported metadata.
    """

    bounds: Bounds
    device: torch.device
    default_level: float | None
    exact_level: bool
    world_to_asset: np.ndarray
    identity: dict[str, Any]

    def query(self, points: torch.Tensor, view_dirs: torch.Tensor | None = None) -> FieldSample:
        """Density, colour and features at ``points`` [N,3], model world coordinates."""
        ...

    def query_density(self, points: torch.Tensor) -> torch.Tensor:
        """Activated density only at ``points`` [N,3] -> [N] (what meshing needs)."""
        ...


@dataclass(frozen=True)
class Relief:
    """A depth map and albedo seen by a known camera: the output of depth-lifted models.

    Attributes:
        depth: [H,W] float32 z-depth, world units along the camera's viewing axis (not along the ray).
        albedo: [H,W,3] float32 in [0, 1], row 0 at the top of the image.
        camera: the pinhole camera that sees it (OpenGL axes, vertical fov), in model world.
        mask: [H,W] bool, True on the object; None keeps every pixel.
        light: [4] float32 lighting parameters as the model predicts them, or None.
        view: [6] float32 viewpoint (rotation, translation) as the model predicts it, or None.
        image: [H,W,3] float32 in [0, 1], the shaded image the relief explains, or None.
        world_to_asset: [4,4] float64 linear map from model world to glTF y-up metres.
        identity: who this is (family, seed or image hash, ...), recorded in exported metadata.

    Raises:
        ShapeError: when the arrays' shapes disagree.
    """

    depth: np.ndarray
    albedo: np.ndarray
    camera: Camera
    mask: np.ndarray | None = None
    light: np.ndarray | None = None
    view: np.ndarray | None = None
    image: np.ndarray | None = None
    world_to_asset: np.ndarray = field(default_factory=lambda: Y_UP_METRES.world_to_asset())
    identity: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        depth = np.asarray(self.depth)
        if depth.ndim != 2:
            raise ShapeError(f"relief depth must be [H,W], got {list(depth.shape)}")
        height, width = depth.shape
        if np.asarray(self.albedo).shape != (height, width, 3):
            raise ShapeError(f"relief albedo must be [{height},{width},3], got {list(np.asarray(self.albedo).shape)}")
        if self.mask is not None and np.asarray(self.mask).shape != (height, width):
            raise ShapeError(f"relief mask must be [{height},{width}], got {list(np.asarray(self.mask).shape)}")
        if self.image is not None and np.asarray(self.image).shape != (height, width, 3):
            raise ShapeError(f"relief image must be [{height},{width},3], got {list(np.asarray(self.image).shape)}")
        if np.asarray(self.world_to_asset).shape != (4, 4):
            raise ShapeError(f"world_to_asset must be [4,4], got {list(np.asarray(self.world_to_asset).shape)}")


def check_points(points: torch.Tensor, name: str = "points") -> None:
    """Raise a ShapeError unless ``points`` is a floating-point [N,3] tensor."""
    if not isinstance(points, torch.Tensor):
        raise ShapeError(f"{name} must be a torch.Tensor of shape [N,3], got {type(points).__name__}")
    if points.ndim != 2 or points.shape[1] != 3:
        raise ShapeError(f"{name} must have shape [N,3], got {list(points.shape)}")
    if not points.is_floating_point():
        raise ShapeError(f"{name} must be a floating-point tensor, got {points.dtype}")


def check_chunk_size(chunk_size: int) -> int:
    """Return ``chunk_size`` if it is a positive int, else raise ValueError showing the value."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    return chunk_size


class BaseField:
    """Shared input checking, chunking and NaN detection for concrete fields.

    Subclasses set ``bounds`` and implement ``_query(points, view_dirs)`` for one
    chunk of points already on the field's device, in float32.
    """

    bounds: Bounds
    device: torch.device
    default_level: float | None = None
    """Density level of the surface for meshing, per family (see the family's module)."""
    exact_level: bool = False
    """``default_level`` follows exactly from the model (the demo's SDF); otherwise it is a
    documented estimate and exports search for the level by default (:mod:`aware3d.exporters.level`)."""
    frame: WorldFrame = Y_UP_METRES
    """The family's world frame; ``world_to_asset`` follows from it."""

    canonical_view_dir: tuple[float, float, float] = CANONICAL_VIEW_DIR
    """The frontal viewing direction in this field's world, used when a query gives none."""

    def __init__(self, bounds: Bounds, device: torch.device, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.bounds = bounds
        self.device = device
        self.chunk_size = check_chunk_size(chunk_size)
        self.identity: dict[str, Any] = {}
        """Who this is: family, seed, z hash, truncation, checkpoint sha256 (set by ``Generator.field``)."""

    @property
    def world_to_asset(self) -> np.ndarray:
        """[4,4] float64 linear map from model world to glTF y-up metres (from ``frame``)."""
        return self.frame.world_to_asset()

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        raise NotImplementedError

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return self._query(points, torch.tensor(self.canonical_view_dir, device=self.device).expand(len(points), 3)).density

    @torch.inference_mode()
    def query_density(self, points: torch.Tensor) -> torch.Tensor:
        """Activated density only, [N,3] -> [N]; meshing uses it, and a family may skip its colour branch.

        Raises:
            ShapeError: for points of the wrong shape.
            FieldError: when the model produces NaN or infinite density.
        """
        check_points(points)
        points = points.to(self.device, torch.float32)
        if len(points) == 0:
            return points.new_zeros(0)
        density = torch.cat([self._query_density(p) for p in points.split(self.chunk_size)])
        if not torch.isfinite(density).all():
            raise FieldError("the field returned NaN or infinite density; the checkpoint may be corrupt")
        return density

    @torch.inference_mode()
    def query(self, points: torch.Tensor, view_dirs: torch.Tensor | None = None) -> FieldSample:
        """Evaluate density and colour at ``points``.

        Args:
            points: [N,3] float tensor, model world coordinates (any device; moved to the field's).
            view_dirs: [N,3] or [3] unit directions from the camera toward each point; None uses
                the field's frontal direction (``canonical_view_dir``: (0, 0, -1) for y-up worlds).

        Returns:
            FieldSample on the field's device, float32.

        Raises:
            ShapeError: for points or directions of the wrong shape.
            FieldError: when the model produces NaN or infinite values.
        """
        check_points(points)
        points = points.to(self.device, torch.float32)
        num_points = points.shape[0]
        if view_dirs is None:
            view_dirs = torch.tensor(self.canonical_view_dir, device=self.device)
        view_dirs = view_dirs.to(self.device, torch.float32)
        if view_dirs.shape == (3,):
            view_dirs = view_dirs.expand(num_points, 3)
        elif view_dirs.shape != (num_points, 3):
            raise ShapeError(f"view_dirs must have shape [3] or [{num_points},3], got {list(view_dirs.shape)}")
        parts = [
            self._query(p, d)
            for p, d in zip(points.split(self.chunk_size), view_dirs.split(self.chunk_size))
        ]
        if not parts:
            empty = points.new_zeros(0)
            return FieldSample(density=empty, rgb=points.new_zeros(0, 3), raw_density=empty)
        sample = FieldSample(
            density=torch.cat([p.density for p in parts]),
            rgb=torch.cat([p.rgb for p in parts]),
            raw_density=torch.cat([p.raw_density for p in parts]),
            features=None if parts[0].features is None else torch.cat([p.features for p in parts]),
        )
        if not (torch.isfinite(sample.density).all() and torch.isfinite(sample.rgb).all()):
            raise FieldError("the field returned NaN or infinite values; the checkpoint may be corrupt")
        return sample
