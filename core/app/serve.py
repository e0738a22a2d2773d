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

import json
import logging
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import Aware3DError, InputError
from ..exporters import ExportSettings
from ..settings import SettingsError
from .settings import ModelSelection, PreviewSettings

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 2
"""2: params validated against the settings groups; family options in ``options``."""

_METHOD_KEYS: dict[str, tuple[str, ...]] = {
    "ping": (),
    "models": (),
    "shutdown": (),
    "cancel": ("target",),
    "preview": ModelSelection.keys() + PreviewSettings.keys() + ("output",),
    "generate": ModelSelection.keys() + PreviewSettings.keys() + ExportSettings.keys() + ("output", "preview"),
    "batch": ModelSelection.keys() + ("truncation",) + ExportSettings.keys() + ("folder", "seeds"),
}


def accepted_keys(method: str) -> frozenset[str]:
    """The params a method accepts (the add-on sends exactly these).

    Raises:
        InputError: for an unknown method.
    """
    if method not in _METHOD_KEYS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(_METHOD_KEYS)}")
    return frozenset(_METHOD_KEYS[method])


def _check_params(method: str, params: Any) -> dict[str, Any]:
    """``params`` if it is an object holding only keys ``method`` accepts, else a SettingsError."""
    if not isinstance(params, dict):
        raise SettingsError("params", f"params must be a JSON object, got {type(params).__name__}")
    allowed = accepted_keys(method)
    for key in params:
        if key not in allowed:
            raise SettingsError(str(key), f"unknown parameter {key!r} for {method}; accepted: {', '.join(sorted(allowed)) or 'none'}")
    return params


def _path_param(params: dict[str, Any], key: str, required: bool = True) -> Path | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise SettingsError(key, f"the request needs {key!r} as a non-empty path string, got {value!r}")
    return Path(value).expanduser()


class Cancelled(Exception):
    """The client cancelled the request."""


