"""The panel's settings, one PropertyGroup attached as ``Scene.aware3d``, and the checkpoint entries
of the preferences.

No family is named here: the family choices are dynamic enums filled from the worker's ``models``
answer (``runtime.state.families``). Each dynamic enum is backed by a plain string property that
stores the chosen family's name, so a choice survives a worker whose list is in another order, or
a Blender session in which the worker has not answered yet (the stored name is then still offered,
marked as not confirmed by the worker).
"""

from __future__ import annotations

import math

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    StringProperty,
)

from . import runtime

_RESOLUTIONS = [(str(r), f"{r}³", f"marching-cubes cells per axis: {r}") for r in (128, 256, 512, 1024)]
_TEXTURE_SIZES = [(str(s), f"{s}²", f"texture of {s}×{s} pixels") for s in (256, 512, 1024, 2048, 4096)]

DEFAULT_TARGET_FACES = 50_000
"""The worker's default ``target_faces`` (aware3d.exporters.ExportSettings)."""

DEFAULT_COARSE_RESOLUTION = 32
"""The worker's default ``coarse_resolution`` (aware3d.exporters.ExportSettings)."""

_ITEM_REFS: dict[tuple, list[tuple[str, str, str, int]]] = {}
"""Every item list an items callback returned, kept alive: Blender reads the strings of dynamic
enum items after the callback returns and crashes or shows garbage when Python freed them."""


def _keep(items: list[tuple[str, str, str]]) -> list[tuple[str, str, str, int]]:
    numbered = [(identifier, name, description, index) for index, (identifier, name, description) in enumerate(items)]
    return _ITEM_REFS.setdefault(tuple(numbered), numbered)


def _family_item(info: dict) -> tuple[str, str, str]:
    title = info.get("title") or info["family"]
    description = f"{title}: {info.get('files') or 'built in'}"
    if not info.get("loads", True):
        description += " (this aware3d recognises the family but cannot load it yet)"
    return info["family"], title, description


def _unconfirmed_item(name: str) -> tuple[str, str, str]:
    return name, name, "chosen earlier; the worker has not listed this family (press Test connection)"


def checkpoint_family_items(entry, context) -> list[tuple[str, str, str, int]]:
    """Items of a checkpoint entry's family: detect, then the worker's checkpoint families."""
    items = [(runtime.AUTO_FAMILY, "Detect", "Detect the family from the file")]
    items += [_family_item(info) for info in runtime.listed_families(builtin=False)]
    if entry.family_name not in {item[0] for item in items}:
        items.append(_unconfirmed_item(entry.family_name))
    return _keep(items)


def builtin_model_items(settings, context) -> list[tuple[str, str, str, int]]:
    """Items of the built-in model choice: the worker's families that need no checkpoint."""
    items = [_family_item(info) for info in runtime.listed_families(builtin=True)]
    if settings.model_name and settings.model_name not in {item[0] for item in items}:
        items.append(_unconfirmed_item(settings.model_name))
    return _keep(items)


def _enum_getter(items_of, backing: str):
    def get(owner) -> int:
        current = getattr(owner, backing) or None
        items = items_of(owner, None)
        return next((item[3] for item in items if item[0] == current), 0)

    return get


def _enum_setter(items_of, backing: str):
    def set_(owner, value: int) -> None:
        chosen = next((item[0] for item in items_of(owner, None) if item[3] == value), None)
        if chosen is not None:
            setattr(owner, backing, chosen)

    return set_


class AWARE3D_PG_checkpoint(bpy.types.PropertyGroup):
    """One official checkpoint the user registered in the preferences."""

    name: StringProperty(name="Name", description="Label shown in the panel")
    path: StringProperty(name="Path", subtype="FILE_PATH", description="The checkpoint file (generator.pth, .pkl, ...)")
    family_name: StringProperty(name="Family name", default=runtime.AUTO_FAMILY, description="The chosen family (stored; see Family)")
    family: EnumProperty(
        name="Family", description="The model family of the file, as the worker lists them (Detect: from the file)",
        items=checkpoint_family_items,
        get=_enum_getter(checkpoint_family_items, "family_name"),
        set=_enum_setter(checkpoint_family_items, "family_name"),
    )
    options: StringProperty(
        name="Options",
        description="The family's loader options as name=value pairs separated by commas (e.g. ema=none); empty: the defaults",
    )


