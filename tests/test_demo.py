"""The procedural demo family behaves like a learned model and looks like a head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import aware3d
from aware3d import InputError, Pose
from aware3d.cameras import pose_to_camera
from aware3d.models import demo

PREVIEW_SIZE = 64


@pytest.fixture(scope="module")
def gen():
    return aware3d.load_generator(family="demo", device="cpu")


def _grid(bounds, n):
    axes = [torch.linspace(lo, hi, n) for lo, hi in zip(bounds.lo, bounds.hi)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)


def test_query_shapes_ranges_and_activation(gen):
    field = gen.field(seed=3)
    points = _grid(field.bounds, 24)
    out = field.query(points)
    n = points.shape[0]
    assert out.density.shape == (n,) and out.raw_density.shape == (n,) and out.rgb.shape == (n, 3)
    assert out.density.dtype == torch.float32
    assert out.density.min() >= 0
    assert 0 <= out.rgb.min() and out.rgb.max() <= 1
    expected = demo.DENSITY_SCALE * torch.nn.functional.softplus(out.raw_density)
    torch.testing.assert_close(out.density, expected)


def test_head_is_solid_inside_and_empty_at_the_bounds(gen):
    field = gen.field(seed=3)
    centre = field.query(torch.tensor([[0.0, 0.02, 0.0]]))
    assert centre.density.item() > 100 * demo.DEFAULT_LEVEL
    # Nothing touches the sides, top, front or back of the box (the neck leaves through the bottom cut).
    grid = _grid(field.bounds, 33).reshape(33, 33, 33, 3)
    faces = torch.cat([grid[0], grid[-1], grid[:, -1], grid[:, :, 0], grid[:, :, -1]]).reshape(-1, 3)
    assert field.query(faces).density.max() < 1e-3 * demo.DEFAULT_LEVEL


def test_view_dirs_are_accepted_and_shape_checked(gen):
    field = gen.field(seed=0)
    points = torch.zeros(5, 3)
    one = field.query(points, torch.tensor([0.0, 0.0, -1.0]))
    many = field.query(points, torch.tensor([[0.0, 0.0, -1.0]]).expand(5, 3))
    torch.testing.assert_close(one.rgb, many.rgb)
    with pytest.raises(aware3d.ShapeError, match="view_dirs"):
        field.query(points, torch.zeros(4, 3))
    with pytest.raises(aware3d.ShapeError, match=r"\[N,3\]"):
        field.query(torch.zeros(5, 2))


def test_chunking_does_not_change_results(gen):
    field = gen.field(seed=2)
    points = _grid(field.bounds, 12)
    full = field.query(points)
    field.chunk_size = 97
    chunked = field.query(points)
    torch.testing.assert_close(full.density, chunked.density)
    torch.testing.assert_close(full.rgb, chunked.rgb)


def test_same_seed_same_head_and_different_seeds_differ(gen):
    points = _grid(gen.field(seed=0).bounds, 16)
    a = gen.field(seed=11).query(points)
    b = gen.field(seed=11).query(points)
    c = gen.field(seed=12).query(points)
    assert torch.equal(a.density, b.density) and torch.equal(a.rgb, b.rgb)
    assert not torch.allclose(a.density, c.density)


def test_truncation_pulls_toward_the_average_head(gen):
    params = lambda seed, psi: np.array(gen.field(seed=seed, truncation=psi).params.values)  # noqa: E731
    average = [params(seed, 0.0) for seed in range(4)]
    assert all(np.allclose(a, average[0]) for a in average)  # psi = 0: every seed gives the average
    spread = lambda psi: np.std([params(seed, psi) for seed in range(30)], axis=0).mean()  # noqa: E731
    assert spread(0.3) < spread(0.7) < spread(1.0)


def test_z_and_seed_inputs(gen):
    z = torch.randn(demo.Z_DIM, generator=torch.Generator().manual_seed(5))
    by_z = gen.field(z=z)
    assert by_z.identity["seed"] is None and len(by_z.identity["z_sha256"]) == 16
    assert gen.field().identity["seed"] == 0
    with pytest.raises(InputError, match="either seed or z"):
        gen.field(seed=1, z=z)
    with pytest.raises(InputError, match="16 values"):
        gen.field(z=torch.zeros(3))
    with pytest.raises(InputError, match="truncation"):
        gen.field(seed=1, truncation=-0.5)
    with pytest.raises(InputError, match="seed"):
        gen.field(seed=-1)
    with pytest.raises(InputError, match="conditioning"):
        gen.field(seed=1, conditioning=[0.0] * 25)


def test_demo_takes_no_checkpoint(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(b"\x80\x02N.")
    with pytest.raises(InputError, match="no checkpoint"):
        aware3d.load_generator(path, family="demo")


def test_preview_shows_a_centred_head_on_the_background(gen):
    field = gen.field(seed=1)
    result = gen.render_result(field, Pose(), size=PREVIEW_SIZE)
    alpha = result.alpha.numpy()
    image = result.to_uint8()
    assert alpha[PREVIEW_SIZE // 2, PREVIEW_SIZE // 2] > 0.99
    assert alpha[:4, :4].max() < 1e-3 and (image[0, 0] == 255).all()  # white background
    covered = alpha > 0.5
    assert 0.15 < covered.mean() < 0.6
    cols = np.nonzero(covered.any(axis=0))[0]
    assert abs((cols[0] + cols[-1]) / 2 - PREVIEW_SIZE / 2) < 3  # horizontally centred
    # Hair on top, skin in the middle: the top of the head and the face differ in colour.
    rows = np.nonzero(covered.any(axis=1))[0]
    crown = image[rows[0] + 3, PREVIEW_SIZE // 2].astype(int)
    cheek = image[PREVIEW_SIZE // 2 + 4, PREVIEW_SIZE // 2 - 6].astype(int)
    assert np.abs(crown - cheek).sum() > 30


def test_previews_differ_between_seeds_and_mirror_with_yaw(gen):
    one = gen.render(gen.field(seed=1), Pose(), size=PREVIEW_SIZE).astype(int)
    two = gen.render(gen.field(seed=2), Pose(), size=PREVIEW_SIZE).astype(int)
    assert np.abs(one - two).mean() > 5
    field = gen.field(seed=4)
    left = gen.render_result(field, Pose(yaw=0.5), size=PREVIEW_SIZE).alpha.numpy()
    right = gen.render_result(field, Pose(yaw=-0.5), size=PREVIEW_SIZE).alpha.numpy()
    # The head is left-right symmetric, so opposite yaws give mirrored silhouettes ...
    assert np.abs(left - right[:, ::-1]).mean() < 0.02
    # ... that differ from each other (the head really turns).
    assert np.abs(left - right).mean() > 0.02


def test_nose_points_right_of_centre_for_positive_yaw(gen):
    """Positive yaw shows the head turned to its own left: the nose tip moves to the image right."""
    field = gen.field(seed=1)
    nose_tip = np.array([0.0, -0.03, 0.12])
    assert field.query(torch.tensor(nose_tip, dtype=torch.float32)[None] - torch.tensor([[0, 0, 0.02]])).density > 0
    camera = pose_to_camera(Pose(yaw=0.4), gen.camera)
    local = np.linalg.inv(camera.cam2world) @ np.append(nose_tip, 1.0)
    assert local[0] > 0.01
