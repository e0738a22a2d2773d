"""Runtime state shared by operators and panels: the worker client, the jobs in flight, what the
worker told us about its models, and the timer tick that applies worker events to Blender on the
main thread.

The tick is a plain function so headless tests (where ``bpy.app.timers`` never fire) can call it.

The add-on names no model family. What it knows about families comes from the worker:

* The ``models`` answer (every registered family with its title, files, options, camera
  convention, ...) is cached in ``state.families`` by :func:`receive_models`. The add-on asks for
  it on Test connection and whenever it starts a worker (the ``models`` request goes first, so
  the list is fresh before that worker's first result).
* First run: before any answer the cache is empty, so the built-in model choice offers nothing
  and the panel says so. Pressing Preview, Import or Batch with "Use checkpoint" off then sends
  ``models`` first and sends the request itself when the answer arrives, using the built-in
  model the user chose or else the worker's first built-in family. A checkpoint whose family is
  "Detect" needs no list (the request carries ``model: null``).
* Camera defaults (radius, fov, pivot, convention, metres per unit) come from the ``spec`` of
  preview and generate results: kept per family in ``state.specs``, and stored on imported
  objects as ``aware3d_spec`` so they outlive this Blender session.

Request parameters are built by :func:`request_params`, one key set per method, always complete:
a setting left at "the model's own" is sent as ``null``.
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bpy

from . import worker

PREVIEW_IMAGE = "aware3d preview"

AUTO_FAMILY = "auto"
"""A checkpoint entry's family choice that lets the worker detect the family from the file."""

SPEC_PROPERTY = "aware3d_spec"
"""Custom property of imported objects that holds the model's camera spec (a dict)."""


class ModelsNotListed(ValueError):
    """The request needs the worker's list of families (the built-in model), which has not arrived."""


@dataclass
class Job:
    """A request in flight and what to do with its answer."""

    kind: str  # preview | import | batch | ping | models
    scene: str
    params: dict[str, Any] = field(default_factory=dict)
    then: tuple[str, str] | None = None
    """For a ``models`` request sent on behalf of a user's request: (kind, method) to send next."""
    cancelled: bool = False
    """The user cancelled before ``then`` was sent."""


@dataclass
class State:
    client: worker.WorkerClient | None = None
    command: list[str] | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    families: list[dict[str, Any]] = field(default_factory=list)
    """The worker's last ``models`` answer (its ``families`` list, in the worker's order)."""
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Family name -> camera spec, from the last preview/generate result for that family."""
    checkpoint_families: dict[str, str] = field(default_factory=dict)
    """Checkpoint path -> the family the worker loaded it as (resolves "Detect")."""
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


# --- what the worker said about its families ------------------------------------------------


def receive_models(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """Cache the worker's ``models`` answer; every family list in the add-on reads this cache.

    Args:
        answer: ``{"families": [{"family": name, "builtin": bool, "options": [...], ...}, ...]}``.

    Raises:
        ValueError: when the answer has no list of named families (the cache is left as it was).
    """
    families = answer.get("families") if isinstance(answer, dict) else None
    if not isinstance(families, list) or not all(
        isinstance(info, dict) and isinstance(info.get("family"), str) and info["family"] for info in families
    ):
        raise ValueError("the worker's models answer has no list of named families")
    state.families = [dict(info) for info in families]
    return state.families


def listed_families(builtin: bool | None = None) -> list[dict[str, Any]]:
    """The cached families, all of them or only the built-in (or only the checkpoint) ones."""
    return [info for info in state.families if builtin is None or bool(info.get("builtin")) == builtin]


def family_info(name: str | None) -> dict[str, Any] | None:
    """The cached description of family ``name``, or None when the worker has not listed it."""
    return next((info for info in state.families if info["family"] == name), None)


def selected_builtin(settings) -> str | None:
    """The built-in model to use: the user's choice, else the worker's first built-in family."""
    if settings.model_name:
        return settings.model_name
    listed = listed_families(builtin=True)
    return listed[0]["family"] if listed else None


def selected_family(context) -> str | None:
    """The family the panel's settings point at, where it is known (None: not yet)."""
    settings = context.scene.aware3d
    if not settings.use_checkpoint:
        return selected_builtin(settings)
    entry = addon_prefs(context).checkpoints.get(settings.checkpoint)
    if entry is None:
        return None
    if entry.family_name and entry.family_name != AUTO_FAMILY:
        return entry.family_name
    return state.checkpoint_families.get(bpy.path.abspath(entry.path))


