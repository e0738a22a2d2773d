"""aware3d.exporters: turn a field or a relief into a textured, validated GLB.

The stages are public and work on plain arrays: :func:`extract_mesh` (sparse marching cubes),
:func:`clean_mesh`, :func:`unwrap`, :func:`bake_texture`, :func:`build_glb`; :func:`export_glb`
runs them all and writes the file, as :class:`ExportSettings` says. They depend on the contract
of :mod:`aware3d.fields` only, never on a model family.
"""

from .asset import Asset, AssetStats
from .cleanup import clean_mesh
from .gltf import GLBMesh, build_glb
from .marching import Extraction, Mesh, extract_mesh, extract_mesh_dense
from .pipeline import build_asset, export_glb
from .relief import ReliefMesh, build_relief_asset, mesh_relief
from .settings import ExportSettings
from .texture import bake_texture, fill_gutters, rasterize_uv, unwrap

__all__ = [
    "Asset",
    "AssetStats",
    "ExportSettings",
    "Extraction",
    "GLBMesh",
    "Mesh",
    "ReliefMesh",
    "bake_texture",
    "build_asset",
    "build_glb",
    "build_relief_asset",
    "clean_mesh",
    "export_glb",
    "extract_mesh",
    "extract_mesh_dense",
    "fill_gutters",
    "mesh_relief",
    "rasterize_uv",
    "unwrap",
]
