"""The Blender extension, end to end: built zip installed into headless bpy 4.5, operators driven
through a real ``aware3d serve`` worker, the timer tick called directly (timers never fire headless)."""

from __future__ import annotations

import ast
import importlib.util
import math
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import aware3d
from aware3d.app import serve
from aware3d.app.settings import EngineSettings, ModelSelection, PreviewSettings
from aware3d.cameras import EG3D_CONVENTION, PIGAN_CONVENTION, CameraSpec, Pose, pose_to_blender_camera
from aware3d.exporters import ExportSettings
from aware3d.fields import WorldFrame
from aware3d.models import FAMILIES, get_family

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "addon"
MODULE = "bl_ext.user_default.aware3d"


def _load_pure(name: str):
    """Import an add-on module that needs no bpy (camera.py, worker.py) straight from the source."""
    spec = importlib.util.spec_from_file_location(f"aware3d_addon_{name}", ADDON / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- pure parts, no Blender needed ----------------------------------------------------------


def test_addon_imports_neither_torch_nor_aware3d():
    for path in ADDON.glob("*.py"):
        imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", path.read_text(), re.MULTILINE)
        assert not [m for m in imports if m.split(".")[0] in ("torch", "aware3d", "numpy")], path
        assert "bl_info" not in path.read_text(), path


EG3D_LIKE = CameraSpec(EG3D_CONVENTION, radius=2.7, fov=18.837, pivot=(0.0, 0.0, 0.2), orbit_centre=(0.0, 0.0, 0.0))
GRAF_LIKE = CameraSpec(PIGAN_CONVENTION, radius=10.5, fov=10.0, pivot=(0.0, 0.0, 0.1),
                       rotation=tuple(map(tuple, WorldFrame("z", 0.09, facing=(0.6, 0.8, 0.0)).rotation().tolist())))


@pytest.mark.parametrize("kind", ["demo", "eg3d", "graf"])
@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (0.5, -0.2), (-1.3, 0.7), (2.9, -1.2)])
def test_addon_camera_matches_the_core(yaw, pitch, kind):
    """The add-on places cameras as the core does: EG3D's orbit around the origin aimed at its pivot,
    and GRAF's z-up world turned to face +z, included."""
    camera = _load_pure("camera")
    spec = {"eg3d": EG3D_LIKE, "graf": GRAF_LIKE}.get(kind) or aware3d.load_generator(family="demo", device="cpu").camera
    sent = spec.to_dict()
    rotation = sent["rotation"]
    scale, center = 1.3, (0.01, -0.02, 0.005)
    pivot, orbit, moved = (camera.rotate(rotation, p) for p in (sent["pivot"], sent["orbit_centre"], center))
    ours = np.array(camera.pose_to_matrix(yaw, pitch, 1.4, pivot, scale, moved, orbit))
    core = pose_to_blender_camera(Pose(yaw, pitch, radius=1.4), spec, scale, center).matrix_world
    np.testing.assert_allclose(ours, core, atol=1e-9)
    assert camera.matrix_to_pose(ours.tolist(), orbit, scale, moved) == pytest.approx((yaw, pitch, 1.4))


def test_addon_knows_every_camera_convention_of_the_registry():
    """The worker names a convention in each result's spec; the add-on must map its fov as the core does."""
    camera = _load_pure("camera")
    conventions = {spec.convention.name: spec.convention for spec in FAMILIES.values()}
    assert len(conventions) >= 2  # one where fov is vertical, one where it is not
    for name, convention in conventions.items():
        for fov in (12.0, 18.837, 30.0):
            assert camera.vertical_fov(fov, name) == pytest.approx(convention.to_vertical_fov(fov)), name
            assert camera.model_fov(convention.to_vertical_fov(fov), name) == pytest.approx(fov), name
    with pytest.raises(ValueError, match="camera convention 'zzconvention'"):
        camera.vertical_fov(12.0, "zzconvention")


