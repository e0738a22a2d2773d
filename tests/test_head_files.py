"""The head-planted official-format test files: each family's ``head=True`` builder gives a field
that meshes into one closed head whose silhouette matches the model's own previews, as trained
models' fields do (random weights give froth). They are what the fidelity and UV layout
requirements are measured on; this checks the files themselves, cheaply."""

from __future__ import annotations

import eg3d_official
import graf_official
import numpy as np
import official_formats as of
import panohead_official
import pytest
import trimesh

import aware3d
from aware3d.exporters import build_asset


def _head_file(family: str, folder):
    if family == "pigan":
        return of.save_pigan(folder, head=True)
    if family == "gram":
        return of.save_gram(folder, head=True)
    if family == "graf":
        path = folder / "celebA_64.pt"
        graf_official.save_checkpoint(path, graf_official.make_nerf(seed=1, head=True))
        return path
    if family == "eg3d":
        path = folder / "ffhq512-128.pkl"
        eg3d_official.save_snapshot(path, eg3d_official.make_generator("ffhq512-128", sr_width_scale=0.25, head=True))
        return path
    path = folder / "easy-khair-180-gpc0.8-trans10-025000.pkl"
    panohead_official.save_snapshot(path, panohead_official.make_generator(head=True))
    return path


@pytest.mark.parametrize("family", ["pigan", "gram", "graf", "eg3d", "panohead"])
def test_head_files_mesh_into_one_closed_head_like_their_previews(family, tmp_path):
    gen = aware3d.load_generator(_head_file(family, tmp_path), device="cpu")
    asset = build_asset(gen.field(seed=1), generator=gen, resolution=64, texture_size=128, target_faces=5000, fidelity=True,
                        fidelity_poses=3, fidelity_size=48)
    mesh = trimesh.load(trimesh.util.wrap_as_stream(asset.glb), file_type="glb", force="mesh")
    mesh.merge_vertices(merge_tex=True, merge_norm=True)  # the GLB splits vertices along UV seams
    parts = mesh.split(only_watertight=False)
    assert len(parts) == 1 and mesh.is_watertight, f"{len(parts)} parts"
    assert asset.stats.level_source == ("model" if family == "gram" else "auto")  # GRAM's manifold level is its own
    assert asset.stats.num_removed_components == 0
    assert asset.stats.fidelity["iou"] >= 0.9, asset.stats.fidelity
    assert 0.1 < asset.stats.height_m < 0.4  # life-size
    assert np.isfinite(asset.stats.fidelity["depth_mm"])
