"""Export settings: one validated group that ``export_glb``, the CLI, the worker, batch manifests
and the Blender add-on all derive from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aware3d.settings import Settings, setting

from .cleanup import DEFAULT_TARGET_FACES
from .marching import DEFAULT_COARSE_RESOLUTION, DEFAULT_RESOLUTION
from .texture import DEFAULT_TEXTURE_SIZE, MAX_TEXTURE_SIZE

MAX_RESOLUTION = 2048
"""A 2048^3 sparse extraction already needs tens of GB for the finest blocks' bookkeeping."""

MIN_TARGET_FACES = 100


@dataclass(frozen=True)
class ExportSettings(Settings):
    """How a source becomes a GLB.

    Attributes:
        resolution: marching-cubes cells per axis: the coarse resolution times a power of two.
        coarse_resolution: cells per axis of the first, dense pass of sparse marching cubes.
        texture_size: power-of-two texture side in pixels.
        level: density level of the surface: a number, ``"auto"`` (searched so the mesh agrees with
            the model's volume renderer, see :mod:`aware3d.exporters.level`), or None: the
            family's own level where the model defines it exactly (the demo), else ``"auto"``
            (the family's documented level when no generator is at hand).
        target_faces: decimate to about this many faces.
        material: ``unlit`` (KHR_materials_unlit) or ``pbr`` (lit, metallic 0).
        bake_mode: read colour at the surface, composite a short ray through it, or project the
            model's final images onto the surface (``views``, see :mod:`aware3d.exporters.viewbake`).
        view: view direction(s) for colour: frontal, or averaged over five views.
        textured: bake a texture with UVs.
        vertex_colors: also write per-vertex colours (COLOR_0).
        fidelity: measure the asset against the model's own previews (see
            :mod:`aware3d.exporters.fidelity`); reported in the statistics.
        fidelity_poses: how many poses that measure uses.
        fidelity_size: the side of its previews in pixels.
        uv_report: measure the UV atlas (charts, seams, texel density, atlas use; see
            :mod:`aware3d.exporters.uvquality`); reported in the statistics.
    """

    resolution: int = setting(DEFAULT_RESOLUTION, "marching-cubes cells per axis: 128, 256, 512 or 1024", minimum=2, maximum=MAX_RESOLUTION)
    coarse_resolution: int = setting(DEFAULT_COARSE_RESOLUTION, "cells per axis of the first, dense meshing pass", minimum=2, maximum=MAX_RESOLUTION)
    texture_size: int = setting(DEFAULT_TEXTURE_SIZE, "texture side in pixels, a power of two", minimum=16, maximum=MAX_TEXTURE_SIZE, power_of_two=True)
    level: float | Literal["auto"] | None = setting(
        None, "density level of the surface, a number or auto (default: the model's exact level where it has one, else auto)")
    target_faces: int = setting(DEFAULT_TARGET_FACES, "decimate to about this many faces", minimum=MIN_TARGET_FACES, flags=("--faces",))
    material: Literal["unlit", "pbr"] = setting("unlit", "unlit shows the generator's colour as is; pbr is lit (metallic 0)")
    bake_mode: Literal["surface", "ray", "views"] = setting(
        "surface", "colour from the field at the surface, along a short ray through it, or from the model's final images (views)", flags=("--bake",))
    view: Literal["canonical", "average"] = setting("canonical", "view direction(s) for colour: frontal, or averaged over five views")
    textured: bool = setting(True, "bake a texture with UVs (--no-textured: vertex colours or plain mesh only)")
    vertex_colors: bool = setting(False, "also write per-vertex colours (COLOR_0)")
    fidelity: bool = setting(False, "measure the asset against the model's own previews (silhouette IoU, depth, PSNR)")
    fidelity_poses: int = setting(5, "poses the fidelity measure compares", minimum=1, maximum=64)
    fidelity_size: int = setting(256, "side in pixels of the previews the fidelity measure compares", minimum=16, maximum=1024)
    uv_report: bool = setting(False, "measure the UV atlas: charts, seams, what the front views see, texel density, atlas use")