def _code_strings(path: Path) -> list[str]:
    """Every string literal of a module except docstrings (bare string expressions)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_addon_names_no_model_family():
    """Families reach the add-on only through the worker's answers (camera.py may name the camera
    conventions, which the core names after the papers that introduced them)."""
    assert "demo" in FAMILIES and len(FAMILIES) >= 3
    conventions = {spec.convention.name for spec in FAMILIES.values()}
    found, scanned = {}, 0
    for path in sorted(ADDON.glob("*.py")):
        strings = _code_strings(path)
        scanned += len(strings)
        for text in strings:
            named = {name for name in FAMILIES if re.search(rf"\b{re.escape(name)}\b", text, re.IGNORECASE)}
            if path.name == "camera.py":
                named -= conventions
            if named:
                found[f"{path.name}: {text!r}"] = named
    assert scanned > 100  # the scan sees the add-on's literals (item lists, messages, keys)
    assert not found, found


def test_worker_client_round_trip_and_death():
    worker = _load_pure("worker")
    client = worker.WorkerClient([sys.executable, "-m", "aware3d", "serve"])
    try:
        ping = client.request("ping")
        events = _wait(client, ping)
        assert events[-1]["event"] == "result" and events[-1]["result"]["protocol"] == serve.PROTOCOL_VERSION
        bad = client.request("preview", {"model": "nope", "output": "/tmp/x.png"})
        events = _wait(client, bad)
        assert events[-1]["event"] == "error" and events[-1]["kind"] == "BadRequest" and events[-1]["key"] == "model"
        lost = client.request("preview", {"model": "demo", "size": 256, "output": "/tmp/never.png"})
        client.process.kill()
        client.process.wait()
        events = _wait(client, lost)
        assert events[-1]["kind"] == "WorkerDied" and "stopped" in events[-1]["message"]
        again = client.request("ping")  # a fresh worker starts by itself
        assert _wait(client, again)[-1]["event"] == "result"
    finally:
        client.stop()
    assert not client.alive


def test_worker_command_choices(tmp_path):
    worker = _load_pure("worker")
    assert worker.worker_command(sys.executable) == [sys.executable, "-m", "aware3d", "serve"]
    script = tmp_path / "aware3d"
    script.write_text("#!/bin/sh\n")
    assert worker.worker_command(str(script)) == [str(script), "serve"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        worker.worker_command(str(tmp_path / "python9"))


def _wait(client, request_id, timeout=120.0):
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in client.poll():
            events.append(event)
            if str(event.get("id")) == request_id and event.get("event") in ("result", "error"):
                return events
        time.sleep(0.05)
    raise TimeoutError(f"no answer to request {request_id}")


# --- inside Blender ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blender(bpy_module, tmp_path_factory):
    """Build the zip with scripts/build_addon.py, install and enable it, point it at this Python."""
    bpy = bpy_module
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_addon
    finally:
        sys.path.pop(0)
    zip_path = build_addon.build(tmp_path_factory.mktemp("dist"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    result = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}
    runtime = importlib.import_module(f"{MODULE}.runtime")
    prefs = bpy.context.preferences.addons[MODULE].preferences
    prefs.python_path = sys.executable
    prefs.device = "cpu"
    prefs.output_dir = str(tmp_path_factory.mktemp("out"))
    yield bpy, runtime
    runtime.stop_worker()


def _drive(bpy, runtime, timeout=180.0):
    """Call the timer tick until the request in flight is done, as Blender's timer would."""
    settings = bpy.context.scene.aware3d
    deadline = time.monotonic() + timeout
    while settings.busy:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the add-on is still busy: {settings.status}")
        runtime.tick()
        time.sleep(0.05)
    return settings


def _fresh_scene(bpy):
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    for collection in list(bpy.data.collections):
        bpy.data.collections.remove(collection)
    settings = bpy.context.scene.aware3d
    settings.use_checkpoint, settings.last_error, settings.status = False, "", ""
    settings.resolution, settings.texture_size = "128", "256"
    settings.model_name, settings.auto_level, settings.save_preview = "", True, False
    settings.radius, settings.fov = 0.0, 0.0
    return settings


def test_extension_is_installed_and_registered(blender):
    bpy, runtime = blender
    assert MODULE in bpy.context.preferences.addons
    assert hasattr(bpy.types, "AWARE3D_PT_main") and bpy.types.AWARE3D_PT_main.bl_category == "aware3d"
    assert hasattr(bpy.context.scene, "aware3d")
    assert type(runtime.addon_prefs()).bl_idname == MODULE
    assert hasattr(bpy.types, "AWARE3D_PT_advanced") and bpy.types.AWARE3D_PT_advanced.bl_parent_id == "AWARE3D_PT_main"
    # nothing about any family is built in: no family list, no camera, before the worker speaks
    assert runtime.state.families == [] and runtime.state.specs == {}


