"""The volume renderer on fields with known answers."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import SphereField

from aware3d import InputError
from aware3d.cameras import PIGAN_CONVENTION, CameraSpec, Pose, pose_to_camera
from aware3d.render import (
    RenderSettings,
    camera_rays,
    composite,
    importance_depths,
    intersect_box,
    render_image,
)

SPEC = CameraSpec(PIGAN_CONVENTION, radius=1.0, fov=20.0)


def test_camera_rays_are_unit_and_centred():
    camera = pose_to_camera(Pose(), SPEC)
    origins, dirs = camera_rays(camera, 5, 7)
    assert origins.shape == dirs.shape == (35, 3)
    torch.testing.assert_close(dirs.norm(dim=-1), torch.ones(35))
    centre = dirs.reshape(5, 7, 3)[2, 3]
    torch.testing.assert_close(centre, torch.tensor([0.0, 0.0, -1.0]))
    top_left = dirs.reshape(5, 7, 3)[0, 0]
    assert top_left[0] < 0 and top_left[1] > 0  # row 0 is the top, column 0 the left


def test_intersect_box_hits_and_misses():
    bounds = SphereField().bounds
    origins = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    dirs = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]])
    near, far = intersect_box(origins, dirs, bounds)
    assert near[0] == pytest.approx(0.85) and far[0] == pytest.approx(1.15)
    assert far[1] <= near[1]


def test_composite_of_an_opaque_sample_takes_its_colour():
    depths = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    density = torch.tensor([[0.0, 1e6, 0.0, 0.0]])
    rgb = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]]])
    colour, weights = composite(density, rgb, depths, torch.tensor([0.5]))
    torch.testing.assert_close(colour, torch.tensor([[0.0, 1.0, 0.0]]), atol=1e-5, rtol=0)
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0), atol=1e-5, rtol=0)


def test_composite_of_uniform_density_matches_beer_lambert():
    depths = torch.linspace(0, 1, 101)[:-1].unsqueeze(0) + 0.005
    density = torch.full_like(depths, 2.0)
    rgb = torch.ones(1, 100, 3)
    _, weights = composite(density, rgb, depths, torch.tensor([1.005]))
    assert weights.sum().item() == pytest.approx(1 - math.exp(-2.0), abs=1e-4)


def test_importance_depths_follow_the_weights_and_stay_sorted():
    depths = torch.linspace(0, 1, 32).unsqueeze(0)
    weights = torch.zeros(1, 32)
    weights[0, 20] = 1.0
    fine = importance_depths(depths, weights, 16)
    assert fine.shape == (1, 16)
    assert torch.all(fine[:, 1:] >= fine[:, :-1])
    inside = ((fine > depths[0, 19]) & (fine < depths[0, 21])).float().mean()
    assert inside > 0.9
    again = importance_depths(depths, weights, 16)
    assert torch.equal(fine, again)  # no randomness


def test_sphere_renders_its_colour_and_its_silhouette(device):
    field = SphereField(radius=0.1, colour=(0.2, 0.6, 0.9), device=device)
    camera = pose_to_camera(Pose(yaw=0.3, pitch=-0.2), SPEC)
    settings = RenderSettings(num_coarse=32, num_fine=32, background=(1.0, 1.0, 1.0))
    result = render_image(field, camera, 64, settings)
    assert result.rgb.shape == (64, 64, 3) and result.alpha.shape == (64, 64)
    torch.testing.assert_close(result.rgb[32, 32].cpu(), torch.tensor([0.2, 0.6, 0.9]), atol=2e-3, rtol=0)
    torch.testing.assert_close(result.rgb[0, 0].cpu(), torch.ones(3))
    # A sphere of radius r at distance d spans a disc of angular radius asin(r/d).
    disc = math.tan(math.asin(0.1)) / math.tan(math.radians(10.0)) * 32  # pixels
    expected_area = math.pi * disc**2
    assert result.alpha.sum().item() == pytest.approx(expected_area, rel=0.04)


def test_rendering_is_deterministic_and_independent_of_chunking():
    field = SphereField(radius=0.08, center=(0.02, -0.01, 0.0))
    camera = pose_to_camera(Pose(yaw=-0.5), SPEC)
    a = render_image(field, camera, 40, RenderSettings(rays_per_chunk=4096))
    b = render_image(field, camera, 40, RenderSettings(rays_per_chunk=4096))
    c = render_image(field, camera, 40, RenderSettings(rays_per_chunk=97))
    assert torch.equal(a.rgb, b.rgb)
    torch.testing.assert_close(a.rgb, c.rgb)


def test_rectangular_images_and_progress():
    calls = []
    result = render_image(
        SphereField(), pose_to_camera(Pose(), SPEC), (20, 30), RenderSettings(rays_per_chunk=50),
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert result.to_uint8().shape == (20, 30, 3)
    assert calls and calls[-1][1] == calls[-1][2] and all(c[0] == "render" for c in calls)


@pytest.mark.parametrize("size", [0, -3, (0, 10)])
def test_bad_image_size_raises(size):
    with pytest.raises(InputError, match="size"):
        render_image(SphereField(), pose_to_camera(Pose(), SPEC), size)


def test_bad_settings_raise():
    with pytest.raises(InputError, match="num_coarse"):
        RenderSettings(num_coarse=1)
    with pytest.raises(InputError, match="rays_per_chunk"):
        RenderSettings(rays_per_chunk=0)


def test_cpu_and_cuda_agree():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine")
    camera = pose_to_camera(Pose(yaw=0.2), SPEC)
    cpu = render_image(SphereField(device="cpu"), camera, 32)
    gpu = render_image(SphereField(device="cuda"), camera, 32)
    torch.testing.assert_close(cpu.rgb, gpu.rgb.cpu(), atol=1e-4, rtol=0)
