"""Camera poses and the conventions that connect aware3d, the papers, EG3D and Blender.

Frames used here:

* **GAN world** (pi-GAN, GRAM, EG3D, demo): y up, the face looks toward +z, right-handed.
  The frontal camera sits on +z and looks toward -z.
* **OpenGL camera** (pi-GAN, GRAM, Blender): x right, y up, the camera looks down its -z.
* **OpenCV camera** (EG3D): x right, y down, the camera looks down its +z.
* **glTF** (exported assets): y up, metres; asset = (GAN world - center) * scale.
* **Blender world**: z up; glTF (x, y, z) is Blender (x, -z, y), so the face looks toward -y.

``Pose(yaw, pitch)`` follows pi-GAN/GRAM: the camera sits on a sphere around the pivot (EG3D:
around the world origin, looking at its pivot) at
azimuth ``h = pi/2 + yaw`` and polar angle ``v = pi/2 + pitch`` (pi-GAN
``generators/volumetric_rendering.py``: ``x = r sin v cos h, y = r cos v, z = r sin v sin h``).
So positive yaw moves the camera toward world -x, the left side of the frontal image,
and the head is seen turned toward its own left; positive pitch moves the camera down.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .errors import InputError

_WORLD_UP = np.array([0.0, 1.0, 0.0])

GLTF_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
"""[3,3] rotation taking glTF (y-up) coordinates to Blender (z-up) ones, as Blender's glTF importer does."""

_OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
"""Flips the camera's y and z axes: OpenGL (y up, looks down -z) <-> OpenCV (y down, looks down +z)."""

EG3D_FOCAL_DIVISOR = 1.414
"""EG3D ``camera_utils.FOV_to_intrinsics``: focal = 1 / (tan(fov/2) * 1.414), normalised by image size."""


@dataclass(frozen=True)
class Pose:
    """A camera pose relative to the model's frontal view.

    Attributes:
        yaw: radians; 0 is frontal, positive moves the camera toward the left of the frontal
            image (world -x), showing the head turned toward its own left.
        pitch: radians, |pitch| < pi/2; positive moves the camera down (looking up at the chin).
        radius: distance from the orbit centre (the pivot, or EG3D's world origin) in world
            units; None uses the model's own.
        fov: field of view in degrees in the model's convention (vertical for pi-GAN/GRAM/demo,
            EG3D's ``fov_deg`` for EG3D); None uses the model's own.

    Raises:
        InputError: for a pitch at or beyond the poles, a non-positive radius or an fov outside (0, 180).

    Example:
        >>> Pose(yaw=0.3, pitch=-0.1)
        Pose(yaw=0.3, pitch=-0.1, radius=None, fov=None)
    """

    yaw: float = 0.0
    pitch: float = 0.0
    radius: float | None = None
    fov: float | None = None

    def __post_init__(self) -> None:
        for name in ("yaw", "pitch"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"{name} must be a finite number of radians, got {value!r}")
        if abs(self.pitch) >= math.pi / 2:
            raise InputError(f"pitch must lie strictly between -pi/2 and pi/2 radians, got {self.pitch}")
        if self.radius is not None and not (math.isfinite(self.radius) and self.radius > 0):
            raise InputError(f"radius must be a positive number, got {self.radius}")
        if self.fov is not None and not (0 < self.fov < 180):
            raise InputError(f"fov must be between 0 and 180 degrees, got {self.fov}")


def _same(fov_deg: float) -> float:
    return fov_deg


@dataclass(frozen=True)
class CameraConvention:
    """How a family states its camera's field of view, as the registry entry declares it.

    Every family places the camera with :func:`pose_to_position`; they differ in what their
    ``fov`` number means.

    Attributes:
        name: the convention's name (sent to the add-on with the camera spec).
        to_vertical_fov: the family's fov (degrees) -> the image's true vertical fov (degrees).
        from_vertical_fov: the inverse.
    """

    name: str
    to_vertical_fov: Callable[[float], float] = _same
    from_vertical_fov: Callable[[float], float] = _same