def test_test_connection_reports_versions(blender):
    bpy, runtime = blender
    _fresh_scene(bpy)
    runtime.state.families = []
    assert bpy.ops.aware3d.test_connection() == {"FINISHED"}
    settings = _drive(bpy, runtime)
    assert settings.status.startswith("worker ready: aware3d") and not settings.last_error
    # Test connection also fetched the family list, exactly as the registry has it
    assert [info["family"] for info in runtime.state.families] == list(FAMILIES)
    assert runtime.state.families == [spec.to_dict() for spec in FAMILIES.values()]


FAKE_MODELS = {"families": [
    {"family": "zzbuiltin", "title": "Throw-away built-in", "loads": True, "kind": "field", "builtin": True,
     "files": "", "licence": "MIT", "options": [], "convention": "pigan", "default_level": None, "up_axis": "y",
     "metres_per_unit": 1.0},
    {"family": "zzfamily", "title": "Throw-away family", "loads": True, "kind": "field", "builtin": False,
     "files": "zz.pth", "licence": "MIT", "convention": "pigan", "default_level": 10.0, "up_axis": "y", "metres_per_unit": 0.1,
     "options": [{"name": "zzopt", "choices": ["a", "b"], "default": "a", "help": "a throw-away option"}]},
]}


def _feed_models_answer(bpy, runtime, answer):
    """Deliver a ``models`` answer through the tick, the way the worker's own answer arrives."""
    client = runtime.client()
    runtime.state.jobs["fake-models"] = runtime.Job(kind="models", scene=bpy.context.scene.name)
    client.events.put({"id": "fake-models", "event": "result", "result": answer})
    runtime.tick()
    assert "fake-models" not in runtime.state.jobs


def test_family_choices_come_from_the_models_answer(blender, tmp_path):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    properties = importlib.import_module(f"{MODULE}.properties")
    prefs = runtime.addon_prefs()
    entry = prefs.checkpoints.add()
    entry.name, entry.path = "zz", str(tmp_path / "zz.pth")
    saved = list(runtime.state.families)
    real_checkpoint_family = next(name for name, spec in FAMILIES.items() if not spec.builtin)
    try:
        _feed_models_answer(bpy, runtime, FAKE_MODELS)
        assert [item[0] for item in properties.checkpoint_family_items(entry, bpy.context)] == ["auto", "zzfamily"]
        assert [item[0] for item in properties.builtin_model_items(settings, bpy.context)] == ["zzbuiltin"]
        assert entry.family == "auto" and settings.model == "zzbuiltin"  # before any choice
        assert runtime.request_params(bpy.context, "preview")["model"] == "zzbuiltin"
        with pytest.raises(TypeError):  # a family the worker did not list is no choice
            entry.family = real_checkpoint_family
        entry.family, entry.options = "zzfamily", "zzopt=b"
        assert entry.family == "zzfamily" and entry.family_name == "zzfamily"
        settings.use_checkpoint, settings.checkpoint = True, "zz"
        params = runtime.request_params(bpy.context, "generate")
        assert params["model"] == "zzfamily" and params["options"] == {"zzopt": "b"}
        assert params["checkpoint"] == str(tmp_path / "zz.pth")
        entry.options = "zzopt=c"
        with pytest.raises(ValueError, match="must be one of a, b"):
            runtime.request_params(bpy.context, "generate")
        entry.options = "nosuch=a"
        with pytest.raises(ValueError, match="takes no option 'nosuch'"):
            runtime.request_params(bpy.context, "generate")
        # a stored choice outlives a worker that does not list it (it stays offered, by name)
        runtime.state.families = []
        assert [item[0] for item in properties.checkpoint_family_items(entry, bpy.context)] == ["auto", "zzfamily"]
        assert entry.family == "zzfamily"
        with pytest.raises(ValueError, match="no list of named families"):
            runtime.receive_models({"families": [{"title": "nameless"}]})
    finally:
        runtime.state.families = saved
        prefs.checkpoints.remove(len(prefs.checkpoints) - 1)
        _fresh_scene(bpy)