def parse_options(text: str, family: str | None = None) -> dict[str, str]:
    """Parse a checkpoint entry's options, ``"ema=none, name=value"``, into the request's dict.

    When the worker has listed ``family``, names and values are checked against its options.

    Raises:
        ValueError: for a malformed pair, a repeated name, or (for a listed family) an option it
            does not take or a value outside its choices.
    """
    options: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = (s.strip() for s in part.partition("="))
        if not sep or not name or not value:
            raise ValueError(f"checkpoint options are name=value pairs separated by commas (e.g. ema=none), got {part.strip()!r}")
        if name in options:
            raise ValueError(f"the checkpoint option {name!r} is given twice")
        options[name] = value
    info = family_info(family)
    if info is not None:
        known = {option["name"]: option for option in info.get("options") or []}
        for name, value in options.items():
            if name not in known:
                raise ValueError(f"the {family} family takes no option {name!r} (it takes: {', '.join(known) or 'no options'})")
            choices = known[name].get("choices") or []
            if choices and value not in choices:
                raise ValueError(f"the option {name} must be one of {', '.join(choices)}, got {value!r}")
    return options


# --- request parameters ---------------------------------------------------------------------


def _model_params(context) -> dict[str, Any]:
    settings = context.scene.aware3d
    prefs = addon_prefs(context)
    if not settings.use_checkpoint:
        model = selected_builtin(settings)
        if model is None:
            raise ModelsNotListed("the worker has not listed its built-in models yet; press Test connection in the add-on preferences")
        return {"model": model, "checkpoint": None, "device": prefs.device, "options": {}}
    entry = prefs.checkpoints.get(settings.checkpoint)
    if entry is None:
        raise ValueError("pick a checkpoint from the list in the add-on preferences")
    if not entry.path:
        raise ValueError(f"the checkpoint {entry.name!r} has no file; set its path in the add-on preferences")
    model = entry.family_name if entry.family_name and entry.family_name != AUTO_FAMILY else None
    return {"model": model, "checkpoint": bpy.path.abspath(entry.path), "device": prefs.device,
            "options": parse_options(entry.options, model)}


FIDELITY_POSES = 5
MAX_FIDELITY_SIZE = 1024
"""The fidelity measure compares five previews at the panel's preview size (at most 1024 px)."""


def _identity_params(settings) -> dict[str, Any]:
    return {"seed": int(settings.seed), "truncation": float(settings.truncation)}


def _pose_params(settings) -> dict[str, Any]:
    return {
        "yaw": float(settings.yaw), "pitch": float(settings.pitch),
        "radius": float(settings.radius) if settings.radius > 0 else None,  # 0: the model's own
        "fov": float(settings.fov) if settings.fov > 0 else None,
        "size": int(settings.preview_size),
    }


def _export_params(settings) -> dict[str, Any]:
    return {
        "resolution": int(settings.resolution), "coarse_resolution": int(settings.coarse_resolution),
        "texture_size": int(settings.texture_size),
        "level": None if settings.auto_level else float(settings.level),  # None: the family's own
        "target_faces": int(settings.target_faces), "material": settings.material,
        "bake_mode": settings.bake_mode, "view": settings.view,
        "textured": bool(settings.textured), "vertex_colors": bool(settings.vertex_colors),
        "fidelity": bool(settings.measure_fidelity) and bool(settings.textured), "fidelity_poses": FIDELITY_POSES,
        "fidelity_size": min(int(settings.preview_size), MAX_FIDELITY_SIZE),
        "uv_report": bool(settings.measure_fidelity) and bool(settings.textured),
    }


def _asset_label(context, model: str | None) -> str:
    settings = context.scene.aware3d
    return bpy.path.clean_name(settings.checkpoint) if settings.use_checkpoint else bpy.path.clean_name(model or "model")


