"""The sidebar panel (3D viewport, tab "aware3d"). It only draws."""

from __future__ import annotations

import bpy

from . import runtime


class AWARE3D_PT_main(bpy.types.Panel):
    bl_label = "aware3d"
    bl_idname = "AWARE3D_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "aware3d"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.aware3d
        prefs = runtime.addon_prefs(context)

        layout.prop(settings, "use_checkpoint")
        if settings.use_checkpoint:
            layout.prop_search(settings, "checkpoint", prefs, "checkpoints")
        elif runtime.listed_families(builtin=True) or settings.model_name:
            layout.prop(settings, "model")
        else:
            layout.label(text="Model: the worker's built-in one (listed on first use)", icon="INFO")
        row = layout.row(align=True)
        row.prop(settings, "seed")
        row.operator("aware3d.random_seed", text="", icon="MOD_NOISE")
        layout.prop(settings, "truncation")

        box = layout.box()
        box.label(text="Pose")
        box.prop(settings, "yaw")
        box.prop(settings, "pitch")
        box.prop(settings, "fov")
        box.prop(settings, "radius")
        row = box.row(align=True)
        row.operator("aware3d.pose_from_camera", icon="CAMERA_DATA")
        row.operator("aware3d.camera_from_pose", icon="VIEW_CAMERA")

        box = layout.box()
        box.label(text="Mesh")
        box.prop(settings, "resolution")
        box.prop(settings, "texture_size")
        box.prop(settings, "material", expand=True)
        row = box.row(align=True)
        row.prop(settings, "auto_level")
        sub = row.row(align=True)
        sub.enabled = not settings.auto_level
        sub.prop(settings, "level")
        box.prop(settings, "target_faces")
        box.prop(settings, "measure_fidelity")

        row = layout.row(align=True)
        row.operator("aware3d.preview", icon="IMAGE_DATA")
        row.operator("aware3d.import", icon="IMPORT")
        box = layout.box()
        box.prop(settings, "batch_seeds")
        box.prop(settings, "batch_folder")
        box.operator("aware3d.batch", icon="EXPORT")
        box = layout.box()
        box.prop(settings, "lift_image")
        box.operator("aware3d.lift_image", icon="IMAGE_REFERENCE")

        if settings.busy:
            row = layout.row(align=True)
            row.progress(factor=settings.progress, text=settings.status or "working…")
            row.operator("aware3d.cancel", text="", icon="CANCEL")
        elif settings.status:
            layout.label(text=settings.status)
        if settings.last_error:
            box = layout.box()
            for index, line in enumerate(_wrap(settings.last_error)):
                box.label(text=line, icon="ERROR" if index == 0 else "NONE")
            box.operator("aware3d.restart_worker", icon="FILE_REFRESH")


class AWARE3D_PT_advanced(bpy.types.Panel):
    bl_label = "Advanced"
    bl_idname = "AWARE3D_PT_advanced"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "aware3d"
    bl_parent_id = "AWARE3D_PT_main"
    bl_options = {"DEFAULT_CLOSED"}  # noqa: RUF012 (Blender reads a set)

    def draw(self, context):
        layout = self.layout
        settings = context.scene.aware3d
        layout.prop(settings, "preview_size")
        layout.prop(settings, "coarse_resolution")
        layout.prop(settings, "bake_mode", expand=True)
        layout.prop(settings, "view", expand=True)
        row = layout.row(align=True)
        row.prop(settings, "textured")
        row.prop(settings, "vertex_colors")
        layout.prop(settings, "save_preview")


def _wrap(text: str, width: int = 60) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
