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
        level: density level of the surface; None uses the field's own default.
        target_faces: decimate to about this many faces.
        material: ``unlit`` (KHR_materials_unlit) or ``pbr`` (lit, metallic 0).
        bake_mode: read colour at the surface, or composite a short ray through it.
        view: view direction(s) for colour: frontal, or averaged over five views.
        textured: bake a texture with UVs.
        vertex_colors: also write per-vertex colours (COLOR_0).
    """

    resolution: int = setting(DEFAULT_RESOLUTION, "marching-cubes cells per axis: 128, 256, 512 or 1024", minimum=2, maximum=MAX_RESOLUTION)
    coarse_resolution: int = setting(DEFAULT_COARSE_RESOLUTION, "cells per axis of the first, dense meshing pass", minimum=2, maximum=MAX_RESOLUTION)
    texture_size: int = setting(DEFAULT_TEXTURE_SIZE, "texture side in pixels, a power of two", minimum=16, maximum=MAX_TEXTURE_SIZE, power_of_two=True)
    level: float | None = setting(None, "density level of the surface (default: the family's own, see README)")
    target_faces: int = setting(DEFAULT_TARGET_FACES, "decimate to about this many faces", minimum=MIN_TARGET_FACES, flags=("--faces",))
    material: Literal["unlit", "pbr"] = setting("unlit", "unlit shows the generator's colour as is; pbr is lit (metallic 0)")
    bake_mode: Literal["surface", "ray"] = setting("surface", "read colour at the surface, or composite a short ray through it", flags=("--bake",))
    view: Literal["canonical", "average"] = setting("canonical", "view direction(s) for colour: frontal, or averaged over five views")
    textured: bool = setting(True, "bake a texture with UVs (--no-textured: vertex colours or plain mesh only)")
    vertex_colors: bool = setting(False, "also write per-vertex colours (COLOR_0)")
