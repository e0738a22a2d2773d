"""The panel's settings, one PropertyGroup attached as ``Scene.aware3d``."""

from __future__ import annotations

import math

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

_RESOLUTIONS = [(str(r), f"{r}³", f"marching-cubes cells per axis: {r}") for r in (128, 256, 512, 1024)]
_TEXTURE_SIZES = [(str(s), f"{s}²", f"texture of {s}×{s} pixels") for s in (256, 512, 1024, 2048, 4096)]


class AWARE3D_PG_checkpoint(bpy.types.PropertyGroup):
    """One official checkpoint the user registered in the preferences."""

    name: StringProperty(name="Name", description="Label shown in the panel")
    path: StringProperty(name="Path", subtype="FILE_PATH", description="The checkpoint file (generator.pth, .pkl, ...)")
    family: EnumProperty(
        name="Family",
        items=[("auto", "Detect", "Detect the family from the file"), ("pigan", "pi-GAN", ""), ("gram", "GRAM", ""),
               ("graf", "GRAF", ""), ("cips3d", "CIPS-3D", ""), ("eg3d", "EG3D", "")],
        default="auto",
    )


class AWARE3D_PG_settings(bpy.types.PropertyGroup):
    """What to sample and how, plus the state of the current request."""

    use_checkpoint: BoolProperty(name="Use checkpoint", description="Use a registered checkpoint instead of the built-in demo model")
    checkpoint: StringProperty(name="Checkpoint", description="A checkpoint registered in the add-on preferences")
    seed: IntProperty(name="Seed", description="Identity seed", default=7, min=0)
    truncation: FloatProperty(name="Truncation", description="1 keeps the sample, 0 is the average identity", default=0.7, min=0.0, max=2.0)
    yaw: FloatProperty(name="Yaw", description="Camera yaw around the head; positive shows the head turned to its own left", subtype="ANGLE", default=0.0, min=-math.pi, max=math.pi)
    pitch: FloatProperty(name="Pitch", description="Camera pitch; positive looks from below", subtype="ANGLE", default=0.0, min=-math.radians(89), max=math.radians(89))
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
    batch_seeds: StringProperty(name="Seeds", description="A range 0-19, a list 1,5,9, or both", default="0-9")
    batch_folder: StringProperty(name="Folder", subtype="DIR_PATH", description="Where batch GLBs go (empty: the output folder's batch/)")
    # State of the request in flight (written by the timer tick on the main thread only).
    busy: BoolProperty(name="Busy", default=False)
    progress: FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(name="Status", default="")
    last_error: StringProperty(name="Error", default="")
    request_id: StringProperty(name="Request", default="")