def import_summary(name: str, stats: dict[str, Any]) -> str:
    """The status line after an import: faces, the level and how it was chosen, and the fidelity
    and UV atlas figures when measured."""
    if stats.get("level_source") == "relief":
        return f"imported {name} ({stats['num_faces']} faces, a relief)"
    line = f"imported {name} ({stats['num_faces']} faces, level {stats['level']:.4g} {stats.get('level_source', '')})"
    fidelity = stats.get("fidelity")
    if fidelity:
        figures = [f"IoU {fidelity['iou']:.3f}"]
        figures += [f"depth {fidelity['depth_mm']:.2f} mm"] if fidelity.get("depth_mm") is not None else []
        figures += [f"PSNR {fidelity['psnr_db']:.1f} dB"] if fidelity.get("psnr_db") is not None else []
        line += "; vs the model's previews: " + ", ".join(figures)
    layout = stats.get("uv_layout")
    if layout:
        face = "the face in one" if layout["front_charts"] == 1 else f"the face across {layout['front_charts']}"
        line += (f"; UVs: {layout['num_charts']} charts, {face}, {layout['seam_length_m']:.2f} m of seams, "
                 f"{layout['utilisation']:.0%} of the texture used")
    return line


def request_params(context, method: str) -> dict[str, Any]:
    """The worker parameters of ``method`` that the panel's settings describe: every key the
    worker accepts for it, no other (``null`` where a setting is left at the model's own).

    Raises:
        ModelsNotListed: the built-in model is needed and the worker has not listed its models.
        ValueError: for a missing checkpoint, malformed checkpoint options or an unknown method.
    """
    settings = context.scene.aware3d
    if method not in ("preview", "generate", "batch"):
        raise ValueError(f"the add-on sends no parameters for method {method!r}")
    params = _model_params(context)
    if method == "batch":
        folder = bpy.path.abspath(settings.batch_folder) if settings.batch_folder else os.path.join(output_dir(context), "batch")
        return {**params, "truncation": float(settings.truncation), **_export_params(settings), **_engine_params(context),
                "folder": folder, "seeds": settings.batch_seeds, "images": None, "fit_settings": True}
    params.update(_identity_params(settings))
    params.update(_pose_params(settings))
    params["image"] = None  # the seed-based actions; Image → relief sends its image (lift_params)
    if method == "preview":
        params["output"] = os.path.join(output_dir(context), f"preview_seed{settings.seed}.png")
        return params
    params.update(_export_params(settings))
    params["fit_settings"] = True  # the panel offers every setting for every model: a relief takes those it honours
    stem = os.path.join(output_dir(context), f"{_asset_label(context, params['model'])}_seed{settings.seed}_{settings.resolution}")
    params["output"] = stem + ".glb"
    params["preview"] = stem + ".png" if settings.save_preview else None
    return params


def _engine_params(context) -> dict[str, Any]:
    """Where the worker runs a batch (the preferences): itself, or Ray actors."""
    prefs = addon_prefs(context)
    if prefs.batch_engine != "ray":
        return {"engine": "local", "address": None, "workers": None, "cpus_per_worker": 1.0, "gpus_per_worker": 0.0}
    return {"engine": "ray", "address": prefs.ray_address.strip() or None, "workers": prefs.ray_workers or None,
            "cpus_per_worker": 1.0, "gpus_per_worker": float(prefs.ray_gpus_per_worker)}


# --- the worker -----------------------------------------------------------------------------


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


def submit(context, kind: str, method: str, params: dict[str, Any], then: tuple[str, str] | None = None) -> str:
    """Send a request for the scene in ``context`` and mark the panel busy.

    A worker started for this request is first asked for its ``models`` (quietly: the answer only
    refreshes the family cache).
    """
    settings = context.scene.aware3d
    worker_client = client(context)
    starting = not worker_client.alive
    if starting and method != "models":
        models_id = worker_client.request("models", {})
        state.jobs[models_id] = Job(kind="models", scene=context.scene.name)
    request_id = worker_client.request(method, params)
    state.jobs[request_id] = Job(kind=kind, scene=context.scene.name, params=params, then=then)
    label = then[0] if then else kind
    settings.busy, settings.progress, settings.last_error = True, 0.0, ""
    if then:
        settings.status = f"{label}: asking the worker for its models…"
    else:
        settings.status = f"{label}: starting the worker…" if starting else f"{label}: working…"
    settings.request_id = request_id
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=0.1, persistent=True)
    return request_id


def editor_image(context):
    """The image shown in the first Image Editor of the window, or None."""
    screen = getattr(context, "screen", None)
    for area in screen.areas if screen is not None else ():
        if area.type == "IMAGE_EDITOR" and area.spaces.active.image is not None:
            return area.spaces.active.image
    return None


