"""Pose conventions: known positions and directions, handedness, EG3D and Blender conversions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aware3d import InputError, Pose
from aware3d.cameras import (
    EG3D_CONVENTION,
    GLTF_TO_BLENDER,
    PIGAN_CONVENTION,
    BlenderCamera,
    CameraSpec,
    blender_camera_to_pose,
    camera_to_pose,
    eg3d_intrinsics,
    eg3d_vertical_fov,
    gan_to_blender_points,
    look_at,
    pose_to_blender_camera,
    pose_to_camera,
    pose_to_eg3d_angles,
    pose_to_eg3d_cam2world,
    pose_to_eg3d_conditioning,
)

PIGAN = CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=12.0)
EG3D = CameraSpec(EG3D_CONVENTION, radius=2.7, fov=18.837, pivot=(0.0, 0.0, 0.2), orbit_centre=(0.0, 0.0, 0.0))


def _project(camera, point):
    """Pinhole projection to normalised image coords: x right, y up, in [-1, 1] across the image."""
    world2cam = np.linalg.inv(camera.cam2world)
    p = world2cam[:3, :3] @ point + world2cam[:3, 3]
    tan_half = math.tan(math.radians(camera.fov_deg) / 2)
    return p[0] / (-p[2] * tan_half), p[1] / (-p[2] * tan_half)


def test_frontal_camera_sits_on_plus_z_and_looks_at_the_face():
    camera = pose_to_camera(Pose(), PIGAN)
    np.testing.assert_allclose(camera.position, [0, 0, 1], atol=1e-12)
    forward = -camera.cam2world[:3, 2]  # OpenGL cameras look down their -z
    np.testing.assert_allclose(forward, [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(camera.cam2world[:3, 1], [0, 1, 0], atol=1e-12)  # image up is world up
    np.testing.assert_allclose(camera.cam2world[:3, 0], [1, 0, 0], atol=1e-12)  # image right is world +x
    assert camera.fov_deg == 12.0


def test_rotation_is_right_handed_and_orthonormal():
    for yaw, pitch in [(0.0, 0.0), (0.7, -0.3), (-1.2, 0.5), (3.0, 1.2)]:
        rotation = pose_to_camera(Pose(yaw, pitch), PIGAN).cam2world[:3, :3]
        np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
        np.testing.assert_allclose(np.cross(rotation[:, 0], rotation[:, 1]), rotation[:, 2], atol=1e-12)


def test_positive_yaw_moves_camera_to_image_left_and_head_turns_to_its_left():
    """pi-GAN's h = pi/2 + yaw: the camera goes to world -x (the frontal image's left side)."""
    camera = pose_to_camera(Pose(yaw=0.4), PIGAN)
    assert camera.position[0] == pytest.approx(-math.sin(0.4))
    assert camera.position[2] == pytest.approx(math.cos(0.4))
    # The nose tip (in front of the head, +z) now appears right of centre: the head looks to its left.
    nose_x, _ = _project(camera, np.array([0.0, 0.0, 0.1]))
    assert nose_x > 0.1
    # And the camera still looks at the pivot.
    centre_x, centre_y = _project(camera, np.zeros(3))
    assert abs(centre_x) < 1e-9 and abs(centre_y) < 1e-9


def test_positive_pitch_moves_camera_down():
    camera = pose_to_camera(Pose(pitch=0.3), PIGAN)
    assert camera.position[1] == pytest.approx(-math.sin(0.3))
    # The chin (below the pivot) moves toward the image centre when seen from below... the crown moves down.
    _, crown_y = _project(camera, np.array([0.0, 0.1, 0.0]))
    _, crown_y_frontal = _project(pose_to_camera(Pose(), PIGAN), np.array([0.0, 0.1, 0.0]))
    assert crown_y < crown_y_frontal + 1e-12


@pytest.mark.parametrize("yaw", [-2.5, -0.4, 0.0, 0.3, 1.5, 3.0])
@pytest.mark.parametrize("pitch", [-1.2, -0.2, 0.0, 0.45, 1.5])
def test_pose_camera_round_trip(yaw, pitch):
    for spec in (PIGAN, EG3D):
        pose = Pose(yaw, pitch, radius=spec.radius * 1.3, fov=15.0)
        back = camera_to_pose(pose_to_camera(pose, spec), spec)
        assert back.yaw == pytest.approx(yaw, abs=1e-9)
        assert back.pitch == pytest.approx(pitch, abs=1e-9)
        assert back.radius == pytest.approx(spec.radius * 1.3)
        assert back.fov == pytest.approx(15.0)


def test_pose_defaults_come_from_the_model():
    camera = pose_to_camera(Pose(), CameraSpec(PIGAN_CONVENTION, radius=2.0, fov=20.0))
    np.testing.assert_allclose(camera.position, [0, 0, 2], atol=1e-12)
    assert camera.fov_deg == 20.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pitch": math.pi / 2}, "pitch"),
        ({"pitch": -2.0}, "pitch"),
        ({"yaw": float("nan")}, "yaw"),
        ({"radius": 0.0}, "radius"),
        ({"fov": 180.0}, "fov"),
        ({"fov": -1.0}, "fov"),
    ],
)
def test_bad_poses_raise(kwargs, message):
    with pytest.raises(InputError, match=message):
        Pose(**kwargs)


def test_look_at_points_the_camera_at_the_target():
    eye = np.array([0.3, -0.2, 0.9])
    target = np.array([0.05, 0.1, -0.1])
    cam2world = look_at(eye, target)
    forward = target - eye
    np.testing.assert_allclose(-cam2world[:3, 2], forward / np.linalg.norm(forward), atol=1e-12)
    assert abs(cam2world[1, 0]) < 1e-12  # no roll: the right vector stays horizontal


# --- EG3D ---------------------------------------------------------------------------------


def test_eg3d_frontal_camera_is_opencv_at_radius_from_the_origin():
    """LookAtPoseSampler puts the camera on a sphere around the world origin and aims it at the pivot."""
    cam2world = pose_to_eg3d_cam2world(Pose(), EG3D)
    np.testing.assert_allclose(cam2world[:3, 3], [0, 0, 2.7], atol=1e-12)
    np.testing.assert_allclose(cam2world[:3, 2], [0, 0, -1], atol=1e-12)  # OpenCV looks down +z
    np.testing.assert_allclose(cam2world[:3, 1], [0, -1, 0], atol=1e-12)  # image y points down
    np.testing.assert_allclose(cam2world[:3, 0], [1, 0, 0], atol=1e-12)


def test_eg3d_angles_reproduce_lookat_pose_sampler_positions():
    """EG3D places the camera at (r sin p cos(pi-h), r cos p, r sin p sin(pi-h)), p = arccos(1-2v/pi)."""
    for yaw, pitch in [(0.0, 0.0), (0.4, -0.2), (-0.7, 0.3)]:
        pose = Pose(yaw, pitch)
        h, v = pose_to_eg3d_angles(pose)
        p = math.acos(1 - 2 * v / math.pi)
        r = EG3D.radius
        eg3d_origin = r * np.array([math.sin(p) * math.cos(math.pi - h), math.cos(p), math.sin(p) * math.sin(math.pi - h)])
        cam2world = pose_to_eg3d_cam2world(pose, EG3D)
        np.testing.assert_allclose(cam2world[:3, 3], eg3d_origin, atol=1e-9)
        forward = np.array(EG3D.pivot) - eg3d_origin
        np.testing.assert_allclose(cam2world[:3, 2], forward / np.linalg.norm(forward), atol=1e-9)  # aimed at the pivot


def test_eg3d_intrinsics_and_conditioning_vector():
    intrinsics = eg3d_intrinsics(18.837)
    # Pinned by data, not by restating the formula: EG3D's FFHQ dataset labels store a focal of
    # 4.2647 for fov_deg 18.837 (the formula gives 4.2634), and PanoHead's gen_samples.py, whose
    # int-typed --fov-deg turns 18.837 into 18, ends up with 4.4652.
    assert intrinsics[0, 0] == pytest.approx(4.2647, abs=2e-3)
    assert eg3d_intrinsics(18)[0, 0] == pytest.approx(4.4652, abs=1e-3)
    np.testing.assert_allclose(intrinsics[:2, 2], [0.5, 0.5])
    label = pose_to_eg3d_conditioning(Pose(), EG3D)
    assert label.shape == (25,) and label.dtype == np.float32
    np.testing.assert_allclose(label[:16].reshape(4, 4), pose_to_eg3d_cam2world(Pose(), EG3D), atol=1e-6)
    np.testing.assert_allclose(label[16:].reshape(3, 3), intrinsics, atol=1e-6)
    # The image that normalised focal renders spans a true vertical fov of 2 atan(0.5 / f).
    assert eg3d_vertical_fov(18.837) == pytest.approx(math.degrees(2 * math.atan(0.5 / intrinsics[0, 0])))


# --- Blender ----------------------------------------------------------------------------------


def test_gan_to_blender_axes():
    up, front, right = gan_to_blender_points(np.eye(3)[[1, 2, 0]])
    np.testing.assert_allclose(up, [0, 0, 1])  # y-up becomes z-up
    np.testing.assert_allclose(front, [0, -1, 0])  # the face looks toward Blender's -y
    np.testing.assert_allclose(right, [1, 0, 0])
    assert np.linalg.det(GLTF_TO_BLENDER) == pytest.approx(1.0)  # a rotation, no mirror


def test_frontal_blender_camera_looks_at_the_face_from_minus_y():
    blender = pose_to_blender_camera(Pose(), PIGAN, scale=0.5, center=(0.0, 0.0, 0.1))
    matrix = blender.matrix_world
    np.testing.assert_allclose(matrix[:3, 3], [0, -0.45, 0], atol=1e-12)  # (1 - 0.1) * 0.5 in front
    np.testing.assert_allclose(-matrix[:3, 2], [0, 1, 0], atol=1e-12)  # looks down local -Z, toward +y
    np.testing.assert_allclose(matrix[:3, 1], [0, 0, 1], atol=1e-12)  # local +Y is up
    assert blender.fov_deg == 12.0


def test_blender_camera_sees_points_where_the_gan_camera_does():
    pose = Pose(yaw=0.5, pitch=-0.25)
    scale, center = 1.7, (0.01, -0.02, 0.03)
    gan_camera = pose_to_camera(pose, PIGAN)
    blender = pose_to_blender_camera(pose, PIGAN, scale, center)
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.1, 0.1, size=(20, 3))
    blender_points = gan_to_blender_points(points, scale, center)
    world2cam = np.linalg.inv(blender.matrix_world)
    for p, q in zip(points, blender_points):
        local = world2cam[:3, :3] @ q + world2cam[:3, 3]
        tan_half = math.tan(math.radians(blender.fov_deg) / 2)
        blender_xy = local[0] / (-local[2] * tan_half), local[1] / (-local[2] * tan_half)
        np.testing.assert_allclose(blender_xy, _project(gan_camera, p), atol=1e-9)


def test_blender_round_trip():
    for yaw, pitch in [(0.0, 0.0), (0.8, 0.3), (-2.0, -1.0)]:
        pose = Pose(yaw, pitch, radius=1.2, fov=14.0)
        blender = pose_to_blender_camera(pose, PIGAN, scale=2.0, center=(0.0, 0.05, 0.0))
        again = BlenderCamera(matrix_world=blender.matrix_world.copy(), fov_deg=blender.fov_deg)
        back = blender_camera_to_pose(again, PIGAN, scale=2.0, center=(0.0, 0.05, 0.0))
        assert (back.yaw, back.pitch, back.radius, back.fov) == pytest.approx((yaw, pitch, 1.2, 14.0))
