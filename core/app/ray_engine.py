"""The Ray batch engine: actors that each load the model once and export many identities.

Ray does the scheduling, placement and fault handling: an actor whose process dies is restarted
(its model loaded again) and the asset it was making is retried, at most ``ASSET_ATTEMPTS``
times in all; an asset that kills its worker every time is reported as failed and the batch goes
on. Each actor holds one asset at a time, so a dying worker only ever costs its own asset an
attempt. Results stream back to the driver (:func:`aware3d.app.batch.run_batch`) as they finish.
Workers write the GLBs themselves, so the output folder must be one every node sees at the same
path (the driver checks each file); the checkpoint must be readable at the same path on every node.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import Aware3DError, InputError
from ..exporters import ExportSettings
from .engine import AssetOutcome, Source, describe_generator, export_asset, worker_name
from .settings import EngineSettings, ModelSelection

logger = logging.getLogger(__name__)

ASSET_ATTEMPTS = 3
"""Times an asset is started before a worker that keeps dying on it is taken as the asset's fault."""

INSTALL_HINT = "the Ray engine needs Ray, which is not installed here: pip install 'aware3d[ray]'"


def import_ray() -> Any:
    """The ``ray`` module, or an InputError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(INSTALL_HINT) from None
    return ray


class ExportWorker:
    """What one Ray actor runs: the model, loaded once, and one asset at a time."""

    def __init__(self, selection: ModelSelection, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self._worker = worker_name("ray:")
        try:
            self._gen, self._error = selection.load(), None
        except Aware3DError as err:  # kept for describe(): Ray passes a method's exception on intact, a constructor's as text
            self._gen, self._error = None, err

    def describe(self) -> dict[str, Any]:
        if self._error is not None:
            raise self._error
        return describe_generator(self._gen)

    def export(self, source: Source, path: str, truncation: float, export: ExportSettings) -> AssetOutcome:
        return export_asset(self._gen, source, Path(path), truncation, export, self._worker)


class RayEngine:
    """Runs a batch on Ray actors (see the module docstring).

    Joins ``settings.address``, or the Ray instance this process already started (``ray.init``),
    or starts a local one and shuts it down when the batch ends. Starts as many actors as
    ``settings.workers`` asks (default: as many as the cluster holds), at most ``max_workers``,
    and returns once every one has loaded the model.
    """

    def __init__(self, selection: ModelSelection, settings: EngineSettings, max_workers: int) -> None:
        ray = self._ray = import_ray()
        self._owns_ray = not ray.is_initialized()
        self._actors: list[Any] = []
        if self._owns_ray:
            _join(ray, settings.address)
        elif settings.address:
            logger.warning("this process is already connected to Ray; the batch runs there, not at %s", settings.address)
        try:
            options = {"num_cpus": settings.cpus_per_worker, "num_gpus": settings.gpus_per_worker,
                       "max_restarts": -1, "max_task_retries": ASSET_ATTEMPTS - 1}
            actor_class = ray.remote(**options)(ExportWorker)
            threads, selection = max(1, int(settings.cpus_per_worker)), _absolute(selection)
            for _ in range(min(self._worker_slots(settings), max_workers)):
                self._actors.append(actor_class.remote(selection, threads))
            self._model = self._ready()
        except BaseException:
            self.close()
            raise

    def _worker_slots(self, settings: EngineSettings) -> int:
        """How many actors to run: as asked, or as many as the cluster's CPUs (and GPUs) hold."""
        resources = self._ray.cluster_resources()
        fits = int(resources.get("CPU", 0) // settings.cpus_per_worker)
        if settings.gpus_per_worker > 0:
            fits = min(fits, int(resources.get("GPU", 0) // settings.gpus_per_worker))
        if fits < 1:
            raise InputError(f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs, "
                             f"too few for one worker of {settings.cpus_per_worker:g} CPUs and {settings.gpus_per_worker:g} GPUs; "
                             "lower --cpus-per-worker / --gpus-per-worker or join a larger cluster")
        if settings.workers is not None and settings.workers > fits:
            logger.warning("the Ray cluster holds %d workers of this size now; the other %d wait until it grows",
                           fits, settings.workers - fits)
        return settings.workers or fits

    def _ready(self) -> dict[str, Any]:
        """Wait until every actor has loaded the model; the model's description, or one clear error."""
        ray = self._ray
        try:
            descriptions = ray.get([actor.describe.remote() for actor in self._actors])
        except ray.exceptions.RayError as err:
            if isinstance(err, ray.exceptions.RayTaskError) and isinstance(err.cause, Aware3DError):
                raise err.cause from None
            raise Aware3DError(f"a Ray worker could not load the model: {_cause(err)}") from None
        return descriptions[0]

    def describe(self) -> dict[str, Any]:
        return self._model

    def run(self, jobs: list[tuple[Source, Path]], truncation: float, export: ExportSettings) -> Iterator[AssetOutcome]:
        ray = self._ray
        queue = deque(jobs)
        pending: dict[Any, tuple[Source, Any]] = {}

        def submit(actor: Any) -> None:
            if queue:
                source, path = queue.popleft()
                pending[actor.export.remote(source, str(path), truncation, export)] = (source, actor)

        for actor in self._actors:
            submit(actor)
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            source, actor = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except ray.exceptions.RayActorError as err:
                outcome = AssetOutcome(source, "ray", error=f"WorkerDied: the worker exporting it died {ASSET_ATTEMPTS} times ({_cause(err)})")
            except ray.exceptions.RayError as err:
                outcome = AssetOutcome(source, "ray", error=f"{type(err).__name__}: {_cause(err)}")
            submit(actor)
            yield outcome

    def close(self) -> None:
        """Stop the actors, and the Ray instance if this engine started it."""
        for actor in self._actors:
            self._ray.kill(actor, no_restart=True)
        self._actors = []
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()


_HOST_PORT = re.compile(r"^(?:ray://)?\[?([^\[\]/]+?)\]?:(\d+)$")

_CONNECT_SECONDS = 5.0
"""How long to wait for a Ray head's port to answer: Ray itself retries an unreachable address for minutes."""


def _join(ray: Any, address: str | None) -> None:
    """``ray.init`` for this batch: join ``address`` or start a local instance; a clear sentence if that fails."""
    where = f"the Ray cluster at {address}" if address else "a local Ray instance"
    match = _HOST_PORT.match(address or "")
    if match:
        try:
            socket.create_connection((match.group(1), int(match.group(2))), timeout=_CONNECT_SECONDS).close()
        except OSError as err:
            raise InputError(f"cannot reach {where} ({err.strerror or err}); is `ray start --head` running there?") from None
    try:
        # Workers' own output stays on their side: the worker protocol owns this process's stdout.
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise InputError(f"cannot start or join {where}: {err}") from None


def _absolute(selection: ModelSelection) -> ModelSelection:
    """``selection`` with its checkpoint as an absolute path: workers do not share the driver's directory."""
    if selection.checkpoint is None:
        return selection
    return dataclasses.replace(selection, checkpoint=Path(os.path.abspath(selection.checkpoint)))


def _cause(err: Exception) -> str:
    """The last line of a Ray error's message: the worker's own exception, not Ray's traceback."""
    lines = [line for line in str(err).splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(err).__name__
