"""Runtime state shared by operators and panels: the worker client, the jobs in flight, and the
timer tick that applies worker events to Blender on the main thread.

The tick is a plain function so headless tests (where ``bpy.app.timers`` never fire) can call it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import bpy

from . import worker

DEMO_SPEC = {"convention": "pigan", "radius": 1.5, "fov": 14.0, "pivot": [0.0, 0.0, 0.0], "metres_per_unit": 1.0}
"""The demo model's camera (aware3d.models.demo.CAMERA), used before the worker has said otherwise."""

PREVIEW_IMAGE = "aware3d preview"


@dataclass
class Job:
    """A request in flight and what to do with its answer."""

    kind: str  # preview | import | batch | ping
    scene: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class State:
    client: worker.WorkerClient | None = None
    command: list[str] | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=lambda: {"demo": dict(DEMO_SPEC)})
    last_result: dict[str, Any] | None = None


state = State()


def addon_prefs(context=None):
    """This add-on's preferences."""
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


def output_dir(context=None) -> str:
    """Where previews and GLBs go: the preference, else the extension's user directory."""
    prefs = addon_prefs(context)
    folder = bpy.path.abspath(prefs.output_dir) if prefs.output_dir else bpy.utils.extension_path_user(__package__, path="output", create=True)
    os.makedirs(folder, exist_ok=True)
    return folder


def client(context=None) -> worker.WorkerClient:
    """The worker client for the interpreter in the preferences; a new one if that changed or it died."""
    command = worker.worker_command(addon_prefs(context).python_path)
    if state.client is None or state.command != command:
        stop_worker()
        state.client, state.command = worker.WorkerClient(command), command
    return state.client


def stop_worker() -> None:
    """Stop the worker (on unregister, restart, or a change of interpreter)."""
    if state.client is not None:
        state.client.stop()
    state.client, state.command = None, None
    state.jobs.clear()


def submit(context, kind: str, method: str, params: dict[str, Any]) -> str:
    """Send a request for the scene in ``context`` and mark the panel busy."""
    settings = context.scene.aware3d
    worker_client = client(context)
    starting = not worker_client.alive
    request_id = worker_client.request(method, params)
    state.jobs[request_id] = Job(kind=kind, scene=context.scene.name, params=params)
    settings.busy, settings.progress, settings.last_error = True, 0.0, ""
    settings.status = f"{kind}: starting the worker…" if starting else f"{kind}: working…"
    settings.request_id = request_id
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.1, persistent=True)
    return request_id


def _redraw() -> None:
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "IMAGE_EDITOR"):
                area.tag_redraw()


def tick() -> float:
    """Drain worker events and apply them (main thread only). Returns the next timer interval."""
    if state.client is None:
        return 1.0
    for event in state.client.poll():
        job = state.jobs.get(str(event.get("id")))
        if job is None:
            continue
        scene = bpy.data.scenes.get(job.scene) or bpy.context.scene
        settings = scene.aware3d
        kind = event.get("event")
        if kind == "progress":
            total = float(event.get("total") or 1)
            settings.progress = max(0.0, min(1.0, float(event.get("done", 0)) / total))
            settings.status = f"{job.kind}: {event.get('stage')} {settings.progress:.0%}"
            continue
        del state.jobs[str(event["id"])]
        if not state.jobs:
            settings.busy = False
        if kind == "error":
            settings.progress = 0.0
            settings.last_error = event.get("message", "unknown error")
            settings.status = "cancelled" if event.get("kind") == "Cancelled" else f"{job.kind} failed"
            continue
        try:
            _apply_result(scene, job, event.get("result") or {})
        except (RuntimeError, OSError, ValueError) as err:  # a bad file from the worker: show it, keep going
            settings.last_error = f"could not use the worker's result: {err}"
            settings.status = f"{job.kind} failed"
    _redraw()
    return 0.1 if state.jobs else 0.5


def _apply_result(scene, job: Job, result: dict[str, Any]) -> None:
    settings = scene.aware3d
    state.last_result = result
    if "spec" in result and "family" in result:
        state.specs[result["family"]] = result["spec"]
    settings.progress = 1.0
    if job.kind == "preview":
        image = show_preview(scene, result["path"])
        settings.status = f"preview: {image.size[0]}×{image.size[1]} image"
    elif job.kind == "import":
        objects = import_glb(scene, result["path"], f"{result['family']}_seed{result['seed']}")
        faces = result["stats"]["num_faces"]
        settings.status = f"imported {objects[0].name if objects else 'nothing'} ({faces} faces)"
    elif job.kind == "batch":
        failed = len(result.get("failures", {}))
        settings.status = f"batch: {result['written']} written, {result['skipped']} already done, {failed} failed"
        if failed:
            settings.last_error = "; ".join(f"seed {k}: {v}" for k, v in result["failures"].items())
    elif job.kind == "ping":
        settings.status = f"worker ready: aware3d {result.get('aware3d')}, torch {result.get('torch')}, CUDA {'yes' if result.get('cuda') else 'no'}"


