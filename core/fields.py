"""The Field protocol: density and colour of one identity at any 3-D point.

Every model family exposes one sampled identity as a field; the renderer and the
exporters depend on this protocol only, never on a model family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import torch

from .errors import FieldError, ShapeError

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
class FieldSample:
    """What a field returns for ``N`` query points.

    Attributes:
        density: [N] float32, activated volume density (>= 0), per world unit.
        rgb: [N,3] float32 colour in [0, 1] (baked radiance).
        raw_density: [N] float32, the density before the model's activation.
    """

    density: torch.Tensor
    rgb: torch.Tensor
    raw_density: torch.Tensor


@runtime_checkable
class Field(Protocol):
    """Anything with ``query(points, view_dirs=None)`` and ``bounds`` can be rendered and meshed."""

    bounds: Bounds

    def query(self, points: torch.Tensor, view_dirs: torch.Tensor | None = None) -> FieldSample:
        """Evaluate the field at ``points`` [N,3]."""
        ...


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
    metres_per_unit: float = 1.0
    """Scale from world units to metres for life-size export."""
    identity: dict
    """Who this is: family, seed, z hash, truncation, checkpoint sha256 (set by ``Generator.field``)."""

    def __init__(self, bounds: Bounds, device: torch.device, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        self.bounds = bounds
        self.device = device
        self.chunk_size = check_chunk_size(chunk_size)

    def _query(self, points: torch.Tensor, view_dirs: torch.Tensor) -> FieldSample:
        raise NotImplementedError

    def _query_density(self, points: torch.Tensor) -> torch.Tensor:
        return self._query(points, torch.tensor(CANONICAL_VIEW_DIR, device=self.device).expand(len(points), 3)).density

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
                the canonical frontal direction (0, 0, -1).

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
            view_dirs = torch.tensor(CANONICAL_VIEW_DIR, device=self.device)
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
        )
        if not (torch.isfinite(sample.density).all() and torch.isfinite(sample.rgb).all()):
            raise FieldError("the field returned NaN or infinite values; the checkpoint may be corrupt")
        return sample
