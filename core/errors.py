"""The aware3d exception hierarchy.

Library code raises these; only the CLI and the worker loop translate them into
exit codes or protocol events. ``exit_code`` is what the CLI returns for each.
"""

from __future__ import annotations


class Aware3DError(Exception):
    """Base class of every error aware3d raises on purpose."""

    exit_code = 1


class InputError(Aware3DError, ValueError):
    """Bad input from the user: a value out of range, a missing file, an unknown name."""

    exit_code = 2


class UnknownFamilyError(InputError):
    """A model family that is not in the registry."""


class CheckpointError(InputError):
    """A checkpoint file that is missing, unreadable, of the wrong family or unsafe."""


class UnsupportedFamilyError(Aware3DError):
    """A family aware3d recognises but whose loader has not been written yet."""

    exit_code = 2


class DeviceError(InputError):
    """A device was asked for that this machine does not have."""


class ShapeError(Aware3DError, ValueError):
    """An array or tensor of the wrong shape was passed to a public function."""

    exit_code = 2


class FieldError(Aware3DError):
    """A field produced unusable values (NaN or infinite density or colour)."""


class EmptySurfaceError(Aware3DError):
    """No surface crosses the chosen density level inside the field's bounds."""
