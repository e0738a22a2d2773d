"""Operators: each starts work on the worker and returns at once, or edits the scene directly."""

from __future__ import annotations

import math
import random

import bpy
import mathutils

from . import camera, runtime


def _orbit(spec: dict) -> tuple:
    """Where the model's camera orbits (older workers send only the pivot)."""
    return tuple(spec.get("orbit_centre") or spec["pivot"])


def _fail(operator, context, message: str) -> set[str]:
    context.scene.aware3d.last_error = message
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


class _WorkerOperator:
    """Shared poll/submit logic of the operators that send a request."""

    bl_options = {"REGISTER"}  # noqa: RUF012 (Blender reads a set)

    @classmethod
    def poll(cls, context):
        return not context.scene.aware3d.busy

    def _start(self, context, kind: str, method: str) -> set[str]:
        try:
            runtime.start_request(context, kind, method)
        except (ValueError, OSError) as err:
            return _fail(self, context, str(err))
        return {"FINISHED"}


class AWARE3D_OT_preview(_WorkerOperator, bpy.types.Operator):
    """Render a preview of the identity at the pose (shown in the Image Editor and behind the camera)"""

    bl_idname = "aware3d.preview"
    bl_label = "Preview"

    def execute(self, context):
        return self._start(context, "preview", "preview")


class AWARE3D_OT_import(_WorkerOperator, bpy.types.Operator):
    """Mesh the identity, bake its texture, and import the GLB at the 3D cursor"""

    bl_idname = "aware3d.import"
    bl_label = "Import"

    def execute(self, context):
        return self._start(context, "import", "generate")


class AWARE3D_OT_batch(_WorkerOperator, bpy.types.Operator):
    """Export a range of seeds to a folder of GLBs (with a manifest), in the background"""

    bl_idname = "aware3d.batch"
    bl_label = "Batch export"

    def execute(self, context):
        return self._start(context, "batch", "batch")


class AWARE3D_OT_lift_image(_WorkerOperator, bpy.types.Operator):
    """Lift a face image (the file chosen, or the Image Editor's image) into a textured relief and import it"""

    bl_idname = "aware3d.lift_image"
    bl_label = "Image → relief"

    def execute(self, context):
        try:
            runtime.start_lift(context)
        except (ValueError, OSError, RuntimeError) as err:
            return _fail(self, context, str(err))
        return {"FINISHED"}


class AWARE3D_OT_cancel(bpy.types.Operator):
    """Stop the running request at its next step"""

    bl_idname = "aware3d.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.scene.aware3d.busy

    def execute(self, context):
        runtime.cancel(context)
        context.scene.aware3d.status = "cancelling…"
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
    """Start the worker with the chosen interpreter and ask it for its versions and model families"""

    bl_idname = "aware3d.test_connection"
    bl_label = "Test connection"

    def execute(self, context):
        try:
            runtime.refresh_models(context)
            runtime.submit(context, "ping", "ping", {})
        except OSError as err:
            return _fail(self, context, str(err))
        self.report({"INFO"}, "asking the aware3d worker; the answer appears in the aware3d panel")
        return {"FINISHED"}


class AWARE3D_OT_random_seed(bpy.types.Operator):
    """Pick a random seed"""

    bl_idname = "aware3d.random_seed"
    bl_label = "Random seed"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    def execute(self, context):
        context.scene.aware3d.seed = random.randrange(0, 2**31 - 1)
        return {"FINISHED"}


class AWARE3D_OT_camera_from_pose(bpy.types.Operator):
    """Place the active camera (created if missing) at the panel's pose, framing the aware3d asset"""

    bl_idname = "aware3d.camera_from_pose"
    bl_label = "Set camera to pose"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    def execute(self, context):
        settings = context.scene.aware3d
        try:
            world, scale, center, spec = runtime.asset_frame(context)
            radius = settings.radius or spec["radius"]
            vertical = camera.vertical_fov(settings.fov or spec["fov"], spec["convention"])
        except (ValueError, KeyError) as err:
            return _fail(self, context, f"cannot place the camera: {err}")
        rotation = spec.get("rotation")
        local = camera.pose_to_matrix(settings.yaw, settings.pitch, radius, camera.rotate(rotation, spec["pivot"]), scale,
                                      camera.rotate(rotation, center), camera.rotate(rotation, _orbit(spec)))
        scene = context.scene
        if scene.camera is None:
            data = bpy.data.cameras.new("aware3d camera")
            scene.camera = bpy.data.objects.new("aware3d camera", data)
            scene.collection.objects.link(scene.camera)
        cam = scene.camera
        cam.matrix_world = mathutils.Matrix(world) @ mathutils.Matrix(local)
        cam.data.sensor_fit = "VERTICAL"
        cam.data.angle_y = math.radians(vertical)
        cam.data.clip_start = min(cam.data.clip_start, 0.01)
        return {"FINISHED"}


class AWARE3D_OT_pose_from_camera(bpy.types.Operator):
    """Read yaw, pitch, distance and fov from the active camera"""

    bl_idname = "aware3d.pose_from_camera"
    bl_label = "Pose from camera"
    bl_options = {"REGISTER", "UNDO"}  # noqa: RUF012 (Blender reads a set)

    @classmethod
    def poll(cls, context):
        return context.scene.camera is not None and context.scene.camera.type == "CAMERA"

    def execute(self, context):
        settings = context.scene.aware3d
        cam = context.scene.camera
        data = cam.data
        vertical = data.angle_y if data.sensor_fit == "VERTICAL" else data.angle
        try:
            world, scale, center, spec = runtime.asset_frame(context)
            fov = camera.model_fov(math.degrees(vertical), spec["convention"])
        except (ValueError, KeyError) as err:
            return _fail(self, context, f"cannot read the pose: {err}")
        local = mathutils.Matrix(world).inverted() @ cam.matrix_world
        rotation = spec.get("rotation")
        yaw, pitch, radius = camera.matrix_to_pose([list(row) for row in local], camera.rotate(rotation, _orbit(spec)), scale,
                                                   camera.rotate(rotation, center))
        limit = math.radians(89)
        settings.yaw, settings.pitch = yaw, max(-limit, min(limit, pitch))
        settings.radius, settings.fov = radius, fov
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