@pytest.mark.parametrize("method", ["preview", "generate", "batch"])
def test_request_keys_are_the_worker_accepted_keys(blender, tmp_path, method):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    assert runtime.state.families, "test_test_connection_reports_versions fills the family list"
    builtin = runtime.request_params(bpy.context, method)
    assert set(builtin) == serve.accepted_keys(method)
    assert builtin["model"] == runtime.state.families[0]["family"] and builtin["checkpoint"] is None
    prefs = runtime.addon_prefs()
    entry = prefs.checkpoints.add()
    entry.name, entry.path = "keys", str(tmp_path / "generator.pth")
    try:
        settings.use_checkpoint, settings.checkpoint = True, "keys"
        settings.auto_level, settings.level, settings.radius, settings.fov, settings.save_preview = False, 0.5, 2.0, 12.0, True
        checkpoint = runtime.request_params(bpy.context, method)
    finally:
        prefs.checkpoints.remove(len(prefs.checkpoints) - 1)
    assert set(checkpoint) == serve.accepted_keys(method)
    assert checkpoint["model"] is None and checkpoint["checkpoint"] == str(tmp_path / "generator.pth")
    for params, defaults in ((builtin, True), (checkpoint, False)):
        # the worker's own settings groups accept every value (types and ranges)
        ModelSelection.from_mapping(params, ignore=tuple(params))
        if method != "batch":
            PreviewSettings.from_mapping(params, ignore=tuple(params))
            assert (params["radius"], params["fov"]) == ((None, None) if defaults else (2.0, 12.0))
        if method != "preview":
            export = ExportSettings.from_mapping(params, ignore=tuple(params))
            assert export.level == (None if defaults else 0.5)
            assert export.coarse_resolution == 32 and export.target_faces == 50_000
        if method == "generate":
            assert (params["preview"] is None) == defaults and params["output"].endswith(".glb")
        if method == "batch":
            assert EngineSettings.from_mapping(params, ignore=tuple(params)).engine == "local"


def test_the_batch_engine_preference_reaches_the_worker(blender):
    """Preferences -> Batch engine Ray, an address, workers and GPUs become the batch request's engine settings."""
    bpy, runtime = blender
    _fresh_scene(bpy)
    prefs = runtime.addon_prefs()
    prefs.batch_engine, prefs.ray_address, prefs.ray_workers, prefs.ray_gpus_per_worker = "ray", " ray://head:10001 ", 4, 0.5
    try:
        params = runtime.request_params(bpy.context, "batch")
        prefs.ray_address, prefs.ray_workers = "", 0
        defaults = runtime.request_params(bpy.context, "batch")
    finally:
        prefs.batch_engine, prefs.ray_address, prefs.ray_workers, prefs.ray_gpus_per_worker = "local", "", 0, 0.0
    engine = EngineSettings.from_mapping(params, ignore=tuple(params))
    assert (engine.engine, engine.address, engine.workers, engine.gpus_per_worker) == ("ray", "ray://head:10001", 4, 0.5)
    engine = EngineSettings.from_mapping(defaults, ignore=tuple(defaults))
    assert (engine.engine, engine.address, engine.workers) == ("ray", None, None)  # start Ray here, as many workers as fit


def test_bake_views_and_fidelity_reach_the_worker_and_the_status(blender):
    """The panel's view bake and fidelity settings become export settings; the import status shows
    the level, how it was chosen and the fidelity figures."""
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    settings.bake_mode, settings.measure_fidelity, settings.preview_size = "views", True, 2048
    try:
        export = ExportSettings.from_mapping(params := runtime.request_params(bpy.context, "generate"), ignore=tuple(params))
    finally:
        settings.bake_mode, settings.measure_fidelity, settings.preview_size = "surface", False, 256
    assert (export.bake_mode, export.fidelity, export.fidelity_poses, export.fidelity_size) == ("views", True, 5, 1024)
    assert export.uv_report
    stats = {"num_faces": 1200, "level": 7.5123, "level_source": "auto",
             "fidelity": {"iou": 0.9712, "depth_mm": 0.84, "psnr_db": 31.27}}
    assert runtime.import_summary("eg3d_seed3", stats) == (
        "imported eg3d_seed3 (1200 faces, level 7.512 auto); vs the model's previews: IoU 0.971, depth 0.84 mm, PSNR 31.3 dB")
    layout = {"num_charts": 7, "front_charts": 1, "seam_length_m": 1.7647, "utilisation": 0.7317}
    assert runtime.import_summary("demo_seed7", {**stats, "fidelity": None, "uv_layout": layout}).endswith(
        "; UVs: 7 charts, the face in one, 1.76 m of seams, 73% of the texture used")
    assert runtime.import_summary("demo_seed7", {**stats, "fidelity": None, "level_source": "model"}) == (
        "imported demo_seed7 (1200 faces, level 7.512 model)")


