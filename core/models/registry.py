"""The family registry: the one plug-in point of aware3d.

A family is one module under ``aware3d.models`` plus one :class:`FamilySpec` registered here. The
entry carries everything the rest of aware3d needs to know about the family: how to recognise its
files, its loader and the options that loader takes, its camera convention, world frame, default
level, licence and official releases. ``load_generator``, the CLI, the worker and the add-on read
the registry and hold no family names (the idea of timm's ``_registry.py``: nothing outside the
family module names the family).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..cameras import CameraConvention
from ..checkpoints import (
    PickleSummary,
    RefusedGlobalError,
    check_file,
    check_globals,
    file_sha256,
    refused_global_error,
    summarize_checkpoint,
    torch_allowed_globals,
)
from ..errors import Aware3DError, CheckpointError, InputError, UnknownFamilyError, UnsupportedFamilyError
from ..fields import WorldFrame
from ..settings import SettingsError
from .releases import Licence

if TYPE_CHECKING:
    from .base import Generator

_TORCH_MODULE_PREFIX = "torch.nn.modules."
"""Whole pickled modules name torch.nn classes; they never tell a family apart."""


@dataclass(frozen=True)
class LoaderOption:
    """One option a family's loader takes (``ema`` for pi-GAN and GRAM).

    Attributes:
        name: keyword of ``load_generator`` and the loader, ``--name`` on the command line.
        choices: the values it takes.
        default: the value used when the caller gives none.
        help: one line for ``--help`` and the add-on.
    """

    name: str
    choices: tuple[str, ...]
    default: str
    help: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (the worker's ``models`` answer)."""
        return {"name": self.name, "choices": list(self.choices), "default": self.default, "help": self.help}


@dataclass(frozen=True)
class CompanionFile:
    """A file beside a checkpoint that the family's loader reads too (an ``ema.pth``).

    Attributes:
        path: where the loader looks for it.
        standins: the official classes the loader rebuilds from it (beyond torch's weights-only list).
        required: whether loading with the default options fails without it.
    """

    path: Path
    standins: tuple[str, ...]
    required: bool


VariantHook = Callable[[Path, PickleSummary], "str | None"]
"""``variant(path, summary)``: the release variant a file holds, or None when it cannot tell."""

Loader = Callable[..., "Generator"]
"""``load(path, device, **options)``: path is None for built-in families; device is resolved."""


