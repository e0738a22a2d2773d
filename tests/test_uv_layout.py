"""UV layouts an artist can work with (exporters.charts, .atlas, .uvquality, texture.unwrap)."""

import numpy as np
import pytest
import trimesh

import aware3d
from aware3d.exporters import cleanup, marching, texture
from aware3d.exporters.charts import (
    face_adjacency,
    face_areas,
    facing_faces,
    flatten_chart,
    front_directions,
    layout_charts,
    seen_faces,
    signed_uv_areas,
)
from aware3d.exporters.marching import Mesh
from aware3d.exporters.uvquality import measure_uv_layout, seam_edges
from aware3d.models import demo


def _asset_frame(field, mesh):
    return mesh.vertices.astype(np.float64) @ field.world_to_asset[:3, :3].T


@pytest.fixture(scope="module")
def demo_head():
    """The demo head of seed 7 at the default resolution and face budget, in the field's frame."""
    gen = aware3d.load_generator(None, "demo", "cpu")
    field = gen.field(seed=7)
    extraction = marching.extract_mesh(field, demo.DEFAULT_LEVEL, 256)
    mesh, _ = cleanup.clean_mesh(extraction.mesh, cleanup.DEFAULT_TARGET_FACES)
    return field, mesh


@pytest.fixture(scope="module")
def demo_atlas(demo_head):
    field, mesh = demo_head
    return texture.unwrap(mesh, 1024, field.world_to_asset)


def test_the_demo_atlas_is_a_few_islands_with_the_face_whole(demo_head, demo_atlas):
    field, mesh = demo_head
    assert len(mesh.faces) > 45_000
    report = measure_uv_layout(_asset_frame(field, demo_atlas), demo_atlas.faces, demo_atlas.uv, demo_atlas.source_vertex, 1024)
    assert report.num_charts <= 40
    assert report.front_charts == 1 and report.front_seam_m == 0.0
    assert report.seam_length_m <= 3.0
    assert 0.75 <= report.density_low <= report.density_high <= 1.25
    assert report.utilisation >= 0.65
    assert report.flipped_faces <= 0.001 * len(demo_atlas.faces)
    # Every face of the surface is in the atlas once, and the seams only copy vertices.
    assert len(demo_atlas.faces) == len(mesh.faces)
    np.testing.assert_array_equal(demo_atlas.vertices, mesh.vertices[demo_atlas.source_vertex])
    assert 0.0 <= demo_atlas.uv.min() and demo_atlas.uv.max() <= 1.0


def test_the_face_chart_is_upright_and_not_mirrored(demo_head, demo_atlas):
    """Across the face chart, the head's right (+x) runs to +u and its up (+y) to -v, as in a photo."""
    field, _ = demo_head
    positions = _asset_frame(field, demo_atlas)
    charts = trimesh.graph.connected_component_labels(trimesh.graph.face_adjacency(demo_atlas.faces), len(demo_atlas.faces))
    front = np.unique(demo_atlas.faces[charts == charts[0]])
    design = np.column_stack([positions[front, 0], positions[front, 1], np.ones(len(front))])
    (du_dx, du_dy, _), (dv_dx, dv_dy, _) = np.linalg.lstsq(design, demo_atlas.uv[front].astype(np.float64), rcond=None)[0].T
    assert du_dx > 0 and dv_dy < 0
    assert abs(du_dy) < 0.2 * du_dx and abs(dv_dx) < 0.2 * -dv_dy


def test_unwrapping_is_deterministic(demo_head, demo_atlas):
    field, mesh = demo_head
    again = texture.unwrap(mesh, 1024, field.world_to_asset)
    for name in ("vertices", "faces", "uv", "source_vertex"):
        np.testing.assert_array_equal(getattr(again, name), getattr(demo_atlas, name))