class AWARE3D_PG_settings(bpy.types.PropertyGroup):
    """What to sample and how, plus the state of the current request."""

    use_checkpoint: BoolProperty(name="Use checkpoint", description="Use a registered checkpoint instead of a built-in model")
    checkpoint: StringProperty(name="Checkpoint", description="A checkpoint registered in the add-on preferences")
    model_name: StringProperty(name="Model name", default="", description="The chosen built-in model (stored; empty: the worker's first)")
    model: EnumProperty(
        name="Model", description="A built-in model (no checkpoint needed), as the worker lists them",
        items=builtin_model_items,
        get=_enum_getter(builtin_model_items, "model_name"),
        set=_enum_setter(builtin_model_items, "model_name"),
    )
    seed: IntProperty(name="Seed", description="Identity seed", default=7, min=0)
    truncation: FloatProperty(name="Truncation", description="1 keeps the sample, 0 is the average identity", default=0.7, min=0.0, max=2.0)
    yaw: FloatProperty(
        name="Yaw", description="Camera yaw around the head; positive shows the head turned to its own left",
        subtype="ANGLE", default=0.0, min=-math.pi, max=math.pi,
    )
    pitch: FloatProperty(
        name="Pitch", description="Camera pitch; positive looks from below",
        subtype="ANGLE", default=0.0, min=-math.radians(89), max=math.radians(89),
    )
    radius: FloatProperty(name="Distance", description="Camera distance in model units (0: the model's own)", default=0.0, min=0.0, max=100.0)
    fov: FloatProperty(name="FOV", description="Field of view in degrees (0: the model's own)", default=0.0, min=0.0, max=120.0)
    preview_size: IntProperty(name="Preview size", description="Preview width and height in pixels", default=256, min=16, max=2048)
    resolution: EnumProperty(name="Mesh resolution", items=_RESOLUTIONS, default="256")
    texture_size: EnumProperty(name="Texture size", items=_TEXTURE_SIZES, default="1024")
    material: EnumProperty(
        name="Material",
        items=[("unlit", "Unlit", "Show the generator's colour as is"), ("pbr", "PBR", "Lit material, metallic 0")],
        default="unlit",
    )
    auto_level: BoolProperty(
        name="Auto level", default=True,
        description="The model's exact surface level where it defines one, else searched so the mesh matches the model's own renders",
    )
    level: FloatProperty(name="Level", default=0.0, description="Density level of the surface (used when Auto level is off)")
    target_faces: IntProperty(name="Target faces", description="Decimate to about this many faces", default=DEFAULT_TARGET_FACES, min=100, max=10_000_000)
    coarse_resolution: IntProperty(
        name="Coarse resolution", description="Cells per axis of the first, dense meshing pass (the mesh resolution is this times a power of two)",
        default=DEFAULT_COARSE_RESOLUTION, min=2, max=2048,
    )
    bake_mode: EnumProperty(
        name="Bake",
        items=[("surface", "Surface", "Read the colour at the surface"), ("ray", "Ray", "Composite a short ray through the surface"),
               ("views", "Views", "Project the model's own final images (super-resolution, INR detail) onto the surface")],
        default="surface",
    )
    view: EnumProperty(
        name="View",
        items=[("canonical", "Frontal", "Colour as seen from the front"), ("average", "Average", "Colour averaged over five views")],
        default="canonical",
    )
    textured: BoolProperty(name="Texture", default=True, description="Bake a texture with UVs")
    vertex_colors: BoolProperty(name="Vertex colours", default=False, description="Also write per-vertex colours")
    measure_fidelity: BoolProperty(
        name="Measure the asset", default=False,
        description="After export, compare the asset with the model's own previews at five poses (silhouette IoU, depth, "
                    "colour PSNR) and measure its UV atlas (charts, seams, texture use)",
    )
    save_preview: BoolProperty(name="Preview image with the mesh", default=False, description="Import also writes a preview PNG beside the GLB")
    batch_seeds: StringProperty(name="Seeds", description="A range 0-19, a list 1,5,9, or both", default="0-9")
    batch_folder: StringProperty(name="Folder", subtype="DIR_PATH", description="Where batch GLBs go (empty: the output folder's batch/)")
    lift_image: StringProperty(
        name="Image", subtype="FILE_PATH",
        description="A face image for Image → relief; empty: the image open in an Image Editor",
    )
    # State of the request in flight (written by the timer tick on the main thread only).
    busy: BoolProperty(name="Busy", default=False)
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(name="Status", default="")
    last_error: StringProperty(name="Error", default="")
    request_id: StringProperty(name="Request", default="")
