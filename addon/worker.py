"""The client side of the aware3d worker protocol (``aware3d serve``, JSON lines over stdio).

Pure Python: no ``bpy``, no torch, so it can be tested anywhere. Reader threads only fill
queues; whoever owns Blender's main thread calls :meth:`WorkerClient.poll`.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

STDERR_LINES = 200
"""How much of the worker's stderr is kept for error messages (a bounded buffer: the pipe never fills)."""


def worker_command(interpreter: str) -> list[str]:
    """The command that starts the worker for the user's choice of interpreter or ``aware3d`` script.

    An empty choice means the ``aware3d`` command found on PATH.

    Raises:
        FileNotFoundError: with a message the panel can show.
    """
    choice = (interpreter or "").strip()
    if not choice:
        found = shutil.which("aware3d")
        if found is None:
            raise FileNotFoundError(
                "no 'aware3d' command on PATH; set the Python interpreter that has aware3d installed in the add-on preferences"
            )
        return [found, "serve"]
    path = Path(os.path.expanduser(choice))
    if not path.is_file():
        raise FileNotFoundError(f"the interpreter {path} does not exist; fix it in the add-on preferences")
    if path.name.startswith("aware3d"):
        return [str(path), "serve"]
    return [str(path), "-m", "aware3d", "serve"]


class WorkerClient:
    """One long-lived worker process and the requests sent to it."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None) -> None:
        self.command = command
        self.env = env
        self.process: subprocess.Popen | None = None
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.pending: dict[str, str] = {}  # request id -> method
        self._ids = itertools.count(1)
        self._died_reported = False

    @property
    def alive(self) -> bool:
        """Whether the worker process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the worker if it is not running (lazily, on the first request)."""
        if self.alive:
            return
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", bufsize=1, env=self.env,
        )
        self._died_reported = False
        threading.Thread(target=self._read_stdout, args=(self.process,), daemon=True, name="aware3d-stdout").start()
        threading.Thread(target=self._read_stderr, args=(self.process,), daemon=True, name="aware3d-stderr").start()

    def _read_stdout(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            try:
                self.events.put(json.loads(line))
            except ValueError:
                self.stderr.append(f"(unreadable worker output) {line.rstrip()}")

    def _read_stderr(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.stderr.append(line.rstrip())

    def request(self, method: str, params: dict[str, Any] | None = None) -> str:
        """Send a request and return its id; the answer arrives through :meth:`poll`."""
        self.start()
        request_id = str(next(self._ids))
        self.pending[request_id] = method
        try:
            self.process.stdin.write(json.dumps({"id": request_id, "method": method, "params": params or {}}) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the death is reported by poll(), with the stderr tail
        return request_id

    def cancel(self, request_id: str) -> None:
        """Ask the worker to stop ``request_id`` at its next progress step."""
        if self.alive and request_id in self.pending:
            self.request("cancel", {"target": request_id})

    def poll(self) -> list[dict[str, Any]]:
        """Events that arrived since the last call, oldest first.

        When the process has died with requests still pending, each gets a synthetic error event
        of kind ``WorkerDied`` carrying the tail of the worker's stderr.
        """
        events = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if event.get("event") in ("result", "error"):
                method = self.pending.pop(str(event.get("id")), None)
                if method == "cancel":
                    continue
                event["method"] = method
            events.append(event)
        if self.process is not None and not self.alive and self.events.empty() and not self._died_reported:
            self._died_reported = True
            tail = self.stderr_tail()
            for request_id, method in list(self.pending.items()):
                if method != "cancel":
                    events.append({"id": request_id, "event": "error", "kind": "WorkerDied", "method": method,
                                   "message": f"the aware3d worker stopped (exit code {self.process.returncode}){': ' + tail if tail else ''}",
                                   "traceback": "\n".join(self.stderr)})
            self.pending.clear()
        return events

    def stderr_tail(self, lines: int = 1) -> str:
        """The last lines the worker wrote to stderr."""
        return "\n".join(list(self.stderr)[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to shut down, then terminate it if it does not."""
        if self.process is None:
            return
        if self.alive:
            try:
                self.process.stdin.write(json.dumps({"id": "shutdown", "method": "shutdown"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.process.terminate()
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
        self.pending.clear()