def test_first_use_asks_for_the_models_then_sends_the_request(blender):
    """With no family list yet, Preview sends ``models`` first and the preview once it is answered."""
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    runtime.state.families = []
    settings.preview_size = 16
    assert bpy.ops.aware3d.preview() == {"FINISHED"}
    assert [(job.kind, job.then) for job in runtime.state.jobs.values()] == [("models", ("preview", "preview"))]
    _drive(bpy, runtime)
    assert not settings.last_error and settings.status.startswith("preview"), (settings.status, settings.last_error)
    first_builtin = next(name for name, spec in FAMILIES.items() if spec.builtin)
    assert runtime.state.last_result["family"] == first_builtin
    assert [info["family"] for info in runtime.state.families] == list(FAMILIES)


def test_cancel_while_asking_for_the_models_sends_nothing_after(blender):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    runtime.state.families, runtime.state.last_result = [], None
    assert bpy.ops.aware3d.preview() == {"FINISHED"}
    assert bpy.ops.aware3d.cancel() == {"FINISHED"}
    _drive(bpy, runtime)
    assert settings.status == "cancelled" and runtime.state.last_result is None
    assert not runtime.state.jobs


def test_a_started_worker_is_asked_for_its_models(blender):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    runtime.stop_worker()
    runtime.state.families = []
    settings.model_name = next(name for name, spec in FAMILIES.items() if spec.builtin)  # needs no list
    settings.preview_size = 16
    assert bpy.ops.aware3d.preview() == {"FINISHED"}
    assert sorted(job.kind for job in runtime.state.jobs.values()) == ["models", "preview"]
    _drive(bpy, runtime)
    assert not settings.last_error and settings.status.startswith("preview")
    assert [info["family"] for info in runtime.state.families] == list(FAMILIES)


def test_camera_defaults_come_from_the_worker(blender):
    """No camera is built in: Set camera to pose needs the spec the worker sends with a result."""
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    runtime.state.specs.clear()
    settings.yaw, settings.pitch = 0.3, 0.1
    with pytest.raises(RuntimeError, match="not known yet"):
        bpy.ops.aware3d.camera_from_pose()
    assert "not known yet" in settings.last_error
    settings.preview_size, settings.last_error = 16, ""
    bpy.ops.aware3d.preview()
    _drive(bpy, runtime)
    family = runtime.state.last_result["family"]
    gen = aware3d.load_generator(family=family, device="cpu")
    metres = get_family(family).frame.metres_per_unit
    assert runtime.state.specs == {family: {**gen.camera.to_dict(), "metres_per_unit": metres}}
    assert bpy.ops.aware3d.camera_from_pose() == {"FINISHED"}
    cam = bpy.context.scene.camera
    expected = pose_to_blender_camera(Pose(0.3, 0.1), gen.camera, metres, (0.0, 0.0, 0.0)).matrix_world
    np.testing.assert_allclose(np.array(cam.matrix_world), expected, atol=1e-5)
    assert math.degrees(cam.data.angle_y) == pytest.approx(gen.camera.convention.to_vertical_fov(gen.camera.fov))


def test_preview_lands_in_images_editor_and_camera_background(blender):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    data = bpy.data.cameras.new("cam")
    bpy.context.scene.camera = bpy.data.objects.new("cam", data)
    bpy.context.scene.collection.objects.link(bpy.context.scene.camera)
    area = next(a for a in bpy.context.window.screen.areas if a.type == "OUTLINER")
    area.type = "IMAGE_EDITOR"
    settings.seed, settings.yaw, settings.preview_size = 1, 0.4, 48
    assert bpy.ops.aware3d.preview() == {"FINISHED"}
    assert not bpy.ops.aware3d.preview.poll()  # greyed out while busy
    _drive(bpy, runtime)
    assert not settings.last_error, settings.last_error
    image = bpy.data.images[runtime.PREVIEW_IMAGE]
    assert tuple(image.size) == (48, 48)
    assert area.spaces.active.image == image
    assert data.show_background_images and data.background_images[0].image == image
    pixels = np.array(image.pixels[:]).reshape(48, 48, 4)
    assert pixels[..., :3].std() > 0.05  # a picture, not a blank
    settings.preview_size = 32
    bpy.ops.aware3d.preview()
    _drive(bpy, runtime)
    assert tuple(bpy.data.images[runtime.PREVIEW_IMAGE].size) == (32, 32)
    assert len([i for i in bpy.data.images if i.name.startswith(runtime.PREVIEW_IMAGE)]) == 1  # replaced