def show_preview(scene, path: str):
    """Load the preview PNG into one ``bpy.data.images`` entry (replacing the last), show it in
    every open Image Editor and as the active camera's background."""
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is None:
        image = bpy.data.images.load(path, check_existing=False)
        image.name = PREVIEW_IMAGE
    else:
        image.filepath = path
        image.reload()
    image.pack()  # keep it with the .blend even if the output folder is cleaned
    for window in getattr(bpy.context.window_manager, "windows", []):
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.spaces.active.image = image
    if scene.camera is not None and scene.camera.type == "CAMERA":
        data = scene.camera.data
        background = data.background_images[0] if len(data.background_images) else data.background_images.new()
        background.image = image
        background.display_depth = "BACK"
        data.show_background_images = True
    return image


def import_glb(scene, path: str, name: str) -> list:
    """Import a GLB into a new collection ``name`` at the 3D cursor; returns the new root objects."""
    before = set(bpy.data.objects)
    with bpy.context.temp_override(scene=scene):
        result = bpy.ops.import_scene.gltf(filepath=path)
    if "FINISHED" not in result:
        raise RuntimeError(f"Blender's glTF importer could not read {path}")
    created = [o for o in bpy.data.objects if o not in before]
    collection = bpy.data.collections.new(name)
    scene.collection.children.link(collection)
    for obj in created:
        for owner in list(obj.users_collection):
            owner.objects.unlink(obj)
        collection.objects.link(obj)
    roots = [o for o in created if o.parent is None]
    for obj in roots:
        obj.location = obj.location + scene.cursor.location
        obj["aware3d_glb"] = path
    return roots


def asset_frame(context) -> tuple[list[list[float]], float, tuple[float, float, float], dict[str, Any]]:
    """The world matrix, scale and centre of the aware3d asset the camera should frame (the active
    object if it is one, else the last imported one), plus the model's camera spec."""
    candidates = [context.active_object] + sorted(
        (o for o in context.scene.objects if "aware3d_version" in o), key=lambda o: o.name, reverse=True
    )
    asset = next((o for o in candidates if o is not None and "aware3d_version" in o), None)
    family = asset.get("family", "demo") if asset is not None else _settings_family(context)
    spec = state.specs.get(family, DEMO_SPEC)
    if asset is None:
        identity = [[float(i == j) for j in range(4)] for i in range(4)]
        return identity, float(spec.get("metres_per_unit", 1.0)), (0.0, 0.0, 0.0), spec
    center = tuple(float(c) for c in asset.get("center", (0.0, 0.0, 0.0)))
    return [list(row) for row in asset.matrix_world], float(asset.get("scale", 1.0)), center, spec


def _settings_family(context) -> str:
    settings = context.scene.aware3d
    if settings.use_checkpoint:
        entry = addon_prefs(context).checkpoints.get(settings.checkpoint)
        if entry is not None and entry.family != "auto":
            return entry.family
    return "demo"


def request_params(context) -> dict[str, Any]:
    """The worker parameters that the panel's settings describe."""
    settings = context.scene.aware3d
    prefs = addon_prefs(context)
    params: dict[str, Any] = {
        "seed": settings.seed, "truncation": settings.truncation, "yaw": settings.yaw, "pitch": settings.pitch,
        "device": prefs.device, "resolution": int(settings.resolution), "texture_size": int(settings.texture_size),
        "material": settings.material,
    }
    if settings.fov > 0:
        params["fov"] = settings.fov
    if settings.radius > 0:
        params["radius"] = settings.radius
    if settings.use_checkpoint:
        entry = prefs.checkpoints.get(settings.checkpoint)
        if entry is None:
            raise ValueError("pick a checkpoint from the list in the add-on preferences")
        params["checkpoint"] = bpy.path.abspath(entry.path)
        if entry.family != "auto":
            params["model"] = entry.family
    else:
        params["model"] = "demo"
    return params
