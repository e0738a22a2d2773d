"""The camera and depth conventions the depth-lifted families share (Unsup3d, and LiftedGAN,
whose renderer is a modified copy of Unsup3d's).

* Intrinsics ``f = (S - 1) / 2 / tan(fov / 2)``, principal point ``(S - 1) / 2``, S the map's side.
* Depth ``tanh(raw - mean(raw))`` mapped linearly onto ``[min_depth, max_depth]``; the two border
  columns on each side set to ``border_depth``; pixels at ``border_depth - 0.01`` or nearer are
  the object, the rest background.
* The view network's six tanh outputs scaled to rotations (radians) and translations.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..cameras import Camera

BORDER_COLUMNS = 2
"""Columns on the left and on the right set to the border depth."""

BACKGROUND_MARGIN = 0.01
"""Pixels deeper than ``border_depth - BACKGROUND_MARGIN`` are background (cut from the mesh)."""


def relief_fov(size: int, fov_deg: float) -> float:
    """The vertical fov of a relief camera whose pixel centres fall where the official intrinsics
    put them: they place column c at ``(c - (S - 1) / 2) / f`` with ``f = (S - 1) / 2 / tan(fov / 2)``,
    a relief camera at ``((c + 0.5) / (S / 2) - 1) tan(fov' / 2)``: equal when
    ``tan(fov' / 2) = tan(fov / 2) * S / (S - 1)``."""
    half = math.atan(math.tan(math.radians(fov_deg / 2)) * size / (size - 1))
    return math.degrees(2 * half)


def relief_camera(size: int, fov_deg: float) -> Camera:
    """The official camera as a relief camera: at the origin, looking down -z (OpenGL axes)."""
    return Camera(cam2world=np.eye(4), fov_deg=relief_fov(size, fov_deg))


def canonical_depth(raw: torch.Tensor, min_depth: float, max_depth: float, border_depth: float | None) -> torch.Tensor:
    """[B,H,W] raw depth-network output to canonical depth: ``tanh(raw - mean)`` onto
    ``[min_depth, max_depth]``, then (unless ``border_depth`` is None) the border columns clamped."""
    depth = torch.tanh(raw - raw.mean(dim=(1, 2), keepdim=True))
    depth = (1 + depth) / 2 * max_depth + (1 - depth) / 2 * min_depth
    if border_depth is not None:
        depth = depth.clone()
        depth[:, :, :BORDER_COLUMNS] = border_depth
        depth[:, :, -BORDER_COLUMNS:] = border_depth
    return depth


def foreground(depth: np.ndarray, border_depth: float) -> np.ndarray:
    """The object's pixels: those at ``border_depth - BACKGROUND_MARGIN`` or nearer."""
    return depth <= border_depth - BACKGROUND_MARGIN


def view_scale(rotation_deg: float, xy_translation: float, z_translation: float) -> torch.Tensor:
    """[6] factors taking the view network's tanh outputs to radians and translations."""
    return torch.tensor([math.radians(rotation_deg)] * 3 + [xy_translation] * 2 + [z_translation])