@dataclass(frozen=True)
class CameraSpec:
    """A model's own camera: its convention and default radius, fov and pivot (GAN world).

    The camera looks at ``pivot`` from a sphere of ``radius`` around ``orbit_centre`` (None: the
    pivot itself). EG3D orbits the world origin while looking at a pivot in front of it
    (``LookAtPoseSampler``), so its spec names both. Poses are measured in the y-up frame where
    the face looks toward +z; ``rotation`` ([3,3] rows, model world to that frame) says how a
    model's world differs from it (GRAF: z up, the face toward azimuth 45 degrees); None is the
    identity. Pivot and orbit centre are in model world.
    """

    convention: CameraConvention
    radius: float
    fov: float
    pivot: tuple[float, float, float] = (0.0, 0.0, 0.0)
    orbit_centre: tuple[float, float, float] | None = None
    rotation: tuple[tuple[float, float, float], ...] | None = None

    def rotation_matrix(self) -> np.ndarray:
        """[3,3] float64, model world to the pose frame (identity when ``rotation`` is None)."""
        return np.eye(3) if self.rotation is None else np.asarray(self.rotation, dtype=np.float64)

    @property
    def centre(self) -> tuple[float, float, float]:
        """Where the camera orbits: ``orbit_centre``, or the pivot when none is given."""
        return self.pivot if self.orbit_centre is None else self.orbit_centre

    def resolve(self, pose: Pose) -> Pose:
        """Return ``pose`` with radius and fov filled in from this spec."""
        return replace(
            pose,
            radius=self.radius if pose.radius is None else pose.radius,
            fov=self.fov if pose.fov is None else pose.fov,
        )

    def to_dict(self) -> dict:
        """JSON-ready (the worker sends it to the add-on to sync Blender cameras with poses)."""
        return {"convention": self.convention.name, "radius": self.radius, "fov": self.fov, "pivot": list(self.pivot),
                "orbit_centre": list(self.centre), "rotation": self.rotation_matrix().tolist()}


@dataclass(frozen=True)
class Camera:
    """A resolved pinhole camera in the GAN world.

    Attributes:
        cam2world: [4,4] float64, OpenGL camera axes (x right, y up, looks down -z).
        fov_deg: vertical field of view of the image, degrees (edge to edge).
    """

    cam2world: np.ndarray
    fov_deg: float

    @property
    def position(self) -> np.ndarray:
        """[3] camera centre in the GAN world."""
        return self.cam2world[:3, 3].copy()


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = _WORLD_UP) -> np.ndarray:
    """Return the [4,4] OpenGL cam2world of a camera at ``eye`` looking at ``target``, no roll.

    Example:
        >>> (look_at(np.array([0.0, 0.0, 1.0]), np.zeros(3))[:3, :3].round(6) + 0.0).tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    eye = np.asarray(eye, dtype=np.float64)
    forward = np.asarray(target, dtype=np.float64) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    cam2world = np.eye(4)
    cam2world[:3, 0] = right
    cam2world[:3, 1] = true_up
    cam2world[:3, 2] = -forward
    cam2world[:3, 3] = eye
    return cam2world


def pose_to_position(pose: Pose, radius: float, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Return the [3] camera centre of ``pose`` in the GAN world (pi-GAN's spherical formula).

    Example:
        >>> pose_to_position(Pose(), 1.0).round(6).tolist()
        [0.0, 0.0, 1.0]
    """
    h = math.pi / 2 + pose.yaw
    v = math.pi / 2 + pose.pitch
    offset = radius * np.array([math.sin(v) * math.cos(h), math.cos(v), math.sin(v) * math.sin(h)])
    return np.asarray(centre, dtype=np.float64) + offset


def pose_to_camera(pose: Pose, spec: CameraSpec) -> Camera:
    """Resolve ``pose`` against a model's camera spec into a Camera looking at the pivot."""
    pose = spec.resolve(pose)
    rotation = spec.rotation_matrix()
    eye = pose_to_position(pose, pose.radius, rotation @ np.asarray(spec.centre, dtype=np.float64))
    aligned = look_at(eye, rotation @ np.asarray(spec.pivot, dtype=np.float64))
    cam2world = np.eye(4)
    cam2world[:3] = rotation.T @ aligned[:3]  # back to model world: axes and position
    fov_deg = spec.convention.to_vertical_fov(pose.fov)
    return Camera(cam2world=cam2world, fov_deg=fov_deg)


