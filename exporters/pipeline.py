"""The whole chain, field (or relief) to GLB: extract, clean, unwrap, bake, write."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np

from aware3d.errors import InputError
from aware3d.fields import Field, Relief
from aware3d.io import check_output_path, encode_png, write_atomic
from aware3d.models.base import Generator
from aware3d.progress import ProgressCallback
from aware3d.resources import check_memory, marching_estimate, texture_estimate
from aware3d.settings import SettingsError
from aware3d.version import __version__

from . import cleanup, marching, texture
from .asset import Asset, AssetStats, asset_name, place_in_asset
from .fidelity import fidelity_poses, measure_fidelity
from .gltf import GLBMesh, build_glb
from .level import LevelSearch, search_level
from .raycast import MeshRaycaster, TexturedMesh
from .relief import build_relief_asset
from .settings import ExportSettings
from .uvquality import measure_uv_layout
from .viewbake import OCCLUSION_TOLERANCE, colour_from_views


def resolve_settings(settings: ExportSettings | None = None, **overrides: Any) -> ExportSettings:
    """``settings`` (default: all defaults) with ``overrides`` applied and validated.

    Raises:
        SettingsError: for an unknown key or a bad value, naming it.
    """
    base = (settings or ExportSettings()).to_dict()
    return ExportSettings.from_mapping({**base, **overrides})


def build_asset(
    field: Field,
    settings: ExportSettings | None = None,
    *,
    generator: Generator | None = None,
    metadata: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> Asset:
    """Run the chain in memory and return the GLB bytes (see :func:`export_glb` for arguments)."""
    settings = resolve_settings(settings, **overrides)
    check_export_memory(settings)
    _check_model_requests(settings, generator)
    seconds: dict[str, float] = {}
    report = progress or (lambda stage, done, total: None)

    started = time.perf_counter()
    level, level_source, search = choose_level(field, settings, generator)
    if search is not None:
        seconds["level"] = time.perf_counter() - started
        report("level", 1, 1)

    started = time.perf_counter()
    extraction = marching.extract_mesh(field, level, settings.resolution, settings.coarse_resolution, progress=progress)
    seconds["extract"] = time.perf_counter() - started

    started = time.perf_counter()
    mesh, clean_stats = cleanup.clean_mesh(extraction.mesh, settings.target_faces)
    normals = cleanup.vertex_normals(mesh)
    seconds["clean"] = time.perf_counter() - started
    report("clean", 1, 1)

    uv = png = colors = bake = None
    vertices, faces = mesh.vertices, mesh.faces
    if settings.textured:
        started = time.perf_counter()
        uv_mesh = texture.unwrap(mesh, settings.texture_size, field.world_to_asset)
        seconds["unwrap"] = time.perf_counter() - started
        report("unwrap", 1, 1)
        started = time.perf_counter()
        normals = normals[uv_mesh.source_vertex]
        vertices, faces, uv = uv_mesh.vertices, uv_mesh.faces, uv_mesh.uv
        texels = texture.texel_samples(uv_mesh, settings.texture_size, normals)
        colour = _colour(field, texels.points, texels.normals, settings, generator, vertices, faces, progress,
                         lambda own: TexturedMesh(vertices, faces, uv, texture.texture_from_texels(texels.raster, own, settings.texture_size).image))
        bake = texture.texture_from_texels(texels.raster, colour, settings.texture_size)
        png = encode_png(bake.image)
        seconds["bake"] = time.perf_counter() - started
        report("bake", 1, 1)
    if settings.vertex_colors:
        started = time.perf_counter()
        colors = _colour(field, vertices, normals, settings, generator, vertices, faces, progress)
        seconds["bake"] = seconds.get("bake", 0.0) + time.perf_counter() - started

    started = time.perf_counter()
    placement = place_in_asset(field.world_to_asset, vertices, mesh.vertices)
    positions = placement.positions
    extras = {
        **field.identity,
        **(metadata or {}),
        "resolution": settings.resolution,
        "level": float(level),
        "level_source": level_source,
        "bake": settings.bake_mode,
        **placement.extras(),
        "aware3d_version": __version__,
    }
    glb = build_glb(
        GLBMesh(positions=positions, normals=placement.normals(normals), faces=placement.faces(faces), uv=uv, texture_png=png,
                vertex_colors=colors, material=settings.material, extras=extras, name=asset_name(extras))
    )
    seconds["write"] = time.perf_counter() - started
    report("write", 1, 1)

    uv_layout = None
    if settings.uv_report and uv is not None:
        uv_layout = measure_uv_layout(positions, placement.faces(faces), uv, uv_mesh.source_vertex, settings.texture_size, bake.covered)
        seconds["uv_report"] = uv_layout.seconds
    fidelity = None
    if settings.fidelity:
        started = time.perf_counter()
        surface = TexturedMesh(vertices=vertices, faces=faces, uv=uv, texture=bake.image)
        fidelity = measure_fidelity(generator, field, surface, placement.scale,
                                    fidelity_poses(settings.fidelity_poses, generator.full_circle), settings.fidelity_size, progress)
        seconds["fidelity"] = time.perf_counter() - started
    stats = AssetStats(
        num_vertices=len(positions),
        num_faces=len(faces),
        watertight=clean_stats.watertight,
        height_m=float(np.ptp(positions[:, 1])),
        volume_m3=clean_stats.volume * placement.scale**3,
        num_queries=extraction.num_queries,
        num_dense_queries=extraction.num_dense_queries,
        num_removed_components=clean_stats.num_removed_components,
        resolution=settings.resolution,
        level=float(level),
        texture_size=settings.texture_size if settings.textured else None,
        scale=placement.scale,
        center=[float(c) for c in placement.center],
        seconds={k: round(v, 3) for k, v in seconds.items()},
        file_size=len(glb),
        level_source=level_source,
        level_search=None if search is None else search.to_dict(),
        bake=settings.bake_mode,
        fidelity=None if fidelity is None else fidelity.to_dict(),
        uv_layout=None if uv_layout is None else uv_layout.to_dict(),
    )
    return Asset(glb=glb, stats=stats)


def _check_model_requests(settings: ExportSettings, generator: Generator | None) -> None:
    """Refuse, before any work, a fidelity measure without a texture, and what only the model itself
    can provide (the automatic level, view bakes, fidelity) when no generator is given."""
    if settings.fidelity and not settings.textured:
        raise SettingsError("fidelity", "fidelity compares the textured asset with the model's previews; it needs textured=True")
    if generator is not None:
        return
    needs = [what for what, asked in (("level='auto'", settings.level == "auto"), ("bake_mode='views'", settings.bake_mode == "views"),
                                      ("fidelity", settings.fidelity)) if asked]
    if needs:
        raise InputError(f"{' and '.join(needs)} renders the model's own images: pass generator= (the Generator the field came from)")


def choose_level(field: Field, settings: ExportSettings, generator: Generator | None) -> tuple[float, str, LevelSearch | None]:
    """The density level to mesh at, where it comes from (``given``, ``model``, ``documented`` or
    ``auto``), and the automatic search's outcome when one ran.

    None asks for the model's exact level where it defines one (the demo's SDF), else the
    automatic search, or the family's documented level when no generator is at hand.

    Raises:
        InputError: when neither a level nor a way to find one exists.
    """
    if isinstance(settings.level, float):
        return settings.level, "given", None
    exact = field.exact_level
    if settings.level is None and (exact or generator is None):
        if field.default_level is None:
            raise InputError("this field's family documents no surface level; pass level= (a number, or 'auto' with generator=)")
        return float(field.default_level), "model" if exact else "documented", None
    search = search_level(generator, field, settings.resolution, field.default_level)
    return search.level, "auto", search


def _colour(field, points, normals, settings: ExportSettings, generator, vertices, faces, progress, textured_with=None) -> np.ndarray:
    """Colour at surface points: from the field, or (``views``) from the model's final images over it;
    ``textured_with(colour)`` gives the asset textured with a texel colour, for the views' differences."""
    if settings.bake_mode != "views":
        return texture.sample_colour(field, points, normals, settings.bake_mode, settings.view)
    own = texture.sample_colour(field, points, normals, "surface", settings.view)
    edges = np.linalg.norm(vertices[faces] - vertices[np.roll(faces, 1, axis=1)], axis=-1)
    return colour_from_views(generator, field, points, normals, own, MeshRaycaster(vertices, faces),
                             OCCLUSION_TOLERANCE * float(edges.mean()), progress=progress,
                             base=None if textured_with is None else textured_with(own))


