"""The application's settings groups: which model to load, and which identity and view to show.

With :class:`aware3d.exporters.ExportSettings` these are every setting the CLI flags, the worker's
JSON parameters, batch manifests and the Blender add-on carry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..models.base import MAX_SEED, Generator
from ..settings import Settings, SettingsError, setting

MAX_PREVIEW_SIZE = 4096
"""A 4096^2 preview is 16.8 M rays; larger asks would exhaust memory rather than help anyone."""

_PITCH_LIMIT = 1.5707963
"""Just inside pi/2: a camera at the pole has no defined up direction."""

MAX_TRUNCATION = 2.0
"""Beyond 2 a latent is extrapolated far past anything the models were trained on."""


@dataclass(frozen=True)
class ModelSelection(Settings):
    """Which model to load, where, and with which family options.

    Attributes:
        model: a registered family; None detects it from ``checkpoint``.
        checkpoint: an official checkpoint file; None for built-in families.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        options: the family's loader options (``{"ema": "none"}``), as its registry entry declares.
    """

    model: str | None = setting(None, "model family (see `aware3d models`); detected from --checkpoint when left out")
    checkpoint: Path | None = setting(None, "official checkpoint file (not needed for built-in models)")
    device: Literal["auto", "cpu", "cuda"] = setting("auto", "where to run the model")
    options: dict[str, str] = setting({}, "family loader options, as `aware3d models` lists them")

    def load(self) -> Generator:
        """The generator this selection names (see :func:`aware3d.load_generator`)."""
        from ..loading import load_generator

        return load_generator(self.checkpoint, self.model, self.device, **self.options)


@dataclass(frozen=True)
class PreviewSettings(Settings):
    """Which identity, seen from where, at what image size.

    Attributes:
        seed: picks the identity's latent.
        truncation: psi: 1 keeps the sample, 0 is the average identity.
        yaw, pitch: radians from the frontal view (see :class:`aware3d.Pose`).
        radius: camera distance in world units; None uses the model's own.
        fov: field of view in degrees in the model's convention; None uses the model's own.
        size: preview width and height in pixels.
    """

    seed: int = setting(0, "identity seed", minimum=0, maximum=MAX_SEED)
    truncation: float = setting(0.7, "truncation psi: 1 keeps the sample, 0 is the average identity", minimum=0.0, maximum=MAX_TRUNCATION)
    yaw: float = setting(0.0, "radians; positive shows the head turned toward its own left")
    pitch: float = setting(0.0, "radians, |pitch| < pi/2; positive looks from below", minimum=-_PITCH_LIMIT, maximum=_PITCH_LIMIT)
    radius: float | None = setting(None, "camera distance in world units (default: the model's own)", minimum=1e-6)
    fov: float | None = setting(None, "field of view in degrees (default: the model's own)", minimum=1e-3, maximum=179.0)
    size: int = setting(256, "preview width and height in pixels", minimum=1, maximum=MAX_PREVIEW_SIZE)


@dataclass(frozen=True)
class EngineSettings(Settings):
    """Where a batch runs: in this process, or on the actors of a Ray cluster.

    None of these shapes an asset's bytes, so none enters a batch's settings fingerprint: a batch
    started on one engine resumes on the other.

    Attributes:
        engine: ``local`` (this process, one asset after another) or ``ray``.
        address: the Ray cluster to join (``auto``, ``ray://host:port``, ``host:port``); None
            starts a local Ray instance on this machine.
        workers: Ray actors, each loading the model once; None fits as many as the cluster holds.
        cpus_per_worker: CPUs Ray reserves for each actor, which also sets its torch threads.
        gpus_per_worker: GPUs Ray reserves for each actor (fractions share a GPU); 0 runs on CPUs.
    """

    engine: Literal["local", "ray"] = setting("local", "where the batch runs: this process, or a Ray cluster")
    address: str | None = setting(None, "Ray cluster to join: auto, ray://host:port or host:port (default: start a local Ray)")
    workers: int | None = setting(None, "Ray workers, each loading the model once (default: as many as the cluster holds)", minimum=1)
    cpus_per_worker: float = setting(1.0, "CPUs each Ray worker reserves; also its torch threads", minimum=0.01)
    gpus_per_worker: float = setting(0.0, "GPUs each Ray worker reserves (0.5 shares a GPU between two)", minimum=0.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.engine == "local":
            for f in dataclasses.fields(self):
                if f.name != "engine" and getattr(self, f.name) != f.default:
                    raise SettingsError(f.name, f"{f.name} is a Ray setting; choose the ray engine or leave it out")