def camera_to_pose(camera: Camera, spec: CameraSpec) -> Pose:
    """Inverse of :func:`pose_to_camera` (only the camera's position and fov are read).

    Example:
        >>> spec = CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=12.0)
        >>> p = camera_to_pose(pose_to_camera(Pose(0.4, -0.2), spec), spec)
        >>> round(p.yaw, 6), round(p.pitch, 6), round(p.radius, 6), round(p.fov, 6)
        (0.4, -0.2, 1.0, 12.0)
    """
    offset = spec.rotation_matrix() @ (camera.position - np.asarray(spec.centre, dtype=np.float64))
    radius = float(np.linalg.norm(offset))
    pitch = -math.asin(float(np.clip(offset[1] / radius, -1.0, 1.0)))
    yaw = math.atan2(offset[2], offset[0]) - math.pi / 2
    yaw = (yaw + math.pi) % (2 * math.pi) - math.pi
    fov = spec.convention.from_vertical_fov(camera.fov_deg)
    return Pose(yaw=yaw, pitch=pitch, radius=radius, fov=fov)


# --- EG3D ---------------------------------------------------------------------------------


def eg3d_intrinsics(fov_deg: float) -> np.ndarray:
    """Return EG3D's [3,3] intrinsics normalised by image size (``camera_utils.FOV_to_intrinsics``)."""
    focal = 1.0 / (math.tan(math.radians(fov_deg) / 2) * EG3D_FOCAL_DIVISOR)
    return np.array([[focal, 0.0, 0.5], [0.0, focal, 0.5], [0.0, 0.0, 1.0]])


def eg3d_vertical_fov(fov_deg: float) -> float:
    """Return the true vertical fov (degrees) of an image rendered with EG3D's ``fov_deg``.

    Example:
        >>> round(eg3d_vertical_fov(18.837), 3)
        13.378
    """
    focal = eg3d_intrinsics(fov_deg)[0, 0]
    return math.degrees(2 * math.atan(0.5 / focal))


def eg3d_fov_from_vertical(vertical_fov_deg: float) -> float:
    """Inverse of :func:`eg3d_vertical_fov`."""
    half = math.tan(math.radians(vertical_fov_deg) / 2)
    return math.degrees(2 * math.atan(2 * half / EG3D_FOCAL_DIVISOR))


def pose_to_eg3d_cam2world(pose: Pose, spec: CameraSpec) -> np.ndarray:
    """Return EG3D's [4,4] OpenCV cam2world (x right, y down, looks down +z) for ``pose``.

    The camera sits where :func:`pose_to_camera` puts it, so one Pose means one place in every model.
    """
    return pose_to_camera(pose, spec).cam2world @ _OPENGL_TO_OPENCV


def pose_to_eg3d_angles(pose: Pose) -> tuple[float, float]:
    """Return the ``(h, v)`` to give EG3D's ``LookAtPoseSampler.sample`` for the same camera position.

    EG3D places the camera at ``(r sin p cos(pi - h), r cos p, r sin p sin(pi - h))`` with
    ``p = arccos(1 - 2 v / pi)``, so its yaw runs the other way and its pitch is not linear.
    """
    return math.pi / 2 - pose.yaw, math.pi / 2 * (1 + math.sin(pose.pitch))


def pose_to_eg3d_conditioning(pose: Pose, spec: CameraSpec) -> np.ndarray:
    """Return EG3D's [25] float32 camera label: flattened cam2world (16) then intrinsics (9)."""
    pose = spec.resolve(pose)
    cam2world = pose_to_eg3d_cam2world(pose, spec)
    return np.concatenate([cam2world.reshape(-1), eg3d_intrinsics(pose.fov).reshape(-1)]).astype(np.float32)


PIGAN_CONVENTION = CameraConvention("pigan")
"""pi-GAN, GRAM, CIPS-3D and the demo: ``fov`` is the image's vertical field of view."""

EG3D_CONVENTION = CameraConvention("eg3d", eg3d_vertical_fov, eg3d_fov_from_vertical)
"""EG3D and PanoHead: ``fov`` is ``fov_deg`` of ``FOV_to_intrinsics`` (its 1.414 divisor included)."""


