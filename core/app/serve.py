"""``aware3d serve``: a JSON-lines worker on stdin/stdout, used by the Blender add-on.

Protocol (one JSON object per line, UTF-8):

* Request: ``{"id": "7", "method": "preview", "params": {...}}``. Methods: ``ping``, ``models``,
  ``preview``, ``generate``, ``batch``, ``cancel`` (params ``{"target": id}``) and ``shutdown``.
* For each request the worker sends zero or more progress events, then exactly one result or
  one error event:
  ``{"id": "7", "event": "progress", "stage": "render", "done": 3, "total": 10}``,
  ``{"id": "7", "event": "result", "result": {...}}``,
  ``{"id": "7", "event": "error", "kind": "InputError", "message": "...", "traceback": "..."}``.
  A cancelled request ends with an error of kind ``Cancelled``.
* Requests run one at a time, in order; ``cancel`` is honoured between chunks of work.
* Params are checked against the settings groups before any work starts: an unknown key, a
  value of the wrong type or out of range ends the request with an error of kind ``BadRequest``
  whose ``key`` names the parameter. :func:`accepted_keys` lists each method's keys.
* stdout carries nothing but protocol lines; logs go to stderr.
"""

from __future__ import annotations

import collections
import json
import logging
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import Aware3DError, CheckpointError, InputError
from ..exporters import ExportSettings
from ..exporters.pipeline import relief_part
from ..models import detect_family, get_family
from ..settings import SettingsError, short_repr
from .settings import EngineSettings, ModelSelection, PreviewSettings

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 2
"""2: params validated against the settings groups; family options in ``options``."""

_METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "ping": (),
    "models": (),
    "shutdown": (),
    "cancel": ("target",),
    "preview": ModelSelection.keys() + PreviewSettings.keys() + ("output", "image"),
    "generate": ModelSelection.keys() + PreviewSettings.keys() + ExportSettings.keys() + ("output", "preview", "image", "fit_settings"),
    "batch": ModelSelection.keys() + ("truncation",) + ExportSettings.keys() + EngineSettings.keys()
    + ("folder", "seeds", "images", "fit_settings"),
}


_FINISHED_REMEMBERED = 1000
"""Finished request ids kept, so that cancelling one says "already finished" rather than "unknown"."""


def _id_key(raw_id: Any) -> str:
    return str(raw_id)


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _fit_settings(params: dict[str, Any]) -> bool:
    """``fit_settings``: true when the export settings come from a panel that offers them all for
    every model (the add-on), so a relief takes only those it can honour; false (the default)
    refuses a field-only setting given to a relief, as the command line does."""
    value = params.get("fit_settings", False)
    if not isinstance(value, bool):
        raise SettingsError("fit_settings", f"fit_settings must be true or false, got {short_repr(value)}")
    return value


def _selected_family(selection: ModelSelection):
    """The registry entry of the model a selection names, or of the checkpoint it points at."""
    return get_family(selection.model if selection.model else detect_family(selection.checkpoint))


def accepted_keys(method: str) -> frozenset[str]:
    """The params a method accepts (the add-on sends exactly these).

    Raises:
        InputError: for an unknown method.
    """
    if method not in _METHOD_KEYS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(_METHOD_KEYS)}")
    return frozenset(_METHOD_KEYS[method])


