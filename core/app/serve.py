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

from .errors import Aware3DError, InputError

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1


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
            try:
                request = json.loads(line)
                if not isinstance(request, dict) or "id" not in request or "method" not in request:
                    raise ValueError("a request is an object with 'id' and 'method'")
            except ValueError as err:
                self.send({"id": None, "event": "error", "kind": "ProtocolError", "message": f"bad request line: {err}", "traceback": ""})
                continue
            if request["method"] == "cancel":
                target = str((request.get("params") or {}).get("target"))
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
            self._handle(request_id, request["id"], request["method"], request.get("params") or {})
        return 0

    def _handle(self, request_id: str, raw_id: Any, method: str, params: dict[str, Any]) -> None:
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
            result = handler(params, progress)
            self.send({"id": raw_id, "event": "result", "result": result})
        except Exception as err:  # every failure becomes an error event; the worker keeps serving
            kind = type(err).__name__ if isinstance(err, (Aware3DError, Cancelled)) else "InternalError"
            self.send({"id": raw_id, "event": "error", "kind": kind, "message": str(err) or kind, "traceback": traceback.format_exc()})
        finally:
            self._cancelled.discard(request_id)

    # --- methods ------------------------------------------------------------------------------

    def _generator(self, params: dict[str, Any]):
        from . import load_generator

        key = (params.get("model"), params.get("checkpoint"), params.get("device", "auto"), params.get("ema", "ema"))
        if key not in self._generators:
            self._generators[key] = load_generator(params.get("checkpoint") or None, params.get("model") or None, key[2], ema=key[3])
        return self._generators[key]

    def _ping(self, params: dict[str, Any], progress) -> dict[str, Any]:
        import torch

        from . import __version__

        return {"aware3d": __version__, "protocol": PROTOCOL_VERSION, "python": sys.version.split()[0],
                "torch": torch.__version__, "cuda": torch.cuda.is_available()}

    def _models(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .models import FAMILIES

        return {"families": [{"family": s.name, "title": s.title, "loads": s.implemented, "files": s.files, "licence": s.licence} for s in FAMILIES.values()]}

    def _pose(self, params: dict[str, Any]):
        from .cameras import Pose

        return Pose(yaw=float(params.get("yaw", 0.0)), pitch=float(params.get("pitch", 0.0)),
                    radius=params.get("radius"), fov=params.get("fov"))

    def _preview(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .cameras import pose_to_camera
        from .io import check_output_path, encode_png, write_atomic

        output = check_output_path(_required(params, "output"))
        size = int(params.get("size", 256))
        pose = self._pose(params)
        gen = self._generator(params)
        field = gen.field(seed=int(params.get("seed", 0)), truncation=float(params.get("truncation", 0.7)))
        image = gen.render(field, pose, size=size, progress=progress)
        write_atomic(output, encode_png(image))
        resolved = gen.camera.resolve(pose)
        camera = pose_to_camera(pose, gen.camera)
        return {"path": str(output), "width": size, "height": size, "family": gen.family, "spec": _spec(gen, field),
                "pose": {"yaw": resolved.yaw, "pitch": resolved.pitch, "radius": resolved.radius, "fov": resolved.fov},
                "camera": {"cam2world": camera.cam2world.tolist(), "fov_deg": camera.fov_deg,
                           "metres_per_unit": field.metres_per_unit}}

    def _export_options(self, params: dict[str, Any]) -> dict[str, Any]:
        keys = ("resolution", "texture_size", "level", "target_faces", "material", "bake_mode", "view", "textured", "vertex_colors")
        return {k: params[k] for k in keys if params.get(k) is not None}

    def _generate(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .exporters import export_glb

        output = Path(_required(params, "output"))
        pose = self._pose(params)
        gen = self._generator(params)
        field = gen.field(seed=int(params.get("seed", 0)), truncation=float(params.get("truncation", 0.7)))
        metadata = {"pose": {"yaw": pose.yaw, "pitch": pose.pitch, "fov": gen.camera.resolve(pose).fov}}
        stats = export_glb(field, output, metadata=metadata, progress=progress, **self._export_options(params))
        return {"path": str(output), "family": gen.family, "seed": int(params.get("seed", 0)),
                "spec": _spec(gen, field), "stats": stats.to_dict()}

    def _batch(self, params: dict[str, Any], progress) -> dict[str, Any]:
        from .batch import parse_seeds, run_batch

        result = run_batch(
            _required(params, "folder"), parse_seeds(_required(params, "seeds")), model=params.get("model") or None,
            checkpoint=params.get("checkpoint") or None, truncation=float(params.get("truncation", 0.7)),
            device=params.get("device", "auto"), export_options=self._export_options(params), progress=progress,
            ema=params.get("ema", "ema"),
        )
        return {"manifest": str(result.manifest), "written": result.num_written, "skipped": result.num_skipped,
                "failures": {str(k): v for k, v in result.failures.items()}}


def _spec(gen, field) -> dict[str, Any]:
    """The model's camera, as the add-on needs it to sync Blender cameras with poses."""
    spec = gen.camera
    return {"convention": spec.convention, "radius": spec.radius, "fov": spec.fov, "pivot": list(spec.pivot),
            "metres_per_unit": field.metres_per_unit}


def _required(params: dict[str, Any], key: str) -> Any:
    if params.get(key) in (None, ""):
        raise InputError(f"the request needs a {key!r} parameter")
    return params[key]


def serve(stdin: IO[str] | None = None, stdout: IO[str] | None = None) -> int:
    """Run the worker on the process's stdin/stdout (or the given streams)."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="aware3d serve: %(message)s")
    return Worker(stdin or sys.stdin, stdout or sys.stdout).serve()