# --- Blender --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlenderCamera:
    """A Blender camera: ``matrix_world`` [4,4] (z-up world, looks down local -Z, +Y up) and
    its vertical fov in degrees (use ``sensor_fit = 'VERTICAL'``, ``angle_y = radians(fov_deg)``)."""

    matrix_world: np.ndarray
    fov_deg: float


def _gan_to_blender_turn(rotation) -> np.ndarray:
    """[3,3] model-world axes -> Blender axes: the export's frame rotation, then glTF -> Blender."""
    return GLTF_TO_BLENDER @ (np.eye(3) if rotation is None else np.asarray(rotation, dtype=np.float64))


def _gan_to_blender_affine(scale: float, center, rotation=None) -> np.ndarray:
    linear = _gan_to_blender_turn(rotation) * scale
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ np.asarray(center, dtype=np.float64)
    return affine


def gan_to_blender_points(points: np.ndarray, scale: float = 1.0, center=(0.0, 0.0, 0.0), rotation=None) -> np.ndarray:
    """Map [...,3] GAN-world points to Blender world metres for an asset exported with ``scale``/``center``
    (and ``rotation``, the frame's [3,3] model world -> y-up map, for worlds that are not y-up already).

    Example:
        >>> gan_to_blender_points(np.array([0.0, 0.0, 1.0])).round(6).tolist()
        [0.0, -1.0, 0.0]
    """
    affine = _gan_to_blender_affine(scale, center, rotation)
    return np.asarray(points, dtype=np.float64) @ affine[:3, :3].T + affine[:3, 3]


def camera_to_blender(camera: Camera, scale: float = 1.0, center=(0.0, 0.0, 0.0), rotation=None) -> BlenderCamera:
    """Place a Blender camera that sees the exported asset as ``camera`` sees the field.

    Args:
        camera: a resolved camera in the GAN world.
        scale: metres per GAN world unit applied at export.
        center: [3] GAN-world point that the export moved to the origin.
        rotation: [3,3] model world -> y-up frame applied at export (None: the identity).
    """
    affine = _gan_to_blender_affine(scale, center, rotation)
    matrix = np.eye(4)
    matrix[:3, :3] = _gan_to_blender_turn(rotation) @ camera.cam2world[:3, :3]
    matrix[:3, 3] = affine[:3, :3] @ camera.cam2world[:3, 3] + affine[:3, 3]
    return BlenderCamera(matrix_world=matrix, fov_deg=camera.fov_deg)


def blender_to_camera(blender_camera: BlenderCamera, scale: float = 1.0, center=(0.0, 0.0, 0.0), rotation=None) -> Camera:
    """Inverse of :func:`camera_to_blender`."""
    affine = _gan_to_blender_affine(scale, center, rotation)
    matrix = np.asarray(blender_camera.matrix_world, dtype=np.float64)
    cam2world = np.eye(4)
    cam2world[:3, :3] = _gan_to_blender_turn(rotation).T @ matrix[:3, :3]
    cam2world[:3, 3] = np.linalg.solve(affine[:3, :3], matrix[:3, 3] - affine[:3, 3])
    return Camera(cam2world=cam2world, fov_deg=blender_camera.fov_deg)


def pose_to_blender_camera(pose: Pose, spec: CameraSpec, scale: float = 1.0, center=(0.0, 0.0, 0.0)) -> BlenderCamera:
    """Shorthand: ``camera_to_blender(pose_to_camera(pose, spec), scale, center, spec's rotation)``
    (the spec's rotation is the frame's, which the export applied too)."""
    return camera_to_blender(pose_to_camera(pose, spec), scale, center, spec.rotation)


def blender_camera_to_pose(blender_camera: BlenderCamera, spec: CameraSpec, scale: float = 1.0, center=(0.0, 0.0, 0.0)) -> Pose:
    """Shorthand: ``camera_to_pose(blender_to_camera(blender_camera, scale, center, spec's rotation), spec)``."""
    return camera_to_pose(blender_to_camera(blender_camera, scale, center, spec.rotation), spec)
