"""Render a GLB headless with Blender (the PyPI ``bpy`` module) from an aware3d pose.

Used for the README picture and by tests that compare the core's preview with Blender.

    python scripts/render_glb.py face.glb out.png --yaw 0.4 --size 512 [--model demo]

The camera is placed with :func:`aware3d.cameras.pose_to_blender_camera`, using the scale and
centre recorded in the GLB's extras, so it sees the asset as the core's preview sees the field.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np


def read_extras(path: Path) -> dict:
    """The asset extras of a GLB (JSON chunk only; no binary parsing)."""
    import pygltflib

    return pygltflib.GLTF2().load_binary(str(path)).asset.extras or {}


def render(glb: Path, output: Path, yaw: float, pitch: float, size: int, model: str, engine: str = "WORKBENCH",
           checkpoint: Path | None = None) -> None:
    """Import ``glb`` into an empty scene and render it at the pose to ``output`` (PNG, RGBA)."""
    import bpy
    import mathutils

    import aware3d
    from aware3d.cameras import pose_to_blender_camera

    extras = read_extras(glb)
    gen = aware3d.load_generator(checkpoint, device="cpu") if checkpoint else aware3d.load_generator(family=model, device="cpu")
    spec = gen.camera
    camera = pose_to_blender_camera(
        aware3d.Pose(yaw=yaw, pitch=pitch), spec, scale=extras.get("scale", 1.0), center=extras.get("center", (0, 0, 0))
    )
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.import_scene.gltf(filepath=str(glb))
    scene = bpy.context.scene
    data = bpy.data.cameras.new("aware3d_camera")
    data.sensor_fit = "VERTICAL"
    data.angle_y = math.radians(camera.fov_deg)
    data.clip_start, data.clip_end = 0.01, 100.0
    obj = bpy.data.objects.new("aware3d_camera", data)
    scene.collection.objects.link(obj)
    obj.matrix_world = mathutils.Matrix([list(map(float, row)) for row in np.asarray(camera.matrix_world)])
    scene.camera = obj
    scene.render.engine = "BLENDER_WORKBENCH" if engine == "WORKBENCH" else engine
    if engine == "WORKBENCH":
        scene.display.shading.light = "FLAT"
        scene.display.shading.color_type = "TEXTURE"
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.view_settings.view_transform = "Standard"
    scene.render.filepath = str(output)
    bpy.ops.render.render(write_still=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("glb", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--yaw", type=float, default=0.0)
    parser.add_argument("--pitch", type=float, default=0.0)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--model", default="demo", help="built-in family whose camera (radius, fov) to use")
    parser.add_argument("--checkpoint", type=Path, help="a learned model's checkpoint, whose camera to use instead")
    parser.add_argument("--engine", default="WORKBENCH", choices=("WORKBENCH", "CYCLES"))
    args = parser.parse_args(argv)
    render(args.glb, args.output.resolve(), args.yaw, args.pitch, args.size, args.model, args.engine, args.checkpoint)
    print(json.dumps({"output": str(args.output)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