def check_export_memory(settings: ExportSettings) -> None:
    """Refuse, before any work, a resolution or texture size whose memory estimate exceeds the limit.

    Raises:
        ResourceError: naming ``resolution`` or ``texture_size``, with the estimate and the limit.
    """
    check_memory("resolution", f"meshing at {settings.resolution}^3", marching_estimate(settings.resolution))
    if settings.textured:
        _check_texture_memory(settings.texture_size)


def _check_texture_memory(texture_size: int) -> None:
    check_memory("texture_size", f"a {texture_size}^2 texture", texture_estimate(texture_size))


_FIELD_ONLY_SETTINGS = ("resolution", "coarse_resolution", "level", "target_faces", "bake_mode", "view", "textured", "vertex_colors",
                        "fidelity", "fidelity_poses", "fidelity_size")
"""Settings that shape how a field is meshed and coloured; a relief has its own grid and albedo."""


def relief_part(settings: ExportSettings) -> ExportSettings:
    """``settings`` with every field-only setting back at its default: what a relief export takes
    from a panel that offers every setting for every model."""
    defaults = ExportSettings()
    return dataclasses.replace(settings, **{key: getattr(defaults, key) for key in _FIELD_ONLY_SETTINGS})


def check_relief_settings(settings: ExportSettings) -> ExportSettings:
    """``settings`` if a relief export can honour all of them (texture size and material).

    Raises:
        SettingsError: naming a field-only setting changed from its default, rather than ignoring it.
    """
    defaults = ExportSettings()
    for key in _FIELD_ONLY_SETTINGS:
        if getattr(settings, key) != getattr(defaults, key):
            raise SettingsError(
                key, f"{key} applies to radiance fields; a relief is meshed on its own pixel grid and textured with its albedo"
            )
    return settings


