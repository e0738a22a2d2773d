"""Pose <-> Blender camera, the same convention as ``aware3d.cameras`` (pure ``math``: no numpy,
no aware3d import, so it runs inside Blender's Python).

GAN world: y up, the face looks toward +z; a Pose puts the camera at azimuth pi/2 + yaw and
polar angle pi/2 + pitch around the spec's orbit centre (the pivot, or EG3D's world origin),
looking at the pivot. An exported asset is (GAN point - center) * scale in glTF (y up), and
Blender's importer maps glTF (x, y, z) to Blender (x, -z, y).

Which model uses which camera convention is the worker's to say (the ``convention`` of the
``spec`` in its preview and generate results); this module only knows what each convention's fov
number means, as ``aware3d.cameras`` defines it.
"""

from __future__ import annotations

import math

Vector = tuple[float, float, float]
Matrix = list[list[float]]

EG3D_FOCAL_DIVISOR = 1.414
"""EG3D ``camera_utils.FOV_to_intrinsics``: focal = 1 / (tan(fov/2) * 1.414), normalised by image size."""


def _same(fov: float) -> float:
    return fov


def _lookat_intrinsics_to_vertical(fov: float) -> float:
    focal = 1.0 / (math.tan(math.radians(fov) / 2) * EG3D_FOCAL_DIVISOR)
    return math.degrees(2 * math.atan(0.5 / focal))


def _vertical_to_lookat_intrinsics(vertical_fov_deg: float) -> float:
    half = math.tan(math.radians(vertical_fov_deg) / 2)
    return math.degrees(2 * math.atan(2 * half / EG3D_FOCAL_DIVISOR))


_FOV_CONVENTIONS = {
    "pigan": (_same, _same),  # fov is the image's vertical field of view
    "eg3d": (_lookat_intrinsics_to_vertical, _vertical_to_lookat_intrinsics),  # fov_deg of FOV_to_intrinsics
}
"""Camera convention name -> (model fov -> vertical fov, vertical fov -> model fov), both degrees."""


def _convention(convention: str):
    try:
        return _FOV_CONVENTIONS[convention]
    except KeyError:
        known = ", ".join(_FOV_CONVENTIONS)
        raise ValueError(f"this add-on does not know the camera convention {convention!r} (it knows {known}); update the add-on") from None


def _sub(a: Vector, b: Vector) -> Vector:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _cross(a: Vector, b: Vector) -> Vector:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _normalize(a: Vector) -> Vector:
    length = math.sqrt(sum(c * c for c in a))
    return (a[0] / length, a[1] / length, a[2] / length)


def gan_to_blender(point: Vector, scale: float, center: Vector) -> Vector:
    """A GAN-world point -> Blender coordinates of an asset exported with ``scale``/``center``."""
    x, y, z = ((point[i] - center[i]) * scale for i in range(3))
    return (x, -z, y)


def rotate(rotation: Matrix | None, point: Vector) -> Vector:
    """A model-world point in the y-up pose frame (``rotation``: the spec's [3][3] rows; None: as is).

    Poses, pivots and the asset centre are compared in that frame, where the export's rotation is
    already applied (GRAF's z-up world becomes y-up, its face turned toward +z).
    """
    if rotation is None:
        return tuple(point)
    return tuple(sum(rotation[r][c] * point[c] for c in range(3)) for r in range(3))


def blender_to_gan(point: Vector, scale: float, center: Vector) -> Vector:
    """Inverse of :func:`gan_to_blender`."""
    x, y, z = point
    return (x / scale + center[0], z / scale + center[1], -y / scale + center[2])


def vertical_fov(fov: float, convention: str) -> float:
    """The image's vertical fov in degrees for a model's own fov in its camera convention.

    Raises:
        ValueError: for a convention this add-on does not know.
    """
    return _convention(convention)[0](fov)


def model_fov(vertical_fov_deg: float, convention: str) -> float:
    """Inverse of :func:`vertical_fov`."""
    return _convention(convention)[1](vertical_fov_deg)


def pose_to_matrix(yaw: float, pitch: float, radius: float, pivot: Vector, scale: float, center: Vector, orbit: Vector | None = None) -> Matrix:
    """The asset-local [4][4] Blender camera matrix (looks down local -Z, +Y up) for a pose.

    The camera orbits ``orbit`` (None: the pivot; EG3D: the world origin) and looks at ``pivot``.
    """
    h, v = math.pi / 2 + yaw, math.pi / 2 + pitch
    orbit = pivot if orbit is None else orbit
    eye_gan = (
        orbit[0] + radius * math.sin(v) * math.cos(h),
        orbit[1] + radius * math.cos(v),
        orbit[2] + radius * math.sin(v) * math.sin(h),
    )
    eye = gan_to_blender(eye_gan, scale, center)
    target = gan_to_blender(pivot, scale, center)
    forward = _normalize(_sub(target, eye))
    right = _normalize(_cross(forward, (0.0, 0.0, 1.0)))
    up = _cross(right, forward)
    back = (-forward[0], -forward[1], -forward[2])
    return [
        [right[0], up[0], back[0], eye[0]],
        [right[1], up[1], back[1], eye[1]],
        [right[2], up[2], back[2], eye[2]],
        [0.0, 0.0, 0.0, 1.0],
    ]


def matrix_to_pose(matrix: Matrix, orbit: Vector, scale: float, center: Vector) -> tuple[float, float, float]:
    """(yaw, pitch, radius) of an asset-local Blender camera matrix around ``orbit``; only its position matters."""
    eye = blender_to_gan((matrix[0][3], matrix[1][3], matrix[2][3]), scale, center)
    offset = _sub(eye, orbit)
    radius = math.sqrt(sum(c * c for c in offset))
    pitch = -math.asin(max(-1.0, min(1.0, offset[1] / radius)))
    yaw = math.atan2(offset[2], offset[0]) - math.pi / 2
    yaw = (yaw + math.pi) % (2 * math.pi) - math.pi
    return yaw, pitch, radius