@pytest.fixture(scope="module")
def imported(blender):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    bpy.context.scene.cursor.location = (0.3, 0.2, 0.1)
    settings.seed, settings.yaw, settings.pitch = 7, 0.0, 0.0
    assert getattr(bpy.ops.aware3d, "import")() == {"FINISHED"}
    _drive(bpy, runtime)
    assert not settings.last_error, settings.last_error
    return bpy.data.collections["demo_seed7"].objects[0]


def test_import_creates_a_textured_object_with_metadata(blender, imported):
    bpy, _ = blender
    obj = imported
    assert obj.type == "MESH" and len(obj.data.polygons) > 1000
    assert tuple(round(c, 6) for c in obj.location) == (0.3, 0.2, 0.1)  # at the 3D cursor
    assert obj["family"] == "demo" and obj["seed"] == 7 and obj["resolution"] == 128
    nodes = obj.active_material.node_tree.nodes
    images = [n.image for n in nodes if n.type == "TEX_IMAGE"]
    assert images and images[0].size[0] == 256
    assert "imported" in bpy.context.scene.aware3d.status
    # the model's camera travels with the object, so poses work in a later session too
    spec = aware3d.load_generator(family="demo", device="cpu").camera
    assert obj["aware3d_spec"].to_dict() == {**spec.to_dict(), "metres_per_unit": get_family("demo").frame.metres_per_unit}


def test_camera_set_from_pose_reads_back_and_matches_the_core(blender, imported):
    bpy, _ = blender
    settings = bpy.context.scene.aware3d
    bpy.context.view_layer.objects.active = imported
    settings.yaw, settings.pitch, settings.fov, settings.radius = 0.5, -0.2, 0.0, 0.0
    assert bpy.ops.aware3d.camera_from_pose() == {"FINISHED"}
    cam = bpy.context.scene.camera
    spec = aware3d.load_generator(family="demo", device="cpu").camera
    expected = pose_to_blender_camera(Pose(0.5, -0.2), spec, imported["scale"], tuple(imported["center"])).matrix_world
    expected[:3, 3] += np.array(imported.location)
    np.testing.assert_allclose(np.array(cam.matrix_world), expected, atol=1e-5)
    assert math.degrees(cam.data.angle_y) == pytest.approx(spec.fov)
    settings.yaw, settings.pitch = 0.0, 0.0
    assert bpy.ops.aware3d.pose_from_camera() == {"FINISHED"}
    assert (settings.yaw, settings.pitch, settings.radius, settings.fov) == pytest.approx((0.5, -0.2, spec.radius, spec.fov), abs=1e-5)


def test_blender_render_overlaps_the_core_preview(blender, imported, tmp_path):
    """The silhouette of the imported mesh seen from the camera set to a pose covers the core's."""
    bpy, _ = blender
    settings = bpy.context.scene.aware3d
    bpy.context.view_layer.objects.active = imported
    settings.yaw, settings.pitch, settings.fov, settings.radius = -0.6, 0.15, 0.0, 0.0
    bpy.ops.aware3d.camera_from_pose()
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "FLAT"
    scene.display.shading.color_type = "TEXTURE"
    scene.render.resolution_x = scene.render.resolution_y = 96
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.image_settings.color_mode = "RGBA"
    out = ROOT / "tests" / "_artifacts"
    out.mkdir(exist_ok=True)
    scene.render.filepath = str(out / "blender_import_render.png")
    bpy.ops.render.render(write_still=True)
    from PIL import Image

    blender_alpha = np.asarray(Image.open(scene.render.filepath))[..., 3] > 127
    gen = aware3d.load_generator(family="demo", device="cpu")
    core = gen.render_result(gen.field(seed=7), Pose(-0.6, 0.15), size=96).alpha.numpy() > 0.5
    iou = (blender_alpha & core).sum() / (blender_alpha | core).sum()
    assert iou >= 0.9, iou


def test_batch_export_from_the_panel(blender, tmp_path):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    settings.batch_seeds, settings.batch_folder = "0-1", str(tmp_path)
    settings.resolution, settings.texture_size = "128", "256"
    assert bpy.ops.aware3d.batch() == {"FINISHED"}
    _drive(bpy, runtime)
    assert re.fullmatch(r"batch: 2 written, 0 already done, 0 failed in \d+ s", settings.status), settings.status
    assert (tmp_path / "demo_seed0.glb").exists() and (tmp_path / "manifest.json").exists()