def export_glb(
    source: Field | Relief,
    path: str | os.PathLike,
    settings: ExportSettings | None = None,
    *,
    generator: Generator | None = None,
    metadata: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
    **overrides: Any,
) -> AssetStats:
    """Turn a field or a relief into a GLB at ``path`` (written atomically).

    Args:
        source: a field (meshed by sparse marching cubes at its density level, texture baked from
            its colour) or a relief (its depth grid meshed in its camera, albedo as the texture).
        path: the .glb file to write; its folder must exist.
        settings: how (see :class:`ExportSettings`); defaults for whatever is left out.
        generator: the model the field came from; needed for the automatic level (the default
            for most families: without it, the family's documented level is used), view bakes
            and fidelity measures, which render the model's own images.
        metadata: extra entries for the GLB's extras (pose, ...).
        progress: ``progress(stage, done, total)``.
        **overrides: individual :class:`ExportSettings` fields (``resolution=128``) applied on top.

    Returns:
        The asset's statistics.

    Raises:
        SettingsError: for a bad setting, naming it.
        InputError: for an output path in a missing folder or not ending in .glb.
        EmptySurfaceError: when no surface crosses the level (or the relief has no foreground).
    """
    path = check_output_path(path, ".glb")
    settings = resolve_settings(settings, **overrides)
    if isinstance(source, Relief):
        check_relief_settings(settings)
        _check_texture_memory(settings.texture_size)
        asset = build_relief_asset(source, settings.texture_size, settings.material, metadata=metadata, progress=progress)
    else:
        asset = build_asset(source, settings, generator=generator, metadata=metadata, progress=progress)
    write_atomic(path, asset.glb)
    return asset.stats