def image_file(image, folder: str) -> str:
    """A file holding ``image``: its own file when it is one, unchanged; otherwise (generated,
    packed or edited in Blender) a PNG written into ``folder``."""
    if image.source == "FILE" and image.filepath and not image.packed_file and not image.is_dirty:
        path = bpy.path.abspath(image.filepath)
        if os.path.isfile(path):
            return path
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"lift_{bpy.path.clean_name(image.name)}.png")
    image.save_render(path)
    return path


def lift_params(context, image_path: str) -> dict[str, Any]:
    """The ``generate`` parameters of Image → relief: the panel's checkpoint (a model that lifts
    images), ``image_path``, the texture size and material; the meshing settings of radiance
    fields keep their defaults, as a relief has its own pixel grid.

    Raises:
        ValueError: without a checkpoint or with a missing image file.
    """
    settings = context.scene.aware3d
    if not settings.use_checkpoint:
        raise ValueError("Image → relief needs a checkpoint of a model that lifts images: "
                         "register it in the add-on preferences and pick it")
    if not os.path.isfile(image_path):
        raise ValueError(f"the image {image_path} does not exist")
    params = _model_params(context)
    stem = os.path.join(output_dir(context), f"{_asset_label(context, params['model'])}_{bpy.path.clean_name(Path(image_path).stem)}")
    return {**params, "image": image_path, "output": stem + ".glb", "preview": None,
            "texture_size": int(settings.texture_size), "material": settings.material}


def start_lift(context) -> str:
    """Send Image → relief for the panel's image file, or the Image Editor's image.

    Raises:
        ValueError: when there is no image or no checkpoint (see :func:`lift_params`).
        OSError: when the worker cannot be started.
    """
    settings = context.scene.aware3d
    if settings.lift_image:
        path = bpy.path.abspath(settings.lift_image)
    else:
        image = editor_image(context)
        if image is None:
            raise ValueError("choose an image file for Image → relief, or open one in an Image Editor")
        path = image_file(image, os.path.join(output_dir(context), "lifted"))
    return submit(context, "import", "generate", lift_params(context, path))


def start_request(context, kind: str, method: str) -> str:
    """Send ``method`` with the panel's parameters; when the worker's family list is needed and
    not cached yet, send ``models`` first and ``method`` when its answer arrives.

    Raises:
        ValueError: for settings that make no request (see :func:`request_params`).
        OSError: when the worker cannot be started.
    """
    try:
        params = request_params(context, method)
    except ModelsNotListed:
        return submit(context, "models", "models", {}, then=(kind, method))
    return submit(context, kind, method, params)


def refresh_models(context) -> str:
    """Ask the worker for its families (the answer lands in ``state.families``)."""
    return submit(context, "models", "models", {})


def cancel(context) -> None:
    """Cancel the panel's request in flight (and what was to be sent after it)."""
    settings = context.scene.aware3d
    job = state.jobs.get(settings.request_id)
    if job is not None and job.then is not None:  # a models request sent ahead: drop what follows
        job.then, job.cancelled = None, True
    if state.client is not None:
        state.client.cancel(settings.request_id)


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
        request_id = str(event.get("id"))
        job = state.jobs.get(request_id)
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
        del state.jobs[request_id]
        if kind == "error":
            _apply_error(settings, job, event)
        else:
            try:
                _apply_result(scene, job, event.get("result") or {})
            except (RuntimeError, OSError, ValueError, TypeError) as err:  # a bad answer from the worker: show it, keep going
                settings.last_error = f"could not use the worker's result: {err}"
                settings.status = f"{job.then[0] if job.then else job.kind} failed"
            else:
                if job.then is not None:
                    _send_next(scene, job.then)
            if job.cancelled:
                settings.status, settings.last_error = "cancelled", "cancelled before it started"
        settings.busy = any(other.scene == job.scene for other in state.jobs.values())
    _redraw()
    return 0.1 if state.jobs else 0.5


def _apply_error(settings, job: Job, event: dict[str, Any]) -> None:
    message = event.get("message", "unknown error")
    if job.kind == "models" and job.then is None and not job.cancelled:  # the quiet refresh: keep the status line
        settings.last_error = f"the worker could not list its models: {message}"
        return
    settings.progress = 0.0
    settings.last_error = message
    label = job.then[0] if job.then else job.kind
    settings.status = "cancelled" if event.get("kind") == "Cancelled" else f"{label} failed"