def test_cancel_stops_a_running_batch(blender, tmp_path):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    settings.batch_seeds, settings.batch_folder = "0-50", str(tmp_path)
    bpy.ops.aware3d.batch()
    deadline = time.monotonic() + 120
    while settings.progress == 0.0 and time.monotonic() < deadline:  # wait for the first progress event
        runtime.tick()
        time.sleep(0.05)
    assert bpy.ops.aware3d.cancel() == {"FINISHED"}
    _drive(bpy, runtime)
    assert settings.status == "cancelled" and "cancelled" in settings.last_error
    assert len(list(tmp_path.glob("*.glb"))) < 51


def test_crashed_worker_is_reported_and_restarted(blender):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    settings.preview_size = 16
    bpy.ops.aware3d.preview()
    runtime.state.client.process.kill()
    _drive(bpy, runtime)
    assert "worker stopped" in settings.last_error and not settings.busy
    bpy.ops.aware3d.preview()  # the next request starts a fresh worker
    _drive(bpy, runtime)
    assert not settings.last_error and settings.status.startswith("preview")


def test_bad_checkpoint_path_shows_an_error_and_imports_nothing(blender, tmp_path):
    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    prefs = runtime.addon_prefs()
    entry = prefs.checkpoints.add()
    entry.name, entry.path = "missing", str(tmp_path / "generator.pth")
    settings.use_checkpoint, settings.checkpoint = True, "missing"
    objects_before = len(bpy.data.objects)
    getattr(bpy.ops.aware3d, "import")()
    _drive(bpy, runtime)
    assert "not found" in settings.last_error and settings.status == "import failed"
    assert len(bpy.data.objects) == objects_before


def test_eg3d_asset_and_camera_sync_follow_eg3d_camera(blender, tmp_path):
    """An EG3D asset imported from the panel: the camera orbits EG3D's origin, aims at its pivot and
    takes EG3D's fov (fov_deg 18.837 with normalised intrinsics), as the core places it."""
    from eg3d_official import make_generator, save_snapshot

    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    path = tmp_path / "ffhq512-128.pkl"
    save_snapshot(path, make_generator("ffhq512-128", sr_width_scale=0.25))
    entry = runtime.addon_prefs().checkpoints.add()
    entry.name, entry.path = "eg3d small", str(path)
    settings.use_checkpoint, settings.checkpoint = True, "eg3d small"
    settings.seed, settings.yaw, settings.pitch = 2, 0.0, 0.0
    assert getattr(bpy.ops.aware3d, "import")() == {"FINISHED"}
    _drive(bpy, runtime)
    assert not settings.last_error, settings.last_error
    obj = bpy.data.collections["eg3d_seed2"].objects[0]
    assert obj["family"] == "eg3d" and obj["aware3d_spec"]["convention"] == "eg3d"
    bpy.context.view_layer.objects.active = obj
    settings.yaw, settings.pitch = 0.4, -0.1
    assert bpy.ops.aware3d.camera_from_pose() == {"FINISHED"}
    gen = aware3d.load_generator(path, device="cpu")
    expected = pose_to_blender_camera(Pose(0.4, -0.1), gen.camera, obj["scale"], tuple(obj["center"])).matrix_world
    expected[:3, 3] += np.array(obj.location)
    cam = bpy.context.scene.camera
    np.testing.assert_allclose(np.array(cam.matrix_world), expected, atol=1e-5)
    assert math.degrees(cam.data.angle_y) == pytest.approx(EG3D_CONVENTION.to_vertical_fov(18.837))
    settings.yaw = settings.pitch = 0.0
    assert bpy.ops.aware3d.pose_from_camera() == {"FINISHED"}
    assert (settings.yaw, settings.pitch, settings.radius, settings.fov) == pytest.approx((0.4, -0.1, 2.7, 18.837), abs=1e-4)


