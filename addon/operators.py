"""Operators: each starts work on the worker and returns at once, or edits the scene directly."""

from __future__ import annotations

import math
import os
import random

import bpy
import mathutils

from . import camera, runtime


def _fail(operator, context, message: str) -> set[str]:
    context.scene.aware3d.last_error = message
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


class _WorkerOperator:
    """Shared poll/submit logic of the operators that send a request."""

    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return not context.scene.aware3d.busy

    def _submit(self, context, kind: str, method: str, extra: dict) -> set[str]:
        try:
            params = {**runtime.request_params(context), **extra}
            runtime.submit(context, kind, method, params)
        except (ValueError, FileNotFoundError, OSError) as err:
            return _fail(self, context, str(err))
        return {"FINISHED"}


class AWARE3D_OT_preview(_WorkerOperator, bpy.types.Operator):
    """Render a preview of the identity at the pose (shown in the Image Editor and behind the camera)"""

    bl_idname = "aware3d.preview"
    bl_label = "Preview"

    def execute(self, context):
        settings = context.scene.aware3d
        path = os.path.join(runtime.output_dir(context), f"preview_seed{settings.seed}.png")
        return self._submit(context, "preview", "preview", {"output": path, "size": settings.preview_size})


class AWARE3D_OT_import(_WorkerOperator, bpy.types.Operator):
    """Mesh the identity, bake its texture, and import the GLB at the 3D cursor"""

    bl_idname = "aware3d.import"
    bl_label = "Import"

    def execute(self, context):
        settings = context.scene.aware3d
        model = "checkpoint" if settings.use_checkpoint else "demo"
        path = os.path.join(runtime.output_dir(context), f"{model}_seed{settings.seed}_{settings.resolution}.glb")
        return self._submit(context, "import", "generate", {"output": path})


class AWARE3D_OT_batch(_WorkerOperator, bpy.types.Operator):
    """Export a range of seeds to a folder of GLBs (with a manifest), in the background"""

    bl_idname = "aware3d.batch"
    bl_label = "Batch export"

    def execute(self, context):
        settings = context.scene.aware3d
        folder = bpy.path.abspath(settings.batch_folder) if settings.batch_folder else os.path.join(runtime.output_dir(context), "batch")
        return self._submit(context, "batch", "batch", {"folder": folder, "seeds": settings.batch_seeds})


class AWARE3D_OT_cancel(bpy.types.Operator):
    """Stop the running request at its next step"""

    bl_idname = "aware3d.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.scene.aware3d.busy

    def execute(self, context):
        settings = context.scene.aware3d
        if runtime.state.client is not None:
            runtime.state.client.cancel(settings.request_id)
        settings.status = "cancelling…"
        return {"FINISHED"}


class AWARE3D_OT_restart_worker(bpy.types.Operator):
    """Stop the worker; the next request starts a fresh one"""

    bl_idname = "aware3d.restart_worker"
    bl_label = "Restart worker"

    def execute(self, context):
        runtime.stop_worker()
        settings = context.scene.aware3d
        settings.busy, settings.progress, settings.status = False, 0.0, "worker stopped; the next request starts it"
        return {"FINISHED"}


class AWARE3D_OT_test_connection(bpy.types.Operator):
    """Start the worker with the chosen interpreter and ask it for its versions"""

    bl_idname = "aware3d.test_connection"
    bl_label = "Test connection"

    def execute(self, context):
        try:
            runtime.submit(context, "ping", "ping", {})
        except (FileNotFoundError, OSError) as err:
            return _fail(self, context, str(err))
        self.report({"INFO"}, "asking the aware3d worker; the answer appears in the aware3d panel")
        return {"FINISHED"}


class AWARE3D_OT_random_seed(bpy.types.Operator):
    """Pick a random seed"""

    bl_idname = "aware3d.random_seed"
    bl_label = "Random seed"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.aware3d.seed = random.randrange(0, 2**31 - 1)
        return {"FINISHED"}


class AWARE3D_OT_camera_from_pose(bpy.types.Operator):
    """Place the active camera (created if missing) at the panel's pose, framing the aware3d asset"""

    bl_idname = "aware3d.camera_from_pose"
    bl_label = "Set camera to pose"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.aware3d
        world, scale, center, spec = runtime.asset_frame(context)
        radius = settings.radius or spec["radius"]
        fov = settings.fov or spec["fov"]
        local = camera.pose_to_matrix(settings.yaw, settings.pitch, radius, tuple(spec["pivot"]), scale, center)
        scene = context.scene
        if scene.camera is None:
            data = bpy.data.cameras.new("aware3d camera")
            scene.camera = bpy.data.objects.new("aware3d camera", data)
            scene.collection.objects.link(scene.camera)
        cam = scene.camera
        cam.matrix_world = mathutils.Matrix(world) @ mathutils.Matrix(local)
        cam.data.sensor_fit = "VERTICAL"
        cam.data.angle_y = math.radians(camera.vertical_fov(fov, spec["convention"]))
        cam.data.clip_start = min(cam.data.clip_start, 0.01)
        return {"FINISHED"}


class AWARE3D_OT_pose_from_camera(bpy.types.Operator):
    """Read yaw, pitch, distance and fov from the active camera"""

    bl_idname = "aware3d.pose_from_camera"
    bl_label = "Pose from camera"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context):
        return context.scene.camera is not None and context.scene.camera.type == "CAMERA"

    def execute(self, context):
        settings = context.scene.aware3d
        world, scale, center, spec = runtime.asset_frame(context)
        cam = context.scene.camera
        local = mathutils.Matrix(world).inverted() @ cam.matrix_world
        yaw, pitch, radius = camera.matrix_to_pose([list(row) for row in local], tuple(spec["pivot"]), scale, center)
        limit = math.radians(89)
        settings.yaw, settings.pitch = yaw, max(-limit, min(limit, pitch))
        settings.radius = radius
        data = cam.data
        vertical = data.angle_y if data.sensor_fit == "VERTICAL" else data.angle
        settings.fov = camera.model_fov(math.degrees(vertical), spec["convention"])
        return {"FINISHED"}


class AWARE3D_OT_checkpoint_add(bpy.types.Operator):
    """Register a checkpoint file"""

    bl_idname = "aware3d.checkpoint_add"
    bl_label = "Add checkpoint"

    def execute(self, context):
        prefs = runtime.addon_prefs(context)
        entry = prefs.checkpoints.add()
        entry.name = f"checkpoint {len(prefs.checkpoints)}"
        prefs.active_checkpoint = len(prefs.checkpoints) - 1
        return {"FINISHED"}


class AWARE3D_OT_checkpoint_remove(bpy.types.Operator):
    """Forget the selected checkpoint (the file stays)"""

    bl_idname = "aware3d.checkpoint_remove"
    bl_label = "Remove checkpoint"

    def execute(self, context):
        prefs = runtime.addon_prefs(context)
        if 0 <= prefs.active_checkpoint < len(prefs.checkpoints):
            prefs.checkpoints.remove(prefs.active_checkpoint)
            prefs.active_checkpoint = max(0, prefs.active_checkpoint - 1)
        return {"FINISHED"}
