"""aware3d: turn 3D-aware face generators into textured 3D assets.

>>> import aware3d
>>> gen = aware3d.load_generator(family="demo", device="cpu")
>>> field = gen.field(seed=1)
>>> image = gen.render(field, aware3d.Pose(yaw=0.3), size=32)
>>> image.shape, image.dtype.name
((32, 32, 3), 'uint8')
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .cameras import Pose
from .errors import (
    Aware3DError,
    CheckpointError,
    DeviceError,
    EmptySurfaceError,
    FieldError,
    InputError,
    ShapeError,
    UnknownFamilyError,
    UnsupportedFamilyError,
)
from .fields import Bounds, Field, FieldSample
from .loading import load_generator
from .models.base import Generator

try:
    __version__ = version("aware3d")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = [
    "Aware3DError",
    "Bounds",
    "CheckpointError",
    "DeviceError",
    "EmptySurfaceError",
    "Field",
    "FieldError",
    "FieldSample",
    "Generator",
    "InputError",
    "Pose",
    "ShapeError",
    "UnknownFamilyError",
    "UnsupportedFamilyError",
    "__version__",
    "load_generator",
]