def _check_params(method: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` if it holds only keys ``method`` accepts, else a SettingsError (``_parse`` made sure it is an object)."""
    allowed = accepted_keys(method)
    for key in params:
        if key not in allowed:
            raise SettingsError(str(key), f"unknown parameter {key!r} for {method}; accepted: {', '.join(sorted(allowed)) or 'none'}")
    return params


def _path_param(params: dict[str, Any], key: str, suffix: str, required: bool = True) -> Path | None:
    """The output file ``params[key]``, checked before any work: a writable place, the right kind of file.

    Only files ending in ``suffix`` are written, so no request can overwrite a checkpoint or any
    other file that is not an aware3d output.
    """
    from ..io import check_output_path

    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SettingsError(key, f"the request needs {key!r} as a non-empty path string, got {short_repr(value)}")
    try:
        return check_output_path(value, suffix)
    except InputError as err:
        raise SettingsError(key, f"{key}: {err}") from err


def _input_param(params: dict[str, Any], key: str) -> Path | None:
    """An optional input file ``params[key]``: null, or a non-empty path string (read, never written)."""
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SettingsError(key, f"{key} must be null or a non-empty file path string, got {short_repr(value)}")
    return Path(value).expanduser()


def _folder_param(params: dict[str, Any], key: str) -> Path:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise SettingsError(key, f"the request needs {key!r} as a non-empty folder path, got {short_repr(value)}")
    folder = Path(value).expanduser()
    if folder.exists() and not folder.is_dir():
        raise SettingsError(key, f"{key} {short_repr(str(folder))} is a file; give a folder")
    if not folder.parent.exists():
        raise SettingsError(key, f"the folder above {key} {short_repr(str(folder))} does not exist; create it first")
    return folder


class Cancelled(Exception):
    """The client cancelled the request."""


class Worker:
    """Serves requests from ``stdin`` until EOF or ``shutdown``; writes events to ``stdout``."""

    def __init__(self, stdin: IO[str], stdout: IO[str]) -> None:
        self._stdin, self._stdout = stdin, stdout
        self._lock = threading.Lock()
        self._jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._state = threading.Lock()  # guards the three below, shared by the reader and the runner
        self._pending: set[str] = set()
        self._cancelled: set[str] = set()
        self._finished: collections.deque[str] = collections.deque(maxlen=_FINISHED_REMEMBERED)
        self._generators: dict[tuple, Any] = {}
        self._methods: dict[str, Callable[[dict[str, Any], Callable], dict[str, Any]]] = {
            "ping": self._ping,
            "models": self._models,
            "preview": self._preview,
            "generate": self._generate,
            "batch": self._batch,
        }

    # --- transport ----------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        """Write one protocol line (thread-safe)."""
        try:
            line = json.dumps(message, allow_nan=False, default=str)
        except ValueError:  # a result holding NaN or infinity: say so rather than write invalid JSON
            line = json.dumps({"id": message.get("id"), "event": "error", "kind": "InternalError",
                               "message": "the result held a non-finite number", "traceback": ""})
        with self._lock:
            self._stdout.write(line + "\n")
            self._stdout.flush()

    def _read(self) -> None:
        """Reader thread: check each line, act on ``cancel`` at once, queue the rest in order."""
        for line in self._stdin:
            line = line.strip()
            if not line:
                continue
            request = self._parse(line)
            if request is None:
                continue  # already answered with a BadRequest
            if request["method"] == "cancel":
                self._cancel(request)
                continue
            with self._state:
                self._pending.add(_id_key(request["id"]))
            self._jobs.put(request)
            if request["method"] == "shutdown":
                break  # lines after shutdown are not read: the worker is exiting
        self._jobs.put(None)

    def _bad(self, raw_id: Any, key: str | None, message: str) -> None:
        self.send({"id": raw_id, "event": "error", "kind": "BadRequest", "key": key, "message": message, "traceback": ""})

    def _parse(self, line: str) -> dict[str, Any] | None:
        """The request on ``line`` if it is well formed; otherwise answer it with a BadRequest and return None."""
        try:
            request = json.loads(line)
        except ValueError as err:
            self._bad(None, None, f"not a JSON line ({err}); send one JSON object per line")
            return None
        if not isinstance(request, dict):
            self._bad(None, None, f"a request is a JSON object with 'id', 'method' and 'params', got {type(request).__name__}")
            return None
        raw_id = request.get("id")
        if "id" not in request or isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            self._bad(raw_id if _json_safe(raw_id) else None, "id", f"every request needs an 'id' that is a string or an integer, got {short_repr(raw_id)}")
            return None
        for key in request:
            if key not in ("id", "method", "params"):
                self._bad(raw_id, key, f"unknown request field {short_repr(key)}; a request has 'id', 'method' and 'params'")
                return None
        method = request.get("method")
        if not isinstance(method, str) or method not in _METHOD_KEYS:
            self._bad(raw_id, "method", f"unknown method {short_repr(method)}; use one of {', '.join(_METHOD_KEYS)}")
            return None
        if request.get("params") is None:
            request["params"] = {}
        if not isinstance(request["params"], dict):
            self._bad(raw_id, "params", f"params must be a JSON object, got {type(request['params']).__name__}")
            return None
        with self._state:
            busy = _id_key(raw_id) in self._pending
        if busy:
            self._bad(raw_id, "id", f"a request with id {short_repr(raw_id)} is already queued or running; use a new id")
            return None
        return request

    def _cancel(self, request: dict[str, Any]) -> None:
        """Mark a queued or running request cancelled; say so when there is no such request."""
        params = request["params"]
        unknown = [key for key in params if key != "target"]
        target = params.get("target")
        if unknown or isinstance(target, bool) or not isinstance(target, (str, int)):
            key = unknown[0] if unknown else "target"
            self._bad(request["id"], key, f"cancel takes one parameter, 'target': the id of a queued or running request, got {short_repr(params)}")
            return
        with self._state:
            key = _id_key(target)
            pending, finished = key in self._pending, key in self._finished
            if pending:
                self._cancelled.add(key)
        if pending:
            self.send({"id": request["id"], "event": "result", "result": {"cancelled": target}})
        elif finished:
            self._bad(request["id"], "target", f"request {short_repr(target)} has already finished; nothing to cancel")
        else:
            self._bad(request["id"], "target", f"no request {short_repr(target)} is queued or running")

    def serve(self) -> int:
        """Run until EOF or ``shutdown``; returns the exit code."""
        threading.Thread(target=self._read, name="aware3d-serve-reader", daemon=True).start()
        while (request := self._jobs.get()) is not None:
            if request["method"] == "shutdown":
                self.send({"id": request["id"], "event": "result", "result": {"shutdown": True}})
                break
            key = _id_key(request["id"])
            self._handle(key, request["id"], request["method"], request["params"])
            with self._state:
                self._pending.discard(key)
                self._cancelled.discard(key)
                self._finished.append(key)
        return 0

    def _handle(self, request_id: str, raw_id: Any, method: str, params: dict[str, Any]) -> None:
        def progress(stage: str, done: float, total: float) -> None:
            if request_id in self._cancelled:
                raise Cancelled(f"request {request_id} was cancelled")
            self.send({"id": raw_id, "event": "progress", "stage": stage, "done": done, "total": total})

        try:
            if request_id in self._cancelled:
                raise Cancelled(f"request {request_id} was cancelled before it started")
            result = self._methods[method](_check_params(method, params), progress)
            self.send({"id": raw_id, "event": "result", "result": result})
        except SettingsError as err:
            self.send({"id": raw_id, "event": "error", "kind": "BadRequest", "key": err.key, "message": str(err),
                       "traceback": traceback.format_exc()})
        except Exception as err:  # every failure becomes an error event; the worker keeps serving
            kind = type(err).__name__ if isinstance(err, (Aware3DError, Cancelled)) else "InternalError"
            self.send({"id": raw_id, "event": "error", "kind": kind, "message": str(err) or kind, "traceback": traceback.format_exc()})

    # --- methods ------------------------------------------------------------------------------

    def _generator(self, params: dict[str, Any]):
        from ..checkpoints import check_file
        from ..models import get_family

        selection = ModelSelection.from_mapping(params, ignore=tuple(params))
        if selection.model is None and selection.checkpoint is None:
            raise SettingsError("model", "the request needs 'model' (a family from `models`) or 'checkpoint'")
        try:
            if selection.model is not None:
                get_family(selection.model)
        except InputError as err:
            raise SettingsError("model", str(err)) from err
        try:
            if selection.checkpoint is not None:
                check_file(selection.checkpoint)
        except CheckpointError as err:
            raise SettingsError("checkpoint", str(err)) from err
        key = json.dumps(selection.to_dict(), sort_keys=True)
        if key not in self._generators:
            self._generators[key] = selection.load()
        return self._generators[key]

    def _ping(self, params: dict[str, Any], progress) -> dict[str, Any]:
        import torch

        from ..version import __version__

        return {"aware3d": __version__, "protocol": PROTOCOL_VERSION, "python": sys.version.split()[0],
                "torch": torch.__version__, "cuda": torch.cuda.is_available()}

    def _models(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from ..models import FAMILIES

        return {"families": [spec.to_dict() for spec in FAMILIES.values()]}

    def _preview(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from ..cameras import pose_to_camera
        from ..io import encode_png, write_atomic
        from .export import pose_of, render_preview

        preview = PreviewSettings.from_mapping(params, ignore=tuple(params))
        output = _path_param(params, "output", ".png")
        source = _input_param(params, "image")
        pose = pose_of(preview)
        gen = self._generator(params)
        image = render_preview(gen, preview, source, progress=progress)
        write_atomic(output, encode_png(image))
        resolved = gen.camera.resolve(pose)
        camera = pose_to_camera(pose, gen.camera)
        spec = _spec(gen)
        return {"path": str(output), "width": preview.size, "height": preview.size, "family": gen.family, "spec": spec,
                "pose": {"yaw": resolved.yaw, "pitch": resolved.pitch, "radius": resolved.radius, "fov": resolved.fov},
                "camera": {"cam2world": camera.cam2world.tolist(), "fov_deg": camera.fov_deg,
                           "metres_per_unit": spec["metres_per_unit"]}}

    def _generate(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .export import generate_asset

        preview = PreviewSettings.from_mapping(params, ignore=tuple(params))
        export = ExportSettings.from_mapping(params, ignore=tuple(params))
        output = _path_param(params, "output", ".glb")
        preview_path = _path_param(params, "preview", ".png", required=False)
        image = _input_param(params, "image")
        gen = self._generator(params)
        if _fit_settings(params) and gen.info.get("kind") == "relief":
            export = relief_part(export)
        result = generate_asset(gen, preview, export, output, preview_path, progress=progress, image=image)
        return {"path": str(output), "preview": None if preview_path is None else str(preview_path), "family": gen.family,
                "seed": preview.seed, "image": None if image is None else str(image), "spec": _spec(gen),
                "stats": result.stats.to_dict()}

    def _batch(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .batch import list_images, parse_seeds, run_batch

        selection = ModelSelection.from_mapping(params, ignore=tuple(params))
        truncation = PreviewSettings.from_mapping(params, ignore=tuple(params)).truncation  # batch accepts no other preview key
        export = ExportSettings.from_mapping(params, ignore=tuple(params))
        engine = EngineSettings.from_mapping(params, ignore=tuple(params))
        if _fit_settings(params) and _selected_family(selection).kind == "relief":
            export = relief_part(export)
        seeds, image_folder = params.get("seeds"), _input_param(params, "images")
        if image_folder is not None and seeds is None:
            seed_list, images = [], list_images(image_folder)
        else:
            if not isinstance(seeds, str):
                raise SettingsError("seeds", f"seeds must be a string such as '0-9' or '1,5,9' (or null with images), got {short_repr(seeds)}")
            if image_folder is not None:
                raise SettingsError("images", "give seeds or images, not both: a model samples seeds or lifts images")
            try:
                seed_list, images = parse_seeds(seeds), None
            except InputError as err:
                raise SettingsError("seeds", str(err)) from err
        folder = _folder_param(params, "folder")
        result = run_batch(folder, seed_list, selection, truncation, export, progress=progress, engine=engine, images=images)
        return {"manifest": str(result.manifest), "written": result.num_written, "skipped": result.num_skipped,
                "failures": {str(k): v for k, v in sorted(result.failures.items())}, "seconds": round(result.seconds, 2)}


def _spec(gen) -> dict[str, Any]:
    """The model's camera and scale, as the add-on needs them to sync Blender cameras with poses."""
    from ..models import get_family

    frame = gen.frame or get_family(gen.family).frame
    return {**gen.camera.to_dict(), "metres_per_unit": frame.metres_per_unit}


def serve(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run the worker on the process's stdin/stdout (or the given streams)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="aware3d serve: %(message)s")
    protocol = stdout or sys.stdout
    if stdout is None:  # stray prints (Ray's driver prints its workers' errors to sys.stdout) must not corrupt the protocol
        sys.stdout = sys.stderr
    return Worker(stdin or sys.stdin, protocol).serve()
