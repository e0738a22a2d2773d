"""aware3d: turn 3D-aware face generators into textured 3D assets.

>>> import aware3d
>>> gen = aware3d.load_generator(family="demo", device="cpu")
>>> field = gen.field(seed=1)
>>> image = gen.render(field, aware3d.Pose(yaw=0.3), size=32)
>>> image.shape, image.dtype.name
((32, 32, 3), 'uint8')
"""

from __future__ import annotations

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
from .fields import Bounds, Field, FieldSample, Relief, WorldFrame
from .loading import load_generator
from .models.base import Generator
from .progress import ProgressCallback
from .settings import SettingsError
from .version import __version__

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
    "ProgressCallback",
    "Relief",
    "SettingsError",
    "ShapeError",
    "UnknownFamilyError",
    "UnsupportedFamilyError",
    "WorldFrame",
    "__version__",
    "load_generator",
]