class Worker:
    """Serves requests from ``stdin`` until EOF or ``shutdown``; writes events to ``stdout``."""

    def __init__(self, stdin: IO[str], stdout: IO[str]) -> None:
        self._stdin, self._stdout = stdin, stdout
        self._lock = threading.Lock()
        self._jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._cancelled: set[str] = set()
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
        line = json.dumps(message, allow_nan=False, default=str)
        with self._lock:
            self._stdout.write(line + "\n")
            self._stdout.flush()

    def _read(self) -> None:
        """Reader thread: parse lines, act on ``cancel`` at once, queue everything else."""
        for line in self._stdin:
            line = line.strip()
            if not line:
                continue
            request: Any = None
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or "id" not in request or not isinstance(request.get("method"), str):
                    raise ValueError("a request is an object with 'id' and a string 'method'")
            except ValueError as err:
                raw_id = request.get("id") if isinstance(request, dict) else None
                self.send({"id": raw_id, "event": "error", "kind": "ProtocolError", "message": f"bad request line: {err}", "traceback": ""})
                continue
            if request["method"] == "cancel":
                params = request.get("params")
                target = str(params.get("target")) if isinstance(params, dict) else "None"
                self._cancelled.add(target)
                self.send({"id": request["id"], "event": "result", "result": {"cancelled": target}})
                continue
            self._jobs.put(request)
            if request["method"] == "shutdown":
                break
        self._jobs.put(None)

    def serve(self) -> int:
        """Run until EOF or ``shutdown``; returns the exit code."""
        threading.Thread(target=self._read, name="aware3d-serve-reader", daemon=True).start()
        while (request := self._jobs.get()) is not None:
            request_id = str(request["id"])
            if request["method"] == "shutdown":
                self.send({"id": request["id"], "event": "result", "result": {"shutdown": True}})
                break
            params = request.get("params")
            self._handle(request_id, request["id"], request["method"], {} if params is None else params)
        return 0

    def _handle(self, request_id: str, raw_id: Any, method: str, params: Any) -> None:
        def progress(stage: str, done: float, total: float) -> None:
            if request_id in self._cancelled:
                raise Cancelled(f"request {request_id} was cancelled")
            self.send({"id": raw_id, "event": "progress", "stage": stage, "done": done, "total": total})

        try:
            if request_id in self._cancelled:
                raise Cancelled(f"request {request_id} was cancelled")
            handler = self._methods.get(method)
            if handler is None:
                raise InputError(f"unknown method {method!r}; use one of {', '.join(self._methods)}")
            result = handler(_check_params(method, params), progress)
            self.send({"id": raw_id, "event": "result", "result": result})
        except SettingsError as err:
            self.send({"id": raw_id, "event": "error", "kind": "BadRequest", "key": err.key, "message": str(err),
                       "traceback": traceback.format_exc()})
        except Exception as err:  # every failure becomes an error event; the worker keeps serving
            kind = type(err).__name__ if isinstance(err, (Aware3DError, Cancelled)) else "InternalError"
            self.send({"id": raw_id, "event": "error", "kind": kind, "message": str(err) or kind, "traceback": traceback.format_exc()})
        finally:
            self._cancelled.discard(request_id)

    # --- methods ------------------------------------------------------------------------------

    def _generator(self, params: dict[str, Any]):
        from .. import load_generator

        selection = ModelSelection.from_mapping(params, ignore=tuple(params))
        key = json.dumps(selection.to_dict(), sort_keys=True)
        if key not in self._generators:
            self._generators[key] = load_generator(selection.checkpoint, selection.model, selection.device, **selection.options)
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
        from ..io import check_output_path, encode_png, write_atomic
        from .export import pose_of

        preview = PreviewSettings.from_mapping(params, ignore=tuple(params))
        output = check_output_path(_path_param(params, "output"))
        pose = pose_of(preview)
        gen = self._generator(params)
        field = gen.field(seed=preview.seed, truncation=preview.truncation)
        image = gen.render(field, pose, size=preview.size, progress=progress)
        write_atomic(output, encode_png(image))
        resolved = gen.camera.resolve(pose)
        camera = pose_to_camera(pose, gen.camera)
        return {"path": str(output), "width": preview.size, "height": preview.size, "family": gen.family, "spec": _spec(gen),
                "pose": {"yaw": resolved.yaw, "pitch": resolved.pitch, "radius": resolved.radius, "fov": resolved.fov},
                "camera": {"cam2world": camera.cam2world.tolist(), "fov_deg": camera.fov_deg,
                           "metres_per_unit": _spec(gen)["metres_per_unit"]}}

    def _generate(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .export import generate_asset

        preview = PreviewSettings.from_mapping(params, ignore=tuple(params))
        export = ExportSettings.from_mapping(params, ignore=tuple(params))
        output = _path_param(params, "output")
        preview_path = _path_param(params, "preview", required=False)
        gen = self._generator(params)
        result = generate_asset(gen, preview, export, output, preview_path, progress=progress)
        return {"path": str(output), "preview": None if preview_path is None else str(preview_path), "family": gen.family,
                "seed": preview.seed, "spec": _spec(gen),
                "stats": result.stats.to_dict()}

    def _batch(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .batch import parse_seeds, run_batch

        selection = ModelSelection.from_mapping(params, ignore=tuple(params))
        truncation = PreviewSettings.from_mapping({k: params[k] for k in ("truncation",) if k in params}).truncation
        export = ExportSettings.from_mapping(params, ignore=tuple(params))
        seeds = params.get("seeds")
        if not isinstance(seeds, str):
            raise SettingsError("seeds", f"seeds must be a string such as '0-9' or '1,5,9', got {seeds!r}")
        result = run_batch(_path_param(params, "folder"), parse_seeds(seeds), selection, truncation, export, progress=progress)
        return {"manifest": str(result.manifest), "written": result.num_written, "skipped": result.num_skipped,
                "failures": {str(k): v for k, v in result.failures.items()}}


def _spec(gen) -> dict[str, Any]:
    """The model's camera and scale, as the add-on needs them to sync Blender cameras with poses."""
    from ..models import get_family

    return {**gen.camera.to_dict(), "metres_per_unit": get_family(gen.family).frame.metres_per_unit}


def serve(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run the worker on the process's stdin/stdout (or the given streams)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="aware3d serve: %(message)s")
    return Worker(stdin or sys.stdin, stdout or sys.stdout).serve()
