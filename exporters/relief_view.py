"""A relief seen from a pose: the preview of depth-lifted models (Unsup3d), ray-cast on the CPU.

A relief is a frontal height field: it has no back and no sides, so it is only shown from poses
near the front (``RELIEF_YAW_LIMIT``, ``RELIEF_PITCH_LIMIT``), the range the depth-lifting papers
themselves render (LiftedGAN's pose sweeps stop at 45 degrees of yaw).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from aware3d.cameras import Camera, Pose
from aware3d.errors import InputError
from aware3d.fields import Relief

from .raycast import TexturedMesh, render_mesh
from .relief import mesh_relief

RELIEF_YAW_LIMIT = 0.8
"""Radians (46 degrees) of yaw either side of the front; beyond it a relief shows its open edge."""

RELIEF_PITCH_LIMIT = 0.5
"""Radians (29 degrees) of pitch either way."""

BACKGROUND = 1.0
"""Pixels that miss the relief are white, as the papers' own relief renders are."""

_NUDGE_PIXELS = 1e-3
"""How far the camera is turned, in pixels, off a frontal preview's exact alignment (see render_relief)."""


def check_relief_pose(pose: Pose) -> Pose:
    """``pose`` if a relief can be seen from it.

    Raises:
        InputError: for a yaw or pitch beyond the relief's front, naming the limit.
    """
    if abs(pose.yaw) > RELIEF_YAW_LIMIT or abs(pose.pitch) > RELIEF_PITCH_LIMIT:
        raise InputError(f"a relief is a frontal height field with no back or sides: it is shown from yaw within "
                         f"±{RELIEF_YAW_LIMIT} rad and pitch within ±{RELIEF_PITCH_LIMIT} rad, "
                         f"not yaw {pose.yaw:+.3g}, pitch {pose.pitch:+.3g}")
    return pose


def render_relief(relief: Relief, camera: Camera, size: int) -> np.ndarray:
    """[size,size,3] uint8: the relief's mesh (:func:`aware3d.exporters.relief.mesh_relief`) seen
    through ``camera``, coloured by its albedo, unlit, on white."""
    mesh = mesh_relief(relief)
    albedo = np.clip(np.asarray(relief.albedo, dtype=np.float32), 0.0, 1.0)
    # A frontal preview at the relief's own size sends rays exactly through its vertices, where
    # Embree's ray-triangle test (not watertight) can slip between the triangles and leave white
    # specks; turning the camera by a thousandth of a pixel moves every ray off them.
    angle = _NUDGE_PIXELS * np.radians(camera.fov_deg) / size
    turn = np.eye(4)
    turn[:3, :3] = Rotation.from_euler("YX", [angle, angle]).as_matrix()  # about y, then x (intrinsic)
    nudged = Camera(cam2world=np.asarray(camera.cam2world, dtype=np.float64) @ turn, fov_deg=camera.fov_deg)
    render = render_mesh(TexturedMesh(mesh.vertices, mesh.faces, mesh.uv, albedo), nudged, size)
    rgb = np.where(render.hit[..., None], render.rgb, BACKGROUND)
    return np.round(rgb * 255).astype(np.uint8)