def test_seams_are_found_and_measured_on_a_cut_square():
    """A 2 x 1 grid of unit squares cut down the middle: one seam edge of length 1 m."""
    vertices = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [1, 1, 0], [2, 1, 0]], dtype=np.float64)
    faces = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4]])
    whole_pairs, _ = seam_edges(faces, np.arange(6))
    assert len(whole_pairs) == 0
    # Split: the right square gets its own copies of vertices 1 and 4.
    split_faces = np.array([[0, 1, 4], [0, 4, 3], [6, 2, 5], [6, 5, 7]])
    source = np.array([0, 1, 2, 3, 4, 5, 1, 4])
    pairs, sides = seam_edges(split_faces, source)
    assert sorted(map(tuple, pairs)) == [(1, 4)] and sorted(sides[0].tolist()) == [0, 3]
    uv = np.array([[0, 0], [0.4, 0], [1, 0], [0, 0.4], [0.4, 0.4], [1, 0.4], [0.6, 0], [0.6, 0.4]], dtype=np.float32)
    report = measure_uv_layout(vertices[source], split_faces, uv, source, 64)
    assert report.num_charts == 2 and report.seam_length_m == pytest.approx(1.0)
    # The left chart has 0.16 of UV area per m^2 of surface, the right one 0.16 too: equal density.
    assert report.density_low == pytest.approx(1.0) and report.density_high == pytest.approx(1.0)


def test_the_measure_catches_confetti_across_the_face(demo_head):
    """Cutting the demo into xatlas charts over a grid of patches (the old unwrap) fails the
    face-in-one-chart check the new one passes, so the check can fail."""
    import xatlas

    field, mesh = demo_head
    positions = _asset_frame(field, mesh)
    centres = positions[mesh.faces].mean(axis=1)
    cell = np.floor((centres - centres.min(axis=0)) / np.ptp(centres, axis=0) * 3.999).astype(int)
    labels = (cell[:, 0] * 4 + cell[:, 1]) * 4 + cell[:, 2]
    atlas = xatlas.Atlas()
    patches = []
    for label in np.unique(labels):
        used, local = np.unique(mesh.faces[labels == label], return_inverse=True)
        atlas.add_mesh(positions[used].astype(np.float32), local.reshape(-1, 3).astype(np.uint32))
        patches.append(used)
    options = xatlas.PackOptions()
    options.resolution = 512
    atlas.generate(xatlas.ChartOptions(), options)
    parts, offset = [], 0
    for index, used in enumerate(patches):
        mapping, indices, uv = atlas[index]
        parts.append((used[mapping], indices.reshape(-1, 3) + offset, uv))
        offset += len(mapping)
    source = np.concatenate([p[0] for p in parts])
    faces = np.concatenate([p[1] for p in parts])
    uv = np.concatenate([p[2] for p in parts])
    report = measure_uv_layout(positions[source], faces, uv, source, 512)
    assert report.front_charts > 1 and report.front_seam_m > 0.1 and report.num_charts > 40


def test_density_differences_between_charts_are_reported():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.1)
    layout = layout_charts(sphere.vertices, sphere.faces)
    uv_parts, faces, source, start = [], [], [], 0
    for index, chart in enumerate(layout):
        scale = 2.0 if index == 1 else 1.0  # one chart twice as dense
        uv_parts.append(chart.uv * scale)
        faces.append(chart.local_faces + start)
        source.append(chart.vertices)
        start += len(chart.uv)
    uv = np.concatenate(uv_parts)
    uv = (uv / uv.max()).astype(np.float32)
    source = np.concatenate(source)
    report = measure_uv_layout(sphere.vertices[source], np.concatenate(faces), uv, source, 256)
    assert len(layout) >= 2
    assert report.density_high / report.density_low == pytest.approx(2.0, rel=0.05)


def test_a_tube_and_a_torus_are_cut_into_flat_discs():
    """Surfaces whose front is no disc (a torus seen face-on: a ring) or that hold a tube still
    come out as flat, unfolded charts covering every face once."""
    tube = trimesh.creation.cylinder(radius=0.05, height=0.3, sections=48)
    tube = trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(tube.vertices, tube.faces, 0.01))
    tube.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))  # upright, seen from the side
    for surface in (trimesh.creation.torus(0.1, 0.03, major_sections=64, minor_sections=24), tube):
        layout = layout_charts(surface.vertices, surface.faces)
        covered = np.concatenate([chart.faces for chart in layout])
        assert sorted(covered.tolist()) == list(range(len(surface.faces)))
        assert 1 <= len(layout) <= 40
        assert sum(chart.flipped for chart in layout) <= 2


def test_flattening_refuses_what_is_not_a_disc():
    sphere = trimesh.creation.icosphere(subdivisions=2)
    assert flatten_chart(sphere.vertices, sphere.faces, np.ones(len(sphere.faces), dtype=bool)) is None
    upper = sphere.triangles_center[:, 2] > 0
    chart = flatten_chart(sphere.vertices, sphere.faces, upper)
    assert chart is not None and chart.flipped == 0 and len(chart.faces) == upper.sum()
    area = np.abs(np.cross(*(chart.uv[chart.local_faces[:, k]] - chart.uv[chart.local_faces[:, 0]] for k in (1, 2)))).sum() / 2
    assert area == pytest.approx(sphere.area_faces[upper].sum(), rel=1e-6)  # UVs in metres: area kept