def _send_next(scene, then: tuple[str, str]) -> None:
    """Send the request that waited for the ``models`` answer, with the settings as they are now."""
    kind, method = then
    context = types.SimpleNamespace(scene=scene, preferences=bpy.context.preferences)
    try:
        submit(context, kind, method, request_params(context, method))
    except ModelsNotListed:
        scene.aware3d.last_error = "the worker lists no built-in model; register a checkpoint in the add-on preferences"
        scene.aware3d.status = f"{kind} failed"
    except (ValueError, OSError) as err:
        scene.aware3d.last_error, scene.aware3d.status = str(err), f"{kind} failed"


def _apply_result(scene, job: Job, result: dict[str, Any]) -> None:
    settings = scene.aware3d
    if job.kind == "models":
        receive_models(result)
        return
    state.last_result = result
    family, spec = result.get("family"), result.get("spec")
    if isinstance(family, str) and isinstance(spec, dict):
        state.specs[family] = dict(spec)
        if job.params.get("checkpoint"):
            state.checkpoint_families[job.params["checkpoint"]] = family
    settings.progress = 1.0
    if job.kind == "preview":
        image = show_preview(scene, result["path"])
        settings.status = f"preview: {image.size[0]}×{image.size[1]} image"
    elif job.kind == "import":
        label = bpy.path.clean_name(Path(result["image"]).stem) if result.get("image") else f"seed{result['seed']}"
        objects = import_glb(scene, result["path"], f"{family}_{label}")
        if isinstance(spec, dict):
            for obj in objects:
                obj[SPEC_PROPERTY] = {k: v for k, v in spec.items() if v is not None}
        settings.status = import_summary(objects[0].name if objects else "nothing", result["stats"])
    elif job.kind == "batch":
        failed = len(result.get("failures", {}))
        settings.status = (f"batch: {result['written']} written, {result['skipped']} already done, {failed} failed"
                           f" in {result.get('seconds', 0):.0f} s")
        if failed:
            settings.last_error = "; ".join(f"seed {k}: {v}" for k, v in result["failures"].items())
    elif job.kind == "ping":
        settings.status = f"worker ready: aware3d {result.get('aware3d')}, torch {result.get('torch')}, CUDA {'yes' if result.get('cuda') else 'no'}"


def show_preview(scene, path: str):
    """Load the preview PNG into one ``bpy.data.images`` entry (replacing the last), show it in
    every open Image Editor and as the active camera's background."""
    old = bpy.data.images.get(PREVIEW_IMAGE)
    if old is not None:  # a packed image reloads its packed bytes, not the new file: replace it
        bpy.data.images.remove(old)
    image = bpy.data.images.load(path, check_existing=False)
    image.name = PREVIEW_IMAGE
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
    object if it is one, else the last imported one), plus the model's camera spec.

    Raises:
        ValueError: when the model's camera is not known yet (no result from the worker for it).
    """
    candidates = [context.active_object] + sorted(
        (o for o in context.scene.objects if "aware3d_version" in o), key=lambda o: o.name, reverse=True
    )
    asset = next((o for o in candidates if o is not None and "aware3d_version" in o), None)
    spec = camera_spec(context, asset)
    if asset is None:
        identity = [[float(i == j) for j in range(4)] for i in range(4)]
        return identity, float(spec.get("metres_per_unit", 1.0)), (0.0, 0.0, 0.0), spec
    center = tuple(float(c) for c in asset.get("center", (0.0, 0.0, 0.0)))
    return [list(row) for row in asset.matrix_world], float(asset.get("scale", 1.0)), center, spec


def camera_spec(context, asset=None) -> dict[str, Any]:
    """The camera spec (convention, radius, fov, pivot, metres_per_unit) of ``asset``'s model, or
    of the model the panel points at: stored on the asset at import, else the worker's last word.

    Raises:
        ValueError: when the worker has not sent a result for that model yet.
    """
    if asset is not None and SPEC_PROPERTY in asset:
        stored = asset[SPEC_PROPERTY]
        return stored.to_dict() if hasattr(stored, "to_dict") else dict(stored)
    family = asset.get("family") if asset is not None else selected_family(context)
    spec = state.specs.get(family) if family else None
    if spec is None:
        raise ValueError(f"the camera of the {family or 'chosen'} model is not known yet; press Preview once so the worker describes it")
    return spec
