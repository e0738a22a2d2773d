"""Small helpers several test modules share: the worker's final answers, a GLB's asset extras."""

from __future__ import annotations

import io
import json
from pathlib import Path

from aware3d.app.serve import Worker


def serve_lines(lines: list[str]) -> dict:
    """Feed request lines to a worker; return each request's final event (result or error) by id."""
    stdout = io.StringIO()
    Worker(io.StringIO("".join(line + "\n" for line in lines)), stdout).serve()
    finals = {}
    for line in stdout.getvalue().splitlines():
        event = json.loads(line)
        if event["event"] != "progress":
            finals[event["id"]] = event
    return finals


def glb_extras(path: str | Path) -> dict:
    """The ``asset.extras`` of a GLB, as pygltflib reads them."""
    import pygltflib

    return pygltflib.GLTF2().load_binary(str(path)).asset.extras or {}