def test_front_views_see_the_front_and_not_the_back():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.1)
    counts = seen_faces(sphere.vertices, sphere.faces, front_directions())
    z = sphere.triangles_center[:, 2]
    # The corner views (yaw and pitch 0.5) are 0.69 rad off the axis: they see 0.69 rad past the equator.
    assert (counts[z > 0.0] > 0).all() and (counts[z < 0.1 * np.cos(np.pi / 2 + 0.7)] == 0).all()
    assert front_directions().shape == (25, 3) and np.allclose(np.linalg.norm(front_directions(), axis=1), 1.0)


def test_unwrap_without_a_frame_reads_the_mesh_as_the_asset():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.1)
    mesh = Mesh(sphere.vertices.astype(np.float32), sphere.faces.astype(np.int32))
    atlas = texture.unwrap(mesh, 256)
    assert atlas.uv.dtype == np.float32 and atlas.faces.dtype == np.int32 and len(atlas.faces) == len(sphere.faces)


def test_tiny_textures_still_hold_every_chart():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.1)
    mesh = Mesh(sphere.vertices.astype(np.float32), sphere.faces.astype(np.int32))
    for size in (16, 64):
        atlas = texture.unwrap(mesh, size)
        assert 0.0 <= atlas.uv.min() and atlas.uv.max() <= 1.0 and len(atlas.faces) == len(sphere.faces)


def test_generate_reports_the_uv_layout(tmp_path, capsys):
    import json

    from aware3d.app.cli import main

    out = tmp_path / "demo.glb"
    args = ["generate", "--model", "demo", "--seed", "2", "--resolution", "64", "--texture-size", "128", "--faces", "3000", "-o", str(out)]
    assert main([*args, "--uv-report", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    layout = stats["uv_layout"]
    assert layout["num_charts"] >= 2 and layout["front_charts"] >= 1 and 0 < layout["utilisation"] < 1
    assert "uv_report" in stats["seconds"] and stats["fidelity"] is None
    assert main(args) == 0
    assert "UV layout" not in capsys.readouterr().out  # measured only when asked


def test_face_helpers_on_small_cases():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 2, 0], [1, 2, 0]], dtype=np.float64)
    faces = np.array([[0, 1, 2], [1, 3, 2]])
    np.testing.assert_allclose(face_areas(vertices, faces), [1.0, 1.0])
    assert face_adjacency(faces).toarray().tolist() == [[0, 1], [1, 0]]
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(signed_uv_areas(uv, np.array([[0, 1, 2], [0, 2, 1]])), [0.5, -0.5])
    # Two facing squares, one behind the other: the front one hides the back one from +z.
    layers = np.concatenate([vertices, vertices + [0, 0, -1]])
    stacked = np.concatenate([faces, faces + 4])
    assert facing_faces(layers, stacked, np.array([[0.0, 0.0, 1.0]])).tolist() == [True, True, False, False]


def test_an_edge_between_four_faces_stays_on_a_chart_border(demo_head):
    """Decimation can leave an edge shared by four faces on a rough surface; the layout keeps its
    few charts and the whole face chart instead of falling back to xatlas's confetti."""
    field, mesh = demo_head
    rotation = field.world_to_asset[:3, :3]
    positions = _asset_frame(field, mesh)
    back = int(np.argmin(positions[mesh.faces].mean(axis=1)[:, 2]))
    a, b = mesh.faces[back, :2]
    tip = (positions[a] + positions[b]) / 2 + [0.0, 0.0, -0.01]
    fin = np.linalg.solve(rotation, np.stack([tip, tip + [0.0, 0.005, 0.0]]).T).T.astype(np.float32)
    count = len(mesh.vertices)
    rough = Mesh(np.concatenate([mesh.vertices, fin]), np.concatenate([mesh.faces, [[a, b, count], [b, a, count + 1]]]).astype(np.int32))
    atlas = texture.unwrap(rough, 1024, field.world_to_asset)
    report = measure_uv_layout(_asset_frame(field, atlas), atlas.faces, atlas.uv, atlas.source_vertex, 1024)
    assert len(atlas.faces) == len(rough.faces)
    assert report.num_charts <= 40 and report.front_charts == 1 and report.front_seam_m == 0.0