def test_image_to_relief_imports_the_lifted_image(blender, tmp_path):
    """Image → relief with an Unsup3d checkpoint: from an image file, and from an image made in
    Blender (saved to a PNG first); the relief is imported, named after the image."""
    from unsup3d_official import face_image, make_networks, save_checkpoint, save_png

    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    path = save_checkpoint(tmp_path / "pretrained_celeba" / "checkpoint030.pth", make_networks(seed=2))
    entry = runtime.addon_prefs().checkpoints.add()
    entry.name, entry.path = "unsup3d small", str(path)
    settings.use_checkpoint, settings.checkpoint = True, "unsup3d small"
    settings.lift_image = str(save_png(tmp_path / "anna.png", face_image(80)))
    try:
        params = runtime.lift_params(bpy.context, settings.lift_image)
        assert set(params) <= serve.accepted_keys("generate") and params["image"] == settings.lift_image
        ExportSettings.from_mapping(params, ignore=tuple(params))  # the worker accepts them
        assert bpy.ops.aware3d.lift_image() == {"FINISHED"}
        _drive(bpy, runtime)
        assert not settings.last_error, settings.last_error
        assert settings.status.startswith("imported") and settings.status.endswith("faces, a relief)"), settings.status
        obj = bpy.data.collections["unsup3d_anna"].objects[0]
        assert obj["family"] == "unsup3d" and obj.data.materials[0].node_tree is not None

        made = bpy.data.images.new("painted face", 72, 72)  # an image that exists only in Blender
        pixels = np.concatenate([face_image(72), np.ones((72, 72, 1), np.float32)], axis=2)[::-1]  # Blender rows go up
        made.pixels.foreach_set(pixels.ravel())
        saved = runtime.image_file(made, str(tmp_path / "lifted"))
        assert Path(saved).is_file() and runtime.image_file(bpy.data.images.load(settings.lift_image), str(tmp_path)) == settings.lift_image
        settings.lift_image = ""
        real_editor_image = runtime.editor_image
        runtime.editor_image = lambda context: None  # no Image Editor showing an image
        try:
            with pytest.raises(ValueError, match="open one in an Image Editor"):
                runtime.start_lift(bpy.context)
        finally:
            runtime.editor_image = real_editor_image
    finally:
        runtime.addon_prefs().checkpoints.remove(len(runtime.addon_prefs().checkpoints) - 1)
        settings.lift_image, settings.use_checkpoint = "", False
    settings.lift_image = str(tmp_path / "anna.png")
    with pytest.raises(RuntimeError, match="needs a checkpoint of a model that lifts images"):  # reported as an error
        bpy.ops.aware3d.lift_image()  # no checkpoint picked: one sentence, nothing sent
    assert "needs a checkpoint of a model that lifts images" in settings.last_error and not settings.busy


def test_a_relief_model_that_samples_seeds_imports_and_previews(blender, tmp_path):
    """Import and Preview with a LiftedGAN checkpoint: seeds become reliefs, previews are the
    relief ray-cast, and a pose behind it is one sentence in the status."""
    from liftedgan_official import make_models, save_release

    bpy, runtime = blender
    settings = _fresh_scene(bpy)
    files = save_release(tmp_path / "ffhq_256", make_models(seed=2, mlp_dim=64, face=True))
    entry = runtime.addon_prefs().checkpoints.add()
    entry.name, entry.path = "liftedgan small", str(files["checkpoint"])
    settings.use_checkpoint, settings.checkpoint = True, "liftedgan small"
    settings.seed, settings.yaw, settings.pitch, settings.preview_size = 2, 0.3, 0.0, 48
    try:
        assert getattr(bpy.ops.aware3d, "import")() == {"FINISHED"}
        _drive(bpy, runtime)
        assert not settings.last_error, settings.last_error
        assert settings.status.endswith("faces, a relief)"), settings.status
        obj = bpy.data.collections["liftedgan_seed2"].objects[0]
        assert obj["family"] == "liftedgan" and obj["seed"] == 2 and len(obj.data.polygons) > 1000
        bpy.ops.aware3d.preview()
        _drive(bpy, runtime)
        assert not settings.last_error, settings.last_error
        pixels = np.array(bpy.data.images[runtime.PREVIEW_IMAGE].pixels[:]).reshape(48, 48, 4)
        assert pixels[..., :3].std() > 0.05
        settings.yaw = 3.0
        bpy.ops.aware3d.preview()
        _drive(bpy, runtime)
        assert "a relief is a frontal height field" in settings.last_error
    finally:
        runtime.addon_prefs().checkpoints.remove(len(runtime.addon_prefs().checkpoints) - 1)
        settings.use_checkpoint, settings.yaw = False, 0.0
