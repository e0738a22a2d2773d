"""Add-on preferences: the worker's interpreter, device, output folder and known checkpoints."""

from __future__ import annotations

import bpy
from bpy.props import CollectionProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from . import runtime
from .properties import AWARE3D_PG_checkpoint


class AWARE3D_UL_checkpoints(bpy.types.UIList):
    """The registered checkpoints."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.prop(item, "name", text="", emboss=False)
        row.label(text=item.family_name)


class AWARE3D_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    python_path: StringProperty(
        name="Python",
        subtype="FILE_PATH",
        description="Python interpreter (or the aware3d command) of an environment with aware3d installed; empty: aware3d on PATH",
    )
    device: EnumProperty(
        name="Device",
        items=[("auto", "Auto", "CUDA when available, else CPU"), ("cpu", "CPU", ""), ("cuda", "CUDA", "")],
        default="auto",
    )
    output_dir: StringProperty(
        name="Output folder", subtype="DIR_PATH",
        description="Where previews and GLBs are written (empty: this extension's user folder)",
    )
    batch_engine: EnumProperty(
        name="Batch engine",
        items=[("local", "Local", "The worker exports one asset after another"),
               ("ray", "Ray", "Ray actors export in parallel, on this machine or on a cluster (needs aware3d[ray])")],
        default="local",
    )
    ray_address: StringProperty(
        name="Ray address",
        description="Cluster to join: auto, ray://host:port or host:port (empty: start Ray on this machine); "
                    "the batch folder must be on a filesystem every node shares",
    )
    ray_workers: IntProperty(name="Workers", description="Ray workers (0: as many as the cluster holds)", default=0, min=0)
    ray_gpus_per_worker: FloatProperty(name="GPUs per worker", description="0 runs the workers on CPUs", default=0.0, min=0.0)
    checkpoints: CollectionProperty(type=AWARE3D_PG_checkpoint)
    active_checkpoint: IntProperty(default=0)

    def draw(self, context):
        layout = self.layout
        row = layout.row(align=True)
        row.prop(self, "python_path")
        row.operator("aware3d.test_connection", text="Test connection", icon="PLUGIN")
        layout.prop(self, "device")
        layout.prop(self, "output_dir")
        layout.prop(self, "batch_engine", expand=True)
        if self.batch_engine == "ray":
            layout.prop(self, "ray_address")
            row = layout.row()
            row.prop(self, "ray_workers")
            row.prop(self, "ray_gpus_per_worker")
        layout.label(text="Checkpoints")
        row = layout.row()
        row.template_list("AWARE3D_UL_checkpoints", "", self, "checkpoints", self, "active_checkpoint", rows=3)
        column = row.column(align=True)
        column.operator("aware3d.checkpoint_add", text="", icon="ADD")
        column.operator("aware3d.checkpoint_remove", text="", icon="REMOVE")
        if 0 <= self.active_checkpoint < len(self.checkpoints):
            entry = self.checkpoints[self.active_checkpoint]
            layout.prop(entry, "path")
            layout.prop(entry, "family")
            layout.prop(entry, "options")
            _draw_option_help(layout, entry.family_name)
        if not runtime.state.families:
            layout.label(text="Test connection lists the families the worker knows", icon="INFO")


def _draw_option_help(layout, family: str) -> None:
    """One line per loader option of ``family`` (as the worker listed it)."""
    info = runtime.family_info(family)
    if info is None:
        return
    options = info.get("options") or []
    if not options:
        layout.label(text=f"{info.get('title') or family} takes no options")
    for option in options:
        choices = "|".join(option.get("choices") or [])
        layout.label(text=f"{option['name']}={choices} (default {option.get('default')}): {option.get('help', '')}")
