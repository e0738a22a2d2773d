"""aware3d for Blender: sample 3D-aware GAN faces, preview them at a pose, import them as meshes.

Registration only. The heavy lifting runs in a separate ``aware3d serve`` worker process (see
``worker.py``); this extension imports neither torch nor aware3d.
"""

from __future__ import annotations

import bpy

from . import operators, panels, preferences, properties, runtime

_CLASSES = (
    properties.AWARE3D_PG_checkpoint,
    properties.AWARE3D_PG_settings,
    preferences.AWARE3D_UL_checkpoints,
    preferences.AWARE3D_AP_preferences,
    operators.AWARE3D_OT_preview,
    operators.AWARE3D_OT_import,
    operators.AWARE3D_OT_batch,
    operators.AWARE3D_OT_lift_image,
    operators.AWARE3D_OT_cancel,
    operators.AWARE3D_OT_restart_worker,
    operators.AWARE3D_OT_test_connection,
    operators.AWARE3D_OT_random_seed,
    operators.AWARE3D_OT_camera_from_pose,
    operators.AWARE3D_OT_pose_from_camera,
    operators.AWARE3D_OT_checkpoint_add,
    operators.AWARE3D_OT_checkpoint_remove,
    panels.AWARE3D_PT_main,
    panels.AWARE3D_PT_advanced,
)

_register_classes, _unregister_classes = bpy.utils.register_classes_factory(_CLASSES)


def register() -> None:
    _register_classes()
    bpy.types.Scene.aware3d = bpy.props.PointerProperty(type=properties.AWARE3D_PG_settings)


def unregister() -> None:
    if bpy.app.timers.is_registered(runtime.tick):
        bpy.app.timers.unregister(runtime.tick)
    runtime.stop_worker()
    del bpy.types.Scene.aware3d
    _unregister_classes()