@dataclass(frozen=True)
class FamilySpec:
    """What aware3d knows about a family before loading anything.

    Attributes:
        name: registry key, ``--model`` value and ``family=`` of ``load_generator``.
        title: paper / project name.
        files: what the user points ``--checkpoint`` at.
        licence: the licence of the official code and weights.
        loader: builds a Generator; None while the family is only recognised.
        options: the loader's options (validated by :meth:`resolve_options`).
        convention: how the family's camera maps a Pose (see :mod:`aware3d.cameras`).
        frame: up axis and metres per unit, so exported assets are upright and life-size.
        default_level: documented surface density for meshing, or None.
        kind: ``"field"`` (radiance field) or ``"relief"`` (depth map + albedo).
        lifts_images: True for a family that lifts a given image into a relief instead of
            sampling identities from seeds (``relief(image=...)``).
        builtin: True for a family that needs no checkpoint (a procedural model).
        pickle_globals: module prefixes of pickled classes that identify the family's files.
        state_keys: state-dict key prefixes that identify the family's files.
        companions: module prefixes of the globals of companion files (an ``ema.pth``) that a
            user may point at by mistake, each with what such a file holds; detection then says
            to point at the main file.
        variant: reads the release variant from a file, for ``aware3d info``.
        standins: the official classes the loader rebuilds as inert stand-ins from the main file
            (the only globals beyond torch's weights-only list it may name).
        companion_files: the files beside a checkpoint that the loader may read, for
            ``aware3d info`` to check exactly as the loader will.
        releases: the official release files (``aware3d download``).
    """

    name: str
    title: str
    files: str
    licence: Licence
    loader: Loader | None
    convention: CameraConvention
    frame: WorldFrame = WorldFrame()
    options: tuple[LoaderOption, ...] = ()
    default_level: float | None = None
    kind: Literal["field", "relief"] = "field"
    lifts_images: bool = False
    builtin: bool = False
    pickle_globals: tuple[str, ...] = ()
    state_keys: tuple[str, ...] = ()
    companions: Mapping[str, str] = field(default_factory=dict)
    variant: VariantHook | None = None
    standins: tuple[str, ...] = ()
    companion_files: Callable[[Path], list[CompanionFile]] | None = None
    releases: tuple = ()

    @property
    def implemented(self) -> bool:
        """Whether ``load_generator`` can build this family yet."""
        return self.loader is not None

    def resolve_options(self, given: Mapping[str, Any]) -> dict[str, str]:
        """Every loader option with its value: the given one, else the default.

        Raises:
            SettingsError: for an option the family does not take or a value outside its choices,
                keyed ``options.NAME``.
        """
        known = {option.name: option for option in self.options}
        for name, value in given.items():
            if name not in known:
                takes = ", ".join(known) or "no options"
                raise SettingsError(f"options.{name}", f"the {self.name} family takes no option {name!r} (it takes: {takes})")
            if value not in known[name].choices:
                raise SettingsError(f"options.{name}", f"{name} must be one of {', '.join(known[name].choices)}, got {value!r}")
        return {name: given.get(name, option.default) for name, option in known.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (``aware3d models --json`` and the worker's ``models`` answer)."""
        return {
            "family": self.name, "title": self.title, "loads": self.implemented, "kind": self.kind,
            "lifts_images": self.lifts_images,
            "builtin": self.builtin, "files": self.files, "licence": self.licence.name,
            "options": [option.to_dict() for option in self.options], "convention": self.convention.name,
            "default_level": self.default_level, "up_axis": self.frame.up_axis,
            "metres_per_unit": self.frame.metres_per_unit,
        }


FAMILIES: dict[str, FamilySpec] = {}
"""Every registered family by name, in registration order."""


def register_family(spec: FamilySpec, replace: bool = False) -> FamilySpec:
    """Add a family to the registry (the only plug-in point) and return its spec.

    Raises:
        InputError: when the name is taken (pass ``replace=True`` to swap an entry on purpose).
    """
    if not isinstance(spec, FamilySpec):
        raise InputError(f"register_family takes a FamilySpec, got {type(spec).__name__}")
    if spec.name in FAMILIES and not replace:
        raise InputError(f"a family named {spec.name!r} is registered already")
    FAMILIES[spec.name] = spec
    return spec


def unregister_family(name: str) -> None:
    """Remove a family (tests that register throw-away families clean up with this)."""
    FAMILIES.pop(name, None)


def get_family(name: str) -> FamilySpec:
    """Return the spec of family ``name``.

    Raises:
        UnknownFamilyError: naming the known families.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        known = ", ".join(FAMILIES)
        raise UnknownFamilyError(f"unknown model family {name!r}; choose one of: {known}") from None


def family_loader(spec: FamilySpec) -> Loader:
    """The loader of ``spec``.

    Raises:
        UnsupportedFamilyError: for a family whose loader is not written yet.
    """
    if spec.loader is None:
        raise UnsupportedFamilyError(
            f"the {spec.name} family is recognised but this version of aware3d cannot load it yet; "
            "see `aware3d models` for the families it can load"
        )
    return spec.loader


def builtin_families() -> list[str]:
    """Names of the registered families that need no checkpoint (for messages and defaults)."""
    return [spec.name for spec in FAMILIES.values() if spec.builtin]


def all_options() -> dict[str, LoaderOption]:
    """Every loader option of every registered family, by name (the CLI offers each as a flag)."""
    options: dict[str, LoaderOption] = {}
    for spec in FAMILIES.values():
        for option in spec.options:
            if option.name in options:
                merged = tuple(dict.fromkeys(options[option.name].choices + option.choices))
                option = LoaderOption(option.name, merged, options[option.name].default, options[option.name].help)
            options[option.name] = option
    return options


# --- recognising files ----------------------------------------------------------------------


def _match_family(summary: PickleSummary) -> FamilySpec | None:
    """The first family, in registration order, whose globals or key strings the file holds (PanoHead,
    registered before EG3D, claims the persistence pickles that name its ``t_mapping``)."""
    for spec in FAMILIES.values():
        if any(g.startswith(prefix) for prefix in spec.pickle_globals for g in summary.globals):
            return spec
        if any(s.startswith(prefix) for prefix in spec.state_keys for s in summary.strings):
            return spec
    return None


@dataclass(frozen=True)
class Detection:
    """A checkpoint's format, opcode summary and family, read without unpickling."""

    path: Path
    format: str
    summary: PickleSummary
    family: FamilySpec


def detect(path: str | os.PathLike) -> Detection:
    """Read a checkpoint's opcodes once and tell its family (no hashing, no loading).

    Raises:
        CheckpointError: for a missing or unreadable file, a companion file given on its own, a
            global that belongs to no family (named), or a file that matches no family.
    """
    path = check_file(path)
    fmt, summary = summarize_checkpoint(path)
    spec = _match_family(summary)
    if spec is not None:
        return Detection(path, fmt, summary, spec)
    known = torch_allowed_globals()
    prefixes = tuple(p for s in FAMILIES.values() for p in (*s.pickle_globals, *s.companions)) + (_TORCH_MODULE_PREFIX,)
    forbidden = sorted(g for g in summary.globals if g not in known and not g.startswith(prefixes))
    if forbidden:
        raise refused_global_error(path, forbidden[0])
    for owner in FAMILIES.values():
        for prefix, what in owner.companions.items():
            hits = sorted(g for g in summary.globals if g.startswith(prefix))
            if hits:
                raise CheckpointError(
                    f"{path} holds only {what} ({hits[0]}), a companion of a {owner.name} checkpoint; "
                    f"point at the main file instead: {owner.files}"
                )
    raise CheckpointError(f"could not tell which model family {path} belongs to; pass the family with --model")


def detect_family(path: str | os.PathLike) -> str:
    """The family name of a checkpoint, from its opcodes only (see :func:`detect`)."""
    return detect(path).family.name


@dataclass(frozen=True)
class CheckpointInfo:
    """What ``aware3d info`` reports about a file.

    Attributes:
        path: the file.
        format: ``torch-zip``, ``torch-legacy`` or ``pickle``.
        family: registry name.
        variant: release variant where the file tells it, else None.
        sha256: hex digest of the whole file.
        size: bytes.
        globals: every class the pickle references, sorted.
        loadable: whether :func:`load_generator` would load it with the default options.
        refusal: why not (the offending global and its file, a missing companion, ...), or None.
    """

    path: Path
    format: str
    family: str
    variant: str | None
    sha256: str
    size: int
    globals: tuple[str, ...]
    loadable: bool
    refusal: str | None = None


def loading_refusal(found: Detection) -> str | None:
    """Why the loader would refuse a detected checkpoint with its default options, or None.

    Runs the loader's own checks in the loader's order, on the CPU: the globals of the file and
    of every companion file it may read (:func:`aware3d.checkpoints.check_globals`, the check
    ``safe_load`` makes), then the loader itself, whose reading is weights-only. Nothing in the
    files runs.
    """
    spec = found.family
    companions = spec.companion_files(found.path) if spec.companion_files is not None else []
    try:
        check_globals(found.path, spec.standins, read=(found.format, found.summary))
        for companion in companions:
            if companion.path.exists():
                check_globals(companion.path, companion.standins)
            elif companion.required:
                return f"{companion.path.name} is missing beside {found.path.name}; the loader needs it with the default options"
        if spec.loader is None:
            return f"the {spec.name} family is recognised but this version of aware3d cannot load it yet"
        import torch

        spec.loader(str(found.path), torch.device("cpu"), **spec.resolve_options({}))
    except RefusedGlobalError as err:
        return f"{err.name} in {err.path}"
    except Aware3DError as err:
        return str(err)
    return None


def inspect_checkpoint(path: str | os.PathLike) -> CheckpointInfo:
    """Tell a checkpoint's format, family and variant, hash it, and say truthfully whether it
    loads (see :func:`loading_refusal`), without running anything from it.

    Raises:
        CheckpointError: as :func:`detect`.
    """
    found = detect(path)
    variant = None
    if found.family.variant is not None:
        try:
            variant = found.family.variant(found.path, found.summary)
        except CheckpointError:
            variant = None  # loading will say what is wrong; info only reports
    refusal = loading_refusal(found)
    return CheckpointInfo(
        path=found.path,
        format=found.format,
        family=found.family.name,
        variant=variant,
        sha256=file_sha256(found.path),
        size=found.path.stat().st_size,
        globals=tuple(sorted(found.summary.globals)),
        loadable=refusal is None,
        refusal=refusal,
    )
